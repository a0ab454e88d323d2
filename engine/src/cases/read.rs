//! Case files as rows of text fields: CSV (optionally gzipped) with a header, or Parquet (every
//! column cast to text, so timestamps, integers and strings are all accepted).
//!
//! The columns are fixed ([`COLUMNS`]); an unknown, repeated or missing required column refuses
//! the whole file, naming it, before any row is looked at.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};
use crate::ingest::source::{FileKind, header_names, open_text};

/// The columns of a case file, in the documented order; the first two are required.
pub const COLUMNS: [&str; 7] =
    ["person_id", "confirmed_at", "onset_at", "sampled_at", "isolated_at", "case_id", "note"];

/// One row of a case file: its 1-based line (CSV: the line where the record starts; Parquet: the
/// row number) and its fields in [`COLUMNS`] order (`None`: column absent or value null).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseRow {
    /// 1-based line (CSV) or row (Parquet).
    pub line: u64,
    /// Fields in [`COLUMNS`] order.
    pub fields: [Option<String>; 7],
    /// The row as it was, rendered as CSV (for the quarantine).
    pub raw: String,
    /// Set when the row cannot be read at all (wrong field count, bad UTF-8).
    pub broken: Option<String>,
}

/// Map a header to column positions; refuse unknown, repeated and missing required columns.
fn header_index(path: &Path, names: &[String]) -> Result<[Option<usize>; 7]> {
    let mut idx = [None; 7];
    for (i, name) in names.iter().enumerate() {
        let Some(slot) = COLUMNS.iter().position(|c| c == name) else {
            return Err(Error::bad_input(
                path,
                format!("line 1: unknown column {name:?}; a case file has the columns {}", COLUMNS.join(",")),
            ));
        };
        if idx[slot].is_some() {
            return Err(Error::bad_input(path, format!("line 1: column {name:?} appears twice")));
        }
        idx[slot] = Some(i);
    }
    let missing: Vec<&str> = COLUMNS[..2].iter().zip(&idx).filter(|(_, i)| i.is_none()).map(|(c, _)| *c).collect();
    if !missing.is_empty() {
        return Err(Error::bad_input(
            path,
            format!("line 1: header lacks required column(s) {}; found [{}]", missing.join(", "), names.join(",")),
        ));
    }
    Ok(idx)
}

/// Render fields as one CSV line (no terminator).
fn render<'a>(fields: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(fields);
    let mut bytes = w.into_inner().unwrap_or_default();
    bytes.pop();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Read every row of a case file.
pub fn read(path: &Path) -> Result<Vec<CaseRow>> {
    match FileKind::of(path) {
        Some(FileKind::Parquet) => read_parquet(path),
        Some(kind) => read_csv(path, kind),
        None => Err(Error::bad_input(path, "unknown file type: a case file is .csv, .csv.gz or .parquet")),
    }
}

fn read_csv(path: &Path, kind: FileKind) -> Result<Vec<CaseRow>> {
    let text = open_text(path, kind, Arc::new(AtomicU64::new(0)), None)?;
    let mut csv = csv::ReaderBuilder::new().flexible(true).has_headers(false).from_reader(text);
    let csv_err = |e: csv::Error| Error::bad_input(path, format!("unreadable CSV: {e}"));
    let mut rec = csv::ByteRecord::new();
    if !csv.read_byte_record(&mut rec).map_err(csv_err)? {
        return Err(Error::bad_input(path, format!("empty file: expected a header row {}", COLUMNS.join(","))));
    }
    let idx = header_index(path, &header_names(&rec))?;
    let width = rec.len();
    let mut rows = Vec::new();
    while csv.read_byte_record(&mut rec).map_err(csv_err)? {
        let line = rec.position().map_or(0, |p| p.line());
        let mut row = CaseRow { line, raw: render(rec.iter()), ..CaseRow::default() };
        if rec.len() != width {
            row.broken = Some(format!("{} fields, the header has {width}", rec.len()));
        }
        for (slot, i) in row.fields.iter_mut().zip(idx) {
            let Some(bytes) = i.and_then(|i| rec.get(i)) else { continue };
            match std::str::from_utf8(bytes) {
                Ok(s) => *slot = Some(s.to_string()),
                Err(_) => row.broken = Some("not valid UTF-8".into()),
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

fn read_parquet(path: &Path) -> Result<Vec<CaseRow>> {
    let file = std::fs::File::open(path).map_err(Error::io(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::bad_input(path, format!("not a readable Parquet file: {e}")))?;
    let names: Vec<String> = builder.schema().fields().iter().map(|f| f.name().to_ascii_lowercase()).collect();
    let idx = header_index(path, &names)?;
    let reader = builder.build().map_err(|e| Error::bad_input(path, e.to_string()))?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| Error::bad_input(path, format!("unreadable Parquet data: {e}")))?;
        let text: Vec<Arc<dyn Array>> = batch
            .columns()
            .iter()
            .zip(&names)
            .map(|(c, name)| {
                arrow::compute::cast(c, &DataType::Utf8).map_err(|e| {
                    Error::bad_input(
                        path,
                        format!("column {name:?} of type {} cannot be read as text: {e}", c.data_type()),
                    )
                })
            })
            .collect::<Result<_>>()?;
        for r in 0..batch.num_rows() {
            let line = rows.len() as u64 + 1;
            let value = |i: usize| {
                let a = text[i].as_string::<i32>();
                a.is_valid(r).then(|| a.value(r).to_string())
            };
            let mut row = CaseRow { line, ..CaseRow::default() };
            for (slot, i) in row.fields.iter_mut().zip(idx) {
                *slot = i.and_then(value);
            }
            let all: Vec<String> = (0..text.len()).map(|i| value(i).unwrap_or_default()).collect();
            row.raw = render(all.iter().map(|s| s.as_bytes()));
            rows.push(row);
        }
    }
    Ok(rows)
}
