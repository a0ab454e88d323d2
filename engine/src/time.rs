//! Timestamps, time zones, durations (and byte sizes): the one place where text becomes seconds
//! (or bytes).
//!
//! Every stage (ingest, trace arguments, SQL parameters, CLI) parses through here, so the accepted
//! formats are the same everywhere:
//! - RFC 3339 with an offset: `2021-08-01T08:15:00+07:00`, `2021-08-01T01:15:00Z`;
//! - naive `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DDTHH:MM:SS`, read in a fixed offset ([`Tz`]);
//! - integer Unix seconds (`1627780500`).
//!
//! Fractions of a second are accepted and truncated. Internally a time is `i64` seconds since the
//! Unix epoch, UTC.
//!
//! The timestamp parser is hand-rolled over bytes because it runs twice per ingested row; the
//! alternative, chrono's `DateTime::parse_from_rfc3339` plus a naive-time fallback, is timed
//! beside it by `cargo bench -p truyvet-benches -- parse` so the choice can be checked. Its oracle is chrono itself (`roundtrip_against_chrono` below); calendar
//! validity is checked with chrono. Offsets (`--tz`) and durations, parsed once per command, use
//! chrono's `FixedOffset` parser and humantime.

use chrono::{DateTime, Datelike, NaiveDate};

use crate::error::{Error, Result};

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// A fixed UTC offset used to read naive timestamps (`--tz +07:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tz {
    offset_seconds: i32,
}

impl Tz {
    /// UTC.
    pub const UTC: Tz = Tz { offset_seconds: 0 };

    /// An offset east of UTC in seconds (Vietnam is `7 * 3600`).
    pub fn from_offset_seconds(offset_seconds: i32) -> Result<Tz> {
        if offset_seconds.abs() >= 24 * 3600 {
            return Err(Error::InvalidArgument {
                what: "time zone offset",
                value: offset_seconds.to_string(),
                hint: "must be within ±23:59".into(),
            });
        }
        Ok(Tz { offset_seconds })
    }

    /// Parse `+07:00`, `-0330`, `Z` or `UTC` (offsets by chrono's `FixedOffset` parser).
    ///
    /// ```
    /// use truyvet::Tz;
    /// assert_eq!(Tz::parse("+07:00")?.offset_seconds(), 7 * 3600);
    /// assert!(Tz::parse("+€a").is_err());
    /// # Ok::<(), truyvet::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<Tz> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" {
            return Ok(Tz::UTC);
        }
        let offset: chrono::FixedOffset = t.parse().map_err(|_| Error::InvalidArgument {
            what: "time zone",
            value: text.to_string(),
            hint: "use a fixed offset such as +07:00, -03:30 or UTC".into(),
        })?;
        Tz::from_offset_seconds(offset.local_minus_utc())
    }

    /// The offset east of UTC, in seconds.
    pub fn offset_seconds(self) -> i32 {
        self.offset_seconds
    }
}

/// Parse one timestamp (see the module docs for the formats) to Unix seconds.
///
/// The error is a short reason suitable for a quarantine file.
pub fn parse_timestamp(text: &[u8], tz: Tz) -> Result<i64, &'static str> {
    let t = trim(text);
    if t.is_empty() {
        return Err("empty timestamp");
    }
    if t.len() >= 10 && t[4] == b'-' {
        return parse_datetime(t, tz);
    }
    parse_unix(t)
}

/// Parse a user-supplied time argument (`--from`, SQL parameters), with a helpful error.
pub fn parse_time_arg(what: &'static str, text: &str, tz: Tz) -> Result<i64> {
    parse_timestamp(text.as_bytes(), tz).map_err(|reason| Error::InvalidArgument {
        what,
        value: text.to_string(),
        hint: format!(
            "{reason}; use RFC 3339 (2021-08-01T08:15:00+07:00), YYYY-MM-DD HH:MM:SS (read in --tz) or Unix seconds"
        ),
    })
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &b[start..end]
}

