//! `truyvet cases` and `truyvet trace --case/--hops` end to end, on the tiny fixture.

use std::path::Path;

use crate::{run_ok, truyvet};

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/fixtures").join(name).display().to_string()
}

#[test]
fn a_case_imported_and_traced_two_hops() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    run_ok(&["ingest", "--store", s, &fixture("tiny.csv")]);
    let cases = dir.path().join("cases.csv");
    std::fs::write(
        &cases,
        "case_id,person_id,confirmed_at,onset_at,note\n\
         BN1,0901000001,2021-08-03 12:00:00,2021-08-01 00:00:00,chợ Bắc Đà\n",
    )
    .unwrap();
    let out = run_ok(&["cases", "import", "--store", s, "--tz", "+07:00", cases.to_str().unwrap()]);
    assert!(out.contains("added 1, updated 0, unchanged 0, rejected 0"), "{out}");
    let again = run_ok(&["cases", "import", "--store", s, "--tz", "+07:00", cases.to_str().unwrap()]);
    assert!(again.contains("nothing committed"), "{again}");
    let listed = run_ok(&["cases", "list", "--store", s, "--format", "csv"]);
    assert!(
        listed.contains("BN1,0901000001,2021-08-03T05:00:00Z,2021-07-31T17:00:00Z,,,2021-07-29T17:00:00Z,2021-08-03T05:00:00Z,172800,chợ Bắc Đà,"),
        "{listed}"
    );
    let f1 = run_ok(&["trace", "--store", s, "--case", "BN1", "--format", "csv"]);
    assert_eq!(
        f1,
        run_ok(&[
            "trace",
            "--store",
            s,
            "--f0",
            "0901000001",
            "--from",
            "2021-07-29T17:00:00Z",
            "--to",
            "2021-08-03T05:00:00Z",
            "--format",
            "csv"
        ])
    );
    let chain = run_ok(&["trace", "--store", s, "--case", "BN1", "--hops", "2", "--format", "csv"]);
    let lines: Vec<&str> = chain.lines().collect();
    assert_eq!(
        lines[0],
        "hop,rank,person_id,exposure_seconds,imputed_seconds,episodes,venues,first_contact,last_contact,via_person_id,via_venue_id"
    );
    assert_eq!(lines.len(), 4, "{chain}");
    assert!(lines[1].starts_with("1,1,") && lines[2].starts_with("1,2,"), "{chain}");
    assert!(
        lines[3].starts_with("2,1,0901000003,3600,") && lines[3].ends_with(",0901000004,QR-HNI-BD-000001"),
        "{chain}"
    );
    #[cfg(feature = "sql")]
    {
        let sql = run_ok(&["sql", "--store", s, "--format", "csv", "SELECT case_id, window_to FROM cases"]);
        assert_eq!(sql, "case_id,window_to\nBN1,2021-08-03T05:00:00Z\n");
    }
    let removed = run_ok(&["cases", "remove", "--store", s, "BN1"]);
    assert!(removed.contains("removed 1"), "{removed}");
    let gone = truyvet().args(["trace", "--store", s, "--case", "BN1"]).output().unwrap();
    assert_eq!(gone.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("case \"BN1\" is not in the store"));
}

#[test]
fn bad_case_input_says_where_and_why_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    run_ok(&["ingest", "--store", s, &fixture("tiny.csv")]);
    let manifest_before = std::fs::read_to_string(store.join("CURRENT")).unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "person_id,confirmed_at,ward\n0901000001,2021-08-03T00:00:00Z,3\n").unwrap();
    let out = truyvet().args(["cases", "import", "--store", s, bad.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.csv: line 1: unknown column \"ward\""), "{err}");
    let rows = dir.path().join("rows.csv");
    std::fs::write(&rows, "person_id,confirmed_at,onset_at,isolated_at\n0901000001,2021-08-03T00:00:00Z,2021-08-02T00:00:00Z,2021-08-01T00:00:00Z\n").unwrap();
    let out = truyvet().args(["cases", "import", "--store", s, rows.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rows.csv:2: isolated_at is before onset_at") && err.contains("nothing committed"), "{err}");
    let add = truyvet()
        .args(["cases", "add", "--store", s, "--person", "0901000001", "--confirmed", "someday"])
        .output()
        .unwrap();
    assert_eq!(add.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&add.stderr).contains("confirmed_at: unparsable timestamp"));
    assert_eq!(std::fs::read_to_string(store.join("CURRENT")).unwrap(), manifest_before);
    // --hops is 1 to 3.
    let hops = truyvet().args(["trace", "--store", s, "--f0", "0901000001", "--hops", "4"]).output().unwrap();
    assert_eq!(hops.status.code(), Some(2));
}

/// `gen` writes a sample register that imports cleanly into the store of its own data, and the
/// README's two-hop trace of BN-1000 runs on it.
#[test]
fn the_generated_register_imports_and_traces() {
    let dir = tempfile::tempdir().unwrap();
    let (data, store) = (dir.path().join("data"), dir.path().join("store"));
    let (d, s) = (data.to_str().unwrap(), store.to_str().unwrap());
    run_ok(&["gen", "--out", d, "--scale", "10k", "--format", "csv", "--seed", "3"]);
    run_ok(&["ingest", "--store", s, "--tz", "+07:00", &format!("{d}/checkins")]);
    let out = run_ok(&["cases", "import", "--store", s, "--max-reject-ratio", "0", &format!("{d}/cases.csv")]);
    assert!(out.contains("added 5, updated 0, unchanged 0, rejected 0"), "{out}");
    let chain = run_ok(&["trace", "--store", s, "--case", "BN-1000", "--hops", "2", "--format", "csv"]);
    assert!(chain.starts_with("hop,rank,person_id,"), "{chain}");
    let calls = run_ok(&["trace", "--store", s, "--case", "BN-1000", "--case", "BN-1001", "--format", "csv"]);
    assert!(calls.starts_with("rank,hop,person_id,cases,case_ids,"), "{calls}");
    for cmd in [&["hotspots", "--store", s][..], &["clusters", "--store", s, "--min-size", "1"][..]] {
        let out = truyvet().args(cmd).output().unwrap();
        assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
