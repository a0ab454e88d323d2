//! `truyvet key`: make a pseudonymisation key, and compute pseudonyms with it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use truyvet::pseudonym::Key;

use super::usage;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Write a new random key to FILE (which must not exist), readable by its owner only. Keep
    /// it outside every store: whoever holds it can re-identify the persons of stores made
    /// with it.
    New {
        /// The key file to create.
        file: PathBuf,
    },
    /// Print the pseudonym of each person id under a key (`person_id,pseudonym`), e.g. to find
    /// a case in SQL over a pseudonymised store.
    Pseudonym {
        /// The key file.
        #[arg(long, value_name = "KEYFILE")]
        key: PathBuf,
        /// Clear person ids.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
    /// Print a key's fingerprint (the one a store made with it records).
    Fingerprint {
        /// The key file.
        file: PathBuf,
    },
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::New { file } => {
            let key = Key::generate(&file)?;
            println!("wrote a new key to {} (fingerprint {})", file.display(), key.fingerprint());
        }
        Command::Pseudonym { key, ids } => {
            let key = Key::read(&key)?;
            let mut w = csv::Writer::from_writer(std::io::stdout().lock());
            w.write_record(["person_id", "pseudonym"])?;
            for id in &ids {
                w.write_record([id.as_str(), &key.pseudonym(id.trim())])?;
            }
            w.flush()?;
        }
        Command::Fingerprint { file } => println!("{}", Key::read(&file)?.fingerprint()),
    }
    Ok(ExitCode::SUCCESS)
}

/// A key file must live outside the store it pseudonymises.
pub fn refuse_inside_store(key: &Path, store: &Path) -> Result<()> {
    let (Ok(key), Ok(store)) = (key.canonicalize(), store.canonicalize()) else { return Ok(()) };
    if key.starts_with(&store) {
        usage!(
            "the key file {} is inside the store {}: keep it outside, or the store holds its own key",
            key.display(),
            store.display()
        );
    }
    Ok(())
}
