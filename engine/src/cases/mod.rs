//! The cases register: confirmed cases read from files or given one at a time, validated, and
//! merged into the store's register by one atomic commit (the register itself is stored by
//! `store::cases`; tracing a case is `trace`).
//!
//! # Semantics
//! - A case is keyed by `case_id` (the person id when a row gives none). A row for a new case
//!   adds it; a row for a registered case that differs from it replaces it (updated); a row
//!   identical to it changes nothing (unchanged). Re-importing a file therefore adds nothing.
//! - The infectious window is derived at import and stored with the case:
//!   `[(onset_at, else sampled_at, else confirmed_at) − lookback, isolated_at, else
//!   confirmed_at)`, lookback 2 days unless given ([`crate::model::Case::window`]).
//! - A row is rejected, with its file, line and reason, when it cannot be read, lacks a person or
//!   a confirmation time, has a time that does not parse, was isolated before onset, has an empty
//!   window, or repeats a case id of the same import. Rejected rows go to the batch's quarantine
//!   file (`quarantine/cases-bN.csv`); `rows_read = added + updated + unchanged + rejected`.
//!   Above `max_reject_ratio` nothing is committed. A file with an unknown, repeated or missing
//!   required column is refused whole.
//! - Under a pseudonymisation key, person ids (and case ids defaulted from them) become
//!   pseudonyms, notes and quarantined rows are sealed, and reasons quote no value.
//! - An import that changes no case commits nothing, unless it rejects rows of a file no earlier
//!   import read (those must reach a quarantine): importing the same file again is a no-op.

mod read;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use self::read::{COLUMNS, CaseRow};
use crate::error::{Error, Result};
use crate::model::{Case, DEFAULT_LOOKBACK, Seconds};
use crate::pseudonym::Key;
use crate::store::cases as stored;
use crate::store::layout;
use crate::store::manifest::{CaseBatchInfo, SourceFile};
use crate::store::quarantine::{self, Rejected};
use crate::store::txn::Transaction;
use crate::time::{Tz, format_utc, parse_timestamp};

/// Rejects kept for messages.
const SAMPLE: usize = 5;

/// What a change of the register did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CasesReport {
    /// The committed version, or `None` when nothing changed.
    pub version: Option<u64>,
    /// Case rows read.
    pub rows_read: u64,
    /// New cases.
    pub added: u64,
    /// Cases whose record changed.
    pub updated: u64,
    /// Rows identical to the registered case.
    pub unchanged: u64,
    /// Cases removed.
    pub removed: u64,
    /// Rows quarantined.
    pub rows_rejected: u64,
    /// Cases in the register afterwards.
    pub cases: u64,
    /// The quarantine file, if rows were rejected.
    pub quarantine: Option<PathBuf>,
    /// The first few rejected rows (`file:line: reason`).
    pub sample_rejects: Vec<String>,
}

/// Changes to the cases register of a store.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let file = dir.path().join("cases.csv");
/// std::fs::write(&file, "case_id,person_id,confirmed_at,onset_at\nBN1,0912,2021-08-03T10:00:00Z,2021-08-01T00:00:00Z\n")?;
/// let store = dir.path().join("store");
/// let report = truyvet::cases::CasesImport::new(&store).import(&[file.clone()])?;
/// assert_eq!((report.added, report.cases), (1, 1));
/// // The same file again changes nothing.
/// assert_eq!(truyvet::cases::CasesImport::new(&store).import(&[file])?.version, None);
/// let snap = truyvet::Store::open(&store)?.snapshot();
/// let case = snap.case("BN1")?.unwrap();
/// assert_eq!(truyvet::time::format_utc(case.window_from), "2021-07-30T00:00:00Z");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CasesImport {
    store: PathBuf,
    tz: Tz,
    lookback: Seconds,
    max_reject_ratio: f64,
    key: Option<Key>,
}

impl CasesImport {
    /// Changes to the register of the store at `store` (created on first use): UTC, a
    /// lookback of 2 days, 1% reject limit.
    pub fn new(store: impl AsRef<Path>) -> CasesImport {
        CasesImport {
            store: store.as_ref().to_path_buf(),
            tz: Tz::UTC,
            lookback: DEFAULT_LOOKBACK,
            max_reject_ratio: 0.01,
            key: None,
        }
    }

    /// Offset used for timestamps without one.
    pub fn tz(mut self, tz: Tz) -> CasesImport {
        self.tz = tz;
        self
    }

    /// Lookback before onset (or sampling, or confirmation) of the derived windows.
    pub fn lookback(mut self, seconds: Seconds) -> CasesImport {
        self.lookback = seconds;
        self
    }

