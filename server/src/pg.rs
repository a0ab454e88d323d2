//! Postgres wire (`truyvet serve --pg`): psql, DBeaver, Metabase and Grafana run the SQL of
//! `truyvet sql` (same tables, views and table functions) under the rules HTTP has.
//!
//! The protocol, the `pg_catalog` that clients browse, and the encoding of Arrow rows are
//! datafusion-postgres's. What it leaves to its users is ours:
//! - **Sign-in**: SCRAM-SHA-256 against the accounts' verifiers ([`crate::accounts`]); only
//!   epidemiologists and admins; failed sign-ins are audited and count toward the per-address
//!   limit that HTTP uses. Without accounts, loopback only, as the store's owner.
//! - **Read-only**: every statement passes the `truyvet sql` allowlist
//!   ([`truyvet::sql::check_statement`]) before it is planned, over the simple and the extended
//!   protocol. `SET` of DataFusion's settings is refused (the session is shared); the settings
//!   clients send on connecting (`DateStyle`, `extra_float_digits`, ...) are accepted.
//! - **Snapshots**: each statement runs on the live snapshot's session, opened once per store
//!   version; admins' sessions also have the `audit` table.
//! - **Limits**: the server's time limit cancels a statement's planning and its row stream
//!   (SQLSTATE 57014); the memory limit is the session's DataFusion memory pool.
//! - **Audit**: one record per statement (user, client, statement, outcome, rows sent,
//!   duration), written when its last row is sent.

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::setup_pg_catalog;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{FieldInfo, Response};
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{
    ClientInfo, ClientPortalStore, METADATA_USER, PgWireConnectionState, PgWireServerHandlers, Type,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::data::DataRow;
use datafusion_postgres::pgwire::messages::startup::Authentication;
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use datafusion_postgres::{DfSessionService, Parser};
use futures::{Sink, SinkExt, Stream};
use truyvet::store::audit::AuditRecord;

use crate::accounts::{Role, ScramExchange, Verifier};
use crate::live::Live;

/// The statement as the server runs it: its text, and its parsed form and plan.
type DfStatement = (String, Option<(Statement, LogicalPlan)>);

/// A user error with a SQLSTATE.
fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), code.into(), message.into())))
}

fn fatal(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".into(), code.into(), message.into())))
}

/// SQLSTATE of a refusal: `25006`, read-only SQL transaction.
const READ_ONLY: &str = "25006";
/// SQLSTATE of a statement cancelled at the time limit.
const CANCELED: &str = "57014";

/// Why a statement was cancelled at the time limit `limit`.
fn over_time(limit: Duration) -> String {
    format!("canceling statement: it ran longer than the server's time limit of {:.1} s", limit.as_secs_f64())
}

/// Serve Postgres wire on `listener` until `shutdown` completes.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    live: Arc<Live>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if live.users.is_none() {
        crate::check_bind(&listener.local_addr()?)?;
    }
    let handlers = Arc::new(Handlers::new(live));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => {
                    let handlers = handlers.clone();
                    tokio::spawn(async move {
                        if let Err(e) = datafusion_postgres::pgwire::tokio::process_socket(socket, None, handlers).await {
                            tracing::debug!("a Postgres connection ended with an error: {e}");
                        }
                    });
                }
                Err(e) => tracing::warn!("cannot accept a Postgres connection: {e}"),
            },
        }
    }
    Ok(())
}

/// What every connection shares.
struct Shared {
    live: Arc<Live>,
    /// The session of one store version, for admins (`true`) and for the others.
    sessions: Mutex<HashMap<bool, (u64, Arc<PgSession>)>>,
    /// For describing parsed statements (which needs no session).
    describe: Arc<Parser>,
}

/// A `truyvet sql` session with `pg_catalog`, served by datafusion-postgres.
struct PgSession {
    service: Arc<DfSessionService>,
    /// Owns the session's runtime: dropped on a thread of its own, never on an async one.
    session: Option<truyvet::sql::Session>,
}

impl Drop for PgSession {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            std::thread::spawn(move || drop(s));
        }
    }
}

/// Who a connection is: the user name for the audit log, and whether an admin.
fn who<C: ClientInfo + ?Sized>(live: &Live, client: &C) -> (String, bool) {
    match &live.users {
        None => ("local-owner".into(), true),
        Some(users) => {
            let name = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
            let admin = users.role(&name) == Some(Role::Admin);
            (name, admin)
        }
    }
}

impl Shared {
    /// The live snapshot's session (opened on first use per version, off the async threads).
    async fn session(self: &Arc<Self>, admin: bool) -> PgWireResult<Arc<PgSession>> {
        let shared = self.clone();
        tokio::task::spawn_blocking(move || shared.open(admin))
            .await
            .map_err(|e| user_error("XX000", format!("opening the SQL session failed: {e}")))?
            .map_err(|e| user_error("58000", e.to_string()))
    }

