//! Arrow answers as bytes, for people and for other programs: CSV and JSON (timestamps as
//! RFC 3339 UTC text, `2021-08-01T01:15:00Z`), Parquet, and the Arrow IPC stream. The CLI and
//! the server write every list through here, so a list reads the same from both.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampSecondType};
use arrow::error::ArrowError;

/// A byte encoding of record batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// CSV with a header.
    Csv,
    /// One JSON array of objects.
    Json,
    /// A Parquet file.
    Parquet,
    /// An Arrow IPC stream.
    ArrowIpc,
}

impl Encoding {
    /// Every encoding, JSON first.
    pub const ALL: [Encoding; 4] = [Encoding::Json, Encoding::Csv, Encoding::Parquet, Encoding::ArrowIpc];

    /// Its media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Encoding::Csv => "text/csv; charset=utf-8",
            Encoding::Json => "application/json",
            Encoding::Parquet => "application/vnd.apache.parquet",
            Encoding::ArrowIpc => "application/vnd.apache.arrow.stream",
        }
    }

    /// Its short name (`csv`, `json`, `parquet`, `arrow`).
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Csv => "csv",
            Encoding::Json => "json",
            Encoding::Parquet => "parquet",
            Encoding::ArrowIpc => "arrow",
        }
    }

    /// The encoding of a short name or a media type (parameters ignored), if any.
    pub fn parse(text: &str) -> Option<Encoding> {
        let t = text.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        Encoding::ALL.into_iter().find(|e| {
            t == e.name()
                || t == e.media_type().split(';').next().unwrap_or_default()
                || (*e == Encoding::Parquet && t == "application/x-parquet")
        })
    }
}

/// Replace timestamp columns by RFC 3339 UTC strings.
pub fn times_as_text(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
        if let DataType::Timestamp(_, _) = field.data_type() {
            let secs = cast(col, &DataType::Timestamp(TimeUnit::Second, None))?;
            let secs = secs.as_primitive::<TimestampSecondType>();
            let mut text = StringBuilder::with_capacity(secs.len(), secs.len() * 20);
            let mut one = String::with_capacity(32);
            for i in 0..secs.len() {
                if secs.is_valid(i) {
                    one.clear();
                    crate::time::push_utc(secs.value(i), &mut one);
                    text.append_value(&one);
                } else {
                    text.append_null();
                }
            }
            let text: StringArray = text.finish();
            fields.push(Field::new(field.name(), DataType::Utf8, field.is_nullable()));
            columns.push(Arc::new(text));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(col.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// Write `batches` (of `schema`) to `out` in `encoding`; an empty list is a header, `[]`, or an
/// empty file. Errors of `out` keep their kind (a closed pipe stays a closed pipe).
pub fn write<W: Write + Send>(
    out: W,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    encoding: Encoding,
) -> std::io::Result<W> {
    let arrow_err = |e: ArrowError| match e {
        ArrowError::IoError(_, e) => e,
        e => std::io::Error::other(e),
    };
    match encoding {
        Encoding::Parquet => {
            let mut w =
                parquet::arrow::ArrowWriter::try_new(out, schema.clone(), None).map_err(std::io::Error::other)?;
            for b in batches {
                w.write(b).map_err(std::io::Error::other)?;
            }
            w.into_inner().map_err(std::io::Error::other)
        }
        Encoding::ArrowIpc => {
            let mut w = arrow::ipc::writer::StreamWriter::try_new(out, schema).map_err(arrow_err)?;
            for b in batches {
                w.write(b).map_err(arrow_err)?;
            }
            w.finish().map_err(arrow_err)?;
            w.into_inner().map_err(arrow_err)
        }
        Encoding::Csv => {
            let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(out);
            if batches.is_empty() {
                w.write(&times_as_text(&RecordBatch::new_empty(schema.clone())).map_err(arrow_err)?)
                    .map_err(arrow_err)?;
            }
            for b in batches {
                w.write(&times_as_text(b).map_err(arrow_err)?).map_err(arrow_err)?;
            }
            Ok(w.into_inner())
        }
        Encoding::Json => {
            // The writer opens the array on its first row, or in `finish` when there is none, so
            // an empty result is `[]` like any other.
            let mut w = arrow::json::ArrayWriter::new(out);
            for b in batches {
                w.write(&times_as_text(b).map_err(arrow_err)?).map_err(arrow_err)?;
            }
            w.finish().map_err(arrow_err)?;
            let mut out = w.into_inner();
            out.write_all(b"\n")?;
            Ok(out)
        }
    }
}
