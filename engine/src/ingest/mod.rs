//! Ingest: check-in files → validated, dictionary-encoded rows → one atomic store commit.
//!
//! # Algorithm
//! 1. Expand the inputs (files, directories) and hash each file (BLAKE3); a file whose contents
//!    an earlier batch (or an earlier argument) already brought is skipped and reported.
//! 2. Take the store's write lock and load its dictionaries into interners.
//! 3. Stream each file's rows (`source`), validate them (`validate`), intern the ids and buffer
//!    the visits; rejected rows are spilled to disk with file, line and reason (`rejects`).
//! 4. Every `flush_rows` visits, hand the buffer to a writer thread that sorts it and writes day
//!    parts with their trace indexes (`partition`) while parsing continues.
//! 5. Refuse the batch if the rejected share exceeds `max_reject_ratio` (nothing committed);
//!    otherwise write the new dictionary segments, venue attributes and quarantine file and
//!    commit them through one store transaction (`store::txn`).
//!
//! Invariant: for every batch of check-ins, `rows_read = rows_stored + rows_rejected`, per file and
//! in total; a batch of raw scans keeps the scan identity of `scans` (every scan read is rejected,
//! debounced or part of exactly one stored stay).
//!
//! With a pseudonymisation key (`Ingest::pseudonymise`), the reader replaces each person id by
//! its pseudonym before anything else sees it; new persons' clear ids are sealed into a
//! re-identification segment beside their dictionary segment, and rejected rows are sealed
//! before they are written to the quarantine (their spill holds byte ranges, never text).
//! A store is pseudonymised or clear from its first batch on: mixing is refused.
//!
//! With raw scans (`Ingest::scans`), step 3 pairs each valid scan into stays once its ids are
//! interned (`scans`), keyed by the person and venue keys, so pairing costs an integer-keyed
//! map probe per scan and stays never go through strings again.
//!
//! # Performance
//! Parsing and validation run on a reader thread, interning on a thread of its own, scan pairing
//! and buffering on the calling thread; sorting and Parquet encoding on the writer thread and
//! rayon. At 5 M persons both interning and pairing miss the cache on nearly every probe (each
//! table is hundreds of MB), so on one thread they made the serial stage of a scan ingest.
//! Memory is bounded by three buffers of `flush_rows` visits (one being written, one waiting for
//! the writer, one filling) plus the dictionaries (proportional to distinct ids, not to rows);
//! rejected rows are on disk, not in memory.

mod rejects;
pub mod scans;
pub(crate) mod source;
pub(crate) mod validate;
mod venues;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{SyncSender, sync_channel};

use rayon::prelude::*;
use serde::Serialize;

use self::rejects::Spill;
use self::scans::{Carry, Direction, Outcome, Paired, Pairer, State};
pub use self::scans::{ScanCounts, ScanOptions};
use self::source::RawRow;
pub use self::source::{FileKind, Inputs, expand};
pub use self::venues::read_venues_csv;
use crate::error::{Error, Result};
use crate::model::{Visit, col};
use crate::pseudonym::{Key, Pseudonyms};
use crate::store::carry::{self, CarriedScan, CarriedState, ScanCarry};
use crate::store::dict::{Interner, VenueInterner, open_segments};
use crate::store::manifest::{BatchInfo, DictSegmentInfo, SourceFile};
use crate::store::partition::{Flush, write_flush};
use crate::store::txn::{DictKind, Failpoint, Transaction};
use crate::store::{VenueInfo, layout, parquet as store_parquet, reid};
use crate::time::Tz;

/// Progress callback: `(input bytes consumed, input bytes in total)`.
pub type ProgressFn = dyn Fn(u64, u64) + Send + Sync;

/// An ingest of check-in files into a store (created on first use).
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let input = dir.path().join("scans.csv");
/// # std::fs::write(&input, "person_id,venue_id,check_in,check_out\nP1,V1,2021-08-01T08:00:00+07:00,\n")?;
/// let report = truyvet::Ingest::new(dir.path().join("store"))
///     .tz(truyvet::Tz::parse("+07:00")?)
///     .run(&[input])?;
/// assert_eq!((report.rows_read, report.rows_stored, report.rows_rejected), (1, 1, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Ingest {
    store: PathBuf,
    tz: Tz,
    venues: Option<PathBuf>,
    max_reject_ratio: f64,
    flush_rows: usize,
    parallel: bool,
    failpoint: Option<Failpoint>,
    progress: Option<Arc<ProgressFn>>,
    key: Option<Arc<Key>>,
    scans: Option<ScanOptions>,
}

/// What happened to one input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileOutcome {
    /// Read into this batch.
    Ingested,
    /// Same contents as a file of an earlier batch (or an earlier argument): skipped.
    Duplicate {
        /// The batch holding it (`None`: an earlier argument of this ingest).
        batch: Option<u64>,
        /// The path it was ingested under.
        original: String,
    },
}

/// Per-file counts.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The input path.
    pub path: PathBuf,
    /// Ingested or skipped.
    pub outcome: FileOutcome,
    /// Rows read.
    pub rows_read: u64,
    /// Rows rejected.
    pub rows_rejected: u64,
}

/// The outcome of an ingest.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    /// The committed batch, or `None` when there was nothing new to commit.
    pub batch: Option<u64>,
    /// Rows read.
    pub rows_read: u64,
    /// Rows stored.
    pub rows_stored: u64,
    /// Rows quarantined.
    pub rows_rejected: u64,
    /// Per input file.
    pub files: Vec<FileReport>,
    /// The quarantine file, if rows were rejected.
    pub quarantine: Option<PathBuf>,
    /// Parts written.
    pub parts: usize,
    /// Venues with attributes loaded from `--venues`.
    pub venues_loaded: usize,
    /// The first few rejected rows.
    pub sample_rejects: Vec<String>,
    /// What the walk of input directories skipped, each said once (a symbolic-link loop).
    pub warnings: Vec<String>,
    /// With raw scans ([`Ingest::scans`]): how they were paired. `rows_read` then counts scans
    /// and `rows_stored` the stays made of them.
    pub scans: Option<ScanCounts>,
}

