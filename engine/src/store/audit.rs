//! The audit log: who asked what of the store, when, from where, and what came back.
//!
//! One JSON object per line in `<store>/audit.jsonl`, appended and never rewritten. A record is
//! on disk (`fdatasync`) before [`AuditLog::append`]'s callback runs, so a server that waits
//! for the callback before answering never answers a request the log could lose. Appends are
//! group-committed by one writer thread: concurrent requests share an `fdatasync`.
//!
//! A crash can leave a last line cut short. Opening the log starts the next record on a line
//! of its own, and [`read`] reports such a line (file and line number) and skips it; every
//! other line is a whole record.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, LazyLock, Mutex};
use std::thread::JoinHandle;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The log's file name in the store directory.
pub const FILE: &str = "audit.jsonl";

/// One audited request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When it ended (RFC 3339, UTC, milliseconds).
    pub at: String,
    /// `http` or `pg`.
    pub via: String,
    /// Who (`None` when no one signed in).
    pub user: Option<String>,
    /// From where (address and port).
    pub client: Option<String>,
    /// What: `GET /api/v1/trace`, `sign-in`, `sql`, ...
    pub action: String,
    /// Its parameters: the request target with its query, or the SQL statement.
    pub detail: String,
    /// `ok`, `refused` (not signed in, not allowed, not read-only) or `failed`.
    pub outcome: String,
    /// The HTTP status or the Postgres SQLSTATE.
    pub code: String,
    /// Rows returned, when the answer was rows.
    pub rows: Option<u64>,
    /// How long it took, in milliseconds.
    pub ms: f64,
    /// Why it was refused or failed.
    pub error: Option<String>,
}

impl AuditRecord {
    /// The current time as [`AuditRecord::at`] wants it.
    pub fn now() -> String {
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }
}

/// Columns of [`read`]'s batch and of the SQL `audit` table.
pub static AUDIT_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("at", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("via", DataType::Utf8, false),
        Field::new("user", DataType::Utf8, true),
        Field::new("client", DataType::Utf8, true),
        Field::new("action", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, false),
        Field::new("outcome", DataType::Utf8, false),
        Field::new("code", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, true),
        Field::new("ms", DataType::Float64, false),
        Field::new("error", DataType::Utf8, true),
    ]))
});

/// Called once the record is on disk, or with the reason it could not be written.
pub type Written = Box<dyn FnOnce(io::Result<()>) + Send>;

/// A line to write and who to tell.
type Job = (Vec<u8>, Option<Written>);

/// The appending end of a store's audit log.
pub struct AuditLog {
    path: PathBuf,
    tx: Mutex<Option<Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").field("path", &self.path).finish_non_exhaustive()
    }
}

/// The log's path in the store directory `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

impl AuditLog {
    /// Open (or create) the audit log of the store directory `dir` for appending.
    pub fn open(dir: &Path) -> Result<AuditLog> {
        let path = path(dir);
        let io = |e: io::Error| Error::Io { path: path.clone(), source: e };
        let existed = path.exists();
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(&path).map_err(io)?;
        // A record cut short by a crash keeps its own line; the next starts on a fresh one.
        let len = file.metadata().map_err(io)?.len();
        if len > 0 {
            let mut last = [0u8];
            file.seek(SeekFrom::Start(len - 1)).map_err(io)?;
            file.read_exact(&mut last).map_err(io)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(io)?;
                file.sync_data().map_err(io)?;
            }
        }
        if !existed {
            // The new name must survive a crash too.
            File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::Io { path: dir.to_path_buf(), source: e })?;
        }
        let (tx, rx) = channel();
        let writer = std::thread::Builder::new()
            .name("truyvet-audit".into())
            .spawn(move || write_loop(file, rx))
            .map_err(|e| Error::Internal(format!("cannot start the audit log writer: {e}")))?;
        Ok(AuditLog { path, tx: Mutex::new(Some(tx)), writer: Mutex::new(Some(writer)) })
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append `record`; `written` runs once it is on disk (or could not be written).
    pub fn append(&self, record: &AuditRecord, written: Option<Written>) {
        let mut line = serde_json::to_vec(record).unwrap_or_default();
        line.push(b'\n');
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let sent = match tx.as_ref() {
            Some(tx) => tx.send((line, written)),
            None => Err(std::sync::mpsc::SendError((line, written))),
        };
        if let Err(std::sync::mpsc::SendError((_, Some(written)))) = sent {
            written(Err(io::Error::other("the audit log is closed")));
        }
    }
}

