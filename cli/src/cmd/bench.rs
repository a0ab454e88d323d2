//! `truyvet bench`: one command an analyst runs to see what truyvet does on this machine.
//!
//! Steps: generate (or reuse, keyed by parameters and seed) a synthetic data set; ingest it in a
//! child process (throughput, peak RSS); open the store (time, RSS); trace N random F0s
//! (latency percentiles, single-thread and all-core throughput, result sizes); time whole
//! `truyvet trace` processes; optionally run SQL queries and the same F1 semantics in plain SQL
//! through DataFusion (`--compare`: identical lists checked, speed ratio reported). Prints a
//! summary table; `--json FILE` for machines.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use truyvet::{Store, TraceRequest};
use truyvet_benches::{Machine, Percentiles, machine};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Preset size: 10k, 1m, 10m, 100m or 1b check-ins (14 days).
    #[arg(long, default_value = "1m")]
    scale: String,
    /// Override the preset's persons.
    #[arg(long)]
    people: Option<u64>,
    /// Override the preset's venues.
    #[arg(long)]
    venues: Option<u64>,
    /// Override the preset's days.
    #[arg(long)]
    days: Option<u32>,
    /// Generator and F0-sampling seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Random F0s to trace.
    #[arg(long, default_value_t = 1000)]
    f0s: usize,
    /// Whole `truyvet trace` processes to time.
    #[arg(long, default_value_t = 20)]
    processes: usize,
    /// Cache directory for data sets and stores (default: $TRUYVET_BENCH_DIR or ~/.cache/truyvet-bench).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Input format of the generated data (ingest is measured from it).
    #[arg(long, value_enum, default_value = "csv")]
    format: super::generate::GenFormat,
    /// Also run the F1 semantics in plain SQL (queries/f1_in_plain_sql.sql) through DataFusion on
    /// a few F0s, check the lists are identical, and report the speed ratio.
    #[arg(long)]
    compare: bool,
    /// Skip the SQL queries (at 1b, a full-scan `count(DISTINCT ...)` alone takes minutes).
    #[arg(long, conflicts_with = "compare")]
    no_sql: bool,
    /// Write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(Debug, Serialize, Default)]
struct Report {
    machine: Option<Machine>,
    dataset: String,
    rows: u64,
    persons: u64,
    venues: u64,
    days: u64,
    gen_seconds: Option<f64>,
    ingest: Option<IngestFigures>,
    store_bytes: u64,
    open_ms: f64,
    open_rss_bytes: u64,
    trace_latency: Percentiles,
    trace_latency_single_thread: Percentiles,
    throughput_one_thread_f0s_per_s: f64,
    throughput_all_cores_f0s_per_s: f64,
    result_contacts_p50: usize,
    result_contacts_max: usize,
    rows_examined_p50: u64,
    process: Percentiles,
    process_peak_rss_bytes: u64,
    sql: Vec<SqlFigure>,
    compare: Option<Compare>,
}

#[derive(Debug, Serialize, Clone, Default)]
struct IngestFigures {
    seconds: f64,
    rows_per_s: f64,
    input_bytes: u64,
    peak_rss_bytes: u64,
}

#[derive(Debug, Serialize, Clone)]
struct SqlFigure {
    name: String,
    rows: usize,
    median_ms: f64,
}

#[derive(Debug, Serialize, Clone)]
struct Compare {
    f0s: usize,
    sql_median_ms: f64,
    engine_median_ms: f64,
    ratio: f64,
    results_equal: bool,
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| if e.path().is_dir() { dir_bytes(&e.path()) } else { e.metadata().map_or(0, |m| m.len()) })
                .sum()
        })
        .unwrap_or(0)
}

fn peak_rss_from(stderr: &[u8]) -> u64 {
    String::from_utf8_lossy(stderr)
        .lines()
        .find_map(|l| l.strip_prefix("peak_rss_bytes=")?.trim().parse().ok())
        .unwrap_or(0)
}

