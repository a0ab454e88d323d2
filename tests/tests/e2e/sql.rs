//! SQL over a store: the canned queries of `queries/` with exact results on a hand-written
//! fixture, `f1_contacts`/`exposures` against the trace engine, the tables' contents; pruning
//! proven by EXPLAIN ANALYZE metrics (`pruning`), every sandbox refusal and error message
//! (`sandbox`), and golden results of every canned query (`slt`). `truyvet sql` end to end is
//! tested with the binary, in cli/tests.

mod pruning;
mod sandbox;
mod slt;

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use tempfile::TempDir;
use truyvet::sql::{Session, SessionOptions, bind_params};
use truyvet::{Ingest, Snapshot, Store, TraceRequest};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sql")
}

fn queries_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../queries")
}

/// The hand-written fixture store (tests/fixtures/sql): 26 check-ins over 3 days, 6 venues (one
/// without attributes), two F0s, a stay across midnight, missing check-outs, an id with a
/// leading zero.
fn fixture_store() -> (TempDir, PathBuf, Snapshot) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    Ingest::new(&store).venues(fixtures().join("venues.csv")).run(&[fixtures().join("checkins.csv")]).unwrap();
    let snapshot = Store::open(&store).unwrap().snapshot();
    (dir, store, snapshot)
}

fn session(snapshot: &Snapshot) -> Session {
    Session::with_options(snapshot, SessionOptions::default().threads(2)).unwrap()
}

/// Rows as comma-joined text (timestamps RFC 3339, NULL empty), for readable comparisons.
pub(crate) fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let opts = FormatOptions::default().with_null("");
    let mut out = Vec::new();
    for b in batches {
        let fmts: Vec<_> = b.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap()).collect();
        for r in 0..b.num_rows() {
            out.push(fmts.iter().map(|f| f.value(r).to_string()).collect::<Vec<_>>().join(","));
        }
    }
    out
}

fn query(s: &Session, sql: &str) -> Vec<String> {
    let (_, batches) = s.query(sql).unwrap_or_else(|e| panic!("{sql}\nfailed: {e}"));
    rows(&batches)
}

fn assert_rows(actual: &[String], expected: &[&str], what: &str) {
    if actual != expected {
        panic!("{what}\nexpected:\n  {}\nactual:\n  {}", expected.join("\n  "), actual.join("\n  "));
    }
}

/// Run a canned query file with parameters, as `truyvet sql -f` does.
fn canned(s: &Session, file: &str, params: &[(&str, &str)]) -> Vec<String> {
    let text = std::fs::read_to_string(queries_dir().join(file)).unwrap();
    assert!(text.starts_with("-- Question:"), "{file} must open with a comment stating its question");
    assert!(
        text.contains("-- Parameters:") && text.contains("-- Example:"),
        "{file} must document parameters and an example"
    );
    let params: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let sql = bind_params(&text, &params).unwrap();
    let mut results = s.query_script(&sql).unwrap_or_else(|e| panic!("{file} failed: {e}"));
    assert_eq!(results.len(), 1, "{file} holds one statement");
    rows(&results.pop().unwrap().batches)
}

