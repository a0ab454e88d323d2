//! The trace index: one sidecar per Parquet part, built at commit time, mapped at open.
//!
//! The Parquet part is the data of record (SQL reads it); the sidecar holds the same rows, in
//! the same order, as fixed-width columns plus two posting structures, so a trace touches only
//! the rows of the F0 and of the venues and hours it visited:
//! - venue → contiguous row range (rows are sorted by venue id, then check-in), found through a
//!   roaring bitmap of the venue keys present and its `rank`;
//! - person → row ids (CSR), found the same way through a bitmap of the person keys present.
//!
//! Roaring fits here because a day holds a sparse, clustered subset of all keys: `rank` turns a
//! key into a dense slot without a hash table or a key-sized array, and the bitmaps are small
//! enough to decode on first use.
//!
//! # File (`data/day=2021-08-01/b000007-00.tvx`, version 1, little-endian)
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `TVIDX001` |
//! | 8..12 | `rows` |
//! | 12..16 | zero |
//! | 16..24 | `day_start`: Unix seconds of 00:00 UTC of the part's day |
//! | 24..184 | ten sections as `(offset u64, length u64)`, in the order below |
//!
//! Sections, each starting 8-byte aligned: `check_in` (`u32 × rows`, seconds after `day_start`),
//! `stay` (`u32 × rows`, check-out minus check-in, `u32::MAX` when missing), `person`
//! (`u32 × rows`), `venue_keys` (roaring), `venue_group` (`u32` per venue key, in key order: its
//! group), `group_start` (`u32 × (groups + 1)`: first row of each venue group, in row order),
//! `group_venue` (`u32 × groups`), `person_keys` (roaring), `person_offsets`
//! (`u32 × (persons + 1)`), `person_rows` (`u32 × rows`).

use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use memmap2::Mmap;
use roaring::RoaringBitmap;

use super::bytes::{U32s, map_file, read_u32, read_u64, write_u32s};
use crate::error::{Error, Result};
use crate::model::{PersonKey, Seconds, VenueKey, Visit};

const MAGIC: &[u8; 8] = b"TVIDX001";
const SECTIONS: usize = 10;
const HEADER: usize = 24 + SECTIONS * 16;
/// `stay` value of a visit without check-out.
const NO_CHECKOUT: u32 = u32::MAX;

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
    let venue_keys = RoaringBitmap::from_iter(group_venue.iter().copied());
    if venue_keys.len() as usize != group_venue.len() {
        return Err(Error::Internal("part rows are not grouped by venue".into()));
    }
    let mut by_key: Vec<(VenueKey, u32)> = group_venue.iter().enumerate().map(|(g, &v)| (v, g as u32)).collect();
    by_key.sort_unstable();
    let venue_group: Vec<u32> = by_key.iter().map(|&(_, g)| g).collect();

    // Person CSR: row ids grouped by person key, ascending within a person.
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_unstable_by_key(|&r| (person[r as usize], r));
    let mut present = Vec::new();
    let mut person_offsets = Vec::new();
    for (i, &r) in order.iter().enumerate() {
        let p = person[r as usize];
        if present.last() != Some(&p) {
            present.push(p);
            person_offsets.push(i as u32);
        }
    }
    let person_keys =
        RoaringBitmap::from_sorted_iter(present).map_err(|_| Error::Internal("unsorted person keys".into()))?;
    person_offsets.push(n as u32);

    let file = File::create(path).map_err(Error::io(path))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut table = [(0u64, 0u64); SECTIONS];
    let io = |e| Error::io(path)(e);
    w.write_all(&[0u8; HEADER]).map_err(io)?;
    let mut section = |w: &mut BufWriter<File>,
                       i: usize,
                       write: &dyn Fn(&mut BufWriter<File>) -> std::io::Result<()>|
     -> std::io::Result<()> {
        let start = w.stream_position()?;
        write(w)?;
        let end = w.stream_position()?;
        let pad = (8 - (end % 8)) % 8;
        w.write_all(&[0u8; 8][..pad as usize])?;
        table[i] = (start, end - start);
        Ok(())
    };
    section(&mut w, 0, &|w| write_u32s(w, &check_in)).map_err(io)?;
    section(&mut w, 1, &|w| write_u32s(w, &stay)).map_err(io)?;
    section(&mut w, 2, &|w| write_u32s(w, &person)).map_err(io)?;
    section(&mut w, 3, &|w| venue_keys.serialize_into(w)).map_err(io)?;
    section(&mut w, 4, &|w| write_u32s(w, &venue_group)).map_err(io)?;
    section(&mut w, 5, &|w| write_u32s(w, &group_start)).map_err(io)?;
    section(&mut w, 6, &|w| write_u32s(w, &group_venue)).map_err(io)?;
    section(&mut w, 7, &|w| person_keys.serialize_into(w)).map_err(io)?;
    section(&mut w, 8, &|w| write_u32s(w, &person_offsets)).map_err(io)?;
    section(&mut w, 9, &|w| write_u32s(w, &order)).map_err(io)?;
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&(n as u32).to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&day_start.to_le_bytes());
    for (off, len) in table {
        header.extend_from_slice(&off.to_le_bytes());
        header.extend_from_slice(&len.to_le_bytes());
    }
    w.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
    w.write_all(&header).map_err(io)?;
    w.flush().map_err(io)?;
    w.get_ref().sync_all().map_err(io)
}

