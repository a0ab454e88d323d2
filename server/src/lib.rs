//! `truyvet serve`: one process over one store, for the tracers' web page and for dashboards
//! (`/api/v1`, JSON or Arrow).
//!
//! - Every request reads one snapshot: a commit by `truyvet ingest` (another process) is seen
//!   by the next request, never by one already running ([`live::Live::snapshot`]).
//! - Engine work runs on tokio's blocking pool under a time limit; the answer's encoding
//!   follows `Accept` or `format=` ([`respond`]).
//! - Without accounts the server is its owner's: it binds loopback only ([`check_bind`]). With
//!   `--users` ([`accounts`]) every request signs in: HTTP Basic for programs, a session
//!   cookie from the sign-in page for people.
//! - Each request is recorded in the store's audit log ([`truyvet::store::audit`]: who, when,
//!   from where, what with its parameters, outcome, rows returned, duration), failed sign-ins
//!   included, before its answer is sent.
//!
//! The flow is one-way: this crate calls the `truyvet` library and renders; it holds no
//! tracing logic of its own.

pub mod accounts;
mod api;
pub mod live;
mod page;
#[cfg(feature = "pg")]
pub mod pg;
pub mod respond;
mod signin;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use truyvet::store::audit::AuditRecord;

pub use self::live::Live;

/// How to serve.
#[derive(Debug, Clone)]
pub struct Config {
    /// The store.
    pub store: PathBuf,
    /// Where to listen for HTTP.
    pub http: SocketAddr,
    /// Where to listen for Postgres wire, if at all (the `pg` feature).
    pub pg: Option<SocketAddr>,
    /// Longest a request may run.
    pub time_limit: Duration,
    /// Accounts (`users.toml`); without them, loopback only.
    pub users: Option<PathBuf>,
    /// Most bytes a SQL statement may hold.
    pub memory_limit: Option<usize>,
    /// The rules a request's `rule` may name (`serve --rules`): the presets, or a rules file's.
    pub rules: truyvet::RuleBook,
}

/// Refuse an address other than loopback: without accounts, anyone who can connect acts as
/// the store's owner.
pub fn check_bind(addr: &SocketAddr) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() {
        anyhow::bail!(
            "{addr} is not a loopback address: without accounts the server acts as the store's owner for anyone who connects, so it only listens on 127.0.0.1 or ::1"
        );
    }
    Ok(())
}

/// The routes, over `live`.
pub fn router(live: Arc<Live>) -> Router {
    Router::new()
        .route("/", get(page::overview))
        .route("/trace", get(page::trace))
        .route("/report", get(page::report))
        .route("/api/v1/trace", get(api::trace))
        .route("/api/v1/exposures", get(api::exposures))
        .route("/api/v1/itinerary", get(api::itinerary))
        .route("/api/v1/venues/{id}/occupancy", get(api::occupancy))
        .route("/api/v1/cases", get(api::cases))
        .route("/api/v1/status", get(api::status))
        .route("/api/v1/hotspots", get(api::hotspots))
        .route("/api/v1/clusters", get(api::clusters))
        .route("/api/v1/stats", get(api::stats))
        .route("/api/v1/report/daily", get(api::report))
        .route("/api/v1/openapi.json", get(api::openapi))
        .route("/api/v1/sql", get(api::sql_get).post(api::sql_post))
        .route("/login", get(signin::form).post(signin::login))
        .route("/logout", post(signin::logout))
        .layer(middleware::from_fn_with_state(live.clone(), gate))
        .with_state(live)
}

/// Sign the request in (when there are accounts), run it, and log it to the audit log and at
/// `info`.
async fn gate(State(live): State<Arc<Live>>, mut request: Request, next: Next) -> Response {
    let t = Instant::now();
    let method = request.method().to_string();
    let target = request.uri().to_string();
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let client = peer.map(|c| c.to_string());
    let user = match signin::user_of(&live, &request, peer.map(|p| p.ip())) {
        Ok(user) => Some(user),
        Err(refusal) => match request.uri().path() {
            "/login" | "/logout" => None,
            path => {
                let response = refusal.respond(path, &target);
                let r = record(None, client, &method, &target, &response, true, t);
                live.audit(&r).await;
                return response;
            }
        },
    };
    let name = user.as_ref().map(|u| u.0.clone());
    if let Some(u) = user {
        request.extensions_mut().insert(u);
    }
    let response = next.run(request).await;
    let r = record(name.as_deref(), client, &method, &target, &response, false, t);
    live.audit(&r).await;
    response
}

