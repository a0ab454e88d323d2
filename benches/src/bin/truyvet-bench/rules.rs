//! `--rules`: the same F0s under each exposure rule: library latency against `overlap`, list
//! sizes, and how the lists differ from `overlap`'s (listed by both, only one, rank moves).

use std::time::Instant;

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
    /// Summed over the F0s: listed by both rules, only by overlap, only by this rule.
    pub both: usize,
    pub only_overlap: usize,
    pub only_rule: usize,
    /// Summed over the F0s: contacts of both ranked higher / lower than by overlap.
    pub up: usize,
    pub down: usize,
}

/// Trace every F0 under `overlap` and then each rule; print one line per rule.
pub fn rules(snap: &Snapshot, f0s: &[String], names: &[String]) -> Result<Vec<RuleFigures>> {
    let run = |rule: ExposureRule| -> Result<(Vec<std::time::Duration>, Vec<truyvet::TraceResult>)> {
        let mut lat = Vec::with_capacity(f0s.len());
        let mut results = Vec::with_capacity(f0s.len());
        for f0 in f0s {
            let req = TraceRequest::new(f0.as_str()).rule(rule);
            let t = Instant::now();
            let r = snap.trace(&req)?;
            lat.push(t.elapsed());
            results.push(r);
        }
        Ok((lat, results))
    };
    let (base_lat, base) = run(ExposureRule::IntervalOverlap)?;
    let base_p = Percentiles::of(&base_lat);
    let mut out = Vec::new();
    for name in names {
        let rule = ExposureRule::parse(name)?;
        let (lat, results) = run(rule)?;
        let p = Percentiles::of(&lat);
        let mut sizes: Vec<usize> = results.iter().map(|r| r.contacts.len()).collect();
        sizes.sort_unstable();
        let mut f = RuleFigures {
            rule: name.clone(),
            latency: p,
            p50_ratio: p.p50_ms / base_p.p50_ms,
            p99_ratio: p.p99_ms / base_p.p99_ms,
            contacts_p50: sizes[sizes.len() / 2],
            contacts_total: sizes.iter().sum(),
            both: 0,
            only_overlap: 0,
            only_rule: 0,
            up: 0,
            down: 0,
        };
        for (a, b) in base.iter().zip(&results) {
            let c = Comparison::of(a, b);
            f.both += c.both;
            f.only_overlap += c.only_a;
            f.only_rule += c.only_b;
            f.up += c.up;
            f.down += c.down;
        }
        eprintln!(
            "rule {:>12}: p50 {:.2} ms ({:.2}× overlap), p99 {:.2} ms ({:.2}×); F1 p50 {}, total {} (overlap {}); both {}, only overlap {}, only {} {}; ranked higher {}, lower {}",
            f.rule,
            p.p50_ms,
            f.p50_ratio,
            p.p99_ms,
            f.p99_ratio,
            f.contacts_p50,
            f.contacts_total,
            base.iter().map(|r| r.contacts.len()).sum::<usize>(),
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
