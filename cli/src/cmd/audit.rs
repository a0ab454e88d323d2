//! `truyvet audit`: the store's audit log (every request `truyvet serve` answered, over HTTP or
//! Postgres wire), oldest first, with filters.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use truyvet::store::audit;

use super::StoreArg;
use crate::output::{self, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArg,
    /// Only this user's records.
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// Only records at or after this time (RFC 3339, `YYYY-MM-DD HH:MM:SS` in UTC, or a date).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only records with this outcome.
    #[arg(long, value_parser = ["ok", "refused", "failed"])]
    outcome: Option<String>,
    /// Only the last N records (after the other filters).
    #[arg(long, value_name = "N")]
    last: Option<usize>,
    /// Output format (default: table on a terminal, CSV otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let dir = &a.store.store;
    // A store it is, or the error says why not.
    truyvet::Store::open(dir)?;
    let (mut records, bad) = audit::read(dir)?;
    for b in &bad {
        eprintln!("warning: {}:{}: not a whole record, skipped ({})", audit::path(dir).display(), b.line, b.reason);
    }
    // A bare date is its midnight, UTC.
    let since = a.since.as_deref().map(|s| match s.len() {
        10 => format!("{s} 00:00:00"),
        _ => s.to_string(),
    });
    let since = since.map(|s| truyvet::time::parse_time_arg("--since", &s, truyvet::Tz::UTC)).transpose()?;
    records.retain(|r| {
        a.user.as_ref().is_none_or(|u| r.user.as_ref() == Some(u))
            && a.outcome.as_ref().is_none_or(|o| &r.outcome == o)
            && since.is_none_or(|s| chrono::DateTime::parse_from_rfc3339(&r.at).map_or(true, |t| t.timestamp() >= s))
    });
    if let Some(n) = a.last {
        records.drain(..records.len().saturating_sub(n));
    }
    let batch = audit::to_batch(&records)?;
    let format = Format::or_default(a.format, a.output.as_deref());
    output::write(&audit::AUDIT_SCHEMA, &[batch], format, a.output.as_deref())?;
    Ok(ExitCode::SUCCESS)
}
