//! `f1_contacts` and `exposures` on a cluster: the trace as a DataFusion plan that Ballista
//! spreads over its executors, so that the answer is exactly `Snapshot::trace`'s.
//!
//! ```text
//! F1RankExec                 one task: unions per contact and venue, ranking, the F1 list
//!   CoalescePartitionsExec   (a stage boundary: the pieces are shuffled to one task)
//!     F1PiecesExec           one task per partition: the pieces of the parts it is given
//!       DataSourceExec       in-memory, partition i = the names of the parts of day range i
//! ```
//!
//! The client's `f1_contacts(...)` is an [`F1Table`] naming the store, the manifest version
//! and the request; the scheduler plans it ([`F1Table`]'s `scan`): it computes the F0's
//! union of stays U0 (a few of its own check-ins), lists the parts of the days U0 reaches, and
//! cuts them into day ranges, one partition each. Each executor opens the same manifest
//! version of the store (the store is at the same path everywhere) and joins U0 against the
//! venue postings of its parts (`exposure::pieces_in`); the pieces of all parts are the union
//! of those of each range, so the ranking over their concatenation is the local trace's. The
//! plan's nodes travel with [`PlanCodec`]. `pc-covid` (scans, not stays) is traced by the
//! scheduler in one piece.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type};
use ballista_core::serde::BallistaPhysicalExtensionCodec;
use datafusion::catalog::Session as DfSession;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::TableProvider;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties};
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{PersonKey, Seconds, VenueKey};
use crate::store::Snapshot;
use crate::trace::exposure::{self, Piece};
use crate::trace::{ExposureRule, RankBy, RuleParams, TraceRequest};

/// A trace request as it travels in a plan (the request minus its deadline).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WireRequest {
    f0: String,
    from: Option<Seconds>,
    to: Option<Seconds>,
    linger: Seconds,
    dwell: Seconds,
    max_visit: Seconds,
    min_overlap: Seconds,
    limit: Option<usize>,
    rule: String,
    params: RuleParams,
    onset: Option<Seconds>,
    score: bool,
}

impl From<&TraceRequest> for WireRequest {
    fn from(r: &TraceRequest) -> Self {
        WireRequest {
            f0: r.f0.clone(),
            from: r.from,
            to: r.to,
            linger: r.linger,
            dwell: r.dwell,
            max_visit: r.max_visit,
            min_overlap: r.min_overlap,
            limit: r.limit,
            rule: r.rule.name().to_string(),
            params: (*r.params).clone(),
            onset: r.onset,
            score: r.rank_by == RankBy::Score,
        }
    }
}

impl WireRequest {
    fn request(&self) -> DfResult<TraceRequest> {
        let rule = ExposureRule::parse(&self.rule).map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(TraceRequest {
            f0: self.f0.clone(),
            from: self.from,
            to: self.to,
            linger: self.linger,
            dwell: self.dwell,
            max_visit: self.max_visit,
            min_overlap: self.min_overlap,
            limit: self.limit,
            rule,
            params: Arc::new(self.params.clone()),
            onset: self.onset,
            rank_by: if self.score { RankBy::Score } else { RankBy::Exposure },
            ..TraceRequest::default()
        })
    }
}

fn engine(e: Error) -> DataFusionError {
    match e.kind() {
        crate::ErrorKind::Usage | crate::ErrorKind::NotFound => DataFusionError::Plan(e.to_string()),
        _ => DataFusionError::External(Box::new(e)),
    }
}

/// Snapshots opened by this process, by store and manifest version: the tasks of one statement
/// (and the next statements) share one (its dictionaries and indexes are mapped once).
static SNAPSHOTS: LazyLock<Mutex<HashMap<(PathBuf, u64), Snapshot>>> = LazyLock::new(Default::default);

