//! Pseudonymised ids: a store ingested with a key holds no clear person id in any file, answers
//! a holder of the key exactly as a store of clear ids does, answers others by pseudonym, keeps
//! every rejected row recoverable, refuses to mix keys, and survives a purge.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch, StringArray, TimestampSecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use truyvet::pseudonym::Key;
use truyvet::store::quarantine;
use truyvet::{Error, Ingest, Store, TraceRequest};

/// A 12-digit national id, misplaced in a time column by a bad export.
const NUMERIC_ID: &str = "849123456789";

/// A clear id: letters outside hex, so no pseudonym or hash can contain one by chance.
fn person(i: usize) -> String {
    format!("Nguyen-Thi-{i:03}-Hue")
}

/// Two CSV files and a Parquet file of one small province (4 days, 8 venues, 60 persons, ties
/// on purpose), with rejected rows that carry clear ids in every position a row can.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut csv = [
        String::from("person_id,venue_id,check_in,check_out\n"),
        String::from("person_id,venue_id,check_in,check_out\n"),
    ];
    for day in 1..=4 {
        for i in 0..60 {
            let (h, m) = (8 + (i + day) % 3, (i * 13) % 4 * 15);
            let out = if i % 3 == 0 { String::new() } else { format!("2021-08-0{day}T{:02}:{m:02}:00Z", h + 2) };
            csv[i % 2].push_str(&format!("{},V{},2021-08-0{day}T{h:02}:{m:02}:00Z,{out}\n", person(i), (i * day) % 8));
        }
    }
    csv[0].push_str(&format!("{},V1,2021-08-01T08:00:00Z\n", person(70))); // wrong field count
    csv[0].push_str(&format!("{},V1,not-a-time,\n", person(71)));
    csv[1].push_str(&format!("V1,2021-08-02T08:00:00Z,{},\n", person(72))); // shifted: id in a time field
    csv[1].push_str(&format!("\"{}\nwith a line break\",V1,yesterday,\n", person(73)));
    // Numeric ids in time columns: quoting them, or a number computed from them, would leak.
    csv[0].push_str(&format!("{},V2,{NUMERIC_ID},\n", person(75)));
    csv[1].push_str(&format!("{},V2,2021-08-02T08:00:00Z,84912345678\n", person(76)));
    let mut paths = Vec::new();
    for (n, text) in csv.iter().enumerate() {
        let p = dir.join(format!("scans-{n}.csv"));
        std::fs::write(&p, text).unwrap();
        paths.push(p);
    }
    let ids: Vec<String> = (0..20).map(|i| person(40 + i)).chain([person(74)]).collect();
    let venues: Vec<String> = (0..21).map(|i| format!("V{}", i % 8)).collect();
    let check_in: Vec<Option<i64>> = (0..21).map(|i| (i < 20).then_some(1_627_891_200 + i * 900)).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("person_id", DataType::Utf8, false),
        Field::new("venue_id", DataType::Utf8, false),
        Field::new("check_in", DataType::Timestamp(TimeUnit::Second, None), true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(StringArray::from(venues)),
            Arc::new(TimestampSecondArray::from(check_in)),
        ],
    )
    .unwrap();
    let p = dir.join("scans-2.parquet");
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&p).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    paths.push(p);
    paths
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// Files under `dir` whose raw bytes contain `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|f| std::fs::read(f).unwrap().windows(needle.len()).any(|w| w == needle))
        .collect()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(files_under(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// Where a clear id occurs in the store: in any file's raw bytes, or in any string value of any
/// Parquet file (whose pages are compressed, so raw bytes alone prove nothing).
fn clear_ids_in(store: &Path) -> Vec<String> {
    let ids: Vec<String> = (0..80).map(person).collect();
    let mut found = Vec::new();
    for f in files_under(store) {
        let bytes = std::fs::read(&f).unwrap();
        for id in &ids {
            if bytes.windows(id.len()).any(|w| w == id.as_bytes()) {
                found.push(format!("{}: {id}", f.display()));
            }
        }
        if f.extension().is_some_and(|e| e == "parquet") {
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                std::fs::File::open(&f).unwrap(),
            )
            .unwrap()
            .build()
            .unwrap();
            for b in reader {
                for col in b.unwrap().columns() {
                    let Ok(text) = arrow::compute::cast(col, &DataType::Utf8) else { continue };
                    for v in text.as_string::<i32>().iter().flatten() {
                        if ids.iter().any(|id| v.contains(id.as_str())) {
                            found.push(format!("{} (decoded): {v}", f.display()));
                        }
                    }
                }
            }
        }
    }
    found
}

fn key(dir: &Path, name: &str) -> Key {
    Key::generate(&dir.join(name)).unwrap()
}

fn csv_of(batch: &RecordBatch) -> String {
    let mut w = arrow::csv::WriterBuilder::new().build(Vec::new());
    w.write(batch).unwrap();
    String::from_utf8(w.into_inner()).unwrap()
}

#[test]
fn a_pseudonymised_store_holds_no_clear_id_and_answers_key_holders_as_a_clear_store() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path());
    let (clear, pseud) = (dir.path().join("clear"), dir.path().join("pseud"));
    let k = key(dir.path(), "k.key");
    let a = Ingest::new(&clear).max_reject_ratio(1.0).run(&files).unwrap();
    let b = Ingest::new(&pseud).max_reject_ratio(1.0).pseudonymise(k.clone()).run(&files).unwrap();
    assert_eq!((a.rows_read, a.rows_stored, a.rows_rejected), (b.rows_read, b.rows_stored, b.rows_rejected));
    assert_eq!(b.rows_rejected, 7);
    assert!(!clear_ids_in(&clear).is_empty(), "the search finds clear ids where they are");
    assert_eq!(clear_ids_in(&pseud), Vec::<String>::new());
    for needle in [NUMERIC_ID, "84912345678"] {
        assert!(!files_holding(&clear, needle.as_bytes()).is_empty(), "{needle} is in the clear store");
        assert_eq!(files_holding(&pseud, needle.as_bytes()), Vec::<PathBuf>::new());
    }
    // Nor is the key, as hex or as bytes.
    let key_hex = std::fs::read_to_string(dir.path().join("k.key")).unwrap();
    let key_bytes = hex_decode(key_hex.trim());
    assert_eq!(files_holding(&pseud, key_hex.trim().as_bytes()), Vec::<PathBuf>::new());
    assert_eq!(files_holding(&pseud, &key_bytes), Vec::<PathBuf>::new());

    // Nothing is lost: every rejected row opens, with the key, to the clear store's row.
    let (qa, qb) = (
        quarantine::read(a.quarantine.as_ref().unwrap()).unwrap(),
        quarantine::read(b.quarantine.as_ref().unwrap()).unwrap(),
    );
    assert_eq!(qa.len(), qb.len());
    let other = key(dir.path(), "other.key");
    for (x, y) in qa.iter().zip(&qb) {
        assert_eq!((&x.file, x.line), (&y.file, y.line));
        assert_eq!(k.open_row(&y.file, y.line, &y.raw).as_deref(), Some(x.raw.as_str()));
        assert_eq!(other.open_row(&y.file, y.line, &y.raw), None);
        assert_eq!(k.open_row(&y.file, y.line + 1, &y.raw), None, "a sealed row is bound to its line");
    }
    // A reason never quotes a value under a key (the shifted row put an id in check_in).
    assert!(qb.iter().all(|r| !r.reason.contains('"')), "{qb:?}");

    let (sa, sb) = (Store::open(&clear).unwrap().snapshot(), Store::open(&pseud).unwrap().snapshot());
    assert_eq!(sb.pseudonyms().unwrap().key, k.fingerprint());
    // Both hold day links (format 5); only one records pseudonyms.
    assert_eq!((sa.manifest().format, sb.manifest().format), (5, 5));
    assert!(sa.manifest().pseudonyms.is_none() && sb.manifest().pseudonyms.is_some());
    let (mut traced, mut cuts) = (0, 0);
    for i in (0..60).chain([40, 59]) {
        let f0 = person(i);
        let ra = sa.trace(&TraceRequest::new(&f0)).unwrap();
        let mut rb = sb.trace(&TraceRequest::new(k.pseudonym(&f0))).unwrap();
        // Without the key: the same contacts and exposures, by pseudonym.
        let by_pseudonym: BTreeSet<(String, i64, u32)> =
            ra.contacts.iter().map(|c| (k.pseudonym(&c.person_id), c.exposure_seconds, c.episodes)).collect();
        let got: BTreeSet<(String, i64, u32)> =
            rb.contacts.iter().map(|c| (c.person_id.to_string(), c.exposure_seconds, c.episodes)).collect();
        assert_eq!(got, by_pseudonym, "F0 {f0}");
        // With the key: byte for byte the clear store's lists.
        rb.reidentify(&k).unwrap();
        assert_eq!(csv_of(&rb.to_record_batch()), csv_of(&ra.to_record_batch()), "F0 {f0}");
        assert_eq!(
            csv_of(&rb.exposures_record_batch().unwrap()),
            csv_of(&ra.exposures_record_batch().unwrap()),
            "F0 {f0}"
        );
        traced += usize::from(!ra.contacts.is_empty());
        // A limit that cuts between tied contacts cuts where the clear store cuts.
        let c = &ra.contacts;
        if let Some(cut) = (1..c.len())
            .find(|&i| (c[i - 1].exposure_seconds, c[i - 1].episodes) == (c[i].exposure_seconds, c[i].episodes))
        {
            cuts += 1;
            let req = TraceRequest::new(&f0).limit(Some(cut));
            let want = sa.trace(&req).unwrap();
            let got = sb.trace_with_key(&req, &k).unwrap();
            assert_eq!(csv_of(&got.to_record_batch()), csv_of(&want.to_record_batch()), "F0 {f0} cut at {cut}");
            assert_eq!(csv_of(&got.exposures_record_batch().unwrap()), csv_of(&want.exposures_record_batch().unwrap()));
        }
    }
    assert!(cuts > 10, "ties at a cut are exercised ({cuts})");
    assert!(
        matches!(sb.trace_with_key(&TraceRequest::new("nobody"), &k), Err(Error::NotFound { id, .. }) if id == "nobody")
    );
    assert!(traced > 50, "most F0s have contacts ({traced})");
    let ties = sa.trace(&TraceRequest::new(person(3))).unwrap().contacts;
    assert!(ties.windows(2).any(|w| w[0].exposure_seconds == w[1].exposure_seconds), "ties are exercised");
    assert!(matches!(sb.clear_ids(&other, &[0]), Err(Error::InvalidArgument { .. })));
    assert!(matches!(sa.clear_ids(&k, &[0]), Err(Error::InvalidArgument { .. })));
    assert!(Store::verify(&pseud, false).unwrap().ok());
}

