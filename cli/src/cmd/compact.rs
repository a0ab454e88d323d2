//! `truyvet compact`: rewrite each day's parts as one.

use std::process::ExitCode;

use anyhow::Result;

use super::StoreArg;
use crate::output::{self, ReportFormat};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArg,
    /// Only this UTC day (YYYY-MM-DD); default every day with more than one part.
    #[arg(long)]
    day: Option<String>,
    /// Output format (`json`: the library's `CompactReport`).
    #[arg(long, value_enum, default_value = "table")]
    format: ReportFormat,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let day = args.day.as_deref().map(|d| truyvet::time::parse_day("--day", d)).transpose()?;
    let r = truyvet::Store::compact(&args.store.store, day)?;
    output::report(&r, args.format, || match r.version {
        None => "nothing to compact: no day has more than one part".to_string(),
        Some(v) => {
            let mut t = comfy_table::Table::new();
            t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
            t.set_header(["day", "parts before", "rows", "MiB before", "MiB after"]);
            for d in &r.days {
                let mib = |b: u64| format!("{:.1}", b as f64 / 1048576.0);
                t.add_row([
                    d.day.clone(),
                    d.parts_before.to_string(),
                    d.rows.to_string(),
                    mib(d.bytes_before),
                    mib(d.bytes_after),
                ]);
            }
            format!("{t}\ncommitted version {v}: {} days now one part each", r.days.len())
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
