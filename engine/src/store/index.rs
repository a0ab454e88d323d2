//! The trace index: one sidecar per Parquet part, built at commit time, mapped at open.
//!
//! The Parquet part is the data of record (SQL reads it); the sidecar holds the same rows, in
//! the same order, as fixed-width columns plus two posting structures, so a trace touches only
//! the rows of the F0 and of the venues and hours it visited:
//! - venue → contiguous row range (rows are sorted by venue id, then check-in), found through
//!   the set of venue keys present and a key's slot (its rank) in it;
//! - person → row ids (CSR), found the same way through the set of person keys present.
//!
//! The key sets ([`super::keyset`]) answer a key's slot in place from the map: a rank-sampled
//! bit set when the part holds a dense share of the keys, sorted keys under a bucket table when
//! it holds few. A trace reads the pages of the keys it asks about, nothing else.
//!
//! # File (`data/day=2021-08-01/b000007-00.tvx`, version 4, little-endian)
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `TVIDX004` |
//! | 8..12 | `rows` |
//! | 12..16 | CRC-32 of bytes 0..240 with this field zeroed |
//! | 16..24 | `day_start`: Unix seconds of 00:00 UTC of the part's day |
//! | 24..232 | thirteen sections as `(offset u64, length u64)`, in the order below |
//! | 232..236 | CRC-32 of the page-sum section |
//! | 236..240 | zero |
//!
//! Sections, each starting 8-byte aligned: `check_in` (`u32 × rows`, seconds after `day_start`),
//! `stay` (`u32 × rows`, check-out minus check-in, `u32::MAX` when missing), `person`
//! (`u32 × rows`), `venue_keys` (a key set), `venue_group` (`u32` per venue key, in key order:
//! its group), `group_start` (`u32 × (groups + 1)`: first row of each venue group, in row
//! order), `group_venue` (`u32 × groups`), `person_keys` (a key set), `person_offsets`
//! (`u32 × (persons + 1)`), `person_rows` (`u32 × rows`), `next_in` (`u32 × rows`: the
//! earliest check-in of the row's person in this part strictly after the row's own, in seconds
//! after `day_start`, `u32::MAX` when none; the `next-checkin` rule reads it beside the row),
//! `reach` (`u32` per block of 64 rows, the last block short: the latest check-out among the
//! block's rows, in seconds after `day_start`, saturating, 0 when none has one; a join skips
//! the blocks of a venue's look-back that ended before its interval, see
//! [`PartIndex::rows_reaching`]), then `page_sums`: a CRC-32 per 4 KiB page of bytes `240..` up
//! to the page sums (see `paged`), each page checked when a trace first reads it.
//!
//! Versions 1 to 3 are still read. Version 3 (`TVIDX003`, a 224-byte header, eleven sections)
//! is version 4 without `reach`: its look-backs are read row by row. Version 2 (`TVIDX002`, a
//! 208-byte header, ten sections) is version 3 with the two key sets as portable roaring
//! bitmaps, each decoded into the heap on first use, and without `next_in`. Version 1
//! (`TVIDX001`, a 184-byte header, byte 12..16 zero, no page sums) is version 2 without page
//! sums: its structure is checked the same way, its contents cannot be.
//!
//! # Trust
//! Nothing read from the file is used before it is checked: `open` checks the header and every
//! section's bounds; the first use of a posting structure checks its pages and its invariants
//! (offsets ascending and within the rows, groups covering the rows); row reads check the pages
//! of the rows they return. A damaged file is an [`Error::Store`] naming it, never a panic and
//! never a different answer.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use memmap2::Mmap;
use roaring::RoaringBitmap;

use super::bytes::{U32s, map_file_scattered, prefetch, read_u32, read_u64, will_read, write_u32s};
use super::keyset::{self, KeySet};
use super::links::PartLinks;
use super::paged::{self, PageSums, crc};
use crate::error::{Error, Result};
use crate::model::{PersonKey, Seconds, VenueKey, Visit};

const MAGIC_V1: &[u8; 8] = b"TVIDX001";
const MAGIC_V2: &[u8; 8] = b"TVIDX002";
const MAGIC_V3: &[u8; 8] = b"TVIDX003";
const MAGIC: &[u8; 8] = b"TVIDX004";
/// Sections before the page sums: ten in formats 1 and 2, eleven in format 3, twelve in 4.
const SECTIONS_V2: usize = 10;
const SECTIONS_V3: usize = 11;
const SECTIONS: usize = 12;
const HEADER_V1: usize = 24 + SECTIONS_V2 * 16;
const HEADER_V2: usize = 24 + (SECTIONS_V2 + 1) * 16 + 8;
const HEADER_V3: usize = 24 + (SECTIONS_V3 + 1) * 16 + 8;
const HEADER: usize = 24 + (SECTIONS + 1) * 16 + 8;
const SUMS_CRC_AT: usize = 24 + (SECTIONS + 1) * 16;
const HEADER_CRC_AT: usize = 12;
/// `stay` value of a visit without check-out.
const NO_CHECKOUT: u32 = u32::MAX;
/// `next_in` value of a row whose person checks in no later in the part.
const NO_NEXT: u32 = u32::MAX;
/// Rows per entry of the `reach` section.
pub(crate) const REACH_BLOCK: usize = 64;

