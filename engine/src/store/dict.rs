//! Dictionaries: original person and venue id strings ⇄ dense `u32` keys.
//!
//! Keys are assigned in first-seen order and never change, so each committed batch adds one
//! append-only *segment* per dictionary holding the ids it saw first. Readers map segments and
//! look ids up without loading them; ingest loads all segments into an in-memory [`Interner`].
//!
//! # Segment file (`dict/persons-b000007.dict`, version 3, little-endian)
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `TVDICT03` |
//! | 8..12 | `base`: key of the first id in this segment |
//! | 12..16 | `count` |
//! | 16..24 | `blob_len` |
//! | 24..28 | CRC-32 of bytes 0..32 with this field zeroed |
//! | 28..32 | CRC-32 of the page sums |
//! | 32.. | `offsets`: `u64 × (count + 1)`, byte offsets of each id in the blob |
//! | .. | `sorted`: `u32 × count`, local indexes ordered by id bytes (for lookups) |
//! | .. | the blob: the ids' UTF-8 bytes, concatenated in key order |
//! | .. | page sums: a CRC-32 per 512-byte page of bytes `32..` up to here (see `paged`) |
//!
//! Version 4 (`TVDICT04`) is version 3 for a segment whose ids all have the same length (phone
//! or citizen numbers, pseudonyms): it has no `offsets`, and id `i` is the `w` bytes at `i × w`
//! of the blob, `w = blob_len / count` (a blob that is not a whole number of ids, or several ids
//! of length 0, is a damaged segment). A writer chooses it whenever it applies; otherwise it
//! writes version 3.
//!
//! Version 2 (`TVDICT02`, version 3 with 4 KiB pages) and version 1 (`TVDICT01`, a 24-byte
//! header, no checksums) are still read. Every offset is bounds-checked when read and every page
//! checked when first read, so a damaged segment is an error naming it, never a panic or a
//! different id.
//!
//! # Why 512-byte pages
//! A trace reads one id per contact, at random: in version 3, 8 bytes of offsets and ~10 of
//! text, on two pages. With 4 KiB pages, checking them hashed 8 KiB per contact: at 100 M check-ins, a
//! 13,750-contact F0's whole process spent a seventh of its time in CRC-32. Pages of 512 bytes
//! hash an eighth of that, for a table of sums of 0.8 % of the segment instead of 0.1 %.
//!
//! # Why a version without offsets
//! With offsets, a first lookup of an id touches two places of the file far apart (its offsets,
//! then its bytes): two pages to fault in and check. Ids of one length need no offsets, and a
//! lookup touches one.

use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;
use rayon::prelude::*;

use super::bytes::{U32s, U64s, map_file_scattered, prefetch, read_u32, read_u64, will_read, write_u32s, write_u64s};
use super::idtable::{GROUP, IdTable};
use super::layout;
use super::manifest::DictSegmentInfo;
use super::paged::{self, PageSums, SumWriter, crc, pages};
use crate::error::{Error, Result};

const MAGIC_V1: &[u8; 8] = b"TVDICT01";
const MAGIC_V2: &[u8; 8] = b"TVDICT02";
const MAGIC: &[u8; 8] = b"TVDICT03";
/// Version 4: version 3 without offsets, every id of one length.
const MAGIC_FIXED: &[u8; 8] = b"TVDICT04";
/// Checksummed page of a version-3 segment (version 2: [`paged::PAGE`]).
const PAGE: usize = 512;
const HEADER_V1: usize = 24;
const HEADER: usize = 32;
const HEADER_CRC_AT: usize = 24;
const SUMS_CRC_AT: usize = 28;

/// Strings per arena chunk; a full chunk is frozen and shared, never copied again.
const CHUNK: usize = 1 << 16;

#[derive(Debug, Default, Clone)]
struct Chunk {
    /// Concatenated ids; a `String` so reads need no UTF-8 check (ids are checked on the way in).
    text: String,
    ends: Vec<u32>,
    /// The length of every id, while they all have one (phone and citizen numbers): an id's
    /// place is then its number times that, and reading it touches the text alone, where
    /// `ends` would cost a dependent cache miss first.
    width: Option<u32>,
}

impl Chunk {
    fn push(&mut self, id: &str) {
        let len = id.len() as u32;
        self.width = match self.width {
            Some(w) if w == len => Some(w),
            _ if self.ends.is_empty() => Some(len),
            _ => None,
        };
        self.text.push_str(id);
        self.ends.push(self.text.len() as u32);
    }

    fn span(&self, i: usize) -> Range<usize> {
        match self.width {
            Some(w) => i * w as usize..(i + 1) * w as usize,
            None => (if i == 0 { 0 } else { self.ends[i - 1] as usize })..self.ends[i] as usize,
        }
    }

