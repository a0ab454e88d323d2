//! `truyvet clusters`: the registered cases grouped by the links between them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use truyvet::Store;
use truyvet::trace::ClusterRequest;

use super::StoreArg;
use crate::output::{self, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArg,
    /// One row per link (from case, to case, reason f1/f2/colocated, venue, time, via)
    /// instead of one per cluster.
    #[arg(long)]
    links: bool,
    /// Show clusters of at least this many cases (1: every case).
    #[arg(long, default_value_t = 2, value_name = "N")]
    min_size: usize,
    /// Longest time between two cases' stays at one venue for a colocated link.
    #[arg(long, default_value = "3d", value_parser = super::duration)]
    within: i64,
    /// Delay after an F1's first exposure before it passes it on (f2 links).
    #[arg(long, value_parser = super::duration)]
    latency: Option<i64>,
    /// Derive the cases' windows with this lookback instead of the stored one.
    #[arg(long, value_parser = super::duration)]
    lookback: Option<i64>,
    #[command(flatten)]
    rules: super::RulesArgs,
    /// Output format (default: table on a terminal, CSV otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let mut req = ClusterRequest {
        within: a.within,
        lookback: a.lookback,
        latency: a.latency.unwrap_or(0),
        ..Default::default()
    };
    let r = &mut req.rules;
    a.rules.apply(r, truyvet::Tz::UTC)?;
    let snap = Store::open(&a.store.store)?.snapshot();
    if snap.cases()?.is_empty() {
        eprintln!("note: the cases register is empty (`truyvet cases import` fills it); no cluster");
    }
    let found = snap.clusters(&req)?;
    let batch = if a.links { found.links_record_batch()? } else { found.to_record_batch(a.min_size)? };
    let format = Format::or_default(a.format, a.output.as_deref());
    output::write(&batch.schema(), &[batch], format, a.output.as_deref())?;
    Ok(ExitCode::SUCCESS)
}
