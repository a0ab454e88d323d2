//! Atomic commits: the only place where store files are renamed or deleted.
//!
//! # Protocol
//! 1. `begin` takes the exclusive `LOCK` (one writer at a time; readers never lock), reads the
//!    live manifest and deletes leftovers of interrupted batches: any file under the store's
//!    directories that the live manifest does not name, and manifests newer than it.
//! 2. The batch writes its new files (parts, sidecars, dictionary segments, venues, quarantine)
//!    under names carrying its batch number and `fsync`s each. Nothing points at them yet.
//! 3. `commit` writes the new manifest to `tmp/`, `fsync`s it, renames it to
//!    `manifests/m-<version>.json` and `fsync`s the directory.
//! 4. It writes `tmp/CURRENT`, `fsync`s it and renames it over `CURRENT`, then `fsync`s the store
//!    directory. That rename is the commit point: before it, readers see the previous version
//!    in full; after it, the new one in full.
//!
//! A crash anywhere before step 4's rename leaves `CURRENT` naming the previous manifest, whose
//! files are all untouched (batches only add files). Readers that opened a snapshot keep their
//! mapped files; committed files are never modified.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::layout::{self, CURRENT, DIRS, LOCK};
use super::manifest::{FORMAT_VERSION, Manifest};
use crate::error::{Error, Result};

/// A point in the commit protocol where a test can make the commit fail, as a crash would.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failpoint {
    /// After the batch's data files are written, before the manifest.
    BeforeManifest,
    /// After the new manifest is in place, before `CURRENT` is written.
    AfterManifest,
    /// After `tmp/CURRENT` is written, before it is renamed over `CURRENT`.
    BeforeSwap,
}

/// An open write transaction on a store: holds the lock until dropped.
#[derive(Debug)]
pub(crate) struct Writer {
    dir: PathBuf,
    _lock: File,
    base: Manifest,
}

fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(Error::io(dir))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(Error::io(path))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(Error::io(path))
}

/// Read `CURRENT` and the manifest it names.
pub(crate) fn read_current(dir: &Path) -> Result<Manifest> {
    let current = dir.join(CURRENT);
    let name = match fs::read_to_string(&current) {
        Ok(name) => name,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::store(dir, "not a truyvet store (no CURRENT file); `truyvet ingest` creates one"));
        }
        Err(e) => return Err(Error::io(&current)(e)),
    };
    Manifest::read(&dir.join(name.trim()))
}

/// Create an empty store at `dir` unless one is there.
pub(crate) fn create_if_missing(dir: &Path) -> Result<()> {
    if dir.join(CURRENT).exists() {
        return Ok(());
    }
    if dir.exists() && fs::read_dir(dir).map_err(Error::io(dir))?.next().is_some() {
        return Err(Error::store(dir, "directory exists, is not empty and is not a truyvet store"));
    }
    fs::create_dir_all(dir).map_err(Error::io(dir))?;
    for d in DIRS {
        fs::create_dir_all(dir.join(d)).map_err(Error::io(dir.join(d)))?;
    }
    let empty = Manifest { format: FORMAT_VERSION, ..Manifest::default() };
    let mut w = Writer { dir: dir.to_path_buf(), _lock: lock(dir)?, base: empty.clone() };
    w.base.version = u64::MAX; // so that commit writes version 0
    w.commit(empty, None)
}

/// How long `lock` waits for a lock that is held, before reporting [`Error::Locked`].
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// Take the store's exclusive `LOCK` (an `flock`, released when the file is closed).
///
/// A held lock is retried for [`LOCK_PATIENCE`] before giving up. An `flock` belongs to the open
/// file, and a process that forks while holding it (any `Command::spawn` on another thread)
/// hands its child a copy that keeps the lock until the child's `exec` closes it: a writer that
/// just finished can thus look busy for a few milliseconds. A real concurrent ingest holds it
/// for much longer and is reported.
fn lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK);
    let f = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(Error::io(&path))?;
    let start = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        match f.try_lock() {
            Ok(()) => return Ok(f),
            Err(fs::TryLockError::WouldBlock) if start.elapsed() < LOCK_PATIENCE => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(100));
            }
            Err(fs::TryLockError::WouldBlock) => return Err(Error::Locked(dir.to_path_buf())),
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(&path)(e)),
        }
    }
}