impl Drop for AuditLog {
    /// Every record appended is written before the log closes.
    fn drop(&mut self) {
        drop(self.tx.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(writer) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = writer.join();
        }
    }
}

/// Write what is waiting, `fdatasync` once, tell every waiter; repeat until the log closes.
fn write_loop(mut file: File, rx: Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        jobs.extend(rx.try_iter());
        let buf: Vec<u8> = jobs.iter().flat_map(|(line, _)| line.iter().copied()).collect();
        let done = file.write_all(&buf).and_then(|()| file.sync_data());
        if let Err(e) = &done {
            tracing::error!("cannot write the audit log: {e}");
        }
        for (_, written) in jobs {
            if let Some(written) = written {
                written(done.as_ref().map(|_| ()).map_err(|e| io::Error::new(e.kind(), e.to_string())));
            }
        }
    }
}

/// A line of the log that is not a whole record (cut short by a crash, or damaged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// Why it was skipped.
    pub reason: String,
}

/// Every whole record of the store directory `dir`'s audit log, oldest first, and the lines
/// skipped. No log yet is no records.
pub fn read(dir: &Path) -> Result<(Vec<AuditRecord>, Vec<BadLine>)> {
    let path = path(dir);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(Error::Io { path, source: e }),
    };
    let (mut records, mut bad) = (Vec::new(), Vec::new());
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<AuditRecord>(line) {
            Ok(r) => records.push(r),
            Err(e) => bad.push(BadLine { line: i + 1, reason: e.to_string() }),
        }
    }
    Ok((records, bad))
}

/// `records` as one batch of [`AUDIT_SCHEMA`].
pub fn to_batch(records: &[AuditRecord]) -> Result<RecordBatch> {
    let arrow = |e: arrow::error::ArrowError| Error::Internal(format!("audit records to Arrow: {e}"));
    let mut decoder = arrow::json::ReaderBuilder::new(AUDIT_SCHEMA.clone()).build_decoder().map_err(arrow)?;
    decoder.serialize(records).map_err(arrow)?;
    Ok(decoder.flush().map_err(arrow)?.unwrap_or_else(|| RecordBatch::new_empty(AUDIT_SCHEMA.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u64) -> AuditRecord {
        AuditRecord {
            at: "2026-11-26T10:00:00.123Z".into(),
            via: "http".into(),
            user: Some("lan".into()),
            client: Some("127.0.0.1:5000".into()),
            action: "GET /api/v1/trace".into(),
            detail: format!("/api/v1/trace?f0=P{n}"),
            outcome: "ok".into(),
            code: "200".into(),
            rows: Some(n),
            ms: 1.5,
            error: None,
        }
    }

    #[test]
    fn records_survive_a_cut_short_line_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = AuditLog::open(dir.path()).unwrap();
            let (tx, rx) = channel();
            for n in 0..3 {
                let tx = tx.clone();
                log.append(&record(n), Some(Box::new(move |r| tx.send(r.is_ok()).unwrap())));
            }
            assert_eq!(rx.iter().take(3).filter(|ok| *ok).count(), 3);
        }
        // A crash in the middle of a record.
        let mut f = OpenOptions::new().append(true).open(path(dir.path())).unwrap();
        f.write_all(b"{\"at\":\"2026-11-26T10:00").unwrap();
        drop(f);
        {
            let log = AuditLog::open(dir.path()).unwrap();
            log.append(&record(3), None);
        }
        let (records, bad) = read(dir.path()).unwrap();
        assert_eq!(records, (0..4).map(record).collect::<Vec<_>>());
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 4);
        let batch = to_batch(&records).unwrap();
        assert_eq!(batch.num_rows(), 4);
        assert_eq!(batch.schema(), *AUDIT_SCHEMA);
    }
}
