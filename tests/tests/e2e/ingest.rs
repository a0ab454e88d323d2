//! Ingest: every rejection reason quarantined with file, line and reason; counts that add up;
//! refusal above the reject limit; duplicate files; input formats; crash consistency.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use truyvet::store::Failpoint;
use truyvet::store::quarantine;
use truyvet::{Error, Ingest, Store, Tz};

const HEADER: &str = "person_id,venue_id,check_in,check_out\n";

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn clean_rows(n: usize, tag: &str) -> String {
    (0..n)
        .map(|i| format!("{tag}{},V{},2021-08-01T{:02}:{:02}:00+07:00,\n", i % 50, i % 7, 8 + i % 10, i % 60))
        .collect()
}

#[test]
fn every_rejection_reason_is_quarantined_and_counts_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let bad = [
        ("P1,V1,2021-08-01T08:00:00Z", "wrong number of fields"),
        ("P1,V1,2021-08-01T08:00:00Z,,extra", "wrong number of fields"),
        (",V1,2021-08-01T08:00:00Z,", "empty person_id"),
        ("P1,,2021-08-01T08:00:00Z,", "empty venue_id"),
        ("P1,V1,,", "empty check_in"),
        ("P1,V1,not-a-time,", "unparsable timestamp in check_in"),
        ("P1,V1,2021-02-30T08:00:00Z,", "impossible date in check_in"),
        ("P1,V1,2021-08-01T25:00:00Z,", "impossible time of day in check_in"),
        ("P1,V1,2021-08-01T08:00:00Z,2021-08-01T07:00:00Z", "check_out before check_in"),
        ("P1,V1,2021-08-01T08:00:00Z,tomorrow", "unparsable timestamp in check_out"),
    ];
    let mut body = String::from(HEADER);
    body.push_str("\"P,quoted\",\"V1\",2021-08-01T08:00:00Z,\n");
    body.push_str(&clean_rows(2000, "P"));
    for (row, _) in &bad {
        body.push_str(row);
        body.push('\n');
    }
    let input = write(dir.path(), "scans.csv", &body);
    let report = Ingest::new(dir.path().join("store")).run(std::slice::from_ref(&input)).unwrap();
    assert_eq!(report.rows_read, 2011);
    assert_eq!(report.rows_rejected, bad.len() as u64);
    assert_eq!(report.rows_read, report.rows_stored + report.rows_rejected);
    let q = quarantine::read(report.quarantine.as_ref().unwrap()).unwrap();
    assert_eq!(q.len(), bad.len());
    for (i, (r, (raw, reason))) in q.iter().zip(&bad).enumerate() {
        assert_eq!(r.raw, *raw, "verbatim row");
        assert!(r.reason.starts_with(reason), "{} should start with {reason}", r.reason);
        assert_eq!(r.line, 2 + 1 + 2000 + i as u64, "line of {raw}");
        assert_eq!(r.file, input.display().to_string());
    }
    let store = Store::open(dir.path().join("store")).unwrap();
    let stats = store.snapshot().stats().unwrap();
    assert_eq!((stats.rows, stats.rejected, stats.batches), (2001, 10, 1));
    assert!(store.snapshot().person_key("P,quoted").unwrap().is_some());
}

#[test]
fn too_many_rejects_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let ok = write(dir.path(), "ok.csv", &format!("{HEADER}{}", clean_rows(100, "A")));
    Ingest::new(&store).run(&[ok]).unwrap();
    let before = Store::open(&store).unwrap().snapshot().stats().unwrap();
    let dirty = write(
        dir.path(),
        "dirty.csv",
        &format!("{HEADER}{}P9,V9,garbage,\nP9,,2021-08-01T08:00:00Z,\n", clean_rows(100, "B")),
    );
    let err = Ingest::new(&store).run(std::slice::from_ref(&dirty)).unwrap_err();
    assert!(matches!(err, Error::TooManyRejects { read: 102, rejected: 2, .. }), "{err}");
    assert!(err.to_string().contains("dirty.csv:102"), "{err}");
    let after = Store::open(&store).unwrap().snapshot().stats().unwrap();
    assert_eq!(before, after);
    // Raising the limit lets the same file in.
    let r = Ingest::new(&store).max_reject_ratio(0.05).run(&[dirty]).unwrap();
    assert_eq!((r.rows_stored, r.rows_rejected), (100, 2));
}

