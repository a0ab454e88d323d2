//! Crash and concurrency evidence: `kill -9` an ingest or a compaction at seeded moments, and
//! trace in a loop while ingests and compactions commit. After any kill the store is the old or the new snapshot in full, never
//! half; a reader's every answer comes from one committed snapshot.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{copy_dir, run_ok, truyvet};

fn generate(dir: &Path, people: u32, seed: u32) -> PathBuf {
    let out = dir.join(format!("gen-{people}-{seed}"));
    let (o, p, s) = (out.to_str().unwrap(), people.to_string(), seed.to_string());
    run_ok(&["gen", "--out", o, "--people", &p, "--venues", "300", "--days", "3", "--format", "csv", "--seed", &s]);
    out.join("checkins")
}

/// What a test compares between snapshots: rows, parts, and the F1 list of one F0 as CSV.
fn state(store: &Path, f0: &str) -> (u64, usize, String) {
    let s = store.to_str().unwrap();
    let snap = truyvet::Store::open(store).unwrap().snapshot();
    let trace = run_ok(&["trace", "--store", s, "--f0", f0, "--format", "csv"]);
    (snap.manifest().rows(), snap.parts().len(), trace)
}

/// A tiny xorshift: seeded kill moments without a dependency.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Kills at `TRUYVET_CRASH_POINTS` seeded moments (default 12; the notes report runs of 100).
fn points() -> u64 {
    std::env::var("TRUYVET_CRASH_POINTS").ok().and_then(|v| v.parse().ok()).unwrap_or(12)
}

/// Run `truyvet args(store)` on copies of `base`, each killed at a seeded moment across the
/// command's whole run: after each kill the store verifies and is the old or the new snapshot;
/// rerunning the command completes it and leaves no leftovers. Returns (mid-write, old, new).
fn kill_at_seeded_points(dir: &Path, base: &Path, f0: &str, args: &dyn Fn(&Path) -> Vec<String>) -> (u64, u64, u64) {
    let spawn = |store: &Path| truyvet().args(args(store)).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let old = state(base, f0);
    let reference = dir.join("reference");
    copy_dir(base, &reference);
    let t0 = Instant::now();
    assert!(spawn(&reference).wait().unwrap().success());
    let whole = t0.elapsed();
    let new = state(&reference, f0);
    assert_ne!(new, old);
    std::fs::remove_dir_all(&reference).unwrap();

    let mut seed = 0x5eed_u64;
    let (mut mid_write, mut old_seen, mut new_seen) = (0, 0, 0);
    let points = points();
    for point in 0..points {
        let store = dir.join(format!("s{point}"));
        copy_dir(base, &store);
        let delay = Duration::from_micros(next(&mut seed) % (whole.as_micros() as u64 * 11 / 10).max(1));
        let mut child = spawn(&store);
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let report = truyvet::Store::verify(&store, false).unwrap();
        assert!(report.ok(), "point {point} ({delay:?}): {:?}", report.problems);
        if !report.unreferenced.is_empty() {
            mid_write += 1;
        }
        let now = state(&store, f0);
        if now == old {
            old_seen += 1;
        } else {
            assert_eq!(now, new, "point {point} ({delay:?}): neither the old nor the new snapshot");
            new_seen += 1;
        }
        // Run again: it removes what the killed run left and completes.
        assert!(spawn(&store).wait().unwrap().success());
        assert_eq!(state(&store, f0).0, new.0);
        assert!(truyvet::Store::verify(&store, false).unwrap().unreferenced.is_empty());
        std::fs::remove_dir_all(&store).unwrap();
    }
    eprintln!("{points} kills: {mid_write} mid-write (uncommitted files on disk), {old_seen} old, {new_seen} new");
    // Which kills land mid-write depends on timing; the seeded moments make none landing at all
    // practically impossible (runs of 100 put 45-98 % mid-write, see the notes).
    assert!(mid_write > 0, "none of {points} kills landed while files were being written");
    (mid_write, old_seen, new_seen)
}

#[test]
fn kill_9_of_an_ingest_at_seeded_points_leaves_the_old_or_the_new_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let small = generate(dir.path(), 500, 1);
    let big = generate(dir.path(), 15_000, 2);
    let base = dir.path().join("base");
    run_ok(&["ingest", "--store", base.to_str().unwrap(), small.to_str().unwrap()]);
    let f0 = truyvet::Store::open(&base).unwrap().snapshot().person_id(0).unwrap().to_string();
    let big = big.to_str().unwrap().to_string();
    kill_at_seeded_points(dir.path(), &base, &f0, &|store| {
        ["ingest", "--flush-rows", "4000", "--store", store.to_str().unwrap(), &big].map(String::from).into()
    });
}