/// Write the sidecar for `rows`, which must all check in on `day` and be sorted as stored.
pub(crate) fn write(path: &Path, day: i64, rows: &[Visit]) -> Result<()> {
    let day_start = day * crate::time::DAY;
    let n = rows.len();
    let mut check_in = Vec::with_capacity(n);
    let mut stay = Vec::with_capacity(n);
    let mut person = Vec::with_capacity(n);
    let mut group_start = Vec::new();
    let mut group_venue = Vec::new();
    for (i, v) in rows.iter().enumerate() {
        let rel = v.check_in - day_start;
        if !(0..crate::time::DAY).contains(&rel) {
            return Err(Error::Internal(format!("row of another day in part {}", path.display())));
        }
        check_in.push(rel as u32);
        stay.push(match v.check_out {
            // Stays beyond u32 (136 years) saturate; every max_visit is far shorter.
            Some(out) => u32::try_from(out - v.check_in).unwrap_or(NO_CHECKOUT - 1),
            None => NO_CHECKOUT,
        });
        person.push(v.person);
        if group_venue.last() != Some(&v.venue) || i == 0 {
            group_start.push(i as u32);
            group_venue.push(v.venue);
        }
    }
    group_start.push(n as u32);
    let mut by_key: Vec<(VenueKey, u32)> = group_venue.iter().enumerate().map(|(g, &v)| (v, g as u32)).collect();
    by_key.sort_unstable();
    if by_key.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(Error::Internal("part rows are not grouped by venue".into()));
    }
    let venue_keys: Vec<VenueKey> = by_key.iter().map(|&(v, _)| v).collect();
    let venue_group: Vec<u32> = by_key.iter().map(|&(_, g)| g).collect();

    // Person CSR: row ids grouped by person key, ascending within a person.
    // (A stable radix sort of person | row: rows start in order, so they stay so within a person.)
    let mut by_person: Vec<u64> = person.iter().enumerate().map(|(r, &p)| u64::from(p) << 32 | r as u64).collect();
    let max_person = person.iter().copied().max().unwrap_or(0);
    crate::radix::sort_by_key(&mut by_person, crate::radix::bits_for(max_person.into()), |k| k >> 32);
    let order: Vec<u32> = by_person.into_iter().map(|k| k as u32).collect();
    let mut present = Vec::new();
    let mut person_offsets = Vec::new();
    for (i, &r) in order.iter().enumerate() {
        let p = person[r as usize];
        if present.last() != Some(&p) {
            present.push(p);
            person_offsets.push(i as u32);
        }
    }
    person_offsets.push(n as u32);
    let next_in = next_in_part(&check_in, &order, &person_offsets);
    let reach = reach_of_blocks(&check_in, &stay);

    let mut w = paged::SectionWriter::create(path, HEADER)?;
    let sections: [(u64, u64); SECTIONS] = [
        w.section(|b| write_u32s(b, &check_in))?,
        w.section(|b| write_u32s(b, &stay))?,
        w.section(|b| write_u32s(b, &person))?,
        w.section(|b| keyset::write(b, &venue_keys))?,
        w.section(|b| write_u32s(b, &venue_group))?,
        w.section(|b| write_u32s(b, &group_start))?,
        w.section(|b| write_u32s(b, &group_venue))?,
        w.section(|b| keyset::write(b, &present))?,
        w.section(|b| write_u32s(b, &person_offsets))?,
        w.section(|b| write_u32s(b, &order))?,
        w.section(|b| write_u32s(b, &next_in))?,
        w.section(|b| write_u32s(b, &reach))?,
    ];
    w.finish(HEADER_CRC_AT, |sums_at, sums| {
        let mut header = Vec::with_capacity(HEADER);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&(n as u32).to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&day_start.to_le_bytes());
        for (off, len) in sections.into_iter().chain([(sums_at, sums.len() as u64)]) {
            header.extend_from_slice(&off.to_le_bytes());
            header.extend_from_slice(&len.to_le_bytes());
        }
        header.extend_from_slice(&crc(sums).to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header
    })
}

/// For each row (by row id), the earliest check-in of its person in these rows strictly after
/// its own, [`NO_NEXT`] when none; `order` and `offsets` are the person CSR.
fn next_in_part(check_in: &[u32], order: &[u32], offsets: &[u32]) -> Vec<u32> {
    let mut next = vec![NO_NEXT; check_in.len()];
    let mut times = Vec::new();
    for w in offsets.windows(2) {
        let rows = &order[w[0] as usize..w[1] as usize];
        if rows.len() < 2 {
            continue;
        }
        times.clear();
        times.extend(rows.iter().map(|&r| check_in[r as usize]));
        times.sort_unstable();
        for &r in rows {
            let after = times.partition_point(|&t| t <= check_in[r as usize]);
            if let Some(&t) = times.get(after) {
                next[r as usize] = t;
            }
        }
    }
    next
}

/// Per block of [`REACH_BLOCK`] rows (the last may be short), the latest check-out of its rows
/// that have one, in seconds after `day_start` (saturating; 0 when none has).
fn reach_of_blocks(check_in: &[u32], stay: &[u32]) -> Vec<u32> {
    check_in
        .chunks(REACH_BLOCK)
        .zip(stay.chunks(REACH_BLOCK))
        .map(|(ins, stays)| {
            ins.iter()
                .zip(stays)
                .filter(|&(_, &d)| d != NO_CHECKOUT)
                .map(|(&a, &d)| a.saturating_add(d))
                .max()
                .unwrap_or(0)
        })
        .collect()
}

/// Recompute the checksums of a (damaged) format-4 index in place, so that fuzzing reaches the
/// structural checks behind them. Does nothing to bytes too broken to locate the sums.
pub(crate) fn reseal(bytes: &mut [u8]) {
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return;
    }
    let at = 24 + SECTIONS * 16;
    let (off, len) = (read_u64(bytes, at).unwrap_or(0) as usize, read_u64(bytes, at + 8).unwrap_or(0) as usize);
    if off < HEADER
        || off.checked_add(len).is_none_or(|end| end > bytes.len())
        || len != super::paged::pages(off - HEADER, paged::PAGE) * 4
    {
        return;
    }
    paged::reseal(bytes, HEADER..off, paged::PAGE, SUMS_CRC_AT, HEADER, HEADER_CRC_AT);
}

/// A mapped trace index of one part; see the module documentation for what is checked when.
/// The map, the pages checked so far, the key sets and the groups' check are shared (`Arc`)
/// by the snapshots that hold the same file ([`PartIndex::without_links`]): a snapshot taken
/// after a commit does not map the file again nor check its pages again.
#[derive(Debug, Clone)]
pub(crate) struct PartIndex {
    path: PathBuf,
    map: Arc<Mmap>,
    rows: usize,
    day_start: Seconds,
    sums: Arc<PageSums>,
    check_in: U32s,
    stay: U32s,
    person: U32s,
    venue_group: U32s,
    group_start: U32s,
    group_venue: U32s,
    person_offsets: U32s,
    person_rows: U32s,
    /// Formats 3 and 4: per row, its person's next check-in in this part.
    next_in: Option<U32s>,
    /// Format 4: per block of rows, their latest check-out.
    reach: Option<U32s>,
    keys: Arc<Keys>,
    groups_checked: Arc<OnceLock<Result<(), String>>>,
    /// Its rows' next check-ins anywhere in the store, when its day's links cover the snapshot.
    links: Option<PartLinks>,
}

/// The venue and person key sets of a part, indexed by [`Side`]: in place (formats 3 and 4), or
/// roaring bitmaps decoded on first use (formats 1 and 2).
#[derive(Debug)]
enum Keys {
    Mapped([KeySet; 2]),
    Roaring([LazyBitmap; 2]),
}

