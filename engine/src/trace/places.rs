//! The two reads a tracer looks at beside a contact list: a person's itinerary (their own
//! stays, in order) and a venue's occupancy (who was there, hour by hour).
//!
//! # Semantics
//! - **Itinerary** of a person under a request's rules and window: every check-in whose stay
//!   `[a, b)` (rule 1 of [`crate::trace`]) meets `[from, to)`, ordered by check-in, then venue
//!   id; with the stay's end and whether it was imputed (no check-out).
//! - **Occupancy** of a venue in `[from, to)` by buckets of `bucket` seconds (aligned to
//!   `from`): per bucket, the check-ins made in it, and the distinct persons whose stay meets
//!   it.
//!
//! Both read only the person's rows, or the venue's rows checked in within `max_visit` before
//! the window, through the trace indexes.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::exposure::day_range;
use super::request::TraceRequest;
use super::rules::{Stay, Stays};
use super::ts;
use crate::error::{Error, Result};
use crate::model::{PersonKey, Seconds, VenueKey, timestamp_type};
use crate::store::Snapshot;

/// Columns of an itinerary.
pub static ITINERARY_SCHEMA: std::sync::LazyLock<SchemaRef> = std::sync::LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("venue_id", DataType::Utf8, false),
        Field::new("check_in", timestamp_type(), false),
        Field::new("stay_end", timestamp_type(), false),
        Field::new("imputed_end", DataType::Boolean, false),
    ]))
});

/// Columns of a venue's occupancy.
pub static OCCUPANCY_SCHEMA: std::sync::LazyLock<SchemaRef> = std::sync::LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("bucket_start", timestamp_type(), false),
        Field::new("check_ins", DataType::UInt32, false),
        Field::new("persons_present", DataType::UInt32, false),
    ]))
});

/// Longest window an occupancy answers, in buckets.
pub const MAX_BUCKETS: i64 = 10_000;

impl Snapshot {
    /// The itinerary of person key `person` under `req`'s rules and window (its F0 is not
    /// read), columns as [`ITINERARY_SCHEMA`].
    pub fn itinerary(&self, person: PersonKey, req: &TraceRequest) -> Result<RecordBatch> {
        req.check()?;
        let (from, to) = (req.from.unwrap_or(Seconds::MIN / 4), req.to.unwrap_or(Seconds::MAX / 4));
        let mut stays: Vec<(Seconds, &str, Seconds, bool)> = Vec::new();
        let (first, last) = day_range(req, from, to);
        let rules = Stays::new(self, req);
        for part in self.parts_of_days(first, last) {
            let idx = &part.index;
            for r in idx.person_rows(person)? {
                let venue = idx.venue(r)?;
                let Stay { start: a, end: b, .. } = rules.at(venue)?.stay(idx, r)?;
                if a < to && b > from {
                    stays.push((a, self.venue_id(venue)?, b, idx.check_out(r).is_none()));
                }
            }
        }
        stays.sort_unstable();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(stays.iter().map(|s| s.1))),
            ts(stays.iter().map(|s| s.0)),
            ts(stays.iter().map(|s| s.2)),
            Arc::new(BooleanArray::from(stays.iter().map(|s| s.3).collect::<Vec<_>>())),
        ];
        Ok(RecordBatch::try_new(ITINERARY_SCHEMA.clone(), columns).expect("columns match ITINERARY_SCHEMA"))
    }

    /// The occupancy of venue key `venue` over `req`'s window (which must be set) in buckets
    /// of `bucket` seconds, columns as [`OCCUPANCY_SCHEMA`].
    pub fn occupancy(&self, venue: VenueKey, req: &TraceRequest, bucket: Seconds) -> Result<RecordBatch> {
        req.check()?;
        let (Some(from), Some(to)) = (req.from, req.to) else {
            return Err(Error::InvalidArgument {
                what: "occupancy window",
                value: "open".into(),
                hint: "give both from and to".into(),
            });
        };
        let buckets = if bucket > 0 && to > from { (to - from + bucket - 1) / bucket } else { 0 };
        if bucket <= 0 || buckets > MAX_BUCKETS {
            return Err(Error::InvalidArgument {
                what: "occupancy bucket",
                value: format!("{bucket}s over {}s", to - from),
                hint: format!("a bucket > 0 and at most {MAX_BUCKETS} buckets in the window"),
            });
        }
        let n = buckets as usize;
        let mut check_ins = vec![0u32; n];
        // (bucket, person) for every bucket a stay meets; counted distinct below.
        let mut present: Vec<(usize, PersonKey)> = Vec::new();
        let (first, last) = day_range(req, from, to);
        let at = Stays::new(self, req).at(venue)?;
        for part in self.parts_of_days(first, last) {
            let idx = &part.index;
            for r in idx.venue_rows_checked_in(venue, from.saturating_sub(req.max_visit), to)? {
                let Stay { start: a, end: b, .. } = at.stay(idx, r)?;
                let (s, e) = (a.max(from), b.min(to));
                if a >= from {
                    check_ins[((a - from) / bucket) as usize] += 1;
                }
                if s < e {
                    let p = idx.person(r);
                    present
                        .extend((((s - from) / bucket) as usize..=((e - 1 - from) / bucket) as usize).map(|k| (k, p)));
                }
            }
        }
        present.sort_unstable();
        present.dedup();
        let mut persons = vec![0u32; n];
        for (k, _) in present {
            persons[k] += 1;
        }
        let columns: Vec<ArrayRef> = vec![
            ts((0..buckets).map(|k| from + k * bucket)),
            Arc::new(UInt32Array::from(check_ins)),
            Arc::new(UInt32Array::from(persons)),
        ];
        Ok(RecordBatch::try_new(OCCUPANCY_SCHEMA.clone(), columns).expect("columns match OCCUPANCY_SCHEMA"))
    }
}
