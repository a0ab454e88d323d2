//! Person status against its definition: the person's entry in the two-hop call list of every
//! registered case, for every person of random stores and registers.

use proptest::prelude::*;
use truyvet::trace::{CasesRequest, ChainRequest};
use truyvet::{Store, TraceRequest};

use crate::fixture::StoreFixture;
use crate::hotspots::{cases_strategy, register};

/// (hop, cases, exposure) of each person, or "case" / nothing.
fn compare(store: &Store, rules: &ChainRequest) {
    let snap = store.snapshot();
    let index = snap.status_index(rules).unwrap();
    let mut req = CasesRequest::new(rules.clone());
    req.chain.hops = 2;
    req.chain.max_per_hop = None;
    let list = snap.trace_cases(snap.cases().unwrap(), &req, None).unwrap();
    for k in 0..snap.person_count() {
        let id = snap.person_id(k).unwrap();
        let s = index.status(id).unwrap();
        let is_case = snap.cases().unwrap().iter().any(|c| c.person_id == id);
        assert_eq!(!s.is_case.is_empty(), is_case, "{id}");
        let call = list.calls.iter().find(|c| c.person_id == id);
        let got = s.hop.map(|h| (h, s.cases.clone(), s.exposure_seconds));
        let want = call.map(|c| (c.hop, c.cases.clone(), c.exposure_seconds));
        assert_eq!(got, want, "person {id}: status {s:?}");
    }
    let unknown = index.status("nobody").unwrap();
    assert!(!unknown.known && unknown.hop.is_none());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn status_is_the_persons_entry_in_the_call_list(
        rows in proptest::collection::vec(crate::chain::row_strategy(), 1..30),
        cases in cases_strategy(),
        linger in prop_oneof![Just(0i64), 0i64..30],
        min_overlap in prop_oneof![Just(0i64), 0i64..60],
        latency in prop_oneof![Just(0i64), 0i64..120],
    ) {
        let fixture = rows.iter().cloned().fold(StoreFixture::new(), StoreFixture::row);
        let (_dir, store) = fixture.build();
        let store = register(&store, &cases);
        let rules = ChainRequest::new(TraceRequest::default().linger(linger * 60).min_overlap(min_overlap * 60), 2).latency(latency * 60);
        compare(&store, &rules);
    }
}

#[test]
fn an_f2_says_which_case_where_and_through_whom() {
    let f = StoreFixture::new()
        .visit("A", "MARKET", "08:00", Some("09:00"))
        .visit("X", "MARKET", "08:30", Some("09:00"))
        .visit("X", "OFFICE", "10:00", Some("12:00"))
        .visit("P", "OFFICE", "11:00", Some("12:00"));
    let (_d, store) = f.build();
    let w = (crate::fixture::at("2021-08-01", "00:00"), crate::fixture::at("2021-08-02", "00:00"));
    let store = register(&store, &[("BN1".into(), "A".into(), w.0, w.1)]);
    let snap = store.snapshot();
    let index = snap.status_index(&ChainRequest::new(TraceRequest::default(), 2)).unwrap();
    let p = index.status("P").unwrap();
    assert_eq!((p.hop, p.cases.clone(), p.exposure_seconds), (Some(2), vec![0], 3600));
    let e = p.exposures[0];
    assert_eq!(
        (e.hop, e.case, snap.venue_id(e.venue).unwrap(), snap.person_id(e.via.unwrap()).unwrap()),
        (2, 0, "OFFICE", "X")
    );
    assert_eq!(index.status("X").unwrap().hop, Some(1));
    assert_eq!(index.status("A").unwrap().is_case, [0]);
    compare(&store, &ChainRequest::new(TraceRequest::default(), 2));
}