    fn open(&self, admin: bool) -> truyvet::Result<Arc<PgSession>> {
        let snap = self.live.snapshot()?;
        let version = snap.manifest().version;
        let mut held = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((v, s)) = held.get(&admin)
            && *v == version
        {
            return Ok(s.clone());
        }
        let session = truyvet::sql::Session::with_options(&snap, self.live.sql_options(admin))?;
        let ctx = Arc::new(session.context().clone());
        setup_pg_catalog(&ctx, "datafusion", EmptyContextProvider)
            .map_err(|e| truyvet::Error::Internal(format!("setting up pg_catalog: {e}")))?;
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(ReadOnly),
            Arc::new(CursorStatementHook),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
        ];
        let service = Arc::new(DfSessionService::new_with_hooks(ctx, hooks));
        let s = Arc::new(PgSession { service, session: Some(session) });
        held.insert(admin, (version, s.clone()));
        Ok(s)
    }

    /// The audit record of one statement.
    fn record(&self, user: &str, client: std::net::SocketAddr, detail: &str, t: Instant) -> AuditRecord {
        let record = AuditRecord {
            at: AuditRecord::now(),
            via: "pg".into(),
            user: Some(user.to_string()),
            client: Some(client.to_string()),
            action: "sql".into(),
            detail: detail.to_string(),
            outcome: "ok".into(),
            code: "00000".into(),
            rows: None,
            ms: 0.0,
            error: None,
        };
        took(record, t)
    }

    /// Audit a statement that failed before any row.
    fn failed(&self, mut record: AuditRecord, e: &PgWireError) {
        let (code, message) = match e {
            PgWireError::UserError(info) => (info.code.clone(), info.message.clone()),
            e => ("XX000".to_string(), e.to_string()),
        };
        record.outcome = if code == READ_ONLY { "refused" } else { "failed" }.into();
        record.code = code;
        record.error = Some(message);
        self.live.audit_nowait(&record);
    }

    /// Put `response`'s rows under the time limit and audit it when its rows are all sent.
    fn watch(&self, response: Response, mut record: AuditRecord, t: Instant) -> Response {
        let deadline = t + self.live.time_limit;
        match response {
            Response::Query(mut q) => {
                let inner = std::mem::replace(&mut q.data_rows, Box::pin(futures::stream::empty()));
                q.data_rows = Box::pin(Watched {
                    inner,
                    deadline: Box::pin(tokio::time::sleep_until(deadline.into())),
                    limit: self.live.time_limit,
                    rows: 0,
                    started: t,
                    pending: Some((self.live.clone(), record)),
                });
                Response::Query(q)
            }
            other => {
                if let Response::Error(info) = &other {
                    record.outcome = "failed".into();
                    record.code = info.code.clone();
                    record.error = Some(info.message.clone());
                }
                self.live.audit_nowait(&record);
                other
            }
        }
    }
}

