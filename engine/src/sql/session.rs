//! A SQL session over one snapshot: DataFusion configuration, registration of tables and
//! functions, statement execution on an internal tokio runtime (library callers write no
//! async code), and mapping of DataFusion errors to [`Error::Sql`].

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableFunction;
use datafusion::error::DataFusionError;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;

use super::functions::{ARGS, CLUSTERS_ARGS, HOTSPOTS_ARGS, RegisterFunction, TraceFunction};
use super::{run_aggregate, sandbox, script, tables};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{EXPOSURES_SCHEMA, F1_SCHEMA};
use crate::store::Snapshot;

/// How a [`Session`] runs. `SessionOptions::default()` uses every core.
///
/// ```
/// let opts = truyvet::sql::SessionOptions::default().threads(1);
/// assert_eq!(opts.threads, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOptions {
    /// Worker threads of the session's runtime, and DataFusion's `target_partitions` (at
    /// least 1). With 1 everything runs on the calling thread. Results never depend on it,
    /// except row order where the statement has no `ORDER BY`.
    pub threads: usize,
    /// Evaluate filters while decoding Parquet (DataFusion's `pushdown_filters`): skips
    /// decoding the other columns of rows that fail the filter. See the module docs of
    /// `truyvet::sql` for the measurement behind the default.
    pub pushdown_filters: bool,
    /// Partial aggregations with one group key intern each run of equal keys once instead of
    /// every row (see `run_aggregate` in the module docs of `truyvet::sql`). `GROUP BY
    /// venue_id` profits, since parts are sorted by venue. Results never depend on it.
    pub run_aggregation: bool,
    /// Most bytes a statement may hold: DataFusion's memory pool for its operators (sorts,
    /// aggregations, joins spill or fail beyond it) and, separately, the result collected.
    /// Beyond either, the statement fails (environment, exit 4) and nothing else is affected.
    pub memory_limit: Option<usize>,
    /// Longest a statement may run; then it is cancelled (environment, exit 4).
    pub time_limit: Option<std::time::Duration>,
    /// Register the `audit` table (the store's audit log, read at each query). Off by
    /// default: a server opens it only for its admins.
    pub audit: bool,
    /// The rules `f1_contacts` and `exposures` can name: the presets by default, or a rules
    /// file's (`truyvet sql --rules`).
    pub rules: crate::trace::RuleBook,
    /// Run statements on the DataFusion Ballista cluster whose scheduler is at this URL
    /// (`df://HOST:PORT`) instead of in this process (see [`crate::cluster`]; needs the
    /// `cluster` feature). The answers are the same; the store must be at the same path on
    /// every machine of the cluster.
    pub cluster: Option<String>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            pushdown_filters: true,
            run_aggregation: true,
            memory_limit: None,
            time_limit: None,
            audit: false,
            rules: crate::trace::RuleBook::built_in(),
            cluster: None,
        }
    }
}

impl SessionOptions {
    /// Set [`SessionOptions::rules`].
    pub fn rules(mut self, rules: crate::trace::RuleBook) -> Self {
        self.rules = rules;
        self
    }

    /// Set [`SessionOptions::threads`].
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Set [`SessionOptions::pushdown_filters`].
    pub fn pushdown_filters(mut self, on: bool) -> Self {
        self.pushdown_filters = on;
        self
    }

    /// Set [`SessionOptions::run_aggregation`].
    pub fn run_aggregation(mut self, on: bool) -> Self {
        self.run_aggregation = on;
        self
    }

    /// Set [`SessionOptions::memory_limit`].
    pub fn memory_limit(mut self, bytes: Option<usize>) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// Set [`SessionOptions::audit`].
    pub fn audit(mut self, audit: bool) -> Self {
        self.audit = audit;
        self
    }

    /// Set [`SessionOptions::cluster`].
    pub fn cluster(mut self, url: Option<String>) -> Self {
        self.cluster = url;
        self
    }

    /// Set [`SessionOptions::time_limit`].
    pub fn time_limit(mut self, limit: Option<std::time::Duration>) -> Self {
        self.time_limit = limit;
        self
    }
}

/// A read-only SQL session over a store snapshot (see the [module docs](super)).
///
/// `Send + Sync`; statements may run from several threads at once.
pub struct Session {
    ctx: SessionContext,
    rt: tokio::runtime::Runtime,
    options: SessionOptions,
}

/// The result of one statement of a script.
#[derive(Debug, Clone)]
pub struct StatementResult {
    /// The statement as written in the script.
    pub statement: String,
    /// Result schema.
    pub schema: SchemaRef,
    /// Result rows.
    pub batches: Vec<RecordBatch>,
}

/// A table, view or table function of a session (for `\d`).
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// Name to use in SQL.
    pub name: String,
    /// `table`, `view` or `table function`.
    pub kind: &'static str,
    /// Columns.
    pub schema: SchemaRef,
    /// Arguments of a table function (`f1_contacts(f0 [, from, ...])`), else `None`.
    pub signature: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("options", &self.options).finish_non_exhaustive()
    }
}

