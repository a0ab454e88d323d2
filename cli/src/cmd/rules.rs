//! `truyvet rules list|show`: the exposure rules a trace can name.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use truyvet::RuleBook;

use crate::output::{self, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// The rules: the built-in presets, and those of --rules.
    List {
        /// A rules file (TOML).
        #[arg(long, value_name = "FILE")]
        rules: Option<PathBuf>,
        /// Output format (default: table on a terminal, CSV otherwise).
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// One rule with every parameter, as a rules-file entry (a start for a province's own).
    Show {
        /// The rule.
        name: String,
        /// A rules file (TOML).
        #[arg(long, value_name = "FILE")]
        rules: Option<PathBuf>,
    },
}

pub fn run(a: Args) -> Result<ExitCode> {
    match a.command {
        Command::List { rules, format } => {
            let book = RuleBook::open(rules.as_deref())?;
            let schema = Arc::new(Schema::new(vec![
                Field::new("name", DataType::Utf8, false),
                Field::new("base", DataType::Utf8, false),
                Field::new("description", DataType::Utf8, false),
            ]));
            let r = book.rules();
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from_iter_values(r.iter().map(|r| r.name.as_str()))),
                    Arc::new(StringArray::from_iter_values(r.iter().map(|r| r.base.name()))),
                    Arc::new(StringArray::from_iter_values(r.iter().map(|r| r.description.as_str()))),
                ],
            )?;
            output::write(&schema, &[batch], Format::or_default(format, None), None)?;
        }
        Command::Show { name, rules } => print!("{}", RuleBook::open(rules.as_deref())?.get(&name)?.to_toml()),
    }
    Ok(ExitCode::SUCCESS)
}
