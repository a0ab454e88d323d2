//! The cases register: import, update, reject, remove, and what reads it (trace by case, SQL).

use std::path::{Path, PathBuf};

use truyvet::cases::{self, CasesImport};
use truyvet::{Error, Store, TraceRequest};

use crate::fixture::{StoreFixture, at};

const HEADER: &str = "case_id,person_id,confirmed_at,onset_at,sampled_at,isolated_at,note\n";

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn store_with_checkins() -> (tempfile::TempDir, PathBuf) {
    let (dir, store) = StoreFixture::new()
        .visit("F0", "V1", "08:00", Some("09:00"))
        .visit("A", "V1", "08:30", Some("09:30"))
        .visit("F0", "V2", "30:00", Some("31:00"))
        .visit("B", "V2", "30:00", Some("31:00"))
        .build();
    let path = store.dir().to_path_buf();
    (dir, path)
}

#[test]
fn import_derives_windows_and_a_second_import_adds_nothing() {
    let (dir, store) = store_with_checkins();
    let file = write(
        dir.path(),
        "cases.csv",
        &format!(
            "{HEADER}BN1,F0,2021-08-03T10:00:00Z,2021-08-02T00:00:00Z,,,market\n\
             BN2,A,2021-08-03T10:00:00Z,,2021-08-02T12:00:00Z,2021-08-03T08:00:00Z,\n\
             ,B,2021-08-04T00:00:00Z,,,,\n"
        ),
    );
    let r = CasesImport::new(&store).import(std::slice::from_ref(&file)).unwrap();
    assert_eq!((r.rows_read, r.added, r.updated, r.unchanged, r.rows_rejected, r.cases), (3, 3, 0, 0, 0, 3));
    let snap = Store::open(&store).unwrap().snapshot();
    let bn1 = snap.case("BN1").unwrap().unwrap();
    assert_eq!((bn1.window_from, bn1.window_to), (at("2021-07-31", "00:00"), at("2021-08-03", "10:00")));
    let bn2 = snap.case("BN2").unwrap().unwrap();
    assert_eq!((bn2.window_from, bn2.window_to), (at("2021-07-31", "12:00"), at("2021-08-03", "08:00")));
    // No case_id: the person id is the case id.
    assert_eq!(snap.case("B").unwrap().unwrap().person_id, "B");
    let version = snap.manifest().version;
    let again = CasesImport::new(&store).import(&[file]).unwrap();
    assert_eq!((again.version, again.unchanged, again.added), (None, 3, 0));
    assert_eq!(Store::open(&store).unwrap().snapshot().manifest().version, version);
    assert!(Store::verify(&store, false).unwrap().ok());
}

#[test]
fn a_changed_row_updates_its_case_and_only_that_case() {
    let (dir, store) = store_with_checkins();
    let first = write(
        dir.path(),
        "a.csv",
        &format!("{HEADER}BN1,F0,2021-08-03T10:00:00Z,,,,\nBN2,A,2021-08-03T10:00:00Z,,,,\n"),
    );
    CasesImport::new(&store).import(&[first]).unwrap();
    let v1 = Store::open(&store).unwrap().snapshot().case("BN2").unwrap().unwrap().version;
    let second = write(
        dir.path(),
        "b.csv",
        &format!("{HEADER}BN1,F0,2021-08-03T10:00:00Z,2021-08-01T00:00:00Z,,,\nBN2,A,2021-08-03T10:00:00Z,,,,\n"),
    );
    let r = CasesImport::new(&store).import(std::slice::from_ref(&second)).unwrap();
    assert_eq!((r.added, r.updated, r.unchanged), (0, 1, 1));
    let snap = Store::open(&store).unwrap().snapshot();
    let bn1 = snap.case("BN1").unwrap().unwrap();
    assert_eq!(bn1.window_from, at("2021-07-30", "00:00"));
    assert_eq!(snap.case("BN2").unwrap().unwrap().version, v1, "an unchanged case keeps its version");
    // Another lookback derives other windows: both cases change.
    let r = CasesImport::new(&store).lookback(86_400).import(&[second]).unwrap();
    assert_eq!((r.updated, r.unchanged), (2, 0));
    let bn1 = Store::open(&store).unwrap().snapshot().case("BN1").unwrap().unwrap().clone();
    assert_eq!((bn1.window_from, bn1.lookback), (at("2021-07-31", "00:00"), 86_400));
}

