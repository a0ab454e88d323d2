//! Hash aggregation that looks each run of equal group keys up once.
//!
//! Parts are sorted by `venue_id`, so a scan of `checkins` delivers venue ids in long runs of
//! equal values (about 60 rows per run at 10 M rows). DataFusion's hash aggregation hashes and
//! probes every row's key; for `GROUP BY venue_id` at 10 M rows that was 70 % of the query's
//! time. [`RunAggregate`] is a physical optimizer rule that replaces an eligible
//! `AggregateExec` reading raw rows (mode `Partial`, or `Single` when the plan has one stage)
//! by [`RunAggregateExec`], which:
//!
//! 1. finds where runs of equal keys start in each input batch (for string views without
//!    nulls by comparing neighbouring 16-byte views, which are identical for values decoded from
//!    one Parquet dictionary entry; otherwise with arrow's `partition` kernel);
//! 2. interns only the first key of each run in DataFusion's own `GroupValues` (the hash table
//!    the replaced operator uses, for every key type);
//! 3. repeats the run's group index for its rows and feeds DataFusion's `GroupsAccumulator`s
//!    exactly as the replaced operator does, then emits the same columns: partial states
//!    (`Partial`) or final values (`Single`).
//!
//! Results are those of the replaced operator; whatever sits above it is unchanged. When a
//! batch's runs are short (under two rows on average, as for `person_id`, which is not sorted)
//! the batch is interned row by row, and run detection backs off for a growing number of
//! batches, so unsorted keys pay little for the check.
//!
//! Eligible: one group expression without grouping sets, no `GROUP BY ... LIMIT`, input order
//! unknown to DataFusion (`Linear`), and aggregates that have a groups accumulator, no
//! `DISTINCT`, no `FILTER` and no `ORDER BY` (others keep DataFusion's operator). Like
//! DataFusion's operator, a partial aggregation whose keys barely repeat (more groups per row
//! than `skip_partial_aggregation_probe_ratio_threshold` after
//! `skip_partial_aggregation_probe_rows_threshold` rows; `GROUP BY person_id`) hands its groups
//! on and passes the rest of its input through as partial states, so the final aggregation
//! alone holds the groups. Unlike it, it does not spill: it reserves its memory in the
//! session's pool and fails with the pool's error if the pool is bounded and full (the
//! session's pool is unbounded).

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, GenericByteViewArray, RecordBatch, UInt32Array};
use arrow::compute::{partition, take};
use arrow::datatypes::ByteViewType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, Statistics};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::OrderingRequirements;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion::physical_plan::aggregates::order::GroupOrdering;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateInputMode, AggregateMode, AggregateOutputMode};
use datafusion::physical_plan::metrics::{BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildStats, DisplayAs, DisplayFormatType, ExecutionPlan, InputDistributionRequirements, InputOrderMode,
    PhysicalExpr, PlanProperties, SendableRecordBatchStream, StatisticsArgs, displayable,
};
use futures::StreamExt;

/// The rule (see the module docs). Runs after DataFusion's own physical optimizer rules.
#[derive(Debug, Default)]
pub(crate) struct RunAggregate;

