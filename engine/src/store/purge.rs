//! Retention: a store policy (keep the last N days) and the purge that enforces it.
//!
//! A purge removes every day older than the limit from the data (Parquet parts and trace
//! indexes), from the dictionaries (persons and venues seen only in purged days are gone from
//! the live dictionaries, not just unreferenced), from the quarantine (files of batches whose
//! rows were all in purged days) and from the manifests (all older manifests are deleted, since
//! they name purged files). What remains is what a store ingested from the kept days alone would
//! hold, under new keys.
//!
//! # Algorithm
//! 1. In one transaction: read the kept parts' rows back from their indexes and mark the person
//!    and venue keys they use.
//! 2. New dictionaries hold the used ids in their old key order, so a remapped part stays in the
//!    stored order and its Parquet file (which holds id strings, not keys) is kept as it is.
//! 3. Write each kept part's index anew under the remapped keys, and one new segment per
//!    dictionary; commit.
//! 4. Delete every file and manifest the new manifest does not name, at once: a purge is a
//!    deletion the law asks for, so unlike compaction it does not wait for readers of older
//!    snapshots (their mapped indexes keep working; their SQL scans of purged days fail). A
//!    purge interrupted here is finished by the next one, which deletes the same way even when
//!    no day is left to purge.
//!
//! # Performance
//! Reads every kept index twice (keys, then rows to remap) and rewrites it, not the Parquet
//! data; memory is the dictionaries plus one part's rows at a time, which is why the rows are
//! decoded twice rather than held.

use std::path::Path;

use roaring::RoaringBitmap;
use serde::Serialize;

use super::dict::{Interner, open_segments};
use super::index::{self, PartIndex};
use super::layout;
use super::manifest::{DictSegmentInfo, Manifest, PartInfo};
use super::reid::{self, Sealed};
use super::txn::{DictKind, Transaction};
use crate::error::{Error, Result};
use crate::time::day_name;

/// What a purge did.
#[derive(Debug, Clone, Serialize)]
pub struct PurgeReport {
    /// The version committed, or `None` when nothing was older than the limit.
    pub version: Option<u64>,
    /// The first day kept (`YYYY-MM-DD`, UTC).
    pub first_kept_day: String,
    /// Days removed.
    pub days_purged: u64,
    /// Check-ins removed.
    pub rows_purged: u64,
    /// Person ids removed from the dictionary.
    pub persons_purged: u64,
    /// Venue ids removed from the dictionary.
    pub venues_purged: u64,
    /// Quarantine files removed.
    pub quarantine_files_purged: u64,
    /// Files deleted from the store directory (data, indexes, dictionaries, quarantine,
    /// manifests).
    pub files_deleted: u64,
}

/// Set the store's retention policy: keep `days` days (`None`: keep everything).
pub(crate) fn set_retention(dir: &Path, days: Option<u32>) -> Result<u64> {
    let mut txn = Transaction::begin(dir)?;
    txn.set_retention(days);
    txn.commit()
}

/// Purge the store at `dir` to its retention policy, counting days back from `today` (days since
/// 1970-01-01, UTC): days before `today - keep + 1` go.
pub(crate) fn purge(dir: &Path, today: i64) -> Result<PurgeReport> {
    let mut txn = Transaction::begin(dir)?;
    let base = txn.base().clone();
    let Some(keep) = base.retention_days else {
        return Err(Error::store(dir, "no retention policy: set one with `truyvet retention --keep DAYS` first"));
    };
    let first_kept = today - i64::from(keep) + 1;
    let mut report = PurgeReport {
        version: None,
        first_kept_day: day_name(first_kept),
        days_purged: base.days().iter().filter(|&&d| d < first_kept).count() as u64,
        rows_purged: base.parts.iter().filter(|p| p.day < first_kept).map(|p| p.rows).sum(),
        persons_purged: 0,
        venues_purged: 0,
        quarantine_files_purged: 0,
        files_deleted: 0,
    };
    if report.days_purged == 0 {
        report.files_deleted = txn.delete_the_rest()?;
        return Ok(report);
    }
    let _span = tracing::info_span!("purge", first_kept = %report.first_kept_day).entered();
    match rewrite(dir, &base, first_kept, &mut txn, &mut report) {
        Ok(()) => {}
        Err(e) => {
            txn.abort();
            return Err(e);
        }
    }
    let (version, deleted) = txn.commit_and_delete_the_rest()?;
    report.version = Some(version);
    report.files_deleted = deleted;
    Ok(report)
}

