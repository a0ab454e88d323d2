//! `truyvet purge`: remove every day older than the retention policy, everywhere in the store.

use std::process::ExitCode;

use anyhow::Result;

use super::StoreArg;
use crate::output::{self, ReportFormat};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArg,
    /// Count the kept days back from this UTC day (YYYY-MM-DD) instead of today (for replaying
    /// an epidemic's data, or a purge that should have run earlier).
    #[arg(long, value_name = "DATE")]
    as_of: Option<String>,
    /// Output format (`json`: the library's `PurgeReport`).
    #[arg(long, value_enum, default_value = "table")]
    format: ReportFormat,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let today = match &args.as_of {
        Some(d) => truyvet::time::parse_day("--as-of", d)?,
        None => truyvet::time::today(),
    };
    let r = truyvet::Store::purge(&args.store.store, today)?;
    output::report(&r, args.format, || match r.version {
        None => format!("nothing to purge: no day before {}", r.first_kept_day),
        Some(v) => format!(
            "purged {} days before {} (version {v}): {} check-ins, {} persons and {} venues from the \
             dictionaries, {} quarantine files; {} files deleted",
            r.days_purged,
            r.first_kept_day,
            r.rows_purged,
            r.persons_purged,
            r.venues_purged,
            r.quarantine_files_purged,
            r.files_deleted
        ),
    })?;
    Ok(ExitCode::SUCCESS)
}