impl PhysicalOptimizerRule for RunAggregate {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| match node.downcast_ref::<AggregateExec>() {
            Some(agg) if eligible(agg) => {
                Ok(Transformed::yes(Arc::new(RunAggregateExec::new(agg.clone())) as Arc<dyn ExecutionPlan>))
            }
            _ => Ok(Transformed::no(node)),
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "run_aggregate"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Whether `agg` can be replaced by [`RunAggregateExec`] with identical results.
fn eligible(agg: &AggregateExec) -> bool {
    let group_by = agg.group_expr();
    agg.mode().input_mode() == AggregateInputMode::Raw
        && group_by.is_single()
        && group_by.expr().len() == 1
        && agg.limit_options().is_none()
        && matches!(agg.input_order_mode(), InputOrderMode::Linear)
        && agg.dynamic_expressions_produced().is_empty()
        && agg.filter_expr().iter().all(Option::is_none)
        && agg
            .aggr_expr()
            .iter()
            .all(|a| a.groups_accumulator_supported() && !a.is_distinct() && a.order_bys().is_empty())
}

/// A hash aggregation with one group key that interns runs of equal keys once. Schema,
/// properties and expressions are those of the `AggregateExec` it replaces, which it keeps.
#[derive(Debug)]
pub struct RunAggregateExec {
    agg: AggregateExec,
    metrics: ExecutionPlanMetricsSet,
}

impl RunAggregateExec {
    fn new(agg: AggregateExec) -> Self {
        RunAggregateExec { agg, metrics: ExecutionPlanMetricsSet::new() }
    }
}

impl DisplayAs for RunAggregateExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The replaced operator's line, `AggregateExec: mode=Partial, gby=[..], aggr=[..]`.
        let line = displayable(&self.agg as &dyn ExecutionPlan).one_line().to_string();
        write!(f, "RunAggregateExec: {}", line.trim_end().strip_prefix("AggregateExec: ").unwrap_or(&line))
    }
}

