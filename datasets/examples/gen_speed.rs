//! Generator throughput: people = 1 000 000, venues = 20 000, days = 7 (≈ 17.5 M rows) into a
//! temporary directory, then rows per second.
//!
//! ```text
//! cargo run --release -p truyvet-datasets --example gen_speed [parquet|csv|csvgz] [people] [out-dir]
//! ```
//! With `out-dir` the files are kept there instead of a temporary directory; `GEN_DAYS`
//! overrides the number of days.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use truyvet_datasets::{GenConfig, OutputFormat, generate};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let format = match args.first().map(String::as_str) {
        None | Some("parquet") => OutputFormat::Parquet,
        Some("csv") => OutputFormat::Csv,
        Some("csvgz") => OutputFormat::CsvGz,
        Some(other) => return Err(std::io::Error::other(format!("unknown format {other:?}"))),
    };
    let people = args.get(1).map_or(Ok(1_000_000), |p| p.parse()).map_err(std::io::Error::other)?;
    let days = std::env::var("GEN_DAYS").map_or(Ok(7), |d| d.parse()).map_err(std::io::Error::other)?;
    let cfg = GenConfig { people, venues: 20_000, days, format, ..GenConfig::default() };
    let temp = tempfile::tempdir()?;
    let dir = args.get(2).map_or_else(|| temp.path().to_path_buf(), std::path::PathBuf::from);
    let seen = AtomicU64::new(0);
    let started = Instant::now();
    let summary = generate(&cfg, &dir, &|n| {
        seen.fetch_add(n, Ordering::Relaxed);
    })?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{:?}: {} rows ({} expected), {} files, {:.1} MB in {secs:.2} s on {} threads = {:.2} M rows/s",
        cfg.format,
        summary.rows,
        cfg.expected_rows(),
        summary.files.len(),
        summary.bytes as f64 / 1e6,
        rayon::current_num_threads(),
        summary.rows as f64 / secs / 1e6,
    );
    assert_eq!(seen.into_inner(), summary.rows);
    Ok(())
}