fn snapshot(dir: &Path, version: u64) -> DfResult<Snapshot> {
    let key = (dir.to_path_buf(), version);
    let mut open = SNAPSHOTS.lock().map_err(|_| DataFusionError::Internal("snapshot cache poisoned".into()))?;
    if let Some(s) = open.get(&key) {
        return Ok(s.clone());
    }
    let s = Snapshot::open_version(dir, version).map_err(engine)?;
    if open.len() >= 8 {
        open.clear();
    }
    open.insert(key, s.clone());
    Ok(s)
}

/// `f1_contacts(...)` (or, with `details`, `exposures(...)`) planned for a cluster: what to
/// trace, in which store and manifest version. Planned by the scheduler.
#[derive(Debug)]
pub(crate) struct F1Table {
    pub(crate) dir: PathBuf,
    pub(crate) version: u64,
    pub(crate) request: WireRequest,
    pub(crate) details: bool,
    schema: SchemaRef,
}

impl F1Table {
    /// The table for `req` over `snapshot`; its columns are those of the local answer.
    pub(crate) fn new(snapshot: &Snapshot, req: &TraceRequest, details: bool) -> Result<F1Table> {
        let empty = snapshot.ranked(req, &[], 0, 0, 0)?;
        let schema = if details { empty.exposures_record_batch()?.schema() } else { empty.to_record_batch().schema() };
        let dir = std::path::absolute(snapshot.dir()).map_err(Error::io(snapshot.dir()))?;
        Ok(F1Table { dir, version: snapshot.manifest().version, request: req.into(), details, schema })
    }

    /// Rebuild from what a plan carries: the codec's fields and the table's columns.
    pub(crate) fn decoded(
        dir: PathBuf,
        version: u64,
        request: WireRequest,
        details: bool,
        schema: SchemaRef,
    ) -> F1Table {
        F1Table { dir, version, request, details, schema }
    }

    fn plan(&self, partitions: usize, projection: Option<Vec<usize>>) -> DfResult<Arc<dyn ExecutionPlan>> {
        let snap = snapshot(&self.dir, self.version)?;
        let req = self.request.request()?;
        let f0 = snap
            .person_key(&req.f0)
            .map_err(engine)?
            .ok_or_else(|| engine(Error::NotFound { what: "person", id: req.f0.clone() }))?;
        let source = Arc::new(Source {
            dir: self.dir.clone(),
            version: self.version,
            request: self.request.clone(),
            details: self.details,
            f0,
            u0: Vec::new(),
            measured: Vec::new(),
            visits: 0,
        });
        let rank = |input: Arc<dyn ExecutionPlan>, source: Arc<Source>| -> Arc<dyn ExecutionPlan> {
            Arc::new(F1RankExec::new(input, source, self.schema.clone(), projection.clone()))
        };
        if req.rule == ExposureRule::PcCovid {
            // Scans, not stays: traced here in one piece, on no pieces at all.
            let none = MemorySourceConfig::try_new_exec(&[vec![]], PIECES_SCHEMA.clone(), None)?;
            return Ok(rank(none, source));
        }
        let reach = exposure::f0_union(&snap, f0, &req).map_err(engine)?;
        // The parts of the days U0 reaches, in day order, cut into `partitions` day ranges.
        let mut parts: Vec<(i64, String)> = Vec::new();
        let mut seen = HashSet::new();
        for &(_, (s, e)) in &reach.u0 {
            let (first, last) = exposure::day_range(&req, s, e);
            for p in snap.parts_of_days(first, last) {
                if seen.insert(p.info.path.clone()) {
                    parts.push((p.info.day, p.info.path.clone()));
                }
            }
        }
        parts.sort();
        let n = partitions.clamp(1, parts.len().max(1));
        let per = parts.len().div_ceil(n).max(1);
        let groups: Vec<Vec<RecordBatch>> = (0..n)
            .map(|i| {
                let names: Vec<&str> = parts.iter().skip(i * per).take(per).map(|(_, p)| p.as_str()).collect();
                let batch = RecordBatch::try_new(PARTS_SCHEMA.clone(), vec![Arc::new(StringArray::from(names))])?;
                Ok(vec![batch])
            })
            .collect::<DfResult<_>>()?;
        let leaf = MemorySourceConfig::try_new_exec(&groups, PARTS_SCHEMA.clone(), None)?;
        let source =
            Arc::new(Source { u0: reach.u0, measured: reach.measured, visits: reach.visits, ..(*source).clone() });
        let pieces: Arc<dyn ExecutionPlan> = Arc::new(F1PiecesExec::new(leaf, source.clone()));
        Ok(rank(Arc::new(CoalescePartitionsExec::new(pieces)), source))
    }
}

