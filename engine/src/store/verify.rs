//! `verify`: check every file the live manifest names, and report every problem found.
//!
//! # What is checked
//! - Quick (`--quick`): each file exists with the size the manifest recorded, and its header
//!   reads (magic, header checksum, section bounds of indexes and dictionaries; Parquet magic at
//!   both ends of parts and the venues file).
//! - Full (default): the quick checks, then each file's BLAKE3 against the manifest, then the
//!   contents of indexes (every page sum, bitmaps against postings, every posting in range) and
//!   dictionaries (every page sum, offset and id), the quarantine files' records, and the scan
//!   pairing carried to the next scan batch (its open stays against the rows of their parts).
//!
//! Files of a format-1 store have no recorded size or hash; they get the structural checks only
//! and are counted as `unhashed`. Files under the store's directories that no kept manifest
//! names (leftovers of an interrupted transaction, removed by the next one) are listed, not
//! counted as problems. Verify never stops at the first problem and never changes the store.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::dict::DictSegment;
use super::index::PartIndex;
use super::layout::{self, DIRS};
use super::manifest::{DayLinks, FileSum, Manifest, PartInfo, ScanCarry};
use super::reid::ReidSegment;
use super::{parquet, quarantine, txn};
use crate::error::{Error, Result};

/// The outcome of a verify.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The manifest version checked.
    pub version: u64,
    /// Whether only sizes and headers were checked.
    pub quick: bool,
    /// Files checked.
    pub files: u64,
    /// Bytes in them.
    pub bytes: u64,
    /// Files without a recorded size and hash (written by format 1): structure checked only.
    pub unhashed: u64,
    /// Every problem found, by file.
    pub problems: Vec<Problem>,
    /// Files no kept manifest names (leftovers the next write removes).
    pub unreferenced: Vec<String>,
}

/// One damaged or missing file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file, relative to the store.
    pub file: String,
    /// What is wrong.
    pub reason: String,
}

