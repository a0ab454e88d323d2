//! `truyvet serve`: the web page and the API over one store, until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::StoreArg;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArg,
    /// Address to listen on for HTTP (without --users, loopback only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: SocketAddr,
    /// Also listen for Postgres wire here (psql, DBeaver, Metabase; read-only SQL), e.g.
    /// 127.0.0.1:5433.
    #[arg(long, value_name = "ADDR")]
    pg: Option<SocketAddr>,
    /// Accounts (`truyvet users add`): every client signs in, and any address may be served.
    #[arg(long, value_name = "USERS_TOML")]
    users: Option<PathBuf>,
    /// Longest a request may run before it is answered with an error.
    #[arg(long, value_parser = super::duration, default_value = "60s")]
    time_limit: i64,
    /// Most memory one SQL statement may hold (e.g. 2GiB); beyond it the statement fails.
    #[arg(long, value_parser = bytes)]
    memory_limit: Option<usize>,
    /// A rules file (as `truyvet trace --rules`): its rules become names the API's, the page's
    /// and SQL's `rule` take, and its `overlap` the default.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<ExitCode> {
    if a.users.is_none() {
        for addr in std::iter::once(&a.http).chain(&a.pg) {
            truyvet_server::check_bind(addr).map_err(|e| super::UsageError(e.to_string()))?;
        }
    }
    let config = truyvet_server::Config {
        store: a.store.store,
        http: a.http,
        pg: a.pg,
        time_limit: std::time::Duration::from_secs(a.time_limit.max(1) as u64),
        users: a.users,
        memory_limit: a.memory_limit,
        rules: truyvet::RuleBook::open(a.rules.as_deref())?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(truyvet_server::serve(config, truyvet_server::stop_signal()))?;
    Ok(ExitCode::SUCCESS)
}

fn bytes(text: &str) -> Result<usize, String> {
    truyvet::time::parse_bytes(text).map_err(|e| e.to_string())
}
