//! # truyvet — contact-tracing analytics over venue check-in logs
//!
//! truyvet loads QR check-in logs (person, venue, check-in, optional check-out) into a
//! columnar store and, given a confirmed case (an F0), returns everyone who shared a venue with
//! it during its infectious window (the F1 contacts), ranked by exposure, in milliseconds.
//!
//! ```text
//! check-in logs ──▶ ingest ──▶ store ──────────▶ trace ──▶ cli / dashboard
//!  CSV·gz·Parquet   validate   day parts (sorted   F0 → F1: interval joins
//!                   encode u32  Parquet) + trace   over venue/person postings,
//!                   partition   indexes (mapped    ranking
//!                               key sets),         ▲
//!                   rejects ─▶  dictionaries,      │
//!                   quarantine  manifest, atomic   └── sql (DataFusion, read-only)
//!                               commits
//! ```
//!
//! A complete round trip: a tiny store, a trace, the ranked list.
//!
//! ```
//! use truyvet::{Ingest, Store, TraceRequest};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let scans = dir.path().join("scans.csv");
//! std::fs::write(&scans, "\
//! person_id,venue_id,check_in,check_out
//! F0,MARKET,2021-08-01T08:00:00+07:00,2021-08-01T09:00:00+07:00
//! A,MARKET,2021-08-01T08:30:00+07:00,
//! B,MARKET,2021-08-01T08:50:00+07:00,2021-08-01T08:55:00+07:00
//! C,MARKET,2021-08-01T09:00:00+07:00,
//! ")?;
//! Ingest::new(dir.path().join("store")).run(&[scans])?;
//!
//! let store = Store::open(dir.path().join("store"))?;
//! let result = store.trace(&TraceRequest::new("F0"))?;
//! let ranked: Vec<(&str, i64)> =
//!     result.contacts.iter().map(|c| (c.person_id.as_str(), c.exposure_seconds)).collect();
//! // A overlaps 08:30–09:00, B 08:50–08:55; C arrives as F0 leaves (touching, no overlap).
//! assert_eq!(ranked, [("A", 1800), ("B", 300)]);
//! assert_eq!(result.to_record_batch().num_rows(), 2);
//! # Ok(()) }
//! ```
//!
//! Main types: [`Ingest`] (files → a commit), [`Store`] / [`Snapshot`] (an immutable view),
//! [`TraceRequest`] → [`TraceResult`] (typed rows and Arrow `RecordBatch`es), and, with the
//! `sql` feature, [`sql::Session`] for DataFusion SQL over the store.
#![deny(missing_docs)]

pub mod cases;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod encode;
pub mod error;
pub mod ffi;
#[doc(hidden)]
pub mod fuzz;
pub mod ingest;
pub mod model;
pub mod pseudonym;
mod radix;
pub mod report;
#[cfg(feature = "sql")]
pub mod sql;
pub mod store;
pub mod time;
pub mod trace;

pub use crate::cases::CasesImport;
pub use crate::error::{Error, ErrorKind, Result};
pub use crate::ingest::{Ingest, IngestReport};
pub use crate::model::{Case, PersonId};
pub use crate::store::{Snapshot, Store, StoreStats};
pub use crate::time::Tz;
pub use crate::trace::{Contact, Exposure, ExposureRule, RuleBook, TraceRequest, TraceResult};