fn parse_unix(t: &[u8]) -> Result<i64, &'static str> {
    let (neg, digits) = match t[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let int_part = match digits.iter().position(|&c| c == b'.') {
        Some(dot) if dot + 1 < digits.len() && digits[dot + 1..].iter().all(u8::is_ascii_digit) => &digits[..dot],
        Some(_) => return Err("unparsable timestamp"),
        None => digits,
    };
    if int_part.is_empty() || int_part.len() > 12 || !int_part.iter().all(u8::is_ascii_digit) {
        return Err("unparsable timestamp");
    }
    let v = int_part.iter().fold(0i64, |acc, &c| acc * 10 + i64::from(c - b'0'));
    // Truncation of a negative fraction moves towards zero, like every other fraction.
    Ok(if neg { -v } else { v })
}

fn digits<const N: usize>(t: &[u8], at: usize) -> Result<u32, &'static str> {
    let s = t.get(at..at + N).ok_or("unparsable timestamp")?;
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return Err("unparsable timestamp");
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Ok(v)
}

fn parse_datetime(t: &[u8], tz: Tz) -> Result<i64, &'static str> {
    // YYYY-MM-DD[T ]HH:MM:SS[.fff][Z|±HH:MM|±HHMM]
    let year = digits::<4>(t, 0)?;
    let month = digits::<2>(t, 5)?;
    let day = digits::<2>(t, 8)?;
    if t.get(7) != Some(&b'-') || t.len() < 19 || !matches!(t[10], b'T' | b't' | b' ') {
        return Err("unparsable timestamp");
    }
    if t[13] != b':' || t[16] != b':' {
        return Err("unparsable timestamp");
    }
    let (hour, minute, second) = (digits::<2>(t, 11)?, digits::<2>(t, 14)?, digits::<2>(t, 17)?);
    if hour > 23 || minute > 59 || second > 59 {
        return Err("impossible time of day");
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day).ok_or("impossible date")?;
    let mut rest = &t[19..];
    if let Some(b'.') = rest.first() {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return Err("unparsable timestamp");
        }
        rest = &rest[1 + n..];
    }
    let offset = match rest {
        [] => i64::from(tz.offset_seconds),
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), ..] => {
            let body = &rest[1..];
            let (h, m) = match body.len() {
                5 if body[2] == b':' => (digits::<2>(body, 0)?, digits::<2>(body, 3)?),
                4 => (digits::<2>(body, 0)?, digits::<2>(body, 2)?),
                2 => (digits::<2>(body, 0)?, 0),
                _ => return Err("unparsable time zone offset"),
            };
            if h > 23 || m > 59 {
                return Err("impossible time zone offset");
            }
            let o = i64::from(h * 3600 + m * 60);
            if *sign == b'-' { -o } else { o }
        }
        _ => return Err("unparsable timestamp"),
    };
    let days = i64::from(date.num_days_from_ce()) - 719_163;
    Ok(days * DAY + i64::from(hour * 3600 + minute * 60 + second) - offset)
}

/// Parse a size such as `512MiB`, `2GiB`, `1.5G` or `1000000` (bytes; K, M, G, T are binary
/// multiples with or without `iB`).
///
/// ```
/// assert_eq!(truyvet::time::parse_bytes("2GiB")?, 2 << 30);
/// assert_eq!(truyvet::time::parse_bytes("512m")?, 512 << 20);
/// assert!(truyvet::time::parse_bytes("lots").is_err());
/// # Ok::<(), truyvet::Error>(())
/// ```
pub fn parse_bytes(text: &str) -> Result<usize> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_lowercase().trim_end_matches("ib").trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => 0,
    };
    match number.parse::<f64>() {
        Ok(n) if scale > 0 && n.is_finite() && n > 0.0 => Ok((n * scale as f64) as usize),
        _ => Err(Error::InvalidArgument {
            what: "size",
            value: text.to_string(),
            hint: "a positive number of bytes, optionally with K, M, G or T (binary: 2GiB, 512M)".into(),
        }),
    }
}

