//! F0 → F1: the engine against a brute-force reference on random small stores, and the edge
//! cases most likely to be wrong (midnight, long stays, touching intervals, repeated scans).

use proptest::prelude::*;
use truyvet::{Contact, Error, TraceRequest};

use crate::fixture::{Row, StoreFixture, at};

/// A contact as the reference computes it: (person, exposure, episodes, venues, first, last).
type Expected = (String, i64, u32, u32, i64, i64);

/// The reference: nested loops over the input rows, straight from the written semantics.
fn reference(rows: &[Row], req: &TraceRequest) -> Vec<Expected> {
    let from = req.from.unwrap_or(i64::MIN / 4);
    let to = req.to.unwrap_or(i64::MAX / 4);
    let stay = |r: &Row| {
        let b = r.check_out.unwrap_or(r.check_in + req.dwell);
        (r.check_in, b.min(r.check_in + req.max_visit))
    };
    let f0: Vec<(&str, i64, i64)> = rows
        .iter()
        .filter(|r| r.person == req.f0)
        .filter_map(|r| {
            let (a, b) = stay(r);
            let (s, e) = (a.max(from), b.min(to));
            (s < e).then_some((r.venue.as_str(), s, e + req.linger))
        })
        .collect();
    let mut persons: Vec<&str> = rows.iter().map(|r| r.person.as_str()).filter(|p| *p != req.f0).collect();
    persons.sort();
    persons.dedup();
    let mut venues: Vec<&str> = rows.iter().map(|r| r.venue.as_str()).collect();
    venues.sort();
    venues.dedup();
    let mut out = Vec::new();
    for p in persons {
        let (mut total, mut episodes, mut nvenues, mut first, mut last) = (0, 0, 0, i64::MAX, i64::MIN);
        for v in &venues {
            let mut pieces = Vec::new();
            for r in rows.iter().filter(|r| r.person == p && r.venue == *v) {
                let (a, b) = stay(r);
                for &(_, s, e) in f0.iter().filter(|f| f.0 == *v) {
                    if a.max(s) < b.min(e) {
                        pieces.push((a.max(s), b.min(e)));
                    }
                }
            }
            pieces.sort();
            let mut merged: Vec<(i64, i64)> = Vec::new();
            for (s, e) in pieces {
                match merged.last_mut() {
                    Some(m) if s <= m.1 => m.1 = m.1.max(e),
                    _ => merged.push((s, e)),
                }
            }
            if !merged.is_empty() {
                nvenues += 1;
            }
            for (s, e) in merged {
                total += e - s;
                episodes += 1;
                first = first.min(s);
                last = last.max(e);
            }
        }
        if total >= req.min_overlap.max(1) {
            out.push((p.to_string(), total, episodes, nvenues, first, last));
        }
    }
    out.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.as_bytes().cmp(b.0.as_bytes())));
    if let Some(n) = req.limit {
        out.truncate(n);
    }
    out
}

fn engine(store: &truyvet::Store, req: &TraceRequest) -> Vec<Expected> {
    let result = store.trace(req).unwrap();
    for (i, c) in result.contacts.iter().enumerate() {
        assert_eq!(c.rank as usize, i + 1);
    }
    listed(&result.contacts)
}

/// A list as the reference gives it.
fn listed(contacts: &[Contact]) -> Vec<Expected> {
    contacts
        .iter()
        .map(|c| (c.person_id.to_string(), c.exposure_seconds, c.episodes, c.venues, c.first_contact, c.last_contact))
        .collect()
}

fn table(rows: &[Expected]) -> String {
    rows.iter().map(|r| format!("{:>4} {:>7}s {:>3} ep {:>2} v {}..{}\n", r.0, r.1, r.2, r.3, r.4, r.5)).collect()
}

fn assert_same(store: &truyvet::Store, rows: &[Row], req: &TraceRequest) {
    let want = reference(rows, req);
    for parallel in [false, true] {
        let got = engine(store, &req.clone().parallel(parallel));
        assert!(
            got == want,
            "request {req:?} (parallel {parallel})\nexpected:\n{}actual:\n{}",
            table(&want),
            table(&got)
        );
    }
}

use crate::fixture::T0;

