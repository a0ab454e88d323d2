//! Generator tests: determinism across runs and thread counts, malformed-row accounting, the
//! realism figures (missing check-outs, midnight crossings, duplicates) and the Parquet schema.

use super::*;

fn small(format: OutputFormat) -> GenConfig {
    GenConfig { people: 1_200, venues: 90, days: 3, format, ..GenConfig::default() }
}

fn read_all(files: &[PathBuf]) -> Vec<u8> {
    files.iter().flat_map(|f| std::fs::read(f).unwrap()).collect()
}

#[test]
fn same_seed_same_bytes_whatever_the_threads() {
    for format in [OutputFormat::Csv, OutputFormat::CsvGz, OutputFormat::Parquet] {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let sa = generate(&GenConfig { threads: 1, ..small(format) }, a.path(), &|_| {}).unwrap();
        let sb = generate(&GenConfig { threads: 2, ..small(format) }, b.path(), &|_| {}).unwrap();
        assert_eq!(sa.rows, sb.rows);
        assert_eq!(read_all(&sa.files), read_all(&sb.files), "{format:?}");
        assert_eq!(std::fs::read(&sa.venues_file).unwrap(), std::fs::read(&sb.venues_file).unwrap());
        let other = tempfile::tempdir().unwrap();
        let sc = generate(&GenConfig { seed: 7, ..small(format) }, other.path(), &|_| {}).unwrap();
        assert_ne!(read_all(&sa.files), read_all(&sc.files));
    }
}

#[test]
fn realistic_shape_and_exact_dirty_count() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = GenConfig { dirty_ratio: 0.02, ..small(OutputFormat::Csv) };
    let counted = std::sync::atomic::AtomicU64::new(0);
    let s = generate(&cfg, dir.path(), &|n| {
        counted.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(counted.into_inner(), s.rows);
    let per_person_day = s.rows as f64 / (cfg.people * u64::from(cfg.days)) as f64;
    assert!((1.8..3.5).contains(&per_person_day), "{per_person_day}");
    let (mut malformed, mut missing, mut crossing, mut total) = (0u64, 0u64, 0u64, 0u64);
    let mut last: Option<(String, String, i64)> = None;
    let mut duplicates = 0;
    for f in &s.files {
        let text = std::fs::read_to_string(f).unwrap();
        for line in text.lines().skip(1) {
            total += 1;
            let fields: Vec<&str> = line.split(',').collect();
            let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok().map(|d| d.timestamp());
            let ci = parse(fields[2]);
            let co = if fields.len() > 3 && !fields[3].is_empty() { parse(fields[3]) } else { None };
            let bad = fields.len() != 4 || fields[0].is_empty() || fields[1].is_empty() || ci.is_none() || matches!((ci, co), (Some(a), Some(b)) if b < a);
            if bad {
                malformed += 1;
                continue;
            }
            if fields[3].is_empty() {
                missing += 1;
            }
            let (ci, day) = (ci.unwrap(), ci.unwrap().div_euclid(86_400));
            if let Some(co) = co && co.div_euclid(86_400) != day {
                crossing += 1;
            }
            if let Some((p, v, t)) = &last && p == fields[0] && v == fields[1] && (ci - t) <= 120 {
                duplicates += 1;
            }
            last = Some((fields[0].to_string(), fields[1].to_string(), ci));
        }
    }
    assert_eq!(total, s.rows);
    assert_eq!(malformed, s.dirty_rows);
    assert!(s.dirty_rows > 0);
    let missing_share = missing as f64 / (total - malformed) as f64;
    assert!((0.35..0.5).contains(&missing_share), "missing check-out share {missing_share}");
    assert!(crossing > 0, "no visit crosses midnight UTC");
    let dup_share = duplicates as f64 / total as f64;
    assert!((0.01..0.06).contains(&dup_share), "duplicate share {dup_share}");
}

#[test]
fn parquet_has_the_documented_schema() {
    use arrow::datatypes::{DataType, TimeUnit};
    let dir = tempfile::tempdir().unwrap();
    let s = generate(&small(OutputFormat::Parquet), dir.path(), &|_| {}).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&s.files[0]).unwrap()).unwrap();
    let schema = reader.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["person_id", "venue_id", "check_in", "check_out"]);
    assert_eq!(schema.field(2).data_type(), &DataType::Timestamp(TimeUnit::Second, Some("UTC".into())));
    let declared = reader.metadata().file_metadata().num_rows();
    let rows: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
    assert!(rows > 0);
    assert_eq!(rows as i64, declared);
    let venues = std::fs::read_to_string(&s.venues_file).unwrap();
    assert!(venues.starts_with("venue_id,name,category,province,district,lat,lon\n"));
    assert_eq!(venues.lines().count(), 91);
}

#[test]
fn fixtures_exist() {
    for name in ["tiny.csv", "dirty.csv", "tiny_venues.csv"] {
        assert!(fixture(name).exists(), "{name}");
    }
}
