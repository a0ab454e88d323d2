//! Compaction: rewrite all the parts of a day as one part, re-sorted and re-indexed, through
//! one store transaction.
//!
//! Each ingest adds a part per day it touches (more with `--flush-rows`), so hourly ingests leave
//! a day in dozens of parts, and every trace and every SQL scan pays per part. Compaction reads
//! the day's rows back from the trace indexes (checked pages, as a trace reads them), sorts them
//! as ingest does, writes one Parquet part and index, and commits a manifest naming the new part
//! instead of the old ones. Keys do not change, so dictionaries are untouched.
//!
//! Readers are not disturbed: a snapshot opened before keeps its files, which stay on disk while
//! any of the last `KEEP_MANIFESTS` manifests names them (see `txn`).
//!
//! # Performance
//! One day's rows in memory at a time (24 bytes each) plus the dictionaries' ids (for the
//! Parquet columns); days are written one after another, each with rayon inside.

use std::path::Path;

use serde::Serialize;

use super::dict::{Interner, VenueInterner, open_segments};
use super::index::PartIndex;
use super::layout;
use super::manifest::PartInfo;
use super::partition::{Flush, write_flush};
use super::txn::Transaction;
use crate::error::{Error, Result};
use crate::time::day_name;

/// What a compaction did.
#[derive(Debug, Clone, Serialize)]
pub struct CompactReport {
    /// The version committed, or `None` when no day had more than one part.
    pub version: Option<u64>,
    /// The days rewritten.
    pub days: Vec<DayCompaction>,
}

/// One day rewritten.
#[derive(Debug, Clone, Serialize)]
pub struct DayCompaction {
    /// The day (UTC), `YYYY-MM-DD`.
    pub day: String,
    /// Parts before.
    pub parts_before: usize,
    /// Rows (unchanged by compaction).
    pub rows: u64,
    /// Bytes of the parts before and after.
    pub bytes_before: u64,
    /// Bytes of the part after.
    pub bytes_after: u64,
}

/// Compact the days of the store at `dir` that have more than one part (`day`: only that one,
/// as days since 1970-01-01).
pub(crate) fn compact(dir: &Path, day: Option<i64>) -> Result<CompactReport> {
    let mut txn = Transaction::begin(dir)?;
    let base = txn.base().clone();
    // The parts of open stays carried to the next scan batch are left as they are: that batch
    // replaces them.
    let carried = |p: &PartInfo| base.scan_carry.as_ref().is_some_and(|c| c.holds(p));
    let mut days: Vec<i64> = base.days().into_iter().filter(|d| day.is_none_or(|want| want == *d)).collect();
    days.retain(|d| base.parts.iter().filter(|p| p.day == *d && !carried(p)).count() > 1);
    if days.is_empty() {
        return Ok(CompactReport { version: None, days: Vec::new() });
    }
    let _span = tracing::info_span!("compact", days = days.len()).entered();
    let persons: Interner = Interner::load(&open_segments(dir, &base.persons)?)?;
    let venues: VenueInterner = Interner::load(&open_segments(dir, &base.venues)?)?;
    let (persons_view, venues_view) = (persons.view(), venues.view());
    let mut report = Vec::with_capacity(days.len());
    let mut run = |txn: &mut Transaction| -> Result<()> {
        for &d in &days {
            let old: Vec<_> = base.parts.iter().filter(|p| p.day == d && !carried(p)).cloned().collect();
            let mut rows = Vec::with_capacity(old.iter().map(|p| p.rows as usize).sum());
            for p in &old {
                let path = layout::resolve(dir, &p.index);
                let visits = PartIndex::open(&path, p.rows, p.day)?.visits()?;
                if visits.iter().any(|v| v.person >= persons.len() || v.venue >= venues.len()) {
                    return Err(Error::store(path, "damaged trace index: a key beyond the dictionary"));
                }
                rows.extend(visits);
            }
            let flush = Flush { rows, persons: persons_view.clone(), venues: venues_view.clone(), seq: 0 };
            let new = write_flush(dir, txn.id(), flush, true)?;
            report.push(DayCompaction {
                day: day_name(d),
                parts_before: old.len(),
                rows: new.iter().map(|p| p.rows).sum(),
                bytes_before: old.iter().map(|p| p.bytes).sum(),
                bytes_after: new.iter().map(|p| p.bytes).sum(),
            });
            txn.replace_day(d, new, carried);
        }
        Ok(())
    };
    if let Err(e) = run(&mut txn) {
        txn.abort();
        return Err(e);
    }
    let version = txn.commit()?;
    Ok(CompactReport { version: Some(version), days: report })
}
