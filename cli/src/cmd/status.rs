//! `truyvet status --person X`: is this person a case, or a contact at which hop, of which
//! cases, where and when (under the current register).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampSecondArray, UInt8Array};
use arrow::datatypes::{DataType, Field, Schema};
use truyvet::Store;
use truyvet::model::timestamp_type;
use truyvet::pseudonym::Key;
use truyvet::trace::{ChainRequest, StatusExposure};

use super::StoreArg;
use crate::output::{self, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArg,
    /// The person asked about.
    #[arg(long)]
    person: String,
    /// The key of a pseudonymised store: --person and the ids shown are clear ids.
    #[arg(long, value_name = "KEYFILE")]
    key: Option<PathBuf>,
    /// Delay after an F1's first exposure before it passes it on.
    #[arg(long, value_parser = super::duration)]
    latency: Option<i64>,
    #[command(flatten)]
    rules: super::RulesArgs,
    /// Output format of the exposure rows (default: table on a terminal, CSV otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write the rows to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let mut rules = ChainRequest::new(truyvet::TraceRequest::default(), 2).latency(a.latency.unwrap_or(0));
    let r = &mut rules.trace;
    a.rules.apply(r, truyvet::Tz::UTC)?;
    let key = a.key.as_deref().map(Key::read).transpose()?;
    let snap = Store::open(&a.store.store)?.snapshot();
    if let Some(key) = &key {
        snap.check_key(key)?;
    }
    let stored = key.as_ref().map_or_else(|| a.person.clone(), |k| k.pseudonym(a.person.trim()));
    let index = snap.status_index(&rules)?;
    let s = index.status(&stored)?;
    let case_ids =
        |v: &[u32]| v.iter().map(|&i| index.cases[i as usize].case_id.as_str()).collect::<Vec<_>>().join(",");
    let summary = match (s.is_case.is_empty(), s.hop) {
        (false, _) => format!("{}: a registered case ({})", a.person, case_ids(&s.is_case)),
        (true, Some(h)) => format!(
            "{}: F{h} of {} case(s) ({}), {} s of exposure",
            a.person,
            s.cases.len(),
            case_ids(&s.cases),
            s.exposure_seconds
        ),
        (true, None) if !s.known => format!("{}: no check-in in the store; not a contact", a.person),
        (true, None) => format!("{}: not a contact of any registered case", a.person),
    };
    eprintln!("{summary}");
    let attrs = snap.venue_attrs()?;
    let e = &s.exposures;
    let venue_ids: Vec<&str> = e.iter().map(|x| snap.venue_id(x.venue)).collect::<truyvet::Result<_>>()?;
    let vias: Vec<Option<String>> = e
        .iter()
        .map(|x| {
            x.via
                .map(|p| match &key {
                    Some(k) => snap.clear_ids(k, &[p]).map(|mut v| v.remove(0)),
                    None => snap.person_id(p).map(str::to_string),
                })
                .transpose()
        })
        .collect::<truyvet::Result<_>>()?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("hop", DataType::UInt8, false),
        Field::new("case_id", DataType::Utf8, false),
        Field::new("venue_id", DataType::Utf8, false),
        Field::new("venue_name", DataType::Utf8, true),
        Field::new("start", timestamp_type(), false),
        Field::new("end", timestamp_type(), false),
        Field::new("seconds", DataType::Int64, false),
        Field::new("via_person_id", DataType::Utf8, true),
    ]));
    let ts = |f: fn(&StatusExposure) -> i64| -> ArrayRef {
        Arc::new(TimestampSecondArray::from_iter_values(e.iter().map(f)).with_timezone("UTC"))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt8Array::from_iter_values(e.iter().map(|x| x.hop))),
        Arc::new(StringArray::from_iter_values(e.iter().map(|x| index.cases[x.case as usize].case_id.as_str()))),
        Arc::new(StringArray::from_iter_values(venue_ids.iter().copied())),
        Arc::new(venue_ids.iter().map(|v| attrs.get(*v).and_then(|a| a.name.as_deref())).collect::<StringArray>()),
        ts(|x| x.start),
        ts(|x| x.end),
        Arc::new(Int64Array::from_iter_values(e.iter().map(|x| x.end - x.start))),
        Arc::new(StringArray::from(vias)),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    let format = Format::or_default(a.format, a.output.as_deref());
    output::write(&schema, &[batch], format, a.output.as_deref())?;
    Ok(ExitCode::SUCCESS)
}
