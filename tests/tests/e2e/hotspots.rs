//! Hotspots against a reference that tries every subset of the case stays at each venue, on
//! random stores and registers, and the named cases: overlapping windows of two cases at one
//! venue, a venue with one case only, an empty register.

use proptest::prelude::*;
use truyvet::trace::HotspotRequest;
use truyvet::{CasesImport, Store, TraceRequest};

use crate::chain::{T0, row_strategy};
use crate::fixture::{Row, StoreFixture, at};

/// (venue, case ids, first stay, last stay, exposed).
type Spot = (String, Vec<String>, i64, i64, u64);

/// A case as the tests register it: (case id, person, window from, window to).
pub type TestCase = (String, String, i64, i64);

pub fn register(store: &Store, cases: &[TestCase]) -> Store {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cases.csv");
    let mut body = String::from("case_id,person_id,confirmed_at,onset_at,isolated_at\n");
    for (id, p, from, to) in cases {
        body.push_str(&format!("{id},{p},{to},{from},{to}\n"));
    }
    std::fs::write(&file, body).unwrap();
    CasesImport::new(store.dir()).lookback(0).import(&[file]).unwrap();
    Store::open(store.dir()).unwrap()
}

/// `None` when a venue has too many case stays to try every subset.
fn reference(rows: &[Row], cases: &[TestCase], req: &HotspotRequest) -> Option<Vec<Spot>> {
    let r = &req.rules;
    let stay = |x: &Row| {
        let b = x.check_out.unwrap_or(x.check_in + r.dwell);
        (x.check_in, b.min(x.check_in + r.max_visit))
    };
    // (venue, start, end, case index)
    let mut stays: Vec<(String, i64, i64, usize)> = Vec::new();
    for (i, (_, p, from, to)) in cases.iter().enumerate() {
        let (from, to) = (r.from.map_or(*from, |f| f.max(*from)), r.to.map_or(*to, |t| t.min(*to)));
        for x in rows.iter().filter(|x| &x.person == p) {
            let (a, b) = stay(x);
            let (s, e) = (a.max(from), b.min(to));
            if s < e {
                stays.push((x.venue.clone(), s, e, i));
            }
        }
    }
    let mut venues: Vec<String> = stays.iter().map(|s| s.0.clone()).collect();
    venues.sort();
    venues.dedup();
    let mut out: Vec<Spot> = Vec::new();
    for v in venues {
        let at: Vec<&(String, i64, i64, usize)> = stays.iter().filter(|s| s.0 == v).collect();
        if at.len() > 14 {
            return None;
        }
        let mut marked = vec![false; at.len()];
        for mask in 1u32..(1 << at.len()) {
            let set: Vec<usize> = (0..at.len()).filter(|j| mask & (1 << j) != 0).collect();
            let mut cs: Vec<usize> = set.iter().map(|&j| at[j].3).collect();
            cs.sort();
            cs.dedup();
            let max_a = set.iter().map(|&j| at[j].1).max().unwrap();
            let min_b = set.iter().map(|&j| at[j].2).min().unwrap();
            if cs.len() >= req.min_cases && max_a - min_b <= req.within {
                for j in set {
                    marked[j] = true;
                }
            }
        }
        let kept: Vec<&(String, i64, i64, usize)> =
            at.iter().zip(&marked).filter(|(_, m)| **m).map(|(s, _)| *s).collect();
        if kept.is_empty() {
            continue;
        }
        let mut ids: Vec<usize> = kept.iter().map(|s| s.3).collect();
        ids.sort();
        ids.dedup();
        let mut persons: Vec<&str> = rows.iter().map(|x| x.person.as_str()).collect();
        persons.sort();
        persons.dedup();
        let mut exposed = 0;
        for p in persons.into_iter().filter(|p| !cases.iter().any(|c| c.1 == *p)) {
            let mut pieces = Vec::new();
            for x in rows.iter().filter(|x| x.person == p && x.venue == v) {
                let (a, b) = stay(x);
                for s in &kept {
                    let (ps, pe) = (a.max(s.1), b.min(s.2 + r.linger));
                    if ps < pe {
                        pieces.push((ps, pe));
                    }
                }
            }
            pieces.sort();
            let mut total = 0;
            let mut cur: Option<(i64, i64)> = None;
            for (s, e) in pieces {
                match cur {
                    Some((cs, ce)) if s <= ce => cur = Some((cs, ce.max(e))),
                    Some((cs, ce)) => {
                        total += ce - cs;
                        cur = Some((s, e));
                    }
                    None => cur = Some((s, e)),
                }
            }
            total += cur.map_or(0, |(s, e)| e - s);
            if total >= r.min_overlap.max(1) {
                exposed += 1;
            }
        }
        let first = kept.iter().map(|s| s.1).min().unwrap();
        let last = kept.iter().map(|s| s.2).max().unwrap();
        out.push((v, ids.iter().map(|&i| cases[i].0.clone()).collect(), first, last, exposed));
    }
    out.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(b.4.cmp(&a.4)).then(a.0.cmp(&b.0)));
    Some(out)
}

