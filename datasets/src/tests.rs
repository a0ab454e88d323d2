//! Generator tests through the public API: determinism across runs and thread counts, exact
//! malformed-row accounting against a naive re-read of the CSV, the realism figures (missing
//! check-outs, midnight crossings, duplicates, Sundays, visit rate), check-in CSV as the `csv`
//! crate reads it, the Parquet schema, the venues file and the fixtures.

use std::collections::HashMap;

use super::*;

fn small(format: OutputFormat) -> GenConfig {
    GenConfig { people: 1_200, venues: 90, days: 3, format, ..GenConfig::default() }
}

fn read_all(files: &[PathBuf]) -> Vec<u8> {
    files.iter().flat_map(|f| std::fs::read(f).unwrap()).collect()
}

/// Split one line of RFC 4180 CSV (quotes and doubled quotes; no embedded line breaks).
fn split_csv(line: &str) -> Vec<String> {
    let (mut fields, mut cur, mut quoted, mut chars) = (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

#[test]
fn same_seed_same_bytes_whatever_the_threads() {
    for format in [OutputFormat::Csv, OutputFormat::CsvGz, OutputFormat::Parquet] {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let cfg = GenConfig { dirty_ratio: 0.01, ..small(format) };
        let sa = generate(&GenConfig { threads: 1, ..cfg.clone() }, a.path(), &|_| {}).unwrap();
        let sb = generate(&GenConfig { threads: 2, ..cfg.clone() }, b.path(), &|_| {}).unwrap();
        assert_eq!((sa.rows, sa.dirty_rows, sa.bytes), (sb.rows, sb.dirty_rows, sb.bytes));
        assert_eq!(read_all(&sa.files), read_all(&sb.files), "{format:?}");
        assert_eq!(std::fs::read(&sa.venues_file).unwrap(), std::fs::read(&sb.venues_file).unwrap());
        let names = |s: &GenSummary| s.files.iter().map(|f| f.file_name().unwrap().to_owned()).collect::<Vec<_>>();
        assert_eq!(names(&sa), names(&sb));
        assert!(names(&sa).windows(2).all(|w| w[0] < w[1]));
        // Another seed, another data set; a rerun in the same directory replaces the files.
        let sc = generate(&GenConfig { seed: 7, ..cfg.clone() }, a.path(), &|_| {}).unwrap();
        assert_ne!(read_all(&sb.files), read_all(&sc.files));
        assert_eq!(std::fs::read_dir(a.path().join("checkins")).unwrap().count(), sc.files.len());
    }
}

#[test]
fn gzip_holds_the_same_csv() {
    use std::io::Read;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plain = generate(&GenConfig { days: 1, ..small(OutputFormat::Csv) }, a.path(), &|_| {}).unwrap();
    let gz = generate(&GenConfig { days: 1, ..small(OutputFormat::CsvGz) }, b.path(), &|_| {}).unwrap();
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&gz.files[0]).unwrap()).read_to_end(&mut text).unwrap();
    assert_eq!(text, std::fs::read(&plain.files[0]).unwrap());
    assert!(gz.files[0].to_str().unwrap().ends_with("checkins/2021-08-01-s000.csv.gz"));
}