    /// Largest rejected share accepted (default 0.01); above it nothing is committed.
    pub fn max_reject_ratio(mut self, ratio: f64) -> CasesImport {
        self.max_reject_ratio = ratio;
        self
    }

    /// The store's pseudonymisation key (see [`crate::Ingest::pseudonymise`]).
    pub fn pseudonymise(mut self, key: Key) -> CasesImport {
        self.key = Some(key);
        self
    }

    /// Import case files (CSV, CSV.gz or Parquet with the columns [`COLUMNS`]).
    pub fn import(&self, paths: &[PathBuf]) -> Result<CasesReport> {
        let mut inputs = Vec::with_capacity(paths.len());
        for path in paths {
            let rows = read::read(path)?;
            let hashed = crate::ingest::hash_file(path, self.key.as_ref())?;
            inputs.push(Input { name: path.display().to_string(), hashed: Some(hashed), rows });
        }
        self.merge("import", inputs)
    }

    /// Read and validate case files without registering them (to trace an ad-hoc list): any
    /// rejected row is an error naming its file, line and reason, as is a case id given twice.
    pub fn cases_of(&self, paths: &[PathBuf]) -> Result<Vec<Case>> {
        let mut out = Vec::new();
        let mut seen: HashMap<String, String> = HashMap::new();
        for path in paths {
            for row in read::read(path)? {
                let at = format!("{}:{}", path.display(), row.line);
                let case = self
                    .validate(&row)
                    .map_err(|reason| Error::bad_input(path, format!("line {}: {reason}", row.line)))?;
                if let Some(first) = seen.insert(case.case_id.clone(), at) {
                    return Err(Error::bad_input(
                        path,
                        format!("line {}: the same case_id was given at {first}", row.line),
                    ));
                }
                out.push(case);
            }
        }
        Ok(out)
    }

    /// Add (or update) one case given as text fields, as a case file's row would give them
    /// ([`COLUMNS`] order). A row that would be rejected is an [`Error::InvalidArgument`] and
    /// changes nothing.
    pub fn add(&self, fields: [Option<String>; 7]) -> Result<CasesReport> {
        let row = CaseRow { line: 1, fields, ..CaseRow::default() };
        if let Err(reason) = self.validate(&row) {
            let named = row.fields[5].as_ref().or(row.fields[0].as_ref());
            return Err(Error::InvalidArgument {
                what: "case",
                value: named.cloned().unwrap_or_default(),
                hint: reason,
            });
        }
        self.merge("add", vec![Input { name: "(command line)".into(), hashed: None, rows: vec![row] }])
    }

    fn validate(&self, row: &CaseRow) -> Result<Case, String> {
        validate(row, self.tz, self.lookback, self.key.as_ref())
    }

