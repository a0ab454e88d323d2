//! `--rules`: the same F0s under each exposure rule: library latency against `overlap`, list
//! sizes, and how the lists differ from `overlap`'s (listed by both, only one, rank moves).

use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;
use truyvet::trace::{Comparison, ExposureRule};
use truyvet::{Snapshot, TraceRequest};
use truyvet_benches::Percentiles;

/// One rule's figures over the run's F0s.
#[derive(Debug, Serialize)]
pub struct RuleFigures {
    pub rule: String,
    /// Library latency, both cores.
    pub latency: Percentiles,
    /// p50 latency over `overlap`'s p50.
    pub p50_ratio: f64,
    /// p99 latency over `overlap`'s p99.
    pub p99_ratio: f64,
    /// F1 list sizes.
    pub contacts_p50: usize,
    pub contacts_total: usize,
    /// Rows of the F0s' venues read (p50 over the F0s), and `overlap`'s.
    pub rows_examined_p50: u64,
    pub overlap_rows_examined_p50: u64,
    /// Summed over the F0s: listed by both rules, only by overlap, only by this rule.
    pub both: usize,
    pub only_overlap: usize,
    pub only_rule: usize,
    /// Summed over the F0s: contacts of both ranked higher / lower than by overlap.
    pub up: usize,
    pub down: usize,
}

/// What one rule gathers over the F0s.
#[derive(Default)]
struct Tally {
    latency: Vec<Duration>,
    sizes: Vec<usize>,
    examined: Vec<u64>,
    both: usize,
    only_overlap: usize,
    only_rule: usize,
    up: usize,
    down: usize,
}

/// Trace each F0 under `overlap` and under each rule, in an order that rotates from F0 to F0
/// (the first trace of an F0 pays for touching its pages and for memory the allocator has
/// just returned, so each rule goes first equally often), so that neither that nor a slower
/// stretch of a shared machine weighs on one rule more than another; print one line per rule.
pub fn rules(snap: &Snapshot, f0s: &[String], names: &[String]) -> Result<Vec<RuleFigures>> {
    let mut rules: Vec<ExposureRule> = vec![ExposureRule::IntervalOverlap];
    for n in names {
        rules.push(ExposureRule::parse(n)?);
    }
    let mut tallies: Vec<Tally> = rules.iter().map(|_| Tally::default()).collect();
    let mut results: Vec<Option<truyvet::TraceResult>> = rules.iter().map(|_| None).collect();
    for (i, f0) in f0s.iter().enumerate() {
        for k in (0..rules.len()).map(|k| (k + i) % rules.len()) {
            let req = TraceRequest::new(f0.as_str()).rule(rules[k]);
            let t = Instant::now();
            let r = snap.trace(&req)?;
            let tally = &mut tallies[k];
            tally.latency.push(t.elapsed());
            tally.sizes.push(r.contacts.len());
            tally.examined.push(r.rows_examined);
            results[k] = Some(r);
        }
        let a = results[0].take().expect("traced");
        for (tally, b) in tallies[1..].iter_mut().zip(&mut results[1..]) {
            let c = Comparison::of(&a, &b.take().expect("traced"));
            tally.both += c.both;
            tally.only_overlap += c.only_a;
            tally.only_rule += c.only_b;
            tally.up += c.up;
            tally.down += c.down;
        }
    }
    let mut tallies = tallies.into_iter();
    let mut base = tallies.next().expect("overlap");
    let p50 = |v: &mut Vec<u64>| {
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    };
    let base_p = Percentiles::of(&base.latency);
    let base_examined = p50(&mut base.examined);
    let base_total: usize = base.sizes.iter().sum();
    let mut out = Vec::new();
    for (name, mut t) in names.iter().zip(tallies) {
        let p = Percentiles::of(&t.latency);
        t.sizes.sort_unstable();
        let f = RuleFigures {
            rule: name.clone(),
            latency: p,
            p50_ratio: p.p50_ms / base_p.p50_ms,
            p99_ratio: p.p99_ms / base_p.p99_ms,
            contacts_p50: t.sizes.get(t.sizes.len() / 2).copied().unwrap_or(0),
            contacts_total: t.sizes.iter().sum(),
            rows_examined_p50: p50(&mut t.examined),
            overlap_rows_examined_p50: base_examined,
            both: t.both,
            only_overlap: t.only_overlap,
            only_rule: t.only_rule,
            up: t.up,
            down: t.down,
        };
        eprintln!(
            "rule {:>12}: p50 {:.2} ms ({:.2}× overlap's {:.2}), p99 {:.2} ms ({:.2}× {:.2}); rows examined p50 {} (overlap {}); F1 p50 {}, total {} (overlap {}); both {}, only overlap {}, only {} {}; ranked higher {}, lower {}",
            f.rule,
            p.p50_ms,
            f.p50_ratio,
            base_p.p50_ms,
            p.p99_ms,
            f.p99_ratio,
            base_p.p99_ms,
            f.rows_examined_p50,
            f.overlap_rows_examined_p50,
            f.contacts_p50,
            f.contacts_total,
            base_total,
            f.both,
            f.only_overlap,
            f.rule,
            f.only_rule,
            f.up,
            f.down
        );
        out.push(f);
    }
    Ok(out)
}
