//! A day's cases at once: the merged call list against a reference built from the chain
//! reference of each case, on random stores, and the named cases of the contract.

use std::collections::BTreeMap;

use proptest::prelude::*;
use truyvet::trace::{CasesRequest, ChainRequest};
use truyvet::{Case, ExposureRule, Store, TraceRequest};

use crate::chain::{Intervals, reference_with_intervals, row_strategy};
use crate::fixture::{Row, StoreFixture, at};

/// One call: (hop, person, case ids, exposure, episodes, venues, first, last).
type CallRow = (u8, String, Vec<String>, i64, u32, u32, i64, i64);

fn case(id: &str, person: &str, from: i64, to: i64) -> Case {
    Case {
        case_id: id.into(),
        person_id: person.into(),
        confirmed_at: to,
        onset_at: None,
        sampled_at: None,
        isolated_at: None,
        note: None,
        lookback: to - from,
        window_from: from,
        window_to: to,
        version: 1,
    }
}

/// The reference: each case's chain by the chain reference (every case excluded), merged by
/// the written rules.
fn reference(rows: &[Row], store: &Store, cases: &[Case], rules: &ChainRequest) -> Vec<CallRow> {
    let exclude: Vec<String> = cases.iter().map(|c| c.person_id.clone()).collect();
    // person → (hop, case index, intervals)
    let mut by_person: BTreeMap<String, Vec<(u8, usize, Intervals)>> = BTreeMap::new();
    for (i, c) in cases.iter().enumerate() {
        if !rows.iter().any(|r| r.person == c.person_id) {
            continue;
        }
        let mut req = rules.clone().exclude(exclude.clone());
        req.trace = TraceRequest { f0: c.person_id.clone(), limit: None, ..req.trace }
            .window(Some(c.window_from), Some(c.window_to));
        for (l, ivs) in reference_with_intervals(rows, &req, store) {
            by_person.entry(l.1.clone()).or_default().push((l.0, i, ivs));
        }
    }
    let mut out: Vec<CallRow> = Vec::new();
    for (p, listings) in by_person {
        let hop = listings.iter().map(|l| l.0).min().unwrap();
        let mut idx: Vec<usize> = listings.iter().map(|l| l.1).collect();
        idx.sort();
        idx.dedup();
        let mut per_venue: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
        for l in listings.iter().filter(|l| l.0 == hop) {
            for (v, s, e) in &l.2 {
                per_venue.entry(v.clone()).or_default().push((*s, *e));
            }
        }
        let (mut total, mut episodes, mut first, mut last) = (0, 0, i64::MAX, i64::MIN);
        for ivs in per_venue.values_mut() {
            ivs.sort();
            let mut merged: Vec<(i64, i64)> = Vec::new();
            for &(s, e) in ivs.iter() {
                match merged.last_mut() {
                    Some(m) if s <= m.1 => m.1 = m.1.max(e),
                    _ => merged.push((s, e)),
                }
            }
            for (s, e) in merged {
                total += e - s;
                episodes += 1;
                first = first.min(s);
                last = last.max(e);
            }
        }
        let ids = idx.iter().map(|&i| cases[i].case_id.clone()).collect();
        out.push((hop, p, ids, total, episodes, per_venue.len() as u32, first, last));
    }
    out.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then(b.2.len().cmp(&a.2.len()))
            .then(b.3.cmp(&a.3))
            .then(b.4.cmp(&a.4))
            .then(a.1.as_bytes().cmp(b.1.as_bytes()))
    });
    if let Some(n) = rules.trace.limit {
        out.truncate(n);
    }
    out
}

