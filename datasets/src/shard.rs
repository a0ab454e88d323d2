//! Shards, the unit of work and of output: the plan (which days and blocks of persons), the
//! file names, and the run of one shard from its random stream to its finished file. Picks the
//! format's [`Sink`] and pours the rows into it; the bytes of each format are the format
//! modules' business.
//!
//! A shard is (day, block of persons). Its rows come from its own generator, seeded from
//! (seed, day, block) and nothing else, and go to its own file, so shards can run in any order
//! on any number of threads and the bytes never change.
//!
//! # Format: file names
//! `checkins/<YYYY-MM-DD>-s<block>.<csv|csv.gz|parquet>`, the block number zero-padded to at
//! least three digits (the same width for every file of a run), so lexical order is day order
//! then block order. A file is written as `<name>.partial` and renamed when complete.
//!
//! # Performance
//! Blocks are sized for about [`TARGET_ROWS`] rows, so a shard holds two `Row` buffers of
//! ~24 MB at most and each Parquet file one or two row groups.

use std::path::{Path, PathBuf};

use chrono::Datelike;

use crate::csv_out::CsvSink;
use crate::day::{self, DayPlan, Row};
use crate::parquet_out::ParquetSink;
use crate::persons::Population;
use crate::seed::{self, stream};
use crate::sink::{BATCH, ShardContext, Sink};
use crate::venues::Venues;
use crate::{GenConfig, OutputFormat};

/// Rows aimed at per shard.
const TARGET_ROWS: f64 = 1_000_000.0;

/// How the persons are cut into blocks; a function of the configuration only.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub blocks: u64,
    pub block_size: u64,
    width: usize,
}

impl Plan {
    pub(crate) fn new(cfg: &GenConfig) -> Plan {
        let rows_per_day = cfg.people as f64 * cfg.visits_per_person_per_day.max(0.0);
        let blocks = ((rows_per_day / TARGET_ROWS).ceil() as u64).clamp(1, cfg.people.max(1));
        let block_size = cfg.people.div_ceil(blocks).max(1);
        Plan { blocks, block_size, width: blocks.to_string().len().max(3) }
    }

    /// The shards in output order: day-major, then block.
    pub(crate) fn shards(&self, days: u32) -> Vec<(u32, u64)> {
        (0..days).flat_map(|d| (0..self.blocks).map(move |b| (d, b))).collect()
    }

    fn file_name(&self, date: chrono::NaiveDate, block: u64, format: OutputFormat) -> String {
        format!("{date}-s{block:0width$}.{}", extension(format), width = self.width)
    }
}

fn extension(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Csv => "csv",
        OutputFormat::CsvGz => "csv.gz",
        OutputFormat::Parquet => "parquet",
    }
}

/// Whether `name` is a check-in file name this generator writes (of any format or run).
pub(crate) fn is_shard_file(name: &str) -> bool {
    let b = name.as_bytes();
    let date_like = b.len() > 12
        && b[..10].iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
        && &b[10..12] == b"-s";
    let ext = [".csv", ".csv.gz", ".parquet", ".partial"].iter().any(|e| name.ends_with(e));
    date_like && ext
}

/// What one shard produced.
pub(crate) struct ShardOutput {
    pub path: PathBuf,
    pub rows: u64,
    pub dirty: u64,
    pub bytes: u64,
}

/// Generate and write shard (`day`, `block`) into `dir`.
pub(crate) fn run(
    cfg: &GenConfig,
    plan: &Plan,
    pop: &Population<'_>,
    venues: &Venues,
    dir: &Path,
    (day, block): (u32, u64),
    progress: &(dyn Fn(u64) + Sync),
) -> std::io::Result<ShardOutput> {
    let date = cfg.start + chrono::Days::new(u64::from(day));
    let csv = cfg.format != OutputFormat::Parquet;
    let weekday = date.weekday().num_days_from_monday();
    let day_plan = DayPlan::new(pop, venues, weekday, cfg.visits_per_person_per_day, cfg.dirty_ratio, csv);
    let mut rng = seed::rng(cfg.seed, stream::SHARD, u64::from(day) << 40 | block);
    let lo = (block * plan.block_size).min(cfg.people);
    let hi = ((block + 1) * plan.block_size).min(cfg.people);
    let capacity = ((hi - lo) as f64 * cfg.visits_per_person_per_day * 1.1) as usize;
    let (mut rows, mut scratch) = (Vec::with_capacity(capacity), Vec::new());
    day_plan.visits(&mut rng, lo, hi, &mut rows);
    day::sort_by_check_in(&mut rows, &mut scratch);
    drop(scratch);

    let ctx = ShardContext { venues, date, day_start: local_midnight(date) };
    let name = plan.file_name(date, block, cfg.format);
    let (path, partial) = (dir.join(&name), dir.join(format!("{name}.partial")));
    match cfg.format {
        OutputFormat::Csv => pour(CsvSink::create(&partial, false, ctx)?, &rows, progress)?,
        OutputFormat::CsvGz => pour(CsvSink::create(&partial, true, ctx)?, &rows, progress)?,
        OutputFormat::Parquet => pour(ParquetSink::create(&partial, ctx)?, &rows, progress)?,
    }
    std::fs::rename(&partial, &path)?;
    Ok(ShardOutput {
        rows: rows.len() as u64,
        dirty: rows.iter().filter(|r| r.dirty.is_some()).count() as u64,
        bytes: std::fs::metadata(&path)?.len(),
        path,
    })
}

/// Hand `rows` to `sink` in batches of [`BATCH`], reporting progress after each, and finish it.
fn pour(mut sink: impl Sink, rows: &[Row], progress: &(dyn Fn(u64) + Sync)) -> std::io::Result<()> {
    for batch in rows.chunks(BATCH) {
        sink.write_batch(batch)?;
        progress(batch.len() as u64);
    }
    sink.finish()
}

/// Unix seconds of local midnight (+07:00) of `date`.
pub(crate) fn local_midnight(date: chrono::NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp() - 7 * 3600
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_day_then_block() {
        let cfg = GenConfig { people: 5_000_000, ..GenConfig::default() };
        let plan = Plan::new(&cfg);
        assert!(plan.blocks >= 12 && plan.blocks * plan.block_size >= cfg.people);
        let d = chrono::NaiveDate::from_ymd_opt(2021, 8, 9).unwrap();
        let names: Vec<String> = [(d, 2), (d, 10), (d + chrono::Days::new(1), 0)]
            .iter()
            .map(|&(d, b)| plan.file_name(d, b, OutputFormat::CsvGz))
            .collect();
        assert_eq!(names[0], "2021-08-09-s002.csv.gz");
        assert!(names.windows(2).all(|w| w[0] < w[1]));
        assert!(names.iter().all(|n| is_shard_file(n)));
        assert!(!is_shard_file("venues.csv") && !is_shard_file("notes-2021.csv"));
        assert_eq!(local_midnight(d), 1_628_442_000);
    }
}
