//! Check-in shards as CSV or gzip-compressed CSV: the [`CsvSink`] and the fast timestamp
//! spelling it uses. Owns the bytes of a CSV check-in file; knows nothing of shards or of how
//! rows are made.
//!
//! # Format: `checkins/<day>-s<shard>.csv[.gz]`
//! RFC 4180, UTF-8, `\n` line ends, header `person_id,venue_id,check_in,check_out`. Times are
//! RFC 3339 in Vietnam's offset (`2021-08-01T08:15:00+07:00`, no fraction); `check_out` is
//! empty when the QR system recorded none. No field ever needs quoting: ids are digits and
//! `QR-<code>-<code>-<digits>` (the `venues` tests hold the codes to letters and digits), times
//! and the malformed spellings hold no comma, quote or line break. Rows are in check-in order.
//! Malformed rows (see [`Dirty`]) break exactly one rule each. Gzip files carry no name and
//! mtime 0, so their bytes are reproducible.
//!
//! # Performance
//! No allocation or `chrono` call per row: lines are assembled in one buffer from the venue id
//! table, two-digit look-ups and the date prefixes of the shard's days. This is why the `csv`
//! crate, which writes `venues.csv`, does not write these files: through a reused `ByteRecord`
//! its per-byte quoting scan and record copies made the encoding three times slower (≈ 60 →
//! 180 ns a row, about a third more CPU for the whole CSV generation) to quote fields that never
//! need it. A test reads these files back with the `csv` crate instead.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::day::{Dirty, NO_CHECKOUT, Row};
use crate::persons::{DIGIT_PAIRS, push_person_id};
use crate::sink::{ShardContext, Sink};

/// The header line.
const HEADER: &[u8] = b"person_id,venue_id,check_in,check_out\n";
/// Spellings of an unparsable check-in.
const BAD_TIMES: [&[u8]; 3] = [b"2021-13-45T99:00:00+07:00", b"not-a-time", b"2021-08-01T24:61:00+07:00"];
/// Write the line buffer out past this size.
const BUFFER: usize = 1 << 20;

/// Spells local times of the days around one shard's day.
struct TimeText {
    /// `YYYY-MM-DDT` of the day before, the day itself and the two after.
    prefixes: [[u8; 11]; 4],
    date: chrono::NaiveDate,
}

impl TimeText {
    fn new(date: chrono::NaiveDate) -> TimeText {
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
    fn push(&self, out: &mut Vec<u8>, seconds: i64) {
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

/// Writes one shard's rows as CSV, plain or gzip-compressed.
pub(crate) struct CsvSink<'a> {
    out: Output,
    /// Lines not yet written out.
    buf: Vec<u8>,
    ctx: ShardContext<'a>,
    time: TimeText,
}

impl<'a> CsvSink<'a> {
    /// Create `path` (gzip-compressed if `gz`); the header goes out with the first rows.
    pub(crate) fn create(path: &Path, gz: bool, ctx: ShardContext<'a>) -> std::io::Result<CsvSink<'a>> {
        let file = BufWriter::with_capacity(1 << 16, File::create(path)?);
        let out = if gz {
            // Level 1: gzip is already the slowest format; the bytes stay reproducible.
            Output::Gzip(Box::new(flate2::GzBuilder::new().mtime(0).write(file, flate2::Compression::fast())))
        } else {
            Output::Plain(file)
        };
        let mut buf = Vec::with_capacity(BUFFER + 256);
        buf.extend_from_slice(HEADER);
        Ok(CsvSink { out, buf, ctx, time: TimeText::new(ctx.date) })
    }

    /// Append the CSV line of `row`.
    fn push_line(&mut self, row: &Row) {
        let out = &mut self.buf;
        if row.dirty != Some(Dirty::EmptyPerson) {
            push_person_id(out, row.phone);
        }
        out.push(b',');
        if row.dirty != Some(Dirty::EmptyVenue) {
            out.extend_from_slice(self.ctx.venues.ids[row.venue as usize].as_bytes());
        }
        out.push(b',');
        match row.dirty {
            Some(Dirty::BadTime(k)) => out.extend_from_slice(BAD_TIMES[usize::from(k) % BAD_TIMES.len()]),
            _ => self.time.push(out, i64::from(row.check_in)),
        }
        if row.dirty != Some(Dirty::MissingField) {
            out.push(b',');
            if row.stay != NO_CHECKOUT {
                self.time.push(out, i64::from(row.check_in) + i64::from(row.stay));
            }
        }
        if row.dirty == Some(Dirty::ExtraField) {
            out.extend_from_slice(b",0");
        }
        out.push(b'\n');
    }
}

impl Sink for CsvSink<'_> {
    fn write_batch(&mut self, rows: &[Row]) -> std::io::Result<()> {
        for row in rows {
            self.push_line(row);
            if self.buf.len() >= BUFFER {
                self.out.write_all(&self.buf)?;
                self.buf.clear();
            }
        }
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.out.finish()
    }
}

/// Where the lines go: a file, or a gzip stream into one.
enum Output {
    Plain(BufWriter<File>),
    Gzip(Box<flate2::write::GzEncoder<BufWriter<File>>>),
}

impl Output {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Output::Plain(file) => file.write_all(bytes),
            Output::Gzip(gz) => gz.write_all(bytes),
        }
    }

    /// Write the gzip trailer if any, and flush.
    fn finish(self) -> std::io::Result<()> {
        match self {
            Output::Plain(mut file) => file.flush(),
            Output::Gzip(gz) => gz.finish()?.flush(),
        }
    }
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