/// Format Unix seconds as RFC 3339 UTC (`2021-08-01T01:15:00Z`).
pub fn format_utc(seconds: i64) -> String {
    let mut out = String::with_capacity(20);
    push_utc(seconds, &mut out);
    out
}

/// [`format_utc`] appended to `out`, without allocating. For many instants (a list's columns),
/// [`UtcText`] also keeps the days it has named.
pub fn push_utc(seconds: i64, out: &mut String) {
    UtcText::default().push(seconds, out)
}

/// Writes instants as [`format_utc`] does, remembering the last days it named: a list's
/// instants fall on a few days, and naming a day through chrono's calendar cost more than the
/// rest of the text (a loaded server's CSV answers spent 7 % of its CPU there). chrono does the
/// calendar; years outside 0000–9999 go through chrono's own formatting, and instants beyond
/// chrono's range are written as their seconds.
#[derive(Debug, Clone)]
pub struct UtcText {
    /// Direct-mapped by day: (day since the epoch, its `YYYY-MM-DD`); `i64::MIN`: empty.
    days: [(i64, [u8; 10]); 16],
}

impl Default for UtcText {
    fn default() -> Self {
        UtcText { days: [(i64::MIN, [0; 10]); 16] }
    }
}

impl UtcText {
    /// Append the RFC 3339 UTC text of `seconds` to `out`.
    pub fn push(&mut self, seconds: i64, out: &mut String) {
        match self.text(seconds) {
            Utc::Fixed(text) => out.push_str(std::str::from_utf8(&text).unwrap_or_default()),
            Utc::Other(text) => out.push_str(&text),
        }
    }

    /// [`UtcText::push`] for a byte buffer (a CSV line), without checking the ASCII it writes.
    pub fn push_bytes(&mut self, seconds: i64, out: &mut Vec<u8>) {
        match self.text(seconds) {
            Utc::Fixed(text) => out.extend_from_slice(&text),
            Utc::Other(text) => out.extend_from_slice(text.as_bytes()),
        }
    }

