//! Quarantine: rejected input rows, kept verbatim with where they came from and why.
//!
//! One CSV per batch (`quarantine/b0000007.csv`) with the header `file,line,reason,raw`: the input
//! path as given, the 1-based line (for Parquet inputs, the 1-based row), the reason, and the
//! row's original bytes (for Parquet inputs, the row rendered as CSV).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One rejected row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Input file as given.
    pub file: String,
    /// 1-based line (CSV) or row (Parquet).
    pub line: u64,
    /// Why it was rejected.
    pub reason: String,
    /// The row as it was in the input.
    pub raw: String,
}

/// A batch's quarantine file, written row by row.
pub(crate) struct Writer {
    path: PathBuf,
    w: csv::Writer<BufWriter<File>>,
}

/// A CSV failure while writing a store file: the disk's (full, read-only) or a bug's.
fn write_error(path: &Path, e: csv::Error) -> Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => Error::io(path)(io),
        other => Error::Internal(format!("writing {}: {other:?}", path.display())),
    }
}

impl Writer {
    pub(crate) fn create(path: &Path) -> Result<Writer> {
        let file = File::create(path).map_err(Error::io(path))?;
        let mut w = csv::Writer::from_writer(BufWriter::with_capacity(1 << 16, file));
        w.write_record(["file", "line", "reason", "raw"]).map_err(|e| write_error(path, e))?;
        Ok(Writer { path: path.to_path_buf(), w })
    }

    pub(crate) fn write(&mut self, r: &Rejected) -> Result<()> {
        self.w
            .write_record([r.file.as_str(), &r.line.to_string(), &r.reason, &r.raw])
            .map_err(|e| write_error(&self.path, e))
    }

    /// Flush and `fsync`.
    pub(crate) fn finish(self) -> Result<()> {
        let path = self.path;
        let buf = self.w.into_inner().map_err(|e| Error::io(&path)(e.into_error()))?;
        let file = buf.into_inner().map_err(|e| Error::io(&path)(e.into_error()))?;
        file.sync_all().map_err(Error::io(&path))
    }
}

/// Read a quarantine file back. A damaged file is an error naming it and the record.
pub fn read(path: &Path) -> Result<Vec<Rejected>> {
    let damaged = |why: String| Error::store(path, format!("damaged quarantine file: {why}"));
    let mut r = csv::Reader::from_path(path).map_err(|e| damaged(e.to_string()))?;
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| damaged(e.to_string()))?;
        let line = rec.position().map_or(0, |p| p.line());
        let field =
            |i: usize| rec.get(i).ok_or_else(|| damaged(format!("line {line}: {} fields, expected 4", rec.len())));
        out.push(Rejected {
            file: field(0)?.to_string(),
            line: field(1)?.parse().map_err(|_| damaged(format!("line {line}: line number {:?}", &rec[1])))?,
            reason: field(2)?.to_string(),
            raw: field(3)?.to_string(),
        });
    }
    Ok(out)
}
