//! Partitioning a buffer of encoded visits into day parts: sort, split by UTC day of check-in,
//! write each day's Parquet part and trace index (days, and a day's two files, in parallel).
//! Ingest writes its flushes through it, compaction its merged days.
//!
//! # Algorithm
//! 1. Rank the venues present in the buffer by their id string, so parts are sorted by
//!    `venue_id` as text (tight Parquet min/max statistics per page).
//! 2. Sort the buffer by (day, venue rank, check_in, person, check_out): total, so the output
//!    does not depend on input order within a buffer or on the thread count. When day offset,
//!    venue rank, second of the day and row number fit in 64 bits together (days spanning up to
//!    2^(64 − 17 − venue bits − row bits) in one buffer: 128 days at 200 k venues and 4 Mi rows),
//!    the packed keys are radix sorted, runs of equal (day, venue, check-in) are sorted by
//!    (person, check-out), and the rows are gathered in that order; otherwise a comparison sort.
//! 3. Split at day boundaries; for each day write `b<batch>-<seq>.parquet` and `.tvx`.
//!
//! # Performance
//! O(n) for the radix sort (one pass by day over 8-byte keys, then three per day at
//! 20 k venues; the comparison sort of 32-byte rows it replaced was a fifth of an ingest's CPU),
//! O(n log n) for the fallback (parallel), O(n) for the writes; memory is the buffer itself,
//! 16 bytes a row while sorting, and one Parquet row group per day being written.

use std::path::Path;

use rayon::prelude::*;

use super::dict::InternedView;
use super::{PartInfo, index, layout, parquet};
use crate::error::{Error, Result};
use crate::model::Visit;
use crate::radix;
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
    let max_venue = rows.iter().map(|v| v.venue as usize).max().unwrap_or(0);
    let mut seen = vec![false; max_venue + 1];
    for v in &rows {
        seen[v.venue as usize] = true;
    }
    let mut present: Vec<u32> = (0..=max_venue as u32).filter(|&v| seen[v as usize]).collect();
    present.par_sort_unstable_by(|&a, &b| venues.get(a).cmp(venues.get(b)));
    let mut rank = vec![0u32; max_venue + 1];
    for (r, &v) in present.iter().enumerate() {
        rank[v as usize] = r as u32;
    }
    sort_rows(&mut rows, &rank, parallel);
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

/// Sort `rows` by (day, `rank[venue]`, check_in, person, check_out).
fn sort_rows(rows: &mut Vec<Visit>, rank: &[u32], parallel: bool) {
    const SECOND_BITS: u32 = 17; // 86 399 < 2^17
    let (Some(first), Some(last)) = (rows.iter().map(|v| v.check_in).min(), rows.iter().map(|v| v.check_in).max())
    else {
        return;
    };
    let first_day = first.div_euclid(DAY);
    let day_bits = radix::bits_for(last.div_euclid(DAY).abs_diff(first_day));
    let rank_bits = radix::bits_for(rank.iter().copied().max().unwrap_or(0).into());
    let row_bits = radix::bits_for(rows.len() as u64 - 1);
    if rows.len() < 4096 || day_bits + rank_bits + SECOND_BITS + row_bits > 64 {
        let key = |v: &Visit| (v.check_in.div_euclid(DAY), rank[v.venue as usize], v.check_in, v.person, v.check_out);
        if parallel {
            rows.par_sort_unstable_by_key(key)
        } else {
            rows.sort_unstable_by_key(key)
        }
        return;
    }
    // Key: day offset | venue rank | second of the day | row number.
    let (row_mask, day_shift) = ((1u64 << row_bits) - 1, row_bits + SECOND_BITS + rank_bits);
    let key = |(i, v): (usize, &Visit)| {
        let (day, second) = (v.check_in.div_euclid(DAY), v.check_in.rem_euclid(DAY) as u64);
        let place = ((day - first_day) as u64) << rank_bits | u64::from(rank[v.venue as usize]);
        (place << SECOND_BITS | second) << row_bits | i as u64
    };
    let mut keys: Vec<u64> = if parallel {
        rows.par_iter().enumerate().map(key).collect()
    } else {
        rows.iter().enumerate().map(key).collect()
    };
    // Days first (one pass), then each day on its own (in parallel): (venue, second).
    radix::sort_by_key(&mut keys, day_bits, |k| k >> day_shift);
    let row = |k: &u64| (k & row_mask) as usize;
    let sort_day = |day: &mut [u64]| {
        radix::sort_by_key(day, rank_bits + SECOND_BITS, |k| k >> row_bits);
        // Equal (venue, check-in): by person, then check-out (rare, short runs).
        for run in day.chunk_by_mut(|a, b| a >> row_bits == b >> row_bits) {
            if run.len() > 1 {
                run.sort_unstable_by_key(|k| (rows[row(k)].person, rows[row(k)].check_out));
            }
        }
    };
    let days: Vec<&mut [u64]> = keys.chunk_by_mut(|a, b| a >> day_shift == b >> day_shift).collect();
    if parallel {
        days.into_par_iter().for_each(sort_day);
    } else {
        days.into_iter().for_each(sort_day);
    }
    // A gather, not an in-place permutation: following cycles chains one cache miss after
    // another, where independent loads overlap.
    *rows = if parallel {
        keys.par_iter().map(|k| rows[row(k)]).collect()
    } else {
        keys.iter().map(|k| rows[row(k)]).collect()
    };
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::sort_rows;
    use crate::model::Visit;
    use crate::time::DAY;

    /// Rows from small domains (ties on every key), over a span of days that sometimes takes the
    /// comparison sort (`wide`), in random order; over 4 096 of them so the radix path runs.
    fn rows() -> impl Strategy<Value = (Vec<Visit>, Vec<u32>)> {
        (4096usize..6000, any::<bool>(), any::<u64>()).prop_map(|(n, wide, seed)| {
            let mut x = seed | 1;
            let mut next = move |m: u64| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % m
            };
            let venues = 1 + next(300) as u32;
            let days = if wide { 40_000_000 } else { 1 + next(20) as i64 };
            let start = (next(40_000) as i64 - 20_000) * DAY;
            let rows = (0..n)
                .map(|_| {
                    let check_in = start + next(days as u64) as i64 * DAY + next(6) as i64 * 17_000;
                    Visit {
                        venue: next(venues.into()) as u32,
                        check_in,
                        person: next(40) as u32,
                        check_out: (next(3) > 0).then(|| check_in + next(3) as i64 * 600),
                    }
                })
                .collect();
            // Venue ranks: any permutation of the keys.
            let mut rank: Vec<u32> = (0..venues).collect();
            for i in (1..rank.len()).rev() {
                rank.swap(i, next(i as u64 + 1) as usize);
            }
            (rows, rank)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// The radix path orders rows exactly as the comparison it stands for.
        #[test]
        fn flush_sorts_as_the_comparison((rows, rank) in rows(), parallel in any::<bool>()) {
            let mut want = rows.clone();
            want.sort_by_key(|v| (v.check_in.div_euclid(DAY), rank[v.venue as usize], v.check_in, v.person, v.check_out));
            let mut got = rows;
            sort_rows(&mut got, &rank, parallel);
            prop_assert_eq!(got, want);
        }
    }
}