    fn text(&mut self, seconds: i64) -> Utc {
        let (day, second) = (seconds.div_euclid(DAY), seconds.rem_euclid(DAY) as u32);
        let slot = &mut self.days[(day & 15) as usize];
        if slot.0 != day {
            let Some(dt) = DateTime::from_timestamp(seconds, 0) else {
                return Utc::Other(seconds.to_string());
            };
            let date = dt.date_naive();
            if !(0..=9999).contains(&date.year()) {
                return Utc::Other(dt.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            }
            let mut name = *b"0000-00-00";
            for (at, width, mut n) in [(0, 4, date.year() as u32), (5, 2, date.month()), (8, 2, date.day())] {
                for i in (at..at + width).rev() {
                    name[i] = b'0' + (n % 10) as u8;
                    n /= 10;
                }
            }
            *slot = (day, name);
        }
        let mut text = *b"0000-00-00T00:00:00Z";
        text[..10].copy_from_slice(&slot.1);
        for (at, n) in [(11, second / 3600), (14, second / 60 % 60), (17, second % 60)] {
            text[at] = b'0' + (n / 10) as u8;
            text[at + 1] = b'0' + (n % 10) as u8;
        }
        Utc::Fixed(text)
    }
}

/// An instant's text: the usual twenty bytes, or (out of chrono's range or past year 9999)
/// whatever chrono or the number itself gives.
enum Utc {
    Fixed([u8; 20]),
    Other(String),
}

/// The UTC day (`YYYY-MM-DD`) holding `seconds`.
pub fn day_name(day: i64) -> String {
    match DateTime::from_timestamp(day * DAY, 0) {
        Some(dt) => dt.format("%Y-%m-%d").to_string(),
        None => format!("day{day}"),
    }
}

/// Parse a UTC day `YYYY-MM-DD` as days since 1970-01-01 (the inverse of [`day_name`]).
///
/// ```
/// assert_eq!(truyvet::time::parse_day("--day", "2021-08-01")?, 18_840);
/// assert!(truyvet::time::parse_day("--day", "2021-8-1x").is_err());
/// # Ok::<(), truyvet::Error>(())
/// ```
pub fn parse_day(what: &'static str, text: &str) -> Result<i64> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.signed_duration_since(chrono::NaiveDate::default()).num_days())
        .map_err(|_| Error::InvalidArgument {
            what,
            value: text.to_string(),
            hint: "expected a date as YYYY-MM-DD".into(),
        })
}

/// Today (UTC) as days since 1970-01-01.
pub fn today() -> i64 {
    chrono::Utc::now().timestamp().div_euclid(DAY)
}

/// Parse a duration in whole seconds: plain seconds (`3600`), or humantime's units (`90s`,
/// `15m`, `1h30m`, `1h 30m`, `2d`, `1w`).
///
/// ```
/// assert_eq!(truyvet::time::parse_duration("1h30m")?, 5400);
/// assert_eq!(truyvet::time::parse_duration("900")?, 900);
/// # Ok::<(), truyvet::Error>(())
/// ```
pub fn parse_duration(text: &str) -> Result<i64> {
    let bad = |hint: &str| Error::InvalidArgument {
        what: "duration",
        value: text.to_string(),
        hint: format!("{hint}; write 90s, 15m, 1h, 1h30m, 2d or plain seconds"),
    };
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()) {
        return t.parse::<i64>().map_err(|_| bad("too large"));
    }
    let d = humantime::parse_duration(t).map_err(|e| bad(&e.to_string()))?;
    if d.subsec_nanos() != 0 {
        return Err(bad("durations are whole seconds"));
    }
    i64::try_from(d.as_secs()).map_err(|_| bad("too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn utc_text_is_chronos(seconds in prop_oneof![
            -62_167_219_200i64..253_402_300_800, // 0000-01-01 to 9999-12-31
            proptest::num::i64::ANY,
            -100_000_000_000_000i64..100_000_000_000_000,
        ]) {
            let want = match DateTime::from_timestamp(seconds, 0) {
                Some(dt) => dt.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                None => seconds.to_string(),
            };
            prop_assert_eq!(format_utc(seconds), want);
        }

