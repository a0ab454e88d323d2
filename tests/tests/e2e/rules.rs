//! Exposure rules: every preset against a brute-force reference written from the semantics in
//! `truyvet::trace::rules`, on random stores, with per-category dwell, local time zones and
//! imputed seconds; and the rules file and the comparison through the library.

use std::collections::BTreeMap;

use proptest::prelude::*;
use truyvet::trace::{Comparison, ExposureRule, RuleParams, Score};
use truyvet::{Error, Store, TraceRequest};

use crate::chain::merge;
use crate::fixture::{Row, StoreFixture};

use crate::fixture::T0;
const DAY: i64 = 86_400;
const CATEGORIES: [(&str, &str); 2] = [("V0", "market"), ("V1", "office")];

/// A contact as the reference computes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    person: String,
    exposure: i64,
    imputed: i64,
    episodes: u32,
    venues: u32,
    first: i64,
    last: i64,
    score: Score,
}

fn length(v: &[(i64, i64)]) -> i64 {
    v.iter().map(|(s, e)| e - s).sum()
}

/// A row's stay under `req`: `(start, end, imputed)`.
fn stay(rows: &[Row], r: &Row, req: &TraceRequest) -> (i64, i64, bool) {
    let cap = r.check_in + req.max_visit;
    match r.check_out {
        Some(b) if b <= cap => return (r.check_in, b, false),
        Some(_) => return (r.check_in, cap, true),
        None => {}
    }
    let category = CATEGORIES.iter().find(|(v, _)| *v == r.venue).map(|(_, c)| *c);
    let dwell = category.and_then(|c| req.params.dwell_by_category.get(c)).copied().unwrap_or(req.dwell);
    let end = match req.rule {
        ExposureRule::Midnight => {
            // Walk local midnights: the first strictly after the check-in.
            let off = i64::from(req.params.tz_offset);
            let mut m = T0 - 3 * DAY - off;
            while m <= r.check_in {
                m += DAY;
            }
            m
        }
        ExposureRule::NextCheckin => rows
            .iter()
            .filter(|o| o.person == r.person && o.check_in > r.check_in && o.check_in <= cap)
            .map(|o| o.check_in)
            .min()
            .unwrap_or(r.check_in + dwell),
        _ => r.check_in + dwell,
    };
    (r.check_in, end.min(cap), true)
}

fn order(out: &mut [Expected]) {
    out.sort_by(|a, b| {
        let key = |c: &Expected| match c.score {
            Score::Cwa { weighted_milli_minutes, high } => (!high, -(weighted_milli_minutes as i128)),
            Score::Scans { min_gap, .. } => (false, i128::from(min_gap)),
            _ => (false, 0),
        };
        key(a)
            .cmp(&key(b))
            .then(b.exposure.cmp(&a.exposure))
            .then(b.episodes.cmp(&a.episodes))
            .then(a.person.as_bytes().cmp(b.person.as_bytes()))
    });
}

