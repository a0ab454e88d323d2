//! Day links: for every check-in, the same person's next check-in anywhere in the store, kept
//! per day at commit time, so that the `next-checkin` rule reads where a stay without check-out
//! ends beside the row instead of probing every other part of the day for the person.
//!
//! A part's own index already holds its rows' next check-in within the part (`next_in`), and
//! parts never change. The next check-in in *another* part is a fact about the whole store, and
//! a later batch can bring an earlier one; so it is kept apart from the parts, one file per day,
//! rewritten by the commit that changes the parts of that day or of the day after
//! ([`refresh`]). The manifest records which parts each file was computed over
//! ([`DayLinks`]); a snapshot uses a day's links only when they cover exactly its parts of the
//! two days, and a request whose `max_visit` reaches beyond the next day (longer than a day)
//! probes the parts as before.
//!
//! # File (`links/day=2021-08-01/l-b0000009.tvl`, little-endian)
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `TVLNK001` |
//! | 8..12 | `parts`: how many parts of the day the file covers, in [`DayLinks::parts`] order |
//! | 12..16 | CRC-32 of the header (bytes `0..48 + 24 × parts`) with this field zeroed |
//! | 16..24 | `day_start`: Unix seconds of 00:00 UTC of the day |
//! | 24..40 | the page-sum section as `(offset u64, length u64)` |
//! | 40..44 | CRC-32 of the page-sum section |
//! | 44..48 | zero |
//! | 48.. | per part: `rows u64`, then the offsets (`u64`) of `next`, `reach_short`, `reach_day` |
//!
//! Per part, 8-byte aligned: `next` (`u32 × rows`, in the part's row order: the earliest
//! check-in of the row's person strictly after the row's own, in any part of the day or of the
//! next day, in seconds after `day_start`, `u32::MAX` when none), `reach_short` and `reach_day`
//! (`u32` per block of 64 rows, as the index's `reach`: the latest `next` among the block's rows
//! without check-out whose `next` lies at most [`SHORT`] (12 h, the default `max_visit`),
//! respectively a day, after their check-in; 0 when none). A stay whose next check-in lies
//! beyond `max_visit` lasts the dwell, so a request with `max_visit` ≤ 12 h reads
//! `reach_short`, and a person's next check-in the next morning keeps no block of the evening
//! before. Then the page sums of everything after the header, checked when a trace first reads
//! a page.
//!
//! # Cost
//! Four bytes a row, and at commit a sort of the day's rows by person and check-in (the day
//! after is read for each person's first check-in only). `verify` recomputes every file.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::bytes::{U32s, map_file_scattered, prefetch, read_u32, read_u64, write_u32s};
use super::index::{PartIndex, REACH_BLOCK};
use super::layout;
use super::manifest::{Manifest, PartInfo};
use super::paged::{self, PageSums, crc};
use crate::error::{Error, Result};
use crate::model::Seconds;
use crate::time::{DAY, day_name};

const MAGIC: &[u8; 8] = b"TVLNK001";
const FIXED: usize = 48;
const PER_PART: usize = 32;
/// The `max_visit` up to which `reach_short` answers: the default (12 h).
pub(crate) const SHORT: Seconds = 43_200;
const HEADER_CRC_AT: usize = 12;
const SUMS_CRC_AT: usize = 40;
/// `next` of a row whose person checks in no later in the two days.
const NONE: u32 = u32::MAX;

/// What the manifest records of one day's links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayLinks {
    /// UTC day, as days since 1970-01-01.
    pub day: i64,
    /// The links file, relative to the store.
    pub path: String,
    /// The day's parts (Parquet paths), in the file's order.
    pub parts: Vec<String>,
    /// The next day's parts (Parquet paths) whose check-ins were looked into.
    pub following: Vec<String>,
}

impl DayLinks {
    /// Whether these links were computed over exactly `day` and `following` (parts of the day
    /// and of the next, in any order).
    fn covers(&self, day: &[&PartInfo], following: &[&PartInfo]) -> bool {
        same_paths(&self.parts, day) && same_paths(&self.following, following)
    }
}

