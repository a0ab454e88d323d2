//! F0 → F1 → F2 → F3: the engine against a nested-loop reference written from the semantics in
//! `trace::chain`, on random stores and parameters, and the named cases of the contract.

use proptest::prelude::*;
use truyvet::trace::{ChainRequest, ChainResult};
use truyvet::{Store, TraceRequest};

use crate::fixture::{Row, StoreFixture};

/// One listed contact: (hop, person, exposure, episodes, venues, first, last, via person, via
/// venue).
/// Exposure intervals `(venue, start, end)` of a contact.
pub type Intervals = Vec<(String, i64, i64)>;

pub type Listed = (u8, String, i64, u32, u32, i64, i64, Option<String>, Option<String>);

/// Sort and merge intervals (touching ones too), as every reference does.
pub fn merge(mut v: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    v.sort();
    let mut out: Vec<(i64, i64)> = Vec::new();
    for (s, e) in v {
        match out.last_mut() {
            Some(m) if s <= m.1 => m.1 = m.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// The reference: every hop by nested loops over the rows, straight from the written semantics.
fn reference(rows: &[Row], req: &ChainRequest, store: &Store) -> Vec<Listed> {
    reference_with_intervals(rows, req, store).into_iter().map(|(l, _)| l).collect()
}

/// [`reference`], with each contact's exposure intervals `(venue, start, end)`.
pub fn reference_with_intervals(rows: &[Row], req: &ChainRequest, store: &Store) -> Vec<(Listed, Intervals)> {
    let t = &req.trace;
    let from = t.from.unwrap_or(i64::MIN / 4);
    let to = t.to.unwrap_or(i64::MAX / 4);
    let stay = |r: &Row| {
        let b = r.check_out.unwrap_or(r.check_in + t.dwell);
        (r.check_in, b.min(r.check_in + t.max_visit))
    };
    let snap = store.snapshot();
    let venue_key = |v: &str| snap.venue_key(v).unwrap().unwrap();
    let mut persons: Vec<&str> = rows.iter().map(|r| r.person.as_str()).collect();
    persons.sort();
    persons.dedup();
    let mut venues: Vec<&str> = rows.iter().map(|r| r.venue.as_str()).collect();
    venues.sort();
    venues.dedup();
    let mut listed: Vec<String> = vec![t.f0.clone()];
    listed.extend(req.exclude.iter().cloned());
    let mut sources: Vec<(String, i64)> = vec![(t.f0.clone(), from)];
    let mut out = Vec::new();
    for hop in 1..=req.hops {
        // (venue, start, end, source index) of every source's clipped, extended stay.
        let mut ss: Vec<(&str, i64, i64, usize)> = Vec::new();
        for (i, (p, start)) in sources.iter().enumerate() {
            for r in rows.iter().filter(|r| &r.person == p) {
                let (a, b) = stay(r);
                let (s, e) = (a.max(*start), b.min(to));
                if s < e {
                    ss.push((r.venue.as_str(), s, e + t.linger, i));
                }
            }
        }
        // Exposure of `p` at `v` to the stays `ss` passes (all sources, or one).
        let exposure = |p: &str, v: &str, only: Option<usize>| {
            let mut pieces = Vec::new();
            for r in rows.iter().filter(|r| r.person == p && r.venue == v) {
                let (a, b) = stay(r);
                for &(_, s, e, _) in ss.iter().filter(|x| x.0 == v && only.is_none_or(|o| o == x.3)) {
                    if a.max(s) < b.min(e) {
                        pieces.push((a.max(s), b.min(e)));
                    }
                }
            }
            merge(pieces)
        };
        let mut hop_list: Vec<(Listed, Intervals)> = Vec::new();
        for p in persons.iter().filter(|p| !listed.iter().any(|l| l == *p)) {
            let (mut total, mut episodes, mut nv, mut first, mut last) = (0, 0, 0, i64::MAX, i64::MIN);
            let mut intervals = Vec::new();
            for v in &venues {
                let m = exposure(p, v, None);
                nv += u32::from(!m.is_empty());
                intervals.extend(m.iter().map(|&(s, e)| (v.to_string(), s, e)));
                for (s, e) in m {
                    total += e - s;
                    episodes += 1;
                    first = first.min(s);
                    last = last.max(e);
                }
            }
            if total < t.min_overlap.max(1) {
                continue;
            }
            let via = (hop > 1).then(|| {
                // (total, first, source id, venue) of each source, best first.
                let mut per: Vec<(i64, i64, String, String)> = Vec::new();
                for (i, (sid, _)) in sources.iter().enumerate() {
                    let (mut tot, mut fst) = (0, i64::MAX);
                    let mut top: Option<(i64, i64, u32, &str)> = None;
                    for v in &venues {
                        let m = exposure(p, v, Some(i));
                        if m.is_empty() {
                            continue;
                        }
                        let here: i64 = m.iter().map(|(s, e)| e - s).sum();
                        tot += here;
                        fst = fst.min(m[0].0);
                        let cand = (here, m[0].0, venue_key(v), *v);
                        if top.is_none_or(|t| {
                            (cand.0, -cand.1, std::cmp::Reverse(cand.2)) > (t.0, -t.1, std::cmp::Reverse(t.2))
                        }) {
                            top = Some(cand);
                        }
                    }
                    if let Some(top) = top {
                        per.push((tot, fst, sid.clone(), top.3.to_string()));
                    }
                }
                per.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.as_bytes().cmp(b.2.as_bytes())));
                let best = per.swap_remove(0);
                (best.2, best.3)
            });
            let (via_p, via_v) = via.map_or((None, None), |(p, v)| (Some(p), Some(v)));
            hop_list.push(((hop, p.to_string(), total, episodes, nv, first, last, via_p, via_v), intervals));
        }
        hop_list.sort_by(|(a, _), (b, _)| b.2.cmp(&a.2).then(b.3.cmp(&a.3)).then(a.1.as_bytes().cmp(b.1.as_bytes())));
        listed.extend(hop_list.iter().map(|c| c.0.1.clone()));
        let keep = req.max_per_hop.map_or(hop_list.len(), |m| m.min(hop_list.len()));
        sources = hop_list[..keep].iter().map(|c| (c.0.1.clone(), c.0.5 + req.latency)).collect();
        let shown = t.limit.map_or(hop_list.len(), |n| n.min(hop_list.len()));
        out.extend(hop_list.into_iter().take(shown));
        if keep == 0 {
            break;
        }
    }
    out
}

fn engine(store: &Store, req: &ChainRequest) -> Vec<Listed> {
    let result: ChainResult = store.snapshot().trace_chain(req, None).unwrap();
    let snap = store.snapshot();
    let mut out = Vec::new();
    for h in &result.hops {
        for (i, (c, via)) in h.result.contacts.iter().zip(&h.via).enumerate() {
            assert_eq!(c.rank as usize, i + 1);
            let (vp, vv) = match via {
                Some(v) => (Some(v.person_id.to_string()), Some(snap.venue_id(v.venue).unwrap().to_string())),
                None => (None, None),
            };
            out.push((
                h.hop,
                c.person_id.to_string(),
                c.exposure_seconds,
                c.episodes,
                c.venues,
                c.first_contact,
                c.last_contact,
                vp,
                vv,
            ));
        }
    }
    // The Arrow list says the same, row for row.
    let batch = result.to_record_batch().unwrap();
    assert_eq!(batch.num_rows(), out.len());
    out
}

fn assert_same(store: &Store, rows: &[Row], req: &ChainRequest) {
    let want = reference(rows, req, store);
    for parallel in [false, true] {
        let mut r = req.clone();
        r.trace = r.trace.parallel(parallel);
        let got = engine(store, &r);
        assert!(got == want, "request {req:?} (parallel {parallel})\nexpected:\n{want:#?}\nactual:\n{got:#?}");
    }
}

pub use crate::fixture::T0;

/// The random rows of the chain tests and of those built on them.
pub fn row_strategy() -> impl Strategy<Value = Row> {
    crate::fixture::random_row(8, 2, 2000)
}

fn request_strategy() -> impl Strategy<Value = ChainRequest> {
    (
        (0u8..8, proptest::option::of(0i64..1440), proptest::option::of(60i64..(2 * 1440))),
        (prop_oneof![Just(0i64), 0i64..60], prop_oneof![Just(60i64), 0i64..240], prop_oneof![Just(720i64), 1i64..1500]),
        (prop_oneof![Just(0i64), 0i64..60], proptest::option::of(1usize..4)),
        (
            2u8..=3,
            prop_oneof![Just(0i64), 0i64..120],
            proptest::option::of(1usize..4),
            proptest::collection::vec(0u8..8, 0..2),
        ),
    )
        .prop_map(
            |((f0, from, len), (linger, dwell, max_visit), (min_overlap, limit), (hops, latency, cap, exclude))| {
                let from = from.map(|m| T0 + m * 60);
                let to = len.map(|l| from.unwrap_or(T0) + l * 60);
                let trace = TraceRequest::new(format!("P{f0}"))
                    .window(from, to)
                    .linger(linger * 60)
                    .dwell(dwell * 60)
                    .max_visit(max_visit * 60)
                    .min_overlap(min_overlap * 60)
                    .limit(limit);
                ChainRequest::new(trace, hops)
                    .latency(latency * 60)
                    .max_per_hop(cap)
                    .exclude(exclude.into_iter().map(|p| format!("P{p}")).collect())
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// The engine equals the reference on random stores and chains (hops, latency, caps,
    /// exclusions, limits), with one part per day or many, single- and multi-threaded.
    #[test]
    fn chains_match_reference(rows in proptest::collection::vec(row_strategy(), 1..40), reqs in proptest::collection::vec(request_strategy(), 3), flush in prop_oneof![Just(1usize << 20), 1usize..8]) {
        let fixture = rows.iter().cloned().fold(StoreFixture::new().flush_rows(flush), StoreFixture::row);
        let (_dir, store) = fixture.build();
        for req in &reqs {
            if store.snapshot().person_key(&req.trace.f0).unwrap().is_none() {
                continue;
            }
            assert_same(&store, &rows, req);
        }
    }
}

fn chain(store: &Store, req: &ChainRequest) -> Vec<(u8, String, Option<String>)> {
    engine(store, req).into_iter().map(|c| (c.0, c.1, c.7)).collect()
}

fn two(p: &str, via: Option<&str>) -> (u8, String, Option<String>) {
    (2, p.to_string(), via.map(str::to_string))
}

/// Met before the F1 was exposed: not an F2. Met after: an F2, via that F1.
#[test]
fn a_contact_before_the_f1s_own_exposure_is_not_an_f2() {
    let f = StoreFixture::new()
        .visit("F0", "MARKET", "10:00", Some("11:00"))
        .visit("A", "MARKET", "10:30", Some("11:00"))
        .visit("A", "OFFICE", "08:00", Some("09:00"))
        .visit("EARLY", "OFFICE", "08:00", Some("09:00"))
        .visit("A", "CAFE", "12:00", Some("13:00"))
        .visit("LATE", "CAFE", "12:30", Some("13:00"));
    let (_d, store) = f.build();
    let req = ChainRequest::new(TraceRequest::new("F0"), 2);
    assert_eq!(chain(&store, &req), [(1, "A".into(), None), two("LATE", Some("A"))]);
    assert_same(&store, &f.rows, &req);
    // With a latency past the café visit, A passes nothing on.
    let slow = req.clone().latency(3 * 3600);
    assert_eq!(chain(&store, &slow), [(1, "A".into(), None)]);
}

/// A person reachable at hop 2 and at hop 3 is listed once, at hop 2; an F1 that is a
/// registered case (excluded) is neither listed nor followed.
#[test]
fn each_person_once_at_the_lowest_hop_and_excluded_cases_never() {
    let f = StoreFixture::new()
        .visit("F0", "V1", "08:00", Some("09:00"))
        .visit("A", "V1", "08:00", Some("09:00"))
        .visit("CASE", "V1", "08:00", Some("09:00"))
        .visit("A", "V2", "10:00", Some("11:00"))
        .visit("B", "V2", "10:00", Some("11:00"))
        .visit("C", "V2", "10:30", Some("11:00"))
        .visit("B", "V3", "12:00", Some("13:00"))
        .visit("C", "V3", "12:00", Some("13:00"))
        .visit("D", "V3", "12:00", Some("13:00"))
        .visit("CASE", "V4", "10:00", Some("11:00"))
        .visit("E", "V4", "10:00", Some("11:00"));
    let (_d, store) = f.build();
    let req = ChainRequest::new(TraceRequest::new("F0"), 3);
    assert_eq!(
        chain(&store, &req),
        [
            (1, "A".into(), None),
            (1, "CASE".into(), None),
            two("B", Some("A")),
            two("E", Some("CASE")),
            two("C", Some("A")),
            (3, "D".into(), Some("B".into())),
        ]
    );
    let excluding = req.clone().exclude(vec!["CASE".into()]);
    let got = chain(&store, &excluding);
    assert!(!got.iter().any(|c| c.1 == "CASE" || c.1 == "E"), "{got:?}");
    assert_same(&store, &f.rows, &req);
    assert_same(&store, &f.rows, &excluding);
}

/// A cap keeps the top N of a hop as sources, and the result says so.
#[test]
fn a_cap_that_cuts_a_hop_is_reported() {
    let f = StoreFixture::new()
        .visit("F0", "V1", "08:00", Some("10:00"))
        .visit("A", "V1", "08:00", Some("10:00"))
        .visit("B", "V1", "09:00", Some("10:00"))
        .visit("A", "V2", "11:00", Some("12:00"))
        .visit("X", "V2", "11:00", Some("12:00"))
        .visit("B", "V3", "11:00", Some("12:00"))
        .visit("Y", "V3", "11:00", Some("12:00"));
    let (_d, store) = f.build();
    let req = ChainRequest::new(TraceRequest::new("F0"), 2).max_per_hop(Some(1));
    let result = store.snapshot().trace_chain(&req, None).unwrap();
    assert_eq!((result.hops[0].listed, result.hops[0].sources), (2, 1));
    assert!(result.hops[0].capped());
    assert_eq!(result.notes(), ["hop 1: only the top 1 of 2 contacts were followed to hop 2 (--max-per-hop)"]);
    assert_eq!(chain(&store, &req), [(1, "A".into(), None), (1, "B".into(), None), two("X", Some("A"))]);
    let meta = result.to_record_batch().unwrap().schema().metadata().get("truyvet.notes").cloned();
    assert!(meta.is_some_and(|m| m.contains("top 1 of 2")));
    assert_same(&store, &f.rows, &req);
    // Uncapped, B's contact Y is an F2 too, and no note is made.
    let all = ChainRequest::new(TraceRequest::new("F0"), 2);
    assert!(store.snapshot().trace_chain(&all, None).unwrap().notes().is_empty());
    assert_eq!(chain(&store, &all).len(), 4);
}

/// Hop 1 of a chain is the F1 trace, contact for contact.
#[test]
fn hop_one_is_the_f1_trace() {
    let f = StoreFixture::new()
        .visit("F0", "V1", "08:00", Some("10:00"))
        .visit("A", "V1", "08:30", None)
        .visit("B", "V1", "09:30", Some("09:45"))
        .visit("A", "V2", "11:00", None)
        .visit("C", "V2", "11:10", None);
    let (_d, store) = f.build();
    let trace = TraceRequest::new("F0").linger(600);
    let f1 = store.trace(&trace).unwrap();
    let chain = store.snapshot().trace_chain(&ChainRequest::new(trace, 2), None).unwrap();
    assert_eq!(chain.hops[0].result.contacts, f1.contacts);
    assert_eq!(chain.hops[0].result.exposures, f1.exposures);
    assert_eq!(chain.hops[1].result.contacts.len(), 1);
}

#[test]
fn bad_chain_parameters_are_refused() {
    let (_d, store) = StoreFixture::new().visit("F0", "V1", "08:00", None).build();
    let snap = store.snapshot();
    for req in [
        ChainRequest::new(TraceRequest::new("F0"), 0),
        ChainRequest::new(TraceRequest::new("F0"), 4),
        ChainRequest::new(TraceRequest::new("F0"), 2).latency(-1),
        ChainRequest::new(TraceRequest::new("F0"), 2).max_per_hop(Some(0)),
    ] {
        assert!(matches!(snap.trace_chain(&req, None), Err(truyvet::Error::InvalidArgument { .. })), "{req:?}");
    }
}