/// Which of a part's key sets.
#[derive(Debug, Clone, Copy)]
enum Side {
    Venue = 0,
    Person = 1,
}

/// A roaring bitmap section of a format 1 or 2 index, decoded and checked on first use.
#[derive(Debug)]
struct LazyBitmap {
    range: Range<usize>,
    bitmap: OnceLock<Result<RoaringBitmap, String>>,
}

impl PartIndex {
    /// Map and check an index: magic, header checksum, row count, day and section bounds.
    /// Contents are checked when first used.
    pub(crate) fn open(path: &Path, expected_rows: u64, day: i64) -> Result<PartIndex> {
        PartIndex::from_map(path, map_file_scattered(path)?, expected_rows, day)
    }

    /// [`PartIndex::open`] over bytes already mapped (`path` names them in errors).
    pub(crate) fn from_map(path: &Path, map: Mmap, expected_rows: u64, day: i64) -> Result<PartIndex> {
        let bad = |why: &str| Error::store(path, format!("damaged trace index: {why}"));
        let version = match map.get(..8) {
            Some(m) if m == MAGIC => 4,
            Some(m) if m == MAGIC_V3 => 3,
            _ => 2,
        };
        let (magic, header_len, sections) = match version {
            4 => (MAGIC, HEADER, SECTIONS),
            3 => (MAGIC_V3, HEADER_V3, SECTIONS_V3),
            _ => (MAGIC_V2, HEADER_V2, SECTIONS_V2),
        };
        let v3 = version >= 3;
        let (header, v2) =
            paged::header(&map, (MAGIC_V1, magic), (HEADER_V1, header_len), HEADER_CRC_AT).map_err(bad)?;
        let header_len = header.len();
        let rows = read_u32(header, 8).ok_or_else(|| bad("header"))? as usize;
        let day_start = read_u64(header, 16).ok_or_else(|| bad("header"))? as i64;
        if rows as u64 != expected_rows || day_start != day * crate::time::DAY {
            return Err(bad("header disagrees with the manifest"));
        }
        let count = if v2 { sections + 1 } else { sections };
        let mut ranges: Vec<Range<usize>> = Vec::with_capacity(count);
        for i in 0..count {
            let off = read_u64(header, 24 + i * 16).ok_or_else(|| bad("header"))? as usize;
            let len = read_u64(header, 32 + i * 16).ok_or_else(|| bad("header"))? as usize;
            if off < header_len || off.checked_add(len).is_none_or(|end| end > map.len()) {
                return Err(bad("section out of bounds"));
            }
            ranges.push(off..off + len);
        }
        let sums = if v2 {
            let table = U32s::new(map.len(), ranges[sections].clone()).ok_or_else(|| bad("misaligned page sums"))?;
            let body = header_len..ranges[sections].start;
            if ranges[..sections].iter().any(|r| r.end > body.end) {
                return Err(bad("section overlaps the page sums"));
            }
            let table_crc = read_u32(header, 24 + (sections + 1) * 16).ok_or_else(|| bad("header"))?;
            PageSums::new(body, paged::PAGE, table, table_crc)
                .ok_or_else(|| bad("page sums do not cover the sections"))?
        } else {
            PageSums::none()
        };
        let u32s = |i: usize, want: Option<usize>| -> Result<U32s> {
            let v = U32s::new(map.len(), ranges[i].clone()).ok_or_else(|| bad("misaligned section"))?;
            match want {
                Some(w) if w != v.len() => Err(bad("section length")),
                _ => Ok(v),
            }
        };
        let group_venue = u32s(6, None)?;
        let groups = group_venue.len();
        let person_offsets = u32s(8, None)?;
        if person_offsets.len() == 0 {
            return Err(bad("empty person offsets"));
        }
        let keys = if v3 {
            let set = |i: usize, entries: usize, what: &str| -> Result<KeySet> {
                sums.ensure(&map, ranges[i].start..ranges[i].start + 16).map_err(|e| bad(&e))?;
                let set = KeySet::open(&map, ranges[i].clone()).map_err(|e| bad(&e))?;
                if set.len() != entries {
                    return Err(bad(&format!("{what} key set holds {} keys, its postings {entries}", set.len())));
                }
                Ok(set)
            };
            Keys::Mapped([set(3, groups, "venue")?, set(7, person_offsets.len() - 1, "person")?])
        } else {
            let lazy = |i: usize| LazyBitmap { range: ranges[i].clone(), bitmap: OnceLock::new() };
            Keys::Roaring([lazy(3), lazy(7)])
        };
        Ok(PartIndex {
            path: path.to_path_buf(),
            rows,
            day_start,
            sums: Arc::new(sums),
            check_in: u32s(0, Some(rows))?,
            stay: u32s(1, Some(rows))?,
            person: u32s(2, Some(rows))?,
            venue_group: u32s(4, Some(groups))?,
            group_start: u32s(5, Some(groups + 1))?,
            group_venue,
            person_offsets,
            person_rows: u32s(9, Some(rows))?,
            next_in: if v3 { Some(u32s(10, Some(rows))?) } else { None },
            reach: if version >= 4 { Some(u32s(11, Some(rows.div_ceil(REACH_BLOCK)))?) } else { None },
            keys: Arc::new(keys),
            groups_checked: Arc::new(OnceLock::new()),
            links: None,
            map: Arc::new(map),
        })
    }

    /// The same file for another snapshot: shared, without this snapshot's day links.
    pub(crate) fn without_links(&self) -> PartIndex {
        PartIndex { links: None, ..self.clone() }
    }

    /// Whether both read one mapping of one file, with one record of the pages checked.
    #[cfg(test)]
    pub(crate) fn same_file(&self, other: &PartIndex) -> bool {
        Arc::ptr_eq(&self.map, &other.map) && Arc::ptr_eq(&self.sums, &other.sums)
    }

    fn damaged(&self, why: impl std::fmt::Display) -> Error {
        Error::store(&self.path, format!("damaged trace index: {why}"))
    }

    /// Give the part its day's links (a snapshot does, when they cover its parts).
    pub(crate) fn attach_links(&mut self, links: PartLinks) {
        self.links = Some(links);
    }

    /// The part's day links, if its snapshot has them.
    pub(crate) fn links(&self) -> Option<&PartLinks> {
        self.links.as_ref()
    }

    /// Number of rows.
    pub(crate) fn row_count(&self) -> usize {
        self.rows
    }