/// Clear ids of the persons new in a pseudonymised batch, in key order: one buffer and its end
/// offsets, so memory per new person is its id plus 8 bytes.
#[derive(Default)]
struct NewClear {
    text: String,
    ends: Vec<usize>,
}

/// The pairing key of a person at a venue.
fn pair_key(person: u32, venue: u32) -> u64 {
    (u64::from(person) << 32) | u64::from(venue)
}

/// The person and venue of a pairing key.
fn split_key(key: u64) -> (u32, u32) {
    ((key >> 32) as u32, key as u32)
}

/// The batch's dictionaries: written by the interning stage, read by the encoding stage when it
/// hands a buffer to the part writer (views as of then hold every key the buffer names).
struct Dicts {
    persons: Interner,
    venues: VenueInterner,
    new_clear: NewClear,
}

impl Dicts {
    /// The keys of every valid row of `chunk`, in row order (`(0, 0)` for a rejected row); a
    /// new person's clear id kept.
    fn chunk_keys(&mut self, chunk: &ParsedChunk) -> Vec<(u32, u32)> {
        let valid: Vec<&Ids> = chunk
            .rows
            .iter()
            .filter_map(|row| match row {
                ParsedRow::Valid { ids, .. } | ParsedRow::Scan { ids, .. } => Some(ids),
                ParsedRow::Rejected { .. } => None,
            })
            .collect();
        let text = |(start, end): (u32, u32)| &chunk.ids[start as usize..end as usize];
        let known = self.persons.len();
        let persons = self.persons.intern_all(&valid.iter().map(|ids| text(ids.person)).collect::<Vec<_>>());
        let venues = self.venues.intern_all(&valid.iter().map(|ids| text(ids.venue)).collect::<Vec<_>>());
        // New keys are given in row order: a row names a new person when its key is the next.
        let mut next = known;
        for (ids, &person) in valid.iter().zip(&persons) {
            if person == next {
                next += 1;
                if let Some(clear) = ids.clear {
                    self.new_clear.text.push_str(text(clear));
                    self.new_clear.ends.push(self.new_clear.text.len());
                }
            }
        }
        let mut keys = persons.into_iter().zip(venues);
        chunk
            .rows
            .iter()
            .map(|row| match row {
                ParsedRow::Valid { .. } | ParsedRow::Scan { .. } => keys.next().expect("a key pair per valid row"),
                ParsedRow::Rejected { .. } => (0, 0),
            })
            .collect()
    }
}

/// The encoding stage: buffers visits (paired from scans, or as read), hands full buffers to
/// the part writer.
struct Encoder<'d> {
    dicts: &'d Mutex<Dicts>,
    buf: Vec<Visit>,
    /// Open stays carried to the next scan batch: written to parts of their own.
    carried: Vec<Visit>,
    flush_rows: usize,
    seq: u32,
    rows_stored: u64,
}

/// The part writer stopped (its error is what the ingest reports).
struct WriterGone;

impl Encoder<'_> {
    /// Store a visit (`carried`: an open stay carried to the next scan batch).
    fn push(&mut self, visit: Visit, carried: bool, tx: &SyncSender<(Flush, bool)>) -> Result<(), WriterGone> {
        self.rows_stored += 1;
        if carried {
            self.carried.push(visit);
            return Ok(());
        }
        self.buf.push(visit);
        if self.buf.len() < self.flush_rows {
            return Ok(());
        }
        let rows = std::mem::replace(&mut self.buf, Vec::with_capacity(self.flush_rows.min(1 << 20)));
        self.send(rows, false, tx)
    }

    /// Store the stays the pairing made.
    fn push_stays(&mut self, made: &mut Vec<Paired<u64>>, tx: &SyncSender<(Flush, bool)>) -> Result<(), WriterGone> {
        for stay in made.drain(..) {
            let (person, venue) = split_key(stay.key);
            self.push(Visit { venue, check_in: stay.check_in, person, check_out: stay.check_out }, stay.carried, tx)?;
        }
        Ok(())
    }

    fn send(&mut self, rows: Vec<Visit>, carried: bool, tx: &SyncSender<(Flush, bool)>) -> Result<(), WriterGone> {
        let (persons, venues) = {
            let dicts = self.dicts.lock().unwrap_or_else(|e| e.into_inner());
            (dicts.persons.view(), dicts.venues.view())
        };
        let flush = Flush { rows, persons, venues, seq: self.seq };
        self.seq += 1;
        tx.send((flush, carried)).map_err(|_| WriterGone)
    }

    /// Send what is buffered: the last visits, then the carried stays.
    fn finish(&mut self, tx: &SyncSender<(Flush, bool)>) -> Result<(), WriterGone> {
        for carried in [false, true] {
            let rows = std::mem::take(if carried { &mut self.carried } else { &mut self.buf });
            if !rows.is_empty() {
                self.send(rows, carried, tx)?;
            }
        }
        Ok(())
    }
}

/// What the pipeline leaves for the commit.
struct Pipeline {
    parts: usize,
    rows_read: u64,
    rows_stored: u64,
    spill: Spill,
    scans: Option<ScanCounts>,
}

impl Ingest {
    /// An ingest into the store at `store`, with the defaults: UTC, 1% reject limit.
    pub fn new(store: impl AsRef<Path>) -> Ingest {
        Ingest {
            store: store.as_ref().to_path_buf(),
            tz: Tz::UTC,
            venues: None,
            max_reject_ratio: 0.01,
            flush_rows: 4 << 20,
            parallel: true,
            failpoint: None,
            progress: None,
            key: None,
            scans: None,
        }
    }