/// The merged list; checks on the way that asking for the per-case lists changes nothing in it
/// and that each case's list is what `trace_chain` says for the case.
fn engine(store: &Store, cases: &[Case], rules: &ChainRequest) -> Vec<CallRow> {
    let snap = store.snapshot();
    let list = snap.trace_cases(cases, &CasesRequest::new(rules.clone()), None).unwrap();
    let batch = list.to_record_batch();
    assert_eq!(batch.num_rows(), list.calls.len());
    assert!(list.chains.is_empty());
    let each = CasesRequest { per_case: true, ..CasesRequest::new(rules.clone()) };
    let with_chains = snap.trace_cases(cases, &each, None).unwrap();
    assert_eq!(with_chains.calls, list.calls);
    let mut exclude: Vec<String> = snap.cases().unwrap().iter().map(|c| c.person_id.clone()).collect();
    exclude.extend(cases.iter().map(|c| c.person_id.clone()));
    // Counted instead of listed: each case's contacts per hop are its chain's, the distinct
    // persons per hop and how many cases reached each are the merged list's.
    let counts = snap.count_cases(cases, &CasesRequest::new(rules.clone())).unwrap();
    for (per_hop, chain) in counts.per_hop.iter().zip(&with_chains.chains) {
        let want: Vec<usize> = chain.iter().flat_map(|c| &c.hops).map(|h| h.result.contacts.len()).collect();
        assert_eq!(per_hop, &want);
    }
    // (The list's `limit` cuts the merged list, the counts are of all.)
    let mut unlimited = rules.clone();
    unlimited.trace.limit = None;
    let all = snap.trace_cases(cases, &CasesRequest::new(unlimited), None).unwrap();
    let hops = counts.distinct.len() as u8;
    let by_hop: Vec<u64> = (1..=hops).map(|h| all.calls.iter().filter(|c| c.hop == h).count() as u64).collect();
    assert_eq!(counts.distinct, by_hop);
    assert_eq!(by_hop.iter().sum::<u64>(), all.calls.len() as u64);
    let mut reached = std::collections::BTreeMap::<u32, u64>::new();
    for c in &all.calls {
        *reached.entry(c.cases.len() as u32).or_default() += 1;
    }
    assert_eq!(counts.reached_by, reached.into_iter().collect::<Vec<_>>());
    for (case, chain) in cases.iter().zip(&with_chains.chains) {
        let mut one = rules.clone();
        one.trace.f0 = case.person_id.clone();
        one.trace = one.trace.window(Some(case.window_from), Some(case.window_to)).limit(None);
        one.exclude = exclude.clone();
        match snap.trace_chain(&one, None) {
            Ok(want) => assert_eq!(chain.as_ref().unwrap().to_record_batch().unwrap(), want.to_record_batch().unwrap()),
            Err(_) => assert!(chain.is_none(), "{}", case.case_id),
        }
    }
    list.calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            assert_eq!(c.rank as usize, i + 1);
            let ids = c.cases.iter().map(|&k| list.cases[k as usize].case_id.clone()).collect();
            (c.hop, c.person_id.clone(), ids, c.exposure_seconds, c.episodes, c.venues, c.first_contact, c.last_contact)
        })
        .collect()
}

/// The hotspot tests' random registers, as cases.
fn cases_strategy() -> impl Strategy<Value = Vec<Case>> {
    crate::hotspots::cases_strategy().prop_map(|v| v.iter().map(|(id, p, from, to)| case(id, p, *from, *to)).collect())
}

fn rules_strategy() -> impl Strategy<Value = ChainRequest> {
    (
        1u8..=2,
        prop_oneof![Just(0i64), 0i64..30],
        prop_oneof![Just(0i64), 0i64..60],
        proptest::option::of(1usize..3),
        proptest::option::of(1usize..6),
    )
        .prop_map(|(hops, linger, min_overlap, cap, limit)| {
            let t = TraceRequest::default().linger(linger * 60).min_overlap(min_overlap * 60).limit(limit);
            ChainRequest::new(t, hops).max_per_hop(cap)
        })
}