    fn ensure(&self, range: Range<usize>) -> Result<()> {
        self.sums.ensure(&self.map, range).map_err(|e| self.damaged(e))
    }

    fn bitmap<'a>(&'a self, lazy: &'a LazyBitmap, entries: usize) -> Result<&'a RoaringBitmap> {
        lazy.bitmap
            .get_or_init(|| {
                self.sums.ensure(&self.map, lazy.range.clone())?;
                let b = RoaringBitmap::deserialize_from(&self.map[lazy.range.clone()])
                    .map_err(|e| format!("bitmap: {e}"))?;
                if b.len() as usize != entries {
                    return Err(format!("bitmap holds {} keys, its postings {entries}", b.len()));
                }
                Ok(b)
            })
            .as_ref()
            .map_err(|e| self.damaged(e))
    }

    /// Number of keys on `side`: one per venue group, one per person's postings.
    fn entries(&self, side: Side) -> usize {
        match side {
            Side::Venue => self.venue_group.len(),
            Side::Person => self.person_offsets.len() - 1,
        }
    }

    /// The slot of `key` among the part's keys on `side` (a venue's group entry, a person's
    /// postings), `None` when absent.
    #[inline]
    fn slot(&self, side: Side, key: u32) -> Result<Option<usize>> {
        match &*self.keys {
            Keys::Mapped(sets) => sets[side as usize].slot(&self.map, &self.sums, key).map_err(|e| self.damaged(e)),
            Keys::Roaring(bitmaps) => {
                let b = self.bitmap(&bitmaps[side as usize], self.entries(side))?;
                Ok(b.contains(key).then(|| b.rank(key) as usize - 1))
            }
        }
    }

    /// The keys on `side` present in this part, ascending.
    fn keys_of(&self, side: Side) -> Result<Vec<u32>> {
        match &*self.keys {
            Keys::Mapped(sets) => {
                will_read(&self.map, sets[side as usize].byte_range());
                sets[side as usize].keys(&self.map, &self.sums).map_err(|e| self.damaged(e))
            }
            Keys::Roaring(bitmaps) => Ok(self.bitmap(&bitmaps[side as usize], self.entries(side))?.iter().collect()),
        }
    }

    /// Person keys present in this part, ascending.
    pub(crate) fn person_keys(&self) -> Result<Vec<PersonKey>> {
        self.keys_of(Side::Person)
    }

    /// Venue keys present in this part, ascending.
    pub(crate) fn venue_keys(&self) -> Result<Vec<VenueKey>> {
        self.keys_of(Side::Venue)
    }

    /// Check the venue group sections once, for the readers of every group (a trace checks only
    /// the groups it reads): pages, then `group_start` ascending from 0 to the row count and
    /// every `venue_group` entry naming a group.
    fn groups(&self) -> Result<()> {
        self.groups_checked
            .get_or_init(|| {
                for s in [self.venue_group, self.group_start, self.group_venue] {
                    self.sums.ensure(&self.map, s.byte_range())?;
                }
                let groups = self.group_venue.len();
                let mut prev = 0;
                for g in 0..=groups {
                    let at = self.group_start.get(&self.map, g);
                    if (g == 0 && at != 0) || at < prev || at as usize > self.rows {
                        return Err(format!("venue group {g} starts at row {at}"));
                    }
                    prev = at;
                }
                if prev as usize != self.rows {
                    return Err("venue groups do not cover the rows".into());
                }
                if (0..groups).any(|k| self.venue_group.get(&self.map, k) as usize >= groups) {
                    return Err("a venue names no group".into());
                }
                Ok(())
            })
            .clone()
            .map_err(|e| self.damaged(e))
    }

    /// Check the pages of rows `rows` (check-in, stay, person) before they are read.
    pub(crate) fn ensure_rows(&self, rows: Range<u32>) -> Result<()> {
        let rows = rows.start as usize..rows.end as usize;
        if rows.start > rows.end || rows.end > self.rows {
            return Err(self.damaged(format!("rows {rows:?} of {}", self.rows)));
        }
        for s in [self.check_in, self.stay, self.person].into_iter().chain(self.next_in) {
            self.ensure(s.bytes_of(rows.clone()))?;
        }
        Ok(())
    }

    /// Touch every cache line of `rows`' check-in, stay and person columns with bare loads, so
    /// that a scan of the rows that follows finds them in flight or in cache rather than
    /// missing once per line (a venue's rows are a short run at a random place in each column).
    pub(crate) fn prefetch_rows(&self, rows: Range<u32>) {
        let rows = rows.start as usize..rows.end as usize;
        let lines = |c: U32s| c.bytes_of(rows.clone()).step_by(64);
        let map: &[u8] = &self.map;
        prefetch(lines(self.check_in).chain(lines(self.stay)).chain(lines(self.person)).map(|at| (map, at)));
    }

    /// Check the pages of row `r` (one that may come from a damaged posting).
    pub(crate) fn ensure_row(&self, r: u32) -> Result<()> {
        if r as usize >= self.rows {
            return Err(self.damaged(format!("row {r} of {}", self.rows)));
        }
        self.ensure_rows(r..r + 1)
    }

    /// Check-in of row `r`. Rows are read only after [`PartIndex::ensure_rows`] (or a method
    /// that returns them) has checked them.
    #[inline]
    pub(crate) fn check_in(&self, r: u32) -> Seconds {
        self.day_start + Seconds::from(self.check_in.get(&self.map, r as usize))
    }

    /// Check-out of row `r`, if recorded.
    #[inline]
    pub(crate) fn check_out(&self, r: u32) -> Option<Seconds> {
        let stay = self.stay.get(&self.map, r as usize);
        (stay != NO_CHECKOUT).then(|| self.check_in(r) + Seconds::from(stay))
    }

    /// The earliest check-in of row `r`'s person in this part strictly after row `r`'s:
    /// `Some(None)` when there is none, `None` when the index (format 1 or 2) does not say, and
    /// [`PartIndex::next_check_ins`] must read the person's postings.
    #[inline]
    pub(crate) fn next_in_part(&self, r: u32) -> Option<Option<Seconds>> {
        let t = self.next_in?.get(&self.map, r as usize);
        Some((t != NO_NEXT).then(|| self.day_start + Seconds::from(t)))
    }

    /// Whether the index has the `next_in` column (formats 3 and 4).
    pub(crate) fn has_next_in(&self) -> bool {
        self.next_in.is_some()
    }

    /// Person of row `r`.
    #[inline]
    pub(crate) fn person(&self, r: u32) -> PersonKey {
        self.person.get(&self.map, r as usize)
    }