#[test]
fn bad_rows_are_quarantined_with_file_line_and_reason_and_the_counts_add_up() {
    let (dir, store) = store_with_checkins();
    let file = write(
        dir.path(),
        "cases.csv",
        &format!(
            "{HEADER}BN1,F0,2021-08-03T10:00:00Z,,,,\n\
             BN2,A,not a time,,,,\n\
             BN3,B,2021-08-03T10:00:00Z,2021-08-02T00:00:00Z,,2021-08-01T00:00:00Z,\n\
             BN4,,2021-08-03T10:00:00Z,,,,\n\
             BN1,F0,2021-08-03T11:00:00Z,,,,\n\
             BN5,A,2021-08-03T10:00:00Z,2021-08-09T00:00:00Z,,,\n"
        ),
    );
    // Five of six rejected: refused whole at the default limit, nothing written.
    let before = Store::open(&store).unwrap().snapshot().manifest().version;
    assert!(matches!(CasesImport::new(&store).import(std::slice::from_ref(&file)), Err(Error::TooManyRejects { .. })));
    assert_eq!(Store::open(&store).unwrap().snapshot().manifest().version, before);
    let r = CasesImport::new(&store).max_reject_ratio(1.0).import(&[file]).unwrap();
    assert_eq!((r.rows_read, r.added, r.rows_rejected), (6, 1, 5));
    assert_eq!(r.rows_read, r.added + r.updated + r.unchanged + r.rows_rejected);
    let q = truyvet::store::quarantine::read(r.quarantine.as_ref().unwrap()).unwrap();
    let reasons: Vec<(u64, &str)> = q.iter().map(|x| (x.line, x.reason.as_str())).collect();
    assert_eq!(reasons[0], (3, "confirmed_at: unparsable timestamp"));
    assert_eq!(reasons[1], (4, "isolated_at is before onset_at"));
    assert_eq!(reasons[2], (5, "empty person_id"));
    assert!(reasons[3].1.starts_with("the same case_id was given at") && reasons[3].0 == 6, "{reasons:?}");
    assert!(reasons[4].1.starts_with("empty infectious window"), "{reasons:?}");
    assert!(q.iter().all(|x| x.file.ends_with("cases.csv")));
    assert_eq!(q[0].raw, "BN2,A,not a time,,,,");
    let snap = Store::open(&store).unwrap().snapshot();
    assert_eq!(snap.cases().unwrap().len(), 1);
    let batch = snap.manifest().case_batches.last().unwrap();
    assert_eq!((batch.rows_read, batch.added, batch.rows_rejected), (6, 1, 5));
    assert!(Store::verify(&store, false).unwrap().ok());
}

#[test]
fn a_file_with_an_unknown_or_missing_column_is_refused_whole() {
    let (dir, store) = store_with_checkins();
    let before = Store::open(&store).unwrap().snapshot().manifest().version;
    for (name, body, says) in [
        ("extra.csv", "person_id,confirmed_at,ward\nF0,2021-08-03T10:00:00Z,7\n", "unknown column \"ward\""),
        ("lacks.csv", "person_id,onset_at\nF0,2021-08-03T10:00:00Z\n", "lacks required column(s) confirmed_at"),
        ("twice.csv", "person_id,confirmed_at,person_id\nF0,1,F0\n", "appears twice"),
    ] {
        let f = write(dir.path(), name, body);
        let e = CasesImport::new(&store).import(&[f]).unwrap_err().to_string();
        assert!(e.contains(name) && e.contains("line 1") && e.contains(says), "{e}");
    }
    assert_eq!(Store::open(&store).unwrap().snapshot().manifest().version, before);
}

#[test]
fn add_and_remove() {
    let (_dir, store) = store_with_checkins();
    let fields = |p: &str, confirmed: &str, isolated: Option<&str>| {
        [
            Some(p.into()),
            Some(confirmed.into()),
            Some("2021-08-02T00:00:00Z".into()),
            None,
            isolated.map(Into::into),
            Some(format!("C-{p}")),
            None,
        ]
    };
    CasesImport::new(&store).add(fields("F0", "2021-08-03T00:00:00Z", None)).unwrap();
    CasesImport::new(&store).add(fields("A", "2021-08-03T00:00:00Z", None)).unwrap();
    let bad = CasesImport::new(&store).add(fields("B", "2021-08-03T00:00:00Z", Some("2021-08-01T00:00:00Z")));
    assert!(matches!(bad, Err(Error::InvalidArgument { .. })));
    assert!(matches!(cases::remove(&store, &["C-F0".into(), "nope".into()]), Err(Error::NotFound { .. })));
    assert_eq!(Store::open(&store).unwrap().snapshot().cases().unwrap().len(), 2, "a failed remove removes nothing");
    let r = cases::remove(&store, &["C-F0".into()]).unwrap();
    assert_eq!((r.removed, r.cases), (1, 1));
    let snap = Store::open(&store).unwrap().snapshot();
    assert!(snap.case("C-F0").unwrap().is_none());
    assert!(snap.case("C-A").unwrap().is_some());
}

