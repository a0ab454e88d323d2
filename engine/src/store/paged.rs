//! Page checksums: a CRC-32 per page of a file's body (4 KiB, or smaller where reads are
//! scattered: see [`PAGE`]), checked the first time a reader touches the page.
//!
//! The trace reads a few pages of each index and dictionary it visits, so checking whole files
//! at open would cost more than the trace itself; checking nothing lets a flipped bit change an
//! answer silently. Each reader instead calls [`PageSums::ensure`] on the byte range it is about
//! to read: pages not yet checked in this snapshot are hashed and compared once, and a mismatch
//! is an error naming the file. Whole files are hashed (BLAKE3) only by `verify`.
//!
//! CRC-32 (`crc32fast`, carry-less multiply where the CPU has it) rather than BLAKE3 here: it
//! detects the random damage it is for, and it is cheaper per page than the page fault that
//! brings the page in.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use super::bytes::{U32s, write_u32s};
use crate::error::{Error, Result};

/// Bytes per checksummed page of the trace index, the key sets and the format-2 dictionary
/// segments. A file whose readers touch a few bytes here and there (the dictionaries: one id
/// per contact) uses smaller pages, or a reader hashes kilobytes per id it reads.
pub(crate) const PAGE: usize = 4096;

/// Number of `page`-byte pages covering `len` bytes.
pub(crate) fn pages(len: usize, page: usize) -> usize {
    len.div_ceil(page)
}

