//! The same read-only SQL on a DataFusion Ballista cluster: `truyvet sql --cluster df://HOST:PORT`
//! ([`SessionOptions::cluster`](crate::sql::SessionOptions::cluster)), `truyvet cluster
//! scheduler|executor`, and an in-process cluster for tests and benchmarks ([`LocalCluster`]).
//!
//! ```text
//! client (truyvet sql)             scheduler                      executors
//! plans the statement:   logical   reads the manifest named in    read the Parquet files
//! tables, views, table ───plan───▶ the plan, plans the files,  ──▶ of their tasks, shuffle
//! functions (computed)  (codec)    cuts stages, hands out tasks    over Arrow Flight
//! ```
//!
//! A statement sees exactly what a local session over the same snapshot sees: the client
//! plans it against its snapshot, and [`codec::TableCodec`] tells the scheduler which manifest
//! version and files that is. The store must be at the same absolute path on the scheduler and
//! every executor (a shared or replicated file system). `f1_contacts` and `exposures` become a
//! plan the executors run over day ranges of the store (`trace`, its nodes shipped by
//! [`PlanCodec`]); the other table functions (`hotspots`, `clusters`) run on the client while
//! it plans, as locally, and their answers travel in the plan.
//!
//! Ballista is built with DataFusion 55 (`ballista` 55.0); client and cluster must run the same
//! Ballista major version (the scheduler checks it).

pub mod codec;
pub(crate) mod trace;

pub use trace::PlanCodec;

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::BallistaCodec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::utils::default_session_builder;
use ballista_core::{ConfigProducer, RuntimeProducer};
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use ballista_scheduler::scheduler_server::SessionBuilder;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;

use crate::error::{Error, Result};

fn cluster_err(what: &str) -> impl FnOnce(ballista_core::error::BallistaError) -> Error + '_ {
    move |e| Error::Cluster(format!("{what}: {e}"))
}

/// The session configuration every process of a truyvet cluster starts from: Ballista's, with
/// [`codec::TableCodec`] to read the store's tables out of a plan.
pub fn config() -> SessionConfig {
    SessionConfig::new_with_ballista()
        .with_ballista_logical_extension_codec(Arc::new(codec::TableCodec::default()))
        .with_ballista_adaptive_query_planner(false)
        // Hash joins, as locally: the store's joins are against small tables (`venues`,
        // `cases`), whose side Ballista then broadcasts (below its 128 MiB threshold) instead of
        // shuffling the check-ins through disk for a sort-merge join. Ballista's default is
        // sort-merge because a hash join's build side cannot spill.
        .set_bool("datafusion.optimizer.prefer_hash_join", true)
}

/// Fail early, naming the URL, when nothing answers at the scheduler's address (Ballista would
/// only fail at the first statement, with a transport error).
pub(crate) fn check_reachable(url: &str) -> Result<()> {
    use std::net::ToSocketAddrs;
    let bad = |hint: &str| Error::InvalidArgument { what: "cluster URL", value: url.to_string(), hint: hint.into() };
    let authority = url.strip_prefix("df://").ok_or_else(|| bad("write df://HOST:PORT"))?;
    let authority = authority.trim_end_matches('/');
    let with_port = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        authority.to_string()
    } else {
        format!("{authority}:50050")
    };
    let addrs: Vec<SocketAddr> = with_port
        .to_socket_addrs()
        .map_err(|e| Error::Cluster(format!("cannot resolve the scheduler {url}: {e}")))?
        .collect();
    let mut last = None;
    for addr in addrs {
        match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(5)) {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(Error::Cluster(format!(
        "no scheduler answers at {url}: {}",
        last.map_or_else(|| "no address".to_string(), |e| e.to_string())
    )))
}

fn config_producer() -> ConfigProducer {
    Arc::new(config)
}

fn session_builder() -> SessionBuilder {
    Arc::new(default_session_builder)
}

fn codecs() -> BallistaCodec {
    BallistaCodec::new(Arc::new(codec::TableCodec::default()), Arc::new(trace::PlanCodec::default()))
}

