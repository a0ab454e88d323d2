//! End-to-end tests of truyvet: one test binary, one module per area.

mod call_list;
mod cases;
mod chain;
mod cluster;
mod clusters;
mod compact;
mod fixture;
mod hotspots;
mod ingest;
mod pg;
mod pseudonym;
mod purge;
mod report;
mod rules;
mod scans;
mod serve;
mod sql;
mod status;
mod trace;