/// CRC-32 of bytes.
pub(crate) fn crc(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// Write into `header` the CRC-32 of itself taken with its own 4 bytes at `crc_at` zeroed.
pub(crate) fn seal_header(header: &mut [u8], crc_at: usize) {
    header[crc_at..crc_at + 4].fill(0);
    let sum = crc(header);
    header[crc_at..crc_at + 4].copy_from_slice(&sum.to_le_bytes());
}

/// Recompute, in place, the page sums of `body` (stored right after it), their CRC at
/// `sums_crc_at` and the header's CRC at `header_crc_at` over `..header_len`: a damaged file made
/// self-consistent again, so that fuzzing reaches the structural checks behind the checksums.
/// Callers have checked the ranges lie within `bytes`.
pub(crate) fn reseal(
    bytes: &mut [u8],
    body: Range<usize>,
    page: usize,
    sums_crc_at: usize,
    header_len: usize,
    header_crc_at: usize,
) {
    let sums: Vec<u32> = bytes[body.clone()].chunks(page).map(crc).collect();
    let table = body.end..body.end + sums.len() * 4;
    for (slot, sum) in bytes[table.clone()].chunks_mut(4).zip(sums) {
        slot.copy_from_slice(&sum.to_le_bytes());
    }
    let table_crc = crc(&bytes[table]);
    bytes[sums_crc_at..sums_crc_at + 4].copy_from_slice(&table_crc.to_le_bytes());
    seal_header(&mut bytes[..header_len], header_crc_at);
}

/// The header of a versioned store file: `(header bytes, checksummed?)`. Headers after format 1
/// (magic `magics.1`) carry a CRC-32 of themselves (with its own 4 bytes at `crc_at` zeroed),
/// checked here; format 1 headers carry none.
pub(crate) fn header<'a>(
    map: &'a [u8],
    magics: (&[u8; 8], &[u8; 8]),
    lens: (usize, usize),
    crc_at: usize,
) -> Result<(&'a [u8], bool), &'static str> {
    let v2 = match map.get(..8) {
        Some(m) if m == magics.1 => true,
        Some(m) if m == magics.0 => false,
        _ => return Err("bad magic"),
    };
    let header = map.get(..if v2 { lens.1 } else { lens.0 }).ok_or("short header")?;
    if v2 {
        let mut sealed = header.to_vec();
        seal_header(&mut sealed, crc_at);
        if sealed != header {
            return Err("header checksum mismatch");
        }
    }
    Ok((header, v2))
}

/// A file of a header, 8-byte-aligned sections whose pages are summed, and then the page sums
/// (the index's and the day links' layout). The header goes last, over the zeros that kept its
/// place, once the sections' offsets and the sums are known.
pub(crate) struct SectionWriter {
    path: PathBuf,
    body: SumWriter<BufWriter<File>>,
    /// File offset of the next section.
    pos: u64,
}

impl SectionWriter {
    pub(crate) fn create(path: &Path, header_len: usize) -> Result<SectionWriter> {
        let file = File::create(path).map_err(Error::io(path))?;
        let mut file = BufWriter::with_capacity(1 << 20, file);
        file.write_all(&vec![0u8; header_len]).map_err(Error::io(path))?;
        Ok(SectionWriter { path: path.to_path_buf(), body: SumWriter::new(file, PAGE), pos: header_len as u64 })
    }

    /// Write a section, the bytes `write` puts in a buffer, zero-padded to a multiple of 8.
    /// Returns its file offset and its length unpadded.
    pub(crate) fn section(&mut self, write: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> Result<(u64, u64)> {
        let mut buf = Vec::new();
        write(&mut buf).map_err(Error::io(&self.path))?;
        let (at, len) = (self.pos, buf.len() as u64);
        buf.resize(buf.len().next_multiple_of(8), 0);
        self.body.write_all(&buf).map_err(Error::io(&self.path))?;
        self.pos += buf.len() as u64;
        Ok((at, len))
    }

    /// Write the page sums after the sections, then the header that `header` makes from the
    /// sums' offset and bytes, sealed with its CRC at `crc_at`; flush and `fsync`.
    pub(crate) fn finish(self, crc_at: usize, header: impl FnOnce(u64, &[u8]) -> Vec<u8>) -> Result<()> {
        let io = |e| Error::io(&self.path)(e);
        let (sums, mut file) = self.body.finish();
        let mut sums_bytes = Vec::with_capacity(sums.len() * 4);
        write_u32s(&mut sums_bytes, &sums).map_err(io)?;
        file.write_all(&sums_bytes).map_err(io)?;
        let mut header = header(self.pos, &sums_bytes);
        seal_header(&mut header, crc_at);
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(&header).map_err(io)?;
        file.flush().map_err(io)?;
        file.get_ref().sync_all().map_err(io)
    }
}

/// A writer that passes bytes through and records a CRC-32 per page of them.
pub(crate) struct SumWriter<W> {
    inner: W,
    page: crc32fast::Hasher,
    page_len: usize,
    in_page: usize,
    sums: Vec<u32>,
}

impl<W: Write> SumWriter<W> {
    /// Sums of pages of `page_len` bytes.
    pub(crate) fn new(inner: W, page_len: usize) -> SumWriter<W> {
        SumWriter { inner, page: crc32fast::Hasher::new(), page_len, in_page: 0, sums: Vec::new() }
    }

    /// The page sums of everything written (the last page may be short), and the writer.
    pub(crate) fn finish(mut self) -> (Vec<u32>, W) {
        if self.in_page > 0 {
            self.sums.push(self.page.finalize());
        }
        (self.sums, self.inner)
    }
}

impl<W: Write> Write for SumWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let take = rest.len().min(self.page_len - self.in_page);
            self.page.update(&rest[..take]);
            self.in_page += take;
            rest = &rest[take..];
            if self.in_page == self.page_len {
                let full = std::mem::replace(&mut self.page, crc32fast::Hasher::new());
                self.sums.push(full.finalize());
                self.in_page = 0;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The page sums of a mapped file's body `[body.start, body.end)`, with the pages checked so
/// far. Format-1 files carry no sums: [`PageSums::none`] checks nothing.
#[derive(Debug)]
pub(crate) struct PageSums {
    body: Range<usize>,
    page: usize,
    sums: Option<(U32s, u32)>,
    table_ok: OnceLock<Result<(), String>>,
    checked: Box<[AtomicU64]>,
}

impl PageSums {
    /// Sums stored at `sums` (one `u32` per `page` bytes of `body`), whose own CRC-32 is
    /// `table_crc` (checked on first use). `None` if the table's length does not fit the body.
    pub(crate) fn new(body: Range<usize>, page: usize, sums: U32s, table_crc: u32) -> Option<PageSums> {
        let n = pages(body.len(), page);
        (sums.len() == n).then(|| PageSums {
            body,
            page,
            sums: Some((sums, table_crc)),
            table_ok: OnceLock::new(),
            checked: (0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    /// No sums (a format-1 file).
    pub(crate) fn none() -> PageSums {
        PageSums { body: 0..0, page: PAGE, sums: None, table_ok: OnceLock::new(), checked: Box::new([]) }
    }

    /// Check every not-yet-checked page overlapping `range` (bytes of `map`).
    pub(crate) fn ensure(&self, map: &[u8], range: Range<usize>) -> Result<(), String> {
        let Some((sums, table_crc)) = self.sums else { return Ok(()) };
        if range.is_empty() {
            return Ok(());
        }
        self.table_ok
            .get_or_init(|| {
                let table = &map[sums.byte_range()];
                (crc(table) == table_crc).then_some(()).ok_or_else(|| "checksum mismatch in the page-sum table".into())
            })
            .clone()?;
        if range.start < self.body.start || range.end > self.body.end {
            return Err(format!("bytes {range:?} lie outside the checksummed body {:?}", self.body));
        }
        let first = (range.start - self.body.start) / self.page;
        let last = (range.end - 1 - self.body.start) / self.page;
        for p in first..=last {
            let (word, bit) = (&self.checked[p / 64], 1u64 << (p % 64));
            if word.load(Ordering::Relaxed) & bit != 0 {
                continue;
            }
            let start = self.body.start + p * self.page;
            let page = &map[start..(start + self.page).min(self.body.end)];
            if crc(page) != sums.get(map, p) {
                return Err(format!("checksum mismatch in bytes {}..{}", start, start + page.len()));
            }
            word.fetch_or(bit, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Whether there are sums to check.
    #[cfg(test)]
    pub(crate) fn is_some(&self) -> bool {
        self.sums.is_some()
    }

    /// Check every page (for `verify`).
    pub(crate) fn ensure_all(&self, map: &[u8]) -> Result<(), String> {
        self.ensure(map, self.body.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_follow_pages_and_catch_one_flipped_bit() {
        for page in [PAGE, 512] {
            sums_of_pages(page);
        }
    }

    fn sums_of_pages(page: usize) {
        let body: Vec<u8> = (0..3 * page + 100).map(|i| (i * 7 % 251) as u8).collect();
        let mut w = SumWriter::new(Vec::new(), page);
        // Odd-sized writes straddle page boundaries.
        for chunk in body.chunks(1000) {
            w.write_all(chunk).unwrap();
        }
        let (sums, out) = w.finish();
        assert_eq!(out, body);
        assert_eq!(sums.len(), 4);
        let mut file = vec![0u8; 8];
        file.extend_from_slice(&body);
        let sums_at = file.len();
        for s in &sums {
            file.extend_from_slice(&s.to_le_bytes());
        }
        let table = U32s::new(file.len(), sums_at..file.len()).unwrap();
        let table_crc = crc(&file[sums_at..]);
        let ps = PageSums::new(8..sums_at, page, table, table_crc).unwrap();
        ps.ensure_all(&file).unwrap();
        let mut bad = file.clone();
        bad[8 + 2 * page + 5] ^= 0x10;
        let fresh = PageSums::new(8..sums_at, page, table, table_crc).unwrap();
        fresh.ensure(&bad, 8..8 + 2 * page).expect("pages 0 and 1 are intact");
        let err = fresh.ensure(&bad, 8 + 2 * page..8 + 2 * page + 1).unwrap_err();
        assert!(err.contains("checksum mismatch"), "{err}");
        assert!(fresh.ensure(&bad, 0..4).is_err(), "the header is not part of the body");
        let mut bad_table = file.clone();
        bad_table[sums_at + 1] ^= 1;
        let err = PageSums::new(8..sums_at, page, table, table_crc).unwrap().ensure(&bad_table, 8..9).unwrap_err();
        assert!(err.contains("page-sum table"), "{err}");
    }
}
