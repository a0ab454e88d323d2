//! `truyvet._truyvet`: the Rust half of the `truyvet` Python package.
//!
//! Results cross into Python as Arrow through the C stream interface: each call returns an
//! [`ArrowStream`], an object with `__arrow_c_stream__` (the Arrow PyCapsule protocol), which
//! `pyarrow.table()`, `polars.DataFrame()` and any other Arrow consumer import without copying
//! a buffer. `python/truyvet/__init__.py` turns them into `pyarrow.Table`s and converts Python
//! times and durations to the text the CLI takes, so both sides parse them one way.
//!
//! Every call releases the GIL while the engine works, so a dashboard's other threads run.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use pyo3::exceptions::{PyLookupError, PyOSError, PyRuntimeError, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use truyvet::sql::{Session, SessionOptions};
use truyvet::time::{Tz, parse_duration, parse_time_arg};
use truyvet::trace::{ChainRequest, RankBy};
use truyvet::{Error, ErrorKind, RuleBook, Snapshot, TraceRequest, TraceResult};

/// The engine's error as the Python exception of its class: `LookupError` for an unknown
/// person or venue, `ValueError` for bad arguments or input, `TimeoutError` for a time limit,
/// `OSError` for a damaged or unreadable store, `RuntimeError` for a bug.
fn py_err(e: Error) -> PyErr {
    let text = e.to_string();
    match (&e, e.kind()) {
        (Error::TimeLimit, _) => PyTimeoutError::new_err(text),
        (_, ErrorKind::NotFound) => PyLookupError::new_err(text),
        (_, ErrorKind::Usage | ErrorKind::Data) => PyValueError::new_err(text),
        (_, ErrorKind::Environment) => PyOSError::new_err(text),
        (_, ErrorKind::Internal) => PyRuntimeError::new_err(text),
    }
}

fn lock_err<T>(_: PoisonError<T>) -> PyErr {
    PyRuntimeError::new_err("truyvet: a previous call panicked while holding this store")
}

/// One result, ready to be handed over once through the Arrow C stream interface.
#[pyclass(module = "truyvet._truyvet", frozen)]
pub struct ArrowStream {
    result: Mutex<Option<(SchemaRef, Vec<RecordBatch>)>>,
}

impl ArrowStream {
    fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> ArrowStream {
        ArrowStream { result: Mutex::new(Some((schema, batches))) }
    }
}

#[pymethods]
impl ArrowStream {
    /// The Arrow PyCapsule protocol: a capsule named `arrow_array_stream` holding an
    /// `ArrowArrayStream`. The batches move to the consumer; their buffers are freed when it
    /// releases them. A stream can be consumed once.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        // The protocol lets a producer ignore a requested schema; the consumer casts if it must.
        let _ = requested_schema;
        let (schema, batches) = self
            .result
            .lock()
            .map_err(lock_err)?
            .take()
            .ok_or_else(|| PyValueError::new_err("this Arrow stream has already been consumed"))?;
        PyCapsule::new_with_value(py, truyvet::ffi::stream(schema, batches), c"arrow_array_stream")
    }
}

/// The trace parameters as the Python wrapper passes them: times and durations as the text the
/// CLI takes (`2021-08-01T08:00:00+07:00`, `15m`, plain seconds). The wrapper passes every key.
#[derive(FromPyObject, Default)]
#[pyo3(from_item_all)]
struct TraceArgs {
    start: Option<String>,
    end: Option<String>,
    tz: Option<String>,
    rule: Option<String>,
    rules: Option<PathBuf>,
    linger: Option<String>,
    dwell: Option<String>,
    max_visit: Option<String>,
    min_overlap: Option<String>,
    radius: Option<String>,
    onset: Option<String>,
    limit: Option<usize>,
    rank: Option<String>,
}

