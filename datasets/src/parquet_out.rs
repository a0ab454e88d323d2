//! Check-in shards as Parquet: the [`ParquetSink`], the schema and the writer settings. Owns
//! the bytes of a Parquet check-in file; knows nothing of shards or of how rows are made.
//!
//! # Format: `checkins/<day>-s<shard>.parquet`
//! | column      | Arrow type                     | nulls | Parquet encoding             |
//! |-------------|--------------------------------|-------|------------------------------|
//! | `person_id` | `Utf8`                         | no    | plain (ids are near-unique)  |
//! | `venue_id`  | `Utf8`                         | no    | dictionary                   |
//! | `check_in`  | `Timestamp(Second, "UTC")`     | no    | delta (rows are sorted by it)|
//! | `check_out` | `Timestamp(Second, "UTC")`     | yes   | plain                        |
//!
//! Snappy compression, row groups of at most 2²⁰ rows, one file per shard (~1 M rows), the
//! sort order on `check_in` declared in the row-group metadata. Malformed rows can only be of
//! the kinds the schema can hold: an empty `person_id` or `venue_id`, or a `check_out` before
//! `check_in`.
//!
//! # Performance
//! Columns are assembled batch by batch (as the shard hands them over,
//! [`BATCH`](crate::sink::BATCH) rows) straight into Arrow buffers, without a `String` per row;
//! the person-id column skips the dictionary, which would overflow anyway.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampSecondArray};
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::day::{Dirty, NO_CHECKOUT, Row};
use crate::persons::push_person_id;
use crate::sink::{ShardContext, Sink};

/// The Arrow schema of a check-in file.
pub(crate) fn schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Second, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("person_id", DataType::Utf8, false),
        Field::new("venue_id", DataType::Utf8, false),
        Field::new("check_in", ts.clone(), false),
        Field::new("check_out", ts, true),
    ]))
}

fn properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(1 << 20))
        .set_column_dictionary_enabled(ColumnPath::from("person_id"), false)
        .set_column_dictionary_page_size_limit(ColumnPath::from("venue_id"), 4 << 20)
        .set_column_dictionary_enabled(ColumnPath::from("check_in"), false)
        .set_column_encoding(ColumnPath::from("check_in"), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(ColumnPath::from("check_out"), false)
        .set_sorting_columns(Some(vec![SortingColumn { column_idx: 2, descending: false, nulls_first: false }]))
        .build()
}

/// Writes one shard's rows as Parquet.
pub(crate) struct ParquetSink<'a> {
    writer: ArrowWriter<BufWriter<File>>,
    schema: SchemaRef,
    columns: Columns,
    ctx: ShardContext<'a>,
}

impl<'a> ParquetSink<'a> {
    /// Create `path`; nothing is written before the first batch.
    pub(crate) fn create(path: &Path, ctx: ShardContext<'a>) -> std::io::Result<ParquetSink<'a>> {
        let schema = schema();
        let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(properties())).map_err(std::io::Error::other)?;
        Ok(ParquetSink { writer, schema, columns: Columns::default(), ctx })
    }
}

impl Sink for ParquetSink<'_> {
    /// One record batch per call: the row groups (2²⁰ rows) span several batches.
    fn write_batch(&mut self, rows: &[Row]) -> std::io::Result<()> {
        let batch = self.columns.build(rows, &self.ctx, &self.schema)?;
        self.writer.write(&batch).map_err(std::io::Error::other)
    }

    fn finish(self) -> std::io::Result<()> {
        self.writer.into_inner().map_err(std::io::Error::other)?.flush()
    }
}

/// Reusable scratch for the text columns.
#[derive(Default)]
struct Columns {
    text: Vec<u8>,
}

impl Columns {
    fn build(&mut self, rows: &[Row], ctx: &ShardContext<'_>, schema: &SchemaRef) -> std::io::Result<RecordBatch> {
        let person = self.strings(rows, |out, r| {
            if r.dirty != Some(Dirty::EmptyPerson) {
                push_person_id(out, r.phone);
            }
        })?;
        let venue = self.strings(rows, |out, r| {
            if r.dirty != Some(Dirty::EmptyVenue) {
                out.extend_from_slice(ctx.venues.ids[r.venue as usize].as_bytes());
            }
        })?;
        let check_in: Vec<i64> = rows.iter().map(|r| ctx.day_start + i64::from(r.check_in)).collect();
        let check_out: Vec<i64> = rows
            .iter()
            .map(|r| if r.stay == NO_CHECKOUT { 0 } else { ctx.day_start + i64::from(r.check_in) + i64::from(r.stay) })
            .collect();
        let valid = NullBuffer::from_iter(rows.iter().map(|r| r.stay != NO_CHECKOUT));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(person),
            Arc::new(venue),
            Arc::new(TimestampSecondArray::new(ScalarBuffer::from(check_in), None).with_timezone("UTC")),
            Arc::new(TimestampSecondArray::new(ScalarBuffer::from(check_out), Some(valid)).with_timezone("UTC")),
        ];
        RecordBatch::try_new(schema.clone(), columns).map_err(std::io::Error::other)
    }

    /// A string column from a per-row byte writer, validated once for the whole batch.
    fn strings(&mut self, rows: &[Row], mut push: impl FnMut(&mut Vec<u8>, &Row)) -> std::io::Result<StringArray> {
        self.text.clear();
        let mut offsets = Vec::with_capacity(rows.len() + 1);
        offsets.push(0i32);
        for r in rows {
            push(&mut self.text, r);
            offsets.push(i32::try_from(self.text.len()).map_err(std::io::Error::other)?);
        }
        let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
        StringArray::try_new(offsets, Buffer::from(self.text.as_slice()), None).map_err(std::io::Error::other)
    }
}
