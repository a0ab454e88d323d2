//! Write transactions: the one way files enter a store. Ingest, and later compaction,
//! retention and the cases register, all commit through a [`Transaction`].
//!
//! # Protocol
//! 1. `begin` takes the exclusive `LOCK` (one writer at a time; readers never lock), and only
//!    then reads `CURRENT` (creating an empty store if there is none), so a transaction always
//!    builds on the newest commit. It deletes leftovers of interrupted transactions: any file
//!    under the store's directories that the live manifest does not name, and manifests newer
//!    than it.
//! 2. The caller writes its new files under names carrying the transaction's number (so no
//!    committed file is ever overwritten), `fsync`s each, and adds them to the transaction.
//! 3. `commit` records each new file's size and BLAKE3 in the manifest, `fsync`s every
//!    directory on the way from a new file to the store (so a new day directory's entry is
//!    durable too), writes the manifest to `tmp/`, `fsync`s it, renames it to
//!    `manifests/m-<version>.json` and `fsync`s that directory.
//! 4. It writes `tmp/CURRENT`, `fsync`s it and renames it over `CURRENT`, then `fsync`s the store
//!    directory. That rename is the commit point: before it, readers see the previous version
//!    in full; after it, the new one in full.
//! 5. Manifests older than the last [`KEEP_MANIFESTS`] are deleted. Files named by a kept
//!    manifest stay, so a reader of a recent snapshot keeps working (SQL opens Parquet files by
//!    path long after the snapshot was taken) even after compaction replaced them; `begin`
//!    deletes a file once no kept manifest names it.
//!
//! A crash anywhere before step 4's rename leaves `CURRENT` naming the previous manifest, whose
//! files are all untouched. Readers that opened a snapshot keep their mapped files.

use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::layout::{self, CURRENT, DIRS, LOCK};
use super::manifest::{BatchInfo, CLEAR_FORMAT, CaseBatchInfo, DictSegmentInfo, FileSum, Manifest, PartInfo};
use crate::error::{Error, Result};

/// Manifests kept after a commit (the live one and those before it).
pub const KEEP_MANIFESTS: u64 = 16;

/// A point in the commit protocol where a test can make the commit fail, as a crash would.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failpoint {
    /// After the transaction's data files are written, before the manifest.
    BeforeManifest,
    /// After the new manifest is in place, before `CURRENT` is written.
    AfterManifest,
    /// After `tmp/CURRENT` is written, before it is renamed over `CURRENT`.
    BeforeSwap,
}

/// Which dictionary a segment belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DictKind {
    Persons,
    Venues,
}

impl DictKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            DictKind::Persons => "persons",
            DictKind::Venues => "venues",
        }
    }
}

/// An open write transaction on a store: holds the lock until committed or dropped. Dropping
/// it without `commit` leaves its files for the next `begin` to delete.
#[derive(Debug)]
pub(crate) struct Transaction {
    dir: PathBuf,
    _lock: File,
    base: Manifest,
    next: Manifest,
    failpoint: Option<Failpoint>,
    /// Directories `commit` synced, for the durability test.
    #[cfg(test)]
    synced: Vec<PathBuf>,
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
    Manifest::read(&dir.join(current_name(dir)?))
}

/// The live manifest's path relative to the store, as `CURRENT` names it.
pub(crate) fn current_name(dir: &Path) -> Result<String> {
    let current = dir.join(CURRENT);
    match fs::read_to_string(&current) {
        Ok(name) => Ok(name.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Error::store(dir, "not a truyvet store (no CURRENT file); `truyvet ingest` creates one"))
        }
        Err(e) => Err(Error::io(&current)(e)),
    }
}