impl TraceArgs {
    /// The request, built as `truyvet trace` builds it: the rule (from the rules file when one
    /// is given) first, then each parameter given overrides the rule's.
    fn request(&self, f0: &str) -> truyvet::Result<TraceRequest> {
        let tz = self.tz.as_deref().map_or(Ok(Tz::UTC), Tz::parse)?;
        let mut req =
            RuleBook::open(self.rules.as_deref())?.apply_named(self.rule.as_deref(), TraceRequest::new(f0))?;
        let time = |what, t: &Option<String>| t.as_deref().map(|t| parse_time_arg(what, t, tz)).transpose();
        if let Some(from) = time("start", &self.start)? {
            req.from = Some(from);
        }
        if let Some(to) = time("end", &self.end)? {
            req.to = Some(to);
        }
        if let Some(onset) = time("onset", &self.onset)? {
            req.onset = Some(onset);
        }
        let seconds = |d: &Option<String>| d.as_deref().map(parse_duration).transpose();
        if let Some(s) = seconds(&self.linger)? {
            req.linger = s;
        }
        if let Some(s) = seconds(&self.dwell)? {
            req.dwell = s;
        }
        if let Some(s) = seconds(&self.max_visit)? {
            req.max_visit = s;
        }
        if let Some(s) = seconds(&self.min_overlap)? {
            req.min_overlap = s;
        }
        if let Some(s) = seconds(&self.radius)? {
            Arc::make_mut(&mut req.params).radius = s;
        }
        req.rank_by = self.rank.as_deref().map_or(Ok(RankBy::Exposure), RankBy::parse)?;
        let limit = self.limit.or(req.limit);
        Ok(req.limit(limit))
    }
}

/// `batch` with the trace's figures in its schema's metadata, for a dashboard to show or log:
/// the engine's time for the trace (`elapsed_us`) and for building the Arrow batch (`arrow_us`).
fn with_trace_metadata(batch: RecordBatch, result: &TraceResult, trace_us: u128, arrow_us: u128) -> RecordBatch {
    let schema = batch.schema();
    let mut metadata: HashMap<String, String> = schema.metadata().clone();
    for (key, value) in [
        ("truyvet.f0", result.request.f0.clone()),
        ("truyvet.rule", result.request.rule.name().to_string()),
        ("truyvet.f0_visits", result.f0_visits.to_string()),
        ("truyvet.rows_examined", result.rows_examined.to_string()),
        ("truyvet.elapsed_us", trace_us.to_string()),
        ("truyvet.arrow_us", arrow_us.to_string()),
    ] {
        metadata.insert(key.to_string(), value);
    }
    let schema = Arc::new(Schema::new_with_metadata(schema.fields().clone(), metadata));
    batch.with_schema(schema).expect("only the metadata changed")
}

/// A truyvet store opened read-only: the snapshot of its last commit. Commits made since
/// (by `truyvet ingest` in another process) are seen after [`Store::refresh`].
#[pyclass(module = "truyvet._truyvet", frozen)]
pub struct Store {
    store: RwLock<truyvet::Store>,
    /// The SQL session over the current snapshot, made on first use.
    session: Mutex<Option<Arc<Session>>>,
}

impl Store {
    fn snapshot(&self) -> PyResult<Snapshot> {
        Ok(self.store.read().map_err(lock_err)?.snapshot())
    }

    /// Trace `f0` and turn the result into one batch with `batch`, all without the GIL (the
    /// result, thousands of strings for a busy F0, is also freed there).
    fn traced(
        &self,
        py: Python<'_>,
        f0: &str,
        args: Option<TraceArgs>,
        intervals: bool,
        batch: fn(&TraceResult) -> truyvet::Result<RecordBatch>,
    ) -> PyResult<ArrowStream> {
        let snapshot = self.snapshot()?;
        let args = args.unwrap_or_default();
        let batch = py
            .detach(|| {
                let req = args.request(f0)?.intervals(intervals);
                let started = Instant::now();
                let result = snapshot.trace(&req)?;
                let traced = Instant::now();
                let batch = batch(&result)?;
                Ok(with_trace_metadata(batch, &result, (traced - started).as_micros(), traced.elapsed().as_micros()))
            })
            .map_err(py_err)?;
        Ok(ArrowStream::new(batch.schema(), vec![batch]))
    }
}

#[pymethods]
impl Store {
    /// Open the store in `path`.
    #[new]
    fn open(py: Python<'_>, path: PathBuf) -> PyResult<Store> {
        let store = py.detach(|| truyvet::Store::open(&path)).map_err(py_err)?;
        Ok(Store { store: RwLock::new(store), session: Mutex::new(None) })
    }