#[test]
fn keyed_and_clear_batches_never_mix_and_a_refused_batch_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path());
    let (clear, pseud) = (dir.path().join("clear"), dir.path().join("pseud"));
    let (k, other) = (key(dir.path(), "k.key"), key(dir.path(), "other.key"));
    Ingest::new(&clear).max_reject_ratio(1.0).run(&files[..1]).unwrap();
    Ingest::new(&pseud).max_reject_ratio(1.0).pseudonymise(k.clone()).run(&files[..1]).unwrap();
    let version = |s: &Path| Store::open(s).unwrap().snapshot().manifest().version;
    let refused = [
        Ingest::new(&clear).pseudonymise(k.clone()).run(&files[1..2]),
        Ingest::new(&pseud).run(&files[1..2]),
        Ingest::new(&pseud).pseudonymise(other).run(&files[1..2]),
    ];
    for r in refused {
        assert!(matches!(r, Err(Error::InvalidArgument { .. })), "{r:?}");
    }
    assert_eq!((version(&clear), version(&pseud)), (1, 1));
    // The right key goes on committing; a venues-only store may still become pseudonymised.
    Ingest::new(&pseud).max_reject_ratio(1.0).pseudonymise(k.clone()).run(&files[1..]).unwrap();
    assert_eq!(version(&pseud), 2);
    assert_eq!(clear_ids_in(&pseud), Vec::<String>::new());
    let venues_only = dir.path().join("venues-first");
    let venues = dir.path().join("venues.csv");
    std::fs::write(
        &venues,
        "venue_id,name,category,province,district,lat,lon\nV1,Cho Dong Ba,market,Hue,Phu Hoa,16.47,107.58\n",
    )
    .unwrap();
    Ingest::new(&venues_only).venues(&venues).run(&[]).unwrap();
    Ingest::new(&venues_only).max_reject_ratio(1.0).pseudonymise(k).run(&files).unwrap();
    assert!(Store::open(&venues_only).unwrap().snapshot().pseudonyms().is_some());
}

