//! The data model shared by every stage: dense keys, visits, and the Arrow schemas and column
//! names of everything truyvet reads or returns. Column names are defined here once.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Dense dictionary key of a person id (`0..persons`), assigned in first-seen order.
pub type PersonKey = u32;
/// Dense dictionary key of a venue id (`0..venues`), assigned in first-seen order.
pub type VenueKey = u32;
/// Unix seconds, UTC.
pub type Seconds = i64;
/// A person id as a trace lists it: held inline up to 32 bytes (phone and citizen numbers,
/// 32-character pseudonyms), so a list of thousands of contacts costs no allocation per
/// contact. It derefs to `&str` and compares equal to `str` and `String`.
pub type PersonId = smallstr::SmallString<[u8; 32]>;

/// One check-in after validation and dictionary encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Visit {
    /// Venue key (first: rows are sorted by venue, then check-in).
    pub venue: VenueKey,
    /// Check-in time.
    pub check_in: Seconds,
    /// Person key.
    pub person: PersonKey,
    /// Check-out time, when the system recorded one (`>= check_in`).
    pub check_out: Option<Seconds>,
}

/// Input and `checkins` column names.
pub mod col {
    /// Person id (string).
    pub const PERSON_ID: &str = "person_id";
    /// Venue id (string).
    pub const VENUE_ID: &str = "venue_id";
    /// Check-in timestamp.
    pub const CHECK_IN: &str = "check_in";
    /// Check-out timestamp (nullable).
    pub const CHECK_OUT: &str = "check_out";
    /// UTC day of the check-in (partition key).
    pub const DAY: &str = "day";
    /// The columns an input file must have, in the documented order.
    pub const INPUT: [&str; 4] = [PERSON_ID, VENUE_ID, CHECK_IN, CHECK_OUT];
    /// Venue attribute columns of a venues file, after `venue_id`.
    pub const VENUE_ATTRS: [&str; 6] = ["name", "category", "province", "district", "lat", "lon"];
}

/// Timestamp type used in every Arrow output: seconds, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Second, Some("UTC".into()))
}

/// Schema of the store's check-in Parquet files (and of the SQL `checkins` table).
pub static CHECKINS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(col::PERSON_ID, DataType::Utf8, false),
        Field::new(col::VENUE_ID, DataType::Utf8, false),
        Field::new(col::CHECK_IN, timestamp_type(), false),
        Field::new(col::CHECK_OUT, timestamp_type(), true),
        Field::new(col::DAY, DataType::Date32, false),
    ]))
});

/// Schema of the venues table.
pub static VENUES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(col::VENUE_ID, DataType::Utf8, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("category", DataType::Utf8, true),
        Field::new("province", DataType::Utf8, true),
        Field::new("district", DataType::Utf8, true),
        Field::new("lat", DataType::Float64, true),
        Field::new("lon", DataType::Float64, true),
    ]))
});

/// Schema of an F1 list (`truyvet trace`, `f1_contacts()`), in output column order.
pub static F1_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("rank", DataType::UInt32, false),
        Field::new(col::PERSON_ID, DataType::Utf8, false),
        Field::new("exposure_seconds", DataType::Int64, false),
        Field::new("imputed_seconds", DataType::Int64, false),
        Field::new("episodes", DataType::UInt32, false),
        Field::new("venues", DataType::UInt32, false),
        Field::new("first_contact", timestamp_type(), false),
        Field::new("last_contact", timestamp_type(), false),
    ]))
});

/// Schema of an F1 list under the `cwa` rule: [`F1_SCHEMA`] and the weighted minutes and risk.
pub static CWA_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields: Vec<Field> = F1_SCHEMA.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("weighted_minutes", DataType::Float64, false));
    fields.push(Field::new("risk", DataType::Utf8, false));
    Arc::new(Schema::new(fields))
});

/// Schema of an F1 list under the `pc-covid` rule: matching scans, not stays.
pub static PC_COVID_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("rank", DataType::UInt32, false),
        Field::new(col::PERSON_ID, DataType::Utf8, false),
        Field::new("matches", DataType::UInt32, false),
        Field::new("min_gap_seconds", DataType::Int64, false),
        Field::new("venues", DataType::UInt32, false),
        Field::new("first_match", timestamp_type(), false),
        Field::new("last_match", timestamp_type(), false),
    ]))
});

/// Schema of exposure details (`truyvet trace --details`, `exposures()`).
pub static EXPOSURES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("rank", DataType::UInt32, false),
        Field::new(col::PERSON_ID, DataType::Utf8, false),
        Field::new(col::VENUE_ID, DataType::Utf8, false),
        Field::new("venue_name", DataType::Utf8, true),
        Field::new("start", timestamp_type(), false),
        Field::new("end", timestamp_type(), false),
        Field::new("seconds", DataType::Int64, false),
        Field::new("imputed_seconds", DataType::Int64, false),
    ]))
});

/// Default lookback of an infectious window before onset (or sampling, or confirmation): 2 days.
pub const DEFAULT_LOOKBACK: Seconds = 2 * 86_400;

/// One confirmed case (an F0) of the cases register, with its derived infectious window.
///
/// The window is `[basis − lookback, end)`: `basis` is `onset_at`, else `sampled_at`, else
/// `confirmed_at`; `end` is `isolated_at`, else `confirmed_at` (see [`Case::window`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The case's id (a register number; the person id when the import gave none).
    pub case_id: String,
    /// The person (a pseudonym in a pseudonymised store).
    pub person_id: String,
    /// When the case was confirmed.
    pub confirmed_at: Seconds,
    /// Symptom onset.
    pub onset_at: Option<Seconds>,
    /// Sample taken.
    pub sampled_at: Option<Seconds>,
    /// Isolation began (ends the window).
    pub isolated_at: Option<Seconds>,
    /// Free text (sealed in a pseudonymised store).
    pub note: Option<String>,
    /// The lookback the stored window was derived with.
    pub lookback: Seconds,
    /// Start of the stored infectious window (inclusive).
    pub window_from: Seconds,
    /// End of the stored infectious window (exclusive).
    pub window_to: Seconds,
    /// The store version that added or last changed the case.
    pub version: u64,
}

impl Case {
    /// The infectious window under `lookback`: `[(onset_at, else sampled_at, else
    /// confirmed_at) − lookback, isolated_at, else confirmed_at)`.
    pub fn window(&self, lookback: Seconds) -> (Seconds, Seconds) {
        let basis = self.onset_at.or(self.sampled_at).unwrap_or(self.confirmed_at);
        (basis.saturating_sub(lookback), self.isolated_at.unwrap_or(self.confirmed_at))
    }

    /// Whether two records say the same (ignoring the version that wrote them).
    pub fn same_as(&self, other: &Case) -> bool {
        Case { version: other.version, ..self.clone() } == *other
    }
}

/// Schema of the cases register (`truyvet cases list`, the SQL `cases` table).
pub static CASES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("case_id", DataType::Utf8, false),
        Field::new(col::PERSON_ID, DataType::Utf8, false),
        Field::new("confirmed_at", timestamp_type(), false),
        Field::new("onset_at", timestamp_type(), true),
        Field::new("sampled_at", timestamp_type(), true),
        Field::new("isolated_at", timestamp_type(), true),
        Field::new("window_from", timestamp_type(), false),
        Field::new("window_to", timestamp_type(), false),
        Field::new("lookback_seconds", DataType::Int64, false),
        Field::new("note", DataType::Utf8, true),
        Field::new("version", DataType::UInt64, false),
    ]))
});
