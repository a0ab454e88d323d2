//! Little-endian fixed-width arrays inside a byte buffer (an mmap'd file): the one reader used by
//! the dictionary and index formats. Reads are bounds-checked slices, so a damaged file is an
//! error at open, never undefined behaviour.

use std::fs::File;
use std::io::Write;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use memmap2::Mmap;

use crate::error::{Error, Result};

/// A read-only memory map of a whole file (empty files get an empty buffer).
pub(crate) fn map_file(path: &Path) -> Result<Mmap> {
    let file = File::open(path).map_err(Error::io(path))?;
    // SAFETY: store files are written once under a unique name and never modified afterwards;
    // only a retention purge deletes them, which unlinks but does not truncate a mapped file.
    unsafe { Mmap::map(&file) }.map_err(Error::io(path))
}

/// Whether [`map_file_scattered`] advises random access ([`set_scattered_reads`]).
static SCATTERED: AtomicBool = AtomicBool::new(false);

/// Map the trace indexes and dictionaries of stores opened from now on for scattered reads:
/// a page fault maps the one page asked for, with no read-ahead and none of its neighbours.
///
/// For a process that traces one F0 and exits (`truyvet trace --f0`): it reads an F0's venues in
/// each index and one id per contact in the dictionary, and the neighbours the kernel maps by
/// default around each fault counted tens of unread KiB against the process per contact (at
/// 100 M, 190-290 MiB peak RSS for 20-40 MiB of heap). Not for processes that trace many F0s
/// or scan whole files (reports, batches, a server): with the files not in the page cache,
/// reading them page by page waits for one small read after another (a daily report at 100 M
/// took 12 s instead of 2 s from a cold cache). Whole-file readers call [`will_read`] first.
pub fn set_scattered_reads(on: bool) {
    SCATTERED.store(on, Ordering::Relaxed);
}

/// [`map_file`] for a trace index or a dictionary, advised per [`set_scattered_reads`]. The
/// advice is only advice: a refusal is ignored.
pub(crate) fn map_file_scattered(path: &Path) -> Result<Mmap> {
    let map = map_file(path)?;
    #[cfg(unix)]
    if SCATTERED.load(Ordering::Relaxed) {
        let _ = map.advise(memmap2::Advice::Random);
    }
    Ok(map)
}

/// Tell the kernel that bytes `range` of `map` are about to be read through (a scan of a whole
/// section or file): read them ahead despite a random-access advice ([`map_file_scattered`]).
pub(crate) fn will_read(map: &Mmap, range: Range<usize>) {
    #[cfg(unix)]
    if range.start < range.end && range.end <= map.len() {
        let _ = map.advise_range(memmap2::Advice::WillNeed, range.start, range.len());
    }
}

/// A read-only anonymous map holding a copy of `bytes` (fuzzing readers without files).
pub(crate) fn map_bytes(bytes: &[u8]) -> std::io::Result<Mmap> {
    let mut map = memmap2::MmapMut::map_anon(bytes.len().max(1))?;
    map[..bytes.len()].copy_from_slice(bytes);
    map.make_read_only()
}

/// A typed view of `len` little-endian `u32`s starting at byte `start` of a buffer.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct U32s {
    start: usize,
    len: usize,
}

impl U32s {
    pub(crate) fn new(buf_len: usize, range: Range<usize>) -> Option<U32s> {
        (range.end <= buf_len && range.len().is_multiple_of(4))
            .then_some(U32s { start: range.start, len: range.len() / 4 })
    }
    pub(crate) fn len(self) -> usize {
        self.len
    }
    /// Bytes of elements `items` (clamped to the array).
    pub(crate) fn bytes_of(self, items: Range<usize>) -> Range<usize> {
        let end = items.end.min(self.len);
        self.start + items.start.min(end) * 4..self.start + end * 4
    }
    /// All its bytes.
    pub(crate) fn byte_range(self) -> Range<usize> {
        self.start..self.start + self.len * 4
    }
    #[inline]
    pub(crate) fn get(self, buf: &[u8], i: usize) -> u32 {
        debug_assert!(i < self.len);
        let at = self.start + i * 4;
        u32::from_le_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
    }
}

/// A typed view of little-endian `u64`s.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct U64s {
    start: usize,
    len: usize,
}

impl U64s {
    pub(crate) fn new(buf_len: usize, range: Range<usize>) -> Option<U64s> {
        (range.end <= buf_len && range.len().is_multiple_of(8))
            .then_some(U64s { start: range.start, len: range.len() / 8 })
    }
    pub(crate) fn len(self) -> usize {
        self.len
    }
    /// Bytes of elements `items` (clamped to the array).
    pub(crate) fn bytes_of(self, items: Range<usize>) -> Range<usize> {
        let end = items.end.min(self.len);
        self.start + items.start.min(end) * 8..self.start + end * 8
    }
    #[inline]
    pub(crate) fn get(self, buf: &[u8], i: usize) -> u64 {
        debug_assert!(i < self.len);
        let at = self.start + i * 8;
        u64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
    }
}

/// Load, unchecked, the byte at each `(buffer, position)` and drop it: a loop of bare loads
/// ahead of a loop of checked reads of the same places keeps their cache misses in flight
/// together. Nothing loaded is used; a position beyond its buffer loads nothing.
pub(crate) fn prefetch<'a>(at: impl Iterator<Item = (&'a [u8], usize)>) {
    std::hint::black_box(at.fold(0u8, |acc, (buf, i)| acc ^ buf.get(i).copied().unwrap_or(0)));
}

/// Read a little-endian integer at a fixed header position.
pub(crate) fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

/// Read a little-endian `u64` at a fixed header position.
pub(crate) fn read_u64(buf: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(buf.get(at..at + 8)?.try_into().ok()?))
}

/// Write `u32`s little-endian.
pub(crate) fn write_u32s(w: &mut impl Write, values: &[u32]) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(values.len() * 4);
    for v in values {
        buf.extend_from_slice(&v.to_le_bytes());
    }
    w.write_all(&buf)
}

/// Write `u64`s little-endian.
pub(crate) fn write_u64s(w: &mut impl Write, values: &[u64]) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(values.len() * 8);
    for v in values {
        buf.extend_from_slice(&v.to_le_bytes());
    }
    w.write_all(&buf)
}