/// A mapped, validated trace index of one part.
#[derive(Debug)]
pub struct PartIndex {
    map: Mmap,
    rows: usize,
    day_start: Seconds,
    check_in: U32s,
    stay: U32s,
    person: U32s,
    venue_group: U32s,
    group_start: U32s,
    group_venue: U32s,
    person_offsets: U32s,
    person_rows: U32s,
    venue_keys_range: Range<usize>,
    person_keys_range: Range<usize>,
    venue_keys: OnceLock<RoaringBitmap>,
    person_keys: OnceLock<RoaringBitmap>,
}

impl PartIndex {
    /// Map and check an index: magic, row count and section bounds. Bitmaps are decoded (and
    /// checked) on first use.
    pub(crate) fn open(path: &Path, expected_rows: u64, day: i64) -> Result<PartIndex> {
        let map = map_file(path)?;
        let bad = |why: &str| Error::store(path, format!("damaged trace index: {why}"));
        if map.get(..8) != Some(MAGIC.as_slice()) || map.len() < HEADER {
            return Err(bad("bad magic or short header"));
        }
        let rows = read_u32(&map, 8).ok_or_else(|| bad("header"))? as usize;
        let day_start = read_u64(&map, 16).ok_or_else(|| bad("header"))? as i64;
        if rows as u64 != expected_rows || day_start != day * crate::time::DAY {
            return Err(bad("header disagrees with the manifest"));
        }
        let mut ranges: [Range<usize>; SECTIONS] = std::array::from_fn(|_| 0..0);
        for (i, r) in ranges.iter_mut().enumerate() {
            let off = read_u64(&map, 24 + i * 16).ok_or_else(|| bad("header"))? as usize;
            let len = read_u64(&map, 32 + i * 16).ok_or_else(|| bad("header"))? as usize;
            if off.checked_add(len).is_none_or(|end| end > map.len()) {
                return Err(bad("section out of bounds"));
            }
            *r = off..off + len;
        }
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
        let index = PartIndex {
            rows,
            day_start,
            check_in: u32s(0, Some(rows))?,
            stay: u32s(1, Some(rows))?,
            person: u32s(2, Some(rows))?,
            venue_group: u32s(4, Some(groups))?,
            group_start: u32s(5, Some(groups + 1))?,
            group_venue,
            person_offsets,
            person_rows: u32s(9, Some(rows))?,
            venue_keys_range: ranges[3].clone(),
            person_keys_range: ranges[7].clone(),
            venue_keys: OnceLock::new(),
            person_keys: OnceLock::new(),
            map,
        };
        if person_offsets.len() == 0 || index.group_start.get(&index.map, groups) as usize != rows {
            return Err(bad("postings do not cover the rows"));
        }
        Ok(index)
    }

    fn bitmap<'a>(&'a self, cell: &'a OnceLock<RoaringBitmap>, range: &Range<usize>) -> &'a RoaringBitmap {
        cell.get_or_init(|| {
            // A bitmap that fails to decode is treated as empty; `verify` reports it.
            RoaringBitmap::deserialize_from(&self.map[range.clone()]).unwrap_or_default()
        })
    }

