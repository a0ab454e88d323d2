//! Input files: finding them, recognising their type and streaming their rows.
//!
//! CSV (RFC 4180 via the `csv` crate, optionally gzip-compressed) and Parquet (via arrow's
//! reader) both become [`RawRow`]s carrying the original bytes or values plus a line number.
//! This module judges only the file (readable, right type, the needed header columns); whether a
//! row is acceptable is `validate`'s business.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampSecondType};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};
use crate::model::col;

/// Kind of an input file, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `.csv`
    Csv,
    /// `.csv.gz`
    CsvGz,
    /// `.parquet`
    Parquet,
}

impl FileKind {
    /// Recognise a check-in file by its extension.
    pub fn of(path: &Path) -> Option<FileKind> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.ends_with(".csv.gz") {
            Some(FileKind::CsvGz)
        } else if name.ends_with(".csv") {
            Some(FileKind::Csv)
        } else if name.ends_with(".parquet") || name.ends_with(".pq") {
            Some(FileKind::Parquet)
        } else {
            None
        }
    }
}

/// The input files of an ingest, and what the walk had to say about the directories.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Check-in files, in the order they are read.
    pub files: Vec<PathBuf>,
    /// Things skipped on the way, each said once (a symbolic-link loop, an unreadable entry).
    pub warnings: Vec<String>,
}

/// Expand the paths given to ingest: files as they are, directories to the check-in files
/// below them (recursively, following symbolic links, sorted by path). Unknown file types are
/// an error when named directly and skipped inside directories. A link back to a directory
/// being walked (`dir/self -> ../dir`) is a loop: it is not entered, and a warning says so.
pub fn expand(paths: &[PathBuf]) -> Result<Inputs> {
    let mut out = Inputs::default();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(Error::io(p))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            for entry in walkdir::WalkDir::new(p).follow_links(true).sort_by_file_name() {
                match entry {
                    Ok(e) if e.file_type().is_file() && FileKind::of(e.path()).is_some() => found.push(e.into_path()),
                    Ok(_) => {}
                    Err(e) => match (e.loop_ancestor(), e.path()) {
                        (Some(ancestor), Some(link)) => out.warnings.push(format!(
                            "{}: a symbolic link back to {}, a directory already being read; not followed",
                            link.display(),
                            ancestor.display()
                        )),
                        _ => {
                            let path = e.path().unwrap_or(p).to_path_buf();
                            let io = e.into_io_error().unwrap_or_else(|| std::io::Error::other("walk failed"));
                            return Err(Error::Io { path, source: io });
                        }
                    },
                }
            }
            if found.is_empty() {
                return Err(Error::bad_input(p, "directory holds no .csv, .csv.gz or .parquet files"));
            }
            found.sort();
            out.files.extend(found);
        } else if FileKind::of(p).is_some() {
            out.files.push(p.clone());
        } else {
            return Err(Error::bad_input(p, "unsupported file type: expected .csv, .csv.gz or .parquet"));
        }
    }
    Ok(out)
}

/// A time field as found in the input.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TimeField<'a> {
    /// Text to parse (CSV, or a string column in Parquet). Empty means missing.
    Text(&'a [u8]),
    /// Already a timestamp (Parquet), `None` when null.
    Seconds(Option<i64>),
}

/// One input row before validation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawRow<'a> {
    /// 1-based line (CSV) or row number (Parquet).
    pub line: u64,
    /// Byte offset of the row in the (decompressed) file; CSV only.
    pub byte: u64,
    pub person: Option<&'a [u8]>,
    pub venue: Option<&'a [u8]>,
    pub check_in: TimeField<'a>,
    pub check_out: TimeField<'a>,
    /// Set when the row has the wrong number of fields.
    pub field_count: Option<(usize, usize)>,
}

/// A file's bytes as read: counted for progress, and hashed when asked.
struct Counting<'h, R> {
    inner: R,
    counter: Arc<AtomicU64>,
    hasher: Option<&'h mut blake3::Hasher>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// Open a CSV file (gzip-decoded if `.csv.gz`) as a byte stream; the file's bytes (before
/// decoding) also go through `hasher` when one is given.
pub(crate) fn open_text<'h>(
    path: &Path,
    kind: FileKind,
    counter: Arc<AtomicU64>,
    hasher: Option<&'h mut blake3::Hasher>,
) -> Result<Box<dyn Read + Send + 'h>> {
    let file = File::open(path).map_err(Error::io(path))?;
    let counting = Counting { inner: BufReader::with_capacity(1 << 20, file), counter, hasher };
    Ok(match kind {
        FileKind::CsvGz => Box::new(flate2::read::MultiGzDecoder::new(counting)),
        _ => Box::new(counting),
    })
}

/// The column names of a CSV header as compared: a leading byte-order mark dropped, trimmed,
/// lower case.
pub(crate) fn header_names(header: &csv::ByteRecord) -> Vec<String> {
    header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let h = if i == 0 { h.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(h) } else { h };
            String::from_utf8_lossy(h).trim().to_ascii_lowercase()
        })
        .collect()
}