    fn get_str(&self, i: usize) -> &str {
        &self.text[self.span(i)]
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

    /// Touch the text of each key's id (see [`prefetch`]): a part's person ids are in no order of
    /// key, and the misses of a run of bare loads overlap where those of [`get`](Self::get)
    /// between appends do not.
    pub(crate) fn prefetch(&self, keys: impl Iterator<Item = u32>) {
        prefetch(keys.filter_map(|key| {
            let (k, chunk) = (key as usize, self.chunks.get(key as usize / CHUNK)?);
            (k % CHUNK < chunk.ends.len()).then(|| (chunk.text.as_bytes(), chunk.span(k % CHUNK).end.saturating_sub(1)))
        }));
    }
}

/// Slot bytes of the person interner: a 16-byte slot, ids of up to 11 bytes (phone and citizen
/// numbers) kept in it. Millions of persons: the table's size is what this sets.
pub(crate) const PERSON_SLOT: usize = 12;
/// Slot bytes of the venue interner: a 32-byte slot, ids of up to 27 bytes kept in it. Venues
/// are few (a table of 80 k venues is 4 MiB), and every check-in looks one up.
pub(crate) const VENUE_SLOT: usize = 28;

/// The id of `key` in an interner's arena: its frozen chunks, then the open one.
fn arena_get<'a>(frozen: &'a [Arc<Chunk>], open: &'a Chunk, key: u32) -> &'a [u8] {
    let k = key as usize;
    match frozen.get(k / CHUNK) {
        Some(chunk) => chunk.get(k % CHUNK),
        None => open.get(k % CHUNK),
    }
}

/// An append-only string interner: the ingest-side dictionary.
#[derive(Debug, Default)]
pub(crate) struct Interner<const N: usize = PERSON_SLOT> {
    frozen: Vec<Arc<Chunk>>,
    open: Chunk,
    table: IdTable<N>,
    len: u32,
}

/// The interner of venue ids.
pub(crate) type VenueInterner = Interner<VENUE_SLOT>;

impl<const N: usize> Interner<N> {
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    fn get_bytes(&self, key: u32) -> &[u8] {
        arena_get(&self.frozen, &self.open, key)
    }

    /// Key of `id`, interning it if new.
    pub(crate) fn intern(&mut self, id: &str) -> u32 {
        let hash = self.table.hash(id.as_bytes());
        self.intern_hashed(id, hash)
    }

    fn intern_hashed(&mut self, id: &str, hash: u64) -> u32 {
        let Interner { frozen, open, table, len } = self;
        let (key, new) = table.get_or_insert(id.as_bytes(), hash, *len, |k| arena_get(frozen, open, k));
        if new {
            open.push(id);
            *len += 1;
            if open.ends.len() == CHUNK {
                frozen.push(Arc::new(std::mem::take(open)));
            }
        }
        key
    }

    /// Keys of `ids`, in order, interning the new ones: as [`intern`](Self::intern) one after
    /// another, with each group's table misses overlapping (see [`IdTable::touch`]).
    pub(crate) fn intern_all(&mut self, ids: &[&str]) -> Vec<u32> {
        let hashes: Vec<u64> = ids.iter().map(|id| self.table.hash(id.as_bytes())).collect();
        let mut keys = Vec::with_capacity(ids.len());
        let groups = ids.chunks(GROUP).zip(hashes.chunks(GROUP));
        let mut ahead = hashes.chunks(GROUP).skip(1);
        self.table.touch(&hashes[..hashes.len().min(GROUP)]);
        for (group, group_hashes) in groups {
            // The next group's slots load while this one is looked up.
            if let Some(next) = ahead.next() {
                self.table.touch(next);
            }
            for (id, &hash) in group.iter().zip(group_hashes) {
                keys.push(self.intern_hashed(id, hash));
            }
        }
        keys
    }

    /// Look up without interning.
    pub(crate) fn get(&self, id: &[u8]) -> Option<u32> {
        self.table.get(id, self.table.hash(id), |k| self.get_bytes(k))
    }

    /// A view of every string interned so far.
    pub(crate) fn view(&self) -> InternedView {
        let mut chunks = self.frozen.clone();
        if !self.open.ends.is_empty() {
            chunks.push(Arc::new(self.open.clone()));
        }
        InternedView { chunks }
    }

