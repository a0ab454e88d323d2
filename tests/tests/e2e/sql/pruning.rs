//! Pruning proven by EXPLAIN ANALYZE: days from the manifest, venues by row-group statistics,
//! pages by the page index; and results that do not depend on threads, filter pushdown or run
//! aggregation.

use truyvet::sql::{Session, SessionOptions};
use truyvet::{Ingest, Snapshot, Store};

use super::{assert_rows, fixture_store, query, session};

/// Parse `name=N total → M matched` metrics of an EXPLAIN ANALYZE plan, summed over
/// operators: (total, matched).
fn pruning_metric(plan: &str, name: &str) -> (f64, f64) {
    let number = |s: &str| -> f64 {
        let s = s.trim();
        let (n, scale) = match s.strip_suffix(" K") {
            Some(n) => (n, 1e3),
            None => match s.strip_suffix(" M") {
                Some(n) => (n, 1e6),
                None => (s, 1.0),
            },
        };
        n.parse::<f64>().unwrap_or_else(|_| panic!("unparsable metric value {s:?}")) * scale
    };
    let (mut total, mut matched) = (0.0, 0.0);
    for piece in plan.split(&format!("{name}=")).skip(1) {
        let value = piece.split([',', ']']).next().unwrap();
        let (t, m) = value.split_once(" total → ").unwrap_or_else(|| panic!("{name}={value}"));
        total += number(t);
        matched += number(m.trim_end_matches(" matched"));
    }
    (total, matched)
}

/// A store of 3 days (2021-08-01..03) × `venues` × `per_venue` check-ins, one CSV line
/// `line(day, venue, i)` each, written in (day, venue) order and ingested `flush_rows` rows per
/// part.
fn grid_store(
    venues: usize,
    per_venue: usize,
    flush_rows: usize,
    line: impl Fn(usize, usize, usize) -> String,
) -> (tempfile::TempDir, Snapshot) {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("person_id,venue_id,check_in,check_out\n");
    for day in 1..=3 {
        for v in 0..venues {
            for i in 0..per_venue {
                csv.push_str(&line(day, v, i));
                csv.push('\n');
            }
        }
    }
    let input = dir.path().join("grid.csv");
    std::fs::write(&input, csv).unwrap();
    let store = dir.path().join("store");
    Ingest::new(&store).flush_rows(flush_rows).parallel(false).run(&[input]).unwrap();
    let snap = Store::open(&store).unwrap().snapshot();
    (dir, snap)
}

#[test]
fn explain_analyze_shows_day_venue_and_page_pruning() {
    // 3 days × 200 venues × 100 check-ins, written in (day, venue) order and ingested with
    // small flushes: several parts per day, each covering a range of venues, each with two or
    // more 8 Ki-row pages.
    let (_dir, snap) = grid_store(200, 100, 10_000, |day, v, i| {
        let (h, m) = (6 + i / 10, (i % 10) * 5);
        format!("P{:05},V{v:03},2021-08-{day:02}T{h:02}:{m:02}:00Z,", (v * 37 + i * 11) % 5000)
    });
    let parts = snap.manifest().parts.len();
    let day2_parts = snap.manifest().parts.iter().filter(|p| p.path.contains("day=2021-08-02")).count();
    assert!(parts >= 6 && day2_parts >= 2, "{parts} parts, {day2_parts} on day 2");
    let s = session(&snap);

    let filter = "venue_id = 'V042' AND day = DATE '2021-08-02'";
    assert_rows(&query(&s, &format!("SELECT count(*) FROM checkins WHERE {filter}")), &["100"], "the filter's answer");
    let plan = query(&s, &format!("EXPLAIN ANALYZE SELECT count(*) FROM checkins WHERE {filter}")).join("\n");
    let scan = plan.lines().find(|l| l.contains("DataSourceExec")).unwrap_or_else(|| panic!("no scan in\n{plan}"));
    // Day pruning from the manifest: only day-2 parts are in the plan.
    let files: std::collections::BTreeSet<&str> = scan
        .split(['[', ']', ','])
        .filter(|f| f.contains(".parquet"))
        .map(|f| f.trim().split(':').next().unwrap())
        .collect();
    assert!(
        !files.is_empty() && files.iter().all(|f| f.contains("day=2021-08-02")),
        "other days were planned: {files:?}\n{scan}"
    );
    assert!(files.len() < parts, "{} of {parts} parts planned", files.len());
    // Venue pruning by row-group statistics (parts holding other venue ranges) ...
    let (rg_total, rg_matched) = pruning_metric(scan, "row_groups_pruned_statistics");
    assert!(rg_total >= 2.0 && rg_matched < rg_total, "row groups: {rg_matched} of {rg_total} kept\n{scan}");
    // ... and by the page index within the part that holds V042.
    let (pages_total, pages_matched) = pruning_metric(scan, "page_index_pages_pruned");
    assert!(
        pages_matched >= 1.0 && pages_matched < pages_total,
        "pages: {pages_matched} of {pages_total} kept\n{scan}"
    );
    let (rows_total, rows_matched) = pruning_metric(scan, "page_index_rows_pruned");
    assert!(rows_matched <= 8192.0 && rows_matched < rows_total, "rows: {rows_matched} of {rows_total} kept\n{scan}");

    // A time filter prunes days too.
    let plan =
        query(&s, "EXPLAIN ANALYZE SELECT count(*) FROM checkins WHERE check_in >= TIMESTAMP '2021-08-03 00:00:00'")
            .join("\n");
    let scan = plan.lines().find(|l| l.contains("DataSourceExec")).unwrap();
    assert!(
        !scan.contains("day=2021-08-01") && !scan.contains("day=2021-08-02") && scan.contains("day=2021-08-03"),
        "{scan}"
    );
    // A day nobody checked in on plans no file at all.
    let plan = query(&s, "EXPLAIN SELECT * FROM checkins WHERE day = DATE '2020-01-01'").join("\n");
    assert!(!plan.contains(".parquet"), "{plan}");
}