fn same_paths(paths: &[String], parts: &[&PartInfo]) -> bool {
    let mut a: Vec<&str> = paths.iter().map(String::as_str).collect();
    let mut b: Vec<&str> = parts.iter().map(|p| p.path.as_str()).collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

/// The parts of each day, in manifest order.
fn parts_by_day(m: &Manifest) -> BTreeMap<i64, Vec<&PartInfo>> {
    let mut days: BTreeMap<i64, Vec<&PartInfo>> = BTreeMap::new();
    for p in &m.parts {
        days.entry(p.day).or_default().push(p);
    }
    days
}

/// Bring `next`'s links up to date with its parts (a commit's last step before its files are
/// summed): keep the links that still cover their day and the day after, and compute those of
/// every other day, written as `batch`'s files. Nothing is computed by a commit that leaves the
/// parts as they were (`base`'s), so registering cases or setting retention costs nothing; a
/// store from before links gets them for every day at its next commit that changes parts.
pub(crate) fn refresh(dir: &Path, base: &Manifest, next: &mut Manifest, batch: u64) -> Result<()> {
    let paths = |m: &Manifest| m.parts.iter().map(|p| p.path.clone()).collect::<Vec<_>>();
    if paths(base) == paths(next) {
        return Ok(());
    }
    let days = parts_by_day(next);
    let none = Vec::new();
    let mut kept = Vec::with_capacity(days.len());
    let mut todo = Vec::new();
    for (&day, parts) in &days {
        let following = days.get(&(day + 1)).unwrap_or(&none);
        match next.links.iter().find(|l| l.day == day && l.covers(parts, following)) {
            Some(l) => kept.push(l.clone()),
            None => todo.push((day, parts, following)),
        }
    }
    // One day after the other, each sort in parallel: days side by side saved about a second
    // of a 10 M ingest, but at 100 M raised its peak RSS from 803 to 975 MB.
    let made = todo.into_iter().map(|(day, parts, following)| {
        let started = std::time::Instant::now();
        let rel = layout::links(batch, &day_name(day));
        let columns = compute_from(dir, day, parts, following)?;
        let path = layout::resolve(dir, &rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
        }
        write(&path, day, &columns)?;
        tracing::info!(day = %day_name(day), rows = columns.iter().map(|c| c.next.len()).sum::<usize>(),
            ms = started.elapsed().as_millis() as u64, "linked each check-in to its person's next");
        Ok(DayLinks {
            day,
            path: rel,
            parts: parts.iter().map(|p| p.path.clone()).collect(),
            following: following.iter().map(|p| p.path.clone()).collect(),
        })
    });
    kept.extend(made.collect::<Result<Vec<_>>>()?);
    kept.sort_by_key(|l| l.day);
    next.links = kept;
    Ok(())
}

/// One part's links, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Columns {
    /// Per row, its person's next check-in ([`NONE`] when none), seconds after the day's start.
    pub next: Vec<u32>,
    /// Per block of rows, the latest `next` within [`SHORT`] of a check-in without check-out.
    pub reach_short: Vec<u32>,
    /// The same within a day.
    pub reach_day: Vec<u32>,
}

/// [`compute`] over the indexes of a store's parts of `day` and of the next day.
fn compute_from(dir: &Path, day: i64, parts: &[&PartInfo], following: &[&PartInfo]) -> Result<Vec<Columns>> {
    let open = |p: &&PartInfo| PartIndex::open(&layout::resolve(dir, &p.index), p.rows, p.day);
    let day_idx = parts.iter().map(open).collect::<Result<Vec<_>>>()?;
    let next_idx = following.iter().map(open).collect::<Result<Vec<_>>>()?;
    compute(day, &day_idx.iter().collect::<Vec<_>>(), &next_idx.iter().collect::<Vec<_>>())
}

