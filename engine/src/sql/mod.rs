//! SQL for epidemiologists: a read-only Apache DataFusion session over one store snapshot.
//!
//! What a [`Session`] offers:
//!
//! | name | columns | backed by |
//! |------|---------|-----------|
//! | `checkins` | `person_id, venue_id, check_in, check_out, day` | the manifest's Parquet parts, pruned by day, venue and time |
//! | `venues` | `venue_id, name, category, province, district, lat, lon` | the manifest's venues file (empty without one) |
//! | `persons` | `person_id, visits, first_seen, last_seen` | a view: `GROUP BY person_id` over `checkins` (a full scan per use) |
//! | `f1_contacts(f0 [, from, to, linger_s, dwell_s, max_visit_s, min_overlap_s])` | as `truyvet trace` | [`Snapshot::trace`](crate::Snapshot::trace) |
//! | `exposures(...)` (same arguments) | as `truyvet exposures` | the same trace, per interval |
//!
//! Ids are the original strings, times are `Timestamp(Second, "UTC")`, `check_out` is `NULL`
//! where none was recorded. String columns of `checkins` and `venues` are `Utf8View`, the type
//! DataFusion reads Parquet strings as by default: values point into the Parquet dictionary
//! pages instead of being copied out row by row (`f1_contacts` and `exposures` return `Utf8`).
//! Statements pass the read-only sandbox (`sandbox.rs`): only queries, `EXPLAIN`, `DESCRIBE` and
//! `SHOW` run; nothing can change the store or read other files.
//!
//! Module map: `session` (configuration, execution, errors), `tables` (the manifest-backed
//! tables and their pruning), `functions` (the trace table functions), `run_aggregate` (a
//! partial aggregation that interns each run of equal group keys once), `sandbox` (what may
//! run), `script` (statement splitting and `:name` parameters). This module reads the store
//! only through [`Snapshot`](crate::Snapshot) and calls `trace`; nothing downstream of it exists.
//!
//! # Configuration
//! DataFusion runs with `target_partitions` = [`SessionOptions::threads`] (default: the core
//! count) on the session's own tokio runtime of that many workers; a trace inside
//! `f1_contacts` uses the rayon pool while the statement is planned, so the two pools do not run
//! at the same time within one statement. Parquet pruning and the page index are on;
//! `pushdown_filters` is on by default because the store's parts are sorted by venue and time:
//! see [`SessionOptions::pushdown_filters`]. With [`SessionOptions::run_aggregation`] (on by
//! default) one extra physical optimizer rule runs last: partial aggregations with one group key
//! become `RunAggregateExec` (its name shows in `EXPLAIN`), which at 10 M rows brought `GROUP BY
//! venue_id` from 80 to 30 ms (see `benches/README.md`).
//!
//! ```
//! # let dir = tempfile::tempdir()?;
//! # let csv = dir.path().join("scans.csv");
//! # std::fs::write(&csv, "person_id,venue_id,check_in,check_out\nF0,M,2021-08-01T08:00:00Z,\nA,M,2021-08-01T08:30:00Z,\n")?;
//! # truyvet::Ingest::new(dir.path().join("store")).run(&[csv])?;
//! use arrow::array::AsArray;
//! use arrow::datatypes::Int64Type;
//!
//! let store = truyvet::Store::open(dir.path().join("store"))?;
//! let session = truyvet::sql::Session::new(&store.snapshot())?;
//! let (_schema, batches) = session.query("SELECT person_id, exposure_seconds FROM f1_contacts('F0')")?;
//! assert_eq!(batches[0].column(0).as_string::<i32>().value(0), "A");
//! assert_eq!(batches[0].column(1).as_primitive::<Int64Type>().value(0), 1800);
//!
//! let refused = session.query("DROP TABLE checkins").unwrap_err();
//! assert!(refused.to_string().starts_with("refused: DROP TABLE is not allowed"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod functions;
mod run_aggregate;
mod sandbox;
mod script;
mod session;
pub(crate) mod tables;

pub use self::sandbox::check_statement;
pub use self::script::{bind_params, is_complete, parse_param, split_statements};
pub use self::session::{Session, SessionOptions, StatementResult, TableInfo};