#[test]
fn canned_queries_answer_their_questions() {
    let (_dir, _store, snap) = fixture_store();
    let s = session(&snap);
    assert_rows(
        &canned(&s, "checkins_per_day_province.sql", &[("from", "2021-08-01"), ("to", "2021-08-02")]),
        &[
            "2021-08-01,(unknown),1,1",
            "2021-08-01,Hà Nội,2,2",
            "2021-08-01,Hồ Chí Minh,8,6",
            "2021-08-02,Hà Nội,4,4",
            "2021-08-02,Hồ Chí Minh,3,3",
            "2021-08-02,Đà Nẵng,2,2",
        ],
        "check-ins per day per province",
    );
    assert_rows(
        &canned(&s, "top_venues.sql", &[("limit", "3")]),
        &[
            "MKT1,Chợ Bến Thành,market,Hồ Chí Minh,6,9",
            "CAFE1,Cà phê Sáng,cafe,Hồ Chí Minh,6,6",
            "SCH1,Trường Lê Lợi,school,Hà Nội,3,4",
        ],
        "top venues by visitors",
    );
    assert_rows(
        &canned(&s, "missing_checkout_by_category.sql", &[]),
        &[
            "hospital,2,1,50.0",
            "market,9,3,33.3",
            "bus,4,1,25.0",
            "cafe,6,1,16.7",
            "(unknown),1,0,0.0",
            "school,4,0,0.0",
        ],
        "missing check-out rate by category",
    );
    assert_rows(
        &canned(&s, "itinerary.sql", &[("person", "A")]),
        &[
            "2021-08-01T08:30:00Z,,,MKT1,Chợ Bến Thành,market,Hồ Chí Minh,Quận 1",
            "2021-08-01T10:10:00Z,2021-08-01T10:40:00Z,30,CAFE1,Cà phê Sáng,cafe,Hồ Chí Minh,Quận 3",
            "2021-08-02T08:00:00Z,2021-08-02T09:00:00Z,60,MKT1,Chợ Bến Thành,market,Hồ Chí Minh,Quận 1",
            "2021-08-03T09:00:00Z,,,MKT1,Chợ Bến Thành,market,Hồ Chí Minh,Quận 1",
        ],
        "one person's itinerary",
    );
    // An id with a leading zero stays a string through --param.
    assert_eq!(canned(&s, "itinerary.sql", &[("person", "0912345678")]).len(), 2);

    // Hourly occupancy: 24 hours; stays at 08:00–09:00 (F0A), 08:30–09:30 (A, no check-out:
    // 1 h), 08:50–08:55 (B), 08:40–09:10 (F0B), 09:00–09:30 (C).
    let occupancy = canned(&s, "venue_hourly_occupancy.sql", &[("venue", "MKT1"), ("day", "2021-08-01")]);
    let expected: Vec<String> = (0..24)
        .map(|h| {
            let (present, arrivals) = match h {
                8 => (4, 4),
                9 => (3, 1),
                _ => (0, 0),
            };
            format!("2021-08-01T{h:02}:00:00,{present},{arrivals}")
        })
        .collect();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_rows(&occupancy, &expected, "hourly occupancy");
    // B's stay at HOSP1 runs from 23:30 on 08-02 past midnight: it counts in 08-03's first hour.
    let midnight = canned(&s, "venue_hourly_occupancy.sql", &[("venue", "HOSP1"), ("day", "2021-08-03")]);
    assert_eq!(midnight[0], "2021-08-03T00:00:00,2,0", "stays crossing midnight count on the next day");

    assert_rows(
        &canned(&s, "f1_venues.sql", &[("f0", "F0A")]),
        &[
            "1,A,3000,MKT1,Chợ Bến Thành,Hồ Chí Minh,1800,2021-08-01T08:30:00Z",
            "1,A,3000,CAFE1,Cà phê Sáng,Hồ Chí Minh,1200,2021-08-01T10:10:00Z",
            "2,D,1800,SCH1,Trường Lê Lợi,Hà Nội,1800,2021-08-02T07:30:00Z",
            "3,E,1200,BUS1,Xe buýt 09,Hà Nội,1200,2021-08-03T07:35:00Z",
            "4,F0B,1200,MKT1,Chợ Bến Thành,Hồ Chí Minh,1200,2021-08-01T08:40:00Z",
            "5,0912345678,600,CAFE1,Cà phê Sáng,Hồ Chí Minh,600,2021-08-01T10:20:00Z",
            "6,B,300,MKT1,Chợ Bến Thành,Hồ Chí Minh,300,2021-08-01T08:50:00Z",
        ],
        "F1 list with venue names and provinces",
    );
    assert_rows(
        &canned(&s, "f1_by_province.sql", &[("f0", "F0B")]),
        &["Hồ Chí Minh,5,4500", "Đà Nẵng,1,2400", "Hà Nội,1,1200"],
        "F1 contacts by province",
    );
    assert_rows(
        &canned(&s, "hotspots.sql", &[("f0s", "F0A, F0B,nobody")]),
        &[
            "CAFE1,Cà phê Sáng,Hồ Chí Minh,2,F0A,F0B,2021-08-01T10:00:00Z,2021-08-03T10:05:00Z",
            "MKT1,Chợ Bến Thành,Hồ Chí Minh,2,F0A,F0B,2021-08-01T08:00:00Z,2021-08-01T08:40:00Z",
            "SCH1,Trường Lê Lợi,Hà Nội,2,F0A,F0B,2021-08-02T07:30:00Z,2021-08-02T09:00:00Z",
        ],
        "venues shared by two or more F0s",
    );
    assert_rows(
        &canned(&s, "co_visitors.sql", &[("venue", "MKT1"), ("min_times", "2")]),
        &["A,B,2,35,2021-08-01T08:50:00Z,2021-08-02T08:30:00Z"],
        "frequent co-visitor pairs",
    );
    let all_pairs = canned(&s, "co_visitors.sql", &[("venue", "MKT1"), ("min_times", "1")]);
    assert_eq!(all_pairs.len(), 9, "{all_pairs:#?}");
    assert!(all_pairs.contains(&"0912345678,A,1,30,2021-08-03T09:15:00Z,2021-08-03T09:15:00Z".to_string()));
    assert!(!all_pairs.iter().any(|r| r.starts_with("C,F0A")), "stays that only touch (09:00 = 09:00) do not overlap");
}