/// `record` with the time since `t`.
fn took(mut record: AuditRecord, t: Instant) -> AuditRecord {
    record.ms = (t.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    record
}

/// A statement's rows: cut off with SQLSTATE 57014 at the deadline, counted, and audited
/// when the stream ends or is dropped.
struct Watched {
    inner: Pin<Box<dyn Stream<Item = PgWireResult<DataRow>> + Send>>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
    rows: u64,
    started: Instant,
    pending: Option<(Arc<Live>, AuditRecord)>,
}

impl Watched {
    fn finish(&mut self, error: Option<(&str, String)>) {
        if let Some((live, mut record)) = self.pending.take() {
            record.rows = Some(self.rows);
            record = took(record, self.started);
            if let Some((code, message)) = error {
                record.outcome = "failed".into();
                record.code = code.into();
                record.error = Some(message);
            }
            live.audit_nowait(&record);
        }
    }
}

impl Stream for Watched {
    type Item = PgWireResult<DataRow>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.pending.is_none() {
            return Poll::Ready(None);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            let message = over_time(this.limit);
            this.finish(Some((CANCELED, message.clone())));
            return Poll::Ready(Some(Err(user_error(CANCELED, message))));
        }
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(row))) => {
                this.rows += 1;
                Poll::Ready(Some(Ok(row)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.finish(Some(("XX000", e.to_string())));
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.finish(None);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Watched {
    /// A client that stops reading still leaves a record, with the rows sent until then.
    fn drop(&mut self) {
        self.finish(None);
    }
}

/// The read-only guard, first of the hooks: refuses what `truyvet sql` refuses.
struct ReadOnly;

impl ReadOnly {
    fn refusal(statement: &Statement) -> Option<PgWireError> {
        let why = match statement {
            // The session is shared by every connection of its role: DataFusion's settings
            // (limits, parallelism) are the server's. Client settings are the next hook's.
            Statement::Set(set) => set
                .to_string()
                .to_ascii_lowercase()
                .contains("datafusion")
                .then(|| "refused: SET of DataFusion settings is not allowed over Postgres wire".to_string()),
            // Answered by the transaction and cursor hooks without touching the store.
            Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Fetch { .. }
            | Statement::Close { .. }
            | Statement::ShowVariable { .. } => None,
            Statement::Declare { stmts } => stmts
                .iter()
                .filter_map(|d| d.for_query.as_ref())
                .find_map(|q| truyvet::sql::check_statement(&Statement::Query(q.clone()), &q.to_string()).err()),
            s => truyvet::sql::check_statement(s, &s.to_string()).err(),
        };
        why.map(|w| user_error(READ_ONLY, w))
    }
}

#[async_trait]
impl QueryHook for ReadOnly {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        ReadOnly::refusal(statement).map(Err)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        ReadOnly::refusal(statement).map(Err)
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        ReadOnly::refusal(statement).map(Err)
    }
}

/// The handlers of every connection.
struct Handlers {
    shared: Arc<Shared>,
    service: Arc<Service>,
}

impl Handlers {
    fn new(live: Arc<Live>) -> Handlers {
        let describe = DfSessionService::new(Arc::new(SessionContext::new())).query_parser();
        let shared = Arc::new(Shared { live, sessions: Mutex::new(HashMap::new()), describe });
        let service = Arc::new(Service { shared: shared.clone(), parser: Arc::new(Versioned(shared.clone())) });
        Handlers { shared, service }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.service.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.service.clone()
    }

    /// One per connection: it holds the connection's SCRAM exchange.
    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(Startup { shared: self.shared.clone(), state: tokio::sync::Mutex::new(Auth::Start) })
    }
}

/// Runs statements on the live snapshot's session.
struct Service {
    shared: Arc<Shared>,
    parser: Arc<Versioned>,
}

/// Parses with the live snapshot's session (the extended protocol's Parse).
struct Versioned(Arc<Shared>);

#[async_trait]
impl QueryParser for Versioned {
    type Statement = DfStatement;

    async fn parse_sql<C>(&self, client: &C, sql: &str, types: &[Option<Type>]) -> PgWireResult<Option<DfStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let t = Instant::now();
        let (user, admin) = who(&self.0.live, client);
        let parsed = match self.0.session(admin).await {
            Ok(s) => s.service.query_parser().parse_sql(client, sql, types).await,
            Err(e) => Err(e),
        };
        if let Err(e) = &parsed {
            self.0.failed(self.0.record(&user, client.socket_addr(), sql, t), e);
        }
        parsed
    }

    fn get_parameter_types(&self, stmt: &DfStatement) -> PgWireResult<Vec<Type>> {
        self.0.describe.get_parameter_types(stmt)
    }

    fn get_result_schema(&self, stmt: &DfStatement, column_format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        self.0.describe.get_result_schema(stmt, column_format)
    }
}

impl Service {
    /// Run `run` under the time limit (planning; the rows get theirs in [`Watched`]).
    async fn limited<T>(&self, run: impl Future<Output = PgWireResult<T>>) -> PgWireResult<T> {
        let limit = self.shared.live.time_limit;
        tokio::time::timeout(limit, run).await.unwrap_or_else(|_| Err(user_error(CANCELED, over_time(limit))))
    }
}

#[async_trait]
impl SimpleQueryHandler for Service {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let t = Instant::now();
        let (user, admin) = who(&self.shared.live, client);
        let record = self.shared.record(&user, client.socket_addr(), query, t);
        let session = self.shared.session(admin).await;
        let done = match session {
            Ok(s) => self.limited(SimpleQueryHandler::do_query(s.service.as_ref(), client, query)).await,
            Err(e) => Err(e),
        };
        match done {
            Ok(responses) => {
                Ok(responses.into_iter().map(|r| self.shared.watch(r, took(record.clone(), t), t)).collect())
            }
            Err(e) => {
                self.shared.failed(took(record, t), &e);
                Err(e)
            }
        }
    }
}

#[async_trait]
impl ExtendedQueryHandler for Service {
    type Statement = DfStatement;
    type QueryParser = Versioned;

    fn query_parser(&self) -> Arc<Versioned> {
        self.parser.clone()
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<DfStatement>, max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = DfStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let t = Instant::now();
        let (user, admin) = who(&self.shared.live, client);
        let record = self.shared.record(&user, client.socket_addr(), &portal.statement.statement.0, t);
        let session = self.shared.session(admin).await;
        let done = match session {
            Ok(s) => self.limited(ExtendedQueryHandler::do_query(s.service.as_ref(), client, portal, max_rows)).await,
            Err(e) => Err(e),
        };
        match done {
            Ok(r) => Ok(self.shared.watch(r, took(record, t), t)),
            Err(e) => {
                self.shared.failed(took(record, t), &e);
                Err(e)
            }
        }
    }
}

