//! Check-in shards as CSV or gzip-compressed CSV, and the fast timestamp spelling they use.
//!
//! # Format: `checkins/<day>-s<shard>.csv[.gz]`
//! RFC 4180, UTF-8, `\n` line ends, header `person_id,venue_id,check_in,check_out`. Times are
//! RFC 3339 in Vietnam's offset (`2021-08-01T08:15:00+07:00`, no fraction); `check_out` is
//! empty when the QR system recorded none. Ids hold no comma or quote, so nothing is quoted.
//! Rows are in check-in order. Malformed rows (see [`Dirty`]) break exactly one rule each.
//! Gzip files carry no name and mtime 0, so their bytes are reproducible.
//!
//! # Performance
//! No allocation or `chrono` call per row: lines are assembled in one buffer from the venue id
//! table, two-digit look-ups and the date prefixes of the shard's days.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::day::{Dirty, NO_CHECKOUT, Row};
use crate::persons::{DIGIT_PAIRS, push_person_id};
use crate::shard::ShardContext;

/// The header line.
pub(crate) const HEADER: &[u8] = b"person_id,venue_id,check_in,check_out\n";
/// Spellings of an unparsable check-in.
const BAD_TIMES: [&[u8]; 3] = [b"2021-13-45T99:00:00+07:00", b"not-a-time", b"2021-08-01T24:61:00+07:00"];
/// Flush the line buffer past this size.
const BUFFER: usize = 1 << 20;

/// Spells local times of the days around one shard's day.
pub(crate) struct TimeText {
    /// `YYYY-MM-DDT` of the day before, the day itself and the two after.
    prefixes: [[u8; 11]; 4],
    date: chrono::NaiveDate,
}

impl TimeText {
    pub(crate) fn new(date: chrono::NaiveDate) -> TimeText {
        let prefix = |offset: i64| {
            let d = date + chrono::TimeDelta::days(offset);
            let mut p = [0u8; 11];
            p.copy_from_slice(format!("{}T", d.format("%Y-%m-%d")).as_bytes());
            p
        };
        TimeText { prefixes: [prefix(-1), prefix(0), prefix(1), prefix(2)], date }
    }

    /// Append the time `seconds` after the day's local midnight, e.g.
    /// `2021-08-01T08:15:00+07:00`.
    #[inline]
    pub(crate) fn push(&self, out: &mut Vec<u8>, seconds: i64) {
        let (day, sod) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400) as usize);
        match usize::try_from(day + 1).ok().and_then(|i| self.prefixes.get(i)) {
            Some(prefix) => out.extend_from_slice(prefix),
            // Unreachable with the generator's stays (< 15 h), kept for completeness.
            None => out.extend_from_slice(
                format!("{}T", (self.date + chrono::TimeDelta::days(day)).format("%Y-%m-%d")).as_bytes(),
            ),
        }
        let d = DIGIT_PAIRS.as_bytes();
        let (h, m, s) = (sod / 3600 * 2, sod / 60 % 60 * 2, sod % 60 * 2);
        out.extend_from_slice(&[d[h], d[h + 1], b':', d[m], d[m + 1], b':', d[s], d[s + 1]]);
        out.extend_from_slice(b"+07:00");
    }
}

/// Append the CSV line of `row`.
pub(crate) fn push_line(out: &mut Vec<u8>, row: &Row, ctx: &ShardContext<'_>, time: &TimeText) {
    if row.dirty != Some(Dirty::EmptyPerson) {
        push_person_id(out, row.phone);
    }
    out.push(b',');
    if row.dirty != Some(Dirty::EmptyVenue) {
        out.extend_from_slice(ctx.venues.ids[row.venue as usize].as_bytes());
    }
    out.push(b',');
    match row.dirty {
        Some(Dirty::BadTime(k)) => out.extend_from_slice(BAD_TIMES[usize::from(k) % BAD_TIMES.len()]),
        _ => time.push(out, i64::from(row.check_in)),
    }
    if row.dirty != Some(Dirty::MissingField) {
        out.push(b',');
        if row.stay != NO_CHECKOUT {
            time.push(out, i64::from(row.check_in) + i64::from(row.stay));
        }
    }
    if row.dirty == Some(Dirty::ExtraField) {
        out.extend_from_slice(b",0");
    }
    out.push(b'\n');
}

/// Write `rows` to `path` as CSV (gzip-compressed if `gz`), reporting progress per batch.
pub(crate) fn write(path: &Path, gz: bool, rows: &[Row], ctx: &ShardContext<'_>) -> std::io::Result<()> {
    let file = BufWriter::with_capacity(1 << 16, File::create(path)?);
    if gz {
        // Level 1: gzip is already the slowest format; the bytes stay reproducible.
        let mut w = flate2::GzBuilder::new().mtime(0).write(file, flate2::Compression::fast());
        write_lines(&mut w, rows, ctx)?;
        w.finish()?.flush()
    } else {
        let mut w = file;
        write_lines(&mut w, rows, ctx)?;
        w.flush()
    }
}

fn write_lines(w: &mut impl Write, rows: &[Row], ctx: &ShardContext<'_>) -> std::io::Result<()> {
    let time = TimeText::new(ctx.date);
    let mut buf = Vec::with_capacity(BUFFER + 256);
    buf.extend_from_slice(HEADER);
    for batch in rows.chunks(crate::shard::BATCH) {
        for row in batch {
            push_line(&mut buf, row, ctx, &time);
            if buf.len() >= BUFFER {
                w.write_all(&buf)?;
                buf.clear();
            }
        }
        (ctx.progress)(batch.len() as u64);
    }
    w.write_all(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_around_midnight() {
        let t = TimeText::new(chrono::NaiveDate::from_ymd_opt(2021, 8, 1).unwrap());
        let spell = |s: i64| {
            let mut out = Vec::new();
            t.push(&mut out, s);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(spell(8 * 3600 + 15 * 60), "2021-08-01T08:15:00+07:00");
        assert_eq!(spell(86_400 + 15 * 60 + 7), "2021-08-02T00:15:07+07:00");
        assert_eq!(spell(-1), "2021-07-31T23:59:59+07:00");
        assert_eq!(spell(4 * 86_400), "2021-08-05T00:00:00+07:00");
        for s in [0, 3_599, 43_210, 86_399, 100_000] {
            let parsed = chrono::DateTime::parse_from_rfc3339(&spell(s)).unwrap();
            assert_eq!(parsed.timestamp(), 1_627_750_800 + s);
        }
    }
}