impl ExecutionPlan for RunAggregateExec {
    fn name(&self) -> &str {
        "RunAggregateExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.agg.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![self.agg.input()]
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.agg.input_distribution_requirements()
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        self.agg.required_input_ordering()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        self.agg.maintains_input_order()
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        self.agg.benefits_from_input_partitioning()
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.agg.apply_expressions(f)
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        #[expect(deprecated, reason = "the trait's required method delegates to the wrapped operator's")]
        let agg = Arc::new(self.agg.clone()).with_new_children(children)?;
        match agg.downcast_ref::<AggregateExec>() {
            Some(agg) if eligible(agg) => Ok(Arc::new(RunAggregateExec::new(agg.clone()))),
            _ => Ok(agg),
        }
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.agg.input().execute(partition, Arc::clone(&context))?;
        let metric = |name: &'static str| MetricBuilder::new(&self.metrics).counter(name, partition);
        let counters = Counters {
            runs: metric("key_runs"),
            interned: metric("keys_interned"),
            skipped: metric("skipped_aggregation_rows"),
        };
        let reservation = MemoryConsumer::new(format!("RunAggregateExec[{partition}]")).register(context.memory_pool());
        let options = &context.session_config().options().execution;
        // DataFusion's rule for giving up on a partial aggregation that barely reduces its input
        // (same settings): after `rows` input rows, if groups / rows exceeds `ratio`.
        let skip_probe = (matches!(self.agg.mode(), AggregateMode::Partial)
            && options.skip_partial_aggregation_probe_ratio_threshold < 1.0)
            .then_some(SkipProbe {
                rows: options.skip_partial_aggregation_probe_rows_threshold,
                ratio: options.skip_partial_aggregation_probe_ratio_threshold,
            });
        let state = RunAggregation::new(&self.agg, reservation, counters, skip_probe)?;
        let stream = Output {
            input,
            state,
            baseline: BaselineMetrics::new(&self.metrics, partition),
            batch_size: context.session_config().batch_size().max(1),
            pending: std::collections::VecDeque::new(),
            done: false,
        };
        let stream = futures::stream::try_unfold(stream, |mut out| async move {
            let next = out.next().await?;
            Ok(next.map(|batch| (batch, out)))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema(), stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        self.agg.child_stats_requests(partition)
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        self.agg.statistics_from_inputs(input_stats, args)
    }
}

/// One partition's output: aggregates its input, then hands out the groups in batches; or,
/// once the skip probe fires, hands out each input batch as partial states.
struct Output {
    input: SendableRecordBatchStream,
    state: RunAggregation,
    baseline: BaselineMetrics,
    batch_size: usize,
    pending: std::collections::VecDeque<RecordBatch>,
    done: bool,
}

impl Output {
    async fn next(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if let Some(batch) = self.pending.pop_front() {
                self.baseline.record_output(batch.num_rows());
                return Ok(Some(batch));
            }
            if self.done {
                self.baseline.done();
                return Ok(None);
            }
            let batch = self.input.next().await.transpose()?;
            let elapsed = self.baseline.elapsed_compute().clone();
            let _timer = elapsed.timer();
            match batch {
                Some(batch) if self.state.skipping => self.pending.push_back(self.state.pass_through(&batch)?),
                Some(batch) => {
                    self.state.update(&batch)?;
                    if self.state.should_skip() {
                        self.state.skipping = true;
                        self.emit()?;
                    }
                }
                None => {
                    self.done = true;
                    self.emit()?;
                }
            }
        }
    }

    /// Queue every group (with its states or values) in batches of `batch_size` rows.
    fn emit(&mut self) -> Result<()> {
        if let Some(all) = self.state.emit()? {
            let n = all.num_rows();
            self.pending.extend((0..n).step_by(self.batch_size).map(|at| all.slice(at, self.batch_size.min(n - at))));
        }
        Ok(())
    }
}

/// Metrics of a partition.
struct Counters {
    /// Runs of equal keys found.
    runs: Count,
    /// Keys looked up in the group table (one per run, or one per row).
    interned: Count,
    /// Rows passed on as partial states after the skip probe fired.
    skipped: Count,
}

/// When to stop aggregating (mode `Partial` only): see [`RunAggregation::should_skip`].
struct SkipProbe {
    rows: usize,
    ratio: f64,
}

/// The state of one partition's aggregation.
struct RunAggregation {
    group_expr: Arc<dyn PhysicalExpr>,
    /// Arguments of each aggregate.
    arguments: Vec<Vec<Arc<dyn PhysicalExpr>>>,
    group_values: Box<dyn GroupValues>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    schema: arrow::datatypes::SchemaRef,
    /// Final values (mode `Single`) or partial states (mode `Partial`).
    output: AggregateOutputMode,
    /// Group index of each row of the current batch.
    groups: Vec<usize>,
    /// Group index of each run of the current batch.
    run_groups: Vec<usize>,
    backoff: Backoff,
    reservation: MemoryReservation,
    counters: Counters,
    skip_probe: Option<SkipProbe>,
    /// Input rows aggregated so far.
    rows: usize,
    /// Passing rows on as partial states (the probe fired).
    skipping: bool,
}

impl RunAggregation {
    fn new(
        agg: &AggregateExec,
        reservation: MemoryReservation,
        counters: Counters,
        skip_probe: Option<SkipProbe>,
    ) -> Result<Self> {
        let input_schema = agg.input().schema();
        let group_schema = agg.group_expr().group_schema(&input_schema)?;
        Ok(RunAggregation {
            group_expr: Arc::clone(&agg.group_expr().expr()[0].0),
            arguments: agg.aggr_expr().iter().map(|a| a.expressions()).collect(),
            group_values: new_group_values(group_schema, &GroupOrdering::None)?,
            accumulators: agg.aggr_expr().iter().map(|a| a.create_groups_accumulator()).collect::<Result<_>>()?,
            schema: agg.schema(),
            output: agg.mode().output_mode(),
            groups: Vec::new(),
            run_groups: Vec::new(),
            backoff: Backoff::default(),
            reservation,
            counters,
            skip_probe,
            rows: 0,
            skipping: false,
        })
    }

    fn update(&mut self, batch: &RecordBatch) -> Result<()> {
        let rows = batch.num_rows();
        self.rows += rows;
        let keys = self.group_expr.evaluate(batch)?.into_array(rows)?;
        self.intern(&keys)?;
        let total_groups = self.group_values.len();
        for (acc, arguments) in self.accumulators.iter_mut().zip(&self.arguments) {
            acc.update_batch(&evaluate(arguments, batch)?, &self.groups, None, total_groups)?;
        }
        let size = self.group_values.size() + self.accumulators.iter().map(|a| a.size()).sum::<usize>();
        self.reservation.try_resize(size)
    }