    /// Load every id of the given segments, in key order.
    pub(crate) fn load(segments: &[DictSegment]) -> Result<Interner<N>> {
        let ids = segments.iter().map(|s| s.count as usize).sum();
        let mut interner = Interner { table: IdTable::with_capacity(ids), ..Interner::default() };
        for seg in segments {
            will_read(&seg.map, 0..seg.map.len());
            if seg.base != interner.len {
                return Err(Error::store(
                    &seg.path,
                    format!("segment starts at key {} but {} keys precede it", seg.base, interner.len),
                ));
            }
            for i in 0..seg.count {
                let key = interner.intern(seg.local_str(i as usize)?);
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
        let len = |k: u32| self.get_bytes(k).len() as u64;
        let blob_len: u64 = (base..self.len).map(len).sum();
        // Ids of one length: version 4, whose lookups need no offsets.
        let fixed = count > 0 && (base..self.len).all(|k| len(k) == len(base));
        let offsets: Vec<u64> = if fixed {
            Vec::new()
        } else {
            let mut end = 0;
            std::iter::once(0)
                .chain((base..self.len).map(|k| {
                    end += len(k);
                    end
                }))
                .collect()
        };
        // Sorted by id bytes: by an 8-byte prefix first (in the array, no string fetched), the
        // ids only on a tie, in parallel.
        let mut keyed: Vec<(u64, u32)> = (0..count).map(|i| (id_prefix(self.get_bytes(base + i)), i)).collect();
        keyed.par_sort_unstable_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| self.get_bytes(base + a.1).cmp(self.get_bytes(base + b.1)))
        });
        let sorted: Vec<u32> = keyed.into_iter().map(|(_, i)| i).collect();
        let io = |e| Error::io(path)(e);
        let mut file = BufWriter::with_capacity(1 << 20, File::create(path).map_err(io)?);
        // The body streams through the page summer; the header goes in front at the end.
        file.write_all(&[0u8; HEADER]).map_err(io)?;
        let mut w = SumWriter::new(file, PAGE);
        let body = |w: &mut SumWriter<BufWriter<File>>| -> std::io::Result<()> {
            write_u64s(w, &offsets)?;
            write_u32s(w, &sorted)?;
            (base..self.len).try_for_each(|k| w.write_all(self.get_bytes(k)))
        };
        body(&mut w).map_err(io)?;
        let (sums, mut file) = w.finish();
        let mut sums_bytes = Vec::with_capacity(sums.len() * 4);
        write_u32s(&mut sums_bytes, &sums).map_err(io)?;
        let mut header = Vec::with_capacity(HEADER);
        header.extend_from_slice(if fixed { MAGIC_FIXED } else { MAGIC });
        header.extend_from_slice(&base.to_le_bytes());
        header.extend_from_slice(&count.to_le_bytes());
        header.extend_from_slice(&blob_len.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&crc(&sums_bytes).to_le_bytes());
        paged::seal_header(&mut header, HEADER_CRC_AT);
        let finish = |w: &mut BufWriter<File>| -> std::io::Result<()> {
            w.write_all(&sums_bytes)?;
            w.seek(std::io::SeekFrom::Start(0))?;
            w.write_all(&header)?;
            w.flush()?;
            w.get_ref().sync_all()
        };
        finish(&mut file).map_err(io)?;
        Ok(count)
    }
}

/// The first 8 bytes of `id` as a big-endian number, zero-padded: `id_prefix(a) < id_prefix(b)`
/// implies `a < b` as bytes, so a sort compares whole ids only when their prefixes are equal.
pub(crate) fn id_prefix(id: &[u8]) -> u64 {
    let mut p = [0u8; 8];
    let n = id.len().min(8);
    p[..n].copy_from_slice(&id[..n]);
    u64::from_be_bytes(p)
}

/// The magic and page size of a segment of versions 2 to 4, `None` for other bytes.
fn checksummed(map: &[u8]) -> Option<(&'static [u8; 8], usize)> {
    match map.get(..8)? {
        m if m == MAGIC => Some((MAGIC, PAGE)),
        m if m == MAGIC_FIXED => Some((MAGIC_FIXED, PAGE)),
        m if m == MAGIC_V2 => Some((MAGIC_V2, paged::PAGE)),
        _ => None,
    }
}

/// Where the body of a segment of versions 2 to 4 ends and its page sums begin, by its header;
/// `None` for a short header or counts that overflow.
fn body_end_of(bytes: &[u8]) -> Option<usize> {
    let count = read_u32(bytes, 12)? as usize;
    let blob_len = read_u64(bytes, 16)? as usize;
    let offsets = if bytes.get(..8)? == MAGIC_FIXED { 0 } else { count.checked_add(1)?.checked_mul(8)? };
    HEADER.checked_add(offsets)?.checked_add(count.checked_mul(4)?)?.checked_add(blob_len)
}

/// Recompute the checksums of a (damaged) segment of versions 2 to 4 in place, so that fuzzing
/// reaches the structural checks behind them. Does nothing to bytes too broken to locate the
/// sums.
pub(crate) fn reseal(bytes: &mut [u8]) {
    let Some((_, page)) = checksummed(bytes).filter(|_| bytes.len() >= HEADER) else { return };
    let Some(body_end) = body_end_of(bytes) else { return };
    let sums_len = pages(body_end.saturating_sub(HEADER), page) * 4;
    if body_end < HEADER || body_end.checked_add(sums_len) != Some(bytes.len()) {
        return;
    }
    paged::reseal(bytes, HEADER..body_end, page, SUMS_CRC_AT, HEADER, HEADER_CRC_AT);
}