/// Where a connection's sign-in stands.
enum Auth {
    Start,
    /// The server-first message was sent.
    Challenged {
        user: String,
        exchange: ScramExchange,
    },
    Done,
}

/// SCRAM-SHA-256 sign-in for one connection.
struct Startup {
    shared: Arc<Shared>,
    state: tokio::sync::Mutex<Auth>,
}

impl Startup {
    fn parameters(&self, user: &str) -> DefaultServerParameterProvider {
        let mut p = DefaultServerParameterProvider::default();
        p.server_version = format!("16.6 (truyvet {})", env!("CARGO_PKG_VERSION"));
        p.is_superuser = false;
        p.default_transaction_read_only = true;
        p.session_authorization = Some(user.to_string());
        p
    }

    fn audit_sign_in<C: ClientInfo>(&self, client: &C, user: &str, error: Option<&str>) {
        let mut r = self.shared.record(user, client.socket_addr(), "", Instant::now());
        r.action = "sign-in".into();
        if let Some(e) = error {
            r.outcome = "refused".into();
            r.code = "28P01".into();
            r.error = Some(e.to_string());
            self.shared.live.failed(client.socket_addr().ip());
        }
        self.shared.live.audit_nowait(&r);
    }
}

fn utf8(bytes: &[u8]) -> PgWireResult<&str> {
    std::str::from_utf8(bytes).map_err(|_| fatal("08P01", "SCRAM message is not UTF-8"))
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let live = &self.shared.live;
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                if live.users.is_none() {
                    return finish_authentication(client, &self.parameters("local-owner")).await;
                }
                if live.failures(client.socket_addr().ip()) >= crate::signin::MAX_FAILURES {
                    return Err(fatal(
                        "53400",
                        format!(
                            "more than {} failed sign-ins from this address in a minute: wait",
                            crate::signin::MAX_FAILURES
                        ),
                    ));
                }
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client
                    .send(PgWireBackendMessage::Authentication(Authentication::SASL(vec!["SCRAM-SHA-256".into()])))
                    .await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(msg) => {
                let Some(users) = &live.users else { return Err(PgWireError::InvalidSASLState) };
                let mut state = self.state.lock().await;
                match std::mem::replace(&mut *state, Auth::Done) {
                    Auth::Start => {
                        let initial = msg.into_sasl_initial_response()?;
                        if initial.auth_method != "SCRAM-SHA-256" {
                            return Err(PgWireError::UnsupportedSASLAuthMethod(initial.auth_method));
                        }
                        let data = initial.data.unwrap_or_default();
                        let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
                        // An unknown user gets a challenge all the same, so names cannot be
                        // probed; no proof can answer it.
                        let verifier = match users.verifier(&user) {
                            Some(v) => v.clone(),
                            None => Verifier::generate(&random(24)?).map_err(|e| fatal("XX000", e.to_string()))?,
                        };
                        let (exchange, first) =
                            verifier.scram_first(utf8(&data)?, &random(18)?).map_err(|e| fatal("28000", e))?;
                        client
                            .send(PgWireBackendMessage::Authentication(Authentication::SASLContinue(
                                first.into_bytes().into(),
                            )))
                            .await?;
                        *state = Auth::Challenged { user, exchange };
                    }
                    Auth::Challenged { user, exchange } => {
                        let response = msg.into_sasl_response()?;
                        let known = users.role(&user);
                        let last = match (exchange.finish(utf8(&response.data)?), known) {
                            (Ok(last), Some(role)) if role >= Role::Epidemiologist => last,
                            (Ok(_), Some(role)) => {
                                let why = format!(
                                    "the role {} may not run SQL: Postgres wire needs epidemiologist or admin",
                                    role.name()
                                );
                                self.audit_sign_in(client, &user, Some(&why));
                                return Err(fatal("42501", why));
                            }
                            (Err(why), Some(_)) => {
                                self.audit_sign_in(client, &user, Some(&why));
                                return Err(PgWireError::InvalidPassword(user));
                            }
                            (_, None) => {
                                self.audit_sign_in(client, &user, Some("no such user"));
                                return Err(PgWireError::InvalidPassword(user));
                            }
                        };
                        client
                            .send(PgWireBackendMessage::Authentication(Authentication::SASLFinal(
                                last.into_bytes().into(),
                            )))
                            .await?;
                        self.audit_sign_in(client, &user, None);
                        finish_authentication(client, &self.parameters(&user)).await?;
                    }
                    Auth::Done => return Err(PgWireError::InvalidSASLState),
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// `n` random bytes as base64 (a nonce, or a password no one knows).
fn random(n: usize) -> PgWireResult<String> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| fatal("XX000", format!("no randomness for a SCRAM nonce: {e}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}