/// The columns of a check-in file (`col::INPUT`) or of a scan file (`SCAN_INPUT`): three
/// required, the fourth optional.
pub(crate) type Columns = [&'static str; 4];

/// The columns of a raw scan log (`ingest --scans`).
pub(crate) const SCAN_INPUT: Columns = [col::PERSON_ID, col::VENUE_ID, "scanned_at", "direction"];

/// How the columns are listed in messages: `person_id,venue_id,check_in[,check_out]`.
fn expected(columns: &Columns) -> String {
    format!("{},{},{}[,{}]", columns[0], columns[1], columns[2], columns[3])
}

fn header_index(path: &Path, header: &csv::ByteRecord, columns: &Columns) -> Result<[Option<usize>; 4]> {
    let names = header_names(header);
    let mut idx = [None; 4];
    for (slot, name) in idx.iter_mut().zip(columns) {
        *slot = names.iter().position(|h| h == name);
    }
    let missing: Vec<&str> = columns[..3].iter().zip(&idx).filter(|(_, i)| i.is_none()).map(|(n, _)| *n).collect();
    if !missing.is_empty() {
        return Err(Error::bad_input(
            path,
            format!(
                "line 1: header lacks column(s) {}; found [{}]; expected {}",
                missing.join(", "),
                names.join(","),
                expected(columns)
            ),
        ));
    }
    Ok(idx)
}

/// Stream a CSV file's rows to `f`.
pub(crate) fn read_csv(
    path: &Path,
    kind: FileKind,
    counter: Arc<AtomicU64>,
    columns: &Columns,
    f: &mut dyn FnMut(RawRow<'_>),
    hasher: Option<&mut blake3::Hasher>,
) -> Result<()> {
    let mut text = open_text(path, kind, counter, hasher)?;
    read_csv_from(&mut text, path, kind, columns, f)?;
    // Whatever the CSV reader left unread is hashed too.
    std::io::copy(&mut text, &mut std::io::sink()).map_err(Error::io(path))?;
    Ok(())
}

/// Stream the rows of CSV text (decoded already; `path` and `kind` for messages and checks).
pub(crate) fn read_csv_from(
    reader: impl Read,
    path: &Path,
    kind: FileKind,
    columns: &Columns,
    f: &mut dyn FnMut(RawRow<'_>),
) -> Result<()> {
    let mut csv =
        csv::ReaderBuilder::new().flexible(true).has_headers(false).buffer_capacity(1 << 20).from_reader(reader);
    let csv_err = |e: csv::Error| match e.kind() {
        csv::ErrorKind::Io(io) => Error::bad_input(path, format!("unreadable: {io}")),
        _ => Error::bad_input(path, format!("unreadable CSV: {e}")),
    };
    let mut rec = csv::ByteRecord::new();
    if !csv.read_byte_record(&mut rec).map_err(csv_err)? {
        return Err(Error::bad_input(path, format!("empty file: expected a header row {}", expected(columns))));
    }
    let idx = header_index(path, &rec, columns)?;
    if kind != FileKind::CsvGz && rec.as_slice().contains(&0) {
        return Err(Error::bad_input(path, "binary data where a CSV header was expected: wrong file type?"));
    }
    let width = rec.len();
    while csv.read_byte_record(&mut rec).map_err(csv_err)? {
        let pos = rec.position().expect("records read from a reader have positions");
        let get = |i: Option<usize>| i.and_then(|i| rec.get(i));
        f(RawRow {
            line: pos.line(),
            byte: pos.byte(),
            person: get(idx[0]),
            venue: get(idx[1]),
            check_in: TimeField::Text(get(idx[2]).unwrap_or(b"")),
            check_out: TimeField::Text(get(idx[3]).unwrap_or(b"")),
            field_count: (rec.len() != width).then_some((width, rec.len())),
        });
    }
    Ok(())
}

/// Re-reads the verbatim bytes of CSV rows, given as `[start, end)` byte ranges of the decoded
/// stream in ascending order, in one forward pass over the file.
pub(crate) struct Verbatim {
    path: PathBuf,
    raw: Box<dyn Read + Send>,
    pos: u64,
    text: Vec<u8>,
}

impl Verbatim {
    pub(crate) fn open(path: &Path, kind: FileKind) -> Result<Verbatim> {
        let raw = open_text(path, kind, Arc::new(AtomicU64::new(0)), None)?;
        Ok(Verbatim { path: path.to_path_buf(), raw, pos: 0, text: Vec::new() })
    }

    /// The row at `[start, end)` (`end = None`: to the end of the file), without its line
    /// terminator. Rows must be asked for in ascending order.
    pub(crate) fn row(&mut self, start: u64, end: Option<u64>) -> Result<String> {
        let io = |e| Error::io(&self.path)(e);
        let skip = start.checked_sub(self.pos).ok_or_else(|| Error::Internal("rows asked out of order".into()))?;
        std::io::copy(&mut (&mut self.raw).take(skip), &mut std::io::sink()).map_err(io)?;
        self.text.clear();
        (&mut self.raw).take(end.map_or(u64::MAX, |e| e - start)).read_to_end(&mut self.text).map_err(io)?;
        self.pos = start + self.text.len() as u64;
        while matches!(self.text.last(), Some(b'\n' | b'\r')) {
            self.text.pop();
        }
        Ok(String::from_utf8_lossy(&self.text).into_owned())
    }
}

/// Columns of a Parquet input, normalised for row access.
enum PqTime {
    Seconds(arrow::array::PrimitiveArray<TimestampSecondType>),
    Int(arrow::array::PrimitiveArray<Int64Type>),
    Text(arrow::array::StringArray),
    Absent,
}

impl PqTime {
    fn from(path: &Path, name: &str, a: Option<&arrow::array::ArrayRef>) -> Result<PqTime> {
        let Some(a) = a else { return Ok(PqTime::Absent) };
        let bad = |e: arrow::error::ArrowError| Error::bad_input(path, format!("column {name}: {e}"));
        Ok(match a.data_type() {
            DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => {
                let c = cast(a, &DataType::Timestamp(TimeUnit::Second, None)).map_err(bad)?;
                PqTime::Seconds(c.as_primitive::<TimestampSecondType>().clone())
            }
            DataType::Int64 | DataType::Int32 | DataType::UInt32 | DataType::UInt64 => {
                PqTime::Int(cast(a, &DataType::Int64).map_err(bad)?.as_primitive::<Int64Type>().clone())
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _) => {
                PqTime::Text(cast(a, &DataType::Utf8).map_err(bad)?.as_string::<i32>().clone())
            }
            other => {
                return Err(Error::bad_input(
                    path,
                    format!("column {name} has type {other}; expected a timestamp, integer seconds or text"),
                ));
            }
        })
    }

    fn get(&self, r: usize) -> TimeField<'_> {
        match self {
            PqTime::Seconds(a) => TimeField::Seconds(a.is_valid(r).then(|| a.value(r))),
            PqTime::Int(a) => TimeField::Seconds(a.is_valid(r).then(|| a.value(r))),
            PqTime::Text(a) => TimeField::Text(if a.is_valid(r) { a.value(r).as_bytes() } else { b"" }),
            PqTime::Absent => TimeField::Seconds(None),
        }
    }
}

fn string_column(path: &Path, batch: &RecordBatch, name: &str) -> Result<arrow::array::StringArray> {
    let a = batch.column_by_name(name).ok_or_else(|| Error::bad_input(path, format!("missing column {name}")))?;
    let c = cast(a, &DataType::Utf8).map_err(|e| Error::bad_input(path, format!("column {name}: {e}")))?;
    Ok(c.as_string::<i32>().clone())
}

/// Stream a Parquet file's rows to `f`.
pub(crate) fn read_parquet(
    path: &Path,
    counter: Arc<AtomicU64>,
    columns: &Columns,
    f: &mut dyn FnMut(RawRow<'_>),
) -> Result<()> {
    let file = File::open(path).map_err(Error::io(path))?;
    let len = file.metadata().map_err(Error::io(path))?.len();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::bad_input(path, format!("not a readable Parquet file: {e}")))?;
    let schema = builder.schema().clone();
    let missing: Vec<&str> = columns[..3].iter().copied().filter(|c| schema.field_with_name(c).is_err()).collect();
    if !missing.is_empty() {
        return Err(Error::bad_input(
            path,
            format!("missing column(s) {}; expected {}", missing.join(", "), expected(columns)),
        ));
    }
    let total_rows = builder.metadata().file_metadata().num_rows().max(1) as u64;
    let reader = builder.with_batch_size(64 * 1024).build().map_err(|e| Error::bad_input(path, e.to_string()))?;
    let mut line = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| Error::bad_input(path, format!("unreadable Parquet data: {e}")))?;
        let person = string_column(path, &batch, columns[0])?;
        let venue = string_column(path, &batch, columns[1])?;
        let ci = PqTime::from(path, columns[2], batch.column_by_name(columns[2]))?;
        let co = PqTime::from(path, columns[3], batch.column_by_name(columns[3]))?;
        for r in 0..batch.num_rows() {
            line += 1;
            f(RawRow {
                line,
                byte: 0,
                person: person.is_valid(r).then(|| person.value(r).as_bytes()),
                venue: venue.is_valid(r).then(|| venue.value(r).as_bytes()),
                check_in: ci.get(r),
                check_out: co.get(r),
                field_count: None,
            });
        }
        counter.fetch_add(len * batch.num_rows() as u64 / total_rows, Ordering::Relaxed);
    }
    Ok(())
}
