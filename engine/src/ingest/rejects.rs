//! Rejected rows on their way to the quarantine file, spilled to disk as they arrive so that
//! memory stays within the ingest's bound however many rows are rejected.
//!
//! # Algorithm
//! A CSV row's verbatim text ends where the next row starts, which the reader learns one row
//! later; Parquet rows are rendered at once. So each rejected row is appended to a spill file in
//! the store's `tmp/` (`file,line,start,end,reason,raw`) as soon as its extent is known. At
//! commit the spill is read back in order, CSV rows are re-read from their inputs in one forward
//! pass per file (`source::Verbatim`), and the quarantine file is written row by row. Only the
//! first few rejects stay in memory, for messages.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::source::{FileKind, Verbatim};
use crate::error::{Error, Result};
use crate::pseudonym::Key;
use crate::store::quarantine::{self, Rejected};

/// Rejects kept in memory for messages.
const SAMPLE: usize = 5;

/// A reject whose CSV text runs to the start of the next row, not yet seen.
struct Pending {
    file: usize,
    line: u64,
    reason: String,
    start: u64,
}

/// The spill of one ingest.
pub(crate) struct Spill {
    path: PathBuf,
    w: csv::Writer<BufWriter<File>>,
    pending: Option<Pending>,
    count: u64,
    sample: Vec<(usize, u64, String)>,
}

fn spill_error(path: &Path, e: csv::Error) -> Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => Error::io(path)(io),
        other => Error::store(path, format!("spill of rejected rows: {other:?}")),
    }
}

impl Spill {
    pub(crate) fn create(path: PathBuf) -> Result<Spill> {
        let file = File::create(&path).map_err(Error::io(&path))?;
        let w = csv::WriterBuilder::new().has_headers(false).from_writer(BufWriter::with_capacity(1 << 16, file));
        Ok(Spill { path, w, pending: None, count: 0, sample: Vec::new() })
    }

    /// Rows rejected so far.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// The first rejects, as `(file index, line, reason)`.
    pub(crate) fn sample(&self) -> &[(usize, u64, String)] {
        &self.sample
    }

    fn write(
        &mut self,
        file: usize,
        line: u64,
        range: (u64, Option<u64>),
        reason: &str,
        raw: Option<&str>,
    ) -> Result<()> {
        let (start, end) = (range.0.to_string(), range.1.map(|e| e.to_string()).unwrap_or_default());
        let has_raw = if raw.is_some() { "1" } else { "0" };
        let rec: [&str; 7] = [&file.to_string(), &line.to_string(), &start, &end, reason, raw.unwrap_or(""), has_raw];
        self.w.write_record(rec).map_err(|e| spill_error(&self.path, e))
    }

    /// A rejected row: `raw` is its text when known now (Parquet), else it is re-read from the
    /// input from byte `start` to the next row.
    pub(crate) fn push(&mut self, file: usize, line: u64, start: u64, reason: &str, raw: Option<&str>) -> Result<()> {
        self.count += 1;
        if self.sample.len() < SAMPLE {
            self.sample.push((file, line, reason.to_string()));
        }
        match raw {
            Some(raw) => self.write(file, line, (start, None), reason, Some(raw)),
            None => {
                self.pending = Some(Pending { file, line, reason: reason.to_string(), start });
                Ok(())
            }
        }
    }

    /// The next row of the same file starts at `byte`.
    pub(crate) fn next_row_at(&mut self, byte: u64) -> Result<()> {
        match self.pending.take() {
            Some(p) => self.write(p.file, p.line, (p.start, Some(byte)), &p.reason, None),
            None => Ok(()),
        }
    }

    /// The current file ended.
    pub(crate) fn end_of_file(&mut self) -> Result<()> {
        match self.pending.take() {
            Some(p) => self.write(p.file, p.line, (p.start, None), &p.reason, None),
            None => Ok(()),
        }
    }

    /// Delete the spill (nothing was rejected).
    pub(crate) fn discard(self) -> Result<()> {
        drop(self.w);
        std::fs::remove_file(&self.path).map_err(Error::io(&self.path))
    }

    /// Write the quarantine file at `dest` from the spill (inputs `files`), then delete the
    /// spill. Under a key, rows re-read from CSV inputs are sealed (Parquet rows come sealed).
    pub(crate) fn into_quarantine(mut self, files: &[PathBuf], dest: &Path, key: Option<&Key>) -> Result<()> {
        self.end_of_file()?;
        let Spill { path, w, .. } = self;
        w.into_inner().map_err(|e| Error::io(&path)(e.into_error()))?;
        let mut out = quarantine::Writer::create(dest)?;
        let mut r = csv::ReaderBuilder::new().has_headers(false).from_path(&path).map_err(|e| spill_error(&path, e))?;
        let mut open: Option<(usize, Verbatim)> = None;
        let mut rec = csv::StringRecord::new();
        while r.read_record(&mut rec).map_err(|e| spill_error(&path, e))? {
            let bad = || Error::Internal(format!("malformed spill record in {}", path.display()));
            let num = |i: usize| rec.get(i).and_then(|s| s.parse::<u64>().ok()).ok_or_else(bad);
            let file = num(0)? as usize;
            let input = files.get(file).ok_or_else(bad)?;
            let raw = if rec.get(6) == Some("1") {
                rec.get(5).ok_or_else(bad)?.to_string()
            } else {
                if open.as_ref().is_none_or(|(f, _)| *f != file) {
                    let kind = FileKind::of(input).ok_or_else(bad)?;
                    open = Some((file, Verbatim::open(input, kind)?));
                }
                let end =
                    rec.get(3).filter(|s| !s.is_empty()).map(|s| s.parse::<u64>()).transpose().map_err(|_| bad())?;
                let row = open.as_mut().expect("opened above").1.row(num(2)?, end)?;
                match key {
                    Some(key) => key.seal_row(&input.display().to_string(), num(1)?, &row)?,
                    None => row,
                }
            };
            out.write(&Rejected {
                file: input.display().to_string(),
                line: num(1)?,
                reason: rec.get(4).ok_or_else(bad)?.to_string(),
                raw,
            })?;
        }
        out.finish()?;
        std::fs::remove_file(&path).map_err(Error::io(&path))
    }
}
