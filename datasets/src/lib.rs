//! # truyvet-datasets — synthetic check-in logs and tiny fixtures
//!
//! A seeded, deterministic, streaming generator of realistic QR check-in logs in the style of
//! Vietnam's 2021 PC-COVID system, for tests, demos and benchmarks of `truyvet`; plus a few
//! hand-written fixture files ([`fixture`]). This crate writes input files only: it knows
//! nothing of the store, so a store bug cannot hide behind its own generator.
//!
//! ```text
//! GenConfig ─▶ venues (seed) ──────────────────────────▶ venues.csv
//!                 │
//!                 ▼
//!   shards (day × block of persons, one RNG each) ─▶ persons (re-derived from the seed)
//!      ║ rayon, any thread count                    ─▶ visits of the day, sorted by check-in
//!      ╚══════════════════════════════════════════════▶ checkins/<day>-s<block>.<csv|csv.gz|parquet>
//! ```
//!
//! The synthetic country has households of 1–6 persons sharing a home province and a favourite
//! market, office, factory and hospital workers (some on night shifts that cross midnight),
//! students, delivery riders and people at home; venues of twelve categories with their own
//! dwell times and daily rhythms, and heavy-tailed popularity. The QR system's habits are
//! reproduced: ~40% of visits lack a check-out, ~3% are scanned twice within two minutes, and
//! on request a share of rows is malformed ([`GenConfig::dirty_ratio`]). Offices close at the
//! weekend, factories and schools on Sunday.
//!
//! # Output
//! - `cases.csv`: a sample cases register (`case_id,person_id,confirmed_at,onset_at,
//!   sampled_at,isolated_at`) for `truyvet cases import`;
//! - `venues.csv`: `venue_id,name,category,province,district,lat,lon`, one row per venue;
//!   ids like `QR-HNI-BD-000123`, Vietnamese names quoted by the CSV rules when needed.
//! - `checkins/<YYYY-MM-DD>-s<NNN>.<csv|csv.gz|parquet>`: one file per day and block of
//!   persons (about a million rows each), lexical order = day order; columns
//!   `person_id,venue_id,check_in,check_out`, rows in check-in order. Person ids look like
//!   phone numbers (`09` + 8 digits, a keyed permutation of the person index).
//!   CSV spells times in RFC 3339 with `+07:00` and leaves a missing `check_out` empty;
//!   Parquet has `Utf8` ids and `Timestamp(Second, "UTC")` times, `check_out` nullable.
//!
//! The bytes written depend only on the configuration, never on [`GenConfig::threads`] (on one
//! platform: dwell times go through the platform's `exp`). Memory is bounded by the venue table
//! plus one shard's rows per thread, whatever the number of rows: nothing is stored per person,
//! every attribute is re-derived from the seed. The byte-level formats are documented in the
//! private modules `venues`, `csv_out`, `parquet_out` and `shard`.
//!
//! ```
//! use truyvet_datasets::{GenConfig, OutputFormat, generate};
//!
//! let dir = tempfile::tempdir()?;
//! let cfg = GenConfig { people: 200, venues: 30, days: 2, format: OutputFormat::Csv, ..GenConfig::default() };
//! let summary = generate(&cfg, dir.path(), &|_rows| {})?;
//! assert_eq!(summary.files.len(), 2); // one file per day at this size
//! assert!(summary.files[0].ends_with("checkins/2021-08-01-s000.csv"));
//! let mut rows = 0;
//! for file in &summary.files {
//!     let text = std::fs::read_to_string(file)?;
//!     assert!(text.starts_with("person_id,venue_id,check_in,check_out\n09"));
//!     rows += text.lines().count() as u64 - 1;
//! }
//! assert_eq!(rows, summary.rows);
//! assert!(std::fs::read_to_string(&summary.venues_file)?.starts_with("venue_id,name,category,"));
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]

mod cases;
mod category;
mod csv_out;
mod day;
mod parquet_out;
mod persons;
mod seed;
mod shard;
mod sink;
mod venues;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

/// File format of the generated check-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Plain CSV.
    Csv,
    /// Gzip-compressed CSV.
    CsvGz,
    /// Parquet (timestamps as `Timestamp(Second, "UTC")`).
    Parquet,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Persons.
    pub people: u64,
    /// Venues (at least one is generated).
    pub venues: u64,
    /// Days, starting at [`GenConfig::start`].
    pub days: u32,
    /// Mean rows per person per day, duplicates and co-visits included (default 2.5).
    pub visits_per_person_per_day: f64,
    /// First day (default 2021-08-01).
    pub start: chrono::NaiveDate,
    /// Seed: the same configuration gives the same bytes (default 42).
    pub seed: u64,
    /// Output format (default Parquet).
    pub format: OutputFormat,
    /// Share of deliberately malformed rows (default 0). In CSV, equally often: empty
    /// `person_id`, empty `venue_id`, unparsable `check_in`, `check_out` before `check_in`,
    /// a field too many or too few. Parquet holds only the first, second and fourth kinds.
    pub dirty_ratio: f64,
    /// Worker threads (0 = rayon's default pool, 1 = the calling thread only). The output
    /// does not depend on it.
    pub threads: usize,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            people: 20_000,
            venues: 800,
            days: 7,
            visits_per_person_per_day: 2.5,
            start: chrono::NaiveDate::from_ymd_opt(2021, 8, 1).expect("valid date"),
            seed: 42,
            format: OutputFormat::Parquet,
            dirty_ratio: 0.0,
            threads: 0,
        }
    }
}