#[test]
fn every_canned_query_is_documented_and_runs() {
    let (_dir, store, _) = fixture_store();
    // A registered case, for the queries over `cases`.
    let case = [Some("F0A"), Some("2021-08-02T12:00:00Z"), None, None, None, Some("BN-1"), None];
    truyvet::CasesImport::new(&store).add(case.map(|f| f.map(String::from))).unwrap();
    let snap = Store::open(&store).unwrap().snapshot();
    let s = session(&snap);
    let mut n = 0;
    for entry in std::fs::read_dir(queries_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "sql") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-- Question:"), "{} must open with its question", path.display());
        let params: Vec<(String, String)> = [
            ("from", "2021-08-01"),
            ("to", "2021-08-03"),
            ("limit", "5"),
            ("person", "A"),
            ("venue", "MKT1"),
            ("day", "2021-08-01"),
            ("f0", "F0A"),
            ("f0s", "F0A,F0B"),
            ("min_times", "1"),
            ("linger_s", "0"),
            ("dwell_s", "3600"),
            ("max_visit_s", "43200"),
            ("min_overlap_s", "0"),
            ("baseline_from", "2021-07-25"),
            ("baseline_days", "7"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let sql = bind_params(&text, &params).unwrap();
        let results = s.query_script(&sql).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            results.iter().all(|r| r.batches.iter().map(RecordBatch::num_rows).sum::<usize>() > 0),
            "{} returned nothing",
            path.display()
        );
        n += 1;
    }
    assert!(n >= 8, "queries/ has {n} .sql files, want at least 8");
}

