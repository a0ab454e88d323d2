//! The store: a directory of day-partitioned, sorted Parquet parts with trace-index sidecars,
//! dictionaries and a manifest, changed only by atomic commits.
//!
//! [`Store::open`] reads the live manifest and maps its files into a [`Snapshot`]: an immutable,
//! cheap-to-clone, `Send + Sync` view that later commits never change. This module must not
//! import `ingest`, `trace` or `sql`: data flows into it and out of it, never back.

pub mod audit;
pub(crate) mod bytes;
pub(crate) mod carry;
pub mod cases;
mod compact;
pub(crate) mod dict;
mod idtable;
pub(crate) mod index;
mod keyset;
pub(crate) mod layout;
pub(crate) mod links;
pub mod manifest;
mod paged;
pub(crate) mod parquet;
pub(crate) mod partition;
mod purge;
pub mod quarantine;
pub(crate) mod reid;
mod reopen;
pub(crate) mod txn;
mod verify;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::Serialize;

pub use self::bytes::set_scattered_reads;
pub use self::compact::{CompactReport, DayCompaction};
use self::dict::Dict;
pub(crate) use self::index::PartIndex;
pub use self::manifest::{Manifest, PartInfo};
pub use self::parquet::VenueInfo;
pub use self::purge::PurgeReport;
pub use self::txn::Failpoint;
pub use self::verify::{Problem, VerifyReport};
use crate::error::{Error, Result};
use crate::model::{PersonId, PersonKey, Seconds, VenueKey};
use crate::time::DAY;

/// A store directory, opened at its live version.
///
/// ```no_run
/// let store = truyvet::Store::open("province-store")?;
/// println!("{} check-ins", store.snapshot().manifest().rows());
/// # Ok::<(), truyvet::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    snapshot: Snapshot,
}

impl Store {
    /// Open an existing store and validate its live version (manifest, dictionaries, index
    /// headers). Files are mapped, not read: opening costs little whatever the store's size.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        let dir = dir.as_ref().to_path_buf();
        let snapshot = Snapshot::load(&dir)?;
        Ok(Store { dir, snapshot })
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The snapshot opened (cheap clone; never changes).
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.clone()
    }

    /// Check every file of the store's live version against its manifest (`quick`: sizes and
    /// headers only) and report every problem; see `truyvet verify`. Works on a store too
    /// damaged to open.
    pub fn verify(dir: impl AsRef<Path>, quick: bool) -> Result<VerifyReport> {
        verify::verify(dir.as_ref(), quick)
    }

    /// Rewrite the parts of each day that has more than one (`day`: only that day, as days since
    /// 1970-01-01) as one re-sorted, re-indexed part, in one commit; see `truyvet compact`.
    /// Snapshots already open are not disturbed.
    pub fn compact(dir: impl AsRef<Path>, day: Option<i64>) -> Result<CompactReport> {
        compact::compact(dir.as_ref(), day)
    }

    /// Set the retention policy: `purge` keeps the last `days` days (`None`: keep everything).
    /// Returns the version committed.
    pub fn set_retention(dir: impl AsRef<Path>, days: Option<u32>) -> Result<u64> {
        purge::set_retention(dir.as_ref(), days)
    }

    /// Remove every day older than the retention policy, counting back from `today` (days since
    /// 1970-01-01, UTC), from data, indexes, dictionaries, quarantine and old manifests; see
    /// `truyvet purge`.
    pub fn purge(dir: impl AsRef<Path>, today: i64) -> Result<PurgeReport> {
        purge::purge(dir.as_ref(), today)
    }

    /// Re-read the live version, to see commits made since `open`. Files the new version shares
    /// with the one held are taken from it, mapped and with their pages checked so far.
    pub fn reload(&mut self) -> Result<()> {
        let manifest = txn::read_current(&self.dir)?;
        self.snapshot = Snapshot::from_manifest(&self.dir, manifest, Some(&self.snapshot))?;
        Ok(())
    }

    /// Re-read the live version only if a commit replaced the one held (one small file read
    /// when nothing changed); whether it did. Snapshots taken before stay as they were.
    pub fn refresh(&mut self) -> Result<bool> {
        if txn::current_name(&self.dir)? == layout::manifest(self.snapshot.manifest().version) {
            return Ok(false);
        }
        self.reload()?;
        Ok(true)
    }
}

/// One check-in part of a snapshot: its manifest entry and its mapped trace index.
#[derive(Debug)]
pub struct Part {
    /// Manifest entry.
    pub info: PartInfo,
    pub(crate) index: PartIndex,
}

impl Part {
    /// The persons who checked in in this part, ascending by key, with their check-in counts
    /// (for choosing an F0 to demonstrate or benchmark with).
    pub fn persons(&self) -> Result<Vec<(PersonKey, u32)>> {
        let keys = self.index.person_keys()?;
        keys.into_iter().map(|p| Ok((p, self.index.person_rows(p)?.len() as u32))).collect()
    }