    /// Read the files as raw scan logs (`person_id, venue_id, scanned_at[, direction]`) and pair
    /// them into stays ([`ScanOptions`]; the pairing rules are in the `ingest::scans` docs).
    pub fn scans(mut self, options: ScanOptions) -> Ingest {
        self.scans = Some(options);
        self
    }

    /// Offset used for timestamps without one.
    pub fn tz(mut self, tz: Tz) -> Ingest {
        self.tz = tz;
        self
    }

    /// A venues file (`venue_id,name,category,province,district,lat,lon`).
    pub fn venues(mut self, path: impl AsRef<Path>) -> Ingest {
        self.venues = Some(path.as_ref().to_path_buf());
        self
    }

    /// Largest rejected share accepted (default 0.01); above it nothing is committed.
    pub fn max_reject_ratio(mut self, ratio: f64) -> Ingest {
        self.max_reject_ratio = ratio;
        self
    }

    /// Visits buffered before a sort-and-write (default 4 Mi, 128 MiB; bounds memory).
    pub fn flush_rows(mut self, rows: usize) -> Ingest {
        self.flush_rows = rows.max(1);
        self
    }

    /// Use rayon for sorting and writing (default); `false` runs single-threaded. The store's
    /// contents do not depend on it.
    pub fn parallel(mut self, parallel: bool) -> Ingest {
        self.parallel = parallel;
        self
    }

    /// Replace person ids by keyed pseudonyms before anything reaches the store (see
    /// [`crate::pseudonym`]). A store is pseudonymised by its first batch with rows and must then
    /// always be given the same key; a store of clear ids refuses a key.
    pub fn pseudonymise(mut self, key: Key) -> Ingest {
        self.key = Some(Arc::new(key));
        self
    }