/// The interval rules (overlap, midnight, next-checkin, cwa) by nested loops.
fn reference(rows: &[Row], req: &TraceRequest) -> Vec<Expected> {
    let from = req.from.unwrap_or(i64::MIN / 4);
    let to = req.to.unwrap_or(i64::MAX / 4);
    let cwa = req.rule == ExposureRule::Cwa;
    // (venue, start, end, measured)
    let f0: Vec<(&str, i64, i64, bool)> = rows
        .iter()
        .filter(|r| r.person == req.f0)
        .filter_map(|r| {
            let (a, b, imputed) = stay(rows, r, req);
            let after = if cwa {
                if b - a < 600 {
                    return None;
                }
                (b - a).min(1800)
            } else {
                req.linger
            };
            let (s, e) = (a.max(from), b.min(to));
            (s < e).then_some((r.venue.as_str(), s, e + after, !imputed))
        })
        .collect();
    let mut persons: Vec<&str> = rows.iter().map(|r| r.person.as_str()).filter(|p| *p != req.f0).collect();
    persons.sort();
    persons.dedup();
    let mut out = Vec::new();
    for p in persons {
        let mut c = Expected {
            person: p.to_string(),
            exposure: 0,
            imputed: 0,
            episodes: 0,
            venues: 0,
            first: i64::MAX,
            last: i64::MIN,
            score: Score::Exposure,
        };
        let mut all_episodes = Vec::new();
        for v in ["V0", "V1", "V2"] {
            let (mut pieces, mut measured) = (Vec::new(), Vec::new());
            for r in rows.iter().filter(|r| r.person == p && r.venue == v) {
                let (a, b, imputed) = stay(rows, r, req);
                for &(_, s, e, f0_measured) in f0.iter().filter(|f| f.0 == v) {
                    if a.max(s) < b.min(e) {
                        pieces.push((a.max(s), b.min(e)));
                        if !imputed && f0_measured {
                            measured.push((a.max(s), b.min(e)));
                        }
                    }
                }
            }
            let episodes = merge(pieces);
            if episodes.is_empty() {
                continue;
            }
            c.venues += 1;
            c.episodes += episodes.len() as u32;
            c.exposure += length(&episodes);
            c.imputed += length(&episodes) - length(&merge(measured));
            c.first = c.first.min(episodes[0].0);
            c.last = c.last.max(episodes.last().unwrap().1);
            all_episodes.extend(episodes);
        }
        if c.exposure < req.min_overlap.max(1) {
            continue;
        }
        if cwa {
            let off = i64::from(req.params.tz_offset);
            let mut per_day: BTreeMap<i64, i64> = BTreeMap::new();
            for (s, e) in all_episodes {
                for t in s..e {
                    *per_day.entry((t + off).div_euclid(DAY)).or_default() += 1;
                }
            }
            let onset_day = req.onset.map(|o| (o + off).div_euclid(DAY));
            let w: u64 = per_day
                .iter()
                .map(|(&d, &secs)| {
                    let weight = onset_day.map_or(1000, |o| {
                        req.params.risk_by_day.get(&(d - o)).copied().unwrap_or(req.params.risk_outside)
                    });
                    (secs / 600) as u64 * 10 * u64::from(weight)
                })
                .sum();
            c.score = Score::Cwa { weighted_milli_minutes: w, high: w >= 10_000 };
        }
        out.push(c);
    }
    order(&mut out);
    out.truncate(req.limit.unwrap_or(usize::MAX));
    out
}

/// `pc-covid` by nested loops over every pair of scans.
fn reference_pc_covid(rows: &[Row], req: &TraceRequest) -> Vec<Expected> {
    let from = req.from.unwrap_or(i64::MIN / 4);
    let to = req.to.unwrap_or(i64::MAX / 4);
    let scans = |r: &Row| {
        let mut s = vec![r.check_in];
        s.extend(r.check_out.filter(|&o| o - r.check_in <= req.max_visit));
        s
    };
    let f0: Vec<(&str, i64)> = rows
        .iter()
        .filter(|r| r.person == req.f0)
        .flat_map(|r| scans(r).into_iter().filter(|t| (from..to).contains(t)).map(|t| (r.venue.as_str(), t)))
        .collect();
    let mut persons: Vec<&str> = rows.iter().map(|r| r.person.as_str()).filter(|p| *p != req.f0).collect();
    persons.sort();
    persons.dedup();
    let mut out = Vec::new();
    for p in persons {
        let mut matched: Vec<(i64, &str, i64)> = Vec::new();
        for r in rows.iter().filter(|r| r.person == p) {
            for t in scans(r) {
                let gap = f0.iter().filter(|f| f.0 == r.venue).map(|f| (f.1 - t).abs()).min();
                if let Some(g) = gap.filter(|&g| g <= req.params.radius) {
                    matched.push((t, r.venue.as_str(), g));
                }
            }
        }
        if matched.is_empty() {
            continue;
        }
        let mut venues: Vec<&str> = matched.iter().map(|m| m.1).collect();
        venues.sort();
        venues.dedup();
        let n = matched.len() as u32;
        out.push(Expected {
            person: p.to_string(),
            exposure: 0,
            imputed: 0,
            episodes: n,
            venues: venues.len() as u32,
            first: matched.iter().map(|m| m.0).min().unwrap(),
            last: matched.iter().map(|m| m.0).max().unwrap(),
            score: Score::Scans { matches: n, min_gap: matched.iter().map(|m| m.2).min().unwrap() },
        });
    }
    out.sort_by(|a, b| {
        let key = |c: &Expected| match c.score {
            Score::Scans { matches, min_gap } => (min_gap, std::cmp::Reverse(matches)),
            _ => unreachable!(),
        };
        key(a).cmp(&key(b)).then(a.person.as_bytes().cmp(b.person.as_bytes()))
    });
    out.truncate(req.limit.unwrap_or(usize::MAX));
    out
}

