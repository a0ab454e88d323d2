//! The benchmark's figures: one `Report` per run, printed as a table and written as JSON
//! (`benches/results/*.json`, read by `plot_scaling.py`).

use serde::{Deserialize, Serialize};
use truyvet_benches::{Machine, Percentiles};

/// Everything one run measured.
#[derive(Debug, Serialize, Default)]
pub struct Report {
    pub machine: Option<Machine>,
    pub dataset: String,
    pub rows: u64,
    pub persons: u64,
    pub venues: u64,
    pub days: u64,
    pub gen_seconds: Option<f64>,
    pub ingest: Option<IngestFigures>,
    pub store_bytes: u64,
    pub parts: u64,
    pub open_ms: f64,
    pub open_rss_bytes: u64,
    pub trace_latency: Percentiles,
    pub trace_latency_single_thread: Percentiles,
    pub throughput_one_thread_f0s_per_s: f64,
    pub throughput_all_cores_f0s_per_s: f64,
    pub result_contacts_p50: usize,
    pub result_contacts_max: usize,
    pub rows_examined_p50: u64,
    pub process: Percentiles,
    pub process_peak_rss_bytes: u64,
    pub sql: Vec<SqlFigure>,
    pub compare: Option<Compare>,
    pub register: Option<super::register::RegisterFigures>,
    pub load: Option<super::load::LoadFigures>,
    pub rules: Vec<super::rules::RuleFigures>,
}

/// The ingest child process (cached beside the store, so a rerun reports the first ingest).
#[derive(Debug, Serialize, Deserialize, Clone, Default)]
pub struct IngestFigures {
    pub seconds: f64,
    pub rows_per_s: f64,
    pub input_bytes: u64,
    pub peak_rss_bytes: u64,
    /// The ingest's `--flush-rows`, if not the default.
    #[serde(default)]
    pub flush_rows: Option<usize>,
    /// The compaction run after it, if any.
    #[serde(default)]
    pub compaction: Option<CompactFigures>,
}

/// A `truyvet compact` child process.
#[derive(Debug, Serialize, Deserialize, Clone, Default)]
pub struct CompactFigures {
    pub seconds: f64,
    pub parts_before: usize,
    pub parts_after: usize,
    pub peak_rss_bytes: u64,
}

/// One SQL query's median time.
#[derive(Debug, Serialize, Clone)]
pub struct SqlFigure {
    pub name: String,
    pub rows: usize,
    pub median_ms: f64,
}

/// The engine against the same F1 rule in plain SQL.
#[derive(Debug, Serialize, Clone)]
pub struct Compare {
    pub f0s: usize,
    pub sql_median_ms: f64,
    pub engine_median_ms: f64,
    pub ratio: f64,
    pub results_equal: bool,
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1048576.0)
}

fn pct(p: &Percentiles) -> String {
    format!("p50 {:.2} / p90 {:.2} / p99 {:.2} / max {:.2} ms (n={})", p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms, p.n)
}

