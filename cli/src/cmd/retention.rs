//! `truyvet retention`: show or set how many days a store keeps (`truyvet purge` enforces it).

use std::process::ExitCode;

use anyhow::Result;

use super::{StoreArg, usage};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArg,
    /// Keep this many days (`21d`, `3w`); whole days only.
    #[arg(long, value_name = "DURATION", conflicts_with = "forever")]
    keep: Option<String>,
    /// Remove the policy: keep everything.
    #[arg(long)]
    forever: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let dir = &args.store.store;
    let days = match (&args.keep, args.forever) {
        (None, false) => {
            let m = truyvet::Store::open(dir)?.snapshot().manifest().clone();
            match m.retention_days {
                Some(d) => println!("keeps {d} days (`truyvet purge` removes older ones)"),
                None => println!("keeps everything (no retention policy)"),
            }
            return Ok(ExitCode::SUCCESS);
        }
        (Some(text), _) => {
            let seconds = truyvet::time::parse_duration(text)?;
            if seconds <= 0 || seconds % truyvet::time::DAY != 0 {
                usage!("--keep {text:?}: expected whole days, such as 21d or 3w");
            }
            Some(u32::try_from(seconds / truyvet::time::DAY).unwrap_or(u32::MAX))
        }
        (None, true) => None,
    };
    let v = truyvet::Store::set_retention(dir, days)?;
    match days {
        Some(d) => println!("retention set to {d} days (version {v}); run `truyvet purge` to apply it"),
        None => println!("retention removed: the store keeps everything (version {v})"),
    }
    Ok(ExitCode::SUCCESS)
}