#[test]
fn realistic_shape_and_exact_dirty_count() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = GenConfig { dirty_ratio: 0.02, ..small(OutputFormat::Csv) };
    let reported = std::sync::atomic::AtomicU64::new(0);
    let s = generate(&cfg, dir.path(), &|n| {
        reported.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(reported.into_inner(), s.rows);
    let per_person_day = s.rows as f64 / (cfg.people * u64::from(cfg.days)) as f64;
    assert!((2.25..2.75).contains(&per_person_day), "{per_person_day}");
    let category: HashMap<String, String> = std::fs::read_to_string(&s.venues_file)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f = split_csv(l);
            (f[0].clone(), f[2].clone())
        })
        .collect();
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok().map(|d| d.timestamp());
    let (mut total, mut malformed, mut missing, mut local_midnight, mut utc_midnight, mut sunday_office) =
        (0u64, 0u64, 0, 0, 0, 0);
    let mut kinds = [0u32; 5];
    let mut last_scan: HashMap<(String, String), i64> = HashMap::new();
    let mut duplicates = 0;
    for f in &s.files {
        let text = std::fs::read_to_string(f).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("person_id,venue_id,check_in,check_out"));
        let mut previous = i64::MIN;
        for line in lines {
            total += 1;
            let fields: Vec<&str> = line.split(',').collect();
            let check_in = fields.get(2).and_then(|t| parse(t));
            let check_out = fields.get(3).filter(|t| !t.is_empty()).map(|t| parse(t).expect("check_out parses"));
            let kind = if fields.len() != 4 {
                Some(0)
            } else if fields[0].is_empty() {
                Some(1)
            } else if fields[1].is_empty() {
                Some(2)
            } else if check_in.is_none() {
                Some(3)
            } else if matches!((check_in, check_out), (Some(a), Some(b)) if b < a) {
                Some(4)
            } else {
                None
            };
            if let Some(k) = kind {
                kinds[k] += 1;
                malformed += 1;
                continue;
            }
            let check_in = check_in.unwrap();
            assert!(check_in >= previous, "rows are in check-in order");
            previous = check_in;
            assert!(fields[0].len() == 10 && fields[0].starts_with("09") && fields[1].starts_with("QR-"));
            assert!(fields[2].ends_with("+07:00"));
            match check_out {
                None => missing += 1,
                Some(out) => {
                    let local_day = |t: i64| (t + 7 * 3600).div_euclid(86_400);
                    local_midnight += u64::from(local_day(out) != local_day(check_in));
                    utc_midnight += u64::from(out.div_euclid(86_400) != check_in.div_euclid(86_400));
                }
            }
            // 2021-08-01 is a Sunday: no office or school.
            if fields[2].starts_with("2021-08-01") && matches!(category[fields[1]].as_str(), "office" | "school") {
                sunday_office += 1;
            }
            let key = (fields[0].to_string(), fields[1].to_string());
            if let Some(t) = last_scan.insert(key, check_in)
                && check_in - t <= 120
            {
                duplicates += 1;
            }
        }
    }
    assert_eq!(total, s.rows);
    assert_eq!(malformed, s.dirty_rows);
    assert!(kinds.iter().all(|&k| k > 0), "every kind of malformation occurs: {kinds:?}");
    let dirty_share = malformed as f64 / total as f64;
    assert!((0.012..0.03).contains(&dirty_share), "{dirty_share}");
    let clean = total - malformed;
    let missing_share = missing as f64 / clean as f64;
    assert!((0.37..0.47).contains(&missing_share), "missing check-out share {missing_share}");
    let crossing = local_midnight as f64 / clean as f64;
    assert!(local_midnight > 0 && crossing < 0.05, "visits crossing local midnight: {crossing}");
    assert!(utc_midnight > 0, "no visit crosses midnight UTC");
    assert_eq!(sunday_office, 0);
    let dup_share = duplicates as f64 / clean as f64;
    assert!((0.02..0.08).contains(&dup_share), "duplicate share {dup_share}");
}

#[test]
fn checkin_csv_reads_back_with_the_csv_crate_as_plain_comma_splits() {
    let dir = tempfile::tempdir().unwrap();
    let s =
        generate(&GenConfig { dirty_ratio: 0.05, days: 1, ..small(OutputFormat::Csv) }, dir.path(), &|_| {}).unwrap();
    let text = std::fs::read_to_string(&s.files[0]).unwrap();
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len() as u64, s.rows + 1);
    for (record, line) in records.iter().zip(text.lines()) {
        assert_eq!(record.iter().collect::<Vec<_>>(), line.split(',').collect::<Vec<_>>(), "{line}");
    }
    assert!(records.iter().any(|r| r.len() == 3) && records.iter().any(|r| r.len() == 5));
}