#[test]
fn a_case_is_traced_with_its_window() {
    let (dir, store) = store_with_checkins();
    // Window: onset 2021-08-02T06:00 − 1 day .. isolation 2021-08-02T12:00: covers only the
    // second day's market visit (30:00 = 2021-08-02T06:00).
    let file = write(dir.path(), "c.csv", &format!("{HEADER}BN1,F0,2021-08-02T12:00:00Z,2021-08-02T06:00:00Z,,,\n"));
    CasesImport::new(&store).lookback(6 * 3600).import(&[file]).unwrap();
    let snap = Store::open(&store).unwrap().snapshot();
    let case = snap.case("BN1").unwrap().unwrap();
    let result = snap.trace(&TraceRequest::for_case(case, None)).unwrap();
    let ids: Vec<&str> = result.contacts.iter().map(|c| c.person_id.as_str()).collect();
    assert_eq!(ids, ["B"]);
    // A longer lookback reaches the first day's contact too.
    let wide = snap.trace(&TraceRequest::for_case(case, Some(2 * 86_400))).unwrap();
    assert_eq!(wide.contacts.len(), 2);
}

#[test]
fn the_register_is_a_sql_table() {
    let (dir, store) = store_with_checkins();
    let session = truyvet::sql::Session::new(&Store::open(&store).unwrap().snapshot()).unwrap();
    let (_, empty) = session.query("SELECT count(*) FROM cases").unwrap();
    assert_eq!(arrow::util::pretty::pretty_format_batches(&empty).unwrap().to_string().matches("| 0 ").count(), 1);
    let file = write(
        dir.path(),
        "c.csv",
        &format!("{HEADER}BN1,F0,2021-08-03T10:00:00Z,,,,\nBN2,A,2021-08-03T11:00:00Z,,,,\n"),
    );
    CasesImport::new(&store).lookback(3 * 86_400).import(&[file]).unwrap();
    let session = truyvet::sql::Session::new(&Store::open(&store).unwrap().snapshot()).unwrap();
    let (_, b) = session
        .query(
            "SELECT c.case_id, count(*) AS visits FROM cases c JOIN checkins k ON k.person_id = c.person_id \
                WHERE k.check_in >= c.window_from AND k.check_in < c.window_to GROUP BY c.case_id ORDER BY c.case_id",
        )
        .unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&b).unwrap().to_string();
    assert!(text.contains("| BN1     | 2      |") && text.contains("| BN2     | 1      |"), "{text}");
}

#[test]
fn a_pseudonymised_store_keeps_pseudonyms_and_sealed_notes_in_its_register() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("key");
    let key = truyvet::pseudonym::Key::generate(&key_path).unwrap();
    let scans =
        write(dir.path(), "s.csv", "person_id,venue_id,check_in,check_out\nF0,V,1627800000,\nA,V,1627800600,\n");
    let store = dir.path().join("store");
    truyvet::Ingest::new(&store).pseudonymise(key.clone()).run(&[scans]).unwrap();
    let file = write(dir.path(), "c.csv", "person_id,confirmed_at,note\nF0,1627900000,lives at 12 Hàng Bạc\n");
    // Without the key: refused, nothing written.
    assert!(matches!(CasesImport::new(&store).import(std::slice::from_ref(&file)), Err(Error::InvalidArgument { .. })));
    CasesImport::new(&store).pseudonymise(key.clone()).import(&[file]).unwrap();
    let snap = Store::open(&store).unwrap().snapshot();
    let cases = snap.cases().unwrap();
    assert_eq!(cases.len(), 1);
    let c = &cases[0];
    assert_eq!(
        (c.person_id.as_str(), c.case_id.as_str()),
        (key.pseudonym("F0").as_str(), key.pseudonym("F0").as_str())
    );
    let note = c.note.as_deref().unwrap();
    assert!(!note.contains("Hàng Bạc"));
    assert_eq!(key.open_note(&c.case_id, note).as_deref(), Some("lives at 12 Hàng Bạc"));
    let register = std::fs::read(store.join(snap.manifest().cases.as_ref().unwrap())).unwrap();
    assert!(!String::from_utf8_lossy(&register).contains("F0,"));
    // Traced by case with the key, contacts come back by clear id.
    let mut req = TraceRequest::for_case(c, None);
    req.f0 = "F0".into();
    let result = snap.trace_with_key(&req, &key).unwrap();
    assert_eq!(result.contacts[0].person_id, "A");
}