/// Rules a count is taken under: every followable rule, up to three hops, a latency, short and
/// long stays (the count follows its own join, grouped per venue, so the look-back matters).
fn counted_rules_strategy() -> impl Strategy<Value = ChainRequest> {
    (
        (
            1u8..=3,
            prop_oneof![
                Just(ExposureRule::IntervalOverlap),
                Just(ExposureRule::Midnight),
                Just(ExposureRule::NextCheckin)
            ],
        ),
        (prop_oneof![Just(0i64), 0i64..30], prop_oneof![Just(0i64), 0i64..60], prop_oneof![Just(0i64), 0i64..120]),
        (prop_oneof![Just(60i64), 1i64..240], prop_oneof![Just(720i64), 1i64..1500], proptest::option::of(1usize..3)),
    )
        .prop_map(|((hops, rule), (linger, min_overlap, latency), (dwell, max_visit, cap))| {
            let t = TraceRequest::default()
                .rule(rule)
                .linger(linger * 60)
                .min_overlap(min_overlap * 60)
                .dwell(dwell * 60)
                .max_visit(max_visit * 60);
            ChainRequest::new(t, hops).latency(latency * 60).max_per_hop(cap)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// The counts (`count_cases`) against each case's ranked chain and the merged list, under
    /// every followable rule (`engine` checks them).
    #[test]
    fn counts_match_chains_under_every_rule(rows in proptest::collection::vec(row_strategy(), 1..40), cases in cases_strategy(), rules in counted_rules_strategy(), flush in prop_oneof![Just(1usize << 20), 1usize..8]) {
        let fixture = rows.iter().cloned().fold(StoreFixture::new().flush_rows(flush), StoreFixture::row);
        let (_dir, store) = fixture.build();
        engine(&store, &cases, &rules);
    }

    #[test]
    fn call_lists_match_reference(rows in proptest::collection::vec(row_strategy(), 1..35), cases in cases_strategy(), rules in rules_strategy(), flush in prop_oneof![Just(1usize << 20), 1usize..8]) {
        let fixture = rows.iter().cloned().fold(StoreFixture::new().flush_rows(flush), StoreFixture::row);
        let (_dir, store) = fixture.build();
        let want = reference(&rows, &store, &cases, &rules);
        let got = engine(&store, &cases, &rules);
        prop_assert_eq!(got, want);
    }
}

/// Two cases at one market with overlapping windows: a contact there is called once, with both
/// cases, and its exposure is the union of the two (3 h), not their sum (4 h).
#[test]
fn overlapping_cases_at_one_venue_give_a_union_not_a_sum() {
    let f = StoreFixture::new()
        .visit("A", "MARKET", "08:00", Some("10:00"))
        .visit("B", "MARKET", "09:00", Some("11:00"))
        .visit("X", "MARKET", "08:00", Some("11:00"))
        .visit("Y", "MARKET", "10:30", Some("12:00"));
    let (_d, store) = f.build();
    let day = (at("2021-08-01", "00:00"), at("2021-08-02", "00:00"));
    let cases = [case("BN1", "A", day.0, day.1), case("BN2", "B", day.0, day.1)];
    let got = engine(&store, &cases, &ChainRequest::new(TraceRequest::default(), 1));
    assert_eq!(got[0].1, "X");
    assert_eq!((got[0].2.clone(), got[0].3), (vec!["BN1".to_string(), "BN2".to_string()], 3 * 3600));
    // B is A's contact and A is B's, but registered cases are never called.
    assert_eq!(got.iter().map(|c| c.1.as_str()).collect::<Vec<_>>(), ["X", "Y"]);
    assert_eq!(got[1].2, ["BN2"]);
    assert_eq!(reference(&f.rows, &store, &cases, &ChainRequest::new(TraceRequest::default(), 1)), got);
}

/// The register's cases are excluded even when they are not among the cases traced; an empty
/// register and an empty day give an empty list.
#[test]
fn registered_cases_are_never_called_and_an_empty_day_is_empty() {
    let f = StoreFixture::new()
        .visit("A", "MARKET", "08:00", Some("10:00"))
        .visit("REG", "MARKET", "09:00", Some("10:00"))
        .visit("X", "MARKET", "09:30", Some("10:00"));
    let (dir, store) = f.build();
    let day = (at("2021-08-01", "00:00"), at("2021-08-02", "00:00"));
    let rules = ChainRequest::new(TraceRequest::default(), 2);
    let snap = store.snapshot();
    assert!(snap.trace_cases(&[], &CasesRequest::new(rules.clone()), None).unwrap().calls.is_empty());
    let cases = [case("BN1", "A", day.0, day.1)];
    assert_eq!(engine(&store, &cases, &rules).iter().map(|c| c.1.as_str()).collect::<Vec<_>>(), ["REG", "X"]);
    let file = dir.path().join("reg.csv");
    std::fs::write(&file, "person_id,confirmed_at\nREG,2021-08-01T12:00:00Z\n").unwrap();
    truyvet::CasesImport::new(store.dir()).import(&[file]).unwrap();
    let store = Store::open(store.dir()).unwrap();
    assert_eq!(engine(&store, &cases, &rules).iter().map(|c| c.1.as_str()).collect::<Vec<_>>(), ["X"]);
}

/// A stay that spans two of the F0's stays at one venue is exposed to both: counted, its two
/// overlaps add up to reach `min_overlap` although neither does alone.
#[test]
fn a_count_adds_up_a_stays_overlaps_with_several_intervals() {
    let f = StoreFixture::new()
        .visit("A", "MARKET", "08:00", Some("09:00"))
        .visit("A", "MARKET", "10:00", Some("11:00"))
        .visit("X", "MARKET", "08:00", Some("11:00"))
        .visit("Y", "MARKET", "08:30", Some("09:30"));
    let (_d, store) = f.build();
    let day = (at("2021-08-01", "00:00"), at("2021-08-02", "00:00"));
    let cases = [case("BN1", "A", day.0, day.1)];
    let rules = ChainRequest::new(TraceRequest::default().min_overlap(90 * 60), 1);
    let counts = store.snapshot().count_cases(&cases, &CasesRequest::new(rules.clone())).unwrap();
    assert_eq!(counts.per_hop, [vec![1]]);
    assert_eq!(engine(&store, &cases, &rules).iter().map(|c| (c.1.as_str(), c.3)).collect::<Vec<_>>(), [("X", 7200)]);
}
