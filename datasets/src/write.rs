//! Writing shards (CSV, CSV.gz, Parquet) and the venues file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringBuilder, TimestampSecondBuilder};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::day::{local_midnight, push_local_time, Dirty, Row, ShardSpec};
use crate::world::{self, Venues, CATEGORIES, PROVINCES};
use crate::{GenConfig, OutputFormat};

pub(crate) struct ShardOutput {
    pub path: PathBuf,
    pub rows: u64,
    pub dirty: u64,
    pub bytes: u64,
}

const PROGRESS_EVERY: u64 = 65_536;
const PARQUET_BATCH: usize = 64 * 1024;

/// Generate and write shard (`day`, `block`).
pub(crate) fn shard(cfg: &GenConfig, venues: &Venues, dir: &Path, day: u32, block: u64, block_size: u64, progress: &(dyn Fn(u64) + Sync)) -> std::io::Result<ShardOutput> {
    use chrono::Datelike;
    let date = cfg.start + chrono::Days::new(u64::from(day));
    let ext = match cfg.format {
        OutputFormat::Csv => "csv",
        OutputFormat::CsvGz => "csv.gz",
        OutputFormat::Parquet => "parquet",
    };
    let path = dir.join(format!("{date}-s{block:03}.{ext}"));
    let spec = ShardSpec {
        seed: cfg.seed,
        people: cfg.people,
        venues,
        visits_per_day: cfg.visits_per_person_per_day,
        dirty_ratio: cfg.dirty_ratio,
        day_start: local_midnight(date),
        weekday: date.weekday().num_days_from_monday(),
        csv: cfg.format != OutputFormat::Parquet,
    };
    let mut rng = world::rng(cfg.seed, 3, u64::from(day) << 32 | block);
    let (lo, hi) = (block * block_size, ((block + 1) * block_size).min(cfg.people));
    let (mut rows, mut dirty, mut pending) = (0u64, 0u64, 0u64);
    let mut count = |r: &Row| {
        rows += 1;
        dirty += u64::from(r.dirty.is_some());
        pending += 1;
        if pending == PROGRESS_EVERY {
            progress(pending);
            pending = 0;
        }
    };
    match cfg.format {
        OutputFormat::Parquet => {
            let mut w = ParquetShard::new(&path)?;
            spec.generate(&mut rng, lo, hi, &mut |r| {
                count(&r);
                w.push(cfg.seed, venues, &r);
            });
            w.finish()?;
        }
        OutputFormat::Csv | OutputFormat::CsvGz => {
            let file = BufWriter::with_capacity(1 << 20, File::create(&path)?);
            let mut out: Box<dyn Write> = if cfg.format == OutputFormat::CsvGz {
                // mtime 0 in the gzip header keeps the bytes reproducible.
                Box::new(flate2::GzBuilder::new().mtime(0).write(file, flate2::Compression::fast()))
            } else {
                Box::new(file)
            };
            out.write_all(b"person_id,venue_id,check_in,check_out\n")?;
            let mut line = Vec::with_capacity(128);
            let mut cache = (i64::MIN, [0u8; 10]);
            let mut result = Ok(());
            spec.generate(&mut rng, lo, hi, &mut |r| {
                count(&r);
                line.clear();
                csv_line(&mut line, cfg.seed, venues, &r, &mut cache);
                if result.is_ok() {
                    result = out.write_all(&line);
                }
            });
            result?;
            out.flush()?;
            drop(out);
        }
    }
    progress(pending);
    let bytes = std::fs::metadata(&path)?.len();
    Ok(ShardOutput { path, rows, dirty, bytes })
}

fn csv_line(line: &mut Vec<u8>, seed: u64, venues: &Venues, r: &Row, cache: &mut (i64, [u8; 10])) {
    let mut id = String::with_capacity(12);
    if r.dirty != Some(Dirty::EmptyPerson) {
        world::person_id(seed, r.person, &mut id);
    }
    line.extend_from_slice(id.as_bytes());
    line.push(b',');
    if r.dirty != Some(Dirty::EmptyVenue) {
        line.extend_from_slice(venues.list[r.venue as usize].id.as_bytes());
    }
    line.push(b',');
    if r.dirty == Some(Dirty::BadTime) {
        line.extend_from_slice(if r.person % 2 == 0 { b"2021-13-45T99:00:00+07:00" } else { b"not-a-time" });
    } else {
        push_local_time(line, r.check_in, cache);
    }
    line.push(b',');
    if let Some(out) = r.check_out {
        push_local_time(line, out, cache);
    }
    if r.dirty == Some(Dirty::WrongFields) {
        line.extend_from_slice(b",extra");
    }
    line.push(b'\n');
}

