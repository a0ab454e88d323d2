//! `truyvet sql` end to end: same output as `truyvet trace`, files with parameters, every
//! format, errors and exit codes, the interactive prompt fed through a pipe.

use std::path::Path;
use std::process::{Output, Stdio};

use super::{fixture_store, queries_dir};

fn truyvet(args: &[&str]) -> Output {
    crate::truyvet().args(args).output().unwrap()
}

fn stdout_ok(args: &[&str]) -> String {
    let out = truyvet(args);
    assert!(out.status.success(), "truyvet {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn cli_sql_matches_cli_trace() {
    let (_dir, store) = fixture_store();
    let store = store.to_str().unwrap();
    for (trace_args, sql_args) in [
        (vec!["--f0", "F0A"], "'F0A'"),
        (vec!["--f0", "F0B", "--linger", "15m", "--dwell", "30m"], "'F0B', NULL, NULL, 900, 1800"),
        (
            vec!["--f0", "F0A", "--from", "2021-08-02T00:00:00Z", "--min-overlap", "20m"],
            "'F0A', '2021-08-02T00:00:00Z', NULL, NULL, NULL, NULL, 1200",
        ),
    ] {
        for (cmd, function) in [("trace", "f1_contacts"), ("exposures", "exposures")] {
            let mut args = vec![cmd, "--store", store, "--format", "csv"];
            args.extend(&trace_args);
            let from_trace = stdout_ok(&args);
            let sql = format!("SELECT * FROM {function}({sql_args})");
            let from_sql = stdout_ok(&["sql", "--store", store, "--format", "csv", &sql]);
            assert_eq!(from_sql, from_trace, "{sql} vs truyvet {args:?}");
            assert!(from_sql.lines().count() > 1, "{from_sql}");
        }
    }
}

#[test]
fn cli_sql_runs_files_with_params_in_every_format() {
    let (dir, store) = fixture_store();
    let store = store.to_str().unwrap();
    let top = queries_dir().join("top_venues.sql");
    let top = top.to_str().unwrap();
    let csv = stdout_ok(&["sql", "--store", store, "-f", top, "--param", "limit=2", "--format", "csv"]);
    assert_eq!(
        csv,
        "venue_id,name,category,province,visitors,checkins\nMKT1,Chợ Bến Thành,market,Hồ Chí Minh,6,9\nCAFE1,Cà phê Sáng,cafe,Hồ Chí Minh,6,6\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout_ok(&["sql", "--store", store, "-f", top, "-p", "limit=1", "--format", "json"]))
            .unwrap();
    assert_eq!(json[0]["venue_id"], "MKT1");
    assert_eq!(json[0]["visitors"], 6);
    let table = stdout_ok(&["sql", "--store", store, "-f", top, "-p", "limit=1", "--format", "table"]);
    assert!(table.contains("Chợ Bến Thành") && table.contains("visitors"), "{table}");
    // Parquet to a file, read back.
    let pq = dir.path().join("f1.parquet");
    stdout_ok(&[
        "sql",
        "--store",
        store,
        "SELECT * FROM f1_contacts('F0A')",
        "--format",
        "parquet",
        "--output",
        pq.to_str().unwrap(),
    ]);
    assert_eq!(crate::parquet_rows(&pq), 6);
    // CSV to a file.
    let out = dir.path().join("out.csv");
    stdout_ok(&[
        "sql",
        "--store",
        store,
        "SELECT person_id FROM persons ORDER BY person_id LIMIT 2",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "person_id\n0912345678\nA\n");
    // Several statements: each result printed, in order.
    let two = stdout_ok(&["sql", "--store", store, "--format", "csv", "SELECT 1 AS a; SELECT 'x;y' AS b;"]);
    assert_eq!(two, "a\n1\n\nb\nx;y\n");
    // A missing parameter says which.
    let out = truyvet(&["sql", "--store", store, "-f", top]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--param limit="),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn cli_sql_errors_name_the_problem_and_exit_2() {
    let (_dir, store) = fixture_store();
    let store = store.to_str().unwrap();
    for (sql, needle) in [
        ("SELECT * FROM nope", "table 'nope' not found"),
        ("SELECT nope FROM checkins", "No field named nope"),
        ("DROP TABLE checkins", "refused: DROP TABLE is not allowed"),
        ("COPY checkins TO '/tmp/truyvet-sql-escape.csv'", "refused: COPY ... TO is not allowed"),
        ("SELECT * FROM f1_contacts('nobody')", "person \"nobody\" is not in the store"),
    ] {
        let out = truyvet(&["sql", "--store", store, sql]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{sql}: {err}");
        assert!(err.contains(needle) && err.contains(&format!("in: {sql}")), "{sql}: {err}");
    }
    assert!(!Path::new("/tmp/truyvet-sql-escape.csv").exists());
}

#[test]
fn cli_sql_prompt_reads_multiline_statements_and_backslash_commands() {
    let (dir, store) = fixture_store();
    let mut child = crate::truyvet()
        .args(["sql", "--store", store.to_str().unwrap(), "--format", "csv"])
        .env("TRUYVET_HISTORY", dir.path().join("history"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = "\\d\n\\d venues\nSELECT venue_id,\n       count(*) AS n\nFROM checkins\nGROUP BY venue_id ORDER BY n DESC, venue_id LIMIT 1;\nSELECT nope FROM checkins;\nSELECT 2 AS two; SELECT 3 AS three;\n\\q\n";
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    for table in [
        "checkins,table",
        "venues,table",
        "persons,view",
        "f1_contacts(f0 [, from, to, linger_s, dwell_s, max_visit_s, min_overlap_s, rule, radius_s])\",table function",
    ] {
        assert!(stdout.contains(table), "\\d lacks {table}:\n{stdout}");
    }
    assert!(stdout.contains("column,type,nullable\nvenue_id,Utf8View,no\nname,Utf8View,yes"), "\\d venues:\n{stdout}");
    assert!(stdout.contains("venue_id,n\nMKT1,9\n"), "multi-line statement:\n{stdout}");
    assert!(stdout.contains("two\n2\n") && stdout.contains("three\n3\n"), "{stdout}");
    assert!(stderr.contains("No field named nope"), "{stderr}");
    assert!(stderr.contains("(1 row, ") && stderr.contains(" ms)"), "timing per statement:\n{stderr}");
    assert_eq!(out.status.code(), Some(2), "piped input with an error exits 2");
    let history = std::fs::read_to_string(dir.path().join("history")).unwrap();
    assert!(history.contains("SELECT 2 AS two"), "{history}");
}