fn engine(store: &Store, req: &HotspotRequest) -> Vec<Spot> {
    let h = store.snapshot().hotspots(req).unwrap();
    assert_eq!(h.to_record_batch().unwrap().num_rows(), h.hotspots.len());
    h.hotspots
        .iter()
        .map(|x| {
            let ids = x.cases.iter().map(|&i| h.cases[i as usize].case_id.clone()).collect();
            (x.venue_id.clone(), ids, x.first_stay, x.last_stay, x.exposed)
        })
        .collect()
}

pub fn cases_strategy() -> impl Strategy<Value = Vec<TestCase>> {
    proptest::collection::vec((0u8..8, 0i64..1440, 60i64..(2 * 1440)), 1..4).prop_map(|v| {
        let mut seen = Vec::new();
        v.into_iter()
            .filter(|(p, _, _)| {
                let fresh = !seen.contains(p);
                seen.push(*p);
                fresh
            })
            .enumerate()
            .map(|(i, (p, from, len))| (format!("C{i}"), format!("P{p}"), T0 + from * 60, T0 + (from + len) * 60))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn hotspots_match_reference(
        rows in proptest::collection::vec(row_strategy(), 1..30),
        cases in cases_strategy(),
        min_cases in 1usize..4,
        within in prop_oneof![Just(0i64), 0i64..1440],
        linger in prop_oneof![Just(0i64), 0i64..30],
        min_overlap in prop_oneof![Just(0i64), 0i64..60],
        period in proptest::option::of((0i64..1440, 60i64..2880)),
    ) {
        let fixture = rows.iter().cloned().fold(StoreFixture::new(), StoreFixture::row);
        let (_dir, store) = fixture.build();
        let store = register(&store, &cases);
        let (from, to) = period.map_or((None, None), |(f, l)| (Some(T0 + f * 60), Some(T0 + (f + l) * 60)));
        let req = HotspotRequest {
            rules: TraceRequest::default().linger(linger * 60).min_overlap(min_overlap * 60).window(from, to),
            min_cases,
            within: within * 60,
            lookback: None,
        };
        let want = reference(&rows, &cases, &req);
        prop_assume!(want.is_some());
        prop_assert_eq!(Some(engine(&store, &req)), want);
    }
}

#[test]
fn two_cases_at_one_market_make_a_hotspot_and_one_case_alone_does_not() {
    let f = StoreFixture::new()
        .visit("A", "MARKET", "08:00", Some("10:00"))
        .visit("B", "MARKET", "30:00", Some("31:00"))
        .visit("A", "SHOP", "11:00", Some("12:00"))
        .visit("X", "MARKET", "09:00", Some("09:30"))
        .visit("Y", "MARKET", "30:30", Some("32:00"))
        .visit("Z", "SHOP", "11:00", Some("12:00"));
    let (_d, store) = f.build();
    let day = (at("2021-08-01", "00:00"), at("2021-08-03", "00:00"));
    let cases =
        [("BN1".to_string(), "A".to_string(), day.0, day.1), ("BN2".to_string(), "B".to_string(), day.0, day.1)];
    let store = register(&store, &cases);
    let got = engine(&store, &HotspotRequest::default());
    // B arrives 20 h after A left: within 3 days. The shop saw one case only.
    assert_eq!(
        got,
        [(
            "MARKET".to_string(),
            vec!["BN1".to_string(), "BN2".to_string()],
            at("2021-08-01", "08:00"),
            at("2021-08-01", "31:00"),
            2
        )]
    );
    let tight = HotspotRequest { within: 20 * 3600 - 1, ..HotspotRequest::default() };
    assert!(engine(&store, &tight).is_empty(), "20 h apart is not within 20 h less a second");
    let exact = HotspotRequest { within: 20 * 3600, ..HotspotRequest::default() };
    assert_eq!(engine(&store, &exact).len(), 1, "20 h apart is within 20 h");
    let one = HotspotRequest { min_cases: 1, ..HotspotRequest::default() };
    assert_eq!(engine(&store, &one).len(), 2);
    assert_eq!(reference(&f.rows, &cases, &one), Some(engine(&store, &one)));
}

#[test]
fn an_empty_register_has_no_hotspot() {
    let (_d, store) = StoreFixture::new().visit("A", "MARKET", "08:00", None).build();
    assert!(store.snapshot().hotspots(&HotspotRequest::default()).unwrap().hotspots.is_empty());
}
