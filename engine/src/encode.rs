//! Arrow answers as bytes, for people and for other programs: CSV and JSON (timestamps as
//! RFC 3339 UTC text, `2021-08-01T01:15:00Z`), Parquet, and the Arrow IPC stream. The CLI and
//! the server write every list through here, so a list reads the same from both.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit, TimestampSecondType, UInt64Type};
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
            let (mut one, mut utc) = (String::with_capacity(32), crate::time::UtcText::default());
            for i in 0..secs.len() {
                if secs.is_valid(i) {
                    one.clear();
                    utc.push(secs.value(i), &mut one);
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
/// empty file. Errors of `out` keep their kind (a closed pipe stays a closed pipe), but where
/// CSV goes through arrow's writer (a column type [`plain`] does not take), which
/// reports them as text; the CLI's output keeps the kind itself.
pub fn write<W: Write + Send>(
    out: W,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    encoding: Encoding,
) -> std::io::Result<W> {
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
        Encoding::Csv | Encoding::Json if plain_batches(schema, batches) => {
            let mut out = out;
            let mut lines = Vec::with_capacity(BLOCK + BLOCK / 8);
            plain(&mut lines, encoding, schema, batches, |lines| {
                if lines.len() >= BLOCK {
                    out.write_all(lines)?;
                    lines.clear();
                }
                Ok(())
            })?;
            out.write_all(&lines)?;
            Ok(out)
        }
        Encoding::Csv => write_arrow_csv(out, schema, batches),
        Encoding::Json => write_arrow_json(out, batches),
    }
}

/// [`write`] into a new buffer: for a list in CSV or JSON, the rows written straight into the
/// answer, which is sized for them first (a server's answer is one buffer, not one grown by
/// doubling).
pub fn to_vec(schema: &SchemaRef, batches: &[RecordBatch], encoding: Encoding) -> std::io::Result<Vec<u8>> {
    if !matches!(encoding, Encoding::Csv | Encoding::Json) || !plain_batches(schema, batches) {
        return write(Vec::new(), schema, batches, encoding);
    }
    let size = batches.iter().map(|b| plain_size(b, encoding)).sum::<usize>();
    let mut lines = Vec::with_capacity(size + 4096);
    plain(&mut lines, encoding, schema, batches, |_| Ok(()))?;
    Ok(lines)
}

/// Bytes held before [`write`] hands plain CSV or JSON rows to its output.
const BLOCK: usize = 64 << 10;

/// Whether [`plain`] writes `batches` of `schema`: plain types, and as many columns in each batch
/// (arrow's CSV writer refuses lines of another length, and answers that refusal).
fn plain_batches(schema: &SchemaRef, batches: &[RecordBatch]) -> bool {
    let columns = batches.first().map_or(schema.fields().len(), RecordBatch::num_columns);
    all_plain(schema) && batches.iter().all(|b| b.num_columns() == columns && all_plain(&b.schema()))
}

/// About how many bytes `batch` takes as plain CSV or JSON: its text's bytes, a typical width for
/// other values, and in JSON the names on every row (a guess, for sizing a buffer; a larger list
/// grows it). Only the batch's own rows count: a slice of a large array shares its buffers.
fn plain_size(batch: &RecordBatch, encoding: Encoding) -> usize {
    fn spanned<O: arrow::array::OffsetSizeTrait>(a: &arrow::array::GenericStringArray<O>) -> usize {
        let offsets = a.value_offsets();
        (offsets[offsets.len() - 1] - offsets[0]).as_usize()
    }
    let rows = batch.num_rows();
    let values: usize = batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Utf8 => spanned(c.as_string::<i32>()) + 2 * rows,
            DataType::LargeUtf8 => spanned(c.as_string::<i64>()) + 2 * rows,
            DataType::Utf8View => {
                c.as_string_view().views().iter().map(|v| *v as u32 as usize).sum::<usize>() + 2 * rows
            }
            DataType::Timestamp(_, _) => 20 * rows,
            _ => 8 * rows,
        })
        .sum();
    let names = match encoding {
        Encoding::Json => batch.schema().fields().iter().map(|f| f.name().len() + 4).sum::<usize>() + 2,
        _ => 0,
    };
    values + rows * (batch.num_columns() + names)
}

