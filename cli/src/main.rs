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
    let code = run(cli);
    if std::env::var_os("TRUYVET_PEAK_RSS").is_some() {
        // Read by `truyvet bench`, which measures whole processes.
        eprintln!("peak_rss_bytes={}", truyvet_benches::peak_rss().unwrap_or(0));
    }
    code
}

fn run(cli: cmd::Cli) -> ExitCode {
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            let code = err.chain().find_map(|e| e.downcast_ref::<truyvet::Error>()).map_or(1, |e| e.kind().exit_code());
            ExitCode::from(code as u8)
        }
    }
}