/// A format-3 segment rewritten as format 2 (4 KiB pages): the same body, its sums computed
/// again. Nothing writes format 2 any more; tests and fuzz seeds of that reader start here.
/// `None` for bytes that are not a sound format-3 segment.
pub(crate) fn as_format_2(v3: &[u8]) -> Option<Vec<u8>> {
    if v3.get(..8)? != MAGIC {
        return None;
    }
    let body_end = body_end_of(v3)?;
    let mut v2 = v3.get(..body_end)?.to_vec();
    v2[..8].copy_from_slice(MAGIC_V2);
    v2.resize(body_end + pages(body_end - HEADER, paged::PAGE) * 4, 0);
    reseal(&mut v2);
    Some(v2)
}

/// Open the segments a manifest lists (`segs`) in the store at `dir`.
pub(crate) fn open_segments(dir: &Path, segs: &[DictSegmentInfo]) -> Result<Vec<DictSegment>> {
    segs.iter().map(|s| open_segment(dir, s)).collect()
}

/// Open the segment `s` of the store at `dir`.
pub(crate) fn open_segment(dir: &Path, s: &DictSegmentInfo) -> Result<DictSegment> {
    DictSegment::open(&layout::resolve(dir, &s.path), s.base, s.count)
}

/// One mapped dictionary segment. Its map and the pages checked so far are shared by the
/// snapshots that hold the same file.
#[derive(Debug, Clone)]
pub(crate) struct DictSegment {
    path: std::path::PathBuf,
    map: Arc<Mmap>,
    base: u32,
    count: u32,
    spans: Spans,
    sorted: U32s,
    blob: std::ops::Range<usize>,
    sums: Arc<PageSums>,
}

/// Where a segment's ids lie in its blob.
#[derive(Debug, Clone, Copy)]
enum Spans {
    /// Versions 1 to 3: `offsets[i]..offsets[i + 1]`.
    Offsets(U64s),
    /// Version 4: `i × w..(i + 1) × w`.
    Width(usize),
}

impl DictSegment {
    /// Map and check a segment's header and section bounds. Offsets, ids and pages are checked
    /// when read, so opening costs the same whatever the dictionary's size.
    pub(crate) fn open(path: &Path, base: u32, count: u32) -> Result<DictSegment> {
        DictSegment::from_map(path, map_file_scattered(path)?, base, count)
    }

    /// Whether both read one mapping of one file, with one record of the pages checked.
    #[cfg(test)]
    pub(crate) fn same_file(&self, other: &DictSegment) -> bool {
        Arc::ptr_eq(&self.map, &other.map) && Arc::ptr_eq(&self.sums, &other.sums)
    }

    /// [`DictSegment::open`] over bytes already mapped (`path` names them in errors).
    pub(crate) fn from_map(path: &Path, map: Mmap, base: u32, count: u32) -> Result<DictSegment> {
        let bad = |why: &str| Error::store(path, format!("damaged dictionary segment: {why}"));
        // Format 1 has no pages; anything else is a bad magic.
        let (newer, page) = checksummed(&map).unwrap_or((MAGIC, PAGE));
        let (header, v2) = paged::header(&map, (MAGIC_V1, newer), (HEADER_V1, HEADER), HEADER_CRC_AT).map_err(bad)?;
        let header_len = header.len();
        let (b, c, blob_len) = (
            read_u32(header, 8).ok_or_else(|| bad("short header"))?,
            read_u32(header, 12).ok_or_else(|| bad("short header"))?,
            read_u64(header, 16).ok_or_else(|| bad("short header"))? as usize,
        );
        if b != base || c != count {
            return Err(bad("header disagrees with the manifest"));
        }
        let fixed = newer == MAGIC_FIXED;
        let off_end = header_len + if fixed { 0 } else { (count as usize + 1) * 8 };
        let sorted_end = off_end + count as usize * 4;
        let body_end = sorted_end.checked_add(blob_len).ok_or_else(|| bad("blob length"))?;
        let sums_len = if v2 { pages(body_end - header_len, page) * 4 } else { 0 };
        if body_end.checked_add(sums_len) != Some(map.len()) {
            return Err(bad("file length disagrees with its header"));
        }
        let spans = if fixed {
            let width = blob_len.checked_div(count as usize).unwrap_or(0);
            if width * count as usize != blob_len {
                return Err(bad("a blob of ids of one length that is not a whole number of them"));
            }
            // Ids are distinct: only one can be empty.
            if width == 0 && count > 1 {
                return Err(bad(&format!("{count} ids of length 0")));
            }
            Spans::Width(width)
        } else {
            Spans::Offsets(U64s::new(map.len(), header_len..off_end).ok_or_else(|| bad("truncated offsets"))?)
        };
        let sorted = U32s::new(map.len(), off_end..sorted_end).ok_or_else(|| bad("truncated index"))?;
        let sums = if v2 {
            let table = U32s::new(map.len(), body_end..map.len()).ok_or_else(|| bad("page sums"))?;
            let table_crc = read_u32(header, SUMS_CRC_AT).ok_or_else(|| bad("short header"))?;
            PageSums::new(header_len..body_end, page, table, table_crc).ok_or_else(|| bad("page sums"))?
        } else {
            PageSums::none()
        };
        Ok(DictSegment {
            path: path.to_path_buf(),
            map: Arc::new(map),
            base,
            count,
            spans,
            sorted,
            blob: sorted_end..body_end,
            sums: Arc::new(sums),
        })
    }

