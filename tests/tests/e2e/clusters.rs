//! Clusters: links and components against a reference that runs the two-hop chain reference
//! from every case (cases listed) and compares every pair of case stays, on random stores.

use std::collections::BTreeSet;

use proptest::prelude::*;
use truyvet::trace::{ChainRequest, ClusterRequest};
use truyvet::{Store, TraceRequest};

use crate::chain::reference_with_intervals;
use crate::fixture::{Row, StoreFixture, at};
use crate::hotspots::{TestCase, cases_strategy, register};

/// (from case, to case, reason)
type LinkRow = (String, String, &'static str);

fn reference(
    rows: &[Row],
    store: &Store,
    cases: &[TestCase],
    req: &ClusterRequest,
) -> (BTreeSet<LinkRow>, BTreeSet<Vec<String>>) {
    let r = &req.rules;
    let mut links = BTreeSet::new();
    for a in cases {
        if !rows.iter().any(|x| x.person == a.1) {
            continue;
        }
        let trace = TraceRequest { f0: a.1.clone(), limit: None, ..r.clone() }.window(Some(a.2), Some(a.3));
        let chain = ChainRequest::new(trace, 2).latency(req.latency);
        for (l, _) in reference_with_intervals(rows, &chain, store) {
            for b in cases.iter().filter(|b| b.1 == l.1) {
                links.insert((a.0.clone(), b.0.clone(), if l.0 == 1 { "f1" } else { "f2" }));
            }
        }
    }
    let stay = |x: &Row| {
        let e = x.check_out.unwrap_or(x.check_in + r.dwell);
        (x.check_in, e.min(x.check_in + r.max_visit))
    };
    for (i, a) in cases.iter().enumerate() {
        for b in &cases[i + 1..] {
            let (f, t) = (a.2.max(b.2), a.3.min(b.3));
            let near = rows.iter().filter(|x| x.person == a.1).any(|x| {
                rows.iter().filter(|y| y.person == b.1 && y.venue == x.venue).any(|y| {
                    let ((xa, xb), (ya, yb)) = (stay(x), stay(y));
                    let (xs, xe, ys, ye) = (xa.max(f), xb.min(t), ya.max(f), yb.min(t));
                    xs < xe && ys < ye && xs.max(ys) - xe.min(ye) <= req.within
                })
            });
            if near {
                links.insert((a.0.clone(), b.0.clone(), "colocated"));
            }
        }
    }
    // Components, by repeated merging.
    let mut groups: Vec<BTreeSet<String>> = cases.iter().map(|c| BTreeSet::from([c.0.clone()])).collect();
    for (x, y, _) in &links {
        let i = groups.iter().position(|g| g.contains(x)).unwrap();
        let j = groups.iter().position(|g| g.contains(y)).unwrap();
        if i != j {
            let moved = groups.remove(i.max(j));
            groups[i.min(j)].extend(moved);
        }
    }
    (links, groups.into_iter().map(|g| g.into_iter().collect()).collect())
}

fn engine(store: &Store, req: &ClusterRequest) -> (BTreeSet<LinkRow>, BTreeSet<Vec<String>>) {
    let c = store.snapshot().clusters(req).unwrap();
    let id = |i: u32| c.cases[i as usize].case_id.clone();
    let links = c.links.iter().map(|l| (id(l.from), id(l.to), l.kind.name())).collect();
    let groups = c.clusters.iter().map(|g| g.cases.iter().map(|&i| id(i)).collect()).collect();
    assert_eq!(c.links_record_batch().unwrap().num_rows(), c.links.len());
    assert_eq!(c.to_record_batch(1).unwrap().num_rows(), c.clusters.len());
    (links, groups)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn clusters_match_reference(
        rows in proptest::collection::vec(crate::chain::row_strategy(), 1..30),
        cases in cases_strategy(),
        within in prop_oneof![Just(0i64), 0i64..1440],
        linger in prop_oneof![Just(0i64), 0i64..30],
        min_overlap in prop_oneof![Just(0i64), 0i64..60],
        latency in prop_oneof![Just(0i64), 0i64..120],
    ) {
        let fixture = rows.iter().cloned().fold(StoreFixture::new(), StoreFixture::row);
        let (_dir, store) = fixture.build();
        let store = register(&store, &cases);
        let req = ClusterRequest {
            rules: TraceRequest::default().linger(linger * 60).min_overlap(min_overlap * 60),
            latency: latency * 60,
            within: within * 60,
            lookback: None,
        };
        prop_assert_eq!(engine(&store, &req), reference(&rows, &store, &cases, &req));
    }
}

/// A → X → B is an f2 link; C at A's market a day later is colocated; D alone is a cluster of one.
#[test]
fn chains_and_colocation_make_one_cluster() {
    let f = StoreFixture::new()
        .visit("A", "MARKET", "08:00", Some("09:00"))
        .visit("X", "MARKET", "08:30", Some("09:00"))
        .visit("X", "OFFICE", "10:00", Some("12:00"))
        .visit("B", "OFFICE", "11:00", Some("12:00"))
        .visit("C", "MARKET", "32:00", Some("33:00"))
        .visit("D", "CAFE", "08:00", Some("09:00"));
    let (_d, store) = f.build();
    let w = (at("2021-08-01", "00:00"), at("2021-08-03", "00:00"));
    let cases: Vec<TestCase> =
        ["A", "B", "C", "D"].iter().map(|p| (format!("BN-{p}"), p.to_string(), w.0, w.1)).collect();
    let store = register(&store, &cases);
    let c = store.snapshot().clusters(&ClusterRequest::default()).unwrap();
    let (links, groups) = engine(&store, &ClusterRequest::default());
    assert_eq!(
        links,
        BTreeSet::from([
            ("BN-A".to_string(), "BN-B".to_string(), "f2"),
            ("BN-A".to_string(), "BN-C".to_string(), "colocated")
        ])
    );
    assert!(groups.contains(&vec!["BN-A".to_string(), "BN-B".to_string(), "BN-C".to_string()]));
    assert!(groups.contains(&vec!["BN-D".to_string()]));
    let f2 = c.links.iter().find(|l| l.kind == truyvet::trace::LinkKind::F2).unwrap();
    assert_eq!(store.snapshot().person_id(f2.via.unwrap()).unwrap(), "X");
    assert_eq!(c.clusters[0].cases.len(), 3);
    assert_eq!(c.to_record_batch(2).unwrap().num_rows(), 1);
    assert_eq!(reference(&f.rows, &store, &cases, &ClusterRequest::default()), (links, groups));
    // X meets A at 08:30; from 12:30 on (4 h latency) its office stay is over: no f2 link.
    let slow = ClusterRequest { latency: 4 * 3600, ..ClusterRequest::default() };
    let (links, _) = engine(&store, &slow);
    assert!(!links.iter().any(|l| l.2 == "f2"), "{links:?}");
    let (links, _) = engine(&store, &ClusterRequest { latency: 3 * 3600, ..ClusterRequest::default() });
    assert!(links.iter().any(|l| l.2 == "f2"), "{links:?}");
}

/// `hotspots()` and `clusters()` in SQL say what the library says.
#[test]
fn sql_table_functions_match_the_library() {
    let f = StoreFixture::new()
        .visit("A", "MARKET", "08:00", Some("09:00"))
        .visit("B", "MARKET", "08:30", Some("09:30"))
        .visit("X", "MARKET", "08:30", Some("09:00"));
    let (_d, store) = f.build();
    let w = (at("2021-08-01", "00:00"), at("2021-08-02", "00:00"));
    let cases: Vec<TestCase> = ["A", "B"].iter().map(|p| (format!("BN-{p}"), p.to_string(), w.0, w.1)).collect();
    let store = register(&store, &cases);
    let session = truyvet::sql::Session::new(&store.snapshot()).unwrap();
    let text = |sql: &str| {
        let (_, b) = session.query(sql).unwrap();
        arrow::util::pretty::pretty_format_batches(&b).unwrap().to_string()
    };
    let h = text("SELECT venue_id, cases, case_ids, exposed FROM hotspots()");
    assert!(h.contains("| MARKET   | 2     | BN-A,BN-B | 1       |"), "{h}");
    assert!(text("SELECT count(*) AS n FROM hotspots(NULL, NULL, 3)").contains("| 0 |"));
    let c = text("SELECT cluster, cases, case_ids FROM clusters()");
    assert!(c.contains("| 1       | 2     | BN-A,BN-B |"), "{c}");
    assert!(text("SELECT count(*) AS n FROM clusters(NULL, NULL, 1)").contains("| 1 |"));
    let bad = session.query("SELECT * FROM hotspots(1, 2, 3, 4, 5)").unwrap_err().to_string();
    assert!(bad.contains("hotspots: expected at most"), "{bad}");
}