    /// Venue of row `r`: a binary search over the venue groups, reading (and checking) only the
    /// group starts it probes.
    pub(crate) fn venue(&self, r: u32) -> Result<VenueKey> {
        if r as usize >= self.rows {
            return Err(self.damaged(format!("row {r} of {}", self.rows)));
        }
        let (mut lo, mut hi) = (0, self.group_venue.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            self.ensure(self.group_start.bytes_of(mid + 1..mid + 2))?;
            if self.group_start.get(&self.map, mid + 1) <= r {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if !self.group(lo)?.contains(&r) {
            return Err(self.damaged(format!("row {r} lies in no venue group")));
        }
        self.ensure(self.group_venue.bytes_of(lo..lo + 1))?;
        Ok(self.group_venue.get(&self.map, lo))
    }

    /// The rows of venue group `g`, checked: its two starts in order and within the rows.
    fn group(&self, g: usize) -> Result<Range<u32>> {
        if g >= self.group_venue.len() {
            return Err(self.damaged(format!("venue group {g} of {}", self.group_venue.len())));
        }
        self.ensure(self.group_start.bytes_of(g..g + 2))?;
        let (start, end) = (self.group_start.get(&self.map, g), self.group_start.get(&self.map, g + 1));
        if start > end || end as usize > self.rows {
            return Err(self.damaged(format!("venue group {g} spans rows {start}..{end} of {}", self.rows)));
        }
        Ok(start..end)
    }

    /// The positions in `person_rows` of person `p`'s rows (empty when the part has none), the
    /// offsets and postings checked.
    fn postings(&self, p: PersonKey) -> Result<Range<usize>> {
        let Some(slot) = self.slot(Side::Person, p)? else { return Ok(0..0) };
        self.postings_at(slot)
    }

    /// [`PartIndex::postings`] of the person in slot `slot`.
    fn postings_at(&self, slot: usize) -> Result<Range<usize>> {
        self.ensure(self.person_offsets.bytes_of(slot..slot + 2))?;
        let (lo, hi) =
            (self.person_offsets.get(&self.map, slot) as usize, self.person_offsets.get(&self.map, slot + 1) as usize);
        if lo > hi || hi > self.rows {
            return Err(self.damaged(format!("person postings {lo}..{hi} of {} rows", self.rows)));
        }
        self.ensure(self.person_rows.bytes_of(lo..hi))?;
        Ok(lo..hi)
    }

    /// The rows of person `p`, ascending, checked (their pages and the postings leading to
    /// them).
    pub(crate) fn person_rows(&self, p: PersonKey) -> Result<Vec<u32>> {
        let rows: Vec<u32> = self.postings(p)?.map(|i| self.person_rows.get(&self.map, i)).collect();
        for &r in &rows {
            self.ensure_row(r)?;
        }
        Ok(rows)
    }

    /// For each `(person, after, until)`, in order, the person's earliest check-in in this part
    /// in `(after, until]`, if any: its postings read in place (no row list built, only the
    /// pages read checked). Stage by
    /// stage for all of them (key set, offsets, postings, check-ins), each stage after a loop
    /// of bare loads of what it reads, so that the stage's cache misses are in flight together.
    pub(crate) fn next_check_ins(&self, queries: &[(PersonKey, Seconds, Seconds)]) -> Result<Vec<Option<Seconds>>> {
        let map = &self.map[..];
        if let Keys::Mapped(sets) = &*self.keys {
            prefetch(queries.iter().map(|&(p, _, _)| (map, sets[Side::Person as usize].probe_at(p))));
        }
        let mut found = Vec::new();
        for (q, &(p, _, _)) in queries.iter().enumerate() {
            if let Some(slot) = self.slot(Side::Person, p)? {
                found.push((q, slot));
            }
        }
        prefetch(found.iter().map(|&(_, slot)| (map, self.person_offsets.bytes_of(slot..slot + 1).start)));
        let postings = found.iter().map(|&(_, slot)| self.postings_at(slot)).collect::<Result<Vec<_>>>()?;
        prefetch(postings.iter().map(|p| (map, self.person_rows.bytes_of(p.start..p.start + 1).start)));
        prefetch(postings.iter().flat_map(|p| p.clone()).map(|i| {
            let r = self.person_rows.get(map, i) as usize;
            (map, self.check_in.bytes_of(r..r + 1).start)
        }));
        let mut out = vec![None; queries.len()];
        for (&(q, _), p) in found.iter().zip(postings) {
            let (_, after, until) = queries[q];
            out[q] = self.earliest_in(p, after, until)?;
        }
        Ok(out)
    }

    /// The earliest check-in in `(after, until]` of the rows at `postings` of `person_rows`.
    fn earliest_in(&self, postings: Range<usize>, after: Seconds, until: Seconds) -> Result<Option<Seconds>> {
        let mut best: Option<Seconds> = None;
        for i in postings {
            let r = self.person_rows.get(&self.map, i) as usize;
            if r >= self.rows {
                return Err(self.damaged(format!("row {r} of {}", self.rows)));
            }
            self.ensure(self.check_in.bytes_of(r..r + 1))?;
            let t = self.check_in(r as u32);
            if t > after && t <= until && best.is_none_or(|b| t < b) {
                best = Some(t);
            }
        }
        Ok(best)
    }

    /// The rows at venue `v` (contiguous, sorted by check-in), unchecked: its slot, group and
    /// group starts read and checked, nothing else of the venue sections.
    fn venue_rows(&self, v: VenueKey) -> Result<Range<u32>> {
        let Some(slot) = self.slot(Side::Venue, v)? else { return Ok(0..0) };
        self.ensure(self.venue_group.bytes_of(slot..slot + 1))?;
        let g = self.venue_group.get(&self.map, slot) as usize;
        let rows = self.group(g)?;
        self.ensure(self.group_venue.bytes_of(g..g + 1))?;
        if self.group_venue.get(&self.map, g) != v {
            return Err(
                self.damaged(format!("venue {v} leads to the group of venue {}", self.group_venue.get(&self.map, g)))
            );
        }
        Ok(rows)
    }

    /// The rows at venue `v` whose check-in lies in `[lo, hi)`, checked: two binary searches.
    pub(crate) fn venue_rows_checked_in(&self, v: VenueKey, lo: Seconds, hi: Seconds) -> Result<Range<u32>> {
        let rows = self.venue_rows(v)?;
        self.ensure(self.check_in.bytes_of(rows.start as usize..rows.end as usize))?;
        let found = self.checked_in(rows, lo, hi);
        self.ensure_rows(found.clone())?;
        Ok(found)
    }

    /// The rows of `rows` (one venue's, sorted by check-in, check-in pages checked) whose
    /// check-in lies in `[lo, hi)`: a binary search for the first, then a galloping one for the
    /// end, which reads near the first (a window is short beside a busy venue's day).
    ///
    /// The first is searched from where it would lie if the run's check-ins were spread evenly
    /// between its first and last: a busy venue's run spans many pages, and a binary search
    /// would miss the cache at most of its probes.
    fn checked_in(&self, rows: Range<u32>, lo: Seconds, hi: Seconds) -> Range<u32> {
        let (base, n) = (rows.start, rows.len());
        let before = |i: usize| self.check_in(base + i as u32) < lo;
        let first = if n < 64 {
            partition_point(n, before)
        } else {
            let (a, b) = (self.check_in(base), self.check_in(base + n as u32 - 1));
            let guess = if lo <= a {
                0
            } else if lo > b {
                n
            } else {
                ((lo - a) as f64 / (b - a).max(1) as f64 * (n - 1) as f64) as usize
            };
            search_from(n, guess.min(n), before)
        };
        let end = first + gallop(n - first, |i| self.check_in(base + (first + i) as u32) < hi);
        base + first as u32..base + end as u32
    }

    /// The rows of `rows` (one venue's, from [`PartIndex::venue_rows_checked_in`]) whose stays
    /// may last past `after`, as ascending disjoint ranges: every row checked in at or after
    /// `open_from`, and before it only the blocks of rows whose latest check-out is after
    /// `after`. The caller's rule must end every stay without check-out that begins before
    /// `open_from` at or before `after`; the rows left out have then all ended by `after`. The
    /// earlier rows are judged a block at a time through the `reach` section, not row by row.
    /// Without that section (formats 1–3), all of `rows`. With `links` (the part's day links
    /// and the request's `max_visit`, for a rule that ends such a stay at its person's next
    /// check-in within `max_visit`), a block is also kept when a row of it without check-out
    /// has such a next check-in after `after`.
    pub(crate) fn rows_reaching(
        &self,
        rows: Range<u32>,
        after: Seconds,
        open_from: Seconds,
        links: Option<(&PartLinks, Seconds)>,
    ) -> Result<Vec<Range<u32>>> {
        let Some(reach) = self.reach else { return Ok(vec![rows]) };
        let base = rows.start;
        let open = base + partition_point(rows.len(), |i| self.check_in(base + i as u32) < open_from) as u32;
        let mut out: Vec<Range<u32>> = Vec::new();
        let mut push = |r: Range<u32>| match out.last_mut() {
            Some(last) if last.end == r.start => last.end = r.end,
            _ if r.is_empty() => {}
            _ => out.push(r),
        };
        if open > base {
            let blocks = base as usize / REACH_BLOCK..(open as usize - 1) / REACH_BLOCK + 1;
            self.ensure(reach.bytes_of(blocks.clone()))?;
            let mut linked = links.map(|(l, max_visit)| l.reaching(blocks.clone(), after, max_visit)).transpose()?;
            for b in blocks {
                // Advanced once per block, first: the links' answer for block `b`.
                let by_link = linked.as_mut().is_some_and(|l| l.next() == Some(true));
                if by_link || self.day_start + Seconds::from(reach.get(&self.map, b)) > after {
                    let at = (b * REACH_BLOCK) as u32;
                    push(at.max(base)..(at + REACH_BLOCK as u32).min(open));
                }
            }
        }
        push(open..rows.end);
        Ok(out)
    }

    /// Each venue's rows whose check-in lies in `[lo, hi)`, checked, in stored order (venue
    /// groups without such rows are left out): two binary searches per venue.
    pub(crate) fn groups_checked_in(&self, lo: Seconds, hi: Seconds) -> Result<Vec<(VenueKey, Range<u32>)>> {
        will_read(&self.map, self.check_in.byte_range());
        self.groups()?;
        self.ensure(self.check_in.bytes_of(0..self.rows))?;
        let mut out = Vec::new();
        for g in 0..self.group_venue.len() {
            let group = self.group_start.get(&self.map, g)..self.group_start.get(&self.map, g + 1);
            let found = self.checked_in(group, lo, hi);
            if !found.is_empty() {
                out.push((self.group_venue.get(&self.map, g), found));
            }
        }
        if let (Some(a), Some(b)) = (out.first(), out.last()) {
            self.ensure_rows(a.1.start..b.1.end)?;
        }
        Ok(out)
    }

    /// Every row as a visit, in stored order, checked (compaction reads parts back this way).
    pub(crate) fn visits(&self) -> Result<Vec<Visit>> {
        will_read(&self.map, 0..self.map.len());
        self.groups()?;
        self.ensure_rows(0..self.rows as u32)?;
        let mut out = Vec::with_capacity(self.rows);
        for g in 0..self.group_venue.len() {
            let venue = self.group_venue.get(&self.map, g);
            let (lo, hi) = (self.group_start.get(&self.map, g), self.group_start.get(&self.map, g + 1));
            out.extend((lo..hi).map(|r| Visit {
                venue,
                check_in: self.check_in(r),
                person: self.person(r),
                check_out: self.check_out(r),
            }));
        }
        Ok(out)
    }

    /// Check the whole file: every page, both bitmaps against their postings, the groups, and
    /// every posting offset and row id in range.
    pub(crate) fn verify(&self) -> Result<()> {
        will_read(&self.map, 0..self.map.len());
        self.sums.ensure_all(&self.map).map_err(|e| self.damaged(e))?;
        match &*self.keys {
            Keys::Mapped(sets) => {
                for set in sets {
                    set.verify(&self.map, &self.sums).map_err(|e| self.damaged(e))?;
                }
            }
            Keys::Roaring(_) => {
                self.venue_keys()?;
                self.person_keys()?;
            }
        }
        self.groups()?;
        let mut prev = 0;
        for i in 0..self.person_offsets.len() {
            let at = self.person_offsets.get(&self.map, i);
            if at < prev || at as usize > self.rows || (i == 0 && at != 0) {
                return Err(self.damaged(format!("person offset {i} is {at}")));
            }
            prev = at;
        }
        if prev as usize != self.rows {
            return Err(self.damaged("person postings do not cover the rows"));
        }
        if (0..self.rows).any(|i| self.person_rows.get(&self.map, i) as usize >= self.rows) {
            return Err(self.damaged("a person posting names a row beyond the part"));
        }
        let column = |c: U32s| (0..c.len()).map(|i| c.get(&self.map, i)).collect::<Vec<u32>>();
        let check_in = column(self.check_in);
        if let Some(next_in) = self.next_in {
            let want = next_in_part(&check_in, &column(self.person_rows), &column(self.person_offsets));
            if let Some(r) = (0..self.rows).find(|&r| next_in.get(&self.map, r) != want[r]) {
                return Err(self.damaged(format!("row {r}: next check-in of its person disagrees with the postings")));
            }
        }
        if let Some(reach) = self.reach {
            let want = reach_of_blocks(&check_in, &column(self.stay));
            if let Some(b) = (0..want.len()).find(|&b| reach.get(&self.map, b) != want[b]) {
                return Err(
                    self.damaged(format!("rows from {}: latest check-out disagrees with the rows", b * REACH_BLOCK))
                );
            }
        }
        Ok(())
    }

    /// Whether the file carries page checksums (format 2).
    #[cfg(test)]
    fn has_page_sums(&self) -> bool {
        self.sums.is_some()
    }
}

/// `slice::partition_point` over an index range.
pub(super) fn partition_point(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// [`partition_point`] of a `pred` true then false over `0..n`, galloping outwards from
/// `guess` (`≤ n`): reads O(log d) entries around it when the answer is `d` away.
pub(super) fn search_from(n: usize, guess: usize, pred: impl Fn(usize) -> bool) -> usize {
    if guess < n && pred(guess) {
        let ahead = n - guess - 1;
        guess + 1 + gallop(ahead, |i| pred(guess + 1 + i))
    } else {
        // Count back from guess − 1 while pred is false.
        guess - gallop(guess, |i| !pred(guess - 1 - i))
    }
}

/// [`partition_point`] probing `0, 1, 3, 7, …` first: reads O(log k) entries near the start
/// when the answer is `k`.
pub(super) fn gallop(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let mut lo = 0;
    let mut step = 1;
    while lo < n && pred(lo) {
        let next = lo + step;
        if next >= n || !pred(next) {
            let hi = next.min(n);
            return lo + 1 + partition_point(hi - lo - 1, |i| pred(lo + 1 + i));
        }
        lo = next;
        step *= 2;
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gallop_and_search_from_a_guess_agree_with_a_binary_search() {
        for n in 0..70 {
            for k in 0..=n {
                assert_eq!(gallop(n, |i| i < k), k, "n {n} k {k}");
                assert_eq!(partition_point(n, |i| i < k), k);
                for guess in 0..=n {
                    assert_eq!(search_from(n, guess, |i| i < k), k, "n {n} k {k} guess {guess}");
                }
            }
        }
    }

    #[test]
    fn postings_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let day = 18_840;
        let t = day * crate::time::DAY;
        // Grouped by venue (9 before 2: groups follow the stored order, not key order).
        let rows = vec![
            Visit { venue: 9, check_in: t + 10, person: 1, check_out: None },
            Visit { venue: 9, check_in: t + 20, person: 3, check_out: Some(t + 100) },
            Visit { venue: 2, check_in: t + 5, person: 3, check_out: None },
            Visit { venue: 2, check_in: t + 50, person: 1, check_out: Some(t + 86_400 * 3) },
            Visit { venue: 2, check_in: t + 60, person: 700_000, check_out: None },
        ];
        let p = dir.path().join("x.tvx");
        write(&p, day, &rows).unwrap();
        let idx = PartIndex::open(&p, 5, day).unwrap();
        idx.verify().unwrap();
        assert!(idx.has_page_sums());
        assert_eq!(idx.venue_rows(9).unwrap(), 0..2);
        assert_eq!(idx.venue_rows(2).unwrap(), 2..5);
        assert_eq!(idx.venue_rows(4).unwrap(), 0..0);
        assert_eq!(idx.venue_rows_checked_in(2, t + 6, t + 60).unwrap(), 3..4);
        assert_eq!(idx.person_rows(3).unwrap(), vec![1, 2]);
        assert_eq!(idx.person_rows(700_000).unwrap(), vec![4]);
        assert_eq!(idx.person_rows(2).unwrap(), Vec::<u32>::new());
        assert_eq!(idx.venue(3).unwrap(), 2);
        assert_eq!(idx.venue(1).unwrap(), 9);
        assert_eq!(idx.check_out(1), Some(t + 100));
        assert_eq!(idx.check_out(3), Some(t + 86_400 * 3));
        assert_eq!(idx.check_out(0), None);
        // Each row's person's next check-in in the part, by check-in time, not row order.
        let next: Vec<_> = (0..5).map(|r| idx.next_in_part(r)).collect();
        assert_eq!(next, [Some(Some(t + 50)), Some(None), Some(Some(t + 20)), Some(None), Some(None)]);
        assert!(PartIndex::open(&p, 6, day).is_err());
    }

    /// Every query the trace makes, on every key and row of the small part above.
    fn answers(idx: &PartIndex, day: i64) -> Result<Vec<String>> {
        let t = day * crate::time::DAY;
        let mut out = Vec::new();
        for k in [1, 2, 3, 4, 9, 700_000] {
            out.push(format!("{:?}", idx.person_rows(k)?));
            let rows = idx.venue_rows_checked_in(k, t, t + 86_400)?;
            out.push(format!("{rows:?}"));
            for (after, from) in [(t, t), (t + 1_000, t + 2_000), (t + 5_000, t)] {
                out.push(format!("{:?}", idx.rows_reaching(rows.clone(), after, from, None)?));
            }
        }
        for r in 0..idx.row_count() as u32 {
            idx.ensure_row(r)?;
            out.push(format!("{} {:?} {} {}", idx.check_in(r), idx.check_out(r), idx.person(r), idx.venue(r)?));
        }
        Ok(out)
    }

    /// Rows of one day at three venues, stored order, a third without check-out.
    fn day_rows() -> impl proptest::strategy::Strategy<Value = Vec<Visit>> {
        use proptest::prelude::*;
        let t = 18_840 * crate::time::DAY;
        let row = (0u32..3, 0i64..86_400, 0u32..50, prop_oneof![1 => Just(None), 2 => (0i64..20_000).prop_map(Some)]);
        prop::collection::vec(row, 1..600).prop_map(move |rows| {
            let mut rows: Vec<Visit> = rows
                .into_iter()
                .map(|(venue, at, person, stay)| Visit {
                    venue,
                    check_in: t + at,
                    person,
                    check_out: stay.map(|d| t + at + d),
                })
                .collect();
            rows.sort_unstable_by_key(|v| (v.venue, v.check_in, v.person));
            rows
        })
    }

    proptest::proptest! {
        /// `rows_reaching` leaves out only rows checked in before `open_from` whose stays ended
        /// by `after` (check-out at or before it, or none), keeps every row from `open_from`
        /// on, and gives ascending disjoint ranges within the venue's rows.
        #[test]
        fn rows_reaching_leaves_out_only_ended_rows(
            rows in day_rows(),
            after in 0i64..100_000,
            from_before in 0i64..30_000,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let day = 18_840;
            let t = day * crate::time::DAY;
            let (after, open_from) = (t + after, t + after - from_before);
            let p = dir.path().join("x.tvx");
            write(&p, day, &rows).unwrap();
            let idx = PartIndex::open(&p, rows.len() as u64, day).unwrap();
            idx.verify().unwrap();
            for v in 0..3 {
                let all = idx.venue_rows_checked_in(v, t, t + crate::time::DAY).unwrap();
                let live = idx.rows_reaching(all.clone(), after, open_from, None).unwrap();
                let kept: Vec<u32> = live.iter().flat_map(|r| r.clone()).collect();
                proptest::prop_assert!(kept.windows(2).all(|w| w[0] < w[1]));
                proptest::prop_assert!(live.iter().all(|r| !r.is_empty() && all.start <= r.start && r.end <= all.end));
                proptest::prop_assert!(live.windows(2).all(|w| w[0].end < w[1].start), "{live:?}");
                for r in all {
                    let v = &rows[r as usize];
                    let ended = v.check_in < open_from && v.check_out.is_none_or(|o| o <= after);
                    proptest::prop_assert!(ended || kept.contains(&r), "row {r} ({v:?}) left out");
                }
            }
        }
    }

    #[test]
    fn rows_reaching_skips_blocks_that_ended() {
        let dir = tempfile::tempdir().unwrap();
        let day = 18_840;
        let t = day * crate::time::DAY;
        // 300 rows at one venue, a minute apart from 00:00, each checked out after 10 minutes;
        // row 100 stays until 20:00.
        let rows: Vec<Visit> = (0..300)
            .map(|i| Visit {
                venue: 1,
                check_in: t + 60 * i,
                person: i as u32,
                check_out: Some(t + 60 * i + if i == 100 { 72_000 } else { 600 }),
            })
            .collect();
        let p = dir.path().join("x.tvx");
        write(&p, day, &rows).unwrap();
        let idx = PartIndex::open(&p, 300, day).unwrap();
        // At 04:00 (row 240's check-in) rows from 231 on are present. Rows checked in from
        // 03:50 (row 230) on are kept; before it, the blocks with a later check-out: row 100's
        // (rows 64..128), and rows 192..256, whose last rows leave after 04:00.
        let after = t + 240 * 60;
        assert_eq!(idx.rows_reaching(0..300, after, t + 230 * 60, None).unwrap(), [64..128, 192..300]);
        assert_eq!(idx.rows_reaching(70..300, after, t + 230 * 60, None).unwrap(), [70..128, 192..300]);
        assert_eq!(idx.rows_reaching(0..190, after, t + 180 * 60, None).unwrap(), [64..128, 180..190]);
        // Nothing ended yet: everything.
        assert_eq!(idx.rows_reaching(0..300, t, t, None).unwrap(), vec![0..300u32; 1]);
    }

    /// A posting naming the last possible row, checksums intact (as a buggy writer or a
    /// resealed fuzz input would have it): an error, not an overflow or an out-of-bounds read.
    /// Found by the fuzzer.
    #[test]
    fn a_posting_beyond_the_rows_is_an_error_even_with_valid_checksums() {
        let dir = tempfile::tempdir().unwrap();
        let day = 18_840;
        let t = day * crate::time::DAY;
        let rows = vec![
            Visit { venue: 1, check_in: t, person: 5, check_out: None },
            Visit { venue: 1, check_in: t + 9, person: 6, check_out: None },
        ];
        let p = dir.path().join("x.tvx");
        write(&p, day, &rows).unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        let person_rows = read_u64(&bytes, 24 + 9 * 16).unwrap() as usize;
        bytes[person_rows..person_rows + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        reseal(&mut bytes);
        std::fs::write(&p, &bytes).unwrap();
        let idx = PartIndex::open(&p, 2, day).unwrap();
        let err = idx.person_rows(5).unwrap_err().to_string();
        assert!(err.contains("x.tvx") && err.contains("row 4294967295 of 2"), "{err}");
        assert!(idx.verify().is_err());
    }

    /// Damage each byte of an index in turn: every query either fails with an error naming the
    /// file or gives the undamaged answer; none panics.
    #[test]
    fn any_damaged_byte_is_an_error_never_a_panic_or_another_answer() {
        let dir = tempfile::tempdir().unwrap();
        let day = 18_840;
        let t = day * crate::time::DAY;
        let rows: Vec<Visit> = (0..40u32)
            .map(|i| Visit {
                venue: [9, 2, 5][(i / 14) as usize],
                check_in: t + 100 * i64::from(i),
                person: i % 7,
                check_out: (i % 3 == 0).then_some(t + 100 * i64::from(i) + 50),
            })
            .collect();
        let p = dir.path().join("x.tvx");
        write(&p, day, &rows).unwrap();
        let good = std::fs::read(&p).unwrap();
        let want = answers(&PartIndex::open(&p, 40, day).unwrap(), day).unwrap();
        let mut caught = 0;
        for at in 0..good.len() {
            for flip in [0x01u8, 0x80] {
                let mut bad = good.clone();
                bad[at] ^= flip;
                std::fs::write(&p, &bad).unwrap();
                let got = PartIndex::open(&p, 40, day).and_then(|idx| {
                    let a = answers(&idx, day)?;
                    idx.verify()?;
                    Ok(a)
                });
                match got {
                    Ok(a) => assert_eq!(a, want, "byte {at} ^ {flip:#x} changed an answer"),
                    Err(e) => {
                        assert!(matches!(e, Error::Store { .. }), "byte {at}: {e}");
                        assert!(e.to_string().contains("x.tvx"), "{e}");
                        caught += 1;
                    }
                }
            }
        }
        // Padding bytes are the only ones whose damage changes nothing a reader uses; the page
        // sums still cover them, so every flip is caught.
        assert_eq!(caught, 2 * good.len());
    }
}
