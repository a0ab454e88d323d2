//! Dictionaries: original person and venue id strings ⇄ dense `u32` keys.
//!
//! Keys are assigned in first-seen order and never change, so each committed batch adds one
//! append-only *segment* per dictionary holding the ids it saw first. Readers map segments and
//! look ids up without loading them; ingest loads all segments into an in-memory [`Interner`].
//!
//! # Segment file (`dict/persons-b000007.dict`, version 1, little-endian)
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `TVDICT01` |
//! | 8..12 | `base`: key of the first id in this segment |
//! | 12..16 | `count` |
//! | 16..24 | `blob_len` |
//! | 24.. | `offsets`: `u64 × (count + 1)`, byte offsets of each id in the blob |
//! | .. | `sorted`: `u32 × count`, local indexes ordered by id bytes (for lookups) |
//! | .. | the blob: the ids' UTF-8 bytes, concatenated in key order |

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use hashbrown::DefaultHashBuilder;
use hashbrown::HashTable;
use memmap2::Mmap;
use std::hash::BuildHasher;

use super::bytes::{U32s, U64s, map_file, read_u32, read_u64, write_u32s, write_u64s};
use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"TVDICT01";
const HEADER: usize = 24;

/// Strings per arena chunk; a full chunk is frozen and shared, never copied again.
const CHUNK: usize = 1 << 16;

#[derive(Debug, Default)]
struct Chunk {
    /// Concatenated ids; a `String` so reads need no UTF-8 check (ids are checked on the way in).
    text: String,
    ends: Vec<u32>,
}

impl Chunk {
    fn get_str(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }
    fn get(&self, i: usize) -> &[u8] {
        self.get_str(i).as_bytes()
    }
}

/// Read-only view of interned strings as of some moment, cheap to clone and `Send`: frozen
/// chunks are shared; only the open chunk is copied.
#[derive(Debug, Clone, Default)]
pub(crate) struct InternedView {
    chunks: Vec<Arc<Chunk>>,
}

impl InternedView {
    pub(crate) fn get(&self, key: u32) -> &str {
        let k = key as usize;
        self.chunks[k / CHUNK].get_str(k % CHUNK)
    }
}

/// An append-only string interner: the ingest-side dictionary.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    frozen: Vec<Arc<Chunk>>,
    open: Chunk,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
    len: u32,
}

impl Interner {
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    fn get_bytes(&self, key: u32) -> &[u8] {
        let k = key as usize;
        match self.frozen.get(k / CHUNK) {
            Some(chunk) => chunk.get(k % CHUNK),
            None => self.open.get(k % CHUNK),
        }
    }

    /// Key of `id`, interning it if new.
    pub(crate) fn intern(&mut self, id: &str) -> u32 {
        let hash = self.hasher.hash_one(id.as_bytes());
        let Interner { frozen, open, table, hasher, len } = self;
        let found = table.find(hash, |&k| {
            let k = k as usize;
            let s = match frozen.get(k / CHUNK) {
                Some(chunk) => chunk.get(k % CHUNK),
                None => open.get(k % CHUNK),
            };
            s == id.as_bytes()
        });
        if let Some(&k) = found {
            return k;
        }
        let key = *len;
        open.text.push_str(id);
        open.ends.push(open.text.len() as u32);
        *len += 1;
        let rehash = |&k: &u32| {
            let k = k as usize;
            let s = match frozen.get(k / CHUNK) {
                Some(chunk) => chunk.get(k % CHUNK),
                None => open.get(k % CHUNK),
            };
            hasher.hash_one(s)
        };
        table.insert_unique(hash, key, rehash);
        if open.ends.len() == CHUNK {
            frozen.push(Arc::new(std::mem::take(open)));
        }
        key
    }

    /// Look up without interning.
    #[cfg(test)]
    pub(crate) fn get(&self, id: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        self.table.find(hash, |&k| self.get_bytes(k) == id).copied()
    }

    /// A view of every string interned so far.
    pub(crate) fn view(&self) -> InternedView {
        let mut chunks = self.frozen.clone();
        if !self.open.ends.is_empty() {
            chunks.push(Arc::new(Chunk { text: self.open.text.clone(), ends: self.open.ends.clone() }));
        }
        InternedView { chunks }
    }

    /// Load every id of the given segments, in key order.
    pub(crate) fn load(segments: &[DictSegment]) -> Result<Interner> {
        let mut interner = Interner::default();
        for seg in segments {
            if seg.base != interner.len {
                return Err(Error::store(
                    &seg.path,
                    format!("segment starts at key {} but {} keys precede it", seg.base, interner.len),
                ));
            }
            for i in 0..seg.count {
                let id = std::str::from_utf8(seg.local(i as usize))
                    .map_err(|_| Error::store(&seg.path, "an id is not UTF-8"))?;
                let key = interner.intern(id);
                if key != seg.base + i {
                    return Err(Error::store(&seg.path, "an id appears in two dictionary segments"));
                }
            }
        }
        Ok(interner)
    }

    /// Write keys `base..len` as a segment file. Returns the number of ids written.
    pub(crate) fn write_segment(&self, base: u32, path: &Path) -> Result<u32> {
        let count = self.len - base;
        let mut offsets = Vec::with_capacity(count as usize + 1);
        let mut blob_len = 0u64;
        offsets.push(0);
        for k in base..self.len {
            blob_len += self.get_bytes(k).len() as u64;
            offsets.push(blob_len);
        }
        let mut sorted: Vec<u32> = (0..count).collect();
        sorted.sort_unstable_by(|&a, &b| self.get_bytes(base + a).cmp(self.get_bytes(base + b)));
        let file = File::create(path).map_err(Error::io(path))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let write = |w: &mut BufWriter<File>| -> std::io::Result<()> {
            w.write_all(MAGIC)?;
            w.write_all(&base.to_le_bytes())?;
            w.write_all(&count.to_le_bytes())?;
            w.write_all(&blob_len.to_le_bytes())?;
            write_u64s(w, &offsets)?;
            write_u32s(w, &sorted)?;
            for k in base..self.len {
                w.write_all(self.get_bytes(k))?;
            }
            w.flush()?;
            w.get_ref().sync_all()
        };
        write(&mut w).map_err(Error::io(path))?;
        Ok(count)
    }
}