/// CSV by arrow's writer, timestamps as text first: any column type arrow can write.
fn write_arrow_csv<W: Write + Send>(out: W, schema: &SchemaRef, batches: &[RecordBatch]) -> std::io::Result<W> {
    let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(out);
    if batches.is_empty() {
        w.write(&times_as_text(&RecordBatch::new_empty(schema.clone())).map_err(arrow_err)?).map_err(arrow_err)?;
    }
    for b in batches {
        w.write(&times_as_text(b).map_err(arrow_err)?).map_err(arrow_err)?;
    }
    Ok(w.into_inner())
}

/// JSON by arrow's writer, timestamps as text first: any column type arrow can write. The writer
/// opens the array on its first row, or in `finish` when there is none, so an empty result is
/// `[]` like any other.
fn write_arrow_json<W: Write + Send>(out: W, batches: &[RecordBatch]) -> std::io::Result<W> {
    let mut w = arrow::json::ArrayWriter::new(out);
    for b in batches {
        w.write(&times_as_text(b).map_err(arrow_err)?).map_err(arrow_err)?;
    }
    w.finish().map_err(arrow_err)?;
    let mut out = w.into_inner();
    out.write_all(b"\n")?;
    Ok(out)
}

/// An Arrow error as I/O: an I/O error it wraps with its kind kept.
fn arrow_err(e: ArrowError) -> std::io::Error {
    match e {
        ArrowError::IoError(_, e) => e,
        e => std::io::Error::other(e),
    }
}

/// Whether [`plain`] writes every column of `schema`.
fn all_plain(schema: &Schema) -> bool {
    schema.fields().iter().all(|f| plain_type(f.data_type()).is_some())
}

/// The type a column of `data_type` is cast to before [`plain`] writes it (itself when no cast is
/// needed), or `None` when it writes no such column.
fn plain_type(data_type: &DataType) -> Option<DataType> {
    match data_type {
        DataType::Int8 | DataType::Int16 | DataType::Int32 => Some(DataType::Int64),
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => Some(DataType::UInt64),
        DataType::Timestamp(_, _) => Some(DataType::Timestamp(TimeUnit::Second, None)),
        t @ (DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Boolean
        | DataType::Int64
        | DataType::UInt64) => Some(t.clone()),
        _ => None,
    }
}