    /// The venues of this part, ascending by key.
    pub fn venues(&self) -> Result<Vec<VenueKey>> {
        self.index.venue_keys()
    }

    /// The person of row `row` (rows are in stored order: venue id, then check-in).
    pub fn person_at(&self, row: u32) -> Result<PersonKey> {
        self.index.ensure_row(row)?;
        Ok(self.index.person(row))
    }

    /// The venue of row `row`.
    pub fn venue_at(&self, row: u32) -> Result<VenueKey> {
        self.index.venue(row)
    }

    /// The rows at venue `v` checked in within `[lo, hi)` (the trace's venue lookup; exposed
    /// for the kernel benchmarks).
    #[doc(hidden)]
    pub fn rows_at_venue(
        &self,
        v: VenueKey,
        lo: crate::model::Seconds,
        hi: crate::model::Seconds,
    ) -> Result<std::ops::Range<u32>> {
        self.index.venue_rows_checked_in(v, lo, hi)
    }

    /// The rows of person `p` (the trace's person lookup; exposed for the kernel benchmarks).
    #[doc(hidden)]
    pub fn rows_of_person(&self, p: PersonKey) -> Result<Vec<u32>> {
        self.index.person_rows(p)
    }
}

/// An immutable view of one committed version of a store.
#[derive(Debug, Clone)]
pub struct Snapshot(Arc<SnapshotInner>);

#[derive(Debug)]
struct SnapshotInner {
    dir: PathBuf,
    manifest: Manifest,
    persons: Dict,
    venues: Dict,
    parts: Vec<Part>,
    /// `(day, index into parts)` sorted by day: built once at open, so a trace finds the parts of
    /// a day range by binary search instead of sorting the parts per trace.
    by_day: Vec<(i64, usize)>,
    venue_attrs: OnceLock<Result<HashMap<String, VenueInfo>, String>>,
    cases: OnceLock<Result<Vec<crate::model::Case>, String>>,
}

