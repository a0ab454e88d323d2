//! A store that can be trusted: damaged files are errors naming them (exit 4), never a panic or
//! a different answer; `verify` finds them; a full disk is an I/O error naming the file; format 1
//! stays readable.

use std::path::{Path, PathBuf};
use std::process::Output;

use super::{copy_dir, files_under, run_ok, tiny_store, truyvet};

fn run(args: &[&str]) -> Output {
    truyvet().args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        files_under(dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == ext)).collect();
    v.sort();
    v
}

/// A synthetic province of about 60 000 check-ins over three days, and an F0 with contacts.
fn province(dir: &Path) -> (PathBuf, String, String) {
    let data = dir.join("data");
    let store = dir.join("store");
    run_ok(&["gen", "--out", data.to_str().unwrap(), "--people", "20000", "--venues", "800", "--days", "3"]);
    run_ok(&["ingest", "--store", store.to_str().unwrap(), data.join("checkins").to_str().unwrap()]);
    let snap = truyvet::Store::open(&store).unwrap().snapshot();
    let f0 = (0..5000)
        .map(|k| snap.person_id(k).unwrap().to_string())
        .find(|p| snap.trace(&truyvet::TraceRequest::new(p.as_str())).unwrap().contacts.len() >= 5)
        .expect("someone has contacts");
    let want = run_ok(&["trace", "--store", store.to_str().unwrap(), "--f0", &f0, "--format", "csv"]);
    (store, f0, want)
}

/// The review's case: 20 kB flipped in the first fifth of every trace index. Before page
/// checksums, a trace printed a shorter list with exit 0. Now every F0 either gets exactly the
/// undamaged answer (its pages were not touched) or exit 4 naming a damaged index.
#[test]
fn flipped_index_bytes_never_change_an_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (store, f0, want) = province(dir.path());
    let s = store.to_str().unwrap();
    let snap = truyvet::Store::open(&store).unwrap().snapshot();
    let others: Vec<String> = (0..40).map(|k| snap.person_id(k * 97).unwrap().to_string()).collect();
    let before: Vec<String> =
        others.iter().map(|p| run_ok(&["trace", "--store", s, "--f0", p, "--format", "csv"])).collect();
    drop(snap);
    for tvx in with_ext(&store, "tvx") {
        let mut bytes = std::fs::read(&tvx).unwrap();
        let (from, n) = (256.min(bytes.len()), 20_000.min(bytes.len() / 5));
        for b in &mut bytes[from..from + n] {
            *b ^= 0x5a;
        }
        std::fs::write(&tvx, bytes).unwrap();
    }
    let mut refused = 0;
    for (p, undamaged) in std::iter::once((&f0, &want)).chain(others.iter().zip(&before)) {
        let o = run(&["trace", "--store", s, "--f0", p, "--format", "csv"]);
        if o.status.success() {
            assert_eq!(&String::from_utf8_lossy(&o.stdout), undamaged, "F0 {p}: a damaged index changed the answer");
        } else {
            assert_eq!(o.status.code(), Some(4), "F0 {p}: {}", stderr(&o));
            assert!(stderr(&o).contains(".tvx") && stderr(&o).contains("damaged trace index"), "{}", stderr(&o));
            refused += 1;
        }
    }
    assert!(refused > 0, "the damage was in the pages every trace reads first");
    let v = run(&["verify", "--store", s]);
    assert_eq!(v.status.code(), Some(4));
    let out = String::from_utf8_lossy(&v.stdout);
    for tvx in with_ext(&store, "tvx") {
        assert!(out.contains(tvx.file_name().unwrap().to_str().unwrap()), "verify missed {}:\n{out}", tvx.display());
    }
}

