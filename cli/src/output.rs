//! The one output encoder: Arrow record batches → table, CSV, JSON or Parquet, to stdout or a
//! file. Timestamps are written as RFC 3339 UTC (`2021-08-01T01:15:00Z`) in every text format.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use crate::cmd::usage;
use anyhow::{Context, Result};
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampSecondType};
use arrow::util::display::{ArrayFormatter, FormatOptions};

/// How a report (ingest, stats, gen: one document, not rows) is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Readable text.
    Table,
    /// One JSON object (the library's report type, serialized).
    Json,
}

/// Print a report: `table` renders it, `json` serializes it.
pub fn report<T: serde::Serialize>(value: &T, format: ReportFormat, table: impl FnOnce() -> String) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        ReportFormat::Json => serde_json::to_writer_pretty(&mut out, value)?,
        ReportFormat::Table => out.write_all(table().as_bytes())?,
    }
    writeln!(out)?;
    Ok(out.flush()?)
}

/// Output formats of rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A readable table (default on a terminal).
    Table,
    /// CSV with a header (default otherwise).
    Csv,
    /// A JSON array of objects.
    Json,
    /// Parquet (needs --output or a redirected stdout).
    Parquet,
}

impl Format {
    /// The format asked for, or the default for where stdout goes.
    pub fn or_default(f: Option<Format>, output: Option<&Path>) -> Format {
        f.unwrap_or(if output.is_none() && std::io::stdout().is_terminal() { Format::Table } else { Format::Csv })
    }
}

/// Replace timestamp columns by RFC 3339 UTC strings.
pub fn times_as_text(batch: &RecordBatch) -> Result<RecordBatch> {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
        if let DataType::Timestamp(_, _) = field.data_type() {
            let secs = cast(col, &DataType::Timestamp(TimeUnit::Second, None))?;
            let secs = secs.as_primitive::<TimestampSecondType>();
            let text: StringArray =
                (0..secs.len()).map(|i| secs.is_valid(i).then(|| truyvet::time::format_utc(secs.value(i)))).collect();
            fields.push(Field::new(field.name(), DataType::Utf8, field.is_nullable()));
            columns.push(Arc::new(text));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(col.clone());
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

fn sink(output: Option<&Path>) -> Result<Box<dyn Write + Send>> {
    Ok(match output {
        Some(p) => Box::new(std::io::BufWriter::new(
            File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    })
}

/// Write batches in `format`.
pub fn write(schema: &SchemaRef, batches: &[RecordBatch], format: Format, output: Option<&Path>) -> Result<()> {
    match format {
        Format::Parquet => {
            if output.is_none() && std::io::stdout().is_terminal() {
                usage!("--format parquet writes binary data: give --output FILE or redirect stdout");
            }
            let mut w = parquet::arrow::ArrowWriter::try_new(sink(output)?, schema.clone(), None)?;
            for b in batches {
                w.write(b)?;
            }
            w.into_inner()?.flush()?;
        }
        Format::Csv => {
            let failed = std::rc::Rc::new(std::cell::Cell::new(None));
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(Remember { inner: sink(output)?, failed: failed.clone() });
            let written = (|| -> Result<()> {
                if batches.is_empty() {
                    w.write(&times_as_text(&RecordBatch::new_empty(schema.clone()))?)?;
                }
                for b in batches {
                    w.write(&times_as_text(b)?)?;
                }
                Ok(())
            })();
            if let Some(kind) = failed.get() {
                // arrow's CSV writer reports I/O errors as text; the kind (a closed pipe) matters.
                // (Dropping the writer, not `into_inner`, which panics when its flush fails.)
                return Err(std::io::Error::from(kind).into());
            }
            written?;
            w.into_inner().flush()?;
        }
        Format::Json => {
            let mut out = sink(output)?;
            // The writer opens the array on its first row, or in `finish` when there is none, so
            // an empty result is `[]` like any other.
            let mut w = arrow::json::ArrayWriter::new(&mut out);
            for b in batches {
                w.write(&times_as_text(b)?)?;
            }
            w.finish()?;
            drop(w);
            out.write_all(b"\n")?;
            out.flush()?;
        }
        Format::Table => {
            let mut out = sink(output)?;
            writeln!(out, "{}", table(schema, batches)?)?;
            out.flush()?;
        }
    }
    Ok(())
}

/// A writer that remembers the kind of its first I/O error where its owner can see it.
struct Remember<W> {
    inner: W,
    failed: std::rc::Rc<std::cell::Cell<Option<std::io::ErrorKind>>>,
}

impl<W: Write> Write for Remember<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).inspect_err(|e| {
            if self.failed.get().is_none() {
                self.failed.set(Some(e.kind()));
            }
        })
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Render batches as a terminal table.
pub fn table(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<comfy_table::Table> {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    t.set_header(schema.fields().iter().map(|f| f.name().as_str()));
    let opts = FormatOptions::default().with_null("");
    for b in batches {
        let b = times_as_text(b)?;
        let fmts =
            b.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &opts)).collect::<Result<Vec<_>, _>>()?;
        for r in 0..b.num_rows() {
            t.add_row(fmts.iter().map(|f| f.value(r).to_string()));
        }
    }
    Ok(t)
}