/// `f1_contacts(...)` / `exposures(...)` with `args` must equal the trace engine on `req`.
fn assert_same_as_trace(s: &Session, snap: &Snapshot, args: &str, req: &TraceRequest) {
    let expected = snap.trace(req).unwrap();
    for (function, want) in
        [("f1_contacts", expected.to_record_batch()), ("exposures", expected.exposures_record_batch().unwrap())]
    {
        let sql = format!("SELECT * FROM {function}({args})");
        let (schema, batches) = s.query(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(schema.as_ref(), want.schema().as_ref(), "{sql}: columns differ from the CLI's");
        let got = concat_batches(&schema, &batches).unwrap();
        assert_eq!(rows(&[got]), rows(&[want]), "{sql} differs from trace({req:?})");
    }
}

#[test]
fn f1_contacts_and_exposures_equal_the_trace_engine() {
    let (_dir, _store, snap) = fixture_store();
    let s = session(&snap);
    let day2 = truyvet::time::parse_time_arg("t", "2021-08-02T00:00:00Z", truyvet::Tz::UTC).unwrap();
    let day3 = day2 + 86_400;
    for f0 in ["F0A", "F0B", "A", "0912345678", "G"] {
        let q = format!("'{f0}'");
        let base = TraceRequest::new(f0);
        assert_same_as_trace(&s, &snap, &q, &base);
        assert_same_as_trace(
            &s,
            &snap,
            &format!("{q}, '2021-08-02T00:00:00Z', '2021-08-03T00:00:00Z'"),
            &base.clone().window(Some(day2), Some(day3)),
        );
        assert_same_as_trace(
            &s,
            &snap,
            &format!("{q}, TIMESTAMP '2021-08-02 00:00:00', {day3}"),
            &base.clone().window(Some(day2), Some(day3)),
        );
        assert_same_as_trace(&s, &snap, &format!("{q}, DATE '2021-08-02'"), &base.clone().window(Some(day2), None));
        assert_same_as_trace(&s, &snap, &format!("{q}, NULL, NULL, 900, 1800"), &base.clone().linger(900).dwell(1800));
        assert_same_as_trace(
            &s,
            &snap,
            &format!("{q}, NULL, NULL, '15m', NULL, 1200, INTERVAL '10 minutes'"),
            &base.clone().linger(900).max_visit(1200).min_overlap(600),
        );
        assert_same_as_trace(&s, &snap, &format!("{q}, NULL, '2021-08-01T09:00:00+07:00', 0, 7200, 43200, 301"), &{
            let mut r = base.clone().dwell(7200).max_visit(43_200).min_overlap(301);
            r.to = Some(day2 - 86_400 + 2 * 3600);
            r
        });
    }
    // An F0 with visits but no contact in the window: an empty list with the same columns.
    let (schema, batches) =
        s.query("SELECT * FROM f1_contacts('G', '2021-08-02T00:00:00Z', '2021-08-03T00:00:00Z')").unwrap();
    assert_eq!(schema, truyvet::model::F1_SCHEMA.clone());
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);
    // Joins work like any table.
    assert_rows(
        &query(
            &s,
            "SELECT v.province, count(*) AS n FROM f1_contacts('F0A') f JOIN exposures('F0A') e USING (person_id) JOIN venues v ON v.venue_id = e.venue_id GROUP BY v.province ORDER BY v.province",
        ),
        &["Hà Nội,2", "Hồ Chí Minh,5"],
        "f1_contacts joined with venues",
    );
}

/// `queries/f1_in_plain_sql.sql` (the semantics as joins and window functions) must give the
/// engine's F1 list exactly, columns cast to the F1 schema's types.
#[test]
fn f1_in_plain_sql_equals_the_trace_engine() {
    let (_dir, _store, snap) = fixture_store();
    let s = session(&snap);
    let t = |x: &str| truyvet::time::parse_time_arg("t", x, truyvet::Tz::UTC).unwrap();
    let cases = [
        ("2021-07-01T00:00:00Z", "2021-09-01T00:00:00Z", 0, 3600, 43_200, 0),
        ("2021-08-02T00:00:00Z", "2021-08-03T00:00:00Z", 0, 3600, 43_200, 0),
        ("2021-07-01T00:00:00Z", "2021-09-01T00:00:00Z", 900, 1800, 43_200, 0),
        ("2021-08-01T02:00:00Z", "2021-08-02T02:00:00Z", 900, 7200, 1200, 301),
    ];
    let text = std::fs::read_to_string(queries_dir().join("f1_in_plain_sql.sql")).unwrap();
    let mut compared = 0;
    for f0 in ["F0A", "F0B", "A", "0912345678", "G"] {
        for (from, to, linger, dwell, max_visit, min_overlap) in cases {
            let req = TraceRequest::new(f0)
                .window(Some(t(from)), Some(t(to)))
                .linger(linger)
                .dwell(dwell)
                .max_visit(max_visit)
                .min_overlap(min_overlap);
            let want = snap.trace(&req).unwrap().to_record_batch();
            let got = truyvet_benches::plain_sql::f1(&s, &text, &req).unwrap();
            assert_eq!(rows(&[got]), rows(std::slice::from_ref(&want)), "plain SQL differs from trace({req:?})");
            compared += want.num_rows();
        }
    }
    assert!(compared > 20, "the cases must compare real contacts, not empty lists ({compared})");
    // Open window ends, and a limit that cuts the list.
    let full = snap.trace(&TraceRequest::new("F0A")).unwrap().to_record_batch();
    assert!(full.num_rows() > 2, "{}", full.num_rows());
    for req in [TraceRequest::new("F0A"), TraceRequest::new("F0A").limit(Some(2))] {
        let want = snap.trace(&req).unwrap().to_record_batch();
        assert_eq!(truyvet_benches::plain_sql::f1(&s, &text, &req).unwrap(), want, "{req:?}");
    }
    // A script whose result is not an F1 list says so.
    let err = truyvet_benches::plain_sql::f1(&s, "SELECT 1 AS x", &TraceRequest::new("F0A")).unwrap_err().to_string();
    assert!(err.contains("does not fit the F1 columns"), "{err}");
}