/// A statement stopped by a limit of its session.
fn over_limit(statement: &str, why: String) -> Error {
    Error::Sql {
        message: format!("statement stopped: {why}"),
        statement: statement.to_string(),
        kind: ErrorKind::Environment,
    }
}

impl Session {
    /// A session with [`SessionOptions::default`].
    pub fn new(snapshot: &Snapshot) -> Result<Session> {
        Session::with_options(snapshot, SessionOptions::default())
    }

    /// Register the snapshot's tables, the `persons` view and the trace table functions.
    /// Opening costs one `stat` per Parquet file; nothing is read.
    pub fn with_options(snapshot: &Snapshot, options: SessionOptions) -> Result<Session> {
        let threads = options.threads.max(1);
        let rt = match threads {
            1 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
            n => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(n)
                .thread_name("truyvet-sql")
                .enable_all()
                .build(),
        }
        .map_err(|e| Error::Internal(format!("cannot start the SQL runtime: {e}")))?;

        let mut config = match &options.cluster {
            None => SessionConfig::new().with_target_partitions(threads),
            #[cfg(feature = "cluster")]
            Some(_) => crate::cluster::config(),
            #[cfg(not(feature = "cluster"))]
            Some(url) => {
                return Err(Error::InvalidArgument {
                    what: "cluster",
                    value: url.clone(),
                    hint: "this truyvet was built without the `cluster` feature (DataFusion Ballista)".into(),
                });
            }
        }
        .with_information_schema(true);
        let parquet = &mut config.options_mut().execution.parquet;
        parquet.pruning = true;
        parquet.enable_page_index = true;
        parquet.pushdown_filters = options.pushdown_filters;
        parquet.reorder_filters = options.pushdown_filters;

        let mut functions: HashMap<String, Arc<TableFunction>> = HashMap::new();
        for f in datafusion::functions_table::all_default_table_functions() {
            if sandbox::TABLE_FUNCTIONS.contains(&f.name()) {
                functions.insert(f.name().to_string(), f);
            }
        }
        for (name, details) in [("f1_contacts", false), ("exposures", true)] {
            let f = TraceFunction {
                snapshot: snapshot.clone(),
                details,
                rules: options.rules.clone(),
                cluster: options.cluster.is_some(),
            };
            functions.insert(name.to_string(), Arc::new(TableFunction::new(name.to_string(), Arc::new(f))));
        }
        for (name, clusters) in [("hotspots", false), ("clusters", true)] {
            let f = RegisterFunction { snapshot: snapshot.clone(), clusters };
            functions.insert(name.to_string(), Arc::new(TableFunction::new(name.to_string(), Arc::new(f))));
        }
        let mut runtime = RuntimeEnvBuilder::new();
        if let Some(bytes) = options.memory_limit {
            runtime = runtime.with_memory_limit(bytes, 1.0);
        }
        let runtime =
            runtime.build_arc().map_err(|e| Error::Internal(format!("cannot set up the SQL memory pool: {e}")))?;
        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            // No table factories: `CREATE EXTERNAL TABLE` has nothing to create even if it got
            // past the sandbox. URL tables stay off (the DataFusion default).
            .with_table_factories(HashMap::new())
            .with_table_functions(functions);
        if options.run_aggregation {
            state = state.with_physical_optimizer_rule(Arc::new(run_aggregate::RunAggregate));
        }
        let state = state.build();
        let ctx = match &options.cluster {
            None => SessionContext::new_with_state(state),
            #[cfg(feature = "cluster")]
            Some(url) => {
                use ballista::prelude::SessionContextExt;
                crate::cluster::check_reachable(url)?;
                rt.block_on(SessionContext::remote_with_state(url, state))
                    .map_err(|e| Error::Cluster(format!("connecting to the scheduler at {url}: {e}")))?
            }
            #[cfg(not(feature = "cluster"))]
            Some(_) => unreachable!("refused above"),
        };
        tables::register(&ctx, snapshot)?;
        if options.audit {
            tables::register_audit(&ctx, snapshot.dir())?;
        }
        rt.block_on(async { ctx.sql(tables::PERSONS_VIEW).await?.collect().await })
            .map_err(|e| Error::Internal(format!("creating the persons view: {e}")))?;
        Ok(Session { ctx, rt, options })
    }

    /// The options the session runs with.
    pub fn options(&self) -> &SessionOptions {
        &self.options
    }

