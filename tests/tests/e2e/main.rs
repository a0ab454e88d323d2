//! End-to-end tests of truyvet: one test binary, one module per area.

mod fixture;
mod ingest;
mod sql;
mod trace;