/// Refuse a directory that holds anything but a store's own entries (before creating a store
/// in it).
fn check_empty_or_store(dir: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else { return Ok(()) };
    for entry in entries {
        let name = entry.map_err(Error::io(dir))?.file_name();
        let ours = name == LOCK || name == CURRENT || DIRS.iter().any(|d| name == *d);
        if !ours {
            return Err(Error::store(dir, "directory exists, is not empty and is not a truyvet store"));
        }
    }
    Ok(())
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

impl Transaction {
    /// Step 1: lock, then read (or create) the live version and clear leftovers.
    pub(crate) fn begin(dir: &Path) -> Result<Transaction> {
        if !dir.join(CURRENT).exists() {
            check_empty_or_store(dir)?;
            fs::create_dir_all(dir).map_err(Error::io(dir))?;
        }
        let lock = lock(dir)?;
        // Re-read under the lock: another writer may have created the store, or committed,
        // since the check above.
        let base = if dir.join(CURRENT).exists() {
            read_current(dir)?
        } else {
            for d in DIRS {
                fs::create_dir_all(dir.join(d)).map_err(Error::io(dir.join(d)))?;
            }
            fsync_dir(dir)?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fsync_dir(parent)?;
            }
            // Version 0, the empty store, is committed like any other.
            let empty = Manifest { format: CLEAR_FORMAT, ..Manifest::default() };
            let mut t = Transaction::new(dir, lock, empty.clone());
            t.base.version = u64::MAX;
            t.next = empty;
            t.commit()?;
            return Transaction::begin(dir);
        };
        // A store copied by a tool that drops empty directories (git, some backups) lacks
        // `tmp/` and perhaps `quarantine/`: recreate them rather than fail mid-transaction.
        for d in DIRS {
            fs::create_dir_all(dir.join(d)).map_err(Error::io(dir.join(d)))?;
        }
        let t = Transaction::new(dir, lock, base);
        t.remove_leftovers()?;
        Ok(t)
    }

    fn new(dir: &Path, lock: File, base: Manifest) -> Transaction {
        Transaction {
            dir: dir.to_path_buf(),
            _lock: lock,
            next: base.clone(),
            base,
            failpoint: None,
            #[cfg(test)]
            synced: Vec::new(),
        }
    }

    /// The manifest this transaction builds on.
    pub(crate) fn base(&self) -> &Manifest {
        &self.base
    }

    /// This transaction's number: the version it will commit, carried by its files' names.
    pub(crate) fn id(&self) -> u64 {
        self.base.version.wrapping_add(1)
    }

    /// Make the commit fail at a protocol step (crash-consistency tests).
    pub(crate) fn failpoint(&mut self, at: Option<Failpoint>) {
        self.failpoint = at;
    }

    /// Add check-in parts (written and synced by the caller).
    pub(crate) fn add_parts(&mut self, parts: impl IntoIterator<Item = PartInfo>) {
        self.next.parts.extend(parts);
    }

    /// Replace every part of day `day` by `parts` (compaction).
    pub(crate) fn replace_day(&mut self, day: i64, parts: Vec<PartInfo>, keep: impl Fn(&PartInfo) -> bool) {
        self.next.parts.retain(|p| p.day != day || keep(p));
        self.next.parts.extend(parts);
    }

    /// Drop the parts whose Parquet paths are `paths` (a scan batch replacing the open stays
    /// carried to it).
    pub(crate) fn drop_parts(&mut self, paths: &[String]) {
        self.next.parts.retain(|p| !paths.contains(&p.path));
    }

    /// Set or clear the scan pairing carried to the next scan batch.
    pub(crate) fn set_scan_carry(&mut self, carry: Option<super::carry::ScanCarry>) {
        self.next.scan_carry = carry;
    }

    /// Replace all parts (purge).
    pub(crate) fn replace_parts(&mut self, parts: Vec<PartInfo>) {
        self.next.parts = parts;
    }

    /// Replace a whole dictionary by one segment (purge).
    pub(crate) fn replace_dict(&mut self, kind: DictKind, segment: DictSegmentInfo) {
        match kind {
            DictKind::Persons => self.next.persons = vec![segment],
            DictKind::Venues => self.next.venues = vec![segment],
        }
    }

    /// Forget a batch's quarantine file (purge).
    pub(crate) fn drop_quarantine(&mut self, batch: u64) {
        for b in self.next.batches.iter_mut().filter(|b| b.id == batch) {
            b.quarantine = None;
        }
    }

    /// Mark the store pseudonymised (its first batch with person ids, under a key).
    pub(crate) fn set_pseudonyms(&mut self, p: crate::pseudonym::Pseudonyms) {
        self.next.pseudonyms = Some(p);
    }

    /// Set the retention policy.
    pub(crate) fn set_retention(&mut self, days: Option<u32>) {
        self.next.retention_days = days;
    }

    /// Add a dictionary segment.
    pub(crate) fn add_dict_segment(&mut self, kind: DictKind, segment: DictSegmentInfo) {
        match kind {
            DictKind::Persons => self.next.persons.push(segment),
            DictKind::Venues => self.next.venues.push(segment),
        }
    }

    /// Replace the venue attributes file.
    pub(crate) fn set_venue_attrs(&mut self, rel: String) {
        self.next.venue_attrs = Some(rel);
    }

    /// Replace the cases register file, and record the commit that changed it.
    pub(crate) fn set_cases(&mut self, rel: String, batch: CaseBatchInfo) {
        self.next.cases = Some(rel);
        self.next.case_batches.push(batch);
    }

    /// Record an ingest batch (and its quarantine file, if any).
    pub(crate) fn add_batch(&mut self, batch: BatchInfo) {
        self.next.batches.push(batch);
    }

    /// Give up: delete what this transaction wrote (best effort; the next `begin` retries).
    pub(crate) fn abort(self) {
        if let Err(e) = self.remove_leftovers() {
            tracing::warn!(error = %e, "could not remove the files of an abandoned transaction");
        }
    }

    /// Delete files no kept manifest names (leftovers of interrupted transactions, and files
    /// replaced by compaction once the last manifest naming them is gone), and manifests newer
    /// than the live one.
    fn remove_leftovers(&self) -> Result<()> {
        let base = self.base.version;
        delete_unnamed(&self.dir, &kept_files(&self.dir, &self.base), |v| v <= base).map(drop)
    }

    /// Steps 3 to 5: checksum and sync the new files, publish the manifest. Returns the version.
    pub(crate) fn commit(mut self) -> Result<u64> {
        let mut next = std::mem::take(&mut self.next);
        super::links::refresh(&self.dir, &self.base, &mut next, self.id())?;
        next.version = self.id();
        next.format = next.format_needed();
        let failpoint = self.failpoint;
        let fail = |at: Failpoint| -> Result<()> {
            if failpoint == Some(at) {
                return Err(Error::Internal(format!("failpoint {at:?} triggered")));
            }
            Ok(())
        };
        let old: HashSet<&str> = self.base.files().collect();
        let new: Vec<String> = next.files().filter(|f| !old.contains(f)).map(str::to_string).collect();
        let sums: Vec<(String, FileSum)> = new
            .par_iter()
            .map(|rel| Ok((rel.clone(), FileSum::of(&layout::resolve(&self.dir, rel))?)))
            .collect::<Result<_>>()?;
        next.checksums.extend(sums);
        let named: HashSet<String> = next.files().map(str::to_string).collect();
        next.checksums.retain(|f, _| named.contains(f));
        self.sync_dirs_of(&new)?;
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
        self.drop_old_manifests(next.version);
        Ok(next.version)
    }

    /// Commit, then delete at once every file and manifest the new manifest does not name
    /// (purge: what it removed must not stay on disk for older readers). Returns the version
    /// and the number of files deleted.
    pub(crate) fn commit_and_delete_the_rest(self) -> Result<(u64, u64)> {
        let dir = self.dir.clone();
        let version = self.commit()?;
        // Not under the lock any more: a writer that begins now deletes the same files or
        // fewer, never one the new manifest names.
        Ok((version, delete_all_but_live(&dir)?))
    }

    /// Delete every file and manifest the base manifest does not name (a purge that finds
    /// nothing to purge finishes the deletions of one that was interrupted).
    pub(crate) fn delete_the_rest(self) -> Result<u64> {
        delete_all_but_live(&self.dir)
    }

    /// `fsync` every directory between a new file and the store directory, deepest first.
    fn sync_dirs_of(&mut self, new: &[String]) -> Result<()> {
        let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
        for rel in new {
            let mut d = Path::new(rel).parent();
            while let Some(p) = d.filter(|p| !p.as_os_str().is_empty()) {
                dirs.insert(p.to_path_buf());
                d = p.parent();
            }
        }
        for d in dirs.iter().rev() {
            let path = self.dir.join(d);
            fsync_dir(&path)?;
            #[cfg(test)]
            self.synced.push(path);
        }
        Ok(())
    }

    /// Step 5 (best effort: a manifest left behind is only disk space).
    fn drop_old_manifests(&self, live: u64) {
        let Some(oldest_kept) = live.checked_sub(KEEP_MANIFESTS - 1) else { return };
        let Ok(entries) = fs::read_dir(self.dir.join("manifests")) else { return };
        for e in entries.flatten() {
            if manifest_version(&e.path()).is_some_and(|v| v < oldest_kept)
                && let Err(err) = fs::remove_file(e.path())
            {
                tracing::warn!(path = %e.path().display(), error = %err, "could not remove an old manifest");
            }
        }
    }
}

