//! The manifest: the complete list of files that make up one committed version of a store.
//!
//! Readers never list directories: what a snapshot contains is exactly what its manifest names.
//! A manifest is JSON (`manifests/m-0000000007.json`), written once and never changed; the
//! `CURRENT` file names the live one (see `txn`).
//!
//! Format 2 adds `checksums`: the size and BLAKE3 of every file the manifest names (files
//! carried over from a format-1 store have none). Format 3 adds pseudonymised person ids
//! (`pseudonyms`, and a re-identification segment beside each person segment); only a
//! pseudonymised store is written as format 3, so a clear store stays readable by builds that
//! know format 2, and a build that does not know pseudonyms refuses a store that has them.
//! Format 4 adds the cases register (`cases`, `case_batches`); a store is written as format 4
//! only once it has one, so that a build that would drop the register on its next commit
//! refuses the store instead. Format 5 adds day links (`links`, see `store::links`): each
//! check-in's next check-in by its person, kept per day by every commit that changes parts, so
//! a store is format 5 from its first check-ins on, and a build whose sweep would delete the
//! links files refuses it. Formats 1 to 4 are still read.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use super::carry::ScanCarry;
pub use super::links::DayLinks;
use crate::error::{Error, Result};
use crate::pseudonym::Pseudonyms;

/// The newest store format this build writes and reads: a store with day links.
pub const FORMAT_VERSION: u32 = 5;
/// The format of a store with a cases register and no day links.
pub const REGISTER_FORMAT: u32 = 4;
/// The format of a store with pseudonymised person ids and no cases register.
pub const PSEUDONYMISED_FORMAT: u32 = 3;
/// The format of a store with clear person ids.
pub const CLEAR_FORMAT: u32 = 2;
/// The oldest store format this build reads.
pub const OLDEST_READABLE: u32 = 1;

/// One committed version of the store.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// Store format version ([`FORMAT_VERSION`]).
    pub format: u32,
    /// Commit number: 0 for an empty store, then one per committed batch.
    pub version: u64,
    /// Ingest batches, oldest first.
    pub batches: Vec<BatchInfo>,
    /// Check-in parts (one day each), oldest batch first.
    pub parts: Vec<PartInfo>,
    /// Person dictionary segments, in key order.
    pub persons: Vec<DictSegmentInfo>,
    /// Venue dictionary segments, in key order.
    pub venues: Vec<DictSegmentInfo>,
    /// Parquet file with venue attributes (names, categories), if a venues file was ever given.
    pub venue_attrs: Option<String>,
    /// Retention policy: days kept by `purge` (`None`: everything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    /// Set when person ids are pseudonyms (format 3): the scheme and the key's fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pseudonyms: Option<Pseudonyms>,
    /// The cases register (format 4), if cases were ever imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cases: Option<String>,
    /// Commits that changed the cases register, oldest first (format 4).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub case_batches: Vec<CaseBatchInfo>,
    /// The scan pairing the last batch of raw scans left for the next one (`ingest --scans`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_carry: Option<ScanCarry>,
    /// Each day's links (format 5): its check-ins' next check-ins by the same person.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<DayLinks>,
    /// Size and BLAKE3 of each file named above, by relative path.
    #[serde(default)]
    pub checksums: BTreeMap<String, FileSum>,
}

/// A file's size and content hash, recorded at commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    /// Bytes.
    pub bytes: u64,
    /// BLAKE3 of the bytes, hex.
    pub blake3: String,
}

impl FileSum {
    /// Size and BLAKE3 of the file at `path`.
    pub fn of(path: &Path) -> Result<FileSum> {
        // Read, not mapped, so hashing a large file does not count it in resident memory.
        let file = std::fs::File::open(path).map_err(Error::io(path))?;
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(file).map_err(Error::io(path))?;
        let bytes = std::fs::metadata(path).map_err(Error::io(path))?.len();
        Ok(FileSum { bytes, blake3: hasher.finalize().to_hex().to_string() })
    }
}