#[test]
fn kill_9_of_a_compaction_at_seeded_points_leaves_the_old_or_the_new_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(dir.path(), 15_000, 4);
    let base = dir.path().join("base");
    run_ok(&["ingest", "--flush-rows", "3000", "--store", base.to_str().unwrap(), data.to_str().unwrap()]);
    let f0 = truyvet::Store::open(&base).unwrap().snapshot().person_id(0).unwrap().to_string();
    kill_at_seeded_points(dir.path(), &base, &f0, &|store| {
        ["compact", "--store", store.to_str().unwrap()].map(String::from).into()
    });
}

#[test]
fn kill_9_of_a_purge_at_seeded_points_leaves_the_old_or_the_new_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(dir.path(), 15_000, 5);
    let base = dir.path().join("base");
    let b = base.to_str().unwrap();
    run_ok(&["ingest", "--flush-rows", "3000", "--store", b, data.to_str().unwrap()]);
    run_ok(&["retention", "--store", b, "--keep", "2d"]);
    // The generator's three local days touch four UTC days: keeping two, as of the last,
    // purges the first two. The F0 is someone of the kept days.
    let snap = truyvet::Store::open(&base).unwrap().snapshot();
    let last = *snap.manifest().days().last().unwrap();
    let part = snap.parts().iter().find(|p| p.info.day == last).unwrap();
    let f0 = snap.person_id(part.person_at(0).unwrap()).unwrap().to_string();
    let as_of = truyvet::time::day_name(last);
    drop(snap);
    kill_at_seeded_points(dir.path(), &base, &f0, &|store| {
        ["purge", "--store", store.to_str().unwrap(), "--as-of", &as_of].map(String::from).into()
    });
    // A purge killed between its commit and its deletions is finished by the next purge.
    let store = dir.path().join("finish");
    copy_dir(&base, &store);
    let s = store.to_str().unwrap();
    run_ok(&["purge", "--store", s, "--as-of", &as_of]);
    std::fs::copy(base.join("manifests/m-0000000001.json"), store.join("manifests/m-0000000001.json")).unwrap();
    let again: serde_json::Value =
        serde_json::from_str(&run_ok(&["purge", "--store", s, "--as-of", &as_of, "--format", "json"])).unwrap();
    assert_eq!((again["version"].is_null(), again["files_deleted"].as_u64()), (true, Some(1)));
}

/// A reader tracing in a loop while three batches and a compaction commit: every answer is the
/// answer of the snapshot it opened, as computed on a reference store after the same commits.
#[test]
fn readers_during_ingest_and_compaction_see_whole_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let days = generate(dir.path(), 6000, 3);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&days).unwrap().flatten().map(|e| e.path()).collect();
    files.sort();
    assert_eq!(files.len(), 3);
    let reference = dir.path().join("reference");
    let mut expected: Vec<(u64, String)> = Vec::new();
    let mut f0 = String::new();
    for f in &files {
        run_ok(&["ingest", "--store", reference.to_str().unwrap(), f.to_str().unwrap()]);
        let snap = truyvet::Store::open(&reference).unwrap().snapshot();
        if f0.is_empty() {
            f0 = snap.person_id(0).unwrap().to_string();
        }
        let answer = snap.trace(&truyvet::TraceRequest::new(f0.as_str())).unwrap();
        let ids: Vec<String> =
            answer.contacts.iter().map(|c| format!("{}:{}", c.person_id, c.exposure_seconds)).collect();
        expected.push((snap.manifest().version, ids.join(",")));
    }
    // Compaction changes parts, not answers: the compacted version answers as the last ingest.
    let last = expected.last().cloned().unwrap();
    expected.push((last.0 + 1, last.1));
    let store = dir.path().join("store");
    run_ok(&["ingest", "--store", store.to_str().unwrap(), files[0].to_str().unwrap()]);
    let done = std::sync::atomic::AtomicBool::new(false);
    let checked = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut checked = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let snap = truyvet::Store::open(&store).unwrap().snapshot();
                let answer = snap.trace(&truyvet::TraceRequest::new(f0.as_str())).unwrap();
                let ids: Vec<String> =
                    answer.contacts.iter().map(|c| format!("{}:{}", c.person_id, c.exposure_seconds)).collect();
                let v = snap.manifest().version;
                let want = expected.iter().find(|e| e.0 == v).expect("a committed version");
                assert_eq!(ids.join(","), want.1, "version {v}");
                checked += 1;
            }
            checked
        });
        for f in &files[1..] {
            run_ok(&["ingest", "--store", store.to_str().unwrap(), f.to_str().unwrap()]);
        }
        let compacted = run_ok(&["compact", "--store", store.to_str().unwrap(), "--format", "json"]);
        assert!(compacted.contains("\"version\": 4"), "{compacted}");
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap()
    });
    assert!(checked > 3, "the reader ran {checked} traces");
}
