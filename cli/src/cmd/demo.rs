//! `truyvet demo`: the main job on a built-in default. Generates a small synthetic province
//! (unless already there), ingests it, picks an F0 and prints its ranked F1 list.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use truyvet::{Ingest, Store, TraceRequest};

use crate::output::{self, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Working directory for the generated input and the store.
    #[arg(long, default_value = "truyvet-demo")]
    dir: PathBuf,
    /// Persons in the synthetic province.
    #[arg(long, default_value_t = 20_000)]
    people: u64,
    /// Venues.
    #[arg(long, default_value_t = 800)]
    venues: u64,
    /// Days.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// The F0 (default: the person with the most check-ins on the busiest day sample).
    #[arg(long)]
    f0: Option<String>,
    /// How many F1 contacts to print.
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let input = args.dir.join("input");
    let store_dir = args.dir.join("store");
    let cfg = truyvet_datasets::GenConfig {
        people: args.people,
        venues: args.venues,
        days: args.days,
        format: truyvet_datasets::OutputFormat::CsvGz,
        dirty_ratio: 0.001,
        ..Default::default()
    };
    let t0 = Instant::now();
    let summary = super::generate::generate(&cfg, &input).context("generating the synthetic province")?;
    eprintln!(
        "1/3 generated {} check-ins for {} persons at {} venues over {} days in {}",
        summary.rows,
        cfg.people,
        cfg.venues,
        cfg.days,
        input.display()
    );
    let report = Ingest::new(&store_dir)
        .tz(truyvet::Tz::parse("+07:00")?)
        .venues(&summary.venues_file)
        .run(&summary.files)
        .context("ingesting")?;
    match report.batch {
        Some(b) => eprintln!(
            "2/3 ingested batch {b} into {}: read {}, stored {}, quarantined {} malformed rows",
            store_dir.display(),
            report.rows_read,
            report.rows_stored,
            report.rows_rejected
        ),
        None => eprintln!("2/3 store {} already holds these files (duplicate contents skipped)", store_dir.display()),
    }
    let store = Store::open(&store_dir)?;
    let snap = store.snapshot();
    let f0 = match args.f0 {
        Some(f) => f,
        None => pick_f0(&snap)?,
    };
    let req = TraceRequest::new(&f0).linger(15 * 60).min_overlap(60).limit(Some(args.limit));
    let t1 = Instant::now();
    let result = store.trace(&req)?;
    let trace_ms = t1.elapsed().as_secs_f64() * 1e3;
    eprintln!(
        "3/3 traced F0 {f0}: {} check-ins, {} F1 contacts shown (linger 15m, min overlap 1m), {} rows examined in {trace_ms:.1} ms",
        result.f0_visits,
        result.contacts.len(),
        result.rows_examined
    );
    let batch = result.to_record_batch();
    let format = Format::or_default(None, None);
    let batch = if format == Format::Table { super::trace::with_venue_names(&result, &batch)? } else { batch };
    output::write(&batch.schema(), &[batch], format, None)?;
    eprintln!(
        "total {:.1}s; try: truyvet trace --store {} --f0 {f0} --details",
        t0.elapsed().as_secs_f64(),
        store_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// A deterministic, interesting F0: among the first persons of the busiest day, the one with
/// the most check-ins.
fn pick_f0(snap: &truyvet::Snapshot) -> truyvet::Result<String> {
    let Some(part) = snap.parts().iter().max_by_key(|p| (p.info.rows, std::cmp::Reverse(p.info.day))) else {
        return Ok(String::new());
    };
    let persons = part.persons()?;
    let best = persons.iter().take(2000).max_by_key(|&&(p, visits)| (visits, std::cmp::Reverse(p))).map_or(0, |p| p.0);
    Ok(snap.person_id(best)?.to_string())
}
