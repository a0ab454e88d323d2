//! Re-identification segments of a pseudonymised store: the sealed clear id of each person of
//! one person-dictionary segment, in key order (see `crate::pseudonym` for the sealing).
//!
//! ```text
//! "TVREID01" | count u32 | 0 u32 | sealed bytes u64 | sealed ids | offsets (count + 1) × u64
//! ```
//! Entry `i` belongs to person key `base + i` of the dictionary segment the manifest pairs it
//! with; its bytes are `offsets[i]..offsets[i + 1]` of the sealed ids. Each entry carries its own
//! authentication tag (bound to the person's pseudonym), so a damaged entry never opens as
//! another id; the file as a whole is covered by the manifest's BLAKE3. The offsets come last so
//! that a writer streams the sealed ids and holds only their offsets.

use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::Snapshot;
use super::bytes::{U64s, map_file, read_u32, read_u64, write_u64s};
use super::layout;
use super::manifest::DictSegmentInfo;
use crate::error::{Error, Result};
use crate::model::PersonKey;
use crate::pseudonym::{Key, Pseudonyms};

const MAGIC: &[u8; 8] = b"TVREID01";
const HEADER: usize = 24;

/// Write a segment of `count` sealed ids, produced in key order by `sealed(i)`.
pub(crate) fn write(path: &Path, count: u32, mut sealed: impl FnMut(u32) -> Result<Vec<u8>>) -> Result<()> {
    let io = |e| Error::io(path)(e);
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path).map_err(io)?);
    w.write_all(&[0u8; HEADER]).map_err(io)?;
    let mut offsets = Vec::with_capacity(count as usize + 1);
    offsets.push(0u64);
    let mut len = 0u64;
    for i in 0..count {
        let blob = sealed(i)?;
        w.write_all(&blob).map_err(io)?;
        len += blob.len() as u64;
        offsets.push(len);
    }
    let finish = |w: &mut BufWriter<File>| -> std::io::Result<()> {
        write_u64s(w, &offsets)?;
        w.seek(std::io::SeekFrom::Start(0))?;
        w.write_all(MAGIC)?;
        w.write_all(&count.to_le_bytes())?;
        w.write_all(&0u32.to_le_bytes())?;
        w.write_all(&len.to_le_bytes())?;
        w.flush()?;
        w.get_ref().sync_all()
    };
    finish(&mut w).map_err(io)
}

/// One mapped segment.
#[derive(Debug)]
pub(crate) struct ReidSegment {
    path: PathBuf,
    map: Mmap,
    offsets: U64s,
    count: u32,
    /// Bytes of sealed ids.
    len: usize,
}

impl ReidSegment {
    /// Map a segment and check its header and length against the `count` the manifest expects.
    pub(crate) fn open(path: &Path, count: u32) -> Result<ReidSegment> {
        let map = map_file(path)?;
        let bad = |why: &str| Error::store(path, format!("damaged re-identification segment: {why}"));
        if map.len() < HEADER || &map[..8] != MAGIC {
            return Err(bad("no TVREID01 header"));
        }
        if read_u32(&map, 8) != Some(count) {
            return Err(bad("header disagrees with the manifest"));
        }
        let len = read_u64(&map, 16).and_then(|l| usize::try_from(l).ok()).ok_or_else(|| bad("short header"))?;
        let table = HEADER.checked_add(len).ok_or_else(|| bad("sealed length"))?;
        let end = table.checked_add((count as usize + 1) * 8).ok_or_else(|| bad("sealed length"))?;
        if end != map.len() {
            return Err(bad("file length disagrees with its header"));
        }
        let offsets = U64s::new(map.len(), table..end).ok_or_else(|| bad("truncated offsets"))?;
        Ok(ReidSegment { path: path.to_path_buf(), map, offsets, count, len })
    }

    /// The sealed id of entry `i`.
    pub(crate) fn get(&self, i: u32) -> Result<&[u8]> {
        let bad = || Error::store(&self.path, format!("damaged re-identification segment: entry {i}"));
        if i >= self.count {
            return Err(bad());
        }
        let (a, b) = (self.offsets.get(&self.map, i as usize), self.offsets.get(&self.map, i as usize + 1));
        let (a, b) = (usize::try_from(a).map_err(|_| bad())?, usize::try_from(b).map_err(|_| bad())?);
        if a > b || b > self.len {
            return Err(bad());
        }
        Ok(&self.map[HEADER + a..HEADER + b])
    }

