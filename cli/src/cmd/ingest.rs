//! `truyvet ingest`: files → a store commit, with a progress bar and a summary.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use truyvet::ingest::FileOutcome;
use truyvet::{Ingest, Tz};

use super::StoreArg;
use crate::output::{self, ReportFormat};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArg,
    /// Offset for timestamps written without one (e.g. +07:00).
    #[arg(long, default_value = "UTC", value_parser = parse_tz)]
    tz: Tz,
    /// Venues file (venue_id,name,category,province,district,lat,lon).
    #[arg(long, value_name = "FILE")]
    venues: Option<PathBuf>,
    /// Refuse the whole batch if more than this share of rows is rejected.
    #[arg(long, default_value_t = 0.01, value_name = "R")]
    max_reject_ratio: f64,
    /// Check-ins buffered before they are sorted and written as parts: bounds memory and sets
    /// the largest part [default: the library's, 4 Mi].
    #[arg(long, value_name = "N")]
    flush_rows: Option<usize>,
    /// After the commit, rewrite each day that now has more than one part as one part (a second
    /// commit; see `truyvet compact`).
    #[arg(long)]
    compact: bool,
    /// Replace person ids by keyed pseudonyms (HMAC-SHA-256) before anything reaches the store,
    /// quarantine included; KEYFILE (from `truyvet key new`) stays outside the store. A store is
    /// pseudonymised from its first batch on and always needs the same key.
    #[arg(long, value_name = "KEYFILE")]
    pseudonymise: Option<PathBuf>,
    /// The files are raw scan logs (person_id,venue_id,scanned_at[,direction in|out|empty]),
    /// paired into stays: an entry (or undirected scan) opens a stay, the next scan of that
    /// person at that venue within --max-visit closes it, repeats within --debounce collapse,
    /// a scan left alone is a stay without check-out. Stays still open at the end are stored
    /// without check-out and carried to the next --scans batch, which closes them if their exit
    /// comes in it.
    #[arg(long)]
    scans: bool,
    /// With --scans: scans of one person at one venue, same direction, closer than this are one.
    #[arg(long, value_parser = super::duration, default_value = "2m", requires = "scans")]
    debounce: i64,
    /// With --scans: the longest stay two scans make.
    #[arg(long, value_parser = super::duration, default_value = "12h", requires = "scans")]
    max_visit: i64,
    /// Output format of the report (`json`: the library's `IngestReport`).
    #[arg(long, value_enum, default_value = "table")]
    format: ReportFormat,
    /// Check-in files or directories of them.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

pub fn parse_tz(s: &str) -> Result<Tz, String> {
    Tz::parse(s).map_err(|e| e.to_string())
}

pub fn run(args: Args) -> Result<ExitCode> {
    let t0 = Instant::now();
    let bar = crate::progress::bar(0, "ingest", true);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let b = bar.clone();
    let mut ingest = Ingest::new(&args.store.store).tz(args.tz).max_reject_ratio(args.max_reject_ratio).progress(
        move |done, total| {
            b.set_length(total);
            b.set_position(done);
        },
    );
    if let Some(n) = args.flush_rows {
        ingest = ingest.flush_rows(n);
    }
    if let Some(v) = &args.venues {
        ingest = ingest.venues(v);
    }
    if args.scans {
        ingest = ingest.scans(truyvet::ingest::ScanOptions { debounce: args.debounce, max_visit: args.max_visit });
    }
    if let Some(path) = &args.pseudonymise {
        super::key::refuse_inside_store(path, &args.store.store)?;
        ingest = ingest.pseudonymise(truyvet::pseudonym::Key::read(path)?);
    }
    let report = ingest.run(&args.paths);
    bar.finish_and_clear();
    let report = report?;
    if args.compact && report.batch.is_some() {
        let c = truyvet::Store::compact(&args.store.store, None)?;
        if let Some(v) = c.version {
            let parts: usize = c.days.iter().map(|d| d.parts_before).sum();
            eprintln!("compacted {} day(s) from {parts} parts to one each (version {v})", c.days.len());
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    if args.format == ReportFormat::Json {
        output::report(&report, args.format, String::new)?;
        return Ok(ExitCode::SUCCESS);
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    for f in &report.files {
        if let FileOutcome::Duplicate { batch, original } = &f.outcome {
            let when = batch.map_or("earlier in this ingest".to_string(), |b| format!("in batch {b}"));
            eprintln!("skipped {}: same contents as {original}, ingested {when}", f.path.display());
        }
    }
    match report.batch {
        None => eprintln!("nothing new to ingest; store unchanged"),
        Some(batch) if report.scans.is_some() => {
            let files = report.files.iter().filter(|f| f.outcome == FileOutcome::Ingested).count();
            let c = report.scans.unwrap_or_default();
            println!(
                "batch {batch}: read {} scans from {files} file(s) ({:.1}s, {:.2} M scans/s): {} stays stored \
                 ({} paired from entry and exit, {} without check-out), {} scans debounced, {} rejected",
                c.scans,
                secs,
                c.scans as f64 / secs / 1e6,
                report.rows_stored,
                c.paired,
                c.unpaired,
                c.debounced,
                c.rejected
            );
            if c.resumed + c.carried > 0 {
                println!(
                    "stays open across batches: {} taken over from the previous scan batch (rewritten here), \
                     {} left open for the next one (stored without check-out until it comes)",
                    c.resumed, c.carried
                );
            }
            if let Some(q) = &report.quarantine {
                println!("rejected scans quarantined in {}", q.display());
                for s in &report.sample_rejects {
                    println!("  {s}");
                }
            }
        }
        Some(batch) => {
            let files = report.files.iter().filter(|f| f.outcome == FileOutcome::Ingested).count();
            println!(
                "batch {batch}: read {} rows from {files} file(s): stored {}, rejected {} ({:.1}s, {:.2} M rows/s)",
                report.rows_read,
                report.rows_stored,
                report.rows_rejected,
                secs,
                report.rows_read as f64 / secs / 1e6
            );
            if report.venues_loaded > 0 {
                println!("venues: {} loaded", report.venues_loaded);
            }
            if let Some(q) = &report.quarantine {
                println!("rejected rows quarantined in {}", q.display());
                for s in &report.sample_rejects {
                    println!("  {s}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