    fn damaged(&self, why: impl std::fmt::Display) -> Error {
        Error::store(&self.path, format!("damaged dictionary segment: {why}"))
    }

    fn ensure(&self, range: std::ops::Range<usize>) -> Result<()> {
        self.sums.ensure(&self.map, range).map_err(|e| self.damaged(e))
    }

    /// The bytes of local id `i`, checked.
    fn local(&self, i: usize) -> Result<&[u8]> {
        let span = self.span(i)?;
        self.bytes(span)
    }

    /// Where the bytes of local id `i` lie in the map, its offsets checked.
    fn span(&self, i: usize) -> Result<Range<usize>> {
        let (s, e) = match self.spans {
            Spans::Width(_) if i >= self.count as usize => {
                return Err(self.damaged(format!("id {i} of {}", self.count)));
            }
            Spans::Width(w) => (i * w, (i + 1) * w),
            Spans::Offsets(offsets) => {
                self.ensure(offsets.bytes_of(i..i + 2))?;
                (offsets.get(&self.map, i) as usize, offsets.get(&self.map, i + 1) as usize)
            }
        };
        if s > e || e > self.blob.len() {
            return Err(self.damaged(format!("id {i} at bytes {s}..{e} of a {}-byte blob", self.blob.len())));
        }
        Ok(self.blob.start + s..self.blob.start + e)
    }

    /// The bytes at `span` (of [`DictSegment::span`]), checked.
    fn bytes(&self, span: Range<usize>) -> Result<&[u8]> {
        self.ensure(span.clone())?;
        Ok(&self.map[span])
    }

    /// Local id `i` as text.
    fn local_str(&self, i: usize) -> Result<&str> {
        self.text(i, self.local(i)?)
    }