/// Run a scheduler on `bind` until the process is stopped (Ctrl-C, SIGTERM). Executors
/// register with it; clients connect to `df://HOST:PORT`.
pub async fn run_scheduler(bind: SocketAddr) -> Result<()> {
    let mut config = SchedulerConfig {
        bind_host: bind.ip().to_string(),
        bind_port: bind.port(),
        external_host: bind.ip().to_string(),
        override_logical_codec: Some(Arc::new(codec::TableCodec::default())),
        override_physical_codec: Some(Arc::new(trace::PlanCodec::default())),
        ..SchedulerConfig::default()
    };
    config = config.with_override_session_builder(session_builder()).with_override_config_producer(config_producer());
    let cluster = BallistaCluster::new_from_config(&config).await.map_err(cluster_err("starting the scheduler"))?;
    start_server(cluster, bind, Arc::new(config)).await.map_err(cluster_err("the scheduler"))
}

/// Where an executor serves and which scheduler it works for.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's host and port.
    pub scheduler: (String, u16),
    /// The Arrow Flight address other executors fetch shuffle data from; the port after it is
    /// the executor's own gRPC port.
    pub bind: SocketAddr,
    /// Tasks run at once (default: the core count).
    pub concurrency: usize,
    /// Directory for shuffle files (default: a temporary directory).
    pub work_dir: Option<std::path::PathBuf>,
}

/// Run an executor until the process is stopped (Ctrl-C, SIGTERM).
pub async fn run_executor(options: ExecutorOptions) -> Result<()> {
    let config = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        external_host: Some(options.bind.ip().to_string()),
        port: options.bind.port(),
        grpc_port: options.bind.port().checked_add(1).ok_or_else(|| Error::InvalidArgument {
            what: "executor address",
            value: options.bind.to_string(),
            hint: "leave room for the gRPC port after it (port + 1)".into(),
        })?,
        scheduler_host: options.scheduler.0,
        scheduler_port: options.scheduler.1,
        vcores: options.concurrency.max(1),
        work_dir: options.work_dir.map(|d| d.display().to_string()),
        override_config_producer: Some(config_producer()),
        override_logical_codec: Some(Arc::new(codec::TableCodec::default())),
        override_physical_codec: Some(Arc::new(trace::PlanCodec::default())),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config)).await.map_err(cluster_err("the executor"))
}

/// A scheduler and executors inside this process, on loopback ports the system picks: for
/// tests, benchmarks and trying a cluster out. They run on the tokio runtime they were started
/// on, until it is dropped.
#[derive(Debug, Clone)]
pub struct LocalCluster {
    /// `df://localhost:PORT`, for [`SessionOptions::cluster`](crate::sql::SessionOptions::cluster).
    pub url: String,
    /// Executors started.
    pub executors: usize,
}

impl LocalCluster {
    /// Start a scheduler and `executors` executors of `concurrency` task slots each. Must be
    /// called on a tokio runtime.
    pub async fn start(executors: usize, concurrency: usize) -> Result<LocalCluster> {
        let addr = ballista_scheduler::standalone::new_standalone_scheduler_with_builder(
            session_builder(),
            config_producer(),
            codecs(),
        )
        .await
        .map_err(cluster_err("starting the scheduler"))?;
        let endpoint = format!("http://localhost:{}", addr.port());
        for _ in 0..executors {
            let scheduler = SchedulerGrpcClient::connect(endpoint.clone())
                .await
                .map_err(|e| Error::Cluster(format!("connecting to the scheduler at {endpoint}: {e}")))?;
            let state = SessionStateBuilder::new().with_default_features().build();
            let runtime = Arc::new(
                RuntimeEnvBuilder::new().build().map_err(|e| Error::Cluster(format!("an executor's runtime: {e}")))?,
            );
            let runtime_producer: RuntimeProducer = Arc::new(move |_| Ok(runtime.clone()));
            ballista_executor::new_standalone_executor_from_builder(
                scheduler,
                concurrency.max(1),
                config_producer(),
                runtime_producer,
                codecs(),
                BallistaFunctionRegistry::from(&state),
            )
            .await
            .map_err(cluster_err("starting an executor"))?;
        }
        Ok(LocalCluster { url: format!("df://localhost:{}", addr.port()), executors })
    }
}