/// The rows of `batches` (of `schema`), whose columns are all of types [`plain_type`] takes,
/// appended to `lines` as CSV (a header, then a line a row) or as one JSON array of objects, the
/// bytes arrow's writers write after [`times_as_text`] (property tests hold them equal): each
/// value formatted straight into the row, CSV text quoted where the csv crate quotes it (csv-core
/// decides and escapes), JSON text escaped by serde_json, a JSON null left out of its object.
/// After each row, `row_done` may take the rows away.
///
/// Every list of a trace is of such columns. Arrow's CSV writer, which formats any type through
/// one dynamic formatter per value and wants timestamps turned into a column of strings first,
/// was a fifth of a loaded server's CPU; the csv crate's writer, which copies each record into its
/// own buffer and that into the output, most of what was left of writing a list; arrow's JSON
/// writer took twice what CSV takes now.
fn plain(
    lines: &mut Vec<u8>,
    encoding: Encoding,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    mut row_done: impl FnMut(&mut Vec<u8>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if encoding == Encoding::Json {
        let mut json = Json { rows: 0 };
        lines.push(b'[');
        for batch in batches {
            json.rows(lines, batch, &mut row_done)?;
        }
        lines.extend_from_slice(b"]\n");
        return Ok(());
    }
    let mut csv = Csv(csv_core::Writer::new());
    // The header as arrow's writer writes it: the first batch's names.
    let header = batches.first().map_or_else(|| schema.clone(), RecordBatch::schema);
    let start = lines.len();
    for (i, f) in header.fields().iter().enumerate() {
        if i > 0 {
            lines.push(b',');
        }
        csv.text(lines, f.name());
    }
    csv.end(lines, start);
    row_done(lines)?;
    for batch in batches {
        csv.rows(lines, batch, &mut row_done)?;
    }
    Ok(())
}

/// One of the plain writers' formats: what goes around a row and its values.
trait Rows {
    /// Begin a row.
    fn begin(&mut self, lines: &mut Vec<u8>);
    /// Before column `i`'s value (`null`: it has none); `false`: write nothing of it.
    fn value(&mut self, lines: &mut Vec<u8>, i: usize, null: bool, name: &[u8], start: usize) -> bool;
    /// Text.
    fn text(&self, lines: &mut Vec<u8>, field: &str);
    /// An instant's text, which needs no quoting nor escaping.
    fn instant(&self, lines: &mut Vec<u8>, utc: &mut crate::time::UtcText, seconds: i64);
    /// End the row begun at `start`.
    fn end(&self, lines: &mut Vec<u8>, start: usize);
    /// A column's name as written before each of its values (JSON's `"name":`).
    fn name(&self, name: &str) -> Vec<u8>;

    /// The rows of `batch`.
    fn rows(
        &mut self,
        lines: &mut Vec<u8>,
        batch: &RecordBatch,
        row_done: &mut impl FnMut(&mut Vec<u8>) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        enum Column<'a> {
            Utf8(&'a StringArray),
            LargeUtf8(&'a arrow::array::LargeStringArray),
            Utf8View(&'a arrow::array::StringViewArray),
            Bool(&'a arrow::array::BooleanArray),
            Int(&'a arrow::array::Int64Array),
            UInt(&'a arrow::array::UInt64Array),
            Time(&'a arrow::array::TimestampSecondArray),
        }
        // A type it does not take is left as it is, for the match below to refuse.
        let cast_to = |c: &ArrayRef| match plain_type(c.data_type()) {
            Some(t) if &t != c.data_type() => cast(c, &t),
            _ => Ok(c.clone()),
        };
        let arrays =
            batch.columns().iter().map(cast_to).collect::<Result<Vec<_>, _>>().map_err(std::io::Error::other)?;
        let columns: Vec<Column<'_>> = arrays
            .iter()
            .map(|a| {
                Ok(match a.data_type() {
                    DataType::Utf8 => Column::Utf8(a.as_string()),
                    DataType::LargeUtf8 => Column::LargeUtf8(a.as_string()),
                    DataType::Utf8View => Column::Utf8View(a.as_string_view()),
                    DataType::Boolean => Column::Bool(a.as_boolean()),
                    DataType::Int64 => Column::Int(a.as_primitive::<Int64Type>()),
                    DataType::UInt64 => Column::UInt(a.as_primitive::<UInt64Type>()),
                    DataType::Timestamp(TimeUnit::Second, _) => Column::Time(a.as_primitive::<TimestampSecondType>()),
                    t => return Err(std::io::Error::other(format!("no plain CSV or JSON for {t}"))),
                })
            })
            .collect::<std::io::Result<_>>()?;
        // Each column's nulls once, not a dynamic call per value.
        let nulls: Vec<_> = arrays.iter().map(|a| a.logical_nulls()).collect();
        let names: Vec<Vec<u8>> = batch.schema().fields().iter().map(|f| self.name(f.name())).collect();
        let (mut digits, mut utc) = (itoa::Buffer::new(), crate::time::UtcText::default());
        for row in 0..batch.num_rows() {
            self.begin(lines);
            let start = lines.len();
            for (i, ((column, nulls), name)) in columns.iter().zip(&nulls).zip(&names).enumerate() {
                let null = nulls.as_ref().is_some_and(|n| n.is_null(row));
                if !self.value(lines, i, null, name, start) || null {
                    continue;
                }
                match column {
                    Column::Utf8(a) => self.text(lines, a.value(row)),
                    Column::LargeUtf8(a) => self.text(lines, a.value(row)),
                    Column::Utf8View(a) => self.text(lines, a.value(row)),
                    Column::Bool(a) => lines.extend_from_slice(if a.value(row) { b"true" } else { b"false" }),
                    Column::Int(a) => lines.extend_from_slice(digits.format(a.value(row)).as_bytes()),
                    Column::UInt(a) => lines.extend_from_slice(digits.format(a.value(row)).as_bytes()),
                    Column::Time(a) => self.instant(lines, &mut utc, a.value(row)),
                }
            }
            self.end(lines, start);
            row_done(lines)?;
        }
        Ok(())
    }
}

/// CSV rows, quoted where the writer says.
struct Csv(csv_core::Writer);

impl Rows for Csv {
    fn begin(&mut self, _: &mut Vec<u8>) {}

    fn value(&mut self, lines: &mut Vec<u8>, i: usize, _: bool, _: &[u8], _: usize) -> bool {
        if i > 0 {
            lines.push(b',');
        }
        true
    }

    /// Quoted, and its quotes doubled, where the writer says it must be.
    fn text(&self, lines: &mut Vec<u8>, field: &str) {
        let field = field.as_bytes();
        if !self.0.should_quote(field) {
            lines.extend_from_slice(field);
            return;
        }
        let at = lines.len();
        // Quotes around it, and at worst each byte a doubled quote.
        lines.resize(at + 2 * field.len() + 2, 0);
        lines[at] = b'"';
        let (_, _, n) = csv_core::quote(field, &mut lines[at + 1..], b'"', b'\\', true);
        lines[at + 1 + n] = b'"';
        lines.truncate(at + n + 2);
    }

    fn instant(&self, lines: &mut Vec<u8>, utc: &mut crate::time::UtcText, seconds: i64) {
        utc.push_bytes(seconds, lines);
    }

    /// A line with no bytes at all (one empty field) is written as `""`, so that it is not read
    /// back as no record.
    fn end(&self, lines: &mut Vec<u8>, start: usize) {
        if lines.len() == start {
            lines.extend_from_slice(b"\"\"");
        }
        lines.push(b'\n');
    }

    fn name(&self, _: &str) -> Vec<u8> {
        Vec::new()
    }
}

/// Objects of one JSON array: `rows` written so far.
struct Json {
    rows: usize,
}

impl Rows for Json {
    fn begin(&mut self, lines: &mut Vec<u8>) {
        if self.rows > 0 {
            lines.push(b',');
        }
        self.rows += 1;
        lines.push(b'{');
    }

    fn value(&mut self, lines: &mut Vec<u8>, _: usize, null: bool, name: &[u8], start: usize) -> bool {
        if null {
            return false;
        }
        if lines.len() > start {
            lines.push(b',');
        }
        lines.extend_from_slice(name);
        true
    }

    /// Escaped by serde_json, as arrow's writer escapes it.
    fn text(&self, lines: &mut Vec<u8>, field: &str) {
        serde::Serializer::serialize_str(&mut serde_json::Serializer::new(&mut *lines), field)
            .expect("writing to a Vec cannot fail");
    }

    fn instant(&self, lines: &mut Vec<u8>, utc: &mut crate::time::UtcText, seconds: i64) {
        lines.push(b'"');
        utc.push_bytes(seconds, lines);
        lines.push(b'"');
    }

    fn end(&self, lines: &mut Vec<u8>, _: usize) {
        lines.push(b'}');
    }

    fn name(&self, name: &str) -> Vec<u8> {
        let mut quoted = Vec::with_capacity(name.len() + 3);
        serde::Serializer::serialize_str(&mut serde_json::Serializer::new(&mut quoted), name)
            .expect("writing to a Vec cannot fail");
        quoted.push(b':');
        quoted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        BooleanArray, Int8Array, Int16Array, Int32Array, Int64Array, LargeStringArray, StringViewArray,
        TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray,
        UInt8Array, UInt16Array, UInt32Array, UInt64Array,
    };
    use proptest::prelude::*;

    /// A column of one of the types the plain writer takes, `rows` long, some values null.
    fn column(kind: u8, rows: usize) -> impl Strategy<Value = ArrayRef> {
        let text = proptest::collection::vec(
            proptest::option::of("[a-zA-Z0-9 ,;\"\r\n\t\\\\/\u{1}\u{7f}đàẵ]{0,6}|[a-z\"]{20,40}"),
            rows,
        );
        let ints = proptest::collection::vec(proptest::option::of(any::<i64>()), rows);
        let times = proptest::collection::vec(proptest::option::of(-400_000_000_000i64..400_000_000_000), rows);
        (text, ints, times).prop_map(move |(text, ints, times)| -> ArrayRef {
            let small = |m: i64| ints.iter().map(move |v| v.map(|v| v.rem_euclid(m)));
            match kind {
                0 => Arc::new(text.iter().map(|t| t.as_deref()).collect::<StringArray>()),
                1 => Arc::new(text.iter().map(|t| t.as_deref()).collect::<LargeStringArray>()),
                2 => Arc::new(text.iter().map(|t| t.as_deref()).collect::<StringViewArray>()),
                3 => Arc::new(ints.iter().map(|v| v.map(|v| v % 2 == 0)).collect::<BooleanArray>()),
                4 => Arc::new(small(256).map(|v| v.map(|v| (v - 128) as i8)).collect::<Int8Array>()),
                5 => Arc::new(ints.iter().map(|v| v.map(|v| v as i32)).collect::<Int32Array>()),
                6 => Arc::new(ints.iter().copied().collect::<Int64Array>()),
                7 => Arc::new(small(65_536).map(|v| v.map(|v| v as u16)).collect::<UInt16Array>()),
                8 => Arc::new(ints.iter().map(|v| v.map(|v| v as u64)).collect::<UInt64Array>()),
                9 => Arc::new(times.iter().copied().collect::<TimestampSecondArray>().with_timezone("UTC")),
                12 => Arc::new(times.iter().copied().collect::<TimestampSecondArray>()),
                13 => Arc::new(
                    times
                        .iter()
                        .map(|t| t.map(|t| (t % 9_000_000_000) * 1_000_000_000 + 7))
                        .collect::<TimestampNanosecondArray>(),
                ),
                14 => Arc::new(small(65_536).map(|v| v.map(|v| (v - 32_768) as i16)).collect::<Int16Array>()),
                15 => Arc::new(small(256).map(|v| v.map(|v| v as u8)).collect::<UInt8Array>()),
                16 => Arc::new(ints.iter().map(|v| v.map(|v| v as u32)).collect::<UInt32Array>()),
                10 => Arc::new(times.iter().map(|t| t.map(|t| t * 1000 + 999)).collect::<TimestampMillisecondArray>()),
                11 => Arc::new(
                    times
                        .iter()
                        .map(|t| t.map(|t| t * 1_000_000 - 1))
                        .collect::<TimestampMicrosecondArray>()
                        .with_timezone("+07:00"),
                ),
                _ => Arc::new(text.iter().map(|t| t.as_deref()).collect::<StringArray>()),
            }
        })
    }

    fn batches() -> impl Strategy<Value = (SchemaRef, Vec<RecordBatch>)> {
        (proptest::collection::vec(0u8..17, 1..5), 0usize..12, 0usize..6)
            .prop_flat_map(|(kinds, rows, split)| {
                let columns: Vec<_> = kinds.iter().map(|&k| column(k, rows)).collect();
                (Just(kinds), columns, Just(split.min(rows)))
            })
            .prop_map(|(kinds, columns, split)| {
                let fields: Vec<Field> = columns
                    .iter()
                    .zip(&kinds)
                    .enumerate()
                    .map(|(i, (c, k))| {
                        Field::new(
                            if i == 0 { "a,\"b\"".to_string() } else { format!("c{i}_{k}") },
                            c.data_type().clone(),
                            true,
                        )
                    })
                    .collect();
                let schema = Arc::new(Schema::new(fields));
                let whole = RecordBatch::try_new(schema.clone(), columns).unwrap();
                let parts = vec![whole.slice(0, split), whole.slice(split, whole.num_rows() - split)];
                (schema, parts)
            })
    }

    proptest! {
        /// The plain writers write the bytes arrow's writers write, for every type they take,
        /// nulls, quotes and line breaks in text, empty batches and single columns.
        #[test]
        fn plain_csv_and_json_are_arrows((schema, batches) in batches()) {
            prop_assert!(all_plain(&schema), "the plain writer takes every generated type");
            let plain = write(Vec::new(), &schema, &batches, Encoding::Csv).map_err(|e| e.to_string());
            let arrow = write_arrow_csv(Vec::new(), &schema, &batches).map_err(|e| e.to_string());
            prop_assert_eq!(plain.map(String::from_utf8), arrow.clone().map(String::from_utf8));
            let whole = to_vec(&schema, &batches, Encoding::Csv).map_err(|e| e.to_string());
            prop_assert_eq!(whole.map(String::from_utf8), arrow.map(String::from_utf8));
            let arrow = write_arrow_json(Vec::new(), &batches).map_err(|e| e.to_string());
            let plain = write(Vec::new(), &schema, &batches, Encoding::Json).map_err(|e| e.to_string());
            prop_assert_eq!(plain.map(String::from_utf8), arrow.clone().map(String::from_utf8));
            let whole = to_vec(&schema, &batches, Encoding::Json).map_err(|e| e.to_string());
            prop_assert_eq!(whole.map(String::from_utf8), arrow.map(String::from_utf8));
            let none = write(Vec::new(), &schema, &[], Encoding::Json).unwrap();
            prop_assert_eq!(none, write_arrow_json(Vec::new(), &[]).unwrap());
            let none = write(Vec::new(), &schema, &[], Encoding::Csv).unwrap();
            prop_assert_eq!(none, write_arrow_csv(Vec::new(), &schema, &[]).unwrap());
        }
    }

    /// A list of many blocks reads the same written to an output as made whole, and as arrow
    /// writes it: quotes, line breaks, empty text and nulls across the blocks' edges.
    #[test]
    fn a_long_list_is_written_whole() {
        let texts = ["09", "", "a \"quoted\" name", "two\nlines", "đà, nẵng"];
        let text: StringArray = (0..30_000).map(|i| (i % 7 != 3).then(|| texts[i % texts.len()])).collect();
        let times =
            TimestampSecondArray::from_iter((0..30_000).map(|i: i64| (i % 5 != 0).then_some(1_627_776_000 + i * 97)));
        let batch = RecordBatch::try_from_iter([
            ("name", Arc::new(text) as ArrayRef),
            ("at", Arc::new(times.with_timezone("UTC")) as ArrayRef),
        ])
        .unwrap();
        let (schema, batches) = (batch.schema(), [batch.clone(), batch]);
        let arrow = write_arrow_csv(Vec::new(), &schema, &batches).unwrap();
        assert!(arrow.len() > 4 * BLOCK, "the list spans blocks");
        assert_eq!(write(Vec::new(), &schema, &batches, Encoding::Csv).unwrap(), arrow);
        assert_eq!(to_vec(&schema, &batches, Encoding::Csv).unwrap(), arrow);
        let arrow = write_arrow_json(Vec::new(), &batches).unwrap();
        assert_eq!(write(Vec::new(), &schema, &batches, Encoding::Json).unwrap(), arrow);
        assert_eq!(to_vec(&schema, &batches, Encoding::Json).unwrap(), arrow);
    }

    /// A slice of a large list is sized by its own rows, not by the buffers it shares with the
    /// rest (a server's SQL answer is often slices of one large batch).
    #[test]
    fn a_slice_is_sized_by_its_own_rows() {
        let ids: StringArray = (0..100_000).map(|i| Some(format!("person-{i:010}"))).collect();
        let views: StringViewArray = ids.iter().collect();
        let batch =
            RecordBatch::try_from_iter([("id", Arc::new(ids) as ArrayRef), ("view", Arc::new(views) as ArrayRef)])
                .unwrap();
        for e in [Encoding::Csv, Encoding::Json] {
            assert!(plain_size(&batch, e) > 3_000_000, "{e:?}: {}", plain_size(&batch, e));
            let slice = plain_size(&batch.slice(50_000, 10), e);
            assert!((300..1_000).contains(&slice), "{e:?}: {slice}");
        }
    }

    /// Batches of different widths are refused in CSV, as arrow's writer refuses them.
    #[test]
    fn csv_lines_of_different_lengths_are_refused() {
        let one = |name: &str| (name.to_string(), Arc::new(Int64Array::from(vec![1])) as ArrayRef);
        let wide = RecordBatch::try_from_iter([one("a"), one("b")]).unwrap();
        let narrow = RecordBatch::try_from_iter([one("a")]).unwrap();
        let batches = [wide.clone(), narrow];
        assert!(write_arrow_csv(Vec::new(), &wide.schema(), &batches).is_err());
        assert!(write(Vec::new(), &wide.schema(), &batches, Encoding::Csv).is_err());
        assert!(to_vec(&wide.schema(), &batches, Encoding::Csv).is_err());
    }

    /// A writer that takes `room` bytes, then fails as a closed pipe does.
    struct Closed {
        room: usize,
    }

    impl Write for Closed {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.room < buf.len() {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            self.room -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A closed pipe under the plain CSV writer is a closed pipe to the caller, mid-list or at
    /// the end.
    #[test]
    fn plain_csv_keeps_the_kind_of_an_output_error() {
        let ids: StringArray = (0..20_000).map(|i| Some(format!("09{i:08}"))).collect();
        let batch = RecordBatch::try_from_iter([("person_id", Arc::new(ids) as ArrayRef)]).unwrap();
        for room in [0, 100, 20_000, 100_000, 200_000] {
            let err = write(Closed { room }, &batch.schema(), std::slice::from_ref(&batch), Encoding::Csv).err();
            assert_eq!(err.map(|e| e.kind()), Some(std::io::ErrorKind::BrokenPipe), "room {room}");
        }
    }
}