#[test]
fn results_do_not_depend_on_threads_or_filter_pushdown() {
    let (_dir, _store, snap) = fixture_store();
    let sql = "SELECT venue_id, count(*), min(check_in), max(check_out) FROM checkins WHERE check_in >= '2021-08-01T08:30:00Z' AND venue_id <> 'BUS1' GROUP BY venue_id ORDER BY venue_id";
    let reference = query(
        &Session::with_options(&snap, SessionOptions::default().threads(1).pushdown_filters(false)).unwrap(),
        sql,
    );
    assert_eq!(reference.len(), 5);
    for threads in [1, 2, 4] {
        for pushdown in [false, true] {
            let s = Session::with_options(&snap, SessionOptions::default().threads(threads).pushdown_filters(pushdown))
                .unwrap();
            assert_eq!(query(&s, sql), reference, "threads {threads}, pushdown {pushdown}");
        }
    }
}

/// A 2-thread session whose partial aggregations give up after 1,000 rows if more than one row
/// in ten starts a new group (DataFusion's defaults: 100,000 rows and 0.8).
fn skipping_session(snap: &Snapshot) -> Session {
    let s = Session::with_options(snap, SessionOptions::default().threads(2)).unwrap();
    {
        let state = s.context().state_ref();
        let mut state = state.write();
        let execution = &mut state.config_mut().options_mut().execution;
        execution.skip_partial_aggregation_probe_rows_threshold = 1_000;
        execution.skip_partial_aggregation_probe_ratio_threshold = 0.1;
    }
    s
}