    /// Called as input is consumed.
    pub fn progress(mut self, f: impl Fn(u64, u64) + Send + Sync + 'static) -> Ingest {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Make the commit fail at a protocol step (crash-consistency tests).
    #[doc(hidden)]
    pub fn failpoint(mut self, at: Failpoint) -> Ingest {
        self.failpoint = Some(at);
        self
    }

    /// Run the ingest.
    pub fn run(&self, paths: &[PathBuf]) -> Result<IngestReport> {
        let _span = tracing::info_span!("ingest", store = %self.store.display(), inputs = paths.len()).entered();
        let source::Inputs { files, warnings } = source::expand(paths)?;
        let venues_in = self.venues.as_deref().map(read_venues_csv).transpose()?;
        let mut txn = Transaction::begin(&self.store)?;
        txn.failpoint(self.failpoint);
        let base = txn.base().clone();

        let key = self.key.as_deref();
        let sized = || -> Result<(Vec<u64>, Vec<Option<Hashed>>)> {
            let sizes: Vec<u64> =
                files.iter().map(|f| Ok(std::fs::metadata(f).map_err(Error::io(f))?.len())).collect::<Result<_>>()?;
            let first = hash_first(&sizes, &base);
            let hashes = files.par_iter().zip(&first).map(|(f, &first)| first.then(|| hash_file(f, key)).transpose());
            Ok((sizes, hashes.collect::<Result<_>>()?))
        };
        let (sizes, mut hashes) = match sized() {
            Ok(h) => h,
            Err(e) => {
                txn.abort();
                return Err(e);
            }
        };
        let mut known: HashMap<&str, (Option<u64>, String)> = HashMap::new();
        for b in &base.batches {
            for f in &b.files {
                known.insert(f.blake3.as_str(), (Some(b.id), f.path.clone()));
            }
        }
        let mut reports = Vec::with_capacity(files.len());
        let mut todo = Vec::new();
        for (i, (path, hash)) in files.iter().zip(&hashes).enumerate() {
            // A file not hashed yet has a size no other input has: it is no duplicate.
            let seen = hash.as_ref().and_then(|h| known.get(h.blake3.as_str()));
            let outcome = match seen {
                Some((batch, original)) => FileOutcome::Duplicate { batch: *batch, original: original.clone() },
                None => {
                    if let Some(h) = hash {
                        known.insert(&h.blake3, (None, path.display().to_string()));
                    }
                    todo.push(i);
                    FileOutcome::Ingested
                }
            };
            reports.push(FileReport { path: path.clone(), outcome, rows_read: 0, rows_rejected: 0 });
        }
        // Only a batch that reads rows carries person ids: a venues file goes into any store.
        if !todo.is_empty() {
            if let Err(e) = check_key(&self.store, &base, key) {
                txn.abort();
                return Err(e);
            }
            if let Some(key) = key
                && base.pseudonyms.is_none()
            {
                txn.set_pseudonyms(key.pseudonyms());
            }
        }
        if todo.is_empty() && venues_in.is_none() {
            return Ok(IngestReport {
                batch: None,
                rows_read: 0,
                rows_stored: 0,
                rows_rejected: 0,
                files: reports,
                quarantine: None,
                parts: 0,
                venues_loaded: 0,
                sample_rejects: Vec::new(),
                warnings,
                scans: None,
            });
        }
        match self.pipeline(&mut txn, &files, &sizes, &todo, &hashes, &mut reports) {
            Ok((outcome, hashed)) => {
                for (i, h) in hashed {
                    // Its size is why it was not hashed first: one that changed since could now
                    // repeat another input.
                    if h.bytes != sizes[i] {
                        txn.abort();
                        let why = format!(
                            "changed while it was read ({} bytes, then {}): ingest it again",
                            sizes[i], h.bytes
                        );
                        return Err(Error::bad_input(&files[i], why));
                    }
                    hashes[i] = Some(h);
                }
                self.commit(txn, outcome, venues_in, &files, &hashes, &todo, reports, warnings)
            }
            Err(e) => {
                txn.abort();
                Err(e)
            }
        }
    }

    /// Parse, validate, encode and write the parts of the files `todo`; rejected rows go to a
    /// spill. Nothing is committed here. Beside what the commit needs, the hashes of the files
    /// hashed as they were read, by file, for the caller to check against their sizes.
    fn pipeline(
        &self,
        txn: &mut Transaction,
        files: &[PathBuf],
        sizes: &[u64],
        todo: &[usize],
        hashes: &[Option<Hashed>],
        reports: &mut [FileReport],
    ) -> Result<(Pipeline, Vec<(usize, Hashed)>)> {
        let base = txn.base();
        let batch = txn.id();
        let persons = Interner::load(&open_segments(&self.store, &base.persons)?)?;
        let venues = Interner::load(&open_segments(&self.store, &base.venues)?)?;
        let (persons_base, venues_base) = (persons.len(), venues.len());

        let total_bytes: u64 = todo.iter().map(|&i| sizes[i]).sum();
        let counter = Arc::new(AtomicU64::new(0));
        let mut spill = Spill::create(layout::resolve(&self.store, &layout::reject_spill(batch)))?;
        let dicts = Dicts { persons, venues, new_clear: NewClear::default() };
        let mut pairer = match self.scans {
            Some(options) => Some(self.resume_pairing(txn, options, &dicts)?),
            None => None,
        };
        let dicts_lock = Mutex::new(dicts);
        let mut enc = Encoder {
            dicts: &dicts_lock,
            buf: Vec::with_capacity(self.flush_rows.min(1 << 20)),
            carried: Vec::new(),
            flush_rows: self.flush_rows,
            seq: 0,
            rows_stored: 0,
        };
        let mut rows_read = 0u64;
        let allowed = |read: u64| (read as f64 * self.max_reject_ratio).floor() as u64;

        let (parts, carried_parts, carry_out, hashed) = std::thread::scope(|s| -> Result<_> {
            // Four stages: a reader thread parses and validates, an interning thread finds the
            // rows' keys, this thread pairs scans and buffers, a writer thread sorts and writes
            // parts.
            let (chunk_tx, chunk_rx) = sync_channel::<Result<ParsedChunk>>(4);
            let (keyed_tx, keyed_rx) = sync_channel::<Result<(ParsedChunk, Vec<(u32, u32)>)>>(4);
            // A flush of carried open stays (`true`) is written to parts of its own. One full
            // buffer may wait for the writer while the next fills: a rendezvous instead (two
            // buffers, not three) saved 125 MB of peak RSS at 100 M and cost 5 % of the time.
            let (flush_tx, flush_rx) = sync_channel::<(Flush, bool)>(1);
            let dir = self.store.clone();
            let parallel = self.parallel;
            let flusher = s.spawn(move || -> Result<(Vec<_>, Vec<_>)> {
                let (mut parts, mut carried) = (Vec::new(), Vec::new());
                for (flush, is_carried) in flush_rx {
                    let written = write_flush(&dir, batch, flush, parallel)?;
                    if is_carried {
                        carried.extend(written.iter().map(|p| p.path.clone()));
                    }
                    parts.extend(written);
                }
                Ok((parts, carried))
            });
            let (counter, tz) = (counter.clone(), self.tz);
            let progress = self.progress.clone();
            let key = self.key.as_deref();
            let scans = self.scans.is_some();
            let reader = s.spawn(move || {
                let reader = Reader { files, tz, key, counter, total_bytes, progress: progress.as_deref(), scans };
                reader.run(todo, hashes, &chunk_tx)
            });
            let dicts = &dicts_lock;
            s.spawn(move || {
                for chunk in chunk_rx {
                    let keyed = chunk.map(|c| {
                        let keys = dicts.lock().unwrap_or_else(|e| e.into_inner()).chunk_keys(&c);
                        (c, keys)
                    });
                    if keyed_tx.send(keyed).is_err() {
                        break;
                    }
                }
            });

            let mut made: Vec<Paired<u64>> = Vec::new();
            let mut writer_gone = false;
            let mut stopped_early = None;
            let mut failed = None;
            'chunks: for chunk in keyed_rx {
                let (chunk, keys) = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                };
                let report = &mut reports[chunk.file];
                for (row, &(person, venue)) in chunk.rows.iter().zip(&keys) {
                    rows_read += 1;
                    report.rows_read += 1;
                    if let Err(e) = spill.next_row_at(row.byte()) {
                        failed = Some(e);
                        break 'chunks;
                    }
                    let refused = match row {
                        ParsedRow::Valid { check_in, check_out, .. } => {
                            let visit = Visit { venue, check_in: *check_in, person, check_out: *check_out };
                            writer_gone = enc.push(visit, false, &flush_tx).is_err();
                            None
                        }
                        ParsedRow::Scan { line, ids, at, direction, .. } => {
                            let pairer = pairer.as_mut().expect("scans are read with a pairer");
                            let outcome = pairer.scan(&pair_key(person, venue), *at, *direction, &mut made);
                            writer_gone = enc.push_stays(&mut made, &flush_tx).is_err();
                            match outcome {
                                Outcome::OutOfOrder(last) => {
                                    match self.out_of_order(
                                        &files[chunk.file],
                                        *line,
                                        &chunk.ids,
                                        ids,
                                        *at,
                                        *direction,
                                        last,
                                    ) {
                                        Ok((reason, raw)) => Some((*line, Cow::Owned(reason), raw.map(Cow::Owned))),
                                        Err(e) => {
                                            failed = Some(e);
                                            break 'chunks;
                                        }
                                    }
                                }
                                Outcome::Kept | Outcome::Debounced => None,
                            }
                        }
                        ParsedRow::Rejected { line, reason, raw, .. } => {
                            if let Some(p) = pairer.as_mut() {
                                p.rejected();
                            }
                            Some((*line, Cow::Borrowed(reason.as_str()), raw.as_deref().map(Cow::Borrowed)))
                        }
                    };
                    if writer_gone {
                        break 'chunks;
                    }
                    if let Some((line, reason, raw)) = refused {
                        report.rows_rejected += 1;
                        if let Err(e) = spill.push(chunk.file, line, row.byte(), &reason, raw.as_deref()) {
                            failed = Some(e);
                            break 'chunks;
                        }
                        if rows_read >= 1_000_000 && spill.count() > 2 * allowed(rows_read) + 10_000 {
                            stopped_early = Some(rows_read);
                            break 'chunks;
                        }
                    }
                }
                if chunk.last_of_file
                    && let Err(e) = spill.end_of_file()
                {
                    failed = Some(e);
                    break;
                }
            }
            if failed.is_some() || stopped_early.is_some() {
                drop(flush_tx);
                let _ = flusher.join();
                return Err(match (failed, stopped_early) {
                    (Some(e), _) => e,
                    (None, at) => self.too_many(rows_read, spill.count(), &spill, files, at),
                });
            }
            // The batch's scans are over: its open stays are stored, and carried.
            let carry = pairer.as_mut().map(|p| p.finish(&mut made));
            if !writer_gone && enc.push_stays(&mut made, &flush_tx).is_ok() {
                let _ = enc.finish(&flush_tx);
            }
            drop(flush_tx);
            let (parts, carried) = flusher.join().map_err(|_| Error::Internal("part writer panicked".into()))??;
            let hashed = reader.join().map_err(|_| Error::Internal("input reader panicked".into()))?;
            Ok((parts, carried, carry, hashed))
        })?;
        let rows_stored = enc.rows_stored;
        let Dicts { persons, venues, new_clear } = dicts_lock.into_inner().unwrap_or_else(|e| e.into_inner());
        let scan_counts = pairer.map(|p| p.counts);
        if let Some(p) = &self.progress {
            p(total_bytes, total_bytes);
        }
        let rows_rejected = spill.count();
        match scan_counts {
            None => debug_assert_eq!(rows_read, rows_stored + rows_rejected),
            Some(c) => {
                debug_assert_eq!((c.scans, c.rejected, c.paired + c.unpaired), (rows_read, rows_rejected, rows_stored));
                debug_assert_eq!(c.scans + c.resumed, 2 * c.paired + c.unpaired + c.debounced + c.rejected);
            }
        }
        if rows_rejected > allowed(rows_read) {
            return Err(self.too_many(rows_read, rows_rejected, &spill, files, None));
        }
        txn.add_parts(parts.iter().cloned());
        if let (Some(carry), Some(c)) = (carry_out, scan_counts) {
            self.carry_pairing(txn, carry, carried_parts, c.carried, &persons, &venues)?;
        }
        for (kind, len, start) in
            [(DictKind::Persons, persons.len(), persons_base), (DictKind::Venues, venues.len(), venues_base)]
        {
            if len > start {
                let rel = layout::dict(kind.name(), batch);
                let path = layout::resolve(&self.store, &rel);
                let count = match kind {
                    DictKind::Persons => persons.write_segment(start, &path)?,
                    DictKind::Venues => venues.write_segment(start, &path)?,
                };
                let reid = match (&self.key, kind) {
                    (Some(key), DictKind::Persons) => {
                        let rel = layout::reid(batch);
                        let view = persons.view();
                        if new_clear.ends.len() != count as usize {
                            return Err(Error::Internal(format!(
                                "{} clear ids for {count} new persons",
                                new_clear.ends.len()
                            )));
                        }
                        reid::write(&layout::resolve(&self.store, &rel), count, |i| {
                            let i = i as usize;
                            let from = if i == 0 { 0 } else { new_clear.ends[i - 1] };
                            key.seal(
                                view.get(start + i as u32).as_bytes(),
                                &new_clear.text.as_bytes()[from..new_clear.ends[i]],
                            )
                        })?;
                        Some(rel)
                    }
                    _ => None,
                };
                txn.add_dict_segment(kind, DictSegmentInfo { path: rel, base: start, count, reid });
            }
        }
        Ok((Pipeline { parts: parts.len(), rows_read, rows_stored, spill, scans: scan_counts }, hashed))
    }

    /// Write the quarantine and venue files and commit.
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &self,
        mut txn: Transaction,
        done: Pipeline,
        venues_in: Option<Vec<VenueInfo>>,
        files: &[PathBuf],
        hashes: &[Option<Hashed>],
        todo: &[usize],
        reports: Vec<FileReport>,
        warnings: Vec<String>,
    ) -> Result<IngestReport> {
        let Pipeline { parts, rows_read, rows_stored, spill, scans } = done;
        let batch = txn.id();
        let dir = self.store.as_path();
        let rows_rejected = spill.count();
        let sample_rejects = spill
            .sample()
            .iter()
            .map(|(f, line, reason)| format!("{}:{line}: {reason}", files[*f].display()))
            .collect();
        let quarantine_rel = (rows_rejected > 0).then(|| layout::quarantine(batch));
        let written = (|| -> Result<usize> {
            if let Some(rel) = &quarantine_rel {
                spill.into_quarantine(files, &layout::resolve(dir, rel), self.key.as_deref())?;
            } else {
                spill.discard()?;
            }
            let Some(new) = venues_in else { return Ok(0) };
            let loaded = new.len();
            let mut merged: HashMap<String, VenueInfo> = match &txn.base().venue_attrs {
                Some(rel) => store_parquet::read_venues(&layout::resolve(dir, rel), txn.base().checksums.get(rel))?
                    .into_iter()
                    .map(|v| (v.venue_id.clone(), v))
                    .collect(),
                None => HashMap::new(),
            };
            merged.extend(new.into_iter().map(|v| (v.venue_id.clone(), v)));
            let mut all: Vec<VenueInfo> = merged.into_values().collect();
            all.sort_by(|a, b| a.venue_id.cmp(&b.venue_id));
            let rel = layout::venue_attrs(batch);
            store_parquet::write_venues(&layout::resolve(dir, &rel), &all)?;
            txn.set_venue_attrs(rel);
            Ok(loaded)
        })();
        let venues_loaded = match written {
            Ok(n) => n,
            Err(e) => {
                txn.abort();
                return Err(e);
            }
        };
        let sources = todo.iter().map(|&i| {
            let Some(h) = &hashes[i] else {
                return Err(Error::Internal(format!("{} was read but not hashed", files[i].display())));
            };
            Ok(SourceFile {
                path: files[i].display().to_string(),
                blake3: h.blake3.clone(),
                bytes: Some(h.bytes),
                rows_read: reports[i].rows_read,
                rows_rejected: reports[i].rows_rejected,
            })
        });
        let sources = match sources.collect::<Result<Vec<_>>>() {
            Ok(s) => s,
            Err(e) => {
                txn.abort();
                return Err(e);
            }
        };
        txn.add_batch(BatchInfo {
            id: batch,
            committed_at: crate::time::format_utc(chrono::Utc::now().timestamp()),
            files: sources,
            rows_read,
            rows_stored,
            rows_rejected,
            quarantine: quarantine_rel.clone(),
            scans,
        });
        txn.commit()?;
        Ok(IngestReport {
            batch: Some(batch),
            rows_read,
            rows_stored,
            rows_rejected,
            files: reports,
            quarantine: quarantine_rel.map(|r| layout::resolve(dir, &r)),
            parts,
            venues_loaded,
            sample_rejects,
            warnings,
            scans,
        })
    }

    /// The pairing a scan batch starts from: what the last scan batch carried, if anything (its
    /// parts of open stays are dropped: this batch writes those stays again), or nothing.
    fn resume_pairing(&self, txn: &mut Transaction, options: ScanOptions, dicts: &Dicts) -> Result<Pairer<u64>> {
        let Some(c) = txn.base().scan_carry.clone() else { return Ok(Pairer::new(options)) };
        let path = layout::resolve(&self.store, &c.state);
        let state = carry::read(&path, txn.base().checksums.get(&c.state))?;
        let damaged = |why: String| Error::store(&path, format!("damaged scan pairing state: {why}"));
        c.check(&state, &txn.base().parts).map_err(damaged)?;
        let known = |s: &CarriedScan| dicts.persons.get(s.person.as_bytes()).zip(dicts.venues.get(s.venue.as_bytes()));
        if state.scans.iter().any(|s| s.open.is_some() && known(s).is_none()) {
            return Err(damaged("an open stay names an id the dictionaries do not hold".into()));
        }
        txn.drop_parts(&c.parts);
        txn.set_scan_carry(None);
        // A person or venue a purge removed since has no open stay (its part was purged, which
        // ends the carry) and nothing left to pair with.
        let states = state
            .scans
            .iter()
            .filter_map(|s| {
                let (person, venue) = known(s)?;
                let state = State { last: s.last, last_direction: Direction::of_code(s.direction), open: s.open };
                Some((pair_key(person, venue), state))
            })
            .collect();
        Ok(Pairer::resume(options, Carry { now: state.now, swept: state.swept, states }))
    }

    /// Write what this scan batch carries to the next and name it in the manifest, with the
    /// parts of the `open` stays it left open.
    fn carry_pairing(
        &self,
        txn: &mut Transaction,
        carry: Carry<u64>,
        parts: Vec<String>,
        open: u64,
        persons: &Interner,
        venues: &VenueInterner,
    ) -> Result<()> {
        if carry.states.is_empty() {
            return Ok(());
        }
        let batch = txn.id();
        let (persons, venues) = (persons.view(), venues.view());
        let scans = carry
            .states
            .into_iter()
            .map(|(key, s)| {
                let (person, venue) = split_key(key);
                CarriedScan {
                    person: persons.get(person).to_string(),
                    venue: venues.get(venue).to_string(),
                    last: s.last,
                    direction: s.last_direction.code(),
                    open: s.open,
                }
            })
            .collect::<Vec<_>>();
        let states = scans.len() as u64;
        let rel = layout::scan_carry(batch);
        carry::write(&layout::resolve(&self.store, &rel), &CarriedState { now: carry.now, swept: carry.swept, scans })?;
        txn.set_scan_carry(Some(ScanCarry { state: rel, batch, parts, states, open }));
        Ok(())
    }

    /// The reason and quarantine text of a scan refused as out of order. A Parquet row is
    /// re-rendered from its values (time as UTC), sealed under a key.
    #[allow(clippy::too_many_arguments)]
    fn out_of_order(
        &self,
        file: &Path,
        line: u64,
        id_text: &str,
        ids: &Ids,
        at: i64,
        direction: Direction,
        last: i64,
    ) -> Result<(String, Option<String>)> {
        let reason = match self.key.is_none() {
            true => format!(
                "scan out of order: {} is before the previous scan of this person at this venue ({}); sort the log by time",
                crate::time::format_utc(at),
                crate::time::format_utc(last)
            ),
            false => {
                "scan out of order: before the previous scan of this person at this venue; sort the log by time".into()
            }
        };
        let text = |r: (u32, u32)| &id_text.as_bytes()[r.0 as usize..r.1 as usize];
        let row = RawRow {
            line,
            byte: 0,
            person: Some(text(ids.clear.unwrap_or(ids.person))),
            venue: Some(text(ids.venue)),
            check_in: source::TimeField::Seconds(Some(at)),
            check_out: source::TimeField::Text(direction.name().as_bytes()),
            field_count: None,
        };
        let kind = FileKind::of(file).expect("expand keeps known kinds");
        Ok((reason, quarantine_text(file, kind, &row, self.key.as_deref())?))
    }

    fn too_many(&self, read: u64, rejected: u64, spill: &Spill, files: &[PathBuf], early: Option<u64>) -> Error {
        let mut sample: Vec<String> = spill
            .sample()
            .iter()
            .take(3)
            .map(|(f, line, reason)| format!("{}:{line}: {reason}", files[*f].display()))
            .collect();
        if let Some(at) = early {
            sample.push(format!("stopped early after {at} rows"));
        }
        Error::TooManyRejects {
            read,
            rejected,
            ratio: 100.0 * rejected as f64 / read.max(1) as f64,
            max: 100.0 * self.max_reject_ratio,
            sample: sample.join("; "),
        }
    }
}

