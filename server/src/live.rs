//! The store as the server holds it: the live snapshot, refreshed when a commit replaces it,
//! the status index built once per snapshot, and the audit log.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use truyvet::trace::{ChainRequest, StatusIndex};
use truyvet::{Snapshot, Store};

/// Shared by every request.
pub struct Live {
    store: Mutex<Store>,
    /// The status index of one snapshot version, under the default rules.
    status: Mutex<Option<(u64, Arc<StatusIndex>)>>,
    audit: Option<Mutex<File>>,
    /// Longest a request may run.
    pub time_limit: Duration,
}

impl Live {
    /// Open the store at `dir`; append audit lines to `audit` when given.
    pub fn open(dir: &Path, audit: Option<&PathBuf>, time_limit: Duration) -> anyhow::Result<Live> {
        let store = Store::open(dir)?;
        let audit = audit
            .map(|p| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| anyhow::anyhow!("cannot open the audit log {}: {e}", p.display()))
            })
            .transpose()?
            .map(Mutex::new);
        Ok(Live { store: Mutex::new(store), status: Mutex::new(None), audit, time_limit })
    }

    /// The live snapshot: the one held, or the new one if a commit replaced it since. A
    /// snapshot handed out never changes, so a running request never sees a commit.
    pub fn snapshot(&self) -> truyvet::Result<Snapshot> {
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        if store.refresh()? {
            tracing::info!(version = store.snapshot().manifest().version, "serving a new store version");
        }
        Ok(store.snapshot())
    }

    /// The status index of `snap` under the default rules, built on first use per version.
    pub fn status_index(&self, snap: &Snapshot) -> truyvet::Result<Arc<StatusIndex>> {
        let version = snap.manifest().version;
        let mut held = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((v, index)) = held.as_ref()
            && *v == version
        {
            return Ok(index.clone());
        }
        let index = Arc::new(snap.status_index(&ChainRequest::new(truyvet::TraceRequest::default(), 2))?);
        *held = Some((version, index.clone()));
        Ok(index)
    }

    /// Append one line to the audit log (when there is one); a failure to write it is logged,
    /// not returned: the answer has been computed, the log is the operator's to fix.
    pub fn audit(&self, line: &serde_json::Value) {
        let Some(file) = &self.audit else { return };
        let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = writeln!(f, "{line}") {
            tracing::error!("cannot write the audit log: {e}");
        }
    }
}