#[test]
fn parquet_has_the_documented_schema() {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, TimeUnit, TimestampSecondType};
    let dir = tempfile::tempdir().unwrap();
    let s = generate(&GenConfig { dirty_ratio: 0.03, ..small(OutputFormat::Parquet) }, dir.path(), &|_| {}).unwrap();
    let ts = DataType::Timestamp(TimeUnit::Second, Some("UTC".into()));
    let (mut rows, mut malformed, mut nulls) = (0u64, 0u64, 0usize);
    for f in &s.files {
        assert_eq!(f.extension().unwrap(), "parquet");
        let file = std::fs::File::open(f).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let schema = reader.schema().clone();
        let fields: Vec<(&str, &DataType, bool)> =
            schema.fields().iter().map(|f| (f.name().as_str(), f.data_type(), f.is_nullable())).collect();
        assert_eq!(
            fields,
            [
                ("person_id", &DataType::Utf8, false),
                ("venue_id", &DataType::Utf8, false),
                ("check_in", &ts, false),
                ("check_out", &ts, true)
            ]
        );
        for batch in reader.build().unwrap() {
            let batch = batch.unwrap();
            let (person, venue) = (batch.column(0).as_string::<i32>(), batch.column(1).as_string::<i32>());
            let (check_in, check_out) = (
                batch.column(2).as_primitive::<TimestampSecondType>(),
                batch.column(3).as_primitive::<TimestampSecondType>(),
            );
            assert_eq!(check_in.null_count(), 0);
            nulls += check_out.null_count();
            for i in 0..batch.num_rows() {
                let before = check_out.is_valid(i) && check_out.value(i) < check_in.value(i);
                malformed += u64::from(person.value(i).is_empty() || venue.value(i).is_empty() || before);
                assert!(i == 0 || check_in.value(i - 1) <= check_in.value(i));
            }
            rows += batch.num_rows() as u64;
        }
    }
    assert_eq!(rows, s.rows);
    assert_eq!(malformed, s.dirty_rows);
    assert!(malformed > 0);
    let missing = nulls as f64 / rows as f64;
    assert!((0.37..0.47).contains(&missing), "{missing}");
}

#[test]
fn venues_file_is_quoted_csv() {
    let dir = tempfile::tempdir().unwrap();
    let s = generate(&GenConfig { days: 0, venues: 400, ..small(OutputFormat::Csv) }, dir.path(), &|_| {}).unwrap();
    assert_eq!((s.rows, s.files.len()), (0, 0));
    let text = std::fs::read_to_string(&s.venues_file).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("venue_id,name,category,province,district,lat,lon"));
    let rows: Vec<Vec<String>> = lines.map(split_csv).collect();
    assert_eq!(rows.len(), 400);
    assert!(rows.iter().all(|r| r.len() == 7 && r[5].parse::<f64>().is_ok() && r[6].parse::<f64>().is_ok()));
    assert!(rows.iter().any(|r| r[1].contains(',')), "some names need quoting");
    assert!(rows.iter().any(|r| r[1].starts_with("Chợ ")));
    let ids: std::collections::HashSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids.len(), 400);
}

#[test]
fn fixtures_are_as_documented() {
    let lines =
        |name: &str| std::fs::read_to_string(fixture(name)).unwrap().lines().map(str::to_string).collect::<Vec<_>>();
    let tiny = lines("tiny.csv");
    assert_eq!(tiny[0], "person_id,venue_id,check_in,check_out");
    assert_eq!(tiny.len(), 13);
    let persons: std::collections::HashSet<_> = tiny[1..].iter().map(|l| split_csv(l)[0].clone()).collect();
    let venues: std::collections::HashSet<_> = tiny[1..].iter().map(|l| split_csv(l)[1].clone()).collect();
    assert_eq!((persons.len(), venues.len()), (4, 3));
    assert_eq!(lines("tiny_venues.csv").len(), 4);
    let dirty = lines("dirty.csv");
    assert!(dirty[1..].iter().any(|l| split_csv(l).len() != 4));
    assert!(dirty[1..].iter().any(|l| split_csv(l).len() == 4 && split_csv(l)[1].contains(',')));
}

#[test]
fn visit_rate_follows_the_configuration_and_bad_values_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for visits in [1.0, 4.0] {
        let cfg = GenConfig { visits_per_person_per_day: visits, days: 2, ..small(OutputFormat::Csv) };
        let s = generate(&cfg, dir.path(), &|_| {}).unwrap();
        let ratio = s.rows as f64 / cfg.expected_rows() as f64;
        assert!((0.9..1.1).contains(&ratio), "{visits}: {ratio}");
    }
    for cfg in [
        GenConfig { visits_per_person_per_day: f64::NAN, ..small(OutputFormat::Csv) },
        GenConfig { visits_per_person_per_day: -1.0, ..small(OutputFormat::Csv) },
        GenConfig { dirty_ratio: 1.5, ..small(OutputFormat::Csv) },
    ] {
        let err = generate(&cfg, dir.path(), &|_| {}).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    }
}