/// One mapped dictionary segment.
#[derive(Debug)]
pub(crate) struct DictSegment {
    path: std::path::PathBuf,
    map: Mmap,
    base: u32,
    count: u32,
    offsets: U64s,
    sorted: U32s,
    blob: usize,
}

impl DictSegment {
    /// Map and validate a segment's header and section bounds. The ids themselves are checked
    /// when read (UTF-8), so opening costs the same whatever the dictionary's size.
    pub(crate) fn open(path: &Path, base: u32, count: u32) -> Result<DictSegment> {
        let map = map_file(path)?;
        let bad = |why: &str| Error::store(path, format!("damaged dictionary segment: {why}"));
        if map.get(..8) != Some(MAGIC.as_slice()) {
            return Err(bad("bad magic"));
        }
        let (b, c, blob_len) = (
            read_u32(&map, 8).ok_or_else(|| bad("short header"))?,
            read_u32(&map, 12).ok_or_else(|| bad("short header"))?,
            read_u64(&map, 16).ok_or_else(|| bad("short header"))? as usize,
        );
        if b != base || c != count {
            return Err(bad("header disagrees with the manifest"));
        }
        let off_end = HEADER + (count as usize + 1) * 8;
        let sorted_end = off_end + count as usize * 4;
        let offsets = U64s::new(map.len(), HEADER..off_end).ok_or_else(|| bad("truncated offsets"))?;
        let sorted = U32s::new(map.len(), off_end..sorted_end).ok_or_else(|| bad("truncated index"))?;
        if map.len() != sorted_end + blob_len || offsets.get(&map, count as usize) as usize != blob_len {
            return Err(bad("truncated ids"));
        }
        Ok(DictSegment { path: path.to_path_buf(), map, base, count, offsets, sorted, blob: sorted_end })
    }

    fn local(&self, i: usize) -> &[u8] {
        let (s, e) = (self.offsets.get(&self.map, i) as usize, self.offsets.get(&self.map, i + 1) as usize);
        &self.map[self.blob + s..self.blob + e]
    }

    fn find(&self, id: &[u8]) -> Option<u32> {
        let (mut lo, mut hi) = (0usize, self.count as usize);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let local = self.sorted.get(&self.map, mid);
            match self.local(local as usize).cmp(id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(self.base + local),
            }
        }
        None
    }
}

/// A read-only dictionary: all segments of one kind in a snapshot.
#[derive(Debug, Default)]
pub(crate) struct Dict {
    segments: Vec<DictSegment>,
}

impl Dict {
    pub(crate) fn new(segments: Vec<DictSegment>) -> Dict {
        Dict { segments }
    }
    #[cfg(test)]
    pub(crate) fn segments(&self) -> &[DictSegment] {
        &self.segments
    }
    /// Number of ids.
    pub(crate) fn len(&self) -> u32 {
        self.segments.last().map_or(0, |s| s.base + s.count)
    }
    /// Key of an id, if known.
    pub(crate) fn key(&self, id: &str) -> Option<u32> {
        self.segments.iter().find_map(|s| s.find(id.as_bytes()))
    }
    /// The id of a key (panics on a key not in the dictionary: keys come from the same snapshot).
    pub(crate) fn id(&self, key: u32) -> &str {
        let seg = self.segments.partition_point(|s| s.base + s.count <= key);
        let s = &self.segments[seg];
        // Written from UTF-8 ids; a damaged byte shows as U+FFFD instead of failing a trace.
        std::str::from_utf8(s.local((key - s.base) as usize)).unwrap_or("\u{FFFD}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_segments_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let mut it = Interner::default();
        let ids: Vec<String> = (0..200_000).map(|i| format!("09{:08}", (i * 7919) % 1_000_003)).collect();
        let keys: Vec<u32> = ids.iter().map(|s| it.intern(s)).collect();
        assert_eq!(it.intern(&ids[5]), keys[5]);
        let view = it.view();
        assert_eq!(view.get(keys[150_000]), ids[150_000]);
        let n1 = it.write_segment(0, &dir.path().join("a.dict")).unwrap();
        let extra = it.intern("QR-extra");
        let n2 = it.write_segment(n1, &dir.path().join("b.dict")).unwrap();
        assert_eq!(n2, 1);
        let dict = Dict::new(vec![
            DictSegment::open(&dir.path().join("a.dict"), 0, n1).unwrap(),
            DictSegment::open(&dir.path().join("b.dict"), n1, 1).unwrap(),
        ]);
        assert_eq!(dict.len(), it.len());
        for (s, &k) in ids.iter().zip(&keys).step_by(997) {
            assert_eq!(dict.key(s), Some(k));
            assert_eq!(dict.id(k), s);
        }
        assert_eq!(dict.key("QR-extra"), Some(extra));
        assert_eq!(dict.key("nobody"), None);
        let reloaded = Interner::load(dict.segments()).unwrap();
        assert_eq!(reloaded.get(ids[77].as_bytes()), Some(keys[77]));
    }

    #[test]
    fn damaged_segment_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut it = Interner::default();
        it.intern("a");
        it.intern("bb");
        let p = dir.path().join("a.dict");
        it.write_segment(0, &p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
        assert!(DictSegment::open(&p, 0, 2).is_err());
    }
}