    /// Fill `self.groups` with the group index of each key, interning one key per run when
    /// runs are long enough to pay for finding them.
    fn intern(&mut self, keys: &ArrayRef) -> Result<()> {
        if self.backoff.try_runs() {
            // A key type arrow cannot compare (none known) is interned row by row.
            let starts = UInt32Array::from(run_starts(keys).unwrap_or_default());
            if !starts.is_empty() && starts.len() * 2 <= keys.len() {
                self.backoff.hit();
                self.group_values.intern(&[take(keys.as_ref(), &starts, None)?], &mut self.run_groups)?;
                self.groups.clear();
                let starts = starts.values();
                let ends = starts.iter().skip(1).map(|&s| s as usize).chain([keys.len()]);
                for ((&start, end), &group) in starts.iter().zip(ends).zip(&self.run_groups) {
                    self.groups.extend(std::iter::repeat_n(group, end - start as usize));
                }
                self.counters.runs.add(starts.len());
                self.counters.interned.add(starts.len());
                return Ok(());
            }
            self.backoff.miss();
        }
        self.counters.interned.add(keys.len());
        self.group_values.intern(std::slice::from_ref(keys), &mut self.groups)
    }

    /// Whether to stop aggregating: a partial aggregation (whose groups a final one merges
    /// anyway) that has seen at least the probe's rows with more than its ratio of groups per
    /// row, as for `person_id`, would only hold memory. DataFusion's own operator decides the
    /// same way, with the same settings; there the decision is also final.
    fn should_skip(&self) -> bool {
        self.skip_probe
            .as_ref()
            .is_some_and(|p| self.rows >= p.rows && self.group_values.len() as f64 / self.rows as f64 > p.ratio)
    }

    /// A batch as partial states, one group per row (after the probe fired).
    fn pass_through(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        let mut columns = vec![self.group_expr.evaluate(batch)?.into_array(rows)?];
        for (acc, arguments) in self.accumulators.iter().zip(&self.arguments) {
            columns.extend(acc.convert_to_state(&evaluate(arguments, batch)?, None)?);
        }
        self.counters.skipped.add(rows);
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }

    /// All groups with their partial states, in one batch (`None` without groups).
    fn emit(&mut self) -> Result<Option<RecordBatch>> {
        if self.group_values.is_empty() {
            return Ok(None);
        }
        let mut columns = self.group_values.emit(EmitTo::All)?;
        for acc in &mut self.accumulators {
            match self.output {
                AggregateOutputMode::Final => columns.push(acc.evaluate(EmitTo::All)?),
                AggregateOutputMode::Partial => columns.extend(acc.state(EmitTo::All)?),
            }
        }
        self.reservation.free();
        Ok(Some(RecordBatch::try_new(Arc::clone(&self.schema), columns)?))
    }
}

/// An aggregate's arguments evaluated on `batch`, as arrays of its length.
fn evaluate(exprs: &[Arc<dyn PhysicalExpr>], batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    exprs.iter().map(|e| e.evaluate(batch)?.into_array(batch.num_rows())).collect()
}

/// Row index where each run of equal keys starts (the first is 0; empty for no rows).
///
/// String-view keys without nulls take a fast path: two rows with the same 16-byte view hold
/// the same bytes (the same inline value, or the same buffer range), which is the common case
/// for keys decoded from one Parquet dictionary, so most neighbours are compared as two
/// integers. Other keys use arrow's `partition` kernel.
fn run_starts(keys: &ArrayRef) -> Result<Vec<u32>, arrow::error::ArrowError> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::DataType;
    let mut starts = Vec::new();
    match keys.data_type() {
        DataType::Utf8View if keys.null_count() == 0 => view_run_starts(keys.as_string_view(), &mut starts),
        DataType::BinaryView if keys.null_count() == 0 => view_run_starts(keys.as_binary_view(), &mut starts),
        _ => starts.extend(partition(std::slice::from_ref(keys))?.ranges().iter().map(|r| r.start as u32)),
    }
    Ok(starts)
}