#[test]
fn duplicate_files_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let a = write(dir.path(), "a.csv", &format!("{HEADER}{}", clean_rows(50, "A")));
    let copy = write(dir.path(), "copy-of-a.csv", &std::fs::read_to_string(&a).unwrap());
    let r1 = Ingest::new(&store).run(&[a.clone(), copy.clone()]).unwrap();
    assert_eq!(r1.rows_stored, 50);
    assert!(matches!(r1.files[1].outcome, truyvet::ingest::FileOutcome::Duplicate { batch: None, .. }));
    let r2 = Ingest::new(&store).run(&[copy]).unwrap();
    assert_eq!(r2.batch, None);
    assert!(matches!(r2.files[0].outcome, truyvet::ingest::FileOutcome::Duplicate { batch: Some(1), .. }));
    assert_eq!(Store::open(&store).unwrap().snapshot().stats().unwrap().rows, 50);
}

/// The record of `file` in the batches of `store`: (BLAKE3, bytes).
fn recorded(store: &Path, file: &Path) -> (String, Option<u64>) {
    let snap = Store::open(store).unwrap().snapshot();
    let name = file.display().to_string();
    let f = snap.manifest().batches.iter().flat_map(|b| &b.files).find(|f| f.path == name).unwrap();
    (f.blake3.clone(), f.bytes)
}

/// An input of a size no other input has is hashed as it is read; one that shares its size with
/// another is hashed before anything is read, because it may be a copy. The record must be the
/// same either way, for every input format, or a later copy would pass as new.
#[test]
fn an_input_is_recorded_alike_whether_hashed_first_or_as_read() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "a.csv", &format!("{HEADER}{}", clean_rows(40, "A")));
    let gz = dir.path().join("b.csv.gz");
    let mut w = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    w.write_all(format!("{HEADER}{}", clean_rows(40, "B")).as_bytes()).unwrap();
    w.finish().unwrap();
    let pq = dir.path().join("c.parquet");
    let schema = Arc::new(Schema::new(vec![
        Field::new("person_id", DataType::Utf8, false),
        Field::new("venue_id", DataType::Utf8, false),
        Field::new("check_in", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        Field::new("check_out", DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["C1", "C2"])),
            Arc::new(StringArray::from(vec!["V1", "V1"])),
            Arc::new(TimestampMillisecondArray::from(vec![1_627_779_600_000, 1_627_779_700_000])),
            Arc::new(TimestampMillisecondArray::from(vec![None, None])),
        ],
    )
    .unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&pq).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    for file in [csv, gz, pq] {
        let name = file.file_name().unwrap().to_str().unwrap();
        let (alone, beside) = (dir.path().join(format!("alone-{name}")), dir.path().join(format!("beside-{name}")));
        Ingest::new(&alone).max_reject_ratio(0.5).run(std::slice::from_ref(&file)).unwrap();
        let copy = dir.path().join(format!("copy-of-{name}"));
        std::fs::copy(&file, &copy).unwrap();
        let r = Ingest::new(&beside).max_reject_ratio(0.5).run(&[file.clone(), copy.clone()]).unwrap();
        assert!(matches!(r.files[1].outcome, truyvet::ingest::FileOutcome::Duplicate { batch: None, .. }), "{name}");
        let len = std::fs::metadata(&file).unwrap().len();
        let (hash, bytes) = recorded(&alone, &file);
        assert_eq!((&hash, bytes), (&recorded(&beside, &file).0, Some(len)), "{name}");
        assert_eq!(hash.len(), 64, "{name}");
        // The copy, later and alone, is known by the hash recorded as the original was read.
        let r = Ingest::new(&alone).run(std::slice::from_ref(&copy)).unwrap();
        assert!(matches!(r.files[0].outcome, truyvet::ingest::FileOutcome::Duplicate { batch: Some(1), .. }), "{name}");
    }
    // A file of the same size as an earlier one but other bytes is read, not skipped.
    let store = dir.path().join("alone-a.csv");
    let twin = write(dir.path(), "twin.csv", &format!("{HEADER}{}", clean_rows(40, "T")));
    assert_eq!(std::fs::metadata(&twin).unwrap().len(), recorded(&store, &dir.path().join("a.csv")).1.unwrap());
    let r = Ingest::new(&store).run(std::slice::from_ref(&twin)).unwrap();
    assert_eq!((r.batch, r.rows_stored), (Some(2), 40));
    assert_ne!(recorded(&store, &twin).0, recorded(&store, &dir.path().join("a.csv")).0);
}

