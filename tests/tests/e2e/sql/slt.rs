//! Golden SQL: the `.slt` files of `tests/slt/` run with the `sqllogictest` crate over a
//! [`Session`] on the hand-written fixture store (`tests/fixtures/sql`, see `fixture_store`).
//! Owns the runner and the value formatting; the expected results live in the `.slt` files,
//! whose numbers were checked by hand against the fixture CSVs and the assertions of `sql.rs`.
//!
//! # Canned queries: `\i FILE NAME=VALUE ...`
//! A statement of the form
//!
//! ```text
//! [PREFIX] \i FILE [NAME=VALUE ...]
//! ```
//!
//! runs `queries/FILE` exactly as it ships, its `:NAME` parameters bound with
//! [`bind_params`] (so every value is a string literal, as with `truyvet sql --param`). The
//! file must hold one statement. A `VALUE` holding spaces or nothing is written in single
//! quotes (`f0s='F0A, F0B'`, `''`), a quote inside doubled. `PREFIX`, if any, is put before
//! the statement: `EXPLAIN \i top_venues.sql limit=3` shows the plan of the canned query.
//! Anything else is plain SQL.
//!
//! # Values
//! `NULL` for nulls, `(empty)` for empty strings, timestamps as Arrow displays them (RFC 3339
//! with `Z` for the store's UTC columns; without an offset for zone-less ones, e.g.
//! `generate_series` hours), floats with [`FLOAT_DECIMALS`] decimals. Column types: `I` for
//! integers, `R` for floats and decimals, `T` for everything else; they are checked.
//! `EXPLAIN` results give one row per plan line, `plan_type line`, the indentation written as
//! one `-` per space and the fixture store's path as `STORE`, so that `<slt:ignore>` fragments
//! can pin the lines proving pruning (file lists, `pruning_predicate`, pruning metrics)
//! without the rest of the plan.
//!
//! The session has 2 threads (`SessionOptions::default().threads(2)`), fixed because plans
//! (file groups, repartitioning) depend on the thread count; results do not.
//!
//! # Updating
//! `TRUYVET_SLT_UPDATE=1 cargo test -p truyvet-tests --test e2e sql::slt` rewrites the
//! expected results of every file with what the session returns (records that already pass,
//! `<slt:ignore>` ones included, are kept as written). Read every changed line before
//! committing: a golden file that records whatever the code prints proves nothing.

use std::fmt;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float16Type, Float32Type, Float64Type, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use sqllogictest::{DB, DBOutput, DefaultColumnType, Runner, default_normalizer, default_validator};
use truyvet::Snapshot;
use truyvet::sql::{Session, SessionOptions, bind_params, split_statements};

use super::{fixture_store, queries_dir};

/// Decimals of every float in results: enough for the fixture's coordinates and percentages,
/// few enough that results do not depend on the last bits of a sum's order.
const FLOAT_DECIMALS: usize = 4;

/// The environment variable that turns checking into rewriting the expected results.
const UPDATE_ENV: &str = "TRUYVET_SLT_UPDATE";

fn slt_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("slt")
}

/// An error of the DB under test: the session's, or a malformed `\i` statement.
#[derive(Debug)]
struct SltError(String);

impl fmt::Display for SltError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

/// The database under test: one session over the fixture store.
struct FixtureDb {
    session: Session,
    /// The store's path as it appears in plans, replaced by `STORE`.
    store: String,
}

impl FixtureDb {
    fn open(snapshot: &Snapshot, store: &Path) -> Result<FixtureDb, SltError> {
        let session = Session::with_options(snapshot, SessionOptions::default().threads(2))
            .map_err(|e| SltError(e.to_string()))?;
        // Plans name files as object-store paths, without the leading `/`.
        let store = store.to_string_lossy().trim_start_matches('/').to_string();
        Ok(FixtureDb { session, store })
    }
}

impl DB for FixtureDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let sql = match canned_statement(sql)? {
            Some(statement) => statement,
            None => sql.to_string(),
        };
        let (schema, batches) = self.session.query(&sql).map_err(|e| SltError(e.to_string()))?;
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = schema.fields().iter().map(|f| column_type(f.data_type())).collect();
        let mut rows = format_rows(&batches)?;
        if is_explain(&schema) {
            rows = plan_lines(rows, &self.store);
        }
        Ok(DBOutput::Rows { types, rows })
    }

    fn engine_name(&self) -> &str {
        "truyvet"
    }
}

/// The SQL of a `[PREFIX] \i FILE NAME=VALUE ...` statement (see the module docs), or `None`
/// for plain SQL.
fn canned_statement(sql: &str) -> Result<Option<String>, SltError> {
    let sql = sql.trim();
    let Some((prefix, rest)) = sql.split_once("\\i ").filter(|(p, _)| p.is_empty() || p.ends_with(char::is_whitespace))
    else {
        return Ok(None);
    };
    let bad = |why: &str| SltError(format!("{why} in `{sql}`; the form is `[PREFIX] \\i FILE [NAME=VALUE ...]`"));
    let mut words = split_words(rest).map_err(|e| bad(&e))?.into_iter();
    let file = words.next().ok_or_else(|| bad("no file"))?;
    let mut params = Vec::new();
    for word in words {
        let (name, value) = word.split_once('=').ok_or_else(|| bad(&format!("`{word}` is not NAME=VALUE")))?;
        params.push((name.to_string(), value.to_string()));
    }
    let path = queries_dir().join(&file);
    let text = std::fs::read_to_string(&path).map_err(|e| SltError(format!("{}: {e}", path.display())))?;
    let bound = bind_params(&text, &params).map_err(|e| SltError(format!("{file}: {e}")))?;
    match split_statements(&bound).as_slice() {
        [statement] => Ok(Some(format!("{prefix}{statement}"))),
        other => Err(SltError(format!("{file} holds {} statements, want 1", other.len()))),
    }
}