fn self_exe() -> Result<PathBuf> {
    std::env::current_exe().context("locating the truyvet binary")
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mut cfg = super::generate::preset(&args.scale)?;
    cfg.seed = args.seed;
    cfg.people = args.people.unwrap_or(cfg.people);
    cfg.venues = args.venues.unwrap_or(cfg.venues);
    cfg.days = args.days.unwrap_or(cfg.days);
    cfg.format = match args.format {
        super::generate::GenFormat::Csv => truyvet_datasets::OutputFormat::Csv,
        super::generate::GenFormat::CsvGz => truyvet_datasets::OutputFormat::CsvGz,
        super::generate::GenFormat::Parquet => truyvet_datasets::OutputFormat::Parquet,
    };
    let root = args.dir.clone().unwrap_or_else(truyvet_benches::cache_root);
    let mut report =
        Report { machine: Some(machine()), dataset: truyvet_benches::dataset_key(&cfg), ..Default::default() };
    let m = report.machine.as_ref().expect("set above");
    eprintln!(
        "machine: {} cores, {:.1} GiB, {}; build: {}{}",
        m.cores,
        m.memory_gib,
        m.cpu,
        m.profile,
        m.commit.as_deref().map(|c| format!(" @ {c}")).unwrap_or_default()
    );
    if m.profile != "release" {
        eprintln!("warning: a dev build; figures are not representative (cargo build --release -p truyvet-cli)");
    }

    // 1. Data.
    let t = Instant::now();
    let bar = crate::progress::bar(cfg.expected_rows(), "gen", false);
    let b = bar.clone();
    let (data, cached) =
        truyvet_benches::cached_dataset(&root, &cfg, &move |n| b.inc(n)).context("generating the data set")?;
    bar.finish_and_clear();
    if !cached {
        report.gen_seconds = Some(t.elapsed().as_secs_f64());
    }
    eprintln!("data: {} ({})", data.display(), if cached { "cached" } else { "generated" });

    // 2. Ingest in a child process, unless the store is cached.
    let store_dir = truyvet_benches::store_dir(&root, &cfg);
    // Beside the store, named after it in full (its name holds dots: `x1.43`).
    let mut ingest_json = store_dir.clone().into_os_string();
    ingest_json.push(".ingest.json");
    let ingest_json = PathBuf::from(ingest_json);
    if store_dir.join("CURRENT").exists() && ingest_json.exists() {
        report.ingest =
            serde_json::from_slice::<serde_json::Value>(&std::fs::read(&ingest_json)?).ok().map(|v| IngestFigures {
                seconds: v["seconds"].as_f64().unwrap_or(0.0),
                rows_per_s: v["rows_per_s"].as_f64().unwrap_or(0.0),
                input_bytes: v["input_bytes"].as_u64().unwrap_or(0),
                peak_rss_bytes: v["peak_rss_bytes"].as_u64().unwrap_or(0),
            });
        eprintln!("store: {} (cached)", store_dir.display());
    } else {
        if store_dir.exists() {
            std::fs::remove_dir_all(&store_dir)?;
        }
        eprintln!("ingest: {} → {}", data.display(), store_dir.display());
        let t = Instant::now();
        let out = Command::new(self_exe()?)
            .args(["ingest", "--json", "--tz", "+07:00", "--store"])
            .arg(&store_dir)
            .arg("--venues")
            .arg(data.join("venues.csv"))
            .arg(data.join("checkins"))
            .env("TRUYVET_PEAK_RSS", "1")
            .output()?;
        let seconds = t.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!("ingest failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let rows = v["rows_read"].as_u64().unwrap_or(0);
        let figures = IngestFigures {
            seconds,
            rows_per_s: rows as f64 / seconds,
            input_bytes: dir_bytes(&data.join("checkins")),
            peak_rss_bytes: peak_rss_from(&out.stderr),
        };
        std::fs::write(
            &ingest_json,
            serde_json::to_vec_pretty(&serde_json::json!({
                "seconds": figures.seconds, "rows_per_s": figures.rows_per_s, "input_bytes": figures.input_bytes, "peak_rss_bytes": figures.peak_rss_bytes
            }))?,
        )?;
        report.ingest = Some(figures);
    }

    // 3. Open.
    let rss0 = truyvet_benches::current_rss().unwrap_or(0);
    let mut opens = Vec::new();
    let mut store = None;
    for _ in 0..5 {
        let t = Instant::now();
        store = Some(Store::open(&store_dir)?);
        opens.push(t.elapsed());
    }
    let store = store.expect("opened above");
    report.open_ms = Percentiles::of(&opens).p50_ms;
    report.open_rss_bytes = truyvet_benches::current_rss().unwrap_or(0).saturating_sub(rss0);
    let snap = store.snapshot();
    let stats = snap.stats()?;
    (report.rows, report.persons, report.venues, report.days, report.store_bytes) =
        (stats.rows, stats.persons, stats.venues, stats.days, stats.bytes);

    // 4. Traces.
    let f0s = truyvet_benches::pick_f0s(&snap, args.f0s, args.seed);
    let reqs: Vec<TraceRequest> = f0s.iter().map(|f| TraceRequest::new(f.as_str())).collect();
    let bar = crate::progress::bar(reqs.len() as u64 * 2, "trace", false);
    let (mut lat, mut lat1, mut sizes, mut examined) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for req in &reqs {
        let t = Instant::now();
        let r = snap.trace(req)?;
        lat.push(t.elapsed());
        sizes.push(r.contacts.len());
        examined.push(r.rows_examined);
        bar.inc(1);
    }
    let t1 = Instant::now();
    for req in &reqs {
        let t = Instant::now();
        snap.trace(&req.clone().parallel(false))?;
        lat1.push(t.elapsed());
        bar.inc(1);
    }
    let one_thread = t1.elapsed();
    // All cores as a batch job runs: results streamed out (here: counted) as they come.
    let failed = std::sync::Mutex::new(None);
    let t_all = Instant::now();
    snap.trace_each(&reqs, |_, r| {
        if let Err(e) = r {
            failed.lock().expect("not poisoned").get_or_insert(e);
        }
    });
    let all_cores = t_all.elapsed();
    bar.finish_and_clear();
    if let Some(e) = failed.into_inner().expect("not poisoned") {
        return Err(e.into());
    }
    report.trace_latency = Percentiles::of(&lat);
    report.trace_latency_single_thread = Percentiles::of(&lat1);
    report.throughput_one_thread_f0s_per_s = reqs.len() as f64 / one_thread.as_secs_f64();
    report.throughput_all_cores_f0s_per_s = reqs.len() as f64 / all_cores.as_secs_f64();
    sizes.sort_unstable();
    examined.sort_unstable();
    report.result_contacts_p50 = sizes.get(sizes.len() / 2).copied().unwrap_or(0);
    report.result_contacts_max = sizes.last().copied().unwrap_or(0);
    report.rows_examined_p50 = examined.get(examined.len() / 2).copied().unwrap_or(0);

    // 5. Whole processes: open, trace, print CSV.
    let mut procs = Vec::new();
    for f0 in f0s.iter().take(args.processes) {
        let t = Instant::now();
        let out = Command::new(self_exe()?)
            .args(["trace", "--format", "csv", "--output", "/dev/null", "--store"])
            .arg(&store_dir)
            .args(["--f0", f0])
            .env("TRUYVET_PEAK_RSS", "1")
            .output()?;
        procs.push(t.elapsed());
        if !out.status.success() {
            bail!("truyvet trace failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        report.process_peak_rss_bytes = report.process_peak_rss_bytes.max(peak_rss_from(&out.stderr));
    }
    report.process = Percentiles::of(&procs);

    #[cfg(feature = "sql")]
    if !args.no_sql {
        sql_figures(&snap, &f0s, args.compare, &mut report)?;
    }
    #[cfg(not(feature = "sql"))]
    if args.compare {
        bail!("--compare needs the sql feature");
    }

    print_summary(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn median_of(f: impl FnMut() -> Result<usize>, runs: usize) -> Result<(usize, f64)> {
    let mut f = f;
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..runs {
        let t = Instant::now();
        rows = f()?;
        times.push(t.elapsed());
    }
    Ok((rows, Percentiles::of(&times).p50_ms))
}

#[cfg(feature = "sql")]
fn sql_figures(snap: &truyvet::Snapshot, f0s: &[String], compare: bool, report: &mut Report) -> Result<()> {
    let session = truyvet::sql::Session::new(snap)?;
    let venue = {
        let part = snap.parts().iter().max_by_key(|p| p.info.rows).context("empty store")?;
        (snap.venue_id(part.index.venue(0)).to_string(), truyvet::time::day_name(part.info.day))
    };
    let queries = [
        ("count", "SELECT count(*) FROM checkins".to_string()),
        (
            "per_day",
            "SELECT day, count(*) AS n, count(DISTINCT person_id) AS persons FROM checkins GROUP BY day ORDER BY day"
                .to_string(),
        ),
        (
            "top_venues",
            "SELECT venue_id, count(*) AS n FROM checkins GROUP BY venue_id ORDER BY n DESC LIMIT 10".to_string(),
        ),
        ("missing_checkout", "SELECT avg(CASE WHEN check_out IS NULL THEN 1.0 ELSE 0.0 END) FROM checkins".to_string()),
        (
            "point_venue_day",
            format!("SELECT count(*) FROM checkins WHERE venue_id = '{}' AND day = DATE '{}'", venue.0, venue.1),
        ),
        ("f1_contacts", format!("SELECT count(*) FROM f1_contacts('{}')", f0s.first().cloned().unwrap_or_default())),
    ];
    for (name, sql) in queries {
        let (rows, ms) = median_of(|| Ok(session.query(&sql)?.1.iter().map(|b| b.num_rows()).sum()), 5)?;
        report.sql.push(SqlFigure { name: name.to_string(), rows, median_ms: ms });
    }
    if compare {
        let n = f0s.len().min(5);
        let (mut sql_t, mut eng_t, mut equal) = (Vec::new(), Vec::new(), true);
        for f0 in &f0s[..n] {
            // No window: all of the data set (`query_f1` binds open ends).
            let req = TraceRequest::new(f0.as_str());
            let t = Instant::now();
            let got = session.query_f1(PLAIN_SQL_F1, &req)?;
            sql_t.push(t.elapsed());
            let t = Instant::now();
            let r = snap.trace(&req)?;
            eng_t.push(t.elapsed());
            equal &= got == r.to_record_batch();
        }
        let (s, e) = (Percentiles::of(&sql_t).p50_ms, Percentiles::of(&eng_t).p50_ms);
        report.compare = Some(Compare {
            f0s: n,
            sql_median_ms: s,
            engine_median_ms: e,
            ratio: s / e.max(1e-6),
            results_equal: equal,
        });
    }
    Ok(())
}

/// `queries/f1_in_plain_sql.sql`: the F1 semantics as an analyst would write them in SQL (joins,
/// gaps-and-islands unions, window-function ranking), tested equal to the engine.
#[cfg(feature = "sql")]
const PLAIN_SQL_F1: &str = include_str!("../../../queries/f1_in_plain_sql.sql");

fn print_summary(r: &Report) {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(["measure", "value"]);
    let mib = |b: u64| format!("{:.1} MiB", b as f64 / 1048576.0);
    let pct = |p: &Percentiles| {
        format!("p50 {:.2} / p90 {:.2} / p99 {:.2} / max {:.2} ms (n={})", p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms, p.n)
    };
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
    println!("{t}");
}
