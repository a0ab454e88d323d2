//! The read-only sandbox refuses every write and every way to reach other files; SQL errors
//! name the unknown table, column or F0 and carry the statement.

use std::path::{Path, PathBuf};

use super::{assert_rows, fixture_store, query, session};

#[test]
fn the_sandbox_refuses_every_write_and_file_access() {
    let (dir, store, snap) = fixture_store();
    let s = session(&snap);
    let before = store_files(&store);
    let out = dir.path().join("escaped.csv");
    let out = out.to_str().unwrap();
    for (sql, named) in [
        (format!("CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{}'", "/etc/passwd"), "CREATE EXTERNAL TABLE"),
        (
            format!("CREATE EXTERNAL TABLE x (a INT) STORED AS PARQUET LOCATION '{}'", store.join("data").display()),
            "CREATE EXTERNAL TABLE",
        ),
        (format!("COPY checkins TO '{out}'"), "COPY ... TO"),
        (format!("COPY (SELECT * FROM persons) TO '{out}' STORED AS CSV"), "COPY ... TO"),
        (format!("EXPLAIN ANALYZE COPY checkins TO '{out}'"), "COPY ... TO"),
        ("INSERT INTO checkins SELECT * FROM checkins".into(), "INSERT INTO"),
        ("INSERT INTO venues VALUES ('X', 'x', 'x', 'x', 'x', 0.0, 0.0)".into(), "INSERT INTO"),
        ("EXPLAIN ANALYZE INSERT INTO checkins SELECT * FROM checkins".into(), "INSERT INTO"),
        ("UPDATE venues SET name = 'x'".into(), "UPDATE"),
        ("DELETE FROM checkins".into(), "DELETE FROM"),
        ("CREATE TABLE t AS SELECT * FROM checkins".into(), "CREATE TABLE ... AS"),
        ("CREATE TABLE t (a INT)".into(), "CREATE TABLE"),
        ("SELECT * INTO t FROM checkins".into(), "SELECT ... INTO"),
        ("CREATE VIEW v AS SELECT 1".into(), "CREATE VIEW"),
        ("CREATE OR REPLACE VIEW persons AS SELECT 1".into(), "CREATE OR REPLACE VIEW"),
        ("DROP TABLE checkins".into(), "DROP TABLE"),
        ("DROP VIEW persons".into(), "DROP VIEW"),
        ("TRUNCATE checkins".into(), "TRUNCATE"),
        ("SET datafusion.execution.target_partitions = 1".into(), "SET"),
        ("SET datafusion.catalog.location = '/etc'".into(), "SET"),
        ("RESET datafusion.execution.batch_size".into(), "RESET"),
        ("BEGIN TRANSACTION".into(), "BEGIN TRANSACTION"),
        ("PREPARE p AS SELECT * FROM checkins".into(), "PREPARE"),
        ("CREATE FUNCTION f(a INT) RETURNS INT RETURN a".into(), "CREATE FUNCTION"),
    ] {
        let err = s.query(&sql).expect_err(&sql).to_string();
        assert!(err.starts_with(&format!("refused: {named} is not allowed; truyvet SQL is read-only")), "{sql}\n{err}");
        assert!(err.contains(&sql), "the error shows the statement: {err}");
    }
    // No file-reading table function, no URL tables.
    for (sql, needle) in [
        ("SELECT * FROM read_parquet('/etc/passwd')", "table function 'read_parquet' not found"),
        ("SELECT * FROM read_csv('/etc/passwd')", "table function 'read_csv' not found"),
        ("SELECT * FROM '/etc/passwd'", "table '/etc/passwd' not found"),
        ("SELECT * FROM 'data/day=2021-08-01'", "not found"),
    ] {
        let err = s.query(sql).expect_err(sql).to_string();
        assert!(err.contains(needle), "{sql}\n{err}");
    }
    assert!(!Path::new(out).exists(), "COPY wrote a file");
    assert_eq!(store_files(&store), before, "the store changed");
    // The session still works, with its tables intact.
    assert_rows(&query(&s, "SELECT count(*) FROM checkins"), &["26"], "after refusals");
    assert_rows(&query(&s, "SELECT count(*) FROM persons"), &["9"], "after refusals");
}

fn store_files(store: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![store.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            let md = e.metadata().unwrap();
            if md.is_dir() {
                stack.push(e.path());
            } else {
                out.push((e.path(), md.len()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn unknown_tables_and_columns_are_named() {
    let (_dir, _store, snap) = fixture_store();
    let s = session(&snap);
    let err = s.query("SELECT * FROM chekins").unwrap_err().to_string();
    assert!(
        err.contains("table 'chekins' not found") && err.contains("tables: checkins, venues, cases, persons"),
        "{err}"
    );
    let err = s.query("SELECT venue FROM checkins").unwrap_err().to_string();
    assert!(err.contains("No field named venue") && err.contains("checkins.venue_id"), "{err}");
    let err = s.query("SELECT v.nme FROM venues v").unwrap_err().to_string();
    assert!(err.contains("v.nme"), "{err}");
    let err = s.query("SELEC 1").unwrap_err();
    let truyvet::Error::Sql { message, statement, .. } = &err else { panic!("{err:?}") };
    assert!(message.contains("SELEC"), "{message}");
    assert_eq!(statement, "SELEC 1");
    assert_eq!(err.kind(), truyvet::ErrorKind::Usage);
}

#[test]
fn trace_function_errors_are_clear() {
    let (_dir, _store, snap) = fixture_store();
    let s = session(&snap);
    for (sql, needle) in [
        ("SELECT * FROM f1_contacts('nobody')", "f1_contacts: person \"nobody\" is not in the store"),
        ("SELECT * FROM exposures('nobody')", "exposures: person \"nobody\" is not in the store"),
        ("SELECT * FROM f1_contacts()", "at least f0"),
        ("SELECT * FROM f1_contacts('F0A', 'last tuesday')", "invalid from \"last tuesday\""),
        ("SELECT * FROM f1_contacts('F0A', NULL, NULL, 'forever')", "linger_s"),
        ("SELECT * FROM f1_contacts('F0A', NULL, NULL, -5)", "linger"),
        (
            "SELECT * FROM f1_contacts('F0A', '2021-08-03T00:00:00Z', '2021-08-02T00:00:00Z')",
            "--from must be before --to",
        ),
        (
            "SELECT * FROM f1_contacts('F0A', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
            "got 10 argument(s)",
        ),
        ("SELECT * FROM f1_contacts('F0A', NULL, NULL, NULL, NULL, NULL, NULL, 'nhs')", "invalid rule \"nhs\""),
        (
            "SELECT * FROM f1_contacts('F0A', NULL, NULL, NULL, NULL, NULL, NULL, 5)",
            "argument rule must be a rule name",
        ),
    ] {
        let err = s.query(sql).unwrap_err();
        assert!(matches!(err, truyvet::Error::Sql { .. }), "{sql}: {err:?}");
        assert!(err.to_string().contains(needle), "{sql}: {err}");
        assert!(err.to_string().contains(sql), "the error names the statement: {err}");
    }
}
