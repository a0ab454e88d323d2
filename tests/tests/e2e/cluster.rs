//! The same SQL on a DataFusion Ballista cluster: a scheduler and two executors started in this
//! process on loopback, every canned query of `queries/` and `f1_contacts`/`exposures` for
//! several F0s, under every rule and in a window, run there (the trace as a plan over day
//! ranges) and locally over one snapshot, every row compared.

use std::path::{Path, PathBuf};

use truyvet::cluster::LocalCluster;
use truyvet::sql::{Session, SessionOptions, bind_params};
use truyvet::{Ingest, Snapshot, Store, TraceRequest};
use truyvet_datasets::{GenConfig, OutputFormat, generate};

use crate::sql::rows;

/// A generated province: 2,000 persons, 120 venues, 6 days, two batches (so several parts a
/// day), a venues register.
fn province(dir: &Path) -> Snapshot {
    let cfg = GenConfig {
        people: 2_000,
        venues: 120,
        days: 6,
        format: OutputFormat::Csv,
        dirty_ratio: 0.0,
        threads: 1,
        ..GenConfig::default()
    };
    let g = generate(&cfg, &dir.join("input"), &|_| {}).unwrap();
    let store = dir.join("store");
    let (first, second) = g.files.split_at(g.files.len() / 2);
    for files in [first, second] {
        Ingest::new(&store).venues(&g.venues_file).run(files).unwrap();
    }
    Store::open(&store).unwrap().snapshot()
}

fn one(s: &Session, sql: &str) -> String {
    let (_, batches) = s.query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows(&batches).pop().unwrap_or_default()
}

/// Every canned query with parameters taken from the data.
fn canned(local: &Session) -> Vec<(String, String)> {
    let busiest = |n: usize| {
        let (_, b) = local
            .query(&format!(
                "SELECT person_id FROM checkins GROUP BY person_id ORDER BY count(*) DESC, person_id LIMIT {n}"
            ))
            .unwrap();
        rows(&b)
    };
    let persons = busiest(2);
    let venue = one(local, "SELECT venue_id FROM checkins GROUP BY venue_id ORDER BY count(*) DESC, venue_id LIMIT 1");
    let first = one(local, "SELECT min(day) FROM checkins");
    let last = one(local, "SELECT max(day) FROM checkins");
    let day3 = one(local, "SELECT CAST(min(day) + INTERVAL '3 days' AS DATE) FROM checkins");
    let params: Vec<(&str, String)> = vec![
        ("from", day3.clone()),
        ("to", last.clone()),
        ("name", "checkins".into()),
        ("min_times", "2".into()),
        ("venue", venue),
        ("baseline_days", "3".into()),
        ("baseline_from", first.clone()),
        ("f0", persons[0].clone()),
        ("person", persons[1].clone()),
        ("f0s", persons.join(",")),
        ("dwell_s", "3600".into()),
        ("linger_s", "900".into()),
        ("max_visit_s", "43200".into()),
        ("min_overlap_s", "0".into()),
        ("limit", "20".into()),
        ("day", day3),
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../queries");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut out = Vec::new();
    for file in files.into_iter().filter(|f| f.extension().is_some_and(|e| e == "sql")) {
        let text = std::fs::read_to_string(&file).unwrap();
        // Only the parameters the file uses: binding refuses unknown ones.
        let used: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| text.contains(&format!(":{k}")))
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let sql = bind_params(&text, &used).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        out.push((file.file_name().unwrap().to_string_lossy().into_owned(), sql));
    }
    assert_eq!(out.len(), 17, "every canned query");
    out
}

