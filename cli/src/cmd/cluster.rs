//! `truyvet cluster scheduler|executor`: a DataFusion Ballista cluster that runs `truyvet sql
//! --cluster` statements, from this same binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use truyvet::cluster::{ExecutorOptions, run_executor, run_scheduler};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    role: Role,
}

#[derive(Debug, clap::Subcommand)]
enum Role {
    /// Plan statements and hand their tasks to executors. Clients connect to df://HOST:PORT.
    Scheduler {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: SocketAddr,
    },
    /// Run tasks for a scheduler. Reads the store's Parquet files at the paths the client
    /// planned with, so the store must be at the same path here.
    Executor {
        /// The scheduler (HOST:PORT).
        #[arg(long, default_value = "127.0.0.1:50050")]
        scheduler: String,
        /// Arrow Flight address for shuffle data; its port + 1 is the executor's gRPC port.
        #[arg(long, default_value = "127.0.0.1:50051")]
        bind: SocketAddr,
        /// Tasks at once (default: all cores).
        #[arg(long)]
        concurrency: Option<usize>,
        /// Directory for shuffle files (default: a temporary directory).
        #[arg(long)]
        work_dir: Option<PathBuf>,
    },
}

pub fn run(args: Args) -> Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    match args.role {
        Role::Scheduler { bind } => {
            eprintln!("truyvet cluster scheduler on {bind}: clients connect to df://{bind}");
            rt.block_on(run_scheduler(bind))?;
        }
        Role::Executor { scheduler, bind, concurrency, work_dir } => {
            let Some((host, port)) =
                scheduler.rsplit_once(':').and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
            else {
                super::usage!("--scheduler {scheduler:?}: expected HOST:PORT");
            };
            let concurrency =
                concurrency.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            eprintln!(
                "truyvet cluster executor on {bind} for the scheduler at {host}:{port}, {concurrency} task slots"
            );
            rt.block_on(run_executor(ExecutorOptions { scheduler: (host, port), bind, concurrency, work_dir }))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
