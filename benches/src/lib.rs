//! Benchmark support shared by the `truyvet-bench` binary, the criterion suites and the tests:
//! data sets and stores cached by their generator parameters, random F0 choice, latency
//! percentiles, the machine/build description printed with every figure, whole processes with
//! their peak memory ([`child`]), and the F1 rule in plain SQL ([`plain_sql`]).

pub mod child;
pub mod plain_sql;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use serde::Serialize;
use truyvet_datasets::GenConfig;

/// The machine and build a figure was measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical cores.
    pub cores: usize,
    /// Total memory in GiB.
    pub memory_gib: f64,
    /// CPU model name.
    pub cpu: String,
    /// Operating system and kernel.
    pub os: String,
    /// `release` or `dev`.
    pub profile: &'static str,
    /// The git commit this binary was built from (`+dirty` with uncommitted changes), if known.
    pub commit: Option<&'static str>,
}

/// Describe this machine and build. The commit is the one the binary was built from (recorded
/// by `build.rs`), not the current directory's.
pub fn machine() -> Machine {
    use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};
    let sys = System::new_with_specifics(
        RefreshKind::nothing().with_cpu(CpuRefreshKind::nothing()).with_memory(MemoryRefreshKind::nothing().with_ram()),
    );
    let os = [System::long_os_version(), System::kernel_version().map(|k| format!("kernel {k}"))];
    Machine {
        cores: sys.cpus().len().max(1),
        memory_gib: sys.total_memory() as f64 / (1u64 << 30) as f64,
        cpu: sys.cpus().first().map(|c| c.brand().trim().to_string()).unwrap_or_default(),
        os: os.into_iter().flatten().collect::<Vec<_>>().join(", "),
        profile: if cfg!(debug_assertions) { "dev" } else { "release" },
        commit: option_env!("TRUYVET_BUILD_COMMIT").filter(|c| !c.is_empty()),
    }
}

/// Current resident memory of this process (Linux `VmRSS`), in bytes.
pub fn current_rss() -> Option<u64> {
    proc_status_kb("VmRSS:").map(|kb| kb * 1024)
}

fn proc_status_kb(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Cache directory of benchmark data (`$TRUYVET_BENCH_DIR`, else `~/.cache/truyvet-bench`).
pub fn cache_root() -> PathBuf {
    std::env::var_os("TRUYVET_BENCH_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        home.join(".cache").join("truyvet-bench")
    })
}

/// The cache key of a generator configuration.
pub fn dataset_key(cfg: &GenConfig) -> String {
    let format = match cfg.format {
        truyvet_datasets::OutputFormat::Csv => "csv",
        truyvet_datasets::OutputFormat::CsvGz => "csvgz",
        truyvet_datasets::OutputFormat::Parquet => "parquet",
    };
    format!(
        "p{}-v{}-d{}-x{}-s{}-{}-{format}",
        cfg.people, cfg.venues, cfg.days, cfg.visits_per_person_per_day, cfg.seed, cfg.start
    )
}

/// A generated data set in the cache, generating it if missing. Returns its directory.
pub fn cached_dataset(
    root: &Path,
    cfg: &GenConfig,
    progress: &(dyn Fn(u64) + Sync),
) -> std::io::Result<(PathBuf, bool)> {
    let dir = root.join("data").join(dataset_key(cfg));
    let done = dir.join(".complete");
    if done.exists() {
        return Ok((dir, true));
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    truyvet_datasets::generate(cfg, &dir, progress)?;
    std::fs::write(&done, b"")?;
    Ok((dir, false))
}

/// The store directory for a data set in the cache (ingested by the caller if missing).
pub fn store_dir(root: &Path, cfg: &GenConfig) -> PathBuf {
    // The store format is part of the key: a store cached by an older build is not silently
    // measured as if this build had written it.
    let format = truyvet::store::manifest::FORMAT_VERSION;
    root.join("stores").join(format!("{}-f{format}", dataset_key(cfg)))
}

/// `n` F0s drawn (seeded) from the persons that have check-ins.
pub fn pick_f0s(snap: &truyvet::Snapshot, n: usize, seed: u64) -> truyvet::Result<Vec<String>> {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
    let parts = snap.parts();
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    (0..n)
        .map(|_| {
            let part = &parts[rng.random_range(0..parts.len())];
            let row = rng.random_range(0..part.info.rows as u32);
            Ok(snap.person_id(part.person_at(row)?)?.to_string())
        })
        .collect()
}

/// Latency percentiles.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct Percentiles {
    /// Median, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Maximum, ms.
    pub max_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
    /// Samples.
    pub n: usize,
}

impl Percentiles {
    /// Nearest-rank percentiles of the samples.
    pub fn of(samples: &[Duration]) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
        Percentiles {
            p50_ms: at(0.5),
            p90_ms: at(0.9),
            p99_ms: at(0.99),
            max_ms: ms[ms.len() - 1],
            mean_ms: ms.iter().sum::<f64>() / ms.len() as f64,
            n: ms.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = Percentiles::of(&samples);
        assert_eq!((p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms), (50.0, 90.0, 99.0, 100.0));
    }
}
