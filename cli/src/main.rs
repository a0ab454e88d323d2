//! `truyvet`: the command line of the truyvet engine. It parses arguments, calls the library
//! and prints; no domain logic lives here.

mod cmd;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("TRUYVET_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(exit_code(&err))
        }
    }
}

/// A reader that went away (`truyvet trace ... | head`) is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// The one place an error becomes an exit code (listed in the README):
/// 0 success; 2 usage (bad arguments, unknown id, bad SQL; clap's own errors are 2 as well);
/// 3 input data refused; 4 store, file system or machine; 70 a bug; 1 anything else.
fn exit_code(err: &anyhow::Error) -> u8 {
    for e in err.chain() {
        if let Some(e) = e.downcast_ref::<truyvet::Error>() {
            return e.kind().exit_code();
        }
        if e.downcast_ref::<cmd::UsageError>().is_some() {
            return truyvet::ErrorKind::Usage.exit_code();
        }
        if e.downcast_ref::<std::io::Error>().is_some() {
            return truyvet::ErrorKind::Environment.exit_code();
        }
    }
    1
}