/// The links of each part of `day` (indexes `parts`), the next check-ins looked up in `parts`
/// and in `following` (the next day's).
pub(crate) fn compute(day: i64, parts: &[&PartIndex], following: &[&PartIndex]) -> Result<Vec<Columns>> {
    let day_start = day * DAY;
    // (person << 32 | check-in after day_start, row of the day): rows numbered part after part.
    let mut rows: Vec<(u64, u32)> = Vec::new();
    let mut max_person = 0;
    for idx in parts {
        let n = idx.row_count() as u32;
        idx.ensure_rows(0..n)?;
        let first = rows.len() as u32;
        rows.extend((0..n).map(|r| {
            let p = idx.person(r);
            max_person = max_person.max(p);
            (u64::from(p) << 32 | (idx.check_in(r) - day_start) as u64, first + r)
        }));
    }
    // Each person's first check-in of the next day, in seconds after this day's start.
    let mut first_next = vec![NONE; if rows.is_empty() { 0 } else { max_person as usize + 1 }];
    for idx in following {
        let n = idx.row_count() as u32;
        idx.ensure_rows(0..n)?;
        for r in 0..n {
            if let Some(slot) = first_next.get_mut(idx.person(r) as usize) {
                *slot = (*slot).min((idx.check_in(r) - day_start) as u32);
            }
        }
    }
    rows.par_sort_unstable_by_key(|&(key, _)| key);
    let mut next = vec![NONE; rows.len()];
    // Backwards: within a person, check-ins descend; `later` is the nearest strictly later one.
    let (mut person, mut time, mut later) = (u64::MAX, NONE, NONE);
    for &(key, at) in rows.iter().rev() {
        let (p, t) = (key >> 32, key as u32);
        if p != person {
            (person, time, later) = (p, t, first_next.get(p as usize).copied().unwrap_or(NONE));
        } else if t != time {
            (time, later) = (t, time);
        }
        next[at as usize] = later;
    }
    let mut out = Vec::with_capacity(parts.len());
    let mut at = 0;
    for idx in parts {
        let n = idx.row_count();
        let part_next = next[at..at + n].to_vec();
        at += n;
        // Per block, one pass: the latest `next` of a row without check-out within SHORT of its
        // check-in, and within a day.
        let blocks = n.div_ceil(REACH_BLOCK);
        let (mut reach_short, mut reach_day) = (Vec::with_capacity(blocks), Vec::with_capacity(blocks));
        for b in (0..n).step_by(REACH_BLOCK) {
            let (mut short, mut within_day) = (0, 0);
            let end = (b + REACH_BLOCK).min(n);
            for (r, &t) in (b..end).zip(&part_next[b..end]) {
                if t == NONE || idx.check_out(r as u32).is_some() {
                    continue;
                }
                let gap = Seconds::from(t) - (idx.check_in(r as u32) - day_start);
                if gap <= DAY {
                    within_day = within_day.max(t);
                }
                if gap <= SHORT {
                    short = short.max(t);
                }
            }
            reach_short.push(short);
            reach_day.push(within_day);
        }
        out.push(Columns { next: part_next, reach_short, reach_day });
    }
    Ok(out)
}

/// Write a day's links file: `columns` as [`compute`] gives them, per part in manifest order.
pub(crate) fn write(path: &Path, day: i64, columns: &[Columns]) -> Result<()> {
    let header_len = FIXED + PER_PART * columns.len();
    let mut w = paged::SectionWriter::create(path, header_len)?;
    let mut table = Vec::with_capacity(columns.len());
    // Sections start 8-byte aligned: the header is a multiple of 8 bytes.
    for c in columns {
        let mut at = |values: &[u32]| w.section(|b| write_u32s(b, values)).map(|(at, _)| at);
        table.push([c.next.len() as u64, at(&c.next)?, at(&c.reach_short)?, at(&c.reach_day)?]);
    }
    w.finish(HEADER_CRC_AT, |sums_at, sums| {
        let mut header = Vec::with_capacity(header_len);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&(columns.len() as u32).to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&(day * DAY).to_le_bytes());
        header.extend_from_slice(&sums_at.to_le_bytes());
        header.extend_from_slice(&(sums.len() as u64).to_le_bytes());
        header.extend_from_slice(&crc(sums).to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        for v in table.into_iter().flatten() {
            header.extend_from_slice(&v.to_le_bytes());
        }
        header
    })
}

