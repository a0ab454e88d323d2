//! The seam between a shard and the file formats: the [`Sink`] a shard pours its rows into,
//! the batch size it pours them in, and [`ShardContext`], what every format needs besides the
//! rows.
//!
//! The formats (`csv_out`, `parquet_out`) implement [`Sink`] and `shard` picks one and drives
//! it, so dependencies point one way: `shard` → formats → `sink`. This module must import
//! neither side; it knows rows and venues, not files.

use crate::day::Row;
use crate::venues::Venues;

/// Rows per batch handed to a [`Sink`] (the last one of a shard is shorter), and so per
/// progress report. Part of the Parquet format: each batch becomes one Arrow record batch, and
/// page boundaries follow them, so changing it changes the bytes of `.parquet` files.
pub(crate) const BATCH: usize = 64 * 1024;

/// What a shard's writer needs besides the rows.
#[derive(Clone, Copy)]
pub(crate) struct ShardContext<'a> {
    pub venues: &'a Venues,
    /// The shard's day.
    pub date: chrono::NaiveDate,
    /// Unix seconds of the day's local (+07:00) midnight.
    pub day_start: i64,
}

/// A check-in file being written, one format's encoder.
///
/// The caller hands over a shard's rows in check-in order, in batches of at most [`BATCH`],
/// then calls [`Sink::finish`]. A sink that is dropped unfinished leaves an incomplete file,
/// which is why shards write to a `.partial` name and rename it afterwards.
pub(crate) trait Sink {
    /// Append `rows`, which follow the previous batch in check-in order.
    fn write_batch(&mut self, rows: &[Row]) -> std::io::Result<()>;

    /// Complete the file (trailer, footer) and flush it.
    fn finish(self) -> std::io::Result<()>;
}
