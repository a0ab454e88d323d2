//! `--register N`: the tracing team's day on the store: N registered cases (seeded), imported
//! with the product binary; their merged call list, hotspots and clusters (medians of three
//! runs) and person status in this process; and whole `truyvet trace --case ID --hops 2` /
//! `--hops 3 --max-per-hop 1000` processes (each case with its own window).

use std::ffi::OsString;
use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use truyvet::trace::{CasesRequest, ChainRequest, ClusterRequest, HotspotRequest};
use truyvet::{Store, TraceRequest};
use truyvet_benches::{Percentiles, child};

/// Runs of the call list, hotspots and clusters; their figures are medians.
const REPEATS: usize = 3;

/// The median seconds of `n` runs of `f`, and the last run's answer.
fn median_of<T>(n: usize, mut f: impl FnMut() -> truyvet::Result<T>) -> Result<(f64, T)> {
    let mut times = Vec::with_capacity(n);
    let mut last = None;
    for _ in 0..n {
        drop(last.take());
        let t = Instant::now();
        last = Some(f()?);
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok((times[n / 2], last.expect("n ≥ 1 runs")))
}

/// What `--register` measured (call list, hotspots and clusters: medians of three runs).
#[derive(Debug, Serialize, Default)]
pub struct RegisterFigures {
    pub cases: usize,
    pub import_seconds: f64,
    pub call_list_seconds: f64,
    pub call_list_cases_per_s: f64,
    pub call_list_persons: usize,
    pub call_list_rss_delta_bytes: u64,
    pub hotspots_seconds: f64,
    pub hotspots: usize,
    pub clusters_seconds: f64,
    pub clusters: usize,
    pub cluster_links: usize,
    pub status_index_seconds: f64,
    pub status: Percentiles,
    pub hops2_process: Percentiles,
    pub hops2_contacts_p50: usize,
    pub hops2_peak_rss_bytes: u64,
    pub hops3_process: Percentiles,
    pub hops3_peak_rss_bytes: u64,
}

/// Register `n` cases (persons with check-ins, confirmed at 10:00 +07:00 on a seeded day from
/// the store's fourth on, onset two days before) and measure.
pub fn figures(
    relay: &Path,
    bin: &Path,
    store_dir: &Path,
    f0s: &[String],
    n: usize,
    seed: u64,
    processes: usize,
) -> Result<RegisterFigures> {
    let mut fig = RegisterFigures::default();
    let snap = Store::open(store_dir)?.snapshot();
    let days = snap.manifest().days();
    let (first, last) = (days.first().copied().unwrap_or(0), days.last().copied().unwrap_or(0));
    let persons = truyvet_benches::pick_f0s(&snap, n, seed.wrapping_add(1))?;
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
    let mut csv = String::from("case_id,person_id,confirmed_at,onset_at\n");
    let mut seen = std::collections::HashSet::new();
    for (i, p) in persons.iter().enumerate() {
        if !seen.insert(p.clone()) {
            continue;
        }
        let day = rng.random_range((first + 3).min(last)..=last);
        let confirmed = day * 86_400 + 3 * 3600;
        csv.push_str(&format!("BENCH-{seed}-{i:05},{p},{confirmed},{}\n", confirmed - 2 * 86_400));
    }
    let file = store_dir.with_extension(format!("cases-{n}-{seed}.csv"));
    std::fs::write(&file, csv)?;
    let args: Vec<OsString> = ["cases", "import", "--max-reject-ratio", "0", "--store"]
        .map(OsString::from)
        .into_iter()
        .chain([store_dir.into(), file.into()])
        .collect();
    eprintln!("register: importing {} cases ...", seen.len());
    let out = child::run(relay, bin, &args)?;
    if !out.status.success() {
        bail!("cases import failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    fig.import_seconds = out.elapsed.as_secs_f64();
    let snap = Store::open(store_dir)?.snapshot();
    let cases = snap.cases()?.to_vec();
    fig.cases = cases.len();

    eprintln!("register: call list, hotspots, clusters, status ...");
    let rss0 = truyvet_benches::current_rss().unwrap_or(0);
    let req = CasesRequest::new(ChainRequest::new(TraceRequest::default(), 1));
    let (seconds, list) = median_of(REPEATS, || snap.trace_cases(&cases, &req, None))?;
    fig.call_list_seconds = seconds;
    fig.call_list_cases_per_s = cases.len() as f64 / seconds;
    fig.call_list_persons = list.calls.len();
    fig.call_list_rss_delta_bytes = truyvet_benches::current_rss().unwrap_or(0).saturating_sub(rss0);
    drop(list);

    let (seconds, hotspots) = median_of(REPEATS, || snap.hotspots(&HotspotRequest::default()))?;
    fig.hotspots_seconds = seconds;
    fig.hotspots = hotspots.hotspots.len();
    let (seconds, c) = median_of(REPEATS, || snap.clusters(&ClusterRequest::default()))?;
    fig.clusters_seconds = seconds;
    fig.clusters = c.clusters.iter().filter(|c| c.cases.len() > 1).count();
    fig.cluster_links = c.links.len();
    drop(c);

    let t = Instant::now();
    let index = snap.status_index(&ChainRequest::new(TraceRequest::default(), 2))?;
    fig.status_index_seconds = t.elapsed().as_secs_f64();
    let mut lat = Vec::with_capacity(f0s.len());
    for p in f0s {
        let t = Instant::now();
        index.status(p)?;
        lat.push(t.elapsed());
    }
    fig.status = Percentiles::of(&lat);
    drop(index);

    // Registered cases, each traced with its own infectious window (4 days), as a team does.
    let run = |extra: &[&str], case: &str| -> Result<(std::time::Duration, u64, usize)> {
        let mut a: Vec<OsString> = ["trace", "--format", "csv", "--store"].map(OsString::from).into();
        a.extend([store_dir.into(), "--case".into(), case.into()]);
        a.extend(extra.iter().map(OsString::from));
        let out = child::run(relay, bin, &a)?;
        if !out.status.success() {
            bail!("truyvet trace {extra:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok((out.elapsed, out.peak_rss_bytes, out.stdout.iter().filter(|&&b| b == b'\n').count().saturating_sub(1)))
    };
    let (mut t2, mut t3, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
    for case in cases.iter().take(processes) {
        let f0 = case.case_id.as_str();
        eprintln!("register: trace --case {f0} --hops 2 / --hops 3 --max-per-hop 1000");
        let (d, rss, n) = run(&["--hops", "2"], f0)?;
        t2.push(d);
        sizes.push(n);
        fig.hops2_peak_rss_bytes = fig.hops2_peak_rss_bytes.max(rss);
        let (d, rss, _) = run(&["--hops", "3", "--max-per-hop", "1000"], f0)?;
        t3.push(d);
        fig.hops3_peak_rss_bytes = fig.hops3_peak_rss_bytes.max(rss);
    }
    sizes.sort_unstable();
    fig.hops2_contacts_p50 = sizes.get(sizes.len() / 2).copied().unwrap_or(0);
    fig.hops2_process = Percentiles::of(&t2);
    fig.hops3_process = Percentiles::of(&t3);
    Ok(fig)
}
