//! `truyvet rejects`: the quarantined rows of a store (check-ins and cases), with where they came from and why; the
//! rows of a pseudonymised store open for holders of its key.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use truyvet::pseudonym::Key;
use truyvet::store::quarantine;

use super::StoreArg;
use crate::output::{self, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArg,
    /// Only the rows rejected by this batch.
    #[arg(long, value_name = "N")]
    batch: Option<u64>,
    /// The key of a pseudonymised store: show each row as it was in the input (without it,
    /// such a store's rows stay sealed).
    #[arg(long, value_name = "KEYFILE")]
    key: Option<PathBuf>,
    /// Output format (default: table on a terminal, CSV otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let key = args.key.as_deref().map(Key::read).transpose()?;
    let snap = truyvet::Store::open(&args.store.store)?.snapshot();
    if let Some(key) = &key {
        snap.check_key(key)?;
    }
    let (mut batches, mut kinds, mut files, mut lines, mut reasons, mut raws) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let m = snap.manifest();
    let mut quarantines: Vec<(u64, &str, &Option<String>)> =
        m.batches.iter().map(|b| (b.id, "checkins", &b.quarantine)).collect();
    quarantines.extend(m.case_batches.iter().map(|b| (b.id, "cases", &b.quarantine)));
    quarantines.sort_by_key(|q| q.0);
    for (id, kind, quarantine) in quarantines {
        let Some(rel) = quarantine.as_deref().filter(|_| args.batch.is_none_or(|n| n == id)) else { continue };
        let path = snap.dir().join(rel);
        for r in quarantine::read(&path)? {
            let raw = match &key {
                Some(key) => key.open_row(&r.file, r.line, &r.raw).ok_or_else(|| truyvet::Error::Store {
                    path: path.clone(),
                    reason: format!("line {} does not open with the store's key: the file is damaged", r.line),
                })?,
                None => r.raw,
            };
            batches.push(id);
            kinds.push(kind);
            files.push(r.file);
            lines.push(r.line);
            reasons.push(r.reason);
            raws.push(raw);
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("batch", DataType::UInt64, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("line", DataType::UInt64, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("raw", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(UInt64Array::from(batches)),
            Arc::new(StringArray::from(kinds)),
            Arc::new(StringArray::from(files)),
            Arc::new(UInt64Array::from(lines)),
            Arc::new(StringArray::from(reasons)),
            Arc::new(StringArray::from(raws)),
        ],
    )?;
    let format = Format::or_default(args.format, args.output.as_deref());
    output::write(&schema, &[batch], format, args.output.as_deref())?;
    Ok(ExitCode::SUCCESS)
}