/// A mapped links file.
#[derive(Debug)]
struct LinkFile {
    path: PathBuf,
    map: Mmap,
    sums: PageSums,
}

/// One part's links, read in place from its day's file.
#[derive(Debug, Clone)]
pub(crate) struct PartLinks {
    file: Arc<LinkFile>,
    day_start: Seconds,
    next: U32s,
    reach_short: U32s,
    reach_day: U32s,
}

/// Map a day's links file and check its header against the day and the row counts of its
/// parts (in [`DayLinks::parts`] order). Pages are checked when first read.
pub(crate) fn open(path: &Path, day: i64, rows: &[u64]) -> Result<Vec<PartLinks>> {
    from_map(path, map_file_scattered(path)?, day, rows)
}

/// [`open`] over bytes already mapped (`path` names them in errors).
pub(crate) fn from_map(path: &Path, map: Mmap, day: i64, rows: &[u64]) -> Result<Vec<PartLinks>> {
    let bad = |why: &str| Error::store(path, format!("damaged links file: {why}"));
    let parts = read_u32(&map, 8).ok_or_else(|| bad("short header"))? as usize;
    if parts != rows.len() {
        return Err(bad(&format!("{parts} parts, the manifest names {}", rows.len())));
    }
    let header_len = FIXED + PER_PART * parts;
    // One magic, always checksummed: the header as a versioned file's, of this length.
    let (header, _) = paged::header(&map, (MAGIC, MAGIC), (header_len, header_len), HEADER_CRC_AT).map_err(bad)?;
    let field = |at: usize| read_u64(header, at).ok_or_else(|| bad("short header"));
    let day_start = field(16)? as i64;
    if day_start != day * DAY {
        return Err(bad("header disagrees with the manifest"));
    }
    let (sums_at, sums_len) = (field(24)? as usize, field(32)? as usize);
    let sums_range = sums_at..sums_at.checked_add(sums_len).ok_or_else(|| bad("page sums out of bounds"))?;
    let table = U32s::new(map.len(), sums_range.clone()).ok_or_else(|| bad("page sums out of bounds"))?;
    if sums_at < header_len || sums_range.end != map.len() {
        return Err(bad("page sums out of place"));
    }
    let table_crc = read_u32(header, SUMS_CRC_AT).ok_or_else(|| bad("short header"))?;
    let sums = PageSums::new(header_len..sums_at, paged::PAGE, table, table_crc)
        .ok_or_else(|| bad("page sums do not cover the body"))?;
    let mut columns = Vec::with_capacity(parts);
    for (i, &want) in rows.iter().enumerate() {
        let at = FIXED + PER_PART * i;
        let (n, next_at) = (field(at)?, field(at + 8)? as usize);
        let (short_at, day_at) = (field(at + 16)? as usize, field(at + 24)? as usize);
        if n != want {
            return Err(bad(&format!("part {i} has {n} rows, the manifest {want}")));
        }
        let n = n as usize;
        let section = |start: usize, len: usize| {
            start
                .checked_add(len * 4)
                .filter(|&end| start >= header_len && end <= sums_at)
                .and_then(|end| U32s::new(map.len(), start..end))
                .ok_or_else(|| bad("section out of bounds"))
        };
        let blocks = n.div_ceil(REACH_BLOCK);
        columns.push((section(next_at, n)?, section(short_at, blocks)?, section(day_at, blocks)?));
    }
    let file = Arc::new(LinkFile { path: path.to_path_buf(), map, sums });
    Ok(columns
        .into_iter()
        .map(|(next, reach_short, reach_day)| PartLinks { file: file.clone(), day_start, next, reach_short, reach_day })
        .collect())
}