fn rewrite(
    dir: &Path,
    base: &Manifest,
    first_kept: i64,
    txn: &mut Transaction,
    report: &mut PurgeReport,
) -> Result<()> {
    let kept: Vec<&PartInfo> = base.parts.iter().filter(|p| p.day >= first_kept).collect();
    // Opened once: the pages checked in step 1 are not checked again in step 3.
    let indexes: Vec<PartIndex> =
        kept.iter().map(|p| PartIndex::open(&layout::resolve(dir, &p.index), p.rows, p.day)).collect::<Result<_>>()?;
    // 1. The keys the kept rows use.
    let (mut persons_used, mut venues_used) = (RoaringBitmap::new(), RoaringBitmap::new());
    for idx in &indexes {
        for v in idx.visits()? {
            persons_used.insert(v.person);
            venues_used.insert(v.venue);
        }
    }
    // 2. Dictionaries of the used ids, in the old key order, and the old → new key maps.
    let mut remaps = Vec::new();
    for (kind, segs) in [(DictKind::Persons, &base.persons), (DictKind::Venues, &base.venues)] {
        let old: Interner = Interner::load(&open_segments(dir, segs)?)?;
        let used = if kind == DictKind::Persons { &persons_used } else { &venues_used };
        if used.max().is_some_and(|k| k >= old.len()) {
            return Err(Error::store(
                dir,
                format!("damaged store: an index names a {} key beyond the dictionary", kind.name()),
            ));
        }
        let view = old.view();
        let mut new: Interner = Interner::default();
        let mut map = vec![u32::MAX; old.len() as usize];
        for k in used {
            map[k as usize] = new.intern(view.get(k));
        }
        let purged = u64::from(old.len() - new.len());
        match kind {
            DictKind::Persons => report.persons_purged = purged,
            DictKind::Venues => report.venues_purged = purged,
        }
        let rel = layout::dict(kind.name(), txn.id());
        let count = new.write_segment(0, &layout::resolve(dir, &rel))?;
        let reid = match kind {
            DictKind::Persons if base.pseudonyms.is_some() => Some(rewrite_reid(dir, &base.persons, used, txn.id())?),
            _ => None,
        };
        txn.replace_dict(kind, DictSegmentInfo { path: rel, base: 0, count, reid });
        remaps.push(map);
    }
    // 3. The kept parts' indexes under the new keys (same rows, same order).
    let mut parts = Vec::with_capacity(kept.len());
    for (seq, (p, idx)) in kept.iter().zip(&indexes).enumerate() {
        let mut rows = idx.visits()?;
        for v in &mut rows {
            (v.person, v.venue) = (remaps[0][v.person as usize], remaps[1][v.venue as usize]);
        }
        let (_, rel) = layout::part(txn.id(), &day_name(p.day), seq as u32);
        let path = layout::resolve(dir, &rel);
        std::fs::create_dir_all(path.parent().expect("a day directory")).map_err(Error::io(&path))?;
        index::write(&path, p.day, &rows)?;
        let old_index_bytes = std::fs::metadata(layout::resolve(dir, &p.index)).map_or(0, |m| m.len());
        let new_index_bytes = std::fs::metadata(&path).map_err(Error::io(&path))?.len();
        parts.push(PartInfo { index: rel, bytes: p.bytes - old_index_bytes + new_index_bytes, ..(*p).clone() });
    }
    txn.replace_parts(parts);
    // A carried scan pairing whose open stays were in a purged day ends here (the next scan
    // batch starts afresh); otherwise it goes on (it names ids, not keys).
    if base.scan_carry.as_ref().is_some_and(|c| base.parts.iter().any(|p| p.day < first_kept && c.holds(p))) {
        txn.set_scan_carry(None);
    }
    // Quarantine of batches none of whose rows remain. (A quarantine is kept or dropped whole:
    // a kept one may hold rows of purged days.)
    for b in &base.batches {
        if b.quarantine.is_some() && !kept.iter().any(|p| p.batch == b.id) {
            txn.drop_quarantine(b.id);
            report.quarantine_files_purged += 1;
        }
    }
    Ok(())
}

/// The re-identification segment of the kept persons `used` (old keys, ascending), in the new
/// key order: their sealed ids copied as they are (sealing binds an id to its pseudonym, not to
/// its key, so no key is needed).
fn rewrite_reid(dir: &Path, segs: &[DictSegmentInfo], used: &RoaringBitmap, batch: u64) -> Result<String> {
    let old = Sealed::open(dir, segs)?;
    let keys: Vec<u32> = used.iter().collect();
    let rel = layout::reid(batch);
    reid::write(&layout::resolve(dir, &rel), keys.len() as u32, |i| Ok(old.get(keys[i as usize])?.0.to_vec()))?;
    Ok(rel)
}