#[async_trait::async_trait]
impl TableProvider for F1Table {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn DfSession,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.plan(state.config().target_partitions(), projection.cloned())
    }
}

/// What the tasks of one trace share: the store, the request, the F0 and its union of stays.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Source {
    dir: PathBuf,
    version: u64,
    request: WireRequest,
    details: bool,
    f0: PersonKey,
    /// U0, `(venue, [start, end))`, and its measured part.
    u0: Vec<(VenueKey, (Seconds, Seconds))>,
    measured: Vec<(VenueKey, (Seconds, Seconds))>,
    visits: usize,
}

impl Source {
    /// The pieces of the parts named `names`.
    fn pieces(&self, names: &HashSet<String>) -> DfResult<RecordBatch> {
        let snap = snapshot(&self.dir, self.version)?;
        let req = self.request.request()?;
        let f0 = self.f0;
        let (pieces, _) = exposure::pieces_in(&snap, &|p| p == f0, &self.u0, &self.measured, &req, &|part| {
            names.contains(&part.info.path)
        })
        .map_err(engine)?;
        pieces_batch(&pieces)
    }

    /// The answer from the pieces of every part.
    fn ranked(&self, pieces: &[Piece], schema: &SchemaRef, projection: &Option<Vec<usize>>) -> DfResult<RecordBatch> {
        let snap = snapshot(&self.dir, self.version)?;
        let req = self.request.request()?;
        let result = match req.rule {
            ExposureRule::PcCovid => snap.trace(&req),
            _ => snap.ranked(&req, pieces, 0, self.visits, self.u0.len()),
        }
        .map_err(engine)?;
        let batch =
            if self.details { result.exposures_record_batch().map_err(engine)? } else { result.to_record_batch() };
        let batch = RecordBatch::try_new(schema.clone(), batch.columns().to_vec())?;
        Ok(match projection {
            Some(p) => batch.project(p)?,
            None => batch,
        })
    }
}

static PARTS_SCHEMA: LazyLock<SchemaRef> =
    LazyLock::new(|| Arc::new(Schema::new(vec![Field::new("part", DataType::Utf8, false)])));

static PIECES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("person", DataType::UInt32, false),
        Field::new("venue", DataType::UInt32, false),
        Field::new("start", DataType::Int64, false),
        Field::new("end", DataType::Int64, false),
        Field::new("measured", DataType::Boolean, false),
    ]))
});

fn pieces_batch(pieces: &[Piece]) -> DfResult<RecordBatch> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(pieces.iter().map(|p| p.person))),
        Arc::new(UInt32Array::from_iter_values(pieces.iter().map(|p| p.venue))),
        Arc::new(Int64Array::from_iter_values(pieces.iter().map(|p| p.start))),
        Arc::new(Int64Array::from_iter_values(pieces.iter().map(|p| p.end))),
        Arc::new(BooleanArray::from(pieces.iter().map(|p| p.measured).collect::<Vec<_>>())),
    ];
    Ok(RecordBatch::try_new(PIECES_SCHEMA.clone(), columns)?)
}