    fn merge(&self, command: &str, inputs: Vec<Input>) -> Result<CasesReport> {
        if self.lookback < 0 {
            return Err(Error::InvalidArgument {
                what: "lookback",
                value: self.lookback.to_string(),
                hint: "must be ≥ 0".into(),
            });
        }
        let dir = &self.store;
        let mut txn = Transaction::begin(dir)?;
        let out = (|| {
            crate::ingest::check_key(dir, txn.base(), self.key.as_ref())?;
            let mut register = load(dir, txn.base())?;
            let id = txn.id();
            let mut report = CasesReport::default();
            let mut rejects: Vec<Rejected> = Vec::new();
            let mut files = Vec::new();
            let mut seen: HashMap<String, (usize, u64)> = HashMap::new();
            for (f, input) in inputs.iter().enumerate() {
                let mut rejected = 0;
                for row in &input.rows {
                    report.rows_read += 1;
                    let case = self.validate(row).and_then(|c| match seen.get(&c.case_id) {
                        Some(&(pf, pl)) => Err(format!("the same case_id was given at {}:{pl}", inputs[pf].name)),
                        None => Ok(c),
                    });
                    match case {
                        Ok(mut case) => {
                            seen.insert(case.case_id.clone(), (f, row.line));
                            case.version = id;
                            match register.get(&case.case_id) {
                                Some(old) if old.same_as(&case) => report.unchanged += 1,
                                Some(_) => report.updated += 1,
                                None => report.added += 1,
                            }
                            register
                                .entry(case.case_id.clone())
                                .and_modify(|old| {
                                    if !old.same_as(&case) {
                                        *old = case.clone();
                                    }
                                })
                                .or_insert(case);
                        }
                        Err(reason) => {
                            rejected += 1;
                            if report.sample_rejects.len() < SAMPLE {
                                report.sample_rejects.push(format!("{}:{}: {reason}", input.name, row.line));
                            }
                            let raw = match &self.key {
                                Some(key) => key.seal_row(&input.name, row.line, &row.raw)?,
                                None => row.raw.clone(),
                            };
                            rejects.push(Rejected { file: input.name.clone(), line: row.line, reason, raw });
                        }
                    }
                }
                if let Some(hashed) = &input.hashed {
                    files.push(SourceFile {
                        path: input.name.clone(),
                        blake3: hashed.blake3.clone(),
                        bytes: Some(hashed.bytes),
                        rows_read: input.rows.len() as u64,
                        rows_rejected: rejected,
                    });
                }
            }
            report.rows_rejected = rejects.len() as u64;
            report.cases = register.len() as u64;
            let read = report.rows_read;
            if report.rows_rejected as f64 > self.max_reject_ratio * read as f64 {
                return Err(Error::TooManyRejects {
                    read,
                    rejected: report.rows_rejected,
                    ratio: 100.0 * report.rows_rejected as f64 / read.max(1) as f64,
                    max: 100.0 * self.max_reject_ratio,
                    sample: report.sample_rejects.join("; "),
                });
            }
            // Rows rejected from a file some earlier batch imported are in its quarantine already.
            let known: std::collections::HashSet<&str> =
                txn.base().case_batches.iter().flat_map(|b| b.files.iter().map(|f| f.blake3.as_str())).collect();
            let new_rejects = files.iter().any(|f| f.rows_rejected > 0 && !known.contains(f.blake3.as_str()))
                || (report.rows_rejected > 0 && files.is_empty());
            if report.added + report.updated == 0 && !new_rejects {
                report.quarantine = None;
                return Ok((report, None));
            }
            let quarantine = if rejects.is_empty() {
                None
            } else {
                let rel = layout::cases_quarantine(id);
                let mut w = quarantine::Writer::create(&layout::resolve(dir, &rel))?;
                for r in &rejects {
                    w.write(r)?;
                }
                w.finish()?;
                Some(rel)
            };
            let rel = layout::cases(id);
            let cases: Vec<Case> = register.into_values().collect();
            stored::write(&layout::resolve(dir, &rel), &cases)?;
            report.quarantine = quarantine.as_ref().map(|q| layout::resolve(dir, q));
            let batch = CaseBatchInfo {
                id,
                committed_at: format_utc(chrono::Utc::now().timestamp()),
                command: command.to_string(),
                files,
                rows_read: report.rows_read,
                added: report.added,
                updated: report.updated,
                unchanged: report.unchanged,
                removed: 0,
                rows_rejected: report.rows_rejected,
                quarantine,
            };
            Ok((report, Some((rel, batch))))
        })();
        match out {
            Ok((report, None)) => {
                txn.abort();
                Ok(report)
            }
            Ok((mut report, Some((rel, batch)))) => {
                if let Some(key) = &self.key
                    && txn.base().pseudonyms.is_none()
                {
                    txn.set_pseudonyms(key.pseudonyms());
                }
                txn.set_cases(rel, batch);
                report.version = Some(txn.commit()?);
                Ok(report)
            }
            Err(e) => {
                txn.abort();
                Err(e)
            }
        }
    }
}

/// Remove cases from the register of the store at `store`, in one commit. An id that is not
/// registered is [`Error::NotFound`] and removes nothing.
pub fn remove(store: impl AsRef<Path>, case_ids: &[String]) -> Result<CasesReport> {
    let dir = store.as_ref();
    let mut txn = Transaction::begin(dir)?;
    let out = (|| {
        let mut register = load(dir, txn.base())?;
        for id in case_ids {
            if register.remove(id).is_none() {
                return Err(Error::NotFound { what: "case", id: id.clone() });
            }
        }
        let rel = layout::cases(txn.id());
        let cases: Vec<Case> = register.into_values().collect();
        stored::write(&layout::resolve(dir, &rel), &cases)?;
        Ok((rel, cases.len() as u64))
    })();
    let (rel, left) = match out {
        Ok(x) => x,
        Err(e) => {
            txn.abort();
            return Err(e);
        }
    };
    let removed = case_ids.len() as u64;
    let batch = CaseBatchInfo {
        id: txn.id(),
        committed_at: format_utc(chrono::Utc::now().timestamp()),
        command: "remove".into(),
        removed,
        ..CaseBatchInfo::default()
    };
    txn.set_cases(rel, batch);
    let version = txn.commit()?;
    Ok(CasesReport { version: Some(version), removed, cases: left, ..CasesReport::default() })
}

/// The rows of one input.
struct Input {
    name: String,
    /// Its hash (a file's, not the command line's).
    hashed: Option<crate::ingest::Hashed>,
    rows: Vec<CaseRow>,
}

/// The register of the version `m`, by case id.
fn load(dir: &Path, m: &crate::store::Manifest) -> Result<BTreeMap<String, Case>> {
    let Some(rel) = &m.cases else { return Ok(BTreeMap::new()) };
    let cases = stored::read(&layout::resolve(dir, rel), m.checksums.get(rel))?;
    Ok(cases.into_iter().map(|c| (c.case_id.clone(), c)).collect())
}