impl Report {
    /// The summary table on stdout.
    pub fn print_summary(&self) {
        let r = self;
        let mut t = comfy_table::Table::new();
        t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        t.set_header(["measure", "value"]);
        t.add_row(["data set".into(), r.dataset.clone()]);
        t.add_row([
            "rows / persons / venues / days".into(),
            format!("{} / {} / {} / {}", r.rows, r.persons, r.venues, r.days),
        ]);
        if let Some(g) = r.gen_seconds {
            t.add_row(["gen".into(), format!("{g:.1} s ({:.2} M rows/s)", r.rows as f64 / g / 1e6)]);
        }
        if let Some(i) = &r.ingest {
            t.add_row([
                "ingest".into(),
                format!(
                    "{:.1} s, {:.2} M rows/s, input {}, peak RSS {}",
                    i.seconds,
                    i.rows_per_s / 1e6,
                    mib(i.input_bytes),
                    mib(i.peak_rss_bytes)
                ),
            ]);
        }
        if let Some(c) = r.ingest.as_ref().and_then(|i| i.compaction.as_ref()) {
            t.add_row([
                "compact".into(),
                format!(
                    "{:.1} s, parts {} → {}, peak RSS {}",
                    c.seconds,
                    c.parts_before,
                    c.parts_after,
                    mib(c.peak_rss_bytes)
                ),
            ]);
        }
        t.add_row([
            "parts".into(),
            format!(
                "{} ({:.1} per day{})",
                r.parts,
                r.parts as f64 / r.days.max(1) as f64,
                r.ingest
                    .as_ref()
                    .and_then(|i| i.flush_rows)
                    .map(|n| format!(", ingest --flush-rows {n}"))
                    .unwrap_or_default()
            ),
        ]);
        t.add_row([
            "store size".into(),
            format!("{} ({:.1} B/row)", mib(r.store_bytes), r.store_bytes as f64 / r.rows.max(1) as f64),
        ]);
        t.add_row(["open".into(), format!("{:.2} ms, +{} RSS", r.open_ms, mib(r.open_rss_bytes))]);
        t.add_row(["F1 latency (parallel)".into(), pct(&r.trace_latency)]);
        t.add_row(["F1 latency (1 thread)".into(), pct(&r.trace_latency_single_thread)]);
        t.add_row([
            "F1 throughput".into(),
            format!(
                "{:.0} F0/s on 1 thread, {:.0} F0/s on all cores",
                r.throughput_one_thread_f0s_per_s, r.throughput_all_cores_f0s_per_s
            ),
        ]);
        t.add_row([
            "F1 size".into(),
            format!(
                "p50 {} contacts, max {}; p50 {} rows examined",
                r.result_contacts_p50, r.result_contacts_max, r.rows_examined_p50
            ),
        ]);
        t.add_row([
            "`truyvet trace` process".into(),
            format!("{}, peak RSS {}", pct(&r.process), mib(r.process_peak_rss_bytes)),
        ]);
        for q in &r.sql {
            t.add_row([format!("sql {}", q.name), format!("{:.2} ms median ({} rows)", q.median_ms, q.rows)]);
        }
        if let Some(c) = &r.compare {
            t.add_row([
                "F1 vs plain SQL (DataFusion)".into(),
                format!(
                    "SQL {:.1} ms vs engine {:.2} ms median: {:.0}× (n={}, identical F1 lists: {})",
                    c.sql_median_ms, c.engine_median_ms, c.ratio, c.f0s, c.results_equal
                ),
            ]);
        }
        if let Some(g) = &r.register {
            t.add_row(["cases registered".into(), format!("{} (import {:.2} s)", g.cases, g.import_seconds)]);
            t.add_row([
                "call list (all cases, hop 1)".into(),
                format!(
                    "{:.2} s, {:.0} cases/s, {} persons to call, +{} RSS",
                    g.call_list_seconds,
                    g.call_list_cases_per_s,
                    g.call_list_persons,
                    mib(g.call_list_rss_delta_bytes)
                ),
            ]);
            t.add_row(["hotspots".into(), format!("{:.2} s, {} venues", g.hotspots_seconds, g.hotspots)]);
            t.add_row([
                "clusters".into(),
                format!("{:.2} s, {} clusters of 2+, {} links", g.clusters_seconds, g.clusters, g.cluster_links),
            ]);
            t.add_row([
                "status --person".into(),
                format!("index {:.2} s once; then {}", g.status_index_seconds, pct(&g.status)),
            ]);
            t.add_row([
                "`trace --case --hops 2` process".into(),
                format!(
                    "{}, p50 {} contacts, peak RSS {}",
                    pct(&g.hops2_process),
                    g.hops2_contacts_p50,
                    mib(g.hops2_peak_rss_bytes)
                ),
            ]);
            t.add_row([
                "`trace --case --hops 3 --max-per-hop 1000`".into(),
                format!("{}, peak RSS {}", pct(&g.hops3_process), mib(g.hops3_peak_rss_bytes)),
            ]);
        }
        println!("{t}");
    }
}