#[test]
fn a_purge_keeps_key_holders_answers_and_removes_purged_pseudonyms() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path());
    let (clear, pseud) = (dir.path().join("clear"), dir.path().join("pseud"));
    let k = key(dir.path(), "k.key");
    // An extra person seen on day 1 only.
    let old = dir.path().join("old.csv");
    std::fs::write(&old, format!("person_id,venue_id,check_in,check_out\n{},V1,2021-08-01T09:00:00Z,\n", person(79)))
        .unwrap();
    for f in [&files[..], std::slice::from_ref(&old)] {
        Ingest::new(&clear).max_reject_ratio(1.0).run(f).unwrap();
        Ingest::new(&pseud).max_reject_ratio(1.0).pseudonymise(k.clone()).run(f).unwrap();
    }
    let gone = k.pseudonym(&person(79));
    for s in [&clear, &pseud] {
        Store::compact(s, None).unwrap();
        Store::set_retention(s, Some(2)).unwrap();
        // As of 2021-08-04 (18 843), keeping 2 days keeps 08-03 and 08-04.
        let r = Store::purge(s, 18_843).unwrap();
        assert_eq!(r.days_purged, 2);
    }
    assert_eq!(files_holding(&pseud, gone.as_bytes()), Vec::<PathBuf>::new(), "a purged pseudonym is on disk");
    // Batches after the purge: new persons' sealed ids follow the re-keyed dictionary.
    let late = dir.path().join("late.csv");
    std::fs::write(
        &late,
        format!(
            "person_id,venue_id,check_in,check_out\n{},V1,2021-08-04T09:00:00Z,\n{},V1,2021-08-04T09:05:00Z,\n",
            person(77),
            person(3)
        ),
    )
    .unwrap();
    Ingest::new(&clear).run(std::slice::from_ref(&late)).unwrap();
    Ingest::new(&pseud).pseudonymise(k.clone()).run(std::slice::from_ref(&late)).unwrap();
    assert_eq!(clear_ids_in(&pseud), Vec::<String>::new());
    let (sa, sb) = (Store::open(&clear).unwrap().snapshot(), Store::open(&pseud).unwrap().snapshot());
    assert!(sa.manifest().pseudonyms.is_none(), "a clear store stays clear");
    let mut seen = HashSet::new();
    for i in (0..60).chain([77]) {
        let ra = sa.trace(&TraceRequest::new(person(i))).unwrap();
        let mut rb = sb.trace(&TraceRequest::new(k.pseudonym(&person(i)))).unwrap();
        rb.reidentify(&k).unwrap();
        assert_eq!(csv_of(&rb.to_record_batch()), csv_of(&ra.to_record_batch()));
        seen.extend(ra.contacts.into_iter().map(|c| c.person_id));
    }
    assert!(seen.len() > 30, "{} contacts", seen.len());
    assert!(Store::verify(&pseud, false).unwrap().ok());
}

