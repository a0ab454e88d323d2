//! `truyvet sql`: SQL over a store (DataFusion, read-only). A query argument or `-f FILE` runs
//! and prints each statement's result; without either, an interactive prompt (see `repl`).

mod repl;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use truyvet::Store;
use truyvet::sql::{Session, SessionOptions, bind_params, split_statements};

use super::StoreArg;
use super::usage;
use crate::output::{self, Format};

#[derive(Debug, clap::Args)]
#[command(after_help = "Tables: checkins, venues, cases, persons; table functions: f1_contacts(f0 [, from, to, \
linger_s, dwell_s, max_visit_s, min_overlap_s, rule, radius_s]), exposures(...), and over the cases register hotspots([from, to, min_cases, \
within_s]) and clusters([within_s, latency_s, min_size]). Read-only: only SELECT/WITH, EXPLAIN, DESCRIBE and SHOW run.\n\
Parameters: :name in the SQL becomes the --param value as a string literal ('...'); cast where a number is needed: CAST(:top AS BIGINT).")]
pub struct Args {
    #[command(flatten)]
    store: StoreArg,
    /// SQL to run (several statements separated by `;`). Without it and without -f: a prompt.
    #[arg(value_name = "SQL", conflicts_with = "file")]
    query: Option<String>,
    /// Run the statements of a .sql file (e.g. queries/top_venues.sql).
    #[arg(long, short = 'f', value_name = "FILE")]
    file: Option<PathBuf>,
    /// A value for :name in the SQL (repeatable): --param f0=0912345678.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE", value_parser = param)]
    params: Vec<(String, String)>,
    /// Output format (default: table on a terminal, CSV otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write the result to FILE instead of stdout (one statement only).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print each statement's row count and time to stderr (always on at the prompt).
    #[arg(long)]
    timing: bool,
    /// A rules file (as `truyvet trace --rules`): its rules become names f1_contacts' and
    /// exposures' `rule` argument takes, and its `overlap` their default.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Threads for DataFusion (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Run on the DataFusion Ballista cluster whose scheduler is at URL (`df://HOST:PORT`;
    /// `truyvet cluster scheduler` starts one). The store must be at the same path on every
    /// machine of the cluster. Needs a truyvet built with the `cluster` feature.
    #[arg(long, value_name = "URL")]
    cluster: Option<String>,
    /// Filter rows while decoding Parquet (DataFusion's pushdown_filters; for measurements).
    #[arg(long, value_name = "BOOL", hide = true)]
    pushdown_filters: Option<bool>,
    /// Intern runs of equal group keys once (the engine's RunAggregateExec; for measurements).
    #[arg(long, value_name = "BOOL", hide = true)]
    run_aggregation: Option<bool>,
}

fn param(s: &str) -> Result<(String, String), String> {
    truyvet::sql::parse_param(s).map_err(|e| e.to_string())
}

pub fn run(args: Args) -> Result<ExitCode> {
    let store = Store::open(&args.store.store)?;
    // Whoever can read the store's directory can read its audit log: here it is a table too.
    let mut options = SessionOptions::default().audit(true);
    if let Some(n) = args.threads {
        options = options.threads(n);
    }
    if let Some(on) = args.pushdown_filters {
        options = options.pushdown_filters(on);
    }
    if let Some(on) = args.run_aggregation {
        options = options.run_aggregation(on);
    }
    if let Some(path) = &args.rules {
        options = options.rules(truyvet::RuleBook::read(path)?);
    }
    options = options.cluster(args.cluster.clone());
    let session = Session::with_options(&store.snapshot(), options)?;
    let script = match (&args.query, &args.file) {
        (Some(q), _) => q.clone(),
        (None, Some(f)) => std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
        (None, None) => return repl::run(&session, &args),
    };
    let script = bind_params(&script, &args.params)?;
    let statements = split_statements(&script);
    if statements.is_empty() {
        usage!("no SQL statement to run");
    }
    if statements.len() > 1 && (args.output.is_some() || args.format == Some(Format::Parquet)) {
        usage!("--output and --format parquet take one statement; this SQL has {}", statements.len());
    }
    let format = Format::or_default(args.format, args.output.as_deref());
    for (i, statement) in statements.iter().enumerate() {
        if i > 0 && format != Format::Table {
            println!();
        }
        run_statement(&session, statement, format, &args, args.timing)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Run one statement and print its result (and, with `timing`, its row count and time).
fn run_statement(session: &Session, statement: &str, format: Format, args: &Args, timing: bool) -> Result<()> {
    let start = Instant::now();
    let (schema, batches) = session.query(statement)?;
    let elapsed = start.elapsed();
    print(&schema, &batches, format, args.output.as_deref())?;
    if timing {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        eprintln!("({rows} row{}, {:.1} ms)", if rows == 1 { "" } else { "s" }, elapsed.as_secs_f64() * 1e3);
    }
    Ok(())
}

fn print(schema: &SchemaRef, batches: &[RecordBatch], format: Format, output: Option<&std::path::Path>) -> Result<()> {
    output::write(schema, batches, format, output)
}