#[test]
fn bad_files_are_clear_errors_and_commit_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let missing_col = write(dir.path(), "nocol.csv", "person_id,venue,check_in\nP,V,2021-08-01T08:00:00Z\n");
    let err = Ingest::new(&store).run(&[missing_col]).unwrap_err().to_string();
    assert!(err.contains("nocol.csv") && err.contains("venue_id"), "{err}");
    let txt = write(dir.path(), "notes.txt", "hello");
    assert!(Ingest::new(&store).run(&[txt]).unwrap_err().to_string().contains("unsupported file type"));
    let fake_pq = write(dir.path(), "fake.parquet", "person_id,venue_id\n");
    assert!(Ingest::new(&store).run(&[fake_pq]).unwrap_err().to_string().contains("not a readable Parquet file"));
    let fake_gz = write(dir.path(), "fake.csv.gz", "not gzip at all");
    assert!(Ingest::new(&store).run(&[fake_gz]).unwrap_err().to_string().contains("fake.csv.gz"));
    let ok = write(dir.path(), "ok.csv", &format!("{HEADER}{}", clean_rows(10, "A")));
    let missing = dir.path().join("missing.csv");
    let err = Ingest::new(&store).run(&[ok, missing]).unwrap_err();
    assert!(err.to_string().contains("missing.csv"));
    let stats = Store::open(&store).unwrap().snapshot().stats().unwrap();
    assert_eq!(stats.rows, 0);
}

#[test]
fn gzip_parquet_directories_and_time_zones() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(input.join("sub")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(input.join("a.csv.gz")).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(format!("{HEADER}G1,V1,2021-08-01 08:00:00,2021-08-01 09:00:00\n").as_bytes()).unwrap();
    gz.finish().unwrap();
    // Parquet with millisecond timestamps and string ids.
    let schema = Arc::new(Schema::new(vec![
        Field::new("person_id", DataType::Utf8, true),
        Field::new("venue_id", DataType::Utf8, true),
        Field::new("check_in", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("check_out", DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]));
    let t = 1_627_779_600_000i64; // 2021-08-01T01:00:00Z
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec![Some("Q1"), None])),
            Arc::new(StringArray::from(vec![Some("V1"), Some("V1")])),
            Arc::new(TimestampMillisecondArray::from(vec![Some(t + 999), Some(t)])),
            Arc::new(TimestampMillisecondArray::from(vec![None, None])),
        ],
    )
    .unwrap();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(input.join("sub/b.parquet")).unwrap(), schema, None)
            .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    std::fs::write(input.join("README.md"), "ignored").unwrap();
    let report = Ingest::new(dir.path().join("store"))
        .tz(Tz::parse("+07:00").unwrap())
        .max_reject_ratio(0.5)
        .run(&[input])
        .unwrap();
    assert_eq!((report.rows_read, report.rows_stored, report.rows_rejected), (3, 2, 1));
    let q = quarantine::read(report.quarantine.as_ref().unwrap()).unwrap();
    assert_eq!(
        (q[0].line, q[0].reason.as_str(), q[0].raw.as_str()),
        (2, "empty person_id", ",V1,2021-08-01T01:00:00Z,")
    );
    let store = Store::open(dir.path().join("store")).unwrap();
    // G1 checked in at 08:00 +07:00 = 01:00Z, like Q1 (fraction truncated): they overlap 1 h.
    let r = store.trace(&truyvet::TraceRequest::new("G1")).unwrap();
    assert_eq!(r.contacts[0].person_id, "Q1");
    assert_eq!(r.contacts[0].first_contact, t / 1000);
    assert_eq!(r.contacts[0].exposure_seconds, 3600);
}