/// Split at whitespace outside single quotes; quotes are removed, `''` inside them is a quote.
fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            w.push('\'');
                        }
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("an unclosed quote".into()),
                    }
                }
            }
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

fn column_type(t: &DataType) -> DefaultColumnType {
    match t {
        t if t.is_integer() => DefaultColumnType::Integer,
        t if t.is_floating() => DefaultColumnType::FloatingPoint,
        DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..) => {
            DefaultColumnType::FloatingPoint
        }
        _ => DefaultColumnType::Text,
    }
}

/// Every value of every row as text (see the module docs).
fn format_rows(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, SltError> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SltError(e.to_string()))?;
        for row in 0..batch.num_rows() {
            let values = batch.columns().iter().zip(&formatters).map(|(column, formatter)| {
                if column.is_null(row) {
                    return "NULL".to_string();
                }
                let text = match float_value(column.as_ref(), row) {
                    Some(x) => format_float(x),
                    None => formatter.value(row).to_string(),
                };
                if text.is_empty() { "(empty)".to_string() } else { text }
            });
            rows.push(values.collect());
        }
    }
    Ok(rows)
}

fn float_value(column: &dyn Array, row: usize) -> Option<f64> {
    match column.data_type() {
        DataType::Float16 => Some(column.as_primitive::<Float16Type>().value(row).to_f64()),
        DataType::Float32 => Some(f64::from(column.as_primitive::<Float32Type>().value(row))),
        DataType::Float64 => Some(column.as_primitive::<Float64Type>().value(row)),
        _ => None,
    }
}

fn format_float(x: f64) -> String {
    let text = format!("{x:.FLOAT_DECIMALS$}");
    // -0.0000 and 0.0000 are the same answer.
    if text.trim_start_matches('-').trim_start_matches(['0', '.']).is_empty() {
        text.trim_start_matches('-').to_string()
    } else {
        text
    }
}

/// Whether a result is DataFusion's `EXPLAIN [ANALYZE]` output.
fn is_explain(schema: &SchemaRef) -> bool {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    names == ["plan_type", "plan"]
}

/// One row per plan line: leading spaces as `-`, the store's path as `STORE`.
fn plan_lines(rows: Vec<Vec<String>>, store: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for row in rows {
        let [plan_type, plan] = <[String; 2]>::try_from(row).expect("EXPLAIN has two columns");
        for line in plan.lines().filter(|l| !l.trim().is_empty()) {
            let body = line.trim_start();
            let indent = "-".repeat(line.len() - body.len());
            out.push(vec![plan_type.clone(), format!("{indent}{}", body.replace(store, "STORE"))]);
        }
    }
    out
}

/// The `.slt` files, sorted.
fn slt_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(slt_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

#[test]
fn golden_sql_files_match() {
    let files = slt_files();
    // Every canned query has its golden file, which runs it.
    for entry in std::fs::read_dir(queries_dir()).unwrap() {
        let query = entry.unwrap().path();
        if query.extension().is_none_or(|e| e != "sql") {
            continue;
        }
        let name = query.file_name().unwrap().to_string_lossy().to_string();
        let golden = slt_dir().join(Path::new(&name).with_extension("slt"));
        let text = std::fs::read_to_string(&golden)
            .unwrap_or_else(|e| panic!("{name} has no golden file {}: {e}", golden.display()));
        assert!(text.contains(&format!("\\i {name}")), "{} never runs {name}", golden.display());
    }

    let (_dir, store, snapshot) = fixture_store();
    let update = std::env::var_os(UPDATE_ENV).is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for file in &files {
        let (snapshot, store) = (snapshot.clone(), store.clone());
        let mut runner = Runner::new(move || {
            let db = FixtureDb::open(&snapshot, &store);
            async move { db }
        });
        runner.with_column_validator(sqllogictest::strict_column_validator);
        let outcome = if update {
            futures::executor::block_on(runner.update_test_file(
                file,
                " ",
                default_validator,
                default_normalizer,
                sqllogictest::strict_column_validator,
            ))
            .map_err(|e| e.to_string())
        } else {
            runner.run_file(file).map_err(|e| e.display(false).to_string())
        };
        if let Err(e) = outcome {
            failures.push(format!("{}:\n{e}", file.display()));
        }
    }
    assert!(files.len() >= 10, "{} .slt files in {}", files.len(), slt_dir().display());
    assert!(
        failures.is_empty(),
        "{} of {} golden SQL files fail:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn canned_statements_parse_their_parameters() {
    assert_eq!(canned_statement("SELECT 1").unwrap(), None);
    let sql = canned_statement("\\i hotspots.sql f0s='F0A, O''Neil'").unwrap().unwrap();
    assert!(sql.starts_with("-- Question:") && sql.contains("string_to_array('F0A, O''Neil', ',')"), "{sql}");
    let sql = canned_statement("EXPLAIN \\i top_venues.sql limit=3").unwrap().unwrap();
    assert!(sql.starts_with("EXPLAIN -- Question:") && sql.contains("LIMIT CAST('3' AS BIGINT)"), "{sql}");
    for (bad, why) in [
        ("\\i top_venues.sql", ":limit"),
        ("\\i top_venues.sql limit", "not NAME=VALUE"),
        ("\\i hotspots.sql f0s='F0A", "unclosed quote"),
        ("\\i nothing.sql", "nothing.sql"),
    ] {
        let err = canned_statement(bad).unwrap_err().to_string();
        assert!(err.contains(why), "{bad}: {err}");
    }
    assert_eq!(format_float(-0.00001), "0.0000");
    assert_eq!(format_float(33.333_333), "33.3333");
}