        /// One writer over many instants: days it remembers (and days that share its slot,
        /// 16 days apart, or fall outside the years it writes itself) come out as chrono's.
        #[test]
        fn utc_text_remembers_days_rightly(
            base in -62_167_219_200i64..253_402_300_800,
            steps in proptest::collection::vec(
                prop_oneof![-40 * DAY..40 * DAY, (-3i64..3).prop_map(|k| k * 16 * DAY), proptest::num::i64::ANY],
                1..60,
            ),
        ) {
            let mut writer = UtcText::default();
            let mut text = String::new();
            for step in steps {
                let at = if step.unsigned_abs() > 100 * DAY as u64 { step } else { base.saturating_add(step) };
                let want = match DateTime::from_timestamp(at, 0) {
                    Some(dt) => dt.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    None => at.to_string(),
                };
                text.clear();
                writer.push(at, &mut text);
                prop_assert_eq!(&text, &want);
            }
        }
    }

    #[test]
    fn utc_text_at_the_edges() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(1_627_780_500), "2021-08-01T01:15:00Z");
        assert_eq!(format_utc(-62_167_219_200), "0000-01-01T00:00:00Z");
        assert_eq!(format_utc(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59Z");
        let mut s = String::from("x,");
        push_utc(951_782_400, &mut s);
        assert_eq!(s, "x,2000-02-29T00:00:00Z");
    }

    const VN: Tz = Tz { offset_seconds: 7 * 3600 };

    #[test]
    fn formats_agree() {
        let want = 1_627_780_500; // 2021-08-01T01:15:00Z
        for s in [
            "2021-08-01T08:15:00+07:00",
            "2021-08-01T01:15:00Z",
            "2021-08-01 01:15:00",
            "2021-08-01T01:15:00.999Z",
            "2021-08-01T08:15:00+0700",
            " 1627780500 ",
            "1627780500.7",
        ] {
            assert_eq!(parse_timestamp(s.as_bytes(), Tz::UTC), Ok(want), "{s}");
        }
        assert_eq!(parse_timestamp(b"2021-08-01 08:15:00", VN), Ok(want));
        assert_eq!(parse_timestamp(b"2021-08-01T08:15:00", VN), Ok(want));
    }

    #[test]
    fn rejects_impossible_and_garbage() {
        for s in ["2021-02-30T00:00:00Z", "2021-13-01T00:00:00Z", "2021-08-01T24:00:00Z", "2021-08-01T10:61:00Z"] {
            assert!(parse_timestamp(s.as_bytes(), Tz::UTC).unwrap_err().starts_with("impossible"), "{s}");
        }
        for s in [
            "",
            "not-a-time",
            "2021-08-01",
            "2021-08-01T08:15",
            "12ab",
            "2021-08-01T08:15:00+7:0x",
            "2021-08-01T08:15:00.",
        ] {
            assert!(parse_timestamp(s.as_bytes(), Tz::UTC).is_err(), "{s}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("15m").unwrap(), 900);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400);
        assert_eq!(parse_duration("1h 30m").unwrap(), 5400);
        assert_eq!(parse_duration("3600").unwrap(), 3600);
        assert_eq!(parse_duration("2d").unwrap(), 172_800);
        for bad in ["", "1x", "h", "1h30", "-5m", "1500ms", "5 minutes ago", "99999999999999999999"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tz_parsing() {
        assert_eq!(Tz::parse("+07:00").unwrap(), VN);
        assert_eq!(Tz::parse("+0700").unwrap(), VN);
        assert_eq!(Tz::parse("UTC").unwrap(), Tz::UTC);
        assert_eq!(Tz::parse("-03:30").unwrap().offset_seconds(), -12_600);
        assert!(Tz::parse("07:00").is_err());
    }

    /// Regression: `+€a` panicked (a byte split inside the euro sign) in the hand-written parser.
    #[test]
    fn tz_multibyte_garbage_is_an_error_not_a_panic() {
        for s in ["+€a", "+€", "-ä:00", "+07:€", "€", "+٠٧:٠٠"] {
            assert!(Tz::parse(s).is_err(), "{s}");
        }
    }

    proptest! {
        // Oracle: chrono's own formatting and parsing of the same instant.
        #[test]
        fn roundtrip_against_chrono(secs in -2_000_000_000i64..4_000_000_000, off_min in -(23*60i32)..(23*60), frac in 0u32..1000) {
            let off = chrono::FixedOffset::east_opt(off_min * 60).unwrap();
            let dt = DateTime::from_timestamp(secs, frac * 1_000_000).unwrap().with_timezone(&off);
            let rfc = dt.to_rfc3339();
            prop_assert_eq!(parse_timestamp(rfc.as_bytes(), Tz::UTC), Ok(secs));
            let naive = dt.naive_local().format("%Y-%m-%d %H:%M:%S").to_string();
            let tz = Tz::from_offset_seconds(off_min * 60).unwrap();
            prop_assert_eq!(parse_timestamp(naive.as_bytes(), tz), Ok(secs));
            prop_assert_eq!(parse_timestamp(format_utc(secs).as_bytes(), Tz::UTC), Ok(secs));
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse_timestamp(&bytes, Tz::UTC);
        }

        #[test]
        fn durations_roundtrip(s in 0i64..10_000_000) {
            let text = humantime::format_duration(std::time::Duration::from_secs(s as u64)).to_string();
            prop_assert_eq!(parse_duration(&text).unwrap(), s);
            prop_assert_eq!(parse_duration(&s.to_string()).unwrap(), s);
        }

        #[test]
        fn tz_never_panics(text in "\\PC{0,8}") {
            let _ = Tz::parse(&text);
        }
    }
}