fn read_pieces(batches: &[RecordBatch]) -> Vec<Piece> {
    let mut out = Vec::new();
    for b in batches {
        let (person, venue) = (b.column(0).as_primitive::<UInt32Type>(), b.column(1).as_primitive::<UInt32Type>());
        let start = b.column(2).as_primitive::<arrow::datatypes::Int64Type>();
        let end = b.column(3).as_primitive::<arrow::datatypes::Int64Type>();
        let measured = b.column(4).as_boolean();
        for i in 0..b.num_rows() {
            out.push(Piece {
                person: person.value(i),
                venue: venue.value(i),
                start: start.value(i),
                end: end.value(i),
                measured: measured.value(i),
            });
        }
    }
    out
}

fn properties(schema: SchemaRef, partitions: usize) -> Arc<PlanProperties> {
    Arc::new(PlanProperties::new(
        EquivalenceProperties::new(schema),
        Partitioning::UnknownPartitioning(partitions),
        EmissionType::Final,
        Boundedness::Bounded,
    ))
}

/// Run `work` on the blocking pool once the input is read, as a one-batch stream.
fn once(
    schema: SchemaRef,
    input: SendableRecordBatchStream,
    work: impl FnOnce(Vec<RecordBatch>) -> DfResult<RecordBatch> + Send + 'static,
) -> SendableRecordBatchStream {
    let answer = async move {
        let batches: Vec<RecordBatch> = input.try_collect().await?;
        tokio::task::spawn_blocking(move || work(batches))
            .await
            .map_err(|e| DataFusionError::Internal(format!("a trace task failed: {e}")))?
    };
    Box::pin(RecordBatchStreamAdapter::new(schema, futures::stream::once(answer)))
}

/// The methods both trace nodes share: one input (`self.input`), no expressions, no order kept.
macro_rules! one_input_node {
    () => {
        fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
            vec![&self.input]
        }

        fn maintains_input_order(&self) -> Vec<bool> {
            vec![false]
        }

        fn benefits_from_input_partitioning(&self) -> Vec<bool> {
            vec![false]
        }

        fn apply_expressions(
            &self,
            _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
        ) -> DfResult<TreeNodeRecursion> {
            Ok(TreeNodeRecursion::Continue)
        }
    };
}

/// Per partition: the pieces of the parts its input names.
#[derive(Debug)]
pub(crate) struct F1PiecesExec {
    input: Arc<dyn ExecutionPlan>,
    source: Arc<Source>,
    properties: Arc<PlanProperties>,
}

impl F1PiecesExec {
    fn new(input: Arc<dyn ExecutionPlan>, source: Arc<Source>) -> F1PiecesExec {
        let n = input.properties().output_partitioning().partition_count();
        F1PiecesExec { input, source, properties: properties(PIECES_SCHEMA.clone(), n) }
    }
}

impl DisplayAs for F1PiecesExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "F1PiecesExec: f0={}, venue intervals={}", self.source.request.f0, self.source.u0.len())
    }
}

impl ExecutionPlan for F1PiecesExec {
    fn name(&self) -> &str {
        "F1PiecesExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    one_input_node!();

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> DfResult<Arc<dyn ExecutionPlan>> {
        let [input] =
            <[_; 1]>::try_from(children).map_err(|_| DataFusionError::Internal("F1PiecesExec has one input".into()))?;
        Ok(Arc::new(F1PiecesExec::new(input, self.source.clone())))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let source = self.source.clone();
        Ok(once(PIECES_SCHEMA.clone(), input, move |batches| {
            let mut names = HashSet::new();
            for b in &batches {
                let col = b.column(0).as_string::<i32>();
                names.extend((0..col.len()).map(|i| col.value(i).to_string()));
            }
            source.pieces(&names)
        }))
    }
}

/// One partition: the ranked list (or exposures) from every piece.
#[derive(Debug)]
pub(crate) struct F1RankExec {
    input: Arc<dyn ExecutionPlan>,
    source: Arc<Source>,
    /// The answer's columns before `projection`.
    full: SchemaRef,
    projection: Option<Vec<usize>>,
    properties: Arc<PlanProperties>,
}

impl F1RankExec {
    fn new(
        input: Arc<dyn ExecutionPlan>,
        source: Arc<Source>,
        full: SchemaRef,
        projection: Option<Vec<usize>>,
    ) -> F1RankExec {
        let schema = match &projection {
            Some(p) => Arc::new(full.project(p).expect("projection within the answer's columns")),
            None => full.clone(),
        };
        F1RankExec { input, source, full, projection, properties: properties(schema, 1) }
    }
}

impl DisplayAs for F1RankExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "F1RankExec: f0={}, rule={}", self.source.request.f0, self.source.request.rule)
    }
}