    /// Bytes of local id `i` as text.
    fn text<'a>(&self, i: usize, bytes: &'a [u8]) -> Result<&'a str> {
        std::str::from_utf8(bytes).map_err(|_| self.damaged(format!("id {i} is not UTF-8")))
    }

    fn find(&self, id: &[u8]) -> Result<Option<u32>> {
        let (mut lo, mut hi) = (0usize, self.count as usize);
        while lo < hi {
            let mid = (lo + hi) / 2;
            self.ensure(self.sorted.bytes_of(mid..mid + 1))?;
            let local = self.sorted.get(&self.map, mid);
            if local >= self.count {
                return Err(self.damaged(format!("lookup entry {mid} names id {local} of {}", self.count)));
            }
            match self.local(local as usize)?.cmp(id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Some(self.base + local)),
            }
        }
        Ok(None)
    }

    /// Check the whole segment: every page, every offset, every id UTF-8 and the lookup order.
    pub(crate) fn verify(&self) -> Result<()> {
        will_read(&self.map, 0..self.map.len());
        self.sums.ensure_all(&self.map).map_err(|e| self.damaged(e))?;
        for i in 0..self.count as usize {
            self.local_str(i)?;
        }
        let mut prev: Option<&[u8]> = None;
        for i in 0..self.count as usize {
            let local = self.sorted.get(&self.map, i);
            if local >= self.count {
                return Err(self.damaged(format!("lookup entry {i} names id {local} of {}", self.count)));
            }
            let id = self.local(local as usize)?;
            if prev.is_some_and(|p| p >= id) {
                return Err(self.damaged("lookup entries out of order"));
            }
            prev = Some(id);
        }
        Ok(())
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
    /// Number of ids.
    pub(crate) fn len(&self) -> u32 {
        self.segments.last().map_or(0, |s| s.base + s.count)
    }
    /// Key of an id, if known.
    pub(crate) fn key(&self, id: &str) -> Result<Option<u32>> {
        for s in &self.segments {
            if let Some(k) = s.find(id.as_bytes())? {
                return Ok(Some(k));
            }
        }
        Ok(None)
    }
    /// The id of a key. A key beyond the dictionary can only come from a damaged file and is an
    /// error naming `from`, the file that held it.
    pub(crate) fn id(&self, key: u32, from: &dyn Fn() -> Error) -> Result<&str> {
        let seg = self.segments.partition_point(|s| s.base + s.count <= key);
        let Some(s) = self.segments.get(seg) else { return Err(from()) };
        s.local_str((key - s.base) as usize)
    }
    /// The ids of `keys`, in order, as [`Dict::id`] gives them; `from(key)` names the file of a
    /// key beyond the dictionary. Two passes over each block of keys, every key's offsets and
    /// then every key's bytes (one pass, the bytes, in a format-4 segment), so that the reads of
    /// different keys (each a cache and TLB miss in a large dictionary) are in flight together
    /// instead of one after the other. Blocks are small enough that the pages a pass touches are
    /// still in the TLB when it reads them.
    pub(crate) fn ids(&self, keys: &[u32], from: &dyn Fn(u32) -> Error) -> Result<Vec<&str>> {
        self.ids_as(keys, from, |id| id)
    }

    /// [`Dict::ids`], each id passed through `f` while its page is fresh (to copy it out: a copy
    /// made after the whole list was looked up misses the TLB again).
    pub(crate) fn ids_as<'a, T>(
        &'a self,
        keys: &[u32],
        from: &dyn Fn(u32) -> Error,
        f: impl Fn(&'a str) -> T,
    ) -> Result<Vec<T>> {
        const BLOCK: usize = 256;
        let mut out = Vec::with_capacity(keys.len());
        let mut locals = Vec::with_capacity(BLOCK.min(keys.len()));
        let mut spans = Vec::with_capacity(BLOCK.min(keys.len()));
        for block in keys.chunks(BLOCK) {
            locals.clear();
            for &key in block {
                let seg = self.segments.partition_point(|s| s.base + s.count <= key);
                let Some(s) = self.segments.get(seg) else { return Err(from(key)) };
                locals.push((seg, (key - s.base) as usize));
            }
            // Bare loads first, so the checked reads below find the lines cached.
            let map = |seg: usize| &self.segments[seg].map[..];
            prefetch(locals.iter().filter_map(|&(seg, i)| match self.segments[seg].spans {
                Spans::Offsets(offsets) => Some((map(seg), offsets.bytes_of(i..i + 1).start)),
                Spans::Width(_) => None,
            }));
            spans.clear();
            for &(seg, i) in &locals {
                spans.push(self.segments[seg].span(i)?);
            }
            prefetch(locals.iter().zip(&spans).map(|(&(seg, _), span)| (map(seg), span.start)));
            for (&(seg, i), span) in locals.iter().zip(&spans) {
                let s = &self.segments[seg];
                out.push(f(s.text(i, s.bytes(span.clone())?)?));
            }
        }
        Ok(out)
    }

    /// The segments, in key order.
    pub(crate) fn segments(&self) -> &[DictSegment] {
        &self.segments
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_find_ids_that_share_long_prefixes_or_differ_by_padding() {
        let dir = tempfile::tempdir().unwrap();
        let mut it: Interner = Interner::default();
        let mut ids: Vec<String> = (0..5_000).rev().map(|i| format!("QR-HNI-CG-{i}")).collect();
        ids.extend(["a", "a\0", "a\0b", "a\0\0\0\0\0\0\0\0", "ab", "b", "Đà Nẵng-1", "Đà Nẵng-10"].map(String::from));
        let keys: Vec<u32> = ids.iter().map(|s| it.intern(s)).collect();
        let n = it.write_segment(0, &dir.path().join("a.dict")).unwrap();
        let dict = Dict::new(vec![DictSegment::open(&dir.path().join("a.dict"), 0, n).unwrap()]);
        for (s, &k) in ids.iter().zip(&keys) {
            assert_eq!(dict.key(s).unwrap(), Some(k), "{s:?}");
        }
        assert_eq!(dict.key("a\0\0").unwrap(), None);
        dict.segments()[0].verify().unwrap();
    }

    #[test]
    fn venue_slots_keep_ids_up_to_their_size_and_fetch_longer_ones() {
        let mut it = VenueInterner::default();
        // Lengths around the 27 bytes a venue slot keeps, sharing their first 26 bytes.
        let ids: Vec<String> = (24..32)
            .flat_map(|n| ["a", "b"].map(|tail| format!("{}{tail}", &"QR-HNI-CG-0123456789abcdefghij"[..n - 1])))
            .collect();
        let keys: Vec<u32> = ids.iter().map(|s| it.intern(s)).collect();
        assert_eq!(keys, (0..ids.len() as u32).collect::<Vec<_>>());
        for (s, &k) in ids.iter().zip(&keys) {
            assert_eq!(it.intern(s), k, "{s:?}");
            assert_eq!(it.get(s.as_bytes()), Some(k), "{s:?}");
            assert_eq!(it.view().get(k), s);
        }
        assert_eq!(it.get(b"QR-HNI-CG-0123456789abcdefghi"), None);
    }

    /// Ids of one length are written without offsets (version 4), the others with them
    /// (version 3), and both read alike: lookups both ways, across segments of each version,
    /// the whole-segment check and a reload into an interner. A one-length segment whose blob is
    /// not a whole number of ids is refused.
    #[test]
    fn ids_of_one_length_need_no_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let mut it: Interner = Interner::default();
        let phones: Vec<String> = (0..5_000).map(|i| format!("09{:08}", (i * 7919) % 1_000_003)).collect();
        phones.iter().for_each(|p| _ = it.intern(p));
        let (a, b, c) = (dir.path().join("a.dict"), dir.path().join("b.dict"), dir.path().join("c.dict"));
        let n1 = it.write_segment(0, &a).unwrap();
        let mixed = ["QR-1", "QR-22", "Đà Nẵng"];
        mixed.iter().for_each(|m| _ = it.intern(m));
        let n2 = it.write_segment(n1, &b).unwrap();
        let one = it.intern("x");
        let n3 = it.write_segment(n1 + n2, &c).unwrap();
        let magic = |p: &Path| std::fs::read(p).unwrap()[..8].to_vec();
        assert_eq!((magic(&a), magic(&b), magic(&c)), (MAGIC_FIXED.to_vec(), MAGIC.to_vec(), MAGIC_FIXED.to_vec()));
        // Version 4 is smaller by the offsets: 8 bytes an id, and one more.
        let body = body_end_of(&std::fs::read(&a).unwrap()).unwrap();
        assert_eq!(body, HEADER + 5_000 * 4 + 5_000 * 10);
        let dict = Dict::new(vec![
            DictSegment::open(&a, 0, n1).unwrap(),
            DictSegment::open(&b, n1, n2).unwrap(),
            DictSegment::open(&c, n1 + n2, n3).unwrap(),
        ]);
        let none = || Error::Internal("beyond".into());
        let all: Vec<&str> = phones.iter().map(String::as_str).chain(mixed).chain(["x"]).collect();
        // The arena held ids of one length, then of others: each read back from both.
        let view = it.view();
        for (k, id) in all.iter().enumerate() {
            assert_eq!((view.get(k as u32), it.get(id.as_bytes())), (*id, Some(k as u32)));
        }
        let keys: Vec<u32> = (0..all.len() as u32).rev().collect();
        let got = dict.ids(&keys, &|_| none()).unwrap();
        assert_eq!(got, keys.iter().map(|&k| all[k as usize]).collect::<Vec<_>>());
        for (k, id) in all.iter().enumerate().step_by(7) {
            assert_eq!(dict.key(id).unwrap(), Some(k as u32), "{id}");
            assert_eq!(dict.id(k as u32, &none).unwrap(), *id);
        }
        assert_eq!(dict.key("0900000000x").unwrap(), None);
        assert_eq!(dict.key("x").unwrap(), Some(one));
        assert!(dict.id(it.len(), &none).is_err());
        dict.segments().iter().for_each(|s| s.verify().unwrap());
        let reloaded: Interner = Interner::load(dict.segments()).unwrap();
        assert_eq!(reloaded.get(phones[4_321].as_bytes()), Some(4_321));
        // Blobs that are not a whole number of ids, or ids of length 0, every checksum made
        // right again: refused.
        let good = std::fs::read(&a).unwrap();
        for (blob_len, why) in
            [(5_000 * 10 + 1, "not a whole number"), (5_000 * 10 - 1, "not a whole number"), (0, "ids of length 0")]
        {
            let mut bad = good[..HEADER + 5_000 * 4].to_vec();
            bad[16..24].copy_from_slice(&(blob_len as u64).to_le_bytes());
            bad.extend(std::iter::repeat_n(b'0', blob_len));
            bad.resize(bad.len() + pages(bad.len() - HEADER, PAGE) * 4, 0);
            reseal(&mut bad);
            std::fs::write(&a, &bad).unwrap();
            let err = DictSegment::open(&a, 0, n1).unwrap_err().to_string();
            assert!(err.contains(why) && err.contains("a.dict"), "{blob_len}: {err}");
        }
        // The same made sound again opens.
        std::fs::write(&a, &good).unwrap();
        DictSegment::open(&a, 0, n1).unwrap().verify().unwrap();
    }

    #[test]
    fn interner_segments_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let mut it: Interner = Interner::default();
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
        let none = || Error::Internal("key beyond the dictionary".into());
        for (s, &k) in ids.iter().zip(&keys).step_by(997) {
            assert_eq!(dict.key(s).unwrap(), Some(k));
            assert_eq!(dict.id(k, &none).unwrap(), s);
        }
        assert_eq!(dict.key("QR-extra").unwrap(), Some(extra));
        assert_eq!(dict.key("nobody").unwrap(), None);
        assert!(dict.id(it.len(), &none).is_err());
        for seg in dict.segments() {
            seg.verify().unwrap();
        }
        let reloaded: Interner = Interner::load(dict.segments()).unwrap();
        assert_eq!(reloaded.get(ids[77].as_bytes()), Some(keys[77]));
    }

    #[test]
    fn damaged_segment_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut it: Interner = Interner::default();
        it.intern("a");
        it.intern("bb");
        let p = dir.path().join("a.dict");
        it.write_segment(0, &p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
        assert!(DictSegment::open(&p, 0, 2).is_err());
    }

    /// Damage each byte of a segment in turn: lookups either fail with an error naming the file
    /// or give the undamaged answer; none panics.
    /// A format-2 segment (4 KiB pages) of many pages reads with its own page size, and a
    /// damaged byte on a later page is an error there. (The fixtures' format-2 segments are
    /// one page long.) Made from a format-3 one: the same body, sums of 4 KiB pages.
    #[test]
    fn a_format_2_segment_reads_and_checks_its_4_kib_pages() {
        let dir = tempfile::tempdir().unwrap();
        let mut it: Interner = Interner::default();
        // Of several lengths: a version-3 segment.
        let ids: Vec<String> = (0..3_000).map(|i| format!("QR-HNI-CG-{i}")).collect();
        for id in &ids {
            it.intern(id);
        }
        let p = dir.path().join("s.dict");
        let n = it.write_segment(0, &p).unwrap();
        let v3 = std::fs::read(&p).unwrap();
        assert_eq!(&v3[..8], MAGIC);
        let body_end = body_end_of(&v3).unwrap();
        assert!(body_end - HEADER > 3 * paged::PAGE);
        let v2 = as_format_2(&v3).unwrap();
        std::fs::write(&p, &v2).unwrap();
        let dict = Dict::new(vec![DictSegment::open(&p, 0, n).unwrap()]);
        let none = || Error::Internal("beyond".into());
        for (k, id) in ids.iter().enumerate().step_by(97) {
            assert_eq!((dict.key(id).unwrap(), dict.id(k as u32, &none).unwrap()), (Some(k as u32), id.as_str()));
        }
        dict.segments()[0].verify().unwrap();
        // The last id's text lies on the last page: damage it.
        let mut bad = v2.clone();
        bad[body_end - 3] ^= 0x10;
        std::fs::write(&p, &bad).unwrap();
        let dict = Dict::new(vec![DictSegment::open(&p, 0, n).unwrap()]);
        assert_eq!(dict.id(0, &none).unwrap(), ids[0], "the first page is intact");
        let err = dict.id(n - 1, &none).unwrap_err().to_string();
        assert!(err.contains("checksum mismatch") && err.contains("s.dict"), "{err}");
    }

    #[test]
    fn any_damaged_byte_is_an_error_never_a_panic_or_another_id() {
        // Ids of several lengths (version 3), then of one length (version 4, no offsets).
        any_damaged_byte_is_an_error(&["0901000001", "QR-HNI-BD-000001", "b", "", "Đà Nẵng", "0901000002"], MAGIC);
        any_damaged_byte_is_an_error(&["0901000001", "0901000002", "ĐàNẵng", "0987654321", "0900000000"], MAGIC_FIXED);
    }

    fn any_damaged_byte_is_an_error(ids: &[&str], magic: &[u8; 8]) {
        let dir = tempfile::tempdir().unwrap();
        let mut it: Interner = Interner::default();
        for id in ids {
            it.intern(id);
        }
        let p = dir.path().join("s.dict");
        it.write_segment(0, &p).unwrap();
        let good = std::fs::read(&p).unwrap();
        assert_eq!(&good[..8], magic);
        let n = ids.len() as u32;
        let answers = |seg: DictSegment| -> Result<Vec<String>> {
            let dict = Dict::new(vec![seg]);
            let none = || Error::Internal("beyond".into());
            let mut out = Vec::new();
            for (k, id) in ids.iter().enumerate() {
                out.push(format!("{:?} {}", dict.key(id)?, dict.id(k as u32, &none)?));
            }
            out.push(format!("{:?}", dict.key("nobody")?));
            dict.segments()[0].verify()?;
            Ok(out)
        };
        let want = answers(DictSegment::open(&p, 0, n).unwrap()).unwrap();
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x04;
            std::fs::write(&p, &bad).unwrap();
            match DictSegment::open(&p, 0, n).and_then(answers) {
                Ok(got) => panic!("byte {at}: damage went unnoticed (same answer: {})", got == want),
                Err(e) => assert!(matches!(e, Error::Store { .. }) && e.to_string().contains("s.dict"), "{e}"),
            }
        }
    }
}