/// One ingest batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchInfo {
    /// Batch number (= the manifest version that committed it).
    pub id: u64,
    /// Commit time, RFC 3339 UTC.
    pub committed_at: String,
    /// The input files, with their content hashes (duplicate detection).
    pub files: Vec<SourceFile>,
    /// Rows read from all files.
    pub rows_read: u64,
    /// Rows stored.
    pub rows_stored: u64,
    /// Rows quarantined.
    pub rows_rejected: u64,
    /// Quarantine file of this batch (relative path), if any row was rejected.
    pub quarantine: Option<String>,
    /// A batch of raw scans (`ingest --scans`): how they were paired. Its `rows_read` counts
    /// scans and `rows_stored` the stays made of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scans: Option<ScanCounts>,
}

/// What the pairing of a batch of raw scans did (`scans + resumed = 2 × paired + unpaired +
/// debounced + rejected`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanCounts {
    /// Scans read (valid or not).
    pub scans: u64,
    /// Stays made of two scans (an entry and an exit).
    pub paired: u64,
    /// Stays made of one scan (no check-out).
    pub unpaired: u64,
    /// Scans collapsed into an earlier one.
    pub debounced: u64,
    /// Scans quarantined (out of order included).
    pub rejected: u64,
    /// Stays the previous scan batch left open, taken over (their rows without check-out are
    /// replaced by what this batch makes of them).
    #[serde(default)]
    pub resumed: u64,
    /// Of the stays without check-out, those left open for the next scan batch to close.
    #[serde(default)]
    pub carried: u64,
}

/// One commit that changed the cases register: where its rows came from and what became of
/// them (`rows_read = added + updated + unchanged + rows_rejected`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CaseBatchInfo {
    /// Batch number (= the manifest version that committed it).
    pub id: u64,
    /// Commit time, RFC 3339 UTC.
    pub committed_at: String,
    /// `import`, `add` or `remove`.
    pub command: String,
    /// The input files (`import`), with their content hashes.
    pub files: Vec<SourceFile>,
    /// Case rows read.
    pub rows_read: u64,
    /// New cases.
    pub added: u64,
    /// Cases whose record changed.
    pub updated: u64,
    /// Rows identical to the registered case.
    pub unchanged: u64,
    /// Cases removed (`remove`).
    pub removed: u64,
    /// Rows quarantined.
    pub rows_rejected: u64,
    /// Quarantine file of this batch (relative path), if any row was rejected.
    pub quarantine: Option<String>,
}

/// One input file of a batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceFile {
    /// The path as given to ingest.
    pub path: String,
    /// BLAKE3 of the file's bytes, hex (keyed, in a pseudonymised store: see
    /// [`crate::pseudonym`]).
    pub blake3: String,
    /// Its size in bytes as hashed (absent from manifests written before 2026-11-28). An input
    /// of a size that no earlier one had cannot be a duplicate: it is hashed as it is read (a
    /// CSV) or once it has been (a Parquet file), not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Rows read from it.
    pub rows_read: u64,
    /// Rows rejected from it.
    pub rows_rejected: u64,
}

/// One Parquet part and its trace index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartInfo {
    /// Parquet file, relative to the store.
    pub path: String,
    /// Trace index sidecar, relative to the store.
    pub index: String,
    /// UTC day of every check-in in the part, as days since 1970-01-01.
    pub day: i64,
    /// Batch that wrote it.
    pub batch: u64,
    /// Row count.
    pub rows: u64,
    /// Earliest check-in (Unix seconds).
    pub min_check_in: i64,
    /// Latest check-in (Unix seconds).
    pub max_check_in: i64,
    /// Latest check-out (Unix seconds; `max_check_in` when none recorded).
    pub max_check_out: i64,
    /// Bytes of the Parquet file plus the sidecar.
    pub bytes: u64,
}

/// One dictionary segment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DictSegmentInfo {
    /// Segment file, relative to the store.
    pub path: String,
    /// First key.
    pub base: u32,
    /// Number of ids.
    pub count: u32,
    /// The sealed clear ids of this segment's persons (pseudonymised stores only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reid: Option<String>,
}

