//! `truyvet hotspots`: venues where several registered cases stayed close together in time.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use truyvet::time::parse_time_arg;
use truyvet::trace::HotspotRequest;
use truyvet::{Store, Tz};

use super::StoreArg;
use crate::output::{self, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArg,
    /// Only stays from this time on (RFC 3339, or naive read in --tz, or Unix seconds).
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// Only stays before this time.
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// Offset for naive --from/--to.
    #[arg(long, default_value = "UTC", value_parser = super::ingest::parse_tz)]
    tz: Tz,
    /// Least number of distinct cases at a venue.
    #[arg(long, default_value_t = 2, value_name = "N")]
    min_cases: usize,
    /// Longest time between the cases' stays (90m, 3d, seconds).
    #[arg(long, default_value = "3d", value_parser = super::duration)]
    within: i64,
    /// Derive the cases' windows with this lookback instead of the stored one.
    #[arg(long, value_parser = super::duration)]
    lookback: Option<i64>,
    #[command(flatten)]
    rules: super::RulesArgs,
    /// Show only the top N venues.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Output format (default: table on a terminal, CSV otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let mut req =
        HotspotRequest { min_cases: a.min_cases, within: a.within, lookback: a.lookback, ..Default::default() };
    let r = &mut req.rules;
    r.from = a.from.as_deref().map(|t| parse_time_arg("--from", t, a.tz)).transpose()?;
    r.to = a.to.as_deref().map(|t| parse_time_arg("--to", t, a.tz)).transpose()?;
    a.rules.apply(r, a.tz)?;
    let snap = Store::open(&a.store.store)?.snapshot();
    if snap.cases()?.is_empty() {
        eprintln!("note: the cases register is empty (`truyvet cases import` fills it); no hotspot");
    }
    let mut found = snap.hotspots(&req)?;
    if let Some(n) = a.limit {
        found.hotspots.truncate(n);
    }
    let batch = found.to_record_batch()?;
    let format = Format::or_default(a.format, a.output.as_deref());
    output::write(&batch.schema(), &[batch], format, a.output.as_deref())?;
    Ok(ExitCode::SUCCESS)
}