/// Rows parsed and validated by the reader thread; ids live in `ids`.
struct ParsedChunk {
    file: usize,
    ids: String,
    rows: Vec<ParsedRow>,
    last_of_file: bool,
}

/// Ids as `[start, end)` ranges of a chunk's `ids`. `person` is the id as stored (the pseudonym
/// under a key); `clear` the clear id then.
#[derive(Clone, Copy)]
struct Ids {
    person: (u32, u32),
    clear: Option<(u32, u32)>,
    venue: (u32, u32),
}

enum ParsedRow {
    Valid {
        byte: u64,
        ids: Ids,
        check_in: i64,
        check_out: Option<i64>,
    },
    /// A valid raw scan, to be paired once its ids are interned.
    Scan {
        line: u64,
        byte: u64,
        ids: Ids,
        at: i64,
        direction: Direction,
    },
    Rejected {
        line: u64,
        byte: u64,
        reason: String,
        raw: Option<String>,
    },
}

impl ParsedRow {
    /// The input row's byte offset.
    fn byte(&self) -> u64 {
        match self {
            ParsedRow::Valid { byte, .. } | ParsedRow::Rejected { byte, .. } | ParsedRow::Scan { byte, .. } => *byte,
        }
    }
}

const CHUNK_ROWS: usize = 32 * 1024;

