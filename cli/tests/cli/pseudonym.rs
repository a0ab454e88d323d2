//! `truyvet key`, `ingest --pseudonymise` and `trace --key` as a tracing team uses them.

use std::path::Path;
use std::process::{Output, Stdio};

use super::run_ok;
use super::truyvet;

fn run(args: &[&str]) -> Output {
    truyvet().args(args).output().unwrap()
}

fn fails(args: &[&str], code: i32, says: &str) {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "truyvet {args:?}: {err}");
    assert!(err.contains(says), "truyvet {args:?} should say {says:?}: {err}");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_team_traces_by_clear_id_with_the_key_and_by_pseudonym_without() {
    let dir = tempfile::tempdir().unwrap();
    let (data, clear, pseud, key) =
        (dir.path().join("data"), dir.path().join("clear"), dir.path().join("pseud"), dir.path().join("k.key"));
    run_ok(&["gen", "--out", s(&data), "--people", "3000", "--venues", "120", "--days", "3", "--dirty", "0.002"]);
    let said = run_ok(&["key", "new", s(&key)]);
    let fingerprint = run_ok(&["key", "fingerprint", s(&key)]);
    assert!(said.contains(fingerprint.trim()), "{said} / {fingerprint}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    fails(&["key", "new", s(&key)], 4, "exists");
    let checkins = data.join("checkins");
    run_ok(&["ingest", "--store", s(&clear), s(&checkins)]);
    run_ok(&["ingest", "--store", s(&pseud), "--pseudonymise", s(&key), s(&checkins)]);

    let snap = truyvet::Store::open(&clear).unwrap().snapshot();
    let f0 = (0..500)
        .map(|k| snap.person_id(k).unwrap().to_string())
        .find(|p| snap.trace(&truyvet::TraceRequest::new(p.as_str())).unwrap().contacts.len() >= 3)
        .expect("someone has contacts");
    for cmd in ["trace", "exposures"] {
        let want = run_ok(&[cmd, "--store", s(&clear), "--f0", &f0, "--format", "csv"]);
        let got = run_ok(&[cmd, "--store", s(&pseud), "--key", s(&key), "--f0", &f0, "--format", "csv"]);
        assert_eq!(got, want, "{cmd}");
    }
    // A day's cases, registered pseudonymised: with the key, the merged and the per-case lists
    // (caps and ties decided by clear id) are the clear store's.
    let cases = data.join("cases.csv");
    run_ok(&["cases", "import", "--store", s(&clear), s(&cases)]);
    run_ok(&["cases", "import", "--store", s(&pseud), "--pseudonymise", s(&key), s(&cases)]);
    for per_case in [false, true] {
        let mut args = vec!["trace", "--cases", s(&cases), "--hops", "2", "--max-per-hop", "3", "--format", "csv"];
        args.extend(per_case.then_some("--per-case"));
        let want = run_ok(&[&args[..], &["--store", s(&clear)]].concat());
        let got = run_ok(&[&args[..], &["--store", s(&pseud), "--key", s(&key)]].concat());
        assert!(want.lines().count() > 10, "{want}");
        assert_eq!(got, want, "per case: {per_case}");
    }
    // Without the key: the clear id is unknown, the pseudonym traces, contacts are pseudonyms.
    fails(&["trace", "--store", s(&pseud), "--f0", &f0], 2, "pseudonymised: give the F0's pseudonym, or --key");
    let pseudonym = run_ok(&["key", "pseudonym", "--key", s(&key), &f0]);
    let pseudonym = pseudonym.lines().nth(1).unwrap().split(',').nth(1).unwrap().to_string();
    let by_pseudonym = run_ok(&["trace", "--store", s(&pseud), "--f0", &pseudonym, "--format", "csv"]);
    let want = run_ok(&["trace", "--store", s(&clear), "--f0", &f0, "--format", "csv"]);
    assert_eq!(by_pseudonym.lines().count(), want.lines().count());
    for line in by_pseudonym.lines().skip(1) {
        let id = line.split(',').nth(1).unwrap();
        assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{line}");
    }
    // SQL sees pseudonyms only.
    #[cfg(feature = "sql")]
    {
        let sql = run_ok(&["sql", "--store", s(&pseud), "--format", "csv", "SELECT DISTINCT person_id FROM checkins"]);
        assert!(sql.lines().skip(1).all(|id| id.len() == 32), "{sql}");
        assert!(!sql.contains(&f0));
    }
    // The quarantine: sealed without the key, the input's rows with it.
    let sealed = run_ok(&["rejects", "--store", s(&pseud), "--format", "csv"]);
    let opened = run_ok(&["rejects", "--store", s(&pseud), "--key", s(&key), "--format", "csv"]);
    let clear_rows = run_ok(&["rejects", "--store", s(&clear), "--format", "csv"]);
    assert!(sealed.lines().count() > 3 && sealed.contains(",sealed:"), "{sealed}");
    assert_eq!(sealed.lines().count(), clear_rows.lines().count());
    let raw_of = |csv: &str| -> Vec<String> {
        let mut r = csv::Reader::from_reader(csv.as_bytes());
        r.records().map(|rec| rec.unwrap()[5].to_string()).collect()
    };
    assert_eq!(raw_of(&opened), raw_of(&clear_rows));
}

/// A reader that goes away (`truyvet ... | head`) ends a long CSV listing quietly, exit 0: the
/// error reaches the writer mid-listing, not at the final flush.
#[cfg(feature = "sql")]
#[test]
fn a_closed_pipe_ends_a_csv_listing_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (data, store) = (dir.path().join("data"), dir.path().join("store"));
    run_ok(&["gen", "--out", s(&data), "--people", "3000", "--venues", "120", "--days", "3"]);
    run_ok(&["ingest", "--store", s(&store), s(&data.join("checkins"))]);
    let mut child = truyvet()
        .args(["sql", "--store", s(&store), "--format", "csv", "SELECT * FROM checkins"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn keys_are_refused_where_they_would_leak_or_mix() {
    let dir = tempfile::tempdir().unwrap();
    let (input, clear, pseud) = (dir.path().join("in.csv"), dir.path().join("clear"), dir.path().join("pseud"));
    std::fs::write(
        &input,
        "person_id,venue_id,check_in,check_out\nP1,V1,2021-08-01T08:00:00Z,\nP2,V1,2021-08-01T08:10:00Z,\n",
    )
    .unwrap();
    let (key, other) = (dir.path().join("k.key"), dir.path().join("other.key"));
    run_ok(&["key", "new", s(&key)]);
    run_ok(&["key", "new", s(&other)]);
    run_ok(&["ingest", "--store", s(&clear), s(&input)]);
    run_ok(&["ingest", "--store", s(&pseud), "--pseudonymise", s(&key), s(&input)]);
    let second = dir.path().join("in2.csv");
    std::fs::write(&second, "person_id,venue_id,check_in,check_out\nP3,V1,2021-08-01T08:20:00Z,\n").unwrap();
    fails(&["ingest", "--store", s(&clear), "--pseudonymise", s(&key), s(&second)], 2, "holds clear person ids");
    fails(&["ingest", "--store", s(&pseud), s(&second)], 2, "the store is pseudonymised");
    fails(&["ingest", "--store", s(&pseud), "--pseudonymise", s(&other), s(&second)], 2, "not with this one");
    fails(&["trace", "--store", s(&pseud), "--key", s(&other), "--f0", "P1"], 2, "not with this one");
    fails(&["trace", "--store", s(&clear), "--key", s(&key), "--f0", "P1"], 2, "holds clear person ids");
    let inside = pseud.join("k.key");
    std::fs::copy(&key, &inside).unwrap();
    fails(&["ingest", "--store", s(&pseud), "--pseudonymise", s(&inside), s(&second)], 2, "inside the store");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o644)).unwrap();
        fails(&["trace", "--store", s(&pseud), "--key", s(&other), "--f0", "P1"], 3, "readable by others");
    }
    let traced = run_ok(&["trace", "--store", s(&pseud), "--key", s(&key), "--f0", "P1", "--format", "csv"]);
    assert!(traced.contains(",P2,"), "{traced}");
}
