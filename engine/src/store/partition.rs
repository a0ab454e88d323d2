//! Partitioning a buffer of encoded visits into day parts: sort, split by UTC day of check-in,
//! write each day's Parquet part and trace index (days, and a day's two files, in parallel).
//! Ingest writes its flushes through it, compaction its merged days.
//!
//! # Algorithm
//! 1. Rank the venues present in the buffer by their id string, so parts are sorted by
//!    `venue_id` as text (tight Parquet min/max statistics per page).
//! 2. Sort the buffer by (day, venue rank, check_in, person, check_out): total, so the output
//!    does not depend on input order within a buffer or on the thread count.
//! 3. Split at day boundaries; for each day write `b<batch>-<seq>.parquet` and `.tvx`.
//!
//! # Performance
//! O(n log n) for the sort (parallel), O(n) for the writes; memory is the buffer itself plus
//! one Parquet row group per day being written.

use std::path::Path;

use rayon::prelude::*;

use super::dict::InternedView;
use super::{PartInfo, index, layout, parquet};
use crate::error::{Error, Result};
use crate::model::Visit;
use crate::time::{DAY, day_name};

/// A buffer of visits ready to be written, with the dictionaries as of its last row.
pub(crate) struct Flush {
    pub rows: Vec<Visit>,
    pub persons: InternedView,
    pub venues: InternedView,
    pub seq: u32,
}

/// Sort and write one flush; returns the parts written.
pub(crate) fn write_flush(dir: &Path, batch: u64, flush: Flush, parallel: bool) -> Result<Vec<PartInfo>> {
    let Flush { mut rows, persons, venues, seq } = flush;
    let _span = tracing::debug_span!("write_flush", batch, seq, rows = rows.len()).entered();
    let mut present: Vec<u32> = rows.iter().map(|v| v.venue).collect();
    present.par_sort_unstable();
    present.dedup();
    present.par_sort_unstable_by(|&a, &b| venues.get(a).cmp(venues.get(b)));
    let max_venue = present.iter().copied().max().unwrap_or(0) as usize;
    let mut rank = vec![0u32; max_venue + 1];
    for (r, &v) in present.iter().enumerate() {
        rank[v as usize] = r as u32;
    }
    let key = |v: &Visit| (v.check_in.div_euclid(DAY), rank[v.venue as usize], v.check_in, v.person, v.check_out);
    if parallel {
        rows.par_sort_unstable_by_key(key);
    } else {
        rows.sort_unstable_by_key(key);
    }
    let mut days: Vec<&[Visit]> =
        rows.chunk_by(|a, b| a.check_in.div_euclid(DAY) == b.check_in.div_euclid(DAY)).collect();
    let write_day = |rows: &&[Visit]| -> Result<PartInfo> {
        let day = rows[0].check_in.div_euclid(DAY);
        let (pq_rel, idx_rel) = layout::part(batch, &day_name(day), seq);
        let pq_path = layout::resolve(dir, &pq_rel);
        let parent = pq_path.parent().expect("parts live in a day directory");
        std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
        let idx_path = layout::resolve(dir, &idx_rel);
        // The Parquet part and its index are independent encodings of the same sorted rows.
        let write_pq = || parquet::write_part(&pq_path, day, rows, &persons, &venues);
        let write_idx = || index::write(&idx_path, day, rows);
        let (pq_bytes, idx) = if parallel { rayon::join(write_pq, write_idx) } else { (write_pq(), write_idx()) };
        let (pq_bytes, ()) = (pq_bytes?, idx?);
        let idx_bytes = std::fs::metadata(&idx_path).map_err(Error::io(&idx_path))?.len();
        Ok(PartInfo {
            path: pq_rel,
            index: idx_rel,
            day,
            batch,
            rows: rows.len() as u64,
            min_check_in: rows.iter().map(|v| v.check_in).min().unwrap_or(0),
            max_check_in: rows.iter().map(|v| v.check_in).max().unwrap_or(0),
            max_check_out: rows.iter().map(|v| v.check_out.unwrap_or(v.check_in)).max().unwrap_or(0),
            bytes: pq_bytes + idx_bytes,
        })
    };
    // Largest days first, so two workers finish together.
    days.sort_by_key(|d| std::cmp::Reverse(d.len()));
    let mut parts = if parallel {
        days.par_iter().map(write_day).collect::<Result<Vec<_>>>()?
    } else {
        days.iter().map(write_day).collect::<Result<Vec<_>>>()?
    };
    parts.sort_by_key(|p| p.day);
    Ok(parts)
}
