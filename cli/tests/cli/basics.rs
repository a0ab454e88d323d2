//! The `truyvet` binary end to end: gen → ingest → stats → trace in every format, errors and
//! exit codes, and a real `kill -9` in the middle of an ingest.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::{run_ok, truyvet};

fn gen_data(dir: &Path, format: &str, people: u32) -> String {
    let out = dir.join(format!("gen-{format}-{people}"));
    run_ok(&[
        "gen",
        "--out",
        out.to_str().unwrap(),
        "--people",
        &people.to_string(),
        "--venues",
        "150",
        "--days",
        "3",
        "--format",
        format,
        "--seed",
        "7",
    ]);
    out.to_str().unwrap().to_string()
}

#[test]
fn gen_ingest_stats_trace() {
    let dir = tempfile::tempdir().unwrap();
    let data = gen_data(dir.path(), "csv.gz", 3000);
    let store = dir.path().join("store");
    let store = store.to_str().unwrap();
    let venues = format!("{data}/venues.csv");
    let out = run_ok(&["ingest", "--store", store, "--tz", "+07:00", "--venues", &venues, &format!("{data}/checkins")]);
    assert!(out.contains("batch 1: read"), "{out}");
    let stats: serde_json::Value =
        serde_json::from_str(&run_ok(&["stats", "--store", store, "--format", "json"])).unwrap();
    for key in ["rows", "persons", "venues", "days", "batches", "rejected", "bytes"] {
        assert!(stats[key].as_u64().is_some(), "stats lacks {key}: {stats}");
    }
    // Three local (+07:00) days touch four UTC days: early scans fall on the previous UTC day.
    assert_eq!(stats["days"], 4);
    assert_eq!(stats["batches"], 1);
    assert!(stats["persons"].as_u64().unwrap() > 2000);
    // Ingesting the same directory again changes nothing.
    let again = truyvet().args(["ingest", "--store", store, &format!("{data}/checkins")]).output().unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing new to ingest"));
    let stats2: serde_json::Value =
        serde_json::from_str(&run_ok(&["stats", "--store", store, "--format", "json"])).unwrap();
    assert_eq!(stats, stats2);

    // Trace a person with contacts in every format.
    let snap = truyvet::Store::open(store).unwrap().snapshot();
    let f0 = (0..200)
        .map(|k| snap.person_id(k).unwrap().to_string())
        .find(|p| !snap.trace(&truyvet::TraceRequest::new(p.as_str())).unwrap().contacts.is_empty())
        .unwrap();
    let expected = snap.trace(&truyvet::TraceRequest::new(f0.as_str())).unwrap();
    let csv = run_ok(&["trace", "--store", store, "--f0", &f0, "--format", "csv"]);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("rank,person_id,exposure_seconds,imputed_seconds,episodes,venues,first_contact,last_contact")
    );
    let first = lines.next().unwrap();
    let c = &expected.contacts[0];
    assert_eq!(
        first,
        format!(
            "1,{},{},{},{},{},{},{}",
            c.person_id,
            c.exposure_seconds,
            c.imputed_seconds,
            c.episodes,
            c.venues,
            truyvet::time::format_utc(c.first_contact),
            truyvet::time::format_utc(c.last_contact)
        )
    );
    assert_eq!(csv.lines().count(), expected.contacts.len() + 1);
    assert!(first.ends_with('Z'));

    let json: serde_json::Value =
        serde_json::from_str(&run_ok(&["trace", "--store", store, "--f0", &f0, "--format", "json", "--limit", "3"]))
            .unwrap();
    let arr = json.as_array().unwrap();
    assert_eq!(arr.len(), expected.contacts.len().min(3));
    assert_eq!(arr[0]["person_id"], c.person_id.as_str());
    assert_eq!(arr[0]["exposure_seconds"], c.exposure_seconds);
    assert_eq!(arr[0]["rank"], 1);

    let table = run_ok(&["trace", "--store", store, "--f0", &f0, "--format", "table"]);
    assert!(table.contains("where") && table.contains(c.person_id.as_str()), "{table}");
    // Venue names from the venues file appear in the table and the details.
    let details = run_ok(&["trace", "--store", store, "--f0", &f0, "--details", "--format", "csv"]);
    assert!(details.starts_with("rank,person_id,venue_id,venue_name,start,end,seconds,imputed_seconds\n"), "{details}");
    assert_eq!(details, run_ok(&["exposures", "--store", store, "--f0", &f0, "--format", "csv"]));
    let venue_name = details.lines().nth(1).unwrap().split(',').nth(3).unwrap();
    assert!(!venue_name.is_empty(), "{details}");

    let pq = dir.path().join("f1.parquet");
    run_ok(&["trace", "--store", store, "--f0", &f0, "--format", "parquet", "--output", pq.to_str().unwrap()]);
    assert_eq!(crate::parquet_rows(&pq), expected.contacts.len());

    // Parameters change the answer the same way as through the library.
    let csv = run_ok(&[
        "trace",
        "--store",
        store,
        "--f0",
        &f0,
        "--format",
        "csv",
        "--linger",
        "15m",
        "--dwell",
        "30m",
        "--min-overlap",
        "5m",
    ]);
    let lib = snap.trace(&truyvet::TraceRequest::new(f0.as_str()).linger(900).dwell(1800).min_overlap(300)).unwrap();
    assert_eq!(csv.lines().count(), lib.contacts.len() + 1);
}