    /// The file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Check every entry's bounds (the tags need the key: `verify` cannot check them).
    pub(crate) fn verify(&self) -> Result<()> {
        (0..self.count).try_for_each(|i| self.get(i).map(drop))
    }
}

/// The re-identification segments of all of a store's person segments, found by person key.
pub(crate) struct Sealed {
    dir: PathBuf,
    /// `(base key, segment)`, in key order.
    segments: Vec<(u32, ReidSegment)>,
}

impl Sealed {
    /// Open the segment paired with each of `persons` (a pseudonymised store's).
    pub(crate) fn open(dir: &Path, persons: &[DictSegmentInfo]) -> Result<Sealed> {
        let segments = persons
            .iter()
            .map(|s| {
                let rel = s.reid.as_deref().ok_or_else(|| {
                    Error::store(
                        dir,
                        format!("damaged store: person segment {} has no re-identification segment", s.path),
                    )
                })?;
                Ok((s.base, ReidSegment::open(&layout::resolve(dir, rel), s.count)?))
            })
            .collect::<Result<_>>()?;
        Ok(Sealed { dir: dir.to_path_buf(), segments })
    }

    /// The sealed id of person `key`, and the segment holding it.
    pub(crate) fn get(&self, key: PersonKey) -> Result<(&[u8], &ReidSegment)> {
        let at = self.segments.partition_point(|(base, _)| *base <= key).checked_sub(1);
        let (base, seg) = at.map(|a| &self.segments[a]).ok_or_else(|| {
            Error::store(
                &self.dir,
                format!("damaged store: person key {key} is before every re-identification segment"),
            )
        })?;
        Ok((seg.get(key - base)?, seg))
    }
}

impl Snapshot {
    /// Whether person ids in this store are pseudonyms, and under which key.
    pub fn pseudonyms(&self) -> Option<&Pseudonyms> {
        self.manifest().pseudonyms.as_ref()
    }

    /// Check that `key` is the key this store was pseudonymised with.
    pub fn check_key(&self, key: &Key) -> Result<()> {
        key.check(self.dir(), self.pseudonyms())
    }

    /// The clear ids of `persons`, for a holder of the store's key (in the order asked).
    pub fn clear_ids(&self, key: &Key, persons: &[PersonKey]) -> Result<Vec<String>> {
        self.check_key(key)?;
        let sealed_ids = Sealed::open(self.dir(), &self.manifest().persons)?;
        persons
            .iter()
            .map(|&p| {
                let pseudonym = self.person_id(p)?;
                let (sealed, seg) = sealed_ids.get(p)?;
                let damaged =
                    || Error::store(seg.path(), format!("damaged re-identification entry of person {pseudonym}"));
                let clear = key.open(pseudonym.as_bytes(), sealed).ok_or_else(damaged)?;
                // The tag already binds the id to its pseudonym; recomputing it also catches a
                // writer that sealed the wrong id.
                let clear = String::from_utf8(clear).map_err(|_| damaged())?;
                if key.pseudonym(&clear) != pseudonym {
                    return Err(damaged());
                }
                Ok(clear)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_damage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.reid");
        let entries: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; usize::from(i) * 3]).collect();
        write(&path, 5, |i| Ok(entries[i as usize].clone())).unwrap();
        let seg = ReidSegment::open(&path, 5).unwrap();
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(seg.get(i as u32).unwrap(), &e[..]);
        }
        assert!(seg.get(5).is_err());
        seg.verify().unwrap();
        assert!(ReidSegment::open(&path, 4).is_err(), "a count other than the manifest's");
        let good = std::fs::read(&path).unwrap();
        for at in 0..good.len() {
            let mut bytes = good.clone();
            bytes[at] ^= 0x40;
            std::fs::write(&path, &bytes).unwrap();
            // Never a panic; a damaged header or offset is an error at open or read, and a
            // damaged entry changes only bytes its tag then refuses.
            if let Ok(seg) = ReidSegment::open(&path, 5) {
                let _ = seg.verify();
                for i in 0..5 {
                    let _ = seg.get(i);
                }
            }
        }
    }
}
