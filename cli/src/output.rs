//! The one output encoder: Arrow record batches → table, CSV, JSON or Parquet, to stdout or a
//! file. Timestamps are written as RFC 3339 UTC (`2021-08-01T01:15:00Z`) in every text format.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::Path;

use crate::cmd::usage;
use anyhow::{Context, Result};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use truyvet::encode::{self, Encoding};

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

/// A buffered writer to a file created at `output`, or to stdout.
pub fn sink(output: Option<&Path>) -> Result<Box<dyn Write + Send>> {
    Ok(match output {
        Some(p) => Box::new(std::io::BufWriter::new(
            File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    })
}

/// Write batches in `format` (CSV, JSON and Parquet through [`truyvet::encode`]).
pub fn write(schema: &SchemaRef, batches: &[RecordBatch], format: Format, output: Option<&Path>) -> Result<()> {
    let encoding = match format {
        Format::Table => {
            let mut out = sink(output)?;
            writeln!(out, "{}", table(schema, batches)?)?;
            return Ok(out.flush()?);
        }
        Format::Parquet => {
            if output.is_none() && std::io::stdout().is_terminal() {
                usage!("--format parquet writes binary data: give --output FILE or redirect stdout");
            }
            Encoding::Parquet
        }
        Format::Csv => Encoding::Csv,
        Format::Json => Encoding::Json,
    };
    let failed = std::sync::Arc::new(std::sync::OnceLock::new());
    let written = encode::write(Remember { inner: sink(output)?, failed: failed.clone() }, schema, batches, encoding);
    if let Some(&kind) = failed.get() {
        // Encoders may report I/O errors as text; the kind (a closed pipe) matters.
        return Err(std::io::Error::from(kind).into());
    }
    written?.flush()?;
    Ok(())
}

/// A writer that remembers the kind of its first I/O error where its owner can see it.
struct Remember<W> {
    inner: W,
    failed: std::sync::Arc<std::sync::OnceLock<std::io::ErrorKind>>,
}

impl<W: Write> Write for Remember<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).inspect_err(|e| {
            let _ = self.failed.set(e.kind());
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
        let b = encode::times_as_text(b)?;
        let fmts =
            b.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &opts)).collect::<Result<Vec<_>, _>>()?;
        for r in 0..b.num_rows() {
            t.add_row(fmts.iter().map(|f| f.value(r).to_string()));
        }
    }
    Ok(t)
}