impl Manifest {
    /// Read and check a manifest file.
    pub fn read(path: &Path) -> Result<Manifest> {
        let bytes = std::fs::read(path).map_err(Error::io(path))?;
        let m: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| Error::store(path, format!("unreadable manifest: {e}")))?;
        if !(OLDEST_READABLE..=FORMAT_VERSION).contains(&m.format) {
            return Err(Error::store(
                path,
                format!(
                    "store format {} is not supported by this truyvet (reads formats {OLDEST_READABLE} to {FORMAT_VERSION})",
                    m.format
                ),
            ));
        }
        let sealed = m.persons.iter().filter(|s| s.reid.is_some()).count();
        let consistent = match &m.pseudonyms {
            Some(_) => m.format >= 3 && sealed == m.persons.len(),
            None => m.format != PSEUDONYMISED_FORMAT && sealed == 0,
        };
        if !consistent {
            return Err(Error::store(
                path,
                "damaged manifest: its format, pseudonyms and re-identification segments disagree",
            ));
        }
        if m.has_register() && m.format < REGISTER_FORMAT {
            return Err(Error::store(path, "damaged manifest: a cases register in a store of format below 4"));
        }
        if !m.links.is_empty() && m.format < FORMAT_VERSION {
            return Err(Error::store(path, "damaged manifest: day links in a store of format below 5"));
        }
        Ok(m)
    }

    /// The format this manifest is written as: the oldest that can express it.
    pub(crate) fn format_needed(&self) -> u32 {
        if !self.links.is_empty() {
            FORMAT_VERSION
        } else if self.has_register() {
            REGISTER_FORMAT
        } else if self.pseudonyms.is_some() {
            PSEUDONYMISED_FORMAT
        } else {
            CLEAR_FORMAT
        }
    }

    /// Whether the cases register was ever written.
    fn has_register(&self) -> bool {
        self.cases.is_some() || !self.case_batches.is_empty()
    }

    /// Whether any batch has read rows, and so may have stored or quarantined person ids.
    pub(crate) fn holds_person_ids(&self) -> bool {
        self.batches.iter().any(|b| b.rows_read > 0) || !self.persons.is_empty() || self.has_register()
    }

    /// Total stored rows.
    pub fn rows(&self) -> u64 {
        self.parts.iter().map(|p| p.rows).sum()
    }

    /// Number of distinct person ids.
    pub fn persons(&self) -> u64 {
        self.persons.iter().map(|s| u64::from(s.count)).sum()
    }

    /// Number of distinct venue ids seen in check-ins.
    pub fn venues(&self) -> u64 {
        self.venues.iter().map(|s| u64::from(s.count)).sum()
    }

    /// Distinct days covered, ascending.
    pub fn days(&self) -> Vec<i64> {
        let mut days: Vec<i64> = self.parts.iter().map(|p| p.day).collect();
        days.sort_unstable();
        days.dedup();
        days
    }

    /// Rows rejected over all batches.
    pub fn rejected(&self) -> u64 {
        self.batches.iter().map(|b| b.rows_rejected).sum()
    }

    /// Every file this manifest references (relative paths).
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.parts
            .iter()
            .flat_map(|p| [p.path.as_str(), p.index.as_str()])
            .chain(self.persons.iter().chain(&self.venues).map(|s| s.path.as_str()))
            .chain(self.persons.iter().filter_map(|s| s.reid.as_deref()))
            .chain(self.venue_attrs.as_deref())
            .chain(self.batches.iter().filter_map(|b| b.quarantine.as_deref()))
            .chain(self.cases.as_deref())
            .chain(self.case_batches.iter().filter_map(|b| b.quarantine.as_deref()))
            .chain(self.scan_carry.as_ref().map(|c| c.state.as_str()))
            .chain(self.links.iter().map(|l| l.path.as_str()))
    }
}