/// One row → a case, or the reason it is rejected.
fn validate(row: &CaseRow, tz: Tz, lookback: Seconds, key: Option<&Key>) -> Result<Case, String> {
    if let Some(broken) = &row.broken {
        return Err(broken.clone());
    }
    let field = |i: usize| row.fields[i].as_deref().map(str::trim).filter(|s| !s.is_empty());
    let time = |i: usize| -> Result<Option<Seconds>, String> {
        field(i).map(|t| parse_timestamp(t.as_bytes(), tz).map_err(|r| format!("{}: {r}", COLUMNS[i]))).transpose()
    };
    let person = field(0).ok_or("empty person_id")?;
    let confirmed_at = time(1)?.ok_or("empty confirmed_at")?;
    let (onset_at, sampled_at, isolated_at) = (time(2)?, time(3)?, time(4)?);
    if let (Some(o), Some(i)) = (onset_at, isolated_at)
        && i < o
    {
        return Err("isolated_at is before onset_at".into());
    }
    let person_id = key.map_or_else(|| person.to_string(), |k| k.pseudonym(person));
    let case_id = field(5).map_or_else(|| person_id.clone(), str::to_string);
    let note = match (field(6), key) {
        (None, _) => None,
        (Some(n), None) => Some(n.to_string()),
        (Some(n), Some(k)) => Some(k.seal_note(&case_id, n).map_err(|e| e.to_string())?),
    };
    let mut case = Case {
        case_id,
        person_id,
        confirmed_at,
        onset_at,
        sampled_at,
        isolated_at,
        note,
        lookback,
        window_from: 0,
        window_to: 0,
        version: 0,
    };
    let (from, to) = case.window(lookback);
    if from >= to {
        return Err(match key {
            Some(_) => "empty infectious window: onset or sampling is more than the lookback after its end".into(),
            None => format!(
                "empty infectious window {}..{}: onset or sampling is more than the lookback after isolation or confirmation",
                format_utc(from),
                format_utc(to)
            ),
        });
    }
    (case.window_from, case.window_to) = (from, to);
    Ok(case)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(fields: [&str; 7]) -> CaseRow {
        CaseRow { line: 2, fields: fields.map(|f| Some(f.to_string())), ..CaseRow::default() }
    }

    #[test]
    fn the_window_falls_back_from_onset_to_sampling_to_confirmation() {
        let day = 86_400;
        let c = |onset: &str, sampled: &str, isolated: &str| {
            validate(&row(["P", "1000000", onset, sampled, isolated, "", ""]), Tz::UTC, day, None)
                .map(|c| (c.window_from, c.window_to))
        };
        assert_eq!(c("900000", "950000", ""), Ok((900_000 - day, 1_000_000)));
        assert_eq!(c("", "950000", "990000"), Ok((950_000 - day, 990_000)));
        assert_eq!(c("", "", ""), Ok((1_000_000 - day, 1_000_000)));
    }

    #[test]
    fn bad_rows_say_why() {
        let bad = |fields: [&str; 7]| validate(&row(fields), Tz::UTC, 86_400, None).unwrap_err();
        assert_eq!(bad(["", "1000000", "", "", "", "", ""]), "empty person_id");
        assert_eq!(bad(["P", "", "", "", "", "", ""]), "empty confirmed_at");
        assert_eq!(bad(["P", "1000000", "soon", "", "", "", ""]), "onset_at: unparsable timestamp");
        assert_eq!(bad(["P", "1000000", "900000", "", "800000", "", ""]), "isolated_at is before onset_at");
        assert!(bad(["P", "1000000", "1200000", "", "", "", ""]).starts_with("empty infectious window"));
    }

    #[test]
    fn a_case_id_defaults_to_the_person_or_its_pseudonym() {
        let key = Key::from_bytes(&[7u8; 32]).unwrap();
        let plain = validate(&row(["P1", "1000000", "", "", "", "", "x"]), Tz::UTC, 60, None).unwrap();
        assert_eq!((plain.case_id.as_str(), plain.note.as_deref()), ("P1", Some("x")));
        let keyed = validate(&row(["P1", "1000000", "", "", "", "", "x"]), Tz::UTC, 60, Some(&key)).unwrap();
        assert_eq!(keyed.case_id, key.pseudonym("P1"));
        assert_eq!(keyed.person_id, key.pseudonym("P1"));
        let note = keyed.note.unwrap();
        assert_ne!(note, "x");
        assert_eq!(key.open_note(&keyed.case_id, &note).as_deref(), Some("x"));
    }
}