/// Delete every file and manifest under the store's directories that the live manifest does
/// not name. Returns how many.
fn delete_all_but_live(dir: &Path) -> Result<u64> {
    let live = read_current(dir)?;
    let named: HashSet<PathBuf> = live.files().map(|f| dir.join(f)).collect();
    delete_unnamed(dir, &named, |v| v == live.version)
}

/// The one sweep of a store's directories: delete every file not in `keep` and every manifest
/// whose version `keep_manifest` refuses (or whose name is not a manifest's), then `fsync` the
/// directories that lost entries. Returns how many files were deleted.
fn delete_unnamed(dir: &Path, keep: &HashSet<PathBuf>, keep_manifest: impl Fn(u64) -> bool) -> Result<u64> {
    let manifests = dir.join("manifests");
    let mut emptied: BTreeSet<PathBuf> = BTreeSet::new();
    let mut deleted = 0;
    for d in DIRS {
        for entry in walkdir::WalkDir::new(dir.join(d)) {
            let entry = entry.map_err(|e| Error::store(dir, format!("listing the store: {e}")))?;
            let path = entry.path();
            if !entry.file_type().is_file() {
                continue;
            }
            let stale = if path.parent() == Some(manifests.as_path()) {
                !manifest_version(path).is_some_and(&keep_manifest)
            } else {
                !keep.contains(path)
            };
            if stale {
                tracing::info!(path = %path.display(), "removing a file no kept manifest names");
                fs::remove_file(path).map_err(Error::io(path))?;
                emptied.extend(path.parent().map(Path::to_path_buf));
                deleted += 1;
            }
        }
    }
    for d in &emptied {
        fsync_dir(d)?;
    }
    Ok(deleted)
}