/// The request's audit record; it is also logged at `info`, without its parameters.
fn record(
    user: Option<&str>,
    client: Option<String>,
    method: &str,
    target: &str,
    response: &Response,
    refused: bool,
    t: Instant,
) -> AuditRecord {
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let status = response.status();
    // The server's own log names the path only: queries carry person ids, which belong in the
    // audit log alone.
    let path = target.split('?').next().unwrap_or_default();
    tracing::info!(%method, path, status = status.as_u16(), ms, "request");
    let x = response.extensions();
    let outcome = match status.as_u16() {
        _ if refused || x.get::<respond::Refused>().is_some() => "refused",
        s if s < 400 => "ok",
        401 | 403 | 429 => "refused",
        _ => "failed",
    };
    let detail = match x.get::<respond::Statement>() {
        Some(s) => format!("{target} {}", s.0),
        None => target.to_string(),
    };
    let error = x.get::<respond::Failure>().map(|f| f.0.clone()).or_else(|| match outcome {
        "refused" => status.canonical_reason().map(str::to_string),
        _ => None,
    });
    AuditRecord {
        at: AuditRecord::now(),
        via: "http".into(),
        user: user.map(str::to_string).or_else(|| x.get::<signin::Attempted>().map(|a| a.0.clone())),
        client,
        action: format!("{method} {path}"),
        detail,
        outcome: outcome.into(),
        code: status.as_u16().to_string(),
        rows: x.get::<respond::Returned>().map(|r| r.0),
        ms: (ms * 10.0).round() / 10.0,
        error,
    }
}

/// Serve until `shutdown` completes; requests in flight finish first.
pub async fn serve(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    if config.users.is_none() {
        check_bind(&config.http)?;
        if let Some(pg) = &config.pg {
            check_bind(pg)?;
        }
    }
    #[cfg(not(feature = "pg"))]
    if config.pg.is_some() {
        anyhow::bail!("this truyvet was built without Postgres wire (the `pg` feature): --pg is not available");
    }
    let live = Arc::new(Live::open(&config)?);
    let listener = tokio::net::TcpListener::bind(config.http)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.http))?;
    let who = match &config.users {
        None => "no accounts: every client acts as the store's owner, so loopback only".to_string(),
        Some(p) => format!("accounts from {}: every client signs in", p.display()),
    };
    eprintln!("truyvet serve: http://{}/ over {} ({who})", listener.local_addr()?, config.store.display());
    // One shutdown for both protocols.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let when_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    #[cfg(feature = "pg")]
    let pg = match config.pg {
        Some(addr) => {
            let pg = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
            eprintln!("truyvet serve: postgres://{}/ (psql, DBeaver, Metabase: read-only SQL)", pg.local_addr()?);
            Some(tokio::spawn(pg::serve_on(pg, live.clone(), when_stopped())))
        }
        None => None,
    };
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    serve_on(listener, live, when_stopped()).await?;
    #[cfg(feature = "pg")]
    if let Some(pg) = pg {
        pg.await??;
    }
    eprintln!("truyvet serve: stopped");
    Ok(())
}

/// Serve `live` on a bound `listener` (an embedding program or a test picks the port).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    live: Arc<Live>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if live.users.is_none() {
        check_bind(&listener.local_addr()?)?;
    }
    // An answer's last segment leaves at once, not when the client acknowledges the one before
    // it (Nagle's algorithm): a client that keeps its connection would otherwise wait.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY on a connection: {e}");
        }
    });
    axum::serve(listener, router(live).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// Ctrl-C or SIGTERM.
pub async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
