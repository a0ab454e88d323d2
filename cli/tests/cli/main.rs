//! The `truyvet` binary end to end. These tests live in the cli package so that cargo builds the
//! binary they run and hands over its path (`CARGO_BIN_EXE_truyvet`): a test can never run a
//! stale `truyvet` left in target/. The library's own end-to-end tests are in tests/.

mod basics;
#[cfg(unix)]
mod browser;
mod cases;
#[cfg(all(unix, feature = "cluster"))]
mod cluster;
mod crash;
mod output;
mod pseudonym;
mod report;
mod rules;
#[cfg(unix)]
mod serve;
#[cfg(feature = "sql")]
mod sql;
mod store;
mod walk;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `truyvet` binary of this build.
pub fn truyvet() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_truyvet"));
    c.env_remove("TRUYVET_LOG");
    c
}

/// Run `truyvet args`, assert success, return stdout.
pub fn run_ok(args: &[&str]) -> String {
    let out = truyvet().args(args).output().unwrap();
    assert!(out.status.success(), "truyvet {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The person with the most check-ins in `store` (ties: the smallest id), by `truyvet sql`.
#[cfg(unix)]
pub fn busiest_person(store: &Path) -> String {
    let sql = "SELECT person_id FROM checkins GROUP BY person_id ORDER BY count(*) DESC, person_id LIMIT 1";
    let csv = run_ok(&["sql", "--store", store.to_str().unwrap(), "--format", "csv", sql]);
    csv.lines().nth(1).expect("a store with check-ins").to_string()
}

/// Rows in a Parquet file written by `truyvet ... --format parquet`.
pub fn parquet_rows(path: &Path) -> usize {
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
            .unwrap()
            .build()
            .unwrap();
    reader.map(|b| b.unwrap().num_rows()).sum()
}

/// Every file below `dir` (none when it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(files_under(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// Copy a directory tree (a store) file by file.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The workspace's directory of canned queries.
pub fn queries_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../queries")
}

/// The hand-written SQL fixture store of the e2e tests (tests/fixtures/sql), ingested by the
/// binary: returns (tempdir, store path).
pub fn fixture_store() -> (tempfile::TempDir, PathBuf) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/sql");
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    run_ok(&[
        "ingest",
        "--store",
        store.to_str().unwrap(),
        "--venues",
        fixtures.join("venues.csv").to_str().unwrap(),
        fixtures.join("checkins.csv").to_str().unwrap(),
    ]);
    (dir, store)
}

/// A store of two check-ins at one venue (F0 and A), for error and format tests.
pub fn tiny_store(dir: &Path) -> PathBuf {
    let input = dir.join("a.csv");
    std::fs::write(
        &input,
        "person_id,venue_id,check_in,check_out\nF0,V,2021-08-01T08:00:00Z,\nA,V,2021-08-01T08:10:00Z,\n",
    )
    .unwrap();
    let store = dir.join("store");
    run_ok(&["ingest", "--store", store.to_str().unwrap(), input.to_str().unwrap()]);
    store
}
