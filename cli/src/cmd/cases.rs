//! `truyvet cases`: the cases register (import, add, list, remove).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use truyvet::cases::{self, CasesImport, CasesReport};
use truyvet::pseudonym::Key;
use truyvet::{Store, Tz};

use super::StoreArg;
use crate::output::{self, Format, ReportFormat};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Import case files (CSV, CSV.gz or Parquet: person_id, confirmed_at [, onset_at,
    /// sampled_at, isolated_at, case_id, note]); a changed row updates its case, an identical
    /// one changes nothing.
    Import(ImportArgs),
    /// Add or update one case.
    Add(AddArgs),
    /// List the register with each case's infectious window.
    List(ListArgs),
    /// Remove cases by id.
    Remove(RemoveArgs),
}

/// What every change of the register takes.
#[derive(Debug, clap::Args)]
struct ChangeArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Offset for timestamps written without one (e.g. +07:00).
    #[arg(long, default_value = "UTC", value_parser = super::ingest::parse_tz)]
    tz: Tz,
    /// Infectious window starts this long before onset (else sampling, else confirmation).
    #[arg(long, default_value = "2d", value_parser = super::duration)]
    lookback: i64,
    /// The key of a pseudonymised store: person ids become pseudonyms, notes are sealed.
    #[arg(long, value_name = "KEYFILE")]
    pseudonymise: Option<PathBuf>,
    /// Output format of the report (`json`: the library's `CasesReport`).
    #[arg(long, value_enum, default_value = "table")]
    format: ReportFormat,
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    #[command(flatten)]
    change: ChangeArgs,
    /// Refuse the whole import if more than this share of rows is rejected.
    #[arg(long, default_value_t = 0.01, value_name = "R")]
    max_reject_ratio: f64,
    /// Case files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct AddArgs {
    #[command(flatten)]
    change: ChangeArgs,
    /// The case's person id.
    #[arg(long)]
    person: String,
    /// When the case was confirmed.
    #[arg(long, value_name = "TIME")]
    confirmed: String,
    /// Symptom onset.
    #[arg(long, value_name = "TIME")]
    onset: Option<String>,
    /// Sample taken.
    #[arg(long, value_name = "TIME")]
    sampled: Option<String>,
    /// Isolation began.
    #[arg(long, value_name = "TIME")]
    isolated: Option<String>,
    /// Case id [default: the person id].
    #[arg(long = "case", value_name = "ID")]
    case_id: Option<String>,
    /// Free text.
    #[arg(long)]
    note: Option<String>,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Output format (default: table on a terminal, CSV otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct RemoveArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Case ids to remove.
    #[arg(required = true, value_name = "ID")]
    case_ids: Vec<String>,
}

fn importer(a: &ChangeArgs) -> Result<CasesImport> {
    let mut imp = CasesImport::new(&a.store.store).tz(a.tz).lookback(a.lookback);
    if let Some(path) = &a.pseudonymise {
        super::key::refuse_inside_store(path, &a.store.store)?;
        imp = imp.pseudonymise(Key::read(path)?);
    }
    Ok(imp)
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Import(a) => {
            let report = importer(&a.change)?.max_reject_ratio(a.max_reject_ratio).import(&a.files)?;
            print(&report, a.change.format)
        }
        Command::Add(a) => {
            let fields = [Some(a.person), Some(a.confirmed), a.onset, a.sampled, a.isolated, a.case_id, a.note];
            let report = importer(&a.change)?.add(fields)?;
            print(&report, a.change.format)
        }
        Command::Remove(a) => print(&cases::remove(&a.store.store, &a.case_ids)?, ReportFormat::Table),
        Command::List(a) => {
            let snap = Store::open(&a.store.store)?.snapshot();
            let batch = snap.cases_record_batch()?;
            let format = Format::or_default(a.format, a.output.as_deref());
            output::write(&batch.schema(), &[batch], format, a.output.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print(r: &CasesReport, format: ReportFormat) -> Result<ExitCode> {
    output::report(r, format, || {
        let mut s = match r.version {
            None if r.rows_rejected > 0 => format!(
                "read {} case row(s): unchanged {}, rejected {} (quarantined already, by the import that first read the file); nothing committed",
                r.rows_read, r.unchanged, r.rows_rejected
            ),
            None => {
                format!("read {} case row(s), each identical to its registered case; nothing committed", r.rows_read)
            }
            Some(v) if r.removed > 0 => format!("version {v}: removed {}", r.removed),
            Some(v) => format!(
                "version {v}: read {} case row(s): added {}, updated {}, unchanged {}, rejected {}",
                r.rows_read, r.added, r.updated, r.unchanged, r.rows_rejected
            ),
        };
        s.push_str(&format!("\nregister: {} case(s)", r.cases));
        if let Some(q) = &r.quarantine {
            s.push_str(&format!("\nrejected rows quarantined in {}", q.display()));
            for x in &r.sample_rejects {
                s.push_str(&format!("\n  {x}"));
            }
        }
        s
    })?;
    Ok(ExitCode::SUCCESS)
}