fn engine(store: &Store, req: &TraceRequest) -> Vec<Expected> {
    let result = store.trace(req).unwrap();
    for (i, c) in result.contacts.iter().enumerate() {
        assert_eq!(c.rank as usize, i + 1);
    }
    // Exposure rows add up to each contact's totals.
    for c in &result.contacts {
        let mine = result.exposures.iter().filter(|e| e.rank == c.rank);
        if req.rule != ExposureRule::PcCovid {
            assert_eq!(mine.clone().map(|e| e.end - e.start).sum::<i64>(), c.exposure_seconds);
            assert_eq!(mine.map(|e| e.imputed_seconds).sum::<i64>(), c.imputed_seconds);
        } else {
            assert_eq!(mine.count() as u32, c.episodes);
        }
    }
    let batch = result.to_record_batch();
    assert_eq!(batch.num_rows(), result.contacts.len());
    result
        .contacts
        .iter()
        .map(|c| Expected {
            person: c.person_id.to_string(),
            exposure: c.exposure_seconds,
            imputed: c.imputed_seconds,
            episodes: c.episodes,
            venues: c.venues,
            first: c.first_contact,
            last: c.last_contact,
            score: c.score,
        })
        .collect()
}

fn assert_same(store: &Store, rows: &[Row], req: &TraceRequest) {
    let want = match req.rule {
        ExposureRule::PcCovid => reference_pc_covid(rows, req),
        _ => reference(rows, req),
    };
    for parallel in [false, true] {
        let got = engine(store, &req.clone().parallel(parallel));
        assert!(got == want, "request {req:?} (parallel {parallel})\nexpected:\n{want:#?}\nactual:\n{got:#?}");
    }
    // The list alone, its intervals not gathered: the same contacts, and no intervals to give.
    let (whole, alone) = (store.trace(req).unwrap(), store.trace(&req.clone().intervals(false)).unwrap());
    assert_eq!(alone.contacts, whole.contacts, "request {req:?} without intervals");
    assert!(alone.exposures.is_empty(), "request {req:?} without intervals kept {}", alone.exposures.len());
    assert!(alone.exposures_record_batch().is_err());
}

fn request_strategy() -> impl Strategy<Value = TraceRequest> {
    (
        (0u8..6, proptest::option::of(0i64..(3 * 1440)), proptest::option::of(1i64..(3 * 1440))),
        (
            prop_oneof![Just(0i64), 0i64..120],
            prop_oneof![Just(60i64), 0i64..240],
            prop_oneof![Just(720i64), 1i64..2000],
        ),
        (prop_oneof![Just(0i64), 0i64..90], proptest::option::of(1usize..5)),
        (
            proptest::sample::select(ExposureRule::ALL.to_vec()),
            prop_oneof![Just(0i32), Just(7 * 3600), Just(-3 * 3600 - 1800)],
            proptest::option::of((0i64..240, 0i64..600)),
            0i64..120,
            proptest::option::of(0i64..(4 * 1440)),
        ),
    )
        .prop_map(
            |((f0, from, len), (linger, dwell, max_visit), (min_overlap, limit), (rule, tz, cats, radius, onset))| {
                let from = from.map(|m| T0 + m * 60);
                let to = match (from, len) {
                    (Some(f), Some(l)) => Some(f + l * 60),
                    (None, Some(l)) => Some(T0 + l * 60),
                    _ => None,
                };
                let mut params = RuleParams { tz_offset: tz, radius: radius * 60, ..RuleParams::default() };
                if let Some((market, office)) = cats {
                    params.dwell_by_category =
                        [("market".to_string(), market * 60), ("office".to_string(), office * 60)].into();
                }
                params.risk_by_day.insert(1, 1500);
                params.risk_outside = 250;
                TraceRequest::new(format!("P{f0}"))
                    .window(from, to)
                    .linger(linger * 60)
                    .dwell(dwell * 60)
                    .max_visit(max_visit * 60)
                    .min_overlap(min_overlap * 60)
                    .limit(limit)
                    .rule(rule)
                    .params(params)
                    .onset(onset.map(|m| T0 - DAY + m * 60))
            },
        )
}