    /// The store's directory.
    #[getter]
    fn path(&self) -> PyResult<PathBuf> {
        Ok(self.store.read().map_err(lock_err)?.dir().to_path_buf())
    }

    /// Move to the store's latest commit. True when there was a newer one.
    fn refresh(&self) -> PyResult<bool> {
        // Reading the manifest is quick; the GIL is kept (a write guard cannot leave the thread).
        let moved = self.store.write().map_err(lock_err)?.refresh().map_err(py_err)?;
        if moved {
            *self.session.lock().map_err(lock_err)? = None;
        }
        Ok(moved)
    }

    /// The ranked F1 list of `f0` (the columns of `truyvet trace --format parquet`).
    #[pyo3(signature = (f0, args = None))]
    fn trace(&self, py: Python<'_>, f0: &str, args: Option<TraceArgs>) -> PyResult<ArrowStream> {
        // The list alone: its intervals are not gathered.
        self.traced(py, f0, args, false, |result| Ok(result.to_record_batch()))
    }

    /// Every exposure interval behind `f0`'s F1 list: one row per contact, venue and
    /// overlapping stretch of time.
    #[pyo3(signature = (f0, args = None))]
    fn exposures(&self, py: Python<'_>, f0: &str, args: Option<TraceArgs>) -> PyResult<ArrowStream> {
        self.traced(py, f0, args, true, TraceResult::exposures_record_batch)
    }

    /// `f0`'s contacts followed `hops` hops (2: the F2, 3: the F3), as `truyvet trace --hops`:
    /// the list gains `hop` and `via` columns; with `details`, the exposure intervals.
    #[pyo3(signature = (f0, args = None, hops = 2, max_per_hop = None, details = false))]
    fn chain(
        &self,
        py: Python<'_>,
        f0: &str,
        args: Option<TraceArgs>,
        hops: u8,
        max_per_hop: Option<usize>,
        details: bool,
    ) -> PyResult<ArrowStream> {
        let snapshot = self.snapshot()?;
        let args = args.unwrap_or_default();
        let batch = py
            .detach(|| {
                let req = ChainRequest::new(args.request(f0)?.intervals(details), hops).max_per_hop(max_per_hop);
                let chain = snapshot.trace_chain(&req, None)?;
                if details { chain.exposures_record_batch() } else { chain.to_record_batch() }
            })
            .map_err(py_err)?;
        Ok(ArrowStream::new(batch.schema(), vec![batch]))
    }

    /// Run one read-only SQL statement (the tables and table functions of `truyvet sql`).
    /// With `rules`, `f1_contacts` and `exposures` may name that file's rules.
    #[pyo3(signature = (query, rules = None))]
    fn sql(&self, py: Python<'_>, query: &str, rules: Option<PathBuf>) -> PyResult<ArrowStream> {
        let snapshot = self.snapshot()?;
        let session = match rules {
            Some(path) => {
                let make = || {
                    let options = SessionOptions::default().rules(RuleBook::read(&path)?);
                    Session::with_options(&snapshot, options)
                };
                Arc::new(py.detach(make).map_err(py_err)?)
            }
            None => {
                let mut cached = self.session.lock().map_err(lock_err)?;
                match &*cached {
                    Some(s) => s.clone(),
                    None => {
                        let s = Arc::new(py.detach(|| Session::new(&snapshot)).map_err(py_err)?);
                        cached.insert(s).clone()
                    }
                }
            }
        };
        let (schema, batches) = py.detach(|| session.query(query)).map_err(py_err)?;
        Ok(ArrowStream::new(schema, batches))
    }

    /// The store's overview (`truyvet stats --format json`), as JSON text.
    fn stats_json(&self, py: Python<'_>) -> PyResult<String> {
        let snapshot = self.snapshot()?;
        let stats = py.detach(|| snapshot.stats()).map_err(py_err)?;
        serde_json::to_string(&stats).map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }

    fn __repr__(&self) -> PyResult<String> {
        Ok(format!("truyvet.Store({:?})", self.store.read().map_err(lock_err)?.dir().display().to_string()))
    }
}

/// The extension module.
#[pymodule]
fn _truyvet(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Store>()?;
    m.add_class::<ArrowStream>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