impl VerifyReport {
    /// Whether every file checked is intact.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What a file is, and what its structural check needs.
enum Kind {
    Part,
    Index {
        rows: u64,
        day: i64,
    },
    Dict {
        base: u32,
        count: u32,
    },
    Reid {
        count: u32,
    },
    Venues,
    Cases,
    Quarantine,
    /// A scan pairing carried to the next scan batch, and the parts of its open stays.
    ScanCarry(ScanCarry, Vec<PartInfo>),
    /// A day's links, and the store's parts (whose indexes they are recomputed from).
    Links(DayLinks, Vec<PartInfo>),
}

/// Verify the store at `dir` at its live version (`quick`: sizes and headers only).
pub fn verify(dir: &Path, quick: bool) -> Result<VerifyReport> {
    let manifest = txn::read_current(dir)?;
    let files = files_of(&manifest);
    let checked: Vec<(u64, bool, Option<Problem>)> = files
        .par_iter()
        .map(|(rel, kind)| {
            let path = layout::resolve(dir, rel);
            let sum = manifest.checksums.get(rel.as_str());
            let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let problem =
                check(dir, &path, kind, sum, quick).err().map(|e| Problem { file: rel.clone(), reason: reason(e) });
            (bytes, sum.is_none(), problem)
        })
        .collect();
    let named = txn::kept_files(dir, &manifest);
    Ok(VerifyReport {
        version: manifest.version,
        quick,
        files: files.len() as u64,
        bytes: checked.iter().map(|c| c.0).sum(),
        unhashed: checked.iter().filter(|c| c.1).count() as u64,
        problems: checked.into_iter().filter_map(|c| c.2).collect(),
        unreferenced: unreferenced(dir, &named),
    })
}

fn files_of(m: &Manifest) -> Vec<(String, Kind)> {
    let mut out = Vec::new();
    for p in &m.parts {
        out.push((p.path.clone(), Kind::Part));
        out.push((p.index.clone(), Kind::Index { rows: p.rows, day: p.day }));
    }
    for s in m.persons.iter().chain(&m.venues) {
        out.push((s.path.clone(), Kind::Dict { base: s.base, count: s.count }));
        if let Some(r) = &s.reid {
            out.push((r.clone(), Kind::Reid { count: s.count }));
        }
    }
    if let Some(v) = &m.venue_attrs {
        out.push((v.clone(), Kind::Venues));
    }
    if let Some(c) = &m.cases {
        out.push((c.clone(), Kind::Cases));
    }
    if let Some(c) = &m.scan_carry {
        let parts = m.parts.iter().filter(|p| c.holds(p)).cloned().collect();
        out.push((c.state.clone(), Kind::ScanCarry(c.clone(), parts)));
    }
    for l in &m.links {
        out.push((l.path.clone(), Kind::Links(l.clone(), m.parts.clone())));
    }
    let quarantines = m.batches.iter().map(|b| &b.quarantine).chain(m.case_batches.iter().map(|b| &b.quarantine));
    for q in quarantines.flatten() {
        out.push((q.clone(), Kind::Quarantine));
    }
    out
}

/// The message of an error without the path it names (the report names the file already).
fn reason(e: Error) -> String {
    match e {
        Error::Store { reason, .. } => reason,
        Error::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

fn check(dir: &Path, path: &Path, kind: &Kind, sum: Option<&FileSum>, quick: bool) -> Result<()> {
    let len = std::fs::metadata(path).map_err(Error::io(path))?.len();
    let bad = |why: String| Error::store(path, why);
    if let Some(s) = sum
        && s.bytes != len
    {
        return Err(bad(format!("{len} bytes, the manifest recorded {}", s.bytes)));
    }
    match kind {
        Kind::Part | Kind::Venues | Kind::Cases => parquet_magic(path)?,
        Kind::Index { rows, day } => {
            let idx = PartIndex::open(path, *rows, *day)?;
            if !quick {
                idx.verify()?;
            }
        }
        Kind::Dict { base, count } => {
            let seg = DictSegment::open(path, *base, *count)?;
            if !quick {
                seg.verify()?;
            }
        }
        Kind::Reid { count } => {
            let seg = ReidSegment::open(path, *count)?;
            if !quick {
                seg.verify()?;
            }
        }
        Kind::Links(l, parts) => super::links::check(dir, l, parts, quick)?,
        Kind::Quarantine | Kind::ScanCarry(..) => {}
    }
    if quick {
        return Ok(());
    }
    if let Some(s) = sum
        && FileSum::of(path)?.blake3 != s.blake3
    {
        return Err(bad("BLAKE3 differs from the manifest: the file changed after it was committed".into()));
    }
    match kind {
        Kind::Venues => parquet::read_venues(path, None).map(drop),
        Kind::Cases => super::cases::read(path, None).map(drop),
        Kind::Quarantine => quarantine::read(path).map(drop),
        Kind::ScanCarry(c, parts) => {
            c.check(&super::carry::read(path, None)?, parts).map_err(|why| bad(format!("scan pairing state: {why}")))
        }
        _ => Ok(()),
    }
}

/// A Parquet file starts and ends with `PAR1`.
fn parquet_magic(path: &Path) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).map_err(Error::io(path))?;
    let (mut head, mut tail) = ([0u8; 4], [0u8; 4]);
    let ok = f.read_exact(&mut head).is_ok()
        && f.seek(SeekFrom::End(-4)).is_ok()
        && f.read_exact(&mut tail).is_ok()
        && &head == b"PAR1"
        && &tail == b"PAR1";
    if ok { Ok(()) } else { Err(Error::store(path, "not a Parquet file (no PAR1 at both ends)")) }
}

fn unreferenced(dir: &Path, named: &HashSet<PathBuf>) -> Vec<String> {
    let mut out = Vec::new();
    for d in DIRS.iter().filter(|d| **d != "manifests") {
        for entry in walkdir::WalkDir::new(dir.join(d)).into_iter().flatten() {
            if entry.file_type().is_file() && !named.contains(entry.path()) {
                out.push(entry.path().strip_prefix(dir).unwrap_or(entry.path()).display().to_string());
            }
        }
    }
    out.sort();
    out
}
