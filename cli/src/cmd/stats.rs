//! `truyvet stats`: rows, persons, venues, days, batches, rejected rows, bytes.

use std::process::ExitCode;

use anyhow::Result;

use super::StoreArg;
use crate::output::{self, ReportFormat};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArg,
    /// Output format (`json`: the library's `StoreStats`).
    #[arg(long, value_enum, default_value = "table")]
    format: ReportFormat,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let store = truyvet::Store::open(&args.store.store)?;
    let s = store.snapshot().stats()?;
    output::report(&s, args.format, || {
        let mut t = comfy_table::Table::new();
        t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        let days = match (&s.first_day, &s.last_day) {
            (Some(a), Some(b)) => format!("{} ({a} .. {b})", s.days),
            _ => s.days.to_string(),
        };
        for (k, v) in [
            ("rows", s.rows.to_string()),
            ("persons", s.persons.to_string()),
            ("venues", s.venues.to_string()),
            ("days", days),
            ("batches", s.batches.to_string()),
            ("rejected", s.rejected.to_string()),
            ("bytes", format!("{} ({:.1} MiB)", s.bytes, s.bytes as f64 / 1048576.0)),
            ("version", s.version.to_string()),
        ] {
            t.add_row([k, &v]);
        }
        t.to_string()
    })?;
    Ok(ExitCode::SUCCESS)
}
