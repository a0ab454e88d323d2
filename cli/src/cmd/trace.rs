//! `truyvet trace` / `truyvet exposures`: an F0 → ranked F1 list or exposure intervals.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use truyvet::pseudonym::Key;
use truyvet::time::{parse_duration, parse_time_arg};
use truyvet::{Store, TraceRequest, TraceResult, Tz};

use super::StoreArg;
use crate::output::{self, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArg,
    /// The confirmed case's person id.
    #[arg(long)]
    f0: String,
    /// Start of the infectious window (RFC 3339, or naive read in --tz, or Unix seconds).
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// End of the infectious window (exclusive).
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// Offset for naive --from/--to.
    #[arg(long, default_value = "UTC", value_parser = super::ingest::parse_tz)]
    tz: Tz,
    /// How long the F0's presence lingers after it leaves (90s, 15m, 1h30m, seconds).
    #[arg(long, value_parser = duration)]
    linger: Option<i64>,
    /// Stay assumed when a check-out is missing.
    #[arg(long, value_parser = duration)]
    dwell: Option<i64>,
    /// Longest stay credited to one check-in.
    #[arg(long, value_parser = duration)]
    max_visit: Option<i64>,
    /// Least exposure for a contact to count.
    #[arg(long, value_parser = duration)]
    min_overlap: Option<i64>,
    /// Show only the top N contacts.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Output format (default: table on a terminal, CSV otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// One row per exposure interval (person, venue, start, end, seconds).
    #[arg(long)]
    details: bool,
    /// The key of a pseudonymised store: --f0 is then a clear id, and contacts are listed by
    /// clear id. Without it, a pseudonymised store is traced and listed by pseudonym.
    #[arg(long, value_name = "KEYFILE")]
    key: Option<PathBuf>,
}

fn duration(s: &str) -> Result<i64, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

/// Build the library request from the arguments; unset options keep `TraceRequest::default()`.
fn request(a: &Args) -> Result<TraceRequest> {
    let mut req = TraceRequest::new(&a.f0);
    req.from = a.from.as_deref().map(|t| parse_time_arg("--from", t, a.tz)).transpose()?;
    req.to = a.to.as_deref().map(|t| parse_time_arg("--to", t, a.tz)).transpose()?;
    if let Some(v) = a.linger {
        req.linger = v;
    }
    if let Some(v) = a.dwell {
        req.dwell = v;
    }
    if let Some(v) = a.max_visit {
        req.max_visit = v;
    }
    if let Some(v) = a.min_overlap {
        req.min_overlap = v;
    }
    req.limit = a.limit;
    Ok(req)
}

pub fn run(args: Args, details_cmd: bool) -> Result<ExitCode> {
    let req = request(&args)?;
    let key = args.key.as_deref().map(Key::read).transpose()?;
    let snap = Store::open(&args.store.store)?.snapshot();
    let traced = match &key {
        Some(key) => snap.trace_with_key(&req, key),
        None => snap.trace(&req),
    };
    let result = match traced {
        Err(e @ truyvet::Error::NotFound { .. }) if key.is_none() && snap.pseudonyms().is_some() => {
            return Err(anyhow::Error::new(e).context(format!(
                "store {} is pseudonymised: give the F0's pseudonym, or --key KEYFILE to trace a clear id",
                args.store.store.display()
            )));
        }
        r => r?,
    };
    if result.contacts.is_empty() {
        eprintln!(
            "note: F0 {} has {} check-in(s) in the store and no contact in the window; the F1 list is empty",
            args.f0, result.f0_visits
        );
    }
    let format = Format::or_default(args.format, args.output.as_deref());
    let out = args.output.as_deref();
    if args.details || details_cmd {
        let batch = result.exposures_record_batch()?;
        return output::write(&batch.schema(), &[batch], format, out).map(|_| ExitCode::SUCCESS);
    }
    let batch = result.to_record_batch();
    let batch = if format == Format::Table { with_venue_names(&result, &batch)? } else { batch };
    output::write(&batch.schema(), &[batch], format, out)?;
    Ok(ExitCode::SUCCESS)
}

/// The table view adds the names of each contact's main venues.
pub fn with_venue_names(result: &TraceResult, batch: &RecordBatch) -> Result<RecordBatch> {
    let snap = result.snapshot();
    let attrs = snap.venue_attrs()?;
    let names: StringArray = result
        .contacts
        .iter()
        .map(|c| {
            let venues = result.venues_of(c.rank);
            let mut shown: Vec<String> = venues
                .iter()
                .take(2)
                .map(|&(v, _)| {
                    let id = snap.venue_id(v)?;
                    Ok(attrs.get(id).and_then(|a| a.name.clone()).unwrap_or_else(|| id.to_string()))
                })
                .collect::<truyvet::Result<_>>()?;
            if venues.len() > 2 {
                shown.push(format!("+{} more", venues.len() - 2));
            }
            Ok(Some(shown.join(", ")))
        })
        .collect::<truyvet::Result<_>>()?;
    let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("where", DataType::Utf8, true));
    let mut cols = batch.columns().to_vec();
    cols.push(Arc::new(names));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}
