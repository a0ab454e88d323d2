//! Memory bounds of whole `truyvet` processes, read from the kernel (`wait4`) through the
//! benchmark's relay. Bounds, not timings: they hold on a noisy machine.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use truyvet_benches::child;

/// The `truyvet` binary built beside this test's `truyvet-bench` (a workspace test run builds
/// both).
fn truyvet_bin() -> PathBuf {
    let bench = Path::new(env!("CARGO_BIN_EXE_truyvet-bench"));
    let bin = bench.with_file_name(format!("truyvet{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.is_file(), "{} not built: run the workspace's tests (cargo test --workspace)", bin.display());
    bin
}

/// An ingest whose rows are nearly all rejected stays within the memory of its buffers: rejected
/// rows are spilled to disk, not held. With every reject in memory (before the spill), a million
/// of them took several hundred MiB.
#[test]
fn a_million_rejected_rows_do_not_grow_memory() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rejects.csv");
    let mut text = String::with_capacity(64 << 20);
    text.push_str("person_id,venue_id,check_in,check_out\n");
    text.push_str("P0,V0,2021-08-01T08:00:00Z,\n");
    const REJECTS: usize = 1_000_000;
    for i in 0..REJECTS {
        text.push_str(&format!("09{i:08},QR-HNI-BD-{:06},2021-08-01 25:00,\n", i % 5000));
    }
    std::fs::write(&input, text).unwrap();
    let store = dir.path().join("store");
    let args: Vec<OsString> = [
        "ingest",
        "--store",
        store.to_str().unwrap(),
        "--max-reject-ratio",
        "1",
        "--flush-rows",
        "65536",
        "--format",
        "json",
        input.to_str().unwrap(),
    ]
    .map(OsString::from)
    .into();
    let relay = Path::new(env!("CARGO_BIN_EXE_truyvet-bench"));
    let run = child::run(relay, &truyvet_bin(), &args).unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!((report["rows_stored"].as_u64(), report["rows_rejected"].as_u64()), (Some(1), Some(REJECTS as u64)));
    let quarantine = std::fs::read_to_string(report["quarantine"].as_str().unwrap()).unwrap();
    assert_eq!(quarantine.lines().count(), REJECTS + 1, "every reject is quarantined, after a header");
    let mib = run.peak_rss_bytes >> 20;
    assert!(mib < 96, "ingest of {REJECTS} rejected rows peaked at {mib} MiB");
}