impl Writer {
    /// Step 1: lock, read the live manifest, clear leftovers.
    pub(crate) fn begin(dir: &Path) -> Result<Writer> {
        create_if_missing(dir)?;
        let lock = lock(dir)?;
        let base = read_current(dir)?;
        let w = Writer { dir: dir.to_path_buf(), _lock: lock, base };
        w.remove_leftovers()?;
        Ok(w)
    }

    /// The manifest this transaction builds on.
    pub(crate) fn base(&self) -> &Manifest {
        &self.base
    }

    /// Give up: delete what this transaction wrote (best effort; the next `begin` retries).
    pub(crate) fn abort(self) {
        if let Err(e) = self.remove_leftovers() {
            tracing::warn!(error = %e, "could not remove the files of an abandoned batch");
        }
    }

    fn remove_leftovers(&self) -> Result<()> {
        let live: HashSet<PathBuf> = self.base.files().map(|f| self.dir.join(f)).collect();
        let mut stack: Vec<PathBuf> = DIRS.iter().map(|d| self.dir.join(d)).collect();
        while let Some(d) = stack.pop() {
            let Ok(entries) = fs::read_dir(&d) else { continue };
            for entry in entries {
                let path = entry.map_err(Error::io(&d))?.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let stale = if path.parent() == Some(&self.dir.join("manifests")) {
                    manifest_version(&path).is_none_or(|v| v > self.base.version)
                } else {
                    !live.contains(&path)
                };
                if stale {
                    tracing::info!(path = %path.display(), "removing leftover of an interrupted ingest");
                    fs::remove_file(&path).map_err(Error::io(&path))?;
                }
            }
        }
        Ok(())
    }

    /// Steps 3 and 4: publish `next` (whose version must be the base's plus one).
    pub(crate) fn commit(self, mut next: Manifest, failpoint: Option<Failpoint>) -> Result<()> {
        next.version = self.base.version.wrapping_add(1);
        next.format = FORMAT_VERSION;
        let fail = |at: Failpoint| -> Result<()> {
            if failpoint == Some(at) {
                return Err(Error::Internal(format!("failpoint {at:?} triggered")));
            }
            Ok(())
        };
        fail(Failpoint::BeforeManifest)?;
        let rel = layout::manifest(next.version);
        let json = serde_json::to_vec_pretty(&next).map_err(|e| Error::Internal(e.to_string()))?;
        let tmp = self.dir.join("tmp").join("manifest.json");
        write_synced(&tmp, &json)?;
        let target = self.dir.join(&rel);
        fs::rename(&tmp, &target).map_err(Error::io(&target))?;
        fsync_dir(&self.dir.join("manifests"))?;
        fail(Failpoint::AfterManifest)?;
        let tmp_current = self.dir.join("tmp").join(CURRENT);
        write_synced(&tmp_current, format!("{rel}\n").as_bytes())?;
        fail(Failpoint::BeforeSwap)?;
        fs::rename(&tmp_current, self.dir.join(CURRENT)).map_err(Error::io(self.dir.join(CURRENT)))?;
        fsync_dir(&self.dir)?;
        tracing::info!(version = next.version, rows = next.rows(), "committed");
        Ok(())
    }
}

fn manifest_version(path: &Path) -> Option<u64> {
    path.file_name()?.to_str()?.strip_prefix("m-")?.strip_suffix(".json")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_waits_then_is_refused_and_a_released_lock_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let first = Writer::begin(dir.path()).unwrap();
        match Writer::begin(dir.path()) {
            Err(Error::Locked(_)) => {}
            Err(e) => panic!("expected Locked, got {e}"),
            Ok(_) => panic!("a held lock must refuse a second writer"),
        }
        drop(first);
        Writer::begin(dir.path()).expect("the lock is free again once the first writer is gone");
    }
}
