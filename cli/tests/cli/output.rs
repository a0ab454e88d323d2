//! Output formats and exit codes: every format of an empty result is valid, every report is
//! JSON with `--format json`, and a malformed argument is a usage error, never a panic.

use crate::{run_ok, tiny_store, truyvet};

/// Regression: an empty result printed `[][]` with `--format json`.
#[test]
fn empty_results_are_valid_json() {
    let dir = tempfile::tempdir().unwrap();
    let store = tiny_store(dir.path());
    let store = store.to_str().unwrap();
    let late = ["--store", store, "--f0", "F0", "--from", "2021-09-01T00:00:00Z", "--format", "json"];
    for cmd in ["trace", "exposures"] {
        let mut args = vec![cmd];
        args.extend(late);
        let out = run_ok(&args);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap(), serde_json::json!([]), "{cmd}: {out}");
    }
    #[cfg(feature = "sql")]
    {
        let out = run_ok(&["sql", "--store", store, "--format", "json", "SELECT * FROM checkins WHERE false"]);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap(), serde_json::json!([]), "{out}");
    }
    // A non-empty one is still an array of objects.
    let out = run_ok(&["trace", "--store", store, "--f0", "F0", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["person_id"], "A", "{out}");
}

#[test]
fn reports_take_format_json() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("a.csv");
    std::fs::write(&input, "person_id,venue_id,check_in,check_out\nP,V,2021-08-01T08:00:00Z,\nQ,V,bad,\n").unwrap();
    let store = dir.path().join("store");
    let store = store.to_str().unwrap();
    let ingest: serde_json::Value = serde_json::from_str(&run_ok(&[
        "ingest",
        "--store",
        store,
        "--max-reject-ratio",
        "0.9",
        "--format",
        "json",
        input.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!((ingest["rows_read"].as_u64(), ingest["rows_stored"].as_u64()), (Some(2), Some(1)), "{ingest}");
    assert_eq!(ingest["rows_rejected"], 1);
    // Stats as JSON is the library's StoreStats, every field of it.
    let stats: serde_json::Value =
        serde_json::from_str(&run_ok(&["stats", "--store", store, "--format", "json"])).unwrap();
    assert_eq!(stats["first_day"], "2021-08-01", "{stats}");
    assert_eq!(stats["last_day"], "2021-08-01", "{stats}");
    assert_eq!(stats["version"], 1, "{stats}");
    assert_eq!(stats["rejected"], 1, "{stats}");
}

/// Regression: `--tz '+€a'` panicked (exit 101) splitting a multi-byte character.
#[test]
fn a_malformed_time_zone_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = tiny_store(dir.path());
    let store = store.to_str().unwrap();
    for tz in ["+€a", "+€", "€", "07:00"] {
        for args in [
            vec!["trace", "--store", store, "--f0", "F0", "--tz", tz],
            vec!["ingest", "--store", store, "--tz", tz, "x.csv"],
        ] {
            let out = truyvet().args(&args).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains("time zone") && !err.contains("panicked"), "{args:?}: {err}");
        }
    }
}

/// Exit codes are classes: a usage mistake the binary finds (not clap) is 2, an output file that
/// cannot be created is a file-system problem (4).
#[test]
fn exit_codes_name_the_class_of_failure() {
    let dir = tempfile::tempdir().unwrap();
    let store = tiny_store(dir.path());
    let store = store.to_str().unwrap();
    let nowhere = dir.path().join("no/such/dir/out.csv");
    let out = truyvet()
        .args(["trace", "--store", store, "--f0", "F0", "--output", nowhere.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    #[cfg(feature = "sql")]
    {
        let out =
            truyvet().args(["sql", "--store", store, "--format", "parquet", "SELECT 1; SELECT 2"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
        // A Parquet file that cannot be read is the store's problem, not the statement's.
        let part = crate::files_under(&dir.path().join("store/data"))
            .into_iter()
            .find(|p| p.extension().is_some_and(|e| e == "parquet"))
            .unwrap();
        // Cut in half: the footer is gone, as after a disk error.
        let bytes = std::fs::read(&part).unwrap();
        std::fs::write(&part, &bytes[..bytes.len() / 2]).unwrap();
        let out = truyvet()
            .args(["sql", "--store", store, "SELECT count(*) FROM checkins WHERE check_out IS NULL"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    }
}