fn store_with_one_batch(dir: &Path) -> (PathBuf, truyvet::StoreStats) {
    let store = dir.join("store");
    let a = write(dir, "a.csv", &format!("{HEADER}{}", clean_rows(300, "A")));
    Ingest::new(&store).run(&[a]).unwrap();
    let stats = Store::open(&store).unwrap().snapshot().stats().unwrap();
    (store, stats)
}

#[test]
fn a_commit_interrupted_at_each_step_leaves_the_store_as_before() {
    for step in [Failpoint::BeforeManifest, Failpoint::AfterManifest, Failpoint::BeforeSwap] {
        let dir = tempfile::tempdir().unwrap();
        let (store, before) = store_with_one_batch(dir.path());
        let b = write(dir.path(), "b.csv", &format!("{HEADER}{}", clean_rows(500, "B")));
        let err = Ingest::new(&store).failpoint(step).run(std::slice::from_ref(&b)).unwrap_err();
        assert!(err.to_string().contains("failpoint"), "{err}");
        let snap = Store::open(&store).unwrap().snapshot();
        assert_eq!(snap.stats().unwrap(), before, "after {step:?}");
        assert!(snap.person_key("B1").unwrap().is_none());
        assert!(snap.trace(&truyvet::TraceRequest::new("A1")).is_ok());
        // The next ingest clears the leftovers and commits normally.
        let r = Ingest::new(&store).run(&[b]).unwrap();
        assert_eq!(r.batch, Some(2));
        assert_eq!(Store::open(&store).unwrap().snapshot().stats().unwrap().rows, 800);
        let files = count_files(&store.join("data"));
        assert_eq!(files, 2 * Store::open(&store).unwrap().snapshot().parts().len(), "leftover files after {step:?}");
    }
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { count_files(&p) } else { 1 })
        .sum()
}

#[test]
fn readers_keep_their_snapshot_while_a_commit_lands() {
    let dir = tempfile::tempdir().unwrap();
    let (store_dir, before) = store_with_one_batch(dir.path());
    let store = Store::open(&store_dir).unwrap();
    let b = write(dir.path(), "b.csv", &format!("{HEADER}{}", clean_rows(500, "B")));
    Ingest::new(&store_dir).run(&[b]).unwrap();
    assert_eq!(store.snapshot().stats().unwrap(), before);
    assert!(store.trace(&truyvet::TraceRequest::new("B1")).is_err());
    let mut store = store;
    store.reload().unwrap();
    assert!(store.trace(&truyvet::TraceRequest::new("B1")).is_ok());
}

#[test]
fn results_do_not_depend_on_flush_size_or_threads() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.csv", &format!("{HEADER}{}", clean_rows(3000, "A")));
    let mut outputs = Vec::new();
    for (i, (flush, parallel)) in [(1 << 20, true), (257, true), (1000, false)].into_iter().enumerate() {
        let store = dir.path().join(format!("s{i}"));
        Ingest::new(&store).flush_rows(flush).parallel(parallel).run(std::slice::from_ref(&a)).unwrap();
        let s = Store::open(&store).unwrap();
        let r = s.trace(&truyvet::TraceRequest::new("A7")).unwrap();
        outputs.push(r.to_record_batch());
    }
    assert!(outputs[0].num_rows() > 0);
    assert!(outputs.windows(2).all(|w| w[0] == w[1]));
}
