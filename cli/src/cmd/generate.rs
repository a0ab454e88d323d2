//! `truyvet gen`: synthetic check-in logs for analysts and tests.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use truyvet_datasets::{GenConfig, OutputFormat};

use super::usage;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output directory (gets checkins/ and venues.csv).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,
    /// A preset size: 10k, 1m, 10m, 100m or 1b check-ins over 14 days, 1.43 per person per day
    /// (overridden by explicit sizes).
    #[arg(long)]
    pub scale: Option<String>,
    /// Number of persons.
    #[arg(long)]
    pub people: Option<u64>,
    /// Number of venues.
    #[arg(long)]
    pub venues: Option<u64>,
    /// Number of days.
    #[arg(long)]
    pub days: Option<u32>,
    /// Mean check-ins per person per day.
    #[arg(long)]
    pub visits_per_day: Option<f64>,
    /// First day (YYYY-MM-DD).
    #[arg(long)]
    pub start: Option<chrono::NaiveDate>,
    /// Random seed (same seed, same bytes).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// File format.
    #[arg(long, value_enum, default_value = "parquet")]
    pub format: GenFormat,
    /// Share of deliberately malformed rows (tests of the quarantine).
    #[arg(long, default_value_t = 0.0)]
    pub dirty: f64,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum GenFormat {
    Csv,
    #[value(name = "csv.gz")]
    CsvGz,
    Parquet,
}

/// The generator configuration of a `--scale` preset (see [`GenConfig::preset`]).
pub fn preset(scale: &str) -> Result<GenConfig> {
    match GenConfig::preset(scale) {
        Some(cfg) => Ok(cfg),
        None => usage!("unknown --scale {scale:?}: use 10k, 1m, 10m, 100m or 1b"),
    }
}

impl Args {
    pub fn config(&self) -> Result<GenConfig> {
        let mut cfg = match &self.scale {
            Some(s) => preset(s)?,
            None => GenConfig { days: 14, ..GenConfig::default() },
        };
        cfg.people = self.people.unwrap_or(cfg.people);
        cfg.venues = self.venues.unwrap_or(cfg.venues);
        cfg.days = self.days.unwrap_or(cfg.days);
        cfg.visits_per_person_per_day = self.visits_per_day.unwrap_or(cfg.visits_per_person_per_day);
        cfg.start = self.start.unwrap_or(cfg.start);
        cfg.seed = self.seed;
        cfg.dirty_ratio = self.dirty;
        cfg.format = match self.format {
            GenFormat::Csv => OutputFormat::Csv,
            GenFormat::CsvGz => OutputFormat::CsvGz,
            GenFormat::Parquet => OutputFormat::Parquet,
        };
        Ok(cfg)
    }
}

/// Generate with a progress bar; returns the summary.
pub fn generate(cfg: &GenConfig, out: &std::path::Path) -> Result<truyvet_datasets::GenSummary> {
    let bar = crate::progress::bar(cfg.expected_rows(), "gen", false);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let b = bar.clone();
    let summary = truyvet_datasets::generate(cfg, out, &move |n| b.inc(n));
    bar.finish_and_clear();
    Ok(summary?)
}

pub fn run(args: Args) -> Result<ExitCode> {
    let cfg = args.config()?;
    let t0 = Instant::now();
    let s = generate(&cfg, &args.out)?;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "generated {} check-ins ({} malformed) for {} persons at {} venues over {} days in {} file(s), {:.1} MiB, {:.1}s ({:.2} M rows/s)",
        s.rows,
        s.dirty_rows,
        cfg.people,
        cfg.venues,
        cfg.days,
        s.files.len(),
        s.bytes as f64 / 1048576.0,
        secs,
        s.rows as f64 / secs / 1e6
    );
    println!("venues file: {}", s.venues_file.display());
    println!("sample cases register: {} (truyvet cases import --tz +07:00 ...)", s.cases_file.display());
    Ok(ExitCode::SUCCESS)
}