impl PartLinks {
    /// Whether both are read from one mapping of one file.
    #[cfg(test)]
    pub(crate) fn same_file(&self, other: &PartLinks) -> bool {
        Arc::ptr_eq(&self.file, &other.file)
    }

    fn damaged(&self, why: impl std::fmt::Display) -> Error {
        Error::store(&self.file.path, format!("damaged links file: {why}"))
    }

    /// Check the pages of rows `rows`' `next` entries before they are read.
    pub(crate) fn ensure(&self, rows: Range<u32>) -> Result<()> {
        let rows = rows.start as usize..rows.end as usize;
        if rows.start > rows.end || rows.end > self.next.len() {
            return Err(self.damaged(format!("rows {rows:?} of {}", self.next.len())));
        }
        self.file.sums.ensure(&self.file.map, self.next.bytes_of(rows)).map_err(|e| self.damaged(e))
    }

    /// Touch the cache lines of rows `rows`' `next` entries (a scan of them follows).
    pub(crate) fn prefetch(&self, rows: Range<u32>) {
        let map: &[u8] = &self.file.map;
        prefetch(self.next.bytes_of(rows.start as usize..rows.end as usize).step_by(64).map(|at| (map, at)));
    }

    /// The next check-in of row `r`'s person after row `r`'s, in this day or the next (read
    /// after [`PartLinks::ensure`]).
    #[inline]
    pub(crate) fn next(&self, r: u32) -> Option<Seconds> {
        let t = self.next.get(&self.file.map, r as usize);
        (t != NONE).then(|| self.day_start + Seconds::from(t))
    }

    /// Of blocks `blocks` (of 64 rows), which may hold a row without check-out whose stay ends
    /// at a next check-in later than `after`, under a request's `max_visit` (at most a day),
    /// checked.
    pub(crate) fn reaching(
        &self,
        blocks: Range<usize>,
        after: Seconds,
        max_visit: Seconds,
    ) -> Result<impl Iterator<Item = bool> + '_> {
        let reach = if max_visit <= SHORT { self.reach_short } else { self.reach_day };
        if blocks.end > reach.len() {
            return Err(self.damaged(format!("row block {} of {}", blocks.end, reach.len())));
        }
        self.file.sums.ensure(&self.file.map, reach.bytes_of(blocks.clone())).map_err(|e| self.damaged(e))?;
        Ok(blocks.map(move |b| self.day_start + Seconds::from(reach.get(&self.file.map, b)) > after))
    }

    /// Check every page of the file and that this part's columns are `want` (recomputed).
    pub(crate) fn verify(&self, want: &Columns) -> Result<()> {
        let have = self.read_all()?;
        if let Some(r) = have.next.iter().zip(&want.next).position(|(h, w)| h != w) {
            return Err(self.damaged(format!("row {r}: next check-in disagrees with the parts")));
        }
        for (have, want) in [(&have.reach_short, &want.reach_short), (&have.reach_day, &want.reach_day)] {
            if let Some(b) = have.iter().zip(want).position(|(h, w)| h != w) {
                return Err(self.damaged(format!("rows from {}: latest next check-in disagrees", b * REACH_BLOCK)));
            }
        }
        Ok(())
    }

    /// Every page of the file checked, and this part's columns.
    pub(crate) fn read_all(&self) -> Result<Columns> {
        let map = &self.file.map;
        self.file.sums.ensure_all(map).map_err(|e| self.damaged(e))?;
        let column = |c: U32s| (0..c.len()).map(|i| c.get(map, i)).collect::<Vec<u32>>();
        Ok(Columns {
            next: column(self.next),
            reach_short: column(self.reach_short),
            reach_day: column(self.reach_day),
        })
    }
}