    /// Run one statement and collect its result. Errors are [`Error::Sql`] with DataFusion's
    /// message (or the sandbox's refusal) and the statement.
    pub fn query(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let statement = sql.trim().trim_end_matches(';').trim_end();
        let refused =
            |message: String| Error::Sql { message, statement: statement.to_string(), kind: ErrorKind::Usage };
        let fail =
            |e: DataFusionError| Error::Sql { message: message(&e), statement: statement.to_string(), kind: kind(&e) };
        let run = async {
            let state = self.ctx.state();
            let dialect = state.config().options().sql_parser.dialect;
            let parsed = state.sql_to_statement(statement, &dialect).map_err(fail)?;
            sandbox::check(&parsed, statement).map_err(refused)?;
            let plan = state.statement_to_plan(parsed).await.map_err(fail)?;
            sandbox::options().verify_plan(&plan).map_err(fail)?;
            let df = self.ctx.execute_logical_plan(plan).await.map_err(fail)?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let mut stream = df.execute_stream().await.map_err(fail)?;
            let (mut batches, mut held) = (Vec::new(), 0usize);
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(fail)?;
                held += batch.get_array_memory_size();
                if let Some(limit) = self.options.memory_limit.filter(|&l| held > l) {
                    return Err(over_limit(statement, format!("its result passed the memory limit of {limit} bytes")));
                }
                batches.push(batch);
            }
            Ok((schema, batches))
        };
        self.rt.block_on(async {
            match self.options.time_limit {
                // Dropping the statement's future cancels its streams and the tasks they spawned.
                Some(limit) => tokio::time::timeout(limit, run).await.unwrap_or_else(|_| {
                    Err(over_limit(
                        statement,
                        format!("it ran longer than the time limit of {:.1} s and was cancelled", limit.as_secs_f64()),
                    ))
                }),
                None => run.await,
            }
        })
    }

    /// Run every statement of a script in order (split with [`script::split_statements`]),
    /// stopping at the first error.
    pub fn query_script(&self, script: &str) -> Result<Vec<StatementResult>> {
        script::split_statements(script)
            .into_iter()
            .map(|statement| {
                let (schema, batches) = self.query(statement)?;
                Ok(StatementResult { statement: statement.to_string(), schema, batches })
            })
            .collect()
    }

    /// Tables, views and table functions with their columns (`\d`), in that order.
    pub fn tables(&self) -> Vec<TableInfo> {
        let mut out = Vec::new();
        for (name, kind) in
            [("checkins", "table"), ("venues", "table"), ("cases", "table"), ("audit", "table"), ("persons", "view")]
        {
            if let Ok(t) = self.rt.block_on(self.ctx.table_provider(name)) {
                out.push(TableInfo { name: name.into(), kind, schema: t.schema(), signature: None });
            }
        }
        let signature = |f: &str| format!("{f}({} [, {}])", ARGS[0], ARGS[1..].join(", "));
        for (name, schema) in [("f1_contacts", F1_SCHEMA.clone()), ("exposures", EXPOSURES_SCHEMA.clone())] {
            out.push(TableInfo { name: name.into(), kind: "table function", schema, signature: Some(signature(name)) });
        }
        for (name, schema, args) in [
            ("hotspots", crate::trace::HOTSPOTS_SCHEMA.clone(), &HOTSPOTS_ARGS[..]),
            ("clusters", crate::trace::CLUSTERS_SCHEMA.clone(), &CLUSTERS_ARGS[..]),
        ] {
            let signature = Some(format!("{name}([{}])", args.join(", ")));
            out.push(TableInfo { name: name.into(), kind: "table function", schema, signature });
        }
        out
    }

    /// The underlying DataFusion context, for callers that build plans themselves. Such plans
    /// bypass the sandbox's statement check: verify them with DataFusion's `SQLOptions` (DDL,
    /// DML and statements disallowed) before executing.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }
}

/// What kind of failure a DataFusion error is: the statement's fault (bad SQL, unknown names,
/// values that do not cast) or the machine's (files that cannot be read, memory or disk that ran
/// out). Errors of the engine itself, raised inside a table function, keep their own kind.
fn kind(e: &DataFusionError) -> ErrorKind {
    use arrow::error::ArrowError;
    match e.find_root() {
        DataFusionError::IoError(_)
        | DataFusionError::ObjectStore(_)
        | DataFusionError::ParquetError(_)
        | DataFusionError::ResourcesExhausted(_) => ErrorKind::Environment,
        DataFusionError::ArrowError(a, _) => match a.as_ref() {
            ArrowError::IoError(..) | ArrowError::MemoryError(_) | ArrowError::ParquetError(_) => {
                ErrorKind::Environment
            }
            _ => ErrorKind::Usage,
        },
        DataFusionError::External(inner) => {
            if let Some(e) = inner.downcast_ref::<Error>() {
                e.kind()
            } else if inner.is::<std::io::Error>() || inner.is::<parquet::errors::ParquetError>() {
                ErrorKind::Environment
            } else {
                ErrorKind::Usage
            }
        }
        DataFusionError::Internal(_) | DataFusionError::ExecutionJoin(_) => ErrorKind::Internal,
        _ => ErrorKind::Usage,
    }
}

/// DataFusion's message without backtrace, with the sandbox's wording for its refusals and a
/// hint listing what exists when a table is unknown.
fn message(e: &DataFusionError) -> String {
    // Unqualified names resolve to `datafusion.public`; say the name as the user wrote it.
    let m = e.strip_backtrace().replace("'datafusion.public.", "'");
    if let Some(refusal) = sandbox::explain_refusal(&m) {
        return refusal;
    }
    if (m.contains("table '") || m.contains("table function '")) && m.contains("' not found") {
        return format!(
            "{m}; tables: checkins, venues, cases, persons; table functions: f1_contacts(...), exposures(...), \
             hotspots(...), clusters(...)"
        );
    }
    m
}
