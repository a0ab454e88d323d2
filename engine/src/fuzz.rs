//! Entry points for fuzzing (the `truyvet-fuzz` binary in benches/): each takes arbitrary bytes,
//! runs one reader over them the way the engine does, and must return, never panic. Not part of
//! the API; hidden from the docs.

use std::path::Path;

use crate::error::{Error, Result};
use crate::ingest::source::{self, FileKind};
use crate::model::Visit;
use crate::store::bytes::map_bytes;
use crate::store::dict::{DictSegment, Interner};
use crate::store::index::{self, PartIndex};
use crate::time::{self, Tz};

/// The targets.
pub const TARGETS: [&str; 5] = ["csv", "time", "index", "dict", "links"];

/// Run target `name` over `bytes`; returns how many items it accepted (rows, values, keys).
pub fn run(name: &str, bytes: &[u8]) -> usize {
    match name {
        "csv" => csv(bytes),
        "time" => times(bytes),
        "index" => index(bytes),
        "dict" => dict(bytes),
        "links" => links(bytes),
        _ => panic!("unknown fuzz target {name}"),
    }
}

/// Recompute the checksums of a damaged index or dictionary (no-op for other targets), so the
/// structural checks behind the checksums get fuzzed too.
pub fn reseal(name: &str, bytes: &mut [u8]) {
    match name {
        "index" => index::reseal(bytes),
        "dict" => crate::store::dict::reseal(bytes),
        "links" => crate::store::links::reseal(bytes),
        _ => {}
    }
}

/// Valid inputs of a target, to mutate from.
pub fn seeds(name: &str) -> Result<Vec<Vec<u8>>> {
    Ok(match name {
        "csv" => vec![
            b"person_id,venue_id,check_in,check_out\nP1,V1,2021-08-01T08:00:00+07:00,2021-08-01T09:00:00+07:00\n\
              \"P,2\",V1,2021-08-01 08:30:00,\nP3,V2,1627780000,1627783600\nP4,,x,\n"
                .to_vec(),
            b"check_in,venue_id,person_id\n2021-08-01T08:00:00Z,V,P\n".to_vec(),
        ],
        "time" => ["2021-08-01T08:00:00+07:00", "2021-08-01 08:00:00", "1627780000", "+07:00", "1h30m", "90"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect(),
        "index" => {
            let day = 18_840;
            let t = day * time::DAY;
            let rows: Vec<Visit> = (0..300u32)
                .map(|i| Visit {
                    venue: i / 40,
                    check_in: t + 60 * i64::from(i),
                    person: i * 7 % 113,
                    check_out: (i % 3 != 0).then_some(t + 60 * i64::from(i) + 1800),
                })
                .collect();
            let path = scratch("tvx");
            index::write(&path, day, &rows)?;
            let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
            let _ = std::fs::remove_file(&path);
            vec![bytes]
        }
        "dict" => {
            let mut it: Interner = Interner::default();
            for i in 0..500 {
                it.intern(&format!("09{i:08}"));
            }
            let path = scratch("dict");
            let segment = |it: &Interner| -> Result<Vec<u8>> {
                it.write_segment(0, &path)?;
                let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
                let _ = std::fs::remove_file(&path);
                Ok(bytes)
            };
            // Ids of one length make a format-4 segment (no offsets), one more of another
            // length a format-3 one.
            let v4 = segment(&it)?;
            it.intern("Đà Nẵng");
            let bytes = segment(&it)?;
            // Format 2 (4 KiB pages) is still read: a seed of its own.
            let v2 =
                crate::store::dict::as_format_2(&bytes).ok_or_else(|| Error::Internal("a format-2 seed".into()))?;
            vec![bytes, v2, v4]
        }
        "links" => {
            let day = 18_840;
            let t = day * time::DAY;
            let visit = |i: u32, d: i64| Visit {
                venue: i / 40,
                check_in: t + d * time::DAY + 60 * i64::from(i),
                person: i * 7 % 113,
                check_out: (!i.is_multiple_of(3)).then_some(t + d * time::DAY + 60 * i64::from(i) + 1800),
            };
            let mut indexes = Vec::new();
            for (k, (d, rows)) in [(0, 0..300u32), (0, 300..420), (1, 0..200)].into_iter().enumerate() {
                let path = scratch(&format!("{k}.tvx"));
                let rows: Vec<Visit> = rows.map(|i| visit(i, d)).collect();
                index::write(&path, day + d, &rows)?;
                indexes.push(PartIndex::open(&path, rows.len() as u64, day + d)?);
                let _ = std::fs::remove_file(&path);
            }
            let columns = crate::store::links::compute(day, &[&indexes[0], &indexes[1]], &[&indexes[2]])?;
            let path = scratch("tvl");
            crate::store::links::write(&path, day, &columns)?;
            let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
            let _ = std::fs::remove_file(&path);
            vec![bytes]
        }
        _ => panic!("unknown fuzz target {name}"),
    })
}

fn scratch(ext: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("truyvet-fuzz-seed-{}.{ext}", std::process::id()))
}