impl GenConfig {
    /// The preset sizes of `truyvet gen --scale` and `truyvet-bench --scale`: 10k, 1m, 10m, 100m
    /// or 1b check-ins over 14 days, at 1.43 check-ins per person per day (so 10m has 0.5 M
    /// persons, as a province's analysts asked) and about 70–120 check-ins per venue per day.
    /// Everything else is [`GenConfig::default`]. `None` for an unknown name.
    pub fn preset(scale: &str) -> Option<GenConfig> {
        let (people, venues) = match scale.to_ascii_lowercase().as_str() {
            "10k" => (500, 60),
            "1m" => (50_000, 1_000),
            "10m" => (500_000, 10_000),
            "100m" => (5_000_000, 80_000),
            "1b" => (50_000_000, 600_000),
            _ => return None,
        };
        Some(GenConfig { people, venues, days: 14, visits_per_person_per_day: 1.43, ..GenConfig::default() })
    }

    /// Approximate number of rows (for progress bars): the generator calibrates its visit
    /// rates to this mean, so it is usually within a few percent.
    pub fn expected_rows(&self) -> u64 {
        (self.people as f64 * f64::from(self.days) * self.visits_per_person_per_day.max(0.0)) as u64
    }
}

/// What was generated.
#[derive(Debug, Clone)]
pub struct GenSummary {
    /// Check-in rows written (malformed ones included).
    pub rows: u64,
    /// Malformed rows among them.
    pub dirty_rows: u64,
    /// Check-in files, in lexical (= day, then shard) order.
    pub files: Vec<PathBuf>,
    /// The venues file.
    pub venues_file: PathBuf,
    /// A sample cases register (`cases.csv`) for `truyvet cases import`.
    pub cases_file: PathBuf,
    /// Bytes written, all files included.
    pub bytes: u64,
}

/// Generate into `out_dir`: `venues.csv` and `checkins/` (created as needed; check-in files
/// of earlier runs in `checkins/` are removed first so the directory holds one data set).
/// `progress` receives the number of rows written since its last call, from worker threads,
/// about every 64 Ki rows.
///
/// Fails with [`std::io::ErrorKind::InvalidInput`] if `visits_per_person_per_day` is not a
/// finite non-negative number or `dirty_ratio` is not within `0..=1`, and with the underlying
/// error if a file cannot be written.
pub fn generate(cfg: &GenConfig, out_dir: &Path, progress: &(dyn Fn(u64) + Sync)) -> std::io::Result<GenSummary> {
    let invalid = |message: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, message);
    let visits = cfg.visits_per_person_per_day;
    if !(visits.is_finite() && visits >= 0.0) {
        return Err(invalid(format!("visits_per_person_per_day is {visits}; it must be a finite number ≥ 0")));
    }
    if !(0.0..=1.0).contains(&cfg.dirty_ratio) {
        return Err(invalid(format!("dirty_ratio is {}; it must be within 0 and 1", cfg.dirty_ratio)));
    }
    let checkins = out_dir.join("checkins");
    std::fs::create_dir_all(&checkins)?;
    for entry in std::fs::read_dir(&checkins)? {
        let entry = entry?;
        if entry.file_name().to_str().is_some_and(shard::is_shard_file) {
            std::fs::remove_file(entry.path())?;
        }
    }
    let venues = venues::Venues::new(cfg.seed, cfg.venues.max(1));
    let venues_file = out_dir.join("venues.csv");
    venues.write_csv(cfg.seed, &venues_file)?;
    let pop = persons::Population::new(cfg.seed, cfg.people, &venues);
    let cases_file = out_dir.join("cases.csv");
    cases::write(cfg, &pop, &cases_file)?;
    let plan = shard::Plan::new(cfg);
    let shards = plan.shards(cfg.days);
    let one = |&s: &(u32, u64)| shard::run(cfg, &plan, &pop, &venues, &checkins, s, progress);
    let outputs: Vec<shard::ShardOutput> = match cfg.threads {
        1 => shards.iter().map(one).collect::<std::io::Result<_>>()?,
        0 => shards.par_iter().map(one).collect::<std::io::Result<_>>()?,
        n => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map_err(std::io::Error::other)?
            .install(|| shards.par_iter().map(one).collect::<std::io::Result<_>>())?,
    };
    Ok(GenSummary {
        rows: outputs.iter().map(|o| o.rows).sum(),
        dirty_rows: outputs.iter().map(|o| o.dirty).sum(),
        bytes: outputs.iter().map(|o| o.bytes).sum::<u64>()
            + std::fs::metadata(&venues_file)?.len()
            + std::fs::metadata(&cases_file)?.len(),
        files: outputs.into_iter().map(|o| o.path).collect(),
        venues_file,
        cases_file,
    })
}

/// Path of a fixture file shipped with this crate: `tiny.csv` (12 clean rows: 4 persons,
/// 3 venues, a missing check-out, visits crossing midnight, a duplicate scan), `dirty.csv`
/// (one row per rejection reason, see `fixtures/README.md`) or `tiny_venues.csv`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

#[cfg(test)]
mod tests;
