//! The interactive prompt of `truyvet sql`: a line editor with history (rustyline), statements
//! spanning lines until a `;`, Tab completion of names, backslash commands, and the time of each
//! statement.
//!
//! History lives in `$TRUYVET_HISTORY`, else `~/.truyvet_history`. With stdin not a terminal
//! the prompt reads statements from it without echo (handy for scripts and tests).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Editor, Helper};
use truyvet::sql::{Session, bind_params, is_complete, split_statements};

use super::Args;
use crate::output::{self, Format};

const HELP: &str = "\
Statements end with ';' and may span lines. Read-only: SELECT/WITH, EXPLAIN [ANALYZE], DESCRIBE, SHOW.
  \\d            list tables, views and table functions
  \\d NAME       columns of NAME
  \\q            quit (or Ctrl-D); Ctrl-C clears the current statement
  \\?            this help";

/// Line editor helper: a line is complete when it ends a statement or is a backslash command;
/// Tab completes table, column and function names and common keywords.
struct SqlHelper {
    words: Vec<String>,
}

impl SqlHelper {
    fn new(session: &Session) -> SqlHelper {
        const KEYWORDS: [&str; 24] = [
            "SELECT",
            "FROM",
            "WHERE",
            "GROUP BY",
            "ORDER BY",
            "HAVING",
            "LIMIT",
            "JOIN",
            "LEFT JOIN",
            "USING",
            "WITH",
            "DISTINCT",
            "COUNT",
            "EXPLAIN",
            "ANALYZE",
            "DESCRIBE",
            "AND",
            "OR",
            "NOT",
            "NULL",
            "CAST",
            "INTERVAL",
            "TIMESTAMP",
            "DATE",
        ];
        let mut words: Vec<String> = KEYWORDS.iter().map(|k| k.to_string()).collect();
        for t in session.tables() {
            words.push(t.name.clone());
            words.extend(t.schema.fields().iter().map(|f| f.name().clone()));
        }
        words.sort();
        words.dedup();
        SqlHelper { words }
    }
}

impl Validator for SqlHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        let input = ctx.input().trim();
        Ok(match input.is_empty() || input.starts_with('\\') || is_complete(input) {
            true => ValidationResult::Valid(None),
            false => ValidationResult::Incomplete,
        })
    }
}

impl Completer for SqlHelper {
    type Candidate = String;

    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<String>)> {
        let start = line[..pos].rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
        let word = &line[start..pos];
        if word.is_empty() {
            return Ok((pos, Vec::new()));
        }
        let upper = word.chars().next().is_some_and(char::is_uppercase);
        let found = self
            .words
            .iter()
            .filter(|w| w.len() > word.len() && w.to_ascii_lowercase().starts_with(&word.to_ascii_lowercase()))
            .map(|w| match w.chars().all(|c| !c.is_lowercase()) && !upper {
                true => w.to_ascii_lowercase(),
                false => w.clone(),
            })
            .collect();
        Ok((start, found))
    }
}
impl Hinter for SqlHelper {
    type Hint = String;
}
impl Highlighter for SqlHelper {}
impl Helper for SqlHelper {}

fn history_path() -> Option<PathBuf> {
    std::env::var_os("TRUYVET_HISTORY")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".truyvet_history")))
}

pub fn run(session: &Session, args: &Args) -> Result<ExitCode> {
    let mut rl: Editor<SqlHelper, DefaultHistory> = Editor::new()?;
    rl.set_helper(Some(SqlHelper::new(session)));
    let history = history_path();
    if let Some(h) = &history {
        let _ = rl.load_history(h); // a first run has none
    }
    let format = Format::or_default(args.format, args.output.as_deref());
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    if interactive {
        eprintln!("truyvet sql on {} (\\? for help, \\q to quit)", args.store.store.display());
    }
    let mut failed = false;
    loop {
        let entry = match rl.readline("truyvet> ") {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let _ = rl.add_history_entry(entry);
        if let Some(command) = entry.strip_prefix('\\') {
            match command.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["q"] | ["quit"] => break,
                ["d"] => describe_all(session, format)?,
                ["d", name] => describe(session, name, format)?,
                _ => eprintln!("{HELP}"),
            }
            continue;
        }
        let script = match bind_params(entry, &args.params) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
                continue;
            }
        };
        for statement in split_statements(&script) {
            let start = Instant::now();
            match session.query(statement) {
                Ok((schema, batches)) => {
                    let elapsed = start.elapsed();
                    output::write(&schema, &batches, format, args.output.as_deref())?;
                    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
                    eprintln!(
                        "({rows} row{}, {:.1} ms)",
                        if rows == 1 { "" } else { "s" },
                        elapsed.as_secs_f64() * 1e3
                    );
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    failed = true;
                    break;
                }
            }
        }
    }
    if let Some(h) = &history {
        let _ = rl.save_history(h); // history is a convenience; never fail the session for it
    }
    // Piped input that hit an error exits non-zero, like a script would.
    Ok(if failed && !interactive { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

fn text(values: impl IntoIterator<Item = String>) -> ArrayRef {
    Arc::new(values.into_iter().map(Some).collect::<StringArray>())
}

fn batch(names: &[&str], columns: Vec<ArrayRef>) -> Result<(Arc<Schema>, RecordBatch)> {
    let schema = Arc::new(Schema::new(names.iter().map(|n| Field::new(*n, DataType::Utf8, false)).collect::<Vec<_>>()));
    Ok((schema.clone(), RecordBatch::try_new(schema, columns)?))
}

/// `\d`: every table, view and table function with its columns.
fn describe_all(session: &Session, format: Format) -> Result<()> {
    let tables = session.tables();
    let names = tables.iter().map(|t| t.signature.clone().unwrap_or_else(|| t.name.clone()));
    let kinds = tables.iter().map(|t| t.kind.to_string());
    let columns =
        tables.iter().map(|t| t.schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", "));
    let (schema, b) = batch(&["name", "kind", "columns"], vec![text(names), text(kinds), text(columns)])?;
    output::write(&schema, &[b], format, None)
}

/// `\d NAME`: the columns of one table, view or table function.
fn describe(session: &Session, name: &str, format: Format) -> Result<()> {
    let tables = session.tables();
    let Some(t) = tables.iter().find(|t| t.name.eq_ignore_ascii_case(name)) else {
        let known: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        eprintln!("error: no table, view or table function named {name:?} (there are: {})", known.join(", "));
        return Ok(());
    };
    if let Some(sig) = &t.signature {
        eprintln!("{sig}");
    }
    let fields = t.schema.fields();
    let (schema, b) = batch(
        &["column", "type", "nullable"],
        vec![
            text(fields.iter().map(|f| f.name().clone())),
            text(fields.iter().map(|f| f.data_type().to_string())),
            text(fields.iter().map(|f| if f.is_nullable() { "yes" } else { "no" }.to_string())),
        ],
    )?;
    output::write(&schema, &[b], format, None)
}