/// The reader stage: parse and validate each file, sending chunks of rows in file order.
struct Reader<'a> {
    files: &'a [PathBuf],
    tz: Tz,
    key: Option<&'a Key>,
    counter: Arc<AtomicU64>,
    total_bytes: u64,
    progress: Option<&'a ProgressFn>,
    /// The files are raw scans.
    scans: bool,
}

impl Reader<'_> {
    /// Read the files `todo` in order into `tx`; those not in `hashes` yet are hashed as they are
    /// read, and returned with their hashes.
    fn run(
        &self,
        todo: &[usize],
        hashes: &[Option<Hashed>],
        tx: &std::sync::mpsc::SyncSender<Result<ParsedChunk>>,
    ) -> Vec<(usize, Hashed)> {
        let mut hashed = Vec::new();
        for &fi in todo {
            let path = &self.files[fi];
            let kind = FileKind::of(path).expect("expand keeps known kinds");
            let new_chunk = || ParsedChunk {
                file: fi,
                ids: String::with_capacity(CHUNK_ROWS * 24),
                rows: Vec::with_capacity(CHUNK_ROWS),
                last_of_file: false,
            };
            let mut chunk = new_chunk();
            let mut receiver_gone = false;
            let mut failed = None;
            let mut on_row = |row: RawRow<'_>| {
                if receiver_gone || failed.is_some() {
                    return;
                }
                let parsed = match self.scans {
                    false => self.parse(&row, fi, kind, &mut chunk.ids),
                    true => self.parse_scan(&row, fi, kind, &mut chunk.ids),
                };
                match parsed {
                    Ok(parsed) => chunk.rows.push(parsed),
                    Err(e) => {
                        failed = Some(e);
                        return;
                    }
                }
                if chunk.rows.len() >= CHUNK_ROWS {
                    receiver_gone = tx.send(Ok(std::mem::replace(&mut chunk, new_chunk()))).is_err();
                    if let Some(p) = self.progress {
                        p(self.counter.load(std::sync::atomic::Ordering::Relaxed), self.total_bytes);
                    }
                }
            };
            let columns = if self.scans { &source::SCAN_INPUT } else { &col::INPUT };
            let hash_late = hashes[fi].is_none();
            // CSV is hashed from the bytes the parser reads; a Parquet file, not read front to
            // back, once it has been read.
            let mut hasher = (hash_late && kind != FileKind::Parquet).then(|| input_hasher(self.key));
            let done = match kind {
                FileKind::Parquet => source::read_parquet(path, self.counter.clone(), columns, &mut on_row),
                _ => source::read_csv(path, kind, self.counter.clone(), columns, &mut on_row, hasher.as_mut()),
            };
            if receiver_gone {
                return hashed;
            }
            let hash = failed.map_or(done, Err).and_then(|()| match hasher {
                Some(hasher) => Ok(Some(Hashed::of(&hasher))),
                None if hash_late => hash_file(path, self.key).map(Some),
                None => Ok(None),
            });
            match hash {
                Ok(hash) => hashed.extend(hash.map(|h| (fi, h))),
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return hashed;
                }
            }
            chunk.last_of_file = true;
            if tx.send(Ok(chunk)).is_err() {
                return hashed;
            }
        }
        hashed
    }

    /// Validate one raw scan; a valid scan's ids are appended to `ids` (pairing needs them
    /// interned, so it happens on the encoding thread).
    fn parse_scan(&self, row: &RawRow<'_>, file: usize, kind: FileKind, ids: &mut String) -> Result<ParsedRow> {
        match validate::validate_scan(row, self.tz, self.key.is_none()) {
            Ok(scan) => Ok(ParsedRow::Scan {
                line: row.line,
                byte: row.byte,
                ids: self.push_ids(scan.person, scan.venue, ids),
                at: scan.at,
                direction: scan.direction,
            }),
            Err(reason) => self.rejected(row, file, kind, reason),
        }
    }

    /// A rejected row, with its verbatim text where the quarantine cannot re-read it (Parquet),
    /// sealed under a key.
    fn rejected(&self, row: &RawRow<'_>, file: usize, kind: FileKind, reason: String) -> Result<ParsedRow> {
        let raw = quarantine_text(&self.files[file], kind, row, self.key)?;
        Ok(ParsedRow::Rejected { line: row.line, byte: row.byte, reason, raw })
    }

    /// Validate one row; a valid row's ids are appended to `ids`.
    fn parse(&self, row: &RawRow<'_>, file: usize, kind: FileKind, ids: &mut String) -> Result<ParsedRow> {
        Ok(match validate::validate(row, self.tz, self.key.is_none()) {
            Ok(v) => ParsedRow::Valid {
                byte: row.byte,
                ids: self.push_ids(v.person, v.venue, ids),
                check_in: v.check_in,
                check_out: v.check_out,
            },
            Err(reason) => self.rejected(row, file, kind, reason)?,
        })
    }

    /// Append a row's ids to `ids`: the person as stored (the pseudonym under a key), the clear
    /// id under a key, the venue.
    fn push_ids(&self, person: &str, venue: &str, ids: &mut String) -> Ids {
        let mut push = |write: &dyn Fn(&mut String)| {
            let start = ids.len() as u32;
            write(ids);
            (start, ids.len() as u32)
        };
        let (person_at, clear) = match self.key {
            Some(key) => (push(&|ids| key.pseudonym_into(person, ids)), Some(push(&|ids| ids.push_str(person)))),
            None => (push(&|ids| ids.push_str(person)), None),
        };
        Ids { person: person_at, clear, venue: push(&|ids| ids.push_str(venue)) }
    }
}