/// The files named by `live` or by the manifests kept before it.
pub(crate) fn kept_files(dir: &Path, live: &Manifest) -> HashSet<PathBuf> {
    let mut kept: HashSet<PathBuf> = live.files().map(|f| dir.join(f)).collect();
    for v in live.version.saturating_sub(KEEP_MANIFESTS - 1)..live.version {
        // A kept manifest that cannot be read protects nothing; the live one is what counts.
        if let Ok(m) = Manifest::read(&dir.join(layout::manifest(v))) {
            kept.extend(m.files().map(|f| dir.join(f)));
        }
    }
    kept
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
        let first = Transaction::begin(dir.path()).unwrap();
        match Transaction::begin(dir.path()) {
            Err(Error::Locked(_)) => {}
            Err(e) => panic!("expected Locked, got {e}"),
            Ok(_) => panic!("a held lock must refuse a second writer"),
        }
        drop(first);
        Transaction::begin(dir.path()).expect("the lock is free again once the first writer is gone");
    }

    /// A commit makes the directory entries of its new files durable: every directory from a
    /// new file up to the store is synced, new day directories included.
    #[test]
    fn commit_syncs_every_directory_holding_a_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s");
        let mut t = Transaction::begin(&store).unwrap();
        let (pq, idx) = layout::part(t.id(), "2021-08-01", 0);
        fs::create_dir_all(store.join(&pq).parent().unwrap()).unwrap();
        fs::write(store.join(&pq), b"p").unwrap();
        let t0 = 18_840 * crate::time::DAY;
        let row = crate::model::Visit { venue: 0, check_in: t0, person: 0, check_out: None };
        super::super::index::write(&store.join(&idx), 18_840, &[row]).unwrap();
        let q = layout::quarantine(t.id());
        fs::write(store.join(&q), b"q").unwrap();
        t.add_parts([PartInfo {
            path: pq.clone(),
            index: idx,
            day: 18_840,
            batch: t.id(),
            rows: 1,
            min_check_in: 0,
            max_check_in: 0,
            max_check_out: 0,
            bytes: 2,
        }]);
        t.add_batch(BatchInfo {
            id: t.id(),
            committed_at: String::new(),
            files: Vec::new(),
            rows_read: 1,
            rows_stored: 1,
            rows_rejected: 0,
            quarantine: Some(q),
            scans: None,
        });
        // Commit by hand to look at what was synced.
        let new: Vec<String> = t.next.files().map(str::to_string).collect();
        t.sync_dirs_of(&new).unwrap();
        let synced: Vec<String> =
            t.synced.iter().map(|p| p.strip_prefix(&store).unwrap().display().to_string()).collect();
        assert_eq!(synced, ["quarantine", "data/day=2021-08-01", "data"]);
        let v = t.commit().unwrap();
        let m = read_current(&store).unwrap();
        assert_eq!(v, m.version);
        assert_eq!(m.checksums[&pq].bytes, 1);
        assert_eq!(m.checksums[&pq].blake3, blake3::hash(b"p").to_hex().to_string());
        // The commit linked the new day's check-ins, and summed the links file.
        assert_eq!(m.links.len(), 1);
        assert_eq!(m.links[0].parts, [pq]);
        assert!(m.checksums.contains_key(&m.links[0].path));
    }

    /// Two writers creating the same new store at once: neither commit is lost (`CURRENT` is
    /// read under the lock, and the empty version is created only once).
    #[test]
    fn concurrent_first_writers_both_commit() {
        for round in 0..30 {
            let dir = tempfile::tempdir().unwrap();
            let store = dir.path().join("s");
            let go = std::sync::Barrier::new(2);
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        go.wait();
                        let mut t = Transaction::begin(&store).unwrap();
                        let id = t.id();
                        t.add_batch(BatchInfo {
                            id,
                            committed_at: String::new(),
                            files: Vec::new(),
                            rows_read: 0,
                            rows_stored: 0,
                            rows_rejected: 0,
                            quarantine: None,
                            scans: None,
                        });
                        t.commit().unwrap();
                    });
                }
            });
            let m = read_current(&store).unwrap();
            assert_eq!(m.batches.len(), 2, "round {round}: a committed batch was lost");
            assert_eq!(m.version, 2);
        }
    }
}