fn request_strategy() -> impl Strategy<Value = TraceRequest> {
    (
        0u8..6,
        proptest::option::of(0i64..(3 * 1440)),
        proptest::option::of(1i64..(3 * 1440)),
        prop_oneof![Just(0i64), 0i64..120],
        prop_oneof![Just(60i64), 0i64..240],
        prop_oneof![Just(720i64), 1i64..2000],
        prop_oneof![Just(0i64), 0i64..90],
        proptest::option::of(1usize..5),
    )
        .prop_map(|(f0, from, len, linger, dwell, max_visit, min_overlap, limit)| {
            let from = from.map(|m| T0 + m * 60);
            let to = match (from, len) {
                (Some(f), Some(l)) => Some(f + l * 60),
                (None, Some(l)) => Some(T0 + l * 60),
                _ => None,
            };
            TraceRequest::new(format!("P{f0}"))
                .window(from, to)
                .linger(linger * 60)
                .dwell(dwell * 60)
                .max_visit(max_visit * 60)
                .min_overlap(min_overlap * 60)
                .limit(limit)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The engine equals the nested-loop reference on random stores and parameters, with one
    /// part per day or many, single- and multi-threaded.
    #[test]
    fn engine_matches_reference(rows in proptest::collection::vec(crate::fixture::random_row(6, 3, 4320), 1..40), reqs in proptest::collection::vec(request_strategy(), 4), flush in prop_oneof![Just(1usize << 20), 1usize..8]) {
        let fixture = rows.iter().cloned().fold(StoreFixture::new().flush_rows(flush), StoreFixture::row);
        let (_dir, store) = fixture.build();
        for req in &reqs {
            if store.snapshot().person_key(&req.f0).unwrap().is_none() {
                let unknown = matches!(store.trace(req), Err(Error::NotFound { .. }));
                prop_assert!(unknown);
                continue;
            }
            assert_same(&store, &rows, req);
        }
    }
}

#[test]
fn visit_crossing_midnight_is_found_from_both_days() {
    let f = StoreFixture::new()
        .visit("F0", "V", "23:30", Some("24:30"))
        .visit("A", "V", "24:10", None) // next day's partition
        .visit("B", "V", "23:00", None) // dwell 1h: until 24:00
        .visit("C", "V", "22:00", Some("23:30")); // touching F0's arrival
    let (_d, store) = f.build();
    let req = TraceRequest::new("F0");
    assert_same(&store, &f.rows, &req);
    let got = engine(&store, &req);
    assert_eq!(got.iter().map(|c| (c.0.as_str(), c.1)).collect::<Vec<_>>(), [("B", 1800), ("A", 1200)]);
    assert_eq!(store.snapshot().manifest().days().len(), 2);
}

#[test]
fn long_check_out_is_capped_by_max_visit() {
    let f = StoreFixture::new().visit("F0", "V", "32:00", Some("33:00")).visit("A", "V", "20:00", Some("68:00"));
    let (_d, store) = f.build();
    // 12 h cap: A's stay ends at 32:00, exactly when F0 arrives: touching, no contact.
    assert!(engine(&store, &TraceRequest::new("F0")).is_empty());
    let long = TraceRequest::new("F0").max_visit(24 * 3600);
    assert_eq!(engine(&store, &long)[0].1, 3600);
    assert_same(&store, &f.rows, &long);
}

#[test]
fn touching_intervals_do_not_overlap() {
    let f = StoreFixture::new().visit("F0", "V", "08:00", Some("09:00")).visit("A", "V", "09:00", Some("10:00")).visit(
        "B",
        "V",
        "07:00",
        Some("08:00"),
    );
    let (_d, store) = f.build();
    assert!(engine(&store, &TraceRequest::new("F0")).is_empty());
    // A linger of one second makes A a contact for exactly that second.
    assert_eq!(
        engine(&store, &TraceRequest::new("F0").linger(1)),
        [("A".to_string(), 1, 1, 1, at("2021-08-01", "09:00"), at("2021-08-01", "09:00") + 1)]
    );
}

#[test]
fn repeated_f0_scans_are_not_double_counted() {
    let f = StoreFixture::new()
        .visit("F0", "V", "08:00", None)
        .visit("F0", "V", "08:10", None) // duplicate scan: union 08:00–09:10
        .visit("F0", "V", "08:00", None)
        .visit("A", "V", "08:30", Some("10:00"))
        .visit("A", "V", "08:31", Some("08:40")); // A's own duplicate scan inside its stay
    let (_d, store) = f.build();
    let got = engine(&store, &TraceRequest::new("F0"));
    assert_eq!((got[0].1, got[0].2), (40 * 60, 1));
    assert_same(&store, &f.rows, &TraceRequest::new("F0"));
}

#[test]
fn episodes_linger_window_and_ranking() {
    let f = StoreFixture::new()
        .visit("F0", "V", "08:00", Some("09:00"))
        .visit("F0", "W", "12:00", Some("12:30"))
        .visit("A", "V", "08:00", Some("08:10"))
        .visit("A", "V", "08:30", Some("08:40"))
        .visit("B", "V", "08:40", Some("09:00"))
        .visit("C", "W", "12:35", Some("13:00")) // within a 15-minute linger
        .visit("D", "V", "08:45", Some("09:05"));
    let (_d, store) = f.build();
    let got = engine(&store, &TraceRequest::new("F0"));
    // A and B tie on 20 minutes; A has two episodes and ranks first.
    assert_eq!(
        got.iter().map(|c| (c.0.as_str(), c.1, c.2)).collect::<Vec<_>>(),
        [("A", 1200, 2), ("B", 1200, 1), ("D", 900, 1)]
    );
    let linger = TraceRequest::new("F0").linger(900);
    assert_eq!(engine(&store, &linger).iter().find(|c| c.0 == "C").map(|c| c.1), Some(600));
    let window = TraceRequest::new("F0").window(Some(at("2021-08-01", "08:35")), Some(at("2021-08-01", "08:50")));
    assert_same(&store, &f.rows, &window);
    assert_same(&store, &f.rows, &linger.clone().min_overlap(1000).limit(Some(1)));
}

#[test]
fn unknown_f0_and_f0_outside_window() {
    let (_d, store) = StoreFixture::new().visit("F0", "V", "08:00", None).visit("A", "V", "08:10", None).build();
    assert!(matches!(store.trace(&TraceRequest::new("nobody")), Err(Error::NotFound { .. })));
    let later = TraceRequest::new("F0").window(Some(at("2021-08-02", "00:00")), None);
    let r = store.trace(&later).unwrap();
    assert!(r.contacts.is_empty());
    assert!(matches!(store.trace(&TraceRequest::new("F0").max_visit(0)), Err(Error::InvalidArgument { .. })));
}

#[test]
fn arrow_output_has_the_documented_columns() {
    let (_d, store) = StoreFixture::new().visit("F0", "V", "08:00", None).visit("A", "V", "08:10", None).build();
    let r = store.trace(&TraceRequest::new("F0")).unwrap();
    let b = r.to_record_batch();
    let schema = b.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "rank",
            "person_id",
            "exposure_seconds",
            "imputed_seconds",
            "episodes",
            "venues",
            "first_contact",
            "last_contact"
        ]
    );
    let e = r.exposures_record_batch().unwrap();
    assert_eq!(e.num_rows(), 1);
    assert_eq!(e.schema().field(2).name(), "venue_id");
}