/// Every kind of store file, damaged: `verify` names it (exit 4), the quick check catches a
/// size change, and reading it is an error naming it, never a panic.
#[test]
fn verify_names_each_damaged_file_and_readers_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/fixtures");
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    let f = |n: &str| fixtures.join(n).to_str().unwrap().to_string();
    run_ok(&["ingest", "--store", s, "--tz", "+07:00", "--venues", &f("tiny_venues.csv"), &f("tiny.csv")]);
    run_ok(&["ingest", "--store", s, "--tz", "+07:00", "--max-reject-ratio", "1", &f("dirty.csv")]);
    let v: serde_json::Value = serde_json::from_str(&run_ok(&["verify", "--store", s, "--format", "json"])).unwrap();
    assert_eq!(v["problems"].as_array().unwrap().len(), 0);
    assert_eq!(v["unhashed"], 0);
    let files = with_ext(&store, "tvx")
        .into_iter()
        .chain(with_ext(&store, "dict"))
        .chain(with_ext(&store.join("venues"), "parquet"))
        .chain(with_ext(&store.join("quarantine"), "csv"))
        .chain(with_ext(&store.join("data"), "parquet"));
    for file in files {
        let good = std::fs::read(&file).unwrap();
        let name = file.file_name().unwrap().to_str().unwrap().to_string();
        for at in [0, good.len() / 3, good.len() / 2, good.len() - 5] {
            let mut bad = good.clone();
            bad[at] ^= 0x20;
            std::fs::write(&file, &bad).unwrap();
            let v = run(&["verify", "--store", s]);
            assert_eq!(v.status.code(), Some(4), "{name} byte {at}: {}", String::from_utf8_lossy(&v.stdout));
            assert!(String::from_utf8_lossy(&v.stdout).contains(&name), "{name} byte {at}");
            for args in [
                &["trace", "--store", s, "--f0", "0901000001"][..],
                &["exposures", "--store", s, "--f0", "0901000004", "--format", "csv"][..],
                &["stats", "--store", s][..],
            ] {
                let o = run(args);
                assert_ne!(o.status.code(), Some(101), "{name} byte {at}: {args:?} panicked: {}", stderr(&o));
                assert!(matches!(o.status.code(), Some(0 | 4)), "{name} byte {at}: {args:?}: {}", stderr(&o));
            }
        }
        std::fs::write(&file, &good[..good.len() - 1]).unwrap();
        let q = run(&["verify", "--store", s, "--quick"]);
        assert_eq!(q.status.code(), Some(4), "quick verify missed a truncated {name}");
        std::fs::write(&file, &good).unwrap();
    }
    run_ok(&["verify", "--store", s]);
}

/// A copy of the committed fixture store `name` (written by an older format), after checking
/// that it traces `0901000001` as that format did (`name.trace.csv`); and its `verify` report.
fn old_fixture(name: &str) -> (tempfile::TempDir, std::path::PathBuf, serde_json::Value) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/fixtures");
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    copy_dir(&fixtures.join(name), &store);
    let s = store.to_str().unwrap();
    let want = std::fs::read_to_string(fixtures.join(format!("{name}.trace.csv"))).unwrap();
    assert_eq!(run_ok(&["trace", "--store", s, "--f0", "0901000001", "--format", "csv"]), want);
    let v = serde_json::from_str(&run_ok(&["verify", "--store", s, "--format", "json"])).unwrap();
    (dir, store, v)
}

