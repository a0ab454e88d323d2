//! Fixture builders: small stores written as CSV and ingested through the public API. (The
//! binary's tests, which need cargo to build it first, are in cli/tests.)

use std::fmt::Write as _;

use tempfile::TempDir;
use truyvet::{Ingest, Store};

/// A check-in row as written to the fixture CSV.
#[derive(Debug, Clone)]
pub struct Row {
    pub person: String,
    pub venue: String,
    pub check_in: i64,
    pub check_out: Option<i64>,
}

/// Builder of a small store: `StoreFixture::new().visit("P1", "V1", "08:00", None)`.
pub struct StoreFixture {
    pub rows: Vec<Row>,
    day: &'static str,
    flush_rows: usize,
    /// `(venue, category)` rows of a venues register, if any.
    categories: Vec<(String, String)>,
    /// Ingest the rows in this many batches (consecutive runs of them).
    batches: usize,
    /// Leave the store as a build before day links wrote it.
    without_links: bool,
}

/// Unix seconds of `day` at `hh:mm` (UTC); `hh` may exceed 23 to reach the next day.
pub fn at(day: &str, hhmm: &str) -> i64 {
    let (h, m) = hhmm.split_once(':').unwrap();
    let (h, m): (i64, i64) = (h.parse().unwrap(), m.parse().unwrap());
    truyvet::time::parse_timestamp(format!("{day}T00:00:00Z").as_bytes(), truyvet::Tz::UTC).unwrap() + h * 3600 + m * 60
}

impl StoreFixture {
    pub fn new() -> StoreFixture {
        StoreFixture {
            rows: Vec::new(),
            day: "2021-08-01",
            flush_rows: 8 << 20,
            categories: Vec::new(),
            batches: 1,
            without_links: false,
        }
    }

    /// Ingest the rows in `n` batches, each a consecutive run of them (a later batch adds
    /// parts to days an earlier one wrote, and to the days after them).
    pub fn batches(mut self, n: usize) -> Self {
        self.batches = n.max(1);
        self
    }

    /// Build the store as it was before day links (store format 5): the live manifest without
    /// them, so that `next-checkin` probes the parts as it did then.
    pub fn without_links(mut self, yes: bool) -> Self {
        self.without_links = yes;
        self
    }

    /// Write every flush of this many rows as separate parts (several parts per day).
    pub fn flush_rows(mut self, n: usize) -> Self {
        self.flush_rows = n;
        self
    }

    /// A visit on the fixture day, times as `HH:MM` UTC (hours ≥ 24 run into the next day).
    pub fn visit(mut self, person: &str, venue: &str, check_in: &str, check_out: Option<&str>) -> Self {
        let day = self.day;
        self.rows.push(Row {
            person: person.into(),
            venue: venue.into(),
            check_in: at(day, check_in),
            check_out: check_out.map(|c| at(day, c)),
        });
        self
    }

    /// Ingest a venues register giving these venues these categories.
    pub fn categories(mut self, categories: &[(&str, &str)]) -> Self {
        self.categories = categories.iter().map(|(v, c)| (v.to_string(), c.to_string())).collect();
        self
    }

    /// A visit in Unix seconds.
    pub fn row(mut self, r: Row) -> Self {
        self.rows.push(r);
        self
    }

    fn csv_of(rows: &[Row]) -> String {
        let mut s = String::from("person_id,venue_id,check_in,check_out\n");
        for r in rows {
            let out = r.check_out.map(|c| c.to_string()).unwrap_or_default();
            writeln!(s, "{},{},{},{}", r.person, r.venue, r.check_in, out).unwrap();
        }
        s
    }

    /// Ingest into a fresh store; returns (tempdir, store).
    pub fn build(&self) -> (TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let chunk = self.rows.len().div_ceil(self.batches).max(1);
        let mut chunks: Vec<&[Row]> = self.rows.chunks(chunk).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        for (b, rows) in chunks.into_iter().enumerate() {
            let input = dir.path().join(format!("rows-{b}.csv"));
            std::fs::write(&input, Self::csv_of(rows)).unwrap();
            let mut ingest = Ingest::new(dir.path().join("store")).flush_rows(self.flush_rows);
            if b == 0 && !self.categories.is_empty() {
                let venues = dir.path().join("venues.csv");
                let mut text = String::from("venue_id,category\n");
                for (v, c) in &self.categories {
                    writeln!(text, "{v},{c}").unwrap();
                }
                std::fs::write(&venues, text).unwrap();
                ingest = ingest.venues(venues);
            }
            ingest.run(&[input]).unwrap();
        }
        if self.without_links {
            let store = dir.path().join("store");
            let current = store.join(std::fs::read_to_string(store.join("CURRENT")).unwrap().trim());
            let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&current).unwrap()).unwrap();
            let o = m.as_object_mut().unwrap();
            o.remove("links");
            o.insert("format".into(), 2.into());
            std::fs::write(&current, serde_json::to_vec(&m).unwrap()).unwrap();
        }
        let store = Store::open(dir.path().join("store")).unwrap();
        if !self.rows.is_empty() {
            assert_eq!(store.snapshot().manifest().links.is_empty(), self.without_links);
        }
        (dir, store)
    }
}

/// 2021-08-01T00:00:00Z, where the random stores start.
pub const T0: i64 = 1_627_776_000;

/// A random check-in of one of `persons` persons (`P0`…) at one of three venues (`V0`…V2),
/// within `days` days from [`T0`] (seconds varied by the minute), without check-out or staying
/// up to 3 h, now and then up to `longest` minutes.
pub fn random_row(persons: u8, days: i64, longest: i64) -> impl proptest::strategy::Strategy<Value = Row> {
    use proptest::prelude::*;
    (
        0..persons,
        0u8..3,
        0i64..(days * 1440),
        prop_oneof![4 => Just(None), 4 => (0i64..180).prop_map(Some), 1 => (0i64..longest).prop_map(Some)],
    )
        .prop_map(|(p, v, minute, stay)| {
            let check_in = T0 + minute * 60 + (minute % 7) * 13;
            Row {
                person: format!("P{p}"),
                venue: format!("V{v}"),
                check_in,
                check_out: stay.map(|m| check_in + m * 60),
            }
        })
}