#[test]
fn errors_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::tiny_store(dir.path());
    let store = store.to_str().unwrap();
    let unknown = truyvet().args(["trace", "--store", store, "--f0", "ghost"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("person \"ghost\" is not in the store"));
    let empty = truyvet()
        .args(["trace", "--store", store, "--f0", "F0", "--from", "2021-09-01T00:00:00Z", "--format", "csv"])
        .output()
        .unwrap();
    assert_eq!(empty.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&empty.stderr).contains("F1 list is empty"));
    assert_eq!(String::from_utf8_lossy(&empty.stdout).lines().count(), 1);
    let bad = truyvet().args(["trace", "--store", store, "--f0", "F0", "--linger", "5 fortnights"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("duration"));
    let bad_time =
        truyvet().args(["trace", "--store", store, "--f0", "F0", "--from", "last tuesday"]).output().unwrap();
    assert_eq!(bad_time.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_time.stderr).contains("--from"));
    let no_store = truyvet().args(["stats", "--store", dir.path().join("nowhere").to_str().unwrap()]).output().unwrap();
    assert_ne!(no_store.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&no_store.stderr).contains("not a truyvet store"));
    let dirty = dir.path().join("dirty.csv");
    std::fs::write(&dirty, "person_id,venue_id,check_in,check_out\nX,V,garbage,\n").unwrap();
    let refused = truyvet().args(["ingest", "--store", store, dirty.to_str().unwrap()]).output().unwrap();
    assert_eq!(refused.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("nothing committed"));
}

/// Files under the store's `data/` directory (parts and indexes, committed or not).
fn data_files(store: &Path) -> usize {
    crate::files_under(&store.join("data")).len()
}

#[test]
fn kill_9_during_ingest_leaves_the_previous_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let small = gen_data(dir.path(), "csv", 500);
    let big = gen_data(dir.path(), "csv", 40_000);
    let store = dir.path().join("store");
    let store_s = store.to_str().unwrap();
    run_ok(&["ingest", "--store", store_s, &format!("{small}/checkins")]);
    let before = truyvet::Store::open(&store).unwrap().snapshot().stats().unwrap();
    let committed_files = data_files(&store);
    // Small flushes, so the ingest writes parts all along; kill at increasing delays until a
    // kill lands while parts of the batch are on disk but not committed: proof that it
    // interrupted a write, not the parsing before any write.
    let mut killed_mid_write = false;
    for delay_ms in (1..60u64).map(|i| i * 25) {
        let mut child = truyvet()
            .args(["ingest", "--flush-rows", "5000", "--store", store_s, &format!("{big}/checkins")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_millis(delay_ms) {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let now = truyvet::Store::open(&store).unwrap().snapshot().stats().unwrap();
        if now != before {
            // The ingest finished before the kill: the whole batch is visible, nothing less.
            assert_eq!(now.batches, before.batches + 1);
            break;
        }
        if data_files(&store) > committed_files {
            killed_mid_write = true;
            break;
        }
    }
    assert!(killed_mid_write, "no kill landed while the batch was writing its parts");
    // The store still works, the next ingest clears the leftovers and completes.
    run_ok(&["ingest", "--store", store_s, &format!("{big}/checkins")]);
    let after = truyvet::Store::open(&store).unwrap().snapshot().stats().unwrap();
    assert_eq!(after.batches, before.batches + 1);
    assert!(after.rows > before.rows);
}

#[test]
fn version_and_help() {
    let out = truyvet().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("truyvet "));
    let help = truyvet().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for cmd in ["demo", "gen", "ingest", "stats", "trace", "exposures"] {
        assert!(text.contains(cmd), "--help lacks {cmd}:\n{text}");
    }
    // The benchmark harness is a separate binary (truyvet-bench), not a subcommand.
    assert!(!text.contains("bench"), "{text}");
}