impl Snapshot {
    /// The snapshot of manifest `version` of the store in `dir` (a cluster's processes open
    /// the version their client planned against). An error once that version is purged.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    pub(crate) fn open_version(dir: &Path, version: u64) -> Result<Snapshot> {
        let manifest = Manifest::read(&layout::resolve(dir, &layout::manifest(version)))?;
        Snapshot::from_manifest(dir, manifest, None)
    }

    fn load(dir: &Path) -> Result<Snapshot> {
        let manifest = txn::read_current(dir)?;
        Snapshot::from_manifest(dir, manifest, None)
    }

    /// The snapshot of `manifest`, taking the files it shares with `previous` from there
    /// ([`reopen`]).
    fn from_manifest(dir: &Path, manifest: Manifest, previous: Option<&Snapshot>) -> Result<Snapshot> {
        let _span =
            tracing::debug_span!("open_snapshot", version = manifest.version, parts = manifest.parts.len()).entered();
        let kept = previous.map(|p| reopen::Kept::new(&p.0, &manifest));
        let kept = kept.as_ref();
        let segments = |persons: bool, segs: &[manifest::DictSegmentInfo]| -> Result<Dict> {
            let open = |s| kept.and_then(|k| k.segment(persons, s)).map_or_else(|| dict::open_segment(dir, s), Ok);
            Ok(Dict::new(segs.iter().map(open).collect::<Result<_>>()?))
        };
        let (persons, venues) = (segments(true, &manifest.persons)?, segments(false, &manifest.venues)?);
        let parts = manifest
            .parts
            .iter()
            .zip(links::open_all(dir, &manifest, |l| kept?.links(l))?)
            .map(|(info, links)| {
                let mut index = match kept.and_then(|k| k.index(info)) {
                    Some(index) => index,
                    None => PartIndex::open(&layout::resolve(dir, &info.index), info.rows, info.day)?,
                };
                if let Some(links) = links {
                    index.attach_links(links);
                }
                Ok(Part { info: info.clone(), index })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut by_day: Vec<(i64, usize)> = parts.iter().enumerate().map(|(i, p)| (p.info.day, i)).collect();
        by_day.sort_unstable();
        Ok(Snapshot(Arc::new(SnapshotInner {
            dir: dir.to_path_buf(),
            manifest,
            persons,
            venues,
            parts,
            by_day,
            venue_attrs: OnceLock::new(),
            cases: OnceLock::new(),
        })))
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.0.dir
    }

    /// The manifest of this version.
    pub fn manifest(&self) -> &Manifest {
        &self.0.manifest
    }

    /// Check-in parts, in manifest order.
    pub fn parts(&self) -> &[Part] {
        &self.0.parts
    }

    /// Parts whose day is in `[first, last]`, in day order.
    pub(crate) fn parts_of_days(&self, first: i64, last: i64) -> impl Iterator<Item = &Part> + '_ {
        let by_day = &self.0.by_day;
        let lo = by_day.partition_point(|&(d, _)| d < first);
        by_day[lo..].iter().take_while(move |&&(d, _)| d <= last).map(|&(_, i)| &self.0.parts[i])
    }

    /// Parts that hold a check-in in `[lo, hi)` by their manifest span (a part of a day's
    /// hourly ingest spans its hour), in day order.
    pub(crate) fn parts_checked_in(&self, lo: Seconds, hi: Seconds) -> impl Iterator<Item = &Part> + '_ {
        self.parts_of_days(lo.div_euclid(DAY), hi.saturating_sub(1).div_euclid(DAY))
            .filter(move |p| p.info.min_check_in < hi && p.info.max_check_in >= lo)
    }

    /// Key of a person id (`None`: not in the store; an error: a damaged dictionary).
    pub fn person_key(&self, id: &str) -> Result<Option<PersonKey>> {
        self.0.persons.key(id)
    }

    /// Person id of a key from this snapshot.
    pub fn person_id(&self, key: PersonKey) -> Result<&str> {
        self.0.persons.id(key, &|| self.unknown_key("person", key))
    }

    /// Person ids of many keys, in order: as [`Snapshot::person_id`] each, faster for long lists.
    pub fn person_ids(&self, keys: &[PersonKey]) -> Result<Vec<&str>> {
        self.0.persons.ids(keys, &|key| self.unknown_key("person", key))
    }

    /// [`Snapshot::person_ids`] as owned ids, copied while each id's page is fresh: for
    /// lists that outlive the lookup, faster than copying the borrowed ids afterwards.
    pub fn person_ids_owned(&self, keys: &[PersonKey]) -> Result<Vec<PersonId>> {
        self.0.persons.ids_as(keys, &|key| self.unknown_key("person", key), PersonId::from_str)
    }

    /// Key of a venue id (`None`: not in the store; an error: a damaged dictionary).
    pub fn venue_key(&self, id: &str) -> Result<Option<VenueKey>> {
        self.0.venues.key(id)
    }

    /// Venue id of a key from this snapshot.
    pub fn venue_id(&self, key: VenueKey) -> Result<&str> {
        self.0.venues.id(key, &|| self.unknown_key("venue", key))
    }

    /// A key read from this snapshot's files that its dictionary does not hold: some file is
    /// damaged (`verify` says which).
    fn unknown_key(&self, what: &str, key: u32) -> Error {
        Error::store(
            &self.0.dir,
            format!("damaged store: a trace index names {what} key {key}, beyond the dictionary; run `truyvet verify`"),
        )
    }

    /// Number of distinct persons.
    pub fn person_count(&self) -> u32 {
        self.0.persons.len()
    }

    /// Number of distinct venues seen in check-ins.
    pub fn venue_count(&self) -> u32 {
        self.0.venues.len()
    }

    /// Venue attributes by venue id (loaded on first use; empty if no venues file was given).
    pub fn venue_attrs(&self) -> Result<&HashMap<String, VenueInfo>> {
        let loaded = self.0.venue_attrs.get_or_init(|| match &self.0.manifest.venue_attrs {
            None => Ok(HashMap::new()),
            Some(rel) => parquet::read_venues(&layout::resolve(&self.0.dir, rel), self.0.manifest.checksums.get(rel))
                .map(|v| v.into_iter().map(|v| (v.venue_id.clone(), v)).collect())
                .map_err(|e| e.to_string()),
        });
        loaded.as_ref().map_err(|e| Error::store(&self.0.dir, e.clone()))
    }

    /// The category of venue key `key` in the venues register, if it has one.
    pub fn venue_category(&self, key: VenueKey) -> Result<Option<&str>> {
        let id = self.venue_id(key)?;
        Ok(self.venue_attrs()?.get(id).and_then(|a| a.category.as_deref()))
    }

    /// Summary figures (`truyvet stats`).
    pub fn stats(&self) -> Result<StoreStats> {
        let m = &self.0.manifest;
        let mut bytes = 0;
        for rel in m.files().chain([layout::manifest(m.version).as_str()]) {
            let p = layout::resolve(&self.0.dir, rel);
            bytes += std::fs::metadata(&p).map_err(Error::io(&p))?.len();
        }
        let days = m.days();
        Ok(StoreStats {
            rows: m.rows(),
            persons: m.persons(),
            venues: m.venues(),
            days: days.len() as u64,
            first_day: days.first().map(|&d| crate::time::day_name(d)),
            last_day: days.last().map(|&d| crate::time::day_name(d)),
            batches: m.batches.len() as u64,
            rejected: m.rejected(),
            bytes,
            version: m.version,
        })
    }
}

/// Summary figures of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// Stored check-ins.
    pub rows: u64,
    /// Distinct persons.
    pub persons: u64,
    /// Distinct venues in check-ins.
    pub venues: u64,
    /// Days with check-ins.
    pub days: u64,
    /// First day covered.
    pub first_day: Option<String>,
    /// Last day covered.
    pub last_day: Option<String>,
    /// Committed ingest batches.
    pub batches: u64,
    /// Quarantined rows over all batches.
    pub rejected: u64,
    /// Bytes on disk of the live version's files.
    pub bytes: u64,
    /// Manifest version.
    pub version: u64,
}