#[test]
fn tables_have_their_documented_columns() {
    let (_dir, _store, snap) = fixture_store();
    let s = session(&snap);
    let cols = |t: &str| {
        let (schema, _) = s.query(&format!("SELECT * FROM {t} LIMIT 0")).unwrap();
        schema.fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>().join(",")
    };
    assert_eq!(cols("checkins"), "person_id,venue_id,check_in,check_out,day");
    assert_eq!(cols("venues"), "venue_id,name,category,province,district,lat,lon");
    assert_eq!(cols("persons"), "person_id,visits,first_seen,last_seen");
    assert_rows(
        &query(&s, "SELECT count(*), count(check_out), min(check_in), max(day) FROM checkins"),
        &["26,20,2021-08-01T07:00:00Z,2021-08-03"],
        "checkins",
    );
    assert_rows(
        &query(&s, "SELECT * FROM persons WHERE person_id IN ('A', '0912345678') ORDER BY person_id"),
        &["0912345678,2,2021-08-01T10:20:00Z,2021-08-03T09:15:00Z", "A,4,2021-08-01T08:30:00Z,2021-08-03T09:00:00Z"],
        "persons",
    );
    assert_rows(&query(&s, "SELECT venue_id, lat FROM venues WHERE province = 'Đà Nẵng'"), &["HOSP1,16.07"], "venues");
    assert_rows(
        &query(&s, "SELECT count(*) FROM checkins WHERE check_out IS NULL AND venue_id = 'MKT1'"),
        &["3"],
        "NULL check-outs",
    );
    let names: Vec<String> = s.tables().iter().map(|t| format!("{}:{}", t.name, t.kind)).collect();
    assert_eq!(
        names,
        [
            "checkins:table",
            "venues:table",
            "cases:table",
            "persons:view",
            "f1_contacts:table function",
            "exposures:table function",
            "hotspots:table function",
            "clusters:table function"
        ]
    );
    // information_schema and DESCRIBE work (read-only).
    assert!(query(&s, "SHOW TABLES").iter().any(|r| r.contains("checkins")));
    assert_eq!(query(&s, "DESCRIBE venues").len(), 7);
}

#[test]
fn tables_come_from_the_manifest_and_venues_exist_without_a_venues_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    Ingest::new(&store).run(&[fixtures().join("checkins.csv")]).unwrap();
    // A leftover of a crashed ingest: a Parquet file the manifest does not name.
    let day = store.join("data/day=2021-08-01");
    let part = std::fs::read_dir(&day)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    std::fs::copy(&part, day.join("b9999999-00.parquet")).unwrap();
    let snap = Store::open(&store).unwrap().snapshot();
    let s = session(&snap);
    assert_rows(&query(&s, "SELECT count(*) FROM checkins"), &["26"], "leftover files are never read");
    let (schema, batches) = s.query("SELECT * FROM venues").unwrap();
    // The columns of the venues file, strings as DataFusion's Utf8View.
    let want = truyvet::model::VENUES_SCHEMA.fields().iter().map(|f| match f.data_type() {
        DataType::Utf8 => (f.name().clone(), DataType::Utf8View),
        t => (f.name().clone(), t.clone()),
    });
    assert!(schema.fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).eq(want), "{schema:?}");
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);
    // Trace output still has venue_name (NULL).
    assert_rows(
        &query(&s, "SELECT venue_id, venue_name FROM exposures('F0B') WHERE person_id = 'B' ORDER BY start"),
        &["MKT1,", "HOSP1,"],
        "no names",
    );
}

#[test]
fn an_empty_store_has_empty_tables() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "person_id,venue_id,check_in,check_out\n").unwrap();
    Ingest::new(dir.path().join("store")).run(&[empty]).unwrap();
    let snap = Store::open(dir.path().join("store")).unwrap().snapshot();
    let s = session(&snap);
    assert_rows(&query(&s, "SELECT count(*) FROM checkins"), &["0"], "empty checkins");
    assert_rows(&query(&s, "SELECT count(*) FROM persons"), &["0"], "empty persons");
}