/// Recompute the checksums of a (damaged) links file in place, so that fuzzing reaches the
/// structural checks behind them. Does nothing to bytes too broken to locate the sums.
pub(crate) fn reseal(bytes: &mut [u8]) {
    let Some(parts) = read_u32(bytes, 8) else { return };
    let header_len = FIXED.saturating_add(PER_PART.saturating_mul(parts as usize));
    let (Some(at), Some(len)) = (read_u64(bytes, 24), read_u64(bytes, 32)) else { return };
    let (at, len) = (at as usize, len as usize);
    if bytes.len() < header_len
        || &bytes[..8] != MAGIC
        || at < header_len
        || at.checked_add(len) != Some(bytes.len())
        || len != paged::pages(at - header_len, paged::PAGE) * 4
    {
        return;
    }
    paged::reseal(bytes, header_len..at, paged::PAGE, SUMS_CRC_AT, header_len, HEADER_CRC_AT);
}

/// Check a day's links for `verify`: that they cover their day's parts and the next day's, and
/// the file's header; unless `quick`, also every page and every entry against the columns
/// recomputed from the parts' indexes.
pub(crate) fn check(dir: &Path, links: &DayLinks, store_parts: &[PartInfo], quick: bool) -> Result<()> {
    let find = |path: &String| {
        store_parts.iter().find(|p| &p.path == path).ok_or_else(|| {
            Error::store(layout::resolve(dir, &links.path), format!("links name {path}, a part the manifest does not"))
        })
    };
    let parts = links.parts.iter().map(find).collect::<Result<Vec<_>>>()?;
    let following = links.following.iter().map(find).collect::<Result<Vec<_>>>()?;
    let of_day = |d: i64| store_parts.iter().filter(|p| p.day == d).collect::<Vec<_>>();
    if !links.covers(&of_day(links.day), &of_day(links.day + 1)) || parts.iter().any(|p| p.day != links.day) {
        return Err(Error::store(
            layout::resolve(dir, &links.path),
            "the links do not cover their day's parts and the next day's".to_string(),
        ));
    }
    let opened =
        open(&layout::resolve(dir, &links.path), links.day, &parts.iter().map(|p| p.rows).collect::<Vec<_>>())?;
    if quick {
        return Ok(());
    }
    let want = compute_from(dir, links.day, &parts, &following)?;
    opened.iter().zip(&want).try_for_each(|(l, w)| l.verify(w))
}