struct ParquetShard {
    writer: ArrowWriter<BufWriter<File>>,
    schema: Arc<Schema>,
    person: StringBuilder,
    venue: StringBuilder,
    check_in: TimestampSecondBuilder,
    check_out: TimestampSecondBuilder,
    len: usize,
    id: String,
    error: Option<std::io::Error>,
}

impl ParquetShard {
    fn new(path: &Path) -> std::io::Result<ParquetShard> {
        let ts = DataType::Timestamp(TimeUnit::Second, Some("UTC".into()));
        let schema = Arc::new(Schema::new(vec![
            Field::new("person_id", DataType::Utf8, false),
            Field::new("venue_id", DataType::Utf8, false),
            Field::new("check_in", ts.clone(), true),
            Field::new("check_out", ts, true),
        ]));
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).set_max_row_group_row_count(Some(1 << 20)).build();
        let writer = ArrowWriter::try_new(BufWriter::with_capacity(1 << 20, File::create(path)?), schema.clone(), Some(props)).map_err(std::io::Error::other)?;
        Ok(ParquetShard {
            writer,
            schema,
            person: StringBuilder::with_capacity(PARQUET_BATCH, PARQUET_BATCH * 10),
            venue: StringBuilder::with_capacity(PARQUET_BATCH, PARQUET_BATCH * 16),
            check_in: TimestampSecondBuilder::with_capacity(PARQUET_BATCH),
            check_out: TimestampSecondBuilder::with_capacity(PARQUET_BATCH),
            len: 0,
            id: String::with_capacity(12),
            error: None,
        })
    }

    fn push(&mut self, seed: u64, venues: &Venues, r: &Row) {
        self.id.clear();
        if r.dirty != Some(Dirty::EmptyPerson) {
            world::person_id(seed, r.person, &mut self.id);
        }
        self.person.append_value(&self.id);
        self.venue.append_value(if r.dirty == Some(Dirty::EmptyVenue) { "" } else { venues.list[r.venue as usize].id.as_str() });
        self.check_in.append_option((r.dirty != Some(Dirty::BadTime)).then_some(r.check_in));
        self.check_out.append_option(r.check_out);
        self.len += 1;
        if self.len == PARQUET_BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.len == 0 || self.error.is_some() {
            return;
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.person.finish()),
            Arc::new(self.venue.finish()),
            Arc::new(self.check_in.finish().with_timezone("UTC")),
            Arc::new(self.check_out.finish().with_timezone("UTC")),
        ];
        self.len = 0;
        let result = RecordBatch::try_new(self.schema.clone(), columns).map_err(std::io::Error::other).and_then(|b| self.writer.write(&b).map_err(std::io::Error::other));
        if let Err(e) = result {
            self.error = Some(e);
        }
    }

    fn finish(mut self) -> std::io::Result<()> {
        self.flush();
        if let Some(e) = self.error {
            return Err(e);
        }
        self.writer.into_inner().map_err(std::io::Error::other)?.flush()
    }
}

/// Write `venues.csv`: `venue_id,name,category,province,district,lat,lon`.
pub(crate) fn venues_csv(path: &Path, venues: &Venues) -> std::io::Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    writeln!(w, "venue_id,name,category,province,district,lat,lon")?;
    for v in &venues.list {
        let (_, province, _, _, districts) = PROVINCES[v.province];
        let district = districts[v.district].1;
        let c = &CATEGORIES[v.category];
        // Names hold no commas or quotes, so no quoting is needed.
        writeln!(w, "{},{} {} {},{},{},{},{:.5},{:.5}", v.id, c.label, district, v.index + 1, c.name, province, district, v.lat, v.lon)?;
    }
    w.flush()
}
