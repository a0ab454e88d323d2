//! # truyvet-datasets — synthetic check-in logs and tiny fixtures
//!
//! A seeded, deterministic, streaming generator of realistic QR check-in logs for a synthetic
//! province: households, workplaces and schools, favourite markets, heavy-tailed venue
//! popularity, category dwell times, daily rhythms and weekends, ~40% missing check-outs,
//! ~3% duplicate scans, night shifts crossing midnight and, on request, malformed rows.
//!
//! The work is split into shards (one day × one block of persons), each with its own random
//! stream and output file, generated in parallel; the bytes written depend only on the
//! configuration, never on the thread count. Memory is bounded by the venue table and one
//! shard's write buffer, whatever the number of rows.
//!
//! This crate writes input files only; it knows nothing of the store.
#![deny(missing_docs)]

mod day;
mod world;
mod write;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

/// File format of the generated check-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Plain CSV.
    Csv,
    /// Gzip-compressed CSV.
    CsvGz,
    /// Parquet (timestamps as `Timestamp(Second, "UTC")`).
    Parquet,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Persons.
    pub people: u64,
    /// Venues.
    pub venues: u64,
    /// Days.
    pub days: u32,
    /// Mean check-ins per person per day.
    pub visits_per_person_per_day: f64,
    /// First day.
    pub start: chrono::NaiveDate,
    /// Seed: the same seed gives the same bytes.
    pub seed: u64,
    /// Output format.
    pub format: OutputFormat,
    /// Share of deliberately malformed rows.
    pub dirty_ratio: f64,
    /// Worker threads (0 = rayon's default). The output does not depend on it.
    pub threads: usize,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            people: 20_000,
            venues: 800,
            days: 7,
            visits_per_person_per_day: 2.5,
            start: chrono::NaiveDate::from_ymd_opt(2021, 8, 1).expect("valid date"),
            seed: 42,
            format: OutputFormat::Parquet,
            dirty_ratio: 0.0,
            threads: 0,
        }
    }
}

impl GenConfig {
    /// Approximate number of rows (for progress bars).
    pub fn expected_rows(&self) -> u64 {
        (self.people as f64 * self.days as f64 * self.visits_per_person_per_day * 1.1) as u64
    }
}

/// What was generated.
#[derive(Debug, Clone)]
pub struct GenSummary {
    /// Rows written (including malformed ones).
    pub rows: u64,
    /// Malformed rows among them.
    pub dirty_rows: u64,
    /// Check-in files, in lexical order.
    pub files: Vec<PathBuf>,
    /// The venues file.
    pub venues_file: PathBuf,
    /// Bytes written.
    pub bytes: u64,
}

/// Persons per shard: large enough for efficient files, small enough to spread over cores.
const BLOCK: u64 = 500_000;

/// Generate into `out_dir` (`venues.csv` and `checkins/`), calling `progress` with the rows
/// written since its last call.
pub fn generate(cfg: &GenConfig, out_dir: &Path, progress: &(dyn Fn(u64) + Sync)) -> std::io::Result<GenSummary> {
    let checkins = out_dir.join("checkins");
    std::fs::create_dir_all(&checkins)?;
    let venues = world::Venues::new(cfg.seed, cfg.venues.max(1));
    let venues_file = out_dir.join("venues.csv");
    write::venues_csv(&venues_file, &venues)?;
    let blocks = cfg.people.div_ceil(BLOCK).max(1);
    let shards: Vec<(u32, u64)> = (0..cfg.days).flat_map(|d| (0..blocks).map(move |b| (d, b))).collect();
    let run = || -> std::io::Result<Vec<write::ShardOutput>> {
        shards.par_iter().map(|&(d, b)| write::shard(cfg, &venues, &checkins, d, b, BLOCK, progress)).collect()
    };
    let outputs = if cfg.threads > 0 {
        rayon::ThreadPoolBuilder::new().num_threads(cfg.threads).build().map_err(std::io::Error::other)?.install(run)?
    } else {
        run()?
    };
    let venues_bytes = std::fs::metadata(&venues_file)?.len();
    Ok(GenSummary {
        rows: outputs.iter().map(|o| o.rows).sum(),
        dirty_rows: outputs.iter().map(|o| o.dirty).sum(),
        bytes: outputs.iter().map(|o| o.bytes).sum::<u64>() + venues_bytes,
        files: outputs.into_iter().map(|o| o.path).collect(),
        venues_file,
    })
}

/// Path of a fixture file shipped with this crate (`tiny.csv`, `dirty.csv`, `tiny_venues.csv`).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

#[cfg(test)]
mod tests;
