//! `truyvet users`: the accounts file of `truyvet serve --users` (names and SCRAM-SHA-256
//! verifiers; passwords are read from stdin and never stored).

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use truyvet_server::accounts;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Add a user; the password is the first line of stdin (at least 8 characters).
    Add {
        /// The users file (created if missing, mode 0600).
        #[arg(long, value_name = "USERS_TOML")]
        file: PathBuf,
        /// The user's name.
        #[arg(long)]
        name: String,
        /// tracer (traces, status, hotspots, clusters), epidemiologist (and SQL) or admin (and
        /// the store's figures).
        #[arg(long, default_value = "tracer", value_parser = role)]
        role: accounts::Role,
        /// Set a new password (and role) for an existing user.
        #[arg(long)]
        replace: bool,
    },
    /// Remove a user.
    Remove {
        #[arg(long, value_name = "USERS_TOML")]
        file: PathBuf,
        #[arg(long)]
        name: String,
    },
    /// List the users' names.
    List {
        #[arg(long, value_name = "USERS_TOML")]
        file: PathBuf,
    },
}

pub fn run(a: Args) -> Result<ExitCode> {
    match a.command {
        Command::Add { file, name, role, replace } => {
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password)?;
            let password = password.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                bail!(super::UsageError("give the password as the first line of stdin".into()));
            }
            accounts::add(&file, &name, role, password, replace).map_err(|e| super::UsageError(e.to_string()))?;
            eprintln!("{}: {name} can sign in as {}", file.display(), role.name());
        }
        Command::Remove { file, name } => {
            accounts::remove(&file, &name).map_err(|e| super::UsageError(e.to_string()))?;
            eprintln!("{}: {name} removed", file.display());
        }
        Command::List { file } => {
            for (n, role) in accounts::names(&file).map_err(|e| super::UsageError(e.to_string()))? {
                println!("{n},{}", role.name());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn role(text: &str) -> Result<accounts::Role, String> {
    accounts::Role::parse(text).ok_or_else(|| format!("{text:?}: use tracer, epidemiologist or admin"))
}