#[test]
fn traces_from_many_threads_agree() {
    let f = (0..200).fold(StoreFixture::new(), |f, i| {
        f.row(Row {
            person: format!("P{}", i % 23),
            venue: format!("V{}", i % 5),
            check_in: T0 + (i * 617) % 80_000,
            check_out: None,
        })
    });
    let (_d, store) = f.build();
    let reqs: Vec<TraceRequest> = (0..23).map(|p| TraceRequest::new(format!("P{p}"))).collect();
    let batch = store.snapshot().trace_many(&reqs);
    // trace_each streams the same results, each once, tagged with its request's index.
    let streamed = std::sync::Mutex::new(vec![None; reqs.len()]);
    store.snapshot().trace_each(&reqs, |i, r| {
        let previous = streamed.lock().unwrap()[i].replace(r.unwrap().contacts);
        assert!(previous.is_none(), "request {i} answered twice");
    });
    for (i, got) in streamed.into_inner().unwrap().into_iter().enumerate() {
        assert_eq!(got.as_ref(), Some(&batch[i].as_ref().unwrap().contacts), "trace_each differs for request {i}");
    }
    std::thread::scope(|s| {
        for (req, got) in reqs.iter().zip(&batch) {
            let store = &store;
            let rows = &f.rows;
            s.spawn(move || {
                let got = listed(&got.as_ref().unwrap().contacts);
                assert_eq!(got, reference(rows, req));
                assert_same(store, rows, req);
            });
        }
    });
}

#[test]
fn a_trace_past_its_deadline_stops_with_a_time_limit_error() {
    let (_dir, store) = StoreFixture::new()
        .visit("F0", "V", "08:00", Some("09:00"))
        .visit("A", "V", "08:30", None)
        .visit("F0", "W", "10:00", Some("11:00"))
        .visit("B", "W", "10:30", None)
        .build();
    let snap = store.snapshot();
    let req = TraceRequest::new("F0");
    let past = req.clone().deadline(Some(std::time::Instant::now()));
    let err = snap.trace(&past).unwrap_err();
    assert!(matches!(err, Error::TimeLimit), "{err}");
    assert_eq!(err.kind(), truyvet::ErrorKind::Environment);
    let chained = truyvet::trace::ChainRequest::new(past, 2);
    assert!(matches!(snap.trace_chain(&chained, None), Err(Error::TimeLimit)));
    // A deadline not yet reached changes nothing.
    let later = req.clone().deadline(Some(std::time::Instant::now() + std::time::Duration::from_secs(3600)));
    assert_eq!(engine(&store, &later), engine(&store, &req));
    assert_eq!(engine(&store, &req).len(), 2);
}