#[test]
fn a_damaged_reidentification_segment_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path());
    let pseud = dir.path().join("pseud");
    let k = key(dir.path(), "k.key");
    Ingest::new(&pseud).max_reject_ratio(1.0).pseudonymise(k.clone()).run(&files).unwrap();
    let reid = files_under(&pseud).into_iter().find(|f| f.extension().is_some_and(|e| e == "reid")).unwrap();
    let mut bytes = std::fs::read(&reid).unwrap();
    let at = 24 + 30; // inside the first entry's sealed id (after the 24-byte header)
    bytes[at] ^= 1;
    std::fs::write(&reid, &bytes).unwrap();
    let report = Store::verify(&pseud, false).unwrap();
    assert!(report.problems.iter().any(|p| reid.ends_with(&p.file)), "{report:?}");
    let snap = Store::open(&pseud).unwrap().snapshot();
    let keys: Vec<u32> = (0..snap.person_count()).collect();
    match snap.clear_ids(&k, &keys) {
        Err(Error::Store { path, reason }) => {
            assert_eq!(path, reid);
            assert!(reason.contains("damaged re-identification entry"), "{reason}");
        }
        other => panic!("expected a store error naming {}, got {other:?}", reid.display()),
    }
}

#[test]
fn a_refused_keyed_ingest_leaves_no_clear_id_behind() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path());
    let pseud = dir.path().join("pseud");
    let k = key(dir.path(), "k.key");
    let refused = Ingest::new(&pseud).max_reject_ratio(0.0).pseudonymise(k).run(&files);
    assert!(matches!(refused, Err(Error::TooManyRejects { .. })), "{refused:?}");
    assert_eq!(clear_ids_in(&pseud), Vec::<String>::new());
    assert_eq!(files_holding(&pseud, NUMERIC_ID.as_bytes()), Vec::<PathBuf>::new());
}