/// Whether a batch with `key` (or without) may go into a store whose last version is `base`.
pub(crate) fn check_key(store: &Path, base: &crate::store::Manifest, key: Option<&Key>) -> Result<()> {
    let refuse = |hint: String| Err(Error::InvalidArgument { what: "store", value: store.display().to_string(), hint });
    match (key, &base.pseudonyms) {
        (Some(key), Some(_)) => key.check(store, base.pseudonyms.as_ref()),
        (None, Some(Pseudonyms { key, .. })) => refuse(format!(
            "the store is pseudonymised (key fingerprint {key}): give its key with --pseudonymise KEYFILE; \
             a batch of clear ids cannot be mixed in"
        )),
        (Some(_), None) if base.holds_person_ids() => refuse(
            "the store holds clear person ids: a pseudonymised batch cannot be mixed in; ingest into a new store"
                .into(),
        ),
        _ => Ok(()),
    }
}

/// An input file's content hash and the bytes it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hashed {
    /// BLAKE3, hex (keyed under a pseudonymisation key).
    pub blake3: String,
    /// Bytes hashed.
    pub bytes: u64,
}

impl Hashed {
    /// What `hasher` has taken in.
    pub(crate) fn of(hasher: &blake3::Hasher) -> Hashed {
        Hashed { blake3: hasher.finalize().to_hex().to_string(), bytes: hasher.count() }
    }
}