    /// Person keys present in this part.
    pub fn person_keys(&self) -> &RoaringBitmap {
        self.bitmap(&self.person_keys, &self.person_keys_range)
    }

    /// Venue keys present in this part.
    pub fn venue_keys(&self) -> &RoaringBitmap {
        self.bitmap(&self.venue_keys, &self.venue_keys_range)
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Check-in of row `r`.
    #[inline]
    pub fn check_in(&self, r: u32) -> Seconds {
        self.day_start + Seconds::from(self.check_in.get(&self.map, r as usize))
    }

    /// Check-out of row `r`, if recorded.
    #[inline]
    pub fn check_out(&self, r: u32) -> Option<Seconds> {
        let stay = self.stay.get(&self.map, r as usize);
        (stay != NO_CHECKOUT).then(|| self.check_in(r) + Seconds::from(stay))
    }

    /// Person of row `r`.
    #[inline]
    pub fn person(&self, r: u32) -> PersonKey {
        self.person.get(&self.map, r as usize)
    }

    /// Venue of row `r` (binary search over the venue groups).
    pub fn venue(&self, r: u32) -> VenueKey {
        let g = partition_point(self.group_venue.len(), |g| self.group_start.get(&self.map, g + 1) <= r);
        self.group_venue.get(&self.map, g)
    }

    /// The rows of person `p`, ascending.
    pub fn person_rows(&self, p: PersonKey) -> impl Iterator<Item = u32> + '_ {
        let keys = self.person_keys();
        let range = if keys.contains(p) {
            let slot = keys.rank(p) as usize - 1;
            self.person_offsets.get(&self.map, slot) as usize..self.person_offsets.get(&self.map, slot + 1) as usize
        } else {
            0..0
        };
        range.map(move |i| self.person_rows.get(&self.map, i))
    }

    /// The rows at venue `v` (contiguous, sorted by check-in).
    pub fn venue_rows(&self, v: VenueKey) -> Range<u32> {
        let keys = self.venue_keys();
        if !keys.contains(v) {
            return 0..0;
        }
        let g = self.venue_group.get(&self.map, keys.rank(v) as usize - 1) as usize;
        self.group_start.get(&self.map, g)..self.group_start.get(&self.map, g + 1)
    }

    /// The rows at venue `v` whose check-in lies in `[lo, hi)`: two binary searches.
    pub fn venue_rows_checked_in(&self, v: VenueKey, lo: Seconds, hi: Seconds) -> Range<u32> {
        let rows = self.venue_rows(v);
        let base = rows.start;
        let n = rows.len();
        let first = partition_point(n, |i| self.check_in(base + i as u32) < lo);
        let end = first + partition_point(n - first, |i| self.check_in(base + (first + i) as u32) < hi);
        base + first as u32..base + end as u32
    }

    /// Decode both bitmaps with full validation and check their sizes against the postings.
    pub fn verify(&self) -> Result<(), String> {
        let v = RoaringBitmap::deserialize_from(&self.map[self.venue_keys_range.clone()]).map_err(|e| e.to_string())?;
        let p =
            RoaringBitmap::deserialize_from(&self.map[self.person_keys_range.clone()]).map_err(|e| e.to_string())?;
        if v.len() as usize != self.venue_group.len() || p.len() as usize + 1 != self.person_offsets.len() {
            return Err("bitmap sizes disagree with postings".into());
        }
        Ok(())
    }
}

/// `slice::partition_point` over an index range.
fn partition_point(n: usize, pred: impl Fn(usize) -> bool) -> usize {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(idx.venue_rows(9), 0..2);
        assert_eq!(idx.venue_rows(2), 2..5);
        assert_eq!(idx.venue_rows(4), 0..0);
        assert_eq!(idx.venue_rows_checked_in(2, t + 6, t + 60), 3..4);
        assert_eq!(idx.person_rows(3).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(idx.person_rows(700_000).collect::<Vec<_>>(), vec![4]);
        assert_eq!(idx.person_rows(2).count(), 0);
        assert_eq!(idx.venue(3), 2);
        assert_eq!(idx.venue(1), 9);
        assert_eq!(idx.check_out(1), Some(t + 100));
        assert_eq!(idx.check_out(3), Some(t + 86_400 * 3));
        assert_eq!(idx.check_out(0), None);
        assert!(PartIndex::open(&p, 6, day).is_err());
    }
}