#[test]
fn raw_scans_paired_across_batches_under_a_key_answer_as_clear_ones() {
    let dir = tempfile::tempdir().unwrap();
    // Three batches of scans, in time order, entries and exits split across the batches.
    let mut rng = 7u64;
    let mut next = |n: u64| {
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (rng >> 33) % n
    };
    let mut scans: Vec<(i64, String)> = Vec::new();
    for _ in 0..400 {
        let (p, v, t) = (next(30) as usize, next(5), 1_627_891_200 + next(2 * 86_400) as i64);
        let d = ["", "", "in", "out"][next(4) as usize];
        scans.push((t, format!("{},V{v},{t},{d}\n", person(p))));
    }
    scans.sort();
    let files: Vec<PathBuf> = scans
        .chunks(scans.len().div_ceil(3))
        .enumerate()
        .map(|(i, chunk)| {
            let text: String = chunk.iter().map(|s| s.1.as_str()).collect();
            let path = dir.path().join(format!("raw-{i}.csv"));
            std::fs::write(&path, format!("person_id,venue_id,scanned_at,direction\n{text}")).unwrap();
            path
        })
        .collect();
    let (clear, pseud) = (dir.path().join("clear"), dir.path().join("pseud"));
    let k = key(dir.path(), "k.key");
    let o = truyvet::ingest::ScanOptions::default();
    for f in &files {
        let a = Ingest::new(&clear).scans(o).run(std::slice::from_ref(f)).unwrap();
        let b = Ingest::new(&pseud).scans(o).pseudonymise(k.clone()).run(std::slice::from_ref(f)).unwrap();
        assert_eq!(a.scans, b.scans);
        assert!(a.scans.unwrap().carried > 0);
    }
    assert!(Store::open(&pseud).unwrap().snapshot().manifest().scan_carry.is_some());
    assert_eq!(clear_ids_in(&pseud), Vec::<String>::new());
    let (sa, sb) = (Store::open(&clear).unwrap().snapshot(), Store::open(&pseud).unwrap().snapshot());
    assert_eq!(sa.manifest().rows(), sb.manifest().rows());
    let mut traced = 0;
    for i in 0..30 {
        let f0 = person(i);
        let ra = sa.trace(&TraceRequest::new(&f0)).unwrap();
        let rb = sb.trace_with_key(&TraceRequest::new(&f0), &k).unwrap();
        assert_eq!(csv_of(&rb.to_record_batch()), csv_of(&ra.to_record_batch()), "F0 {f0}");
        traced += usize::from(!ra.contacts.is_empty());
    }
    assert!(traced > 20, "most F0s have contacts ({traced})");
    assert!(Store::verify(&pseud, false).unwrap().ok());
}