/// The hasher of input files (keyed under a pseudonymisation key).
pub(crate) fn input_hasher(key: Option<&Key>) -> blake3::Hasher {
    key.map_or_else(blake3::Hasher::new, Key::input_hasher)
}

/// Hash an input file.
pub(crate) fn hash_file(path: &Path, key: Option<&Key>) -> Result<Hashed> {
    // Read, not mapped: a mapped file's pages count in the process's resident memory, and an
    // ingest's memory bound must not grow with its inputs. Files hash in parallel instead.
    let file = std::fs::File::open(path).map_err(Error::io(path))?;
    let mut hasher = input_hasher(key);
    hasher.update_reader(file).map_err(Error::io(path))?;
    Ok(Hashed::of(&hasher))
}

/// Which inputs must be hashed before any is read: those that may repeat a file of an earlier
/// batch or of this one. A file's size is known before it is read; a file of a size that no
/// other input of this batch and no input of an earlier one had is not a duplicate, and is
/// hashed as it is read (a CSV from the reader's bytes, not a second pass over the file). An
/// earlier batch that recorded no sizes (written before 2026-11-28) makes every input early, in
/// that store for good. A file whose size changes while it is read is refused at the end.
fn hash_first(sizes: &[u64], base: &crate::store::Manifest) -> Vec<bool> {
    let mut earlier = std::collections::HashSet::new();
    for f in base.batches.iter().flat_map(|b| &b.files) {
        match f.bytes {
            Some(bytes) => earlier.insert(bytes),
            None => return vec![true; sizes.len()],
        };
    }
    let mut here: HashMap<u64, usize> = HashMap::new();
    for &s in sizes {
        *here.entry(s).or_default() += 1;
    }
    sizes.iter().map(|s| earlier.contains(s) || here[s] > 1).collect()
}

/// What the quarantine keeps of a rejected row beside its reason: nothing for CSV (it re-reads
/// the row by its byte range), the row rendered as a CSV line for Parquet, sealed under a key.
fn quarantine_text(file: &Path, kind: FileKind, row: &RawRow<'_>, key: Option<&Key>) -> Result<Option<String>> {
    if kind != FileKind::Parquet {
        return Ok(None);
    }
    let text = render_row(row);
    Ok(Some(match key {
        Some(key) => key.seal_row(&file.display().to_string(), row.line, &text)?,
        None => text,
    }))
}

/// A Parquet row rendered as a CSV line for the quarantine file.
fn render_row(row: &RawRow<'_>) -> String {
    use self::source::TimeField;
    let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    let time = |t: TimeField<'_>| match t {
        TimeField::Text(b) => String::from_utf8_lossy(b).into_owned(),
        TimeField::Seconds(s) => s.map(crate::time::format_utc).unwrap_or_default(),
    };
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    let _ = w.write_record([text(row.person), text(row.venue), time(row.check_in), time(row.check_out)]);
    let mut s = String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default();
    s.truncate(s.trim_end().len());
    s
}