/// Each query with the run-aggregation rule on and off, at 1 and 2 threads: identical rows, and
/// the rule's operator in the plan exactly where it applies.
#[test]
fn run_aggregation_changes_plans_not_results() {
    // 3 days × 120 venues, 60 check-ins each, some with check-outs; several parts per day, so
    // scans span files and batches.
    let (_dir, snap) = grid_store(120, 60, 5_000, |day, v, i| {
        let (h, m) = (6 + i / 6, (i % 6) * 10);
        let out = if (v + i) % 3 == 0 { format!("2021-08-{day:02}T{:02}:{m:02}:00Z", h + 1) } else { String::new() };
        format!("P{:04},QR-HCM-Q1-{v:04},2021-08-{day:02}T{h:02}:{m:02}:00Z,{out}", (v * 37 + i * 11 + day) % 900)
    });
    assert!(snap.manifest().parts.len() >= 6, "{} parts", snap.manifest().parts.len());

    // (query, whether the rule applies)
    let queries = [
        // Sorted long keys: runs interned once.
        (
            "SELECT venue_id, count(*), min(check_in), max(check_out), count(check_out), sum(extract(hour FROM check_in)) FROM checkins GROUP BY venue_id",
            true,
        ),
        // Unsorted keys: row by row after the first batches.
        ("SELECT person_id, count(*), avg(extract(minute FROM check_in)) FROM checkins GROUP BY person_id", true),
        // Computed keys: short inline strings, new long strings, a nullable timestamp.
        ("SELECT substr(venue_id, 8, 5) AS k, count(*) FROM checkins GROUP BY k", true),
        (
            "SELECT concat(venue_id, '-', person_id) AS k, count(*) FROM checkins WHERE day = DATE '2021-08-02' GROUP BY k",
            true,
        ),
        ("SELECT check_out, count(*), max(person_id) FROM checkins GROUP BY check_out", true),
        ("SELECT arrow_cast(venue_id, 'Dictionary(Int32, Utf8)') AS k, count(*) FROM checkins GROUP BY k", true),
        ("SELECT v.category, count(*) FROM checkins c LEFT JOIN venues v USING (venue_id) GROUP BY v.category", true),
        // Not eligible: DataFusion's own operator stays.
        // DataFusion plans this as a grouping by (venue, person) under one by venue: the rule
        // takes the outer one.
        ("SELECT venue_id, count(DISTINCT person_id) FROM checkins GROUP BY venue_id", true),
        ("SELECT venue_id, count(DISTINCT person_id), count(DISTINCT day) FROM checkins GROUP BY venue_id", false),
        ("SELECT venue_id, array_agg(person_id ORDER BY check_in, person_id) FROM checkins GROUP BY venue_id", false),
        ("SELECT venue_id, count(*) FILTER (WHERE check_out IS NULL) FROM checkins GROUP BY venue_id", false),
        ("SELECT venue_id, day, count(*) FROM checkins GROUP BY venue_id, day", false),
        ("SELECT count(*), max(venue_id) FROM checkins", false),
    ];
    let sorted = |mut rows: Vec<String>| {
        rows.sort();
        rows
    };
    for (sql, applies) in queries {
        let off = Session::with_options(&snap, SessionOptions::default().threads(1).run_aggregation(false)).unwrap();
        let reference = sorted(query(&off, sql));
        assert!(!reference.is_empty(), "{sql}");
        assert!(!query(&off, &format!("EXPLAIN {sql}")).join("\n").contains("RunAggregateExec"), "{sql}");
        for threads in [1, 2] {
            let on = Session::with_options(&snap, SessionOptions::default().threads(threads)).unwrap();
            assert_eq!(sorted(query(&on, sql)), reference, "{sql} at {threads} threads");
            let plan = query(&on, &format!("EXPLAIN {sql}")).join("\n");
            assert_eq!(plan.contains("RunAggregateExec: mode="), applies, "{sql}\n{plan}");
        }
        assert_eq!(sorted(query(&skipping_session(&snap), sql)), reference, "{sql} with an eager skip probe");
    }

    // Partial aggregation gives up on keys that barely repeat (persons), as DataFusion's does,
    // and not on venues.
    let analyze = |sql: &str| query(&skipping_session(&snap), &format!("EXPLAIN ANALYZE {sql}")).join("\n");
    let skipped = |plan: &str| {
        let line =
            plan.lines().find(|l| l.contains("RunAggregateExec: mode=Partial")).unwrap_or_else(|| panic!("{plan}"));
        line.split("skipped_aggregation_rows=").nth(1).unwrap().split([',', ']']).next().unwrap().trim().to_string()
    };
    let persons = analyze("SELECT person_id, count(*) FROM checkins GROUP BY person_id");
    assert_ne!(skipped(&persons), "0", "{persons}");
    let venues = analyze("SELECT venue_id, count(*) FROM checkins GROUP BY venue_id");
    assert_eq!(skipped(&venues), "0", "{venues}");

    // Venue ids arrive in runs (one per venue, day and batch): far fewer keys are interned
    // than rows are read.
    let s = session(&snap);
    let plan = query(&s, "EXPLAIN ANALYZE SELECT venue_id, count(*) FROM checkins GROUP BY venue_id").join("\n");
    let metric = |name: &str| -> f64 {
        plan.split(&format!("{name}="))
            .skip(1)
            .map(|p| p.split([',', ']']).next().unwrap().trim())
            .map(|v| {
                let (n, scale) = v.strip_suffix(" K").map_or((v, 1.0), |n| (n, 1e3));
                n.parse::<f64>().unwrap() * scale
            })
            .sum()
    };
    let interned = metric("keys_interned");
    assert!((360.0..2_160.0).contains(&interned), "{interned} keys interned for 21600 rows\n{plan}");
}

/// Filters on `day` in any form prune parts where they can and never change results: each
/// gives the rows of the same filter joined by `OR` to a condition on another column, which no
/// statistics can prune.
#[test]
fn day_filters_of_any_form_give_the_unpruned_rows() {
    let (_dir, snap) = grid_store(20, 10, 300, |day, v, i| {
        format!("P{:03},V{v:02},2021-08-{day:02}T{:02}:00:00Z,", (v * 7 + i) % 50, 6 + i)
    });
    let s = session(&snap);
    let filters = [
        "day = DATE '2021-08-02'",
        "day BETWEEN DATE '2021-08-02' AND DATE '2021-08-03'",
        "day IN (DATE '2021-08-01', DATE '2021-08-03')",
        "extract(dow FROM day) = 1", // 2021-08-02 was a Monday
        "CAST(day AS VARCHAR) LIKE '%-03'",
        "day IS NULL",
        "day = DATE '2020-01-01'",
        "day > DATE '2021-08-01' AND venue_id = 'V07'",
    ];
    for filter in filters {
        let sql =
            |w: &str| format!("SELECT day, venue_id, count(*) FROM checkins WHERE {w} GROUP BY 1, 2 ORDER BY 1, 2");
        let got = query(&s, &sql(filter));
        let want = query(&s, &sql(&format!("({filter}) OR person_id = 'nobody'")));
        assert_eq!(got, want, "{filter}");
    }
    assert_eq!(query(&s, "SELECT count(*) FROM checkins WHERE extract(dow FROM day) = 1"), ["200"]);
    let plan =
        query(&s, "EXPLAIN SELECT count(*), max(person_id) FROM checkins WHERE day = DATE '2021-08-02'").join("\n");
    assert!(plan.contains("day=2021-08-02") && !plan.contains("day=2021-08-01"), "{plan}");
}
