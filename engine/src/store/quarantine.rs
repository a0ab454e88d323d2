//! Quarantine: rejected input rows, kept verbatim with where they came from and why.
//!
//! One CSV per batch (`quarantine/b0000007.csv`) with the header `file,line,reason,raw`: the input
//! path as given, the 1-based line (for Parquet inputs, the 1-based row), the reason, and the
//! row's original bytes (for Parquet inputs, the row rendered as CSV).

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

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

/// Write a batch's quarantine file.
pub(crate) fn write(path: &Path, rows: &[Rejected]) -> Result<()> {
    let file = File::create(path).map_err(Error::io(path))?;
    let mut w = csv::Writer::from_writer(BufWriter::new(file));
    let csv_err = |e: csv::Error| Error::Internal(format!("writing {}: {e}", path.display()));
    w.write_record(["file", "line", "reason", "raw"]).map_err(csv_err)?;
    for r in rows {
        w.write_record([r.file.as_str(), &r.line.to_string(), &r.reason, &r.raw]).map_err(csv_err)?;
    }
    let buf = w.into_inner().map_err(|e| Error::Internal(e.to_string()))?;
    let file = buf.into_inner().map_err(|e| Error::io(path)(e.into_error()))?;
    file.sync_all().map_err(Error::io(path))
}

/// Read a quarantine file back.
pub fn read(path: &Path) -> Result<Vec<Rejected>> {
    let mut r = csv::Reader::from_path(path).map_err(|e| Error::store(path, e.to_string()))?;
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| Error::store(path, e.to_string()))?;
        out.push(Rejected {
            file: rec[0].to_string(),
            line: rec[1].parse().unwrap_or(0),
            reason: rec[2].to_string(),
            raw: rec[3].to_string(),
        });
    }
    Ok(out)
}
