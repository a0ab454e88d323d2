//! End-to-end tests of truyvet: one test binary, one module per area.

mod cli;
mod fixture;
mod ingest;
mod sql;
mod trace;
