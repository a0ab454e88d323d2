//! `truyvet-bench`: one command an analyst runs to see what truyvet does on this machine.
//!
//! Steps: generate (or reuse, keyed by parameters and seed) a synthetic data set; ingest it with
//! the `truyvet` binary in a child process (throughput, peak RSS); open the store (time, RSS);
//! trace N random F0s (latency percentiles, single-thread and all-core throughput, result sizes);
//! time whole `truyvet trace` processes; optionally run SQL queries and the same F1 semantics in
//! plain SQL through DataFusion (`--compare`: identical lists checked, speed ratio reported).
//! Prints a summary table; `--json FILE` for machines.
//!
//! The product binary carries none of this: the benchmark drives it from outside, as a user
//! would, and reads each child's peak memory from the kernel.

mod load;
mod register;
mod report;
mod rules;
mod sql;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use truyvet::{Store, TraceRequest};
use truyvet_benches::{Percentiles, child, machine};
use truyvet_datasets::{GenConfig, OutputFormat};

use self::report::{CompactFigures, IngestFigures, Report};

/// Measure ingest, store size, open time, memory and F1 latency on a synthetic store.
#[derive(Debug, Parser)]
#[command(name = "truyvet-bench", version, about)]
struct Args {
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
    input: InputFormat,
    /// The `truyvet` binary to measure (default: the one beside this binary, built by
    /// `cargo build --release -p truyvet-cli`).
    #[arg(long, value_name = "PATH")]
    truyvet: Option<PathBuf>,
    /// Also run the F1 semantics in plain SQL (queries/f1_in_plain_sql.sql) through DataFusion on
    /// a few F0s, check the lists are identical, and report the speed ratio.
    #[arg(long)]
    compare: bool,
    /// Skip the SQL queries (at 1b, a full-scan `count(DISTINCT ...)` alone takes minutes).
    #[arg(long, conflicts_with = "compare")]
    no_sql: bool,
    /// Ingest with this `--flush-rows` (small values leave each day in many parts, as hourly
    /// ingests do); the store is cached under its own name.
    #[arg(long, value_name = "N")]
    flush_rows: Option<usize>,
    /// After the ingest, run `truyvet compact` (timed) and measure the compacted store; cached
    /// under its own name.
    #[arg(long)]
    compact: bool,
    /// Also register this many cases (seeded) in the store and measure the tracing team's day:
    /// merged call list, hotspots, clusters, person status, and `trace --hops 2|3` processes.
    /// The register stays in the cached store (importing the same cases again adds nothing).
    #[arg(long, value_name = "N")]
    register: Option<usize>,
    /// Also run `truyvet serve` over a copy of the store with 64 clients on loopback (traces,
    /// status, SQL) for SECONDS while ingests commit; per endpoint: requests, errors, p50/p99.
    #[arg(long, value_name = "SECONDS")]
    serve_load: Option<u64>,
    /// With `--serve-load`: each client keeps one connection open across its requests (as a
    /// dashboard's HTTP client or a browser does) instead of opening one per request.
    #[arg(long, requires = "serve_load")]
    keep_alive: bool,
    /// Also trace the F0s under these exposure rules (comma-separated: pc-covid, midnight,
    /// next-checkin, cwa) and report each against `overlap`: latency ratio, list sizes, and who
    /// each lists.
    #[arg(long, value_delimiter = ',', value_name = "RULES")]
    rules: Vec<String>,
    /// Write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Trace for the ranked lists alone, without each contact's exposure intervals
    /// (`TraceRequest::intervals(false)`), as the server's trace endpoint, SQL's `f1_contacts`
    /// and `truyvet trace --format csv|json` ask.
    #[arg(long)]
    list_only: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum InputFormat {
    Csv,
    #[value(name = "csv.gz")]
    CsvGz,
    Parquet,
}

fn main() -> ExitCode {
    // This binary is also the small process each measured command runs under (see `child`).
    child::relay();
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The product binary: `--truyvet`, else `truyvet` beside this executable.
fn truyvet_binary(arg: Option<&Path>) -> Result<PathBuf> {
    let path = match arg {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()?
            .parent()
            .context("locating this binary's directory")?
            .join(format!("truyvet{}", std::env::consts::EXE_SUFFIX)),
    };
    if !path.is_file() {
        bail!("{} not found: build it (cargo build --release -p truyvet-cli) or pass --truyvet PATH", path.display());
    }
    Ok(path)
}

fn config(args: &Args) -> Result<GenConfig> {
    let mut cfg = GenConfig::preset(&args.scale)
        .with_context(|| format!("unknown --scale {:?}: use 10k, 1m, 10m, 100m or 1b", args.scale))?;
    cfg.seed = args.seed;
    cfg.people = args.people.unwrap_or(cfg.people);
    cfg.venues = args.venues.unwrap_or(cfg.venues);
    cfg.days = args.days.unwrap_or(cfg.days);
    cfg.format = match args.input {
        InputFormat::Csv => OutputFormat::Csv,
        InputFormat::CsvGz => OutputFormat::CsvGz,
        InputFormat::Parquet => OutputFormat::Parquet,
    };
    Ok(cfg)
}

fn run(args: Args) -> Result<()> {
    let cfg = config(&args)?;
    let bin = truyvet_binary(args.truyvet.as_deref())?;
    let root = args.dir.clone().unwrap_or_else(truyvet_benches::cache_root);
    let mut report =
        Report { machine: Some(machine()), dataset: truyvet_benches::dataset_key(&cfg), ..Default::default() };
    let m = report.machine.as_ref().expect("set above");
    eprintln!(
        "machine: {} cores, {:.1} GiB, {}, {}; build: {} @ {}; measuring {}",
        m.cores,
        m.memory_gib,
        m.cpu,
        m.os,
        m.profile,
        m.commit.unwrap_or("unknown commit"),
        bin.display()
    );
    if m.profile != "release" {
        eprintln!(
            "warning: a dev build; figures are not representative (cargo build --release -p truyvet-cli -p truyvet-benches)"
        );
    }

    // 1. Data.
    let t = Instant::now();
    eprintln!("data: generating or reusing {} check-ins ...", cfg.expected_rows());
    let (data, cached) = truyvet_benches::cached_dataset(&root, &cfg, &|_| {}).context("generating the data set")?;
    if !cached {
        report.gen_seconds = Some(t.elapsed().as_secs_f64());
    }
    eprintln!("data: {} ({})", data.display(), if cached { "cached" } else { "generated" });

    // 2. Ingest in a child process, unless the store is cached.
    let mut store_dir = truyvet_benches::store_dir(&root, &cfg).into_os_string();
    if let Some(n) = args.flush_rows {
        store_dir.push(format!("-r{n}"));
    }
    if args.compact {
        store_dir.push("-compact");
    }
    let store_dir = PathBuf::from(store_dir);
    let relay = std::env::current_exe().context("locating this binary")?;
    report.ingest = Some(ingest(&relay, &bin, &data, &store_dir, args.flush_rows, args.compact)?);

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
    report.parts = snap.parts().len() as u64;

    // 4. Traces in this process.
    let f0s = truyvet_benches::pick_f0s(&snap, args.f0s, args.seed)?;
    traces(&snap, &f0s, args.list_only, &mut report)?;
    if !args.rules.is_empty() {
        report.rules = rules::rules(&snap, &f0s, &args.rules)?;
    }

    // 5. Whole processes: open, trace, print CSV.
    let mut procs = Vec::new();
    for f0 in f0s.iter().take(args.processes) {
        let mut trace_args: Vec<OsString> =
            ["trace", "--format", "csv", "--output", "/dev/null", "--store"].map(OsString::from).into();
        trace_args.extend([store_dir.clone().into_os_string(), "--f0".into(), f0.into()]);
        let out = child::run(&relay, &bin, &trace_args)?;
        if !out.status.success() {
            bail!("truyvet trace failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        procs.push(out.elapsed);
        report.process_peak_rss_bytes = report.process_peak_rss_bytes.max(out.peak_rss_bytes);
    }
    report.process = Percentiles::of(&procs);

    if !args.no_sql {
        sql::figures(&snap, &f0s, args.compare, &mut report)?;
    }
    if let Some(n) = args.register {
        report.register = Some(register::figures(&relay, &bin, &store_dir, &f0s, n, args.seed, args.processes)?);
    }
    if let Some(seconds) = args.serve_load {
        let load = load::figures(&bin, &store_dir, &f0s, seconds, args.seed, args.keep_alive)?;
        for (name, e) in &load.endpoints {
            eprintln!(
                "load: {name:>6}: {} requests, {} errors, p50 {:.1} ms, p99 {:.1} ms",
                e.requests, e.errors, e.latency.p50_ms, e.latency.p99_ms
            );
        }
        report.load = Some(load);
    }

    report.print_summary();
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Ingest `data` into `store_dir` with the product binary, or reuse a store ingested before
/// (its figures are cached beside it, in a file named after the store in full: store names
/// hold dots, `x1.43`).
fn ingest(
    relay: &Path,
    bin: &Path,
    data: &Path,
    store_dir: &Path,
    flush_rows: Option<usize>,
    compact: bool,
) -> Result<IngestFigures> {
    let mut cache = store_dir.to_path_buf().into_os_string();
    cache.push(".ingest.json");
    let cache = PathBuf::from(cache);
    let cached = || -> Result<IngestFigures> { Ok(serde_json::from_slice(&std::fs::read(&cache)?)?) };
    if store_dir.join("CURRENT").exists()
        && let Ok(figures) = cached()
    {
        eprintln!("store: {} (cached)", store_dir.display());
        return Ok(figures);
    }
    if store_dir.exists() {
        std::fs::remove_dir_all(store_dir)?;
    }
    eprintln!("ingest: {} → {}", data.display(), store_dir.display());
    let mut args: Vec<OsString> = ["ingest", "--format", "json", "--tz", "+07:00"].map(OsString::from).into();
    if let Some(n) = flush_rows {
        args.extend(["--flush-rows".into(), n.to_string().into()]);
    }
    args.extend([
        "--store".into(),
        store_dir.into(),
        "--venues".into(),
        data.join("venues.csv").into(),
        data.join("checkins").into(),
    ]);
    let out = child::run(relay, bin, &args)?;
    if !out.status.success() {
        bail!("ingest failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("reading the ingest report")?;
    let rows = v["rows_read"].as_u64().context("the ingest report has no rows_read")?;
    let seconds = out.elapsed.as_secs_f64();
    let parts = || -> Result<usize> { Ok(Store::open(store_dir)?.snapshot().parts().len()) };
    let parts_after_ingest = parts()?;
    let compaction = if compact {
        eprintln!("compact: {}", store_dir.display());
        let args: Vec<OsString> = ["compact", "--format", "json", "--store"]
            .map(OsString::from)
            .into_iter()
            .chain([store_dir.into()])
            .collect();
        let out = child::run(relay, bin, &args)?;
        if !out.status.success() {
            bail!("compact failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Some(CompactFigures {
            seconds: out.elapsed.as_secs_f64(),
            parts_before: parts_after_ingest,
            parts_after: parts()?,
            peak_rss_bytes: out.peak_rss_bytes,
        })
    } else {
        None
    };
    let figures = IngestFigures {
        seconds,
        rows_per_s: rows as f64 / seconds,
        input_bytes: dir_bytes(&data.join("checkins")),
        peak_rss_bytes: out.peak_rss_bytes,
        flush_rows,
        compaction,
    };
    std::fs::write(&cache, serde_json::to_vec_pretty(&figures)?)?;
    Ok(figures)
}

/// Step 4: each F0 alone (both cores, then one thread), then all as a batch.
fn traces(snap: &truyvet::Snapshot, f0s: &[String], list_only: bool, report: &mut Report) -> Result<()> {
    let reqs: Vec<TraceRequest> = f0s.iter().map(|f| TraceRequest::new(f.as_str()).intervals(!list_only)).collect();
    eprintln!("trace: {} F0s, three ways ...", reqs.len());
    let (mut lat, mut lat1, mut sizes, mut examined) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for req in &reqs {
        let t = Instant::now();
        let r = snap.trace(req)?;
        lat.push(t.elapsed());
        sizes.push(r.contacts.len());
        examined.push(r.rows_examined);
    }
    let t1 = Instant::now();
    for req in &reqs {
        let t = Instant::now();
        snap.trace(&req.clone().parallel(false))?;
        lat1.push(t.elapsed());
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
    Ok(())
}

fn dir_bytes(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}