#[test]
fn the_cluster_answers_as_the_local_session() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = province(dir.path());
    assert!(snapshot.parts().len() >= 6, "several parts, so several tasks");

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let cluster = rt.block_on(LocalCluster::start(2, 1)).unwrap();
    assert!(cluster.url.starts_with("df://localhost:"), "{}", cluster.url);

    let local = Session::with_options(&snapshot, SessionOptions::default().threads(2)).unwrap();
    let remote =
        Session::with_options(&snapshot, SessionOptions::default().cluster(Some(cluster.url.clone()))).unwrap();

    let mut compared = 0;
    for (file, sql) in canned(&local) {
        let mut here = local.query_script(&sql).unwrap_or_else(|e| panic!("{file} locally: {e}"));
        let mut there = remote.query_script(&sql).unwrap_or_else(|e| panic!("{file} on the cluster: {e}"));
        let (here, there) = (rows(&here.pop().unwrap().batches), rows(&there.pop().unwrap().batches));
        let differ = here.iter().zip(&there).position(|(a, b)| a != b);
        assert!(
            there.len() == here.len() && differ.is_none(),
            "{file}: the cluster's rows differ from the local ones: {} vs {} rows; first difference at {differ:?}: {:?} vs {:?}",
            there.len(),
            here.len(),
            differ.map(|i| &there[i]),
            differ.map(|i| &here[i]),
        );
        compared += here.len();
    }
    assert!(compared > 100, "the canned queries returned rows ({compared})");

    // f1_contacts and exposures for several F0s: the trace engine's lists, row for row.
    let (_, f0s) = local
        .query("SELECT person_id FROM checkins GROUP BY person_id ORDER BY count(*) DESC, person_id LIMIT 4")
        .unwrap();
    for f0 in rows(&f0s) {
        let traced = snapshot.trace(&TraceRequest::new(f0.as_str()).linger(600)).unwrap();
        assert!(!traced.contacts.is_empty(), "{f0} has contacts");
        let sql = format!("SELECT * FROM f1_contacts('{f0}', NULL, NULL, 600) ORDER BY rank");
        let (_, there) = remote.query(&sql).unwrap();
        assert_eq!(rows(&there), rows(&[traced.to_record_batch()]), "f1_contacts('{f0}')");
        let sql = format!("SELECT count(*), sum(seconds) FROM exposures('{f0}', NULL, NULL, 600)");
        assert_eq!(one(&remote, &sql), one(&local, &sql), "exposures('{f0}')");
        // Every rule, and a window: the cluster's plan (pieces per day range, then the ranking)
        // gives the engine's list.
        for rule in ["overlap", "next-checkin", "midnight", "cwa", "pc-covid"] {
            let req = TraceRequest::new(f0.as_str()).rule(truyvet::ExposureRule::parse(rule).unwrap());
            let want = rows(&[snapshot.trace(&req).unwrap().to_record_batch()]);
            let sql = format!("SELECT * FROM f1_contacts('{f0}', NULL, NULL, NULL, NULL, NULL, NULL, '{rule}')");
            assert_eq!(rows(&remote.query(&sql).unwrap().1), want, "f1_contacts('{f0}') under {rule}");
        }
        let (from, to) = (
            truyvet::time::parse_time_arg("from", "2021-08-02T00:00:00Z", truyvet::Tz::UTC).unwrap(),
            truyvet::time::parse_time_arg("to", "2021-08-04T00:00:00Z", truyvet::Tz::UTC).unwrap(),
        );
        let want =
            snapshot.trace(&TraceRequest::new(f0.as_str()).window(Some(from), Some(to)).min_overlap(300)).unwrap();
        let sql = format!(
            "SELECT * FROM f1_contacts('{f0}', '2021-08-02T00:00:00Z', '2021-08-04T00:00:00Z', NULL, NULL, NULL, 300)"
        );
        assert_eq!(
            rows(&remote.query(&sql).unwrap().1),
            rows(&[want.to_record_batch()]),
            "f1_contacts('{f0}') in a window"
        );
    }
    // An unknown F0 is refused while planning, as locally.
    let err = remote.query("SELECT * FROM f1_contacts('NOBODY')").unwrap_err().to_string();
    assert!(err.contains("\"NOBODY\" is not in the store"), "{err}");

    // The sandbox holds on the cluster as locally: refused before anything is sent.
    let out = dir.path().join("escaped.csv");
    let refused = remote.query(&format!("COPY checkins TO '{}'", out.display())).unwrap_err().to_string();
    assert!(refused.starts_with("refused: COPY ... TO is not allowed; truyvet SQL is read-only"), "{refused}");
    assert!(!out.exists(), "COPY wrote a file");
}

#[test]
fn an_unreachable_scheduler_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = province(dir.path());
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("df://127.0.0.1:{port}");
    let err = Session::with_options(&snapshot, SessionOptions::default().cluster(Some(url.clone())))
        .and_then(|s| s.query("SELECT count(*) FROM checkins"))
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&url) || text.contains("cluster"), "{text}");
    assert_eq!(err.kind(), truyvet::ErrorKind::Environment, "{text}");
}
