//! Row validation: decides, for one raw input row, "store it" or "quarantine it, because ...".
//!
//! A row is rejected when it has the wrong number of fields, an empty (or non-UTF-8) id, an
//! unparsable, impossible or implausible timestamp, or a check-out before its check-in. Ids are
//! trimmed of surrounding ASCII whitespace; otherwise they are opaque. A reason quotes the
//! offending time field, or a number computed from it, unless told not to (a pseudonymised
//! ingest: an id misplaced in a time column must not reach the quarantine in a reason).

use super::scans::Direction;
use super::source::{RawRow, TimeField};
use crate::time::{Tz, parse_timestamp};

/// Earliest plausible check-in: 1970-01-01 (earlier values are unit or format mistakes).
const MIN_TIME: i64 = 0;
/// Latest plausible check-in: 2100-01-01.
const MAX_TIME: i64 = 4_102_444_800;

/// A row that passed validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ValidRow<'a> {
    pub person: &'a str,
    pub venue: &'a str,
    pub check_in: i64,
    pub check_out: Option<i64>,
}

fn id<'a>(field: Option<&'a [u8]>, name: &str) -> Result<&'a str, String> {
    let raw = field.unwrap_or(b"");
    let start = raw.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(raw.len());
    let end = raw.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |e| e + 1);
    let v = &raw[start..end];
    if v.is_empty() {
        return Err(format!("empty {name}"));
    }
    std::str::from_utf8(v).map_err(|_| format!("{name} is not valid UTF-8"))
}

fn time(field: TimeField<'_>, name: &str, tz: Tz, quote: bool) -> Result<Option<i64>, String> {
    let t = match field {
        TimeField::Seconds(s) => s,
        TimeField::Text(text) if text.iter().all(u8::is_ascii_whitespace) => None,
        TimeField::Text(text) => Some(parse_timestamp(text, tz).map_err(|why| match quote {
            true => format!("{why} in {name} {:?}", String::from_utf8_lossy(&text[..text.len().min(40)])),
            false => format!("{why} in {name}"),
        })?),
    };
    match t {
        Some(t) if !(MIN_TIME..MAX_TIME).contains(&t) => Err(match quote {
            true => format!("implausible {name} (outside 1970..2099): {t}"),
            false => format!("implausible {name} (outside 1970..2099)"),
        }),
        t => Ok(t),
    }
}

/// Validate one row (`quote`: reasons may quote the offending time field or numbers from it).
pub(crate) fn validate<'a>(row: &RawRow<'a>, tz: Tz, quote: bool) -> Result<ValidRow<'a>, String> {
    if let Some((want, got)) = row.field_count {
        return Err(format!("wrong number of fields: expected {want}, found {got}"));
    }
    let person = id(row.person, "person_id")?;
    let venue = id(row.venue, "venue_id")?;
    let check_in = time(row.check_in, "check_in", tz, quote)?.ok_or("empty check_in")?;
    let check_out = time(row.check_out, "check_out", tz, quote)?;
    if let Some(out) = check_out
        && out < check_in
    {
        return Err(match quote {
            true => format!("check_out before check_in ({}s earlier)", check_in - out),
            false => "check_out before check_in".to_string(),
        });
    }
    Ok(ValidRow { person, venue, check_in, check_out })
}

/// A raw scan (`ingest --scans`) that passed validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ValidScan<'a> {
    pub person: &'a str,
    pub venue: &'a str,
    pub at: i64,
    pub direction: Direction,
}

/// Validate one scan row: its `scanned_at` arrives in the check-in slot, its `direction` in
/// the check-out slot.
pub(crate) fn validate_scan<'a>(row: &RawRow<'a>, tz: Tz, quote: bool) -> Result<ValidScan<'a>, String> {
    if let Some((want, got)) = row.field_count {
        return Err(format!("wrong number of fields: expected {want}, found {got}"));
    }
    let person = id(row.person, "person_id")?;
    let venue = id(row.venue, "venue_id")?;
    let at = time(row.check_in, "scanned_at", tz, quote)?.ok_or("empty scanned_at")?;
    let direction = match row.check_out {
        TimeField::Seconds(None) => Direction::Any,
        TimeField::Text(t) => Direction::parse(t).ok_or_else(|| match quote {
            true => format!("direction {:?} is not in, out or empty", String::from_utf8_lossy(&t[..t.len().min(20)])),
            false => "direction is not in, out or empty".to_string(),
        })?,
        TimeField::Seconds(Some(_)) => return Err("direction is a number, not in, out or empty".to_string()),
    };
    Ok(ValidScan { person, venue, at, direction })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(p: &'a str, v: &'a str, ci: &'a str, co: &'a str) -> RawRow<'a> {
        RawRow {
            line: 2,
            byte: 0,
            person: Some(p.as_bytes()),
            venue: Some(v.as_bytes()),
            check_in: TimeField::Text(ci.as_bytes()),
            check_out: TimeField::Text(co.as_bytes()),
            field_count: None,
        }
    }

    #[test]
    fn each_reason() {
        let tz = Tz::UTC;
        let ok = validate(&row(" P1 ", "V1", "2021-08-01T08:00:00Z", ""), tz, true).unwrap();
        assert_eq!((ok.person, ok.check_out), ("P1", None));
        let cases = [
            (row("", "V1", "2021-08-01T08:00:00Z", ""), "empty person_id"),
            (row("P1", "  ", "2021-08-01T08:00:00Z", ""), "empty venue_id"),
            (row("P1", "V1", "", ""), "empty check_in"),
            (row("P1", "V1", "yesterday", ""), "unparsable timestamp in check_in"),
            (row("P1", "V1", "2021-02-30T08:00:00Z", ""), "impossible date in check_in"),
            (row("P1", "V1", "1627780500000", ""), "unparsable timestamp in check_in"),
            (row("P1", "V1", "1960-01-01T00:00:00Z", ""), "implausible check_in"),
            (row("P1", "V1", "2021-08-01T08:00:00Z", "2021-08-01T07:00:00Z"), "check_out before check_in"),
        ];
        for (r, want) in cases {
            let got = validate(&r, tz, true).unwrap_err();
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
        let mut wrong = row("P1", "V1", "2021-08-01T08:00:00Z", "");
        wrong.field_count = Some((4, 5));
        assert_eq!(validate(&wrong, tz, true).unwrap_err(), "wrong number of fields: expected 4, found 5");
        // Ids misplaced in time columns: quoted only when allowed.
        let misplaced = row("P1", "V1", "P000042", "");
        assert!(validate(&misplaced, tz, true).unwrap_err().contains("P000042"));
        assert_eq!(validate(&misplaced, tz, false).unwrap_err(), "unparsable timestamp in check_in");
        let numeric = [
            (("849123456789", ""), "implausible check_in (outside 1970..2099)"),
            (("2021-08-01T08:00:00Z", "84912345678"), "implausible check_out (outside 1970..2099)"),
            (("2021-08-01T08:00:00Z", "912345678"), "check_out before check_in"),
        ];
        for ((ci, co), hidden) in numeric {
            let r = row("P1", "V1", ci, co);
            assert_ne!(validate(&r, tz, true).unwrap_err(), hidden, "quoted when allowed");
            assert_eq!(validate(&r, tz, false).unwrap_err(), hidden);
        }
    }
}