/// A check-in of one of 40 persons at one of two venues on one day: a third without
/// check-out, most of the rest under 1.5 h, one in a hundred up to 15 h.
fn busy_row() -> impl Strategy<Value = Row> {
    let stay = prop_oneof![30 => Just(None), 69 => (0i64..90).prop_map(Some), 1 => (0i64..900).prop_map(Some)];
    (0u8..40, 0u8..2, 0i64..1440, stay).prop_map(|(p, v, minute, stay)| {
        let check_in = T0 + minute * 60 + (minute % 7) * 13;
        Row { person: format!("P{p}"), venue: format!("V{v}"), check_in, check_out: stay.map(|m| check_in + m * 60) }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Every preset equals its nested-loop reference on random stores and parameters (with a
    /// venues register giving two venues a category), one part per day or many, ingested in one
    /// batch or several, with day links or as a store from before them.
    #[test]
    fn every_rule_matches_its_reference(rows in proptest::collection::vec(crate::fixture::random_row(6, 3, 4320), 1..40), reqs in proptest::collection::vec(request_strategy(), 6), flush in prop_oneof![Just(1usize << 20), 1usize..8], batches in 1usize..4, links in any::<bool>()) {
        let fixture = StoreFixture::new().flush_rows(flush).categories(&CATEGORIES).batches(batches).without_links(!links);
        let fixture = rows.iter().cloned().fold(fixture, StoreFixture::row);
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

    /// The same on busy venues: hundreds of check-ins a day at each, mostly short stays, so a
    /// look-back spans blocks of rows that all ended before the F0 came (skipped by the index)
    /// beside ones that did not.
    #[test]
    fn every_rule_matches_its_reference_on_busy_venues(rows in proptest::collection::vec(busy_row(), 300..700), reqs in proptest::collection::vec(request_strategy(), 3), flush in prop_oneof![Just(1usize << 20), 200usize..500], batches in 1usize..3, links in any::<bool>()) {
        let fixture = StoreFixture::new().flush_rows(flush).categories(&CATEGORIES).batches(batches).without_links(!links);
        let fixture = rows.iter().cloned().fold(fixture, StoreFixture::row);
        let (_dir, store) = fixture.build();
        for req in &reqs {
            if store.snapshot().person_key(&req.f0).unwrap().is_none() {
                continue;
            }
            assert_same(&store, &rows, req);
        }
    }
}

#[test]
fn one_stay_without_check_out_under_each_rule() {
    // F0 at the market 08:00–09:00 (checked out). A checks in at 08:30 without check-out and
    // next checks in at 08:50 elsewhere; B checks in at 08:59 without check-out.
    let f = StoreFixture::new()
        .categories(&CATEGORIES)
        .visit("F0", "V0", "08:00", Some("09:00"))
        .visit("A", "V0", "08:30", None)
        .visit("A", "V2", "08:50", None)
        .visit("B", "V0", "08:59", None);
    let (_d, store) = f.build();
    let exposure = |req: TraceRequest| -> Vec<(String, i64, i64)> {
        store
            .trace(&req)
            .unwrap()
            .contacts
            .iter()
            .map(|c| (c.person_id.to_string(), c.exposure_seconds, c.imputed_seconds))
            .collect()
    };
    let base = TraceRequest::new("F0");
    // overlap: dwell 1 h; everything rests on imputed ends.
    assert_eq!(exposure(base.clone()), [("A".into(), 1800, 1800), ("B".into(), 60, 60)]);
    // next-checkin: A left at 08:50.
    assert_eq!(
        exposure(base.clone().rule(ExposureRule::NextCheckin)),
        [("A".into(), 1200, 1200), ("B".into(), 60, 60)]
    );
    // midnight: both stay until midnight.
    assert_eq!(exposure(base.clone().rule(ExposureRule::Midnight)), [("A".into(), 1800, 1800), ("B".into(), 60, 60)]);
    // A market's dwell of 10 minutes.
    let params = RuleParams { dwell_by_category: [("market".to_string(), 600)].into(), ..RuleParams::default() };
    assert_eq!(exposure(base.clone().params(params)), [("A".into(), 600, 600), ("B".into(), 60, 60)]);
    // cwa: the F0's hour extends by 30 min (to 09:30): A's hour counts 6 slots, B's 31 min 3.
    let got = store.trace(&base.clone().rule(ExposureRule::Cwa)).unwrap();
    let slots: Vec<_> = got.contacts.iter().map(|c| (c.person_id.as_str(), c.exposure_seconds, c.score)).collect();
    assert_eq!(
        slots,
        [
            ("A", 3600, Score::Cwa { weighted_milli_minutes: 60_000, high: true }),
            ("B", 1860, Score::Cwa { weighted_milli_minutes: 30_000, high: true })
        ]
    );
    // pc-covid: A's scan at 08:30 is 30 min from the F0's check-in and check-out.
    let got = store.trace(&base.clone().rule(ExposureRule::PcCovid)).unwrap();
    let scans: Vec<_> = got.contacts.iter().map(|c| (c.person_id.as_str(), c.score)).collect();
    assert_eq!(
        scans,
        [("B", Score::Scans { matches: 1, min_gap: 60 }), ("A", Score::Scans { matches: 1, min_gap: 1800 })]
    );
    let csv = got.to_record_batch();
    assert_eq!(csv.schema().field(2).name(), "matches");
}

#[test]
fn measured_ends_on_both_sides_are_not_imputed() {
    let f = StoreFixture::new()
        .visit("F0", "V0", "08:00", Some("09:00"))
        .visit("A", "V0", "08:30", Some("10:00"))
        .visit("F0", "V1", "12:00", None)
        .visit("A", "V1", "12:10", Some("12:20"));
    let (_d, store) = f.build();
    let got = store.trace(&TraceRequest::new("F0")).unwrap();
    let c = &got.contacts[0];
    assert_eq!((c.exposure_seconds, c.imputed_seconds), (2400, 600));
    let e = got.exposures_record_batch().unwrap();
    assert_eq!(e.schema().field(7).name(), "imputed_seconds");
}

#[test]
fn compare_counts_who_each_rule_lists() {
    let f = StoreFixture::new()
        .visit("F0", "V0", "08:00", Some("09:00"))
        .visit("A", "V0", "08:30", None)
        .visit("A", "V2", "08:35", None)
        .visit("B", "V0", "07:30", Some("08:10"))
        .visit("C", "V0", "10:30", None);
    let (_d, store) = f.build();
    let a = store.trace(&TraceRequest::new("F0")).unwrap();
    let b = store.trace(&TraceRequest::new("F0").rule(ExposureRule::PcCovid)).unwrap();
    let c = Comparison::of(&a, &b);
    // overlap: A 30 min, B 10 min. pc-covid: B's check-out is 10 min from the F0's check-in and
    // C's check-in 90 min from its check-out (outside 60).
    assert_eq!((c.both, c.only_a, c.only_b), (2, 0, 0));
    assert_eq!((c.up, c.down), (1, 1));
    assert_eq!(
        c.rows.iter().map(|r| (r.person_id.as_str(), r.rank_a, r.rank_b)).collect::<Vec<_>>(),
        [("A", Some(1), Some(2)), ("B", Some(2), Some(1))]
    );
    let wide = RuleParams { radius: 2 * 3600, ..RuleParams::default() };
    let b = store.trace(&TraceRequest::new("F0").rule(ExposureRule::PcCovid).params(wide)).unwrap();
    let c = Comparison::of(&a, &b);
    assert_eq!((c.both, c.only_a, c.only_b), (2, 0, 1));
    assert!(c.summary().contains("only pc-covid 1"), "{}", c.summary());
}

#[test]
fn followers_refuse_rules_that_score_one_list() {
    let f = StoreFixture::new().visit("F0", "V0", "08:00", Some("09:00")).visit("A", "V0", "08:30", None);
    let (_d, store) = f.build();
    let snap = store.snapshot();
    for rule in [ExposureRule::PcCovid, ExposureRule::Cwa] {
        let req = truyvet::trace::ChainRequest::new(TraceRequest::new("F0").rule(rule), 2);
        let e = snap.trace_chain(&req, None).unwrap_err().to_string();
        assert!(e.contains("applies to one F0's list"), "{e}");
    }
    let req = truyvet::trace::ChainRequest::new(TraceRequest::new("F0").rule(ExposureRule::Midnight), 2);
    assert!(snap.trace_chain(&req, None).is_ok());
}

#[test]
fn the_risk_score_explains_itself_and_reorders() {
    use truyvet::trace::{RankBy, Risk};
    let f = StoreFixture::new()
        .categories(&CATEGORIES)
        .visit("F0", "V0", "08:00", Some("09:00"))
        .visit("B", "V0", "08:15", Some("09:00"))
        .visit("F0", "V1", "10:00", Some("10:30"))
        .visit("A", "V1", "10:00", Some("10:30"))
        .visit("C", "V1", "10:10", Some("10:20"))
        .visit("C", "V1", "10:12", Some("10:25"));
    let (_d, store) = f.build();
    let by_exposure = store.trace(&TraceRequest::new("F0")).unwrap();
    assert_eq!(by_exposure.contacts.iter().map(|c| c.person_id.as_str()).collect::<Vec<_>>(), ["B", "A", "C"]);
    assert!(by_exposure.contacts.iter().all(|c| c.risk.is_none()));
    let scored = store.trace(&TraceRequest::new("F0").rank_by(RankBy::Score)).unwrap();
    let got: Vec<(&str, Option<Risk>)> = scored.contacts.iter().map(|c| (c.person_id.as_str(), c.risk)).collect();
    // A: 30 min at an office (×1.2) with F0 and C (C's two scans count once): 3 present,
    // crowding 1 + log2(1.5). B: 45 min at a market (×0.7) alone with the F0.
    let a = 30.0 * 1.2 * 1.585;
    let risk = |score: f64, w, c, n| Risk {
        score_milli: (score * 1000.0).round() as u64,
        category_weight: w,
        crowding: c,
        infectiousness: 1000,
        present: n,
    };
    assert_eq!(
        got,
        [
            ("A", Some(risk(a, 1200, 1585, 3))),
            ("B", Some(risk(45.0 * 0.7, 700, 1000, 2))),
            ("C", Some(risk(15.0 * 1.2 * 1.585, 1200, 1585, 3)))
        ]
    );
    let batch = scored.to_record_batch();
    let names: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names[8..], ["score", "category_weight", "crowding", "infectiousness", "present"]);
    let e = scored.exposures_record_batch().unwrap();
    assert_eq!(e.schema().fields().len(), 8 + 5);
    // The limit cuts after scoring.
    let top = store.trace(&TraceRequest::new("F0").rank_by(RankBy::Score).limit(Some(1))).unwrap();
    assert_eq!(top.contacts[0].person_id, "A");
    assert!(top.exposures.iter().all(|e| e.rank == 1));
    // Onset weighs the day: five days before onset is outside the default table (weight 0).
    let early = TraceRequest::new("F0").rank_by(RankBy::Score).onset(Some(T0 + 5 * DAY));
    assert!(store.trace(&early).unwrap().contacts.iter().all(|c| c.risk.unwrap().score_milli == 0));
    let e = store.trace(&TraceRequest::new("F0").rule(ExposureRule::PcCovid).rank_by(RankBy::Score)).unwrap_err();
    assert!(e.to_string().contains("has its own order"), "{e}");
}

/// A damaged day-links file is found by `verify` and makes a `next-checkin` trace an error
/// naming it, never another list; `overlap` does not read it.
#[test]
fn a_damaged_links_file_is_an_error_naming_it() {
    let (dir, store) = StoreFixture::new()
        .visit("A", "V1", "08:00", None)
        .visit("B", "V1", "08:30", None)
        .visit("B", "V2", "10:00", Some("11:00"))
        .build();
    let links = store.snapshot().manifest().links.clone();
    assert_eq!(links.len(), 1);
    let path = dir.path().join("store").join(&links[0].path);
    let mut bytes = std::fs::read(&path).unwrap();
    // The header of one part is 48 + 32 bytes; the first body byte is row 0's next check-in.
    bytes[80] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let report = Store::verify(dir.path().join("store"), false).unwrap();
    assert!(report.problems.iter().any(|p| p.file == links[0].path), "{report:?}");
    let store = Store::open(dir.path().join("store")).unwrap();
    let err = store.trace(&TraceRequest::new("A").rule(ExposureRule::NextCheckin)).unwrap_err().to_string();
    assert!(err.contains(&links[0].path) && err.contains("checksum"), "{err}");
    assert_eq!(store.trace(&TraceRequest::new("A")).unwrap().contacts.len(), 1);
}