/// The CSV row parser and validator over one input file's bytes.
fn csv(bytes: &[u8]) -> usize {
    let mut valid = 0;
    let tz = Tz::parse("+07:00").expect("a valid offset");
    let _ = source::read_csv_from(bytes, Path::new("fuzz.csv"), FileKind::Csv, &crate::model::col::INPUT, &mut |row| {
        valid += usize::from(crate::ingest::validate::validate(&row, tz, true).is_ok());
    });
    valid
}

/// Timestamp, time-zone, duration and time-argument parsers over each line.
fn times(bytes: &[u8]) -> usize {
    let mut ok = 0;
    for line in bytes.split(|&b| b == b'\n') {
        ok += usize::from(time::parse_timestamp(line, Tz::UTC).is_ok());
        let text = String::from_utf8_lossy(line);
        ok += usize::from(Tz::parse(&text).is_ok());
        ok += usize::from(time::parse_duration(&text).is_ok());
        ok += usize::from(time::parse_time_arg("fuzz", &text, Tz::UTC).is_ok());
    }
    ok
}

/// Open a trace index from bytes (with the rows and day its header claims) and make every
/// query a trace makes, then a full verify.
fn index(bytes: &[u8]) -> usize {
    let rows = bytes.get(8..12).map_or(0, |b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
    let day_start = bytes.get(16..24).map_or(0, |b| i64::from_le_bytes(b.try_into().expect("8 bytes")));
    let day = day_start.div_euclid(time::DAY);
    let Ok(map) = map_bytes(bytes) else { return 0 };
    let Ok(idx) = PartIndex::from_map(Path::new("fuzz.tvx"), map, u64::from(rows), day) else { return 0 };
    let run = || -> Result<usize> {
        let mut n = 0;
        let persons: Vec<u32> = idx.person_keys()?.into_iter().take(64).collect();
        for p in persons.iter().copied().chain([0, 1, u32::MAX]) {
            for r in idx.person_rows(p)? {
                n += 1;
                let _ = (idx.check_in(r), idx.check_out(r), idx.person(r), idx.venue(r)?);
            }
        }
        let venues: Vec<u32> = idx.venue_keys()?.into_iter().take(64).collect();
        for v in venues.iter().copied().chain([0, u32::MAX]) {
            for r in idx.venue_rows_checked_in(v, day_start - time::DAY, day_start + 2 * time::DAY)? {
                n += 1;
                let _ = (idx.check_in(r), idx.check_out(r), idx.person(r));
            }
        }
        idx.verify()?;
        Ok(n)
    };
    run().unwrap_or(0)
}

/// Open a day's links file from bytes (with the parts, rows and day its header claims), read
/// every entry the joins read, then every page.
fn links(bytes: &[u8]) -> usize {
    let word = |at: usize| bytes.get(at..at + 8).map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    let parts = bytes.get(8..12).map_or(0, |b| u32::from_le_bytes(b.try_into().expect("4 bytes"))).min(64) as usize;
    let day_start = word(16) as i64;
    let day = day_start.div_euclid(time::DAY);
    let rows: Vec<u64> = (0..parts).map(|i| word(48 + 32 * i).min(1 << 20)).collect();
    let Ok(map) = map_bytes(bytes) else { return 0 };
    let Ok(opened) = crate::store::links::from_map(Path::new("fuzz.tvl"), map, day, &rows) else { return 0 };
    let mut n = 0;
    for (links, &rows) in opened.iter().zip(&rows) {
        let rows = rows as u32;
        if links.ensure(0..rows).is_ok() {
            n += (0..rows).filter(|&r| links.next(r).is_some()).count();
        }
        let blocks = 0..(rows as usize).div_ceil(64);
        for max_visit in [43_200, time::DAY] {
            let _ = links.reaching(blocks.clone(), day_start + 3600, max_visit);
        }
        let _ = links.read_all();
    }
    n
}

/// Open a dictionary segment from bytes (with the base and count its header claims), look up
/// every id both ways, then a full verify.
fn dict(bytes: &[u8]) -> usize {
    let word = |at: usize| bytes.get(at..at + 4).map_or(0, |b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
    let (base, count) = (word(8), word(12).min(1 << 20));
    let Ok(map) = map_bytes(bytes) else { return 0 };
    let Ok(seg) = DictSegment::from_map(Path::new("fuzz.dict"), map, base, count) else { return 0 };
    let _ = seg.verify();
    let dict = crate::store::dict::Dict::new(vec![seg]);
    let none = || Error::Internal("beyond".into());
    let mut found = 0;
    for k in base..base.saturating_add(count.min(256)) {
        if let Ok(id) = dict.id(k, &none) {
            found += usize::from(dict.key(id).ok().flatten() == Some(k));
        }
    }
    let _ = dict.key("nobody");
    found
}
