//! Input directories as a user leaves them: nested, with links, with a link back to itself.

use crate::run_ok;

/// Regression: a symlink loop (`dir/self -> ../dir`) was walked ~40 levels deep, hashing the same
/// file at every level and printing each as skipped.
#[cfg(unix)]
#[test]
fn a_symlink_loop_is_read_once_and_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(input.join("sub")).unwrap();
    std::fs::write(input.join("sub/a.csv"), "person_id,venue_id,check_in,check_out\nP,V,2021-08-01T08:00:00Z,\n")
        .unwrap();
    std::os::unix::fs::symlink("../in", input.join("self")).unwrap();
    std::os::unix::fs::symlink("..", input.join("sub/up")).unwrap();
    let store = dir.path().join("store");
    let out = crate::truyvet()
        .args(["ingest", "--store", store.to_str().unwrap(), input.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("read 1 rows from 1 file(s)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stderr.matches("symbolic link back to").count(), 2, "one warning per loop:\n{stderr}");
    assert!(!stderr.contains("skipped"), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&run_ok(&[
        "ingest",
        "--store",
        dir.path().join("store2").to_str().unwrap(),
        "--format",
        "json",
        input.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(report["warnings"].as_array().map(Vec::len), Some(2), "{report}");
    assert_eq!(report["files"].as_array().map(Vec::len), Some(1), "{report}");
}