/// The links each part of a snapshot reads, by position in `m.parts`: a day's links go to its
/// parts when they cover the day and the next exactly (a commit keeps them so; anything else is
/// a damaged manifest). `kept` gives a day's links (in [`DayLinks::parts`] order) from an
/// earlier snapshot, if it can.
pub(crate) fn open_all(
    dir: &Path,
    m: &Manifest,
    kept: impl Fn(&DayLinks) -> Option<Vec<PartLinks>>,
) -> Result<Vec<Option<PartLinks>>> {
    let mut out = vec![None; m.parts.len()];
    let days = parts_by_day(m);
    let none = Vec::new();
    for l in &m.links {
        let parts = days.get(&l.day).unwrap_or(&none);
        if !l.covers(parts, days.get(&(l.day + 1)).unwrap_or(&none)) {
            return Err(Error::store(
                layout::resolve(dir, &layout::manifest(m.version)),
                format!(
                    "damaged manifest: the links of {} do not cover that day's parts and the next day's",
                    day_name(l.day)
                ),
            ));
        }
        let positions: Vec<usize> =
            l.parts.iter().map(|path| m.parts.iter().position(|p| &p.path == path).unwrap_or(usize::MAX)).collect();
        let rows: Vec<u64> = positions.iter().map(|&i| m.parts[i].rows).collect();
        let opened = match kept(l) {
            Some(links) => links,
            None => open(&layout::resolve(dir, &l.path), l.day, &rows)?,
        };
        for (i, links) in positions.into_iter().zip(opened) {
            out[i] = Some(links);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Visit;

    /// Links against the definition: for each row, the earliest check-in of its person strictly
    /// after its own among all rows of the two days.
    #[test]
    fn links_are_the_next_check_in_anywhere_in_the_two_days() {
        let dir = tempfile::tempdir().unwrap();
        let day = 18_840;
        let t = day * DAY;
        let v = |venue: u32, at: i64, person: u32, out: Option<i64>| Visit {
            venue,
            check_in: t + at,
            person,
            check_out: out.map(|o| t + o),
        };
        // Part A (sorted by venue, check-in), part B, and a part of the next day.
        let a = vec![v(1, 100, 7, None), v(1, 500, 8, Some(900)), v(2, 100, 8, None), v(2, 300, 7, None)];
        let b = vec![v(3, 100, 7, None), v(3, 200, 9, None), v(3, 400, 7, None)];
        let c = vec![v(4, DAY + 50, 9, None), v(4, DAY + 70, 8, None)];
        let idx = |name: &str, d: i64, rows: &[Visit]| {
            let p = dir.path().join(name);
            super::super::index::write(&p, d, rows).unwrap();
            PartIndex::open(&p, rows.len() as u64, d).unwrap()
        };
        let (ia, ib, ic) = (idx("a.tvx", day, &a), idx("b.tvx", day, &b), idx("c.tvx", day + 1, &c));
        let cols = compute(day, &[&ia, &ib], &[&ic]).unwrap();
        // Person 7 checks in at 100 (twice: A and B), 300, 400; 8 at 100, 500, then 86,470
        // the next day; 9 at 200, then 86,450.
        assert_eq!(cols[0].next, [300, DAY as u32 + 70, 500, 400]);
        assert_eq!(cols[1].next, [300, DAY as u32 + 50, NONE]);
        // One block each: the latest next check-in of a row without check-out (A's row 1 has
        // one, so its next does not count); within 12 h of the check-in, or within a day (B's
        // row 1 checks in next 23 h 57 min later).
        assert_eq!((&cols[0].reach_short, &cols[0].reach_day), (&vec![500], &vec![500]));
        assert_eq!((&cols[1].reach_short, &cols[1].reach_day), (&vec![300], &vec![DAY as u32 + 50]));

        let p = dir.path().join("l.tvl");
        write(&p, day, &cols).unwrap();
        let opened = open(&p, day, &[4, 3]).unwrap();
        opened[0].ensure(0..4).unwrap();
        assert_eq!(opened[0].next(1), Some(t + DAY + 70));
        opened[1].ensure(2..3).unwrap();
        assert_eq!(opened[1].next(2), None);
        assert_eq!(opened[1].reaching(0..1, t + DAY + 49, DAY).unwrap().collect::<Vec<_>>(), [true]);
        assert_eq!(opened[1].reaching(0..1, t + DAY + 50, DAY).unwrap().collect::<Vec<_>>(), [false]);
        assert_eq!(opened[1].reaching(0..1, t + 299, SHORT).unwrap().collect::<Vec<_>>(), [true]);
        assert_eq!(opened[1].reaching(0..1, t + 300, SHORT).unwrap().collect::<Vec<_>>(), [false]);
        for (l, w) in opened.iter().zip(&cols) {
            l.verify(w).unwrap();
        }
        assert!(open(&p, day + 1, &[4, 3]).is_err(), "another day");
        assert!(open(&p, day, &[4, 2]).is_err(), "other row counts");

        // Any damaged byte: an error at open, on reading, or in verify; never a panic.
        let bytes = std::fs::read(&p).unwrap();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x20;
            std::fs::write(&p, &bad).unwrap();
            let Ok(opened) = open(&p, day, &[4, 3]) else { continue };
            let read = opened.iter().zip(&cols).all(|(l, w)| {
                let blocks = 0..w.reach_short.len();
                l.ensure(0..w.next.len() as u32).is_ok()
                    && l.reaching(blocks.clone(), t, SHORT).is_ok()
                    && l.reaching(blocks, t, DAY).is_ok()
                    && (0..w.next.len() as u32)
                        .all(|r| l.next(r) == (w.next[r as usize] != NONE).then(|| t + i64::from(w.next[r as usize])))
            });
            assert!(!read, "byte {i} damaged and read as if whole");
        }
    }
}