fn view_run_starts<T: ByteViewType + ?Sized>(keys: &GenericByteViewArray<T>, starts: &mut Vec<u32>) {
    let views = keys.views();
    if views.is_empty() {
        return;
    }
    starts.push(0);
    for (i, pair) in views.windows(2).enumerate() {
        if pair[0] != pair[1] && differ(keys, pair[0], i) {
            starts.push(i as u32 + 1);
        }
    }
}

/// Whether rows `i` and `i + 1`, whose views differ and the first of which is `view`, hold
/// different values. Inline values (length <= 12) are equal exactly when their views are;
/// longer ones with the same length and prefix are compared byte by byte.
#[inline(never)]
fn differ<T: ByteViewType + ?Sized>(keys: &GenericByteViewArray<T>, view: u128, i: usize) -> bool {
    let next = keys.views()[i + 1];
    let (len, prefix) = (view as u32, (view >> 32) as u32);
    if len <= 12 || len != next as u32 || prefix != (next >> 32) as u32 {
        return true;
    }
    let (a, b): (&[u8], &[u8]) = (keys.value(i).as_ref(), keys.value(i + 1).as_ref());
    a != b
}

/// When to look for runs: every batch while runs pay off; after a batch where they did not,
/// skip 1, 2, 4, ... up to 64 batches before looking again.
#[derive(Debug, Default)]
struct Backoff {
    skip: u32,
    left: u32,
}

impl Backoff {
    fn try_runs(&mut self) -> bool {
        if self.left == 0 {
            return true;
        }
        self.left -= 1;
        false
    }

    fn hit(&mut self) {
        self.skip = 0;
    }

    fn miss(&mut self) {
        self.skip = (self.skip * 2).clamp(1, 64);
        self.left = self.skip;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, StringViewArray, UInt32Array};
    use arrow::compute::{partition, take};
    use proptest::prelude::*;

    use super::{Backoff, run_starts};

    /// Keys around the view layout's edges: empty, inline (<= 12 bytes), exactly 12 and 13
    /// bytes, and long keys sharing length and 4-byte prefix.
    const POOL: [&str; 7] = ["", "a", "abcdefghijkl", "abcdefghijklm", "QR-HCM-Q1-0001", "QR-HCM-Q1-0002", "QR-HNI"];

    fn kernel_starts(keys: &ArrayRef) -> Vec<u32> {
        partition(std::slice::from_ref(keys)).unwrap().ranges().iter().map(|r| r.start as u32).collect()
    }

    proptest! {
        #[test]
        fn run_starts_equal_the_partition_kernel(
            runs in prop::collection::vec((0..POOL.len() + 1, 1usize..5), 0..40),
        ) {
            // Index POOL.len() stands for NULL.
            let picks: Vec<usize> = runs.iter().flat_map(|&(k, n)| std::iter::repeat_n(k, n)).collect();
            let values: Vec<Option<&str>> = picks.iter().map(|&k| POOL.get(k).copied()).collect();
            // Equal keys at different offsets (a builder appends every value) ...
            let copied: ArrayRef = Arc::new(StringViewArray::from(values.clone()));
            // ... and equal keys with identical views (taken from one dictionary, as Parquet
            // dictionary pages decode).
            let dictionary: ArrayRef =
                Arc::new(StringViewArray::from(POOL.iter().map(|s| Some(*s)).chain([None]).collect::<Vec<_>>()));
            let indices = UInt32Array::from(picks.iter().map(|&k| k as u32).collect::<Vec<_>>());
            let shared = take(dictionary.as_ref(), &indices, None).unwrap();
            for keys in [copied, shared] {
                prop_assert_eq!(run_starts(&keys).unwrap(), kernel_starts(&keys));
            }
        }
    }

    #[test]
    fn backoff_doubles_after_misses_and_resets_after_a_hit() {
        let mut b = Backoff::default();
        let mut pattern = String::new();
        for _ in 0..12 {
            if b.try_runs() {
                pattern.push('T');
                b.miss();
            } else {
                pattern.push('.');
            }
        }
        assert_eq!(pattern, "T.T..T....T.");
        b.hit();
        b.left = 0;
        assert!(b.try_runs());
        b.miss();
        assert_eq!(b.skip, 1);
    }
}