/// A store written by format 1 (committed fixture) opens, verifies, traces as it did, and takes
/// a new batch in the current format.
#[test]
fn a_format_1_store_still_reads_and_grows() {
    let (dir, store, v) = old_fixture("store-v1");
    let s = store.to_str().unwrap();
    assert_eq!((v["problems"].as_array().unwrap().len(), v["unhashed"].as_u64()), (0, v["files"].as_u64()));
    // `next-checkin` reads format-1 postings where format 3 has a column: a compacted copy
    // (rewritten in the current format) gives the same list.
    let next_checkin = ["trace", "--store", s, "--f0", "0901000001", "--rule", "next-checkin", "--format", "csv"];
    let old = run_ok(&next_checkin);
    let copy = dir.path().join("compacted");
    copy_dir(&store, &copy);
    let c = copy.to_str().unwrap();
    run_ok(&["compact", "--store", c]);
    let mut args = next_checkin;
    args[2] = c;
    assert_eq!(run_ok(&args), old);

    // Its batches recorded no input sizes: a copy of an input is still known by its hash.
    let again = dir.path().join("tiny-again.csv");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/fixtures/tiny.csv"), &again).unwrap();
    let out = truyvet().args(["ingest", "--store", s, "--tz", "+07:00", again.to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("same contents as tiny.csv, ingested in batch 1"), "{err}");

    let more = dir.path().join("more.csv");
    std::fs::write(&more, "person_id,venue_id,check_in,check_out\nNEW,QR-HNI-BD-000001,2021-08-01T08:10:00+07:00,\n")
        .unwrap();
    run_ok(&["ingest", "--store", s, "--tz", "+07:00", more.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(&run_ok(&["verify", "--store", s, "--format", "json"])).unwrap();
    assert_eq!(v["problems"].as_array().unwrap().len(), 0);
    assert!(v["unhashed"].as_u64() < v["files"].as_u64(), "the new batch's files are hashed");
    let after = run_ok(&["trace", "--store", s, "--f0", "0901000001", "--format", "csv"]);
    assert!(after.contains("NEW,"), "{after}");
}

/// A store whose trace indexes are format 3 (committed fixture, written before the `reach`
/// section) opens, verifies and traces as it did; under every rule it gives the lists of a
/// compacted copy, whose indexes are format 4 and skip the ended blocks of a look-back.
#[test]
fn a_format_3_index_traces_as_format_4() {
    let (dir, store, v) = old_fixture("store-v3");
    let s = store.to_str().unwrap();
    assert_eq!(v["problems"].as_array().unwrap().len(), 0, "{v}");
    let copy = dir.path().join("compacted");
    copy_dir(&store, &copy);
    let c = copy.to_str().unwrap();
    run_ok(&["compact", "--store", c]);
    let magics = |root: &Path| -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for day in std::fs::read_dir(root.join("data")).unwrap() {
            for f in std::fs::read_dir(day.unwrap().path()).unwrap() {
                let path = f.unwrap().path();
                if path.extension().is_some_and(|e| e == "tvx") {
                    out.push(std::fs::read(&path).unwrap()[..8].to_vec());
                }
            }
        }
        out.sort();
        out.dedup();
        out
    };
    assert_eq!(magics(&store), [b"TVIDX003".to_vec()]);
    // The day of two parts is rewritten; the day of one keeps its part.
    assert_eq!(magics(&copy), [b"TVIDX003".to_vec(), b"TVIDX004".to_vec()]);
    for f0 in ["0901000001", "0901000003", "0901000004"] {
        for rule in ["overlap", "pc-covid", "midnight", "next-checkin", "cwa"] {
            let trace = |store: &str| {
                run_ok(&["trace", "--store", store, "--f0", f0, "--rule", rule, "--tz", "+07:00", "--format", "csv"])
            };
            assert_eq!(trace(s), trace(c), "{f0} under {rule}");
        }
    }
}

/// Run an ingest with the file-size limit at `kib` KiB (`ulimit -f`): writes beyond it fail with
/// EFBIG, as on a full disk.
fn ingest_limited(kib: u32, args: &[&str]) -> Output {
    let script = format!("ulimit -f {}; trap '' XFSZ; exec \"$0\" \"$@\"", kib * 2);
    std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_truyvet"))
        .arg("ingest")
        .args(args)
        .env_remove("TRUYVET_LOG")
        .output()
        .unwrap()
}

/// A disk that fills up while a part or the quarantine is written: exit 4 naming the file (not
/// 70, "a bug"), nothing committed, and the store as it was.
#[test]
fn a_full_disk_is_a_storage_error_naming_the_file_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = tiny_store(dir.path());
    let s = store.to_str().unwrap();
    let before = run_ok(&["stats", "--store", s, "--format", "json"]);

    // Parts: 5000 valid rows make a part far above 8 KiB.
    let parts = dir.path().join("parts.csv");
    let mut text = String::from("person_id,venue_id,check_in,check_out\n");
    for i in 0..5000 {
        text.push_str(&format!("P{i:05},V{},2021-08-02T{:02}:{:02}:00Z,\n", i % 50, i / 60 % 24, i % 60));
    }
    std::fs::write(&parts, text).unwrap();
    // Quarantine: a few long rejected rows (the spill holds their offsets, the quarantine
    // their text).
    let rejects = dir.path().join("rejects.csv");
    let mut text = String::from("person_id,venue_id,check_in,check_out\nQ,V,2021-08-02T08:00:00Z,\n");
    for _ in 0..20 {
        text.push_str(&format!("{},V,not-a-time,\n", "x".repeat(2000)));
    }
    std::fs::write(&rejects, text).unwrap();

    for (input, kind, extra) in
        [(&parts, "data/day=", &[][..]), (&rejects, "quarantine/", &["--max-reject-ratio", "1"][..])]
    {
        let mut args = vec!["--store", s];
        args.extend_from_slice(extra);
        args.push(input.to_str().unwrap());
        let o = ingest_limited(8, &args);
        assert_eq!(o.status.code(), Some(4), "{kind}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(&store.display().to_string()) && err.contains(kind), "{kind}: {err}");
        assert!(err.to_lowercase().contains("file too large"), "{err}");
        assert_eq!(run_ok(&["stats", "--store", s, "--format", "json"]), before, "{kind}: something was committed");
        run_ok(&["verify", "--store", s]);
    }
    // Without the limit the same batches go in, and the leftovers of the failed ones are gone.
    run_ok(&["ingest", "--store", s, parts.to_str().unwrap()]);
    run_ok(&["ingest", "--store", s, "--max-reject-ratio", "1", rejects.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(&run_ok(&["verify", "--store", s, "--format", "json"])).unwrap();
    assert_eq!(v["problems"].as_array().unwrap().len(), 0);
    assert_eq!(v["unreferenced"].as_array().unwrap().len(), 0, "{v}");
}