impl ExecutionPlan for F1RankExec {
    fn name(&self) -> &str {
        "F1RankExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    one_input_node!();

    fn required_input_distribution(&self) -> Vec<datafusion::physical_plan::Distribution> {
        vec![datafusion::physical_plan::Distribution::SinglePartition]
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> DfResult<Arc<dyn ExecutionPlan>> {
        let [input] =
            <[_; 1]>::try_from(children).map_err(|_| DataFusionError::Internal("F1RankExec has one input".into()))?;
        Ok(Arc::new(F1RankExec::new(input, self.source.clone(), self.full.clone(), self.projection.clone())))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!("F1RankExec has one partition, not {partition}")));
        }
        let input = self.input.execute(0, context)?;
        let (source, full, projection) = (self.source.clone(), self.full.clone(), self.projection.clone());
        Ok(once(self.schema(), input, move |batches| {
            // The ranking reads pieces sorted (person, venue, start), as `exposure::pieces` leaves them.
            let mut pieces = read_pieces(&batches);
            pieces.sort_unstable();
            source.ranked(&pieces, &full, &projection)
        }))
    }
}

/// The physical codec of a truyvet cluster: the trace's nodes, and Ballista's own.
#[derive(Debug, Default)]
pub struct PlanCodec {
    ballista: BallistaPhysicalExtensionCodec,
}

#[derive(Serialize, Deserialize)]
enum Node {
    Pieces(Source),
    Rank { source: Source, full: Vec<u8>, projection: Option<Vec<usize>> },
}

/// The first bytes of a node written by [`PlanCodec`].
const NODE_MAGIC: &[u8; 4] = b"TVP1";

fn schema_bytes(schema: &SchemaRef) -> DfResult<Vec<u8>> {
    let mut buf = Vec::new();
    let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut buf, schema)?;
    w.finish()?;
    drop(w);
    Ok(buf)
}

fn schema_of(bytes: &[u8]) -> DfResult<SchemaRef> {
    Ok(arrow::ipc::reader::StreamReader::try_new(bytes, None)?.schema())
}

impl PhysicalExtensionCodec for PlanCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let Some(rest) = buf.strip_prefix(NODE_MAGIC.as_slice()) else {
            return self.ballista.try_decode(buf, inputs, ctx, proto_converter);
        };
        let node: Node =
            serde_json::from_slice(rest).map_err(|e| DataFusionError::Internal(format!("a trace node: {e}")))?;
        let [input] = <[_; 1]>::try_from(inputs.to_vec())
            .map_err(|_| DataFusionError::Internal("a trace node has one input".into()))?;
        Ok(match node {
            Node::Pieces(source) => Arc::new(F1PiecesExec::new(input, Arc::new(source))),
            Node::Rank { source, full, projection } => {
                Arc::new(F1RankExec::new(input, Arc::new(source), schema_of(&full)?, projection))
            }
        })
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        let wire = if let Some(p) = node.downcast_ref::<F1PiecesExec>() {
            Node::Pieces((*p.source).clone())
        } else if let Some(r) = node.downcast_ref::<F1RankExec>() {
            Node::Rank { source: (*r.source).clone(), full: schema_bytes(&r.full)?, projection: r.projection.clone() }
        } else {
            return self.ballista.try_encode(node, buf, proto_converter);
        };
        buf.extend_from_slice(NODE_MAGIC);
        serde_json::to_writer(&mut *buf, &wire).map_err(|e| DataFusionError::Internal(format!("a trace node: {e}")))
    }
}
