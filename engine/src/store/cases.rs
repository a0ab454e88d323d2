//! The cases register as stored: one Parquet file per version that changed it
//! (`cases/register-b0000007.parquet`, columns as [`CASES_SCHEMA`], sorted by `case_id`),
//! replaced whole by the next commit that changes it. A register holds thousands of cases, not
//! millions: rewriting it whole keeps every version self-contained and the commit atomic.
//!
//! Reading, validating and merging case files is `crate::cases`; this module only stores and
//! loads what it hands over.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, TimestampSecondArray, UInt64Array};
use arrow::datatypes::{Int64Type, TimestampSecondType, UInt64Type};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::manifest::FileSum;
use super::{Snapshot, layout};
use crate::error::{Error, Result};
use crate::model::{CASES_SCHEMA, Case, Seconds};

/// The register as an Arrow batch, columns as [`CASES_SCHEMA`], in the order given.
pub fn to_record_batch(cases: &[Case]) -> RecordBatch {
    let ts = |f: fn(&Case) -> Option<Seconds>| -> ArrayRef {
        Arc::new(cases.iter().map(f).collect::<TimestampSecondArray>().with_timezone("UTC"))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(cases.iter().map(|c| c.case_id.as_str()))),
        Arc::new(StringArray::from_iter_values(cases.iter().map(|c| c.person_id.as_str()))),
        ts(|c| Some(c.confirmed_at)),
        ts(|c| c.onset_at),
        ts(|c| c.sampled_at),
        ts(|c| c.isolated_at),
        ts(|c| Some(c.window_from)),
        ts(|c| Some(c.window_to)),
        Arc::new(Int64Array::from_iter_values(cases.iter().map(|c| c.lookback))),
        Arc::new(cases.iter().map(|c| c.note.as_deref()).collect::<StringArray>()),
        Arc::new(UInt64Array::from_iter_values(cases.iter().map(|c| c.version))),
    ];
    RecordBatch::try_new(CASES_SCHEMA.clone(), columns).expect("columns match CASES_SCHEMA")
}

/// Write a register (sorted by case id by the caller) and `fsync` it.
pub(crate) fn write(path: &Path, cases: &[Case]) -> Result<()> {
    let pq = |e: parquet::errors::ParquetError| super::parquet::write_error(path, e);
    let file = File::create(path).map_err(Error::io(path))?;
    let mut writer = ArrowWriter::try_new(file, CASES_SCHEMA.clone(), None).map_err(pq)?;
    writer.write(&to_record_batch(cases)).map_err(pq)?;
    super::parquet::finish(writer, path).map(drop)
}

/// Read a register written by [`write`], checked first against the manifest's size and BLAKE3
/// (it is small and read whole).
pub(crate) fn read(path: &Path, sum: Option<&FileSum>) -> Result<Vec<Case>> {
    let damaged = |e: &dyn std::fmt::Display| Error::store(path, format!("damaged cases register: {e}"));
    if let Some(want) = sum
        && &FileSum::of(path)? != want
    {
        return Err(damaged(&"size or BLAKE3 differs from the manifest"));
    }
    let file = File::open(path).map_err(Error::io(path))?;
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| damaged(&e))?.build().map_err(|e| damaged(&e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| damaged(&e))?;
        if batch.schema().fields() != CASES_SCHEMA.fields() {
            return Err(damaged(&"unexpected columns"));
        }
        let wrong = || damaged(&"unexpected column types");
        let s = |i: usize| batch.column(i).as_string_opt::<i32>().ok_or_else(wrong);
        let t = |i: usize| batch.column(i).as_primitive_opt::<TimestampSecondType>().ok_or_else(wrong);
        let (case_id, person_id, note) = (s(0)?, s(1)?, s(9)?);
        let (confirmed, onset, sampled, isolated, from, to) = (t(2)?, t(3)?, t(4)?, t(5)?, t(6)?, t(7)?);
        let lookback = batch.column(8).as_primitive_opt::<Int64Type>().ok_or_else(wrong)?;
        let version = batch.column(10).as_primitive_opt::<UInt64Type>().ok_or_else(wrong)?;
        let opt = |a: &TimestampSecondArray, r: usize| a.is_valid(r).then(|| a.value(r));
        for r in 0..batch.num_rows() {
            out.push(Case {
                case_id: case_id.value(r).to_string(),
                person_id: person_id.value(r).to_string(),
                confirmed_at: confirmed.value(r),
                onset_at: opt(onset, r),
                sampled_at: opt(sampled, r),
                isolated_at: opt(isolated, r),
                note: note.is_valid(r).then(|| note.value(r).to_string()),
                lookback: lookback.value(r),
                window_from: from.value(r),
                window_to: to.value(r),
                version: version.value(r),
            });
        }
    }
    if !out.is_sorted_by(|a, b| a.case_id < b.case_id) {
        return Err(damaged(&"cases not in strictly ascending case_id order"));
    }
    Ok(out)
}

impl Snapshot {
    /// The cases register of this version, sorted by case id (empty if none was ever imported).
    /// Loaded on first use.
    pub fn cases(&self) -> Result<&[Case]> {
        let loaded = self.0.cases.get_or_init(|| match &self.0.manifest.cases {
            None => Ok(Vec::new()),
            Some(rel) => {
                read(&layout::resolve(&self.0.dir, rel), self.0.manifest.checksums.get(rel)).map_err(|e| e.to_string())
            }
        });
        loaded.as_deref().map_err(|e| Error::store(&self.0.dir, e.clone()))
    }

    /// The registered case `case_id`, if any.
    pub fn case(&self, case_id: &str) -> Result<Option<&Case>> {
        let cases = self.cases()?;
        Ok(cases.binary_search_by(|c| c.case_id.as_str().cmp(case_id)).ok().map(|i| &cases[i]))
    }

    /// The person key of each of `cases` (`None`: no check-in in this snapshot), in order.
    pub(crate) fn person_keys_of(&self, cases: &[Case]) -> Result<Vec<Option<crate::model::PersonKey>>> {
        cases.iter().map(|c| self.person_key(&c.person_id)).collect()
    }

    /// The register as Arrow (columns as [`CASES_SCHEMA`]).
    pub fn cases_record_batch(&self) -> Result<RecordBatch> {
        Ok(to_record_batch(self.cases()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, note: Option<&str>) -> Case {
        Case {
            case_id: id.into(),
            person_id: format!("P{id}"),
            confirmed_at: 1_627_800_000,
            onset_at: Some(1_627_700_000),
            sampled_at: None,
            isolated_at: Some(1_627_790_000),
            note: note.map(str::to_string),
            lookback: 172_800,
            window_from: 1_627_527_200,
            window_to: 1_627_790_000,
            version: 3,
        }
    }

    #[test]
    fn a_register_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.parquet");
        let cases = vec![case("BN1", Some("chợ Long Biên")), case("BN2", None)];
        write(&path, &cases).unwrap();
        assert_eq!(read(&path, Some(&FileSum::of(&path).unwrap())).unwrap(), cases);
    }

    #[test]
    fn a_changed_register_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.parquet");
        write(&path, &[case("BN1", None)]).unwrap();
        let sum = FileSum::of(&path).unwrap();
        write(&path, &[case("BN2", None)]).unwrap();
        let e = read(&path, Some(&sum)).unwrap_err().to_string();
        assert!(e.contains("damaged cases register"), "{e}");
    }
}
