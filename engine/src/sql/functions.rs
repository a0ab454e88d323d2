//! Table functions that run the trace engine: `f1_contacts(...)` and `exposures(...)`, and over
//! the cases register `hotspots(...)` and `clusters(...)` ([`RegisterFunction`]).
//!
//! Arguments are positional, all but the first optional, and must be constants (DataFusion
//! folds `now() - INTERVAL '14 days'` and casts into constants before the call):
//!
//! | # | name            | accepts                                                              |
//! |---|-----------------|----------------------------------------------------------------------|
//! | 1 | `f0`            | text (a person id; an integer is read as its decimal text)          |
//! | 2 | `from`          | text as `truyvet trace --from` (read in UTC), a timestamp, a date, or Unix seconds |
//! | 3 | `to`            | same, exclusive                                                      |
//! | 4 | `linger_s`      | seconds, text as `--linger` (`15m`), or an interval                 |
//! | 5 | `dwell_s`       | same                                                                 |
//! | 6 | `max_visit_s`   | same                                                                 |
//! | 7 | `min_overlap_s` | same                                                                 |
//! | 8 | `rule`          | text: a preset (`overlap`, `pc-covid`, `midnight`, `next-checkin`, `cwa`) or a rule of the session's rules file ([`SessionOptions::rules`](super::SessionOptions::rules)) |
//! | 9 | `radius_s`      | as `dwell_s` (`pc-covid`'s radius)                                   |
//!
//! `NULL` (or a missing argument) keeps the default of [`TraceRequest::default`], or of the rule:
//! as with `truyvet trace --rules F --rule R --dwell D`, the rule (the file's `overlap` when a
//! file is given and no rule named) sets its parameters first and the arguments given override
//! them. The call runs
//! [`Snapshot::trace`] once, while the statement is planned, and the result is a small in-memory
//! table: `f1_contacts` has the columns and row order of `truyvet trace --rule` for the rule
//! ([`crate::trace::f1_schema`]; midnight and cwa days are UTC days here), `exposures` those of `truyvet exposures`
//! ([`crate::model::EXPOSURES_SCHEMA`]). This module only translates arguments; the semantics
//! live in `trace`.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, IntervalMonthDayNano, SchemaRef};
use datafusion::catalog::{Session as DfSession, TableFunctionArgs, TableFunctionImpl};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableProvider;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

use crate::model::Seconds;
use crate::store::Snapshot;
use crate::time::{DAY, Tz, parse_duration, parse_time_arg};
use crate::trace::{RuleBook, TraceRequest};

/// Argument names, in order (also shown by `\d`).
pub(crate) const ARGS: [&str; 9] =
    ["f0", "from", "to", "linger_s", "dwell_s", "max_visit_s", "min_overlap_s", "rule", "radius_s"];

/// `f1_contacts` (`details == false`) or `exposures` (`details == true`) over one snapshot.
#[derive(Debug)]
pub(crate) struct TraceFunction {
    pub snapshot: Snapshot,
    pub details: bool,
    /// The rules `rule` can name.
    pub rules: RuleBook,
    /// The session runs on a cluster: the call becomes a plan the cluster traces.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    pub cluster: bool,
}

impl TraceFunction {
    fn name(&self) -> &'static str {
        if self.details { "exposures" } else { "f1_contacts" }
    }
}

impl TableFunctionImpl for TraceFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let name = self.name();
        let err = |msg: String| DataFusionError::Plan(format!("{name}: {msg}"));
        // A bad argument or an unknown F0 is the statement's fault and reads as a plan error; a
        // damaged store keeps its own kind (and exit code) through `External`.
        let engine_err = |e: crate::Error| match e.kind() {
            crate::ErrorKind::Usage | crate::ErrorKind::NotFound => err(e.to_string()),
            _ => DataFusionError::External(Box::new(e)).context(name),
        };
        let req = request(args.exprs(), &self.rules).map_err(err)?;
        #[cfg(feature = "cluster")]
        if self.cluster {
            // Checked here, so that a bad call fails as it does locally; traced by the cluster.
            req.check().map_err(engine_err)?;
            if self.snapshot.person_key(&req.f0).map_err(engine_err)?.is_none() {
                return Err(engine_err(crate::Error::NotFound { what: "person", id: req.f0.clone() }));
            }
            let table = crate::cluster::trace::F1Table::new(&self.snapshot, &req, self.details).map_err(engine_err)?;
            return Ok(Arc::new(table));
        }
        // `f1_contacts` is the list alone: its intervals are not gathered.
        let result = self.snapshot.trace(&req.intervals(self.details)).map_err(engine_err)?;
        let batch = match self.details {
            true => result.exposures_record_batch().map_err(engine_err)?,
            false => result.to_record_batch(),
        };
        Ok(Arc::new(ResultTable { batch }))
    }
}

/// `hotspots([from [, to [, min_cases [, within_s]]]])` and `clusters([within_s [, latency_s
/// [, min_size]]])` over the snapshot's cases register, as `truyvet hotspots` and `truyvet
/// clusters` (default rules; `NULL` keeps a default).
#[derive(Debug)]
pub(crate) struct RegisterFunction {
    pub snapshot: Snapshot,
    pub clusters: bool,
}

/// Argument names of `hotspots` and `clusters`.
pub(crate) const HOTSPOTS_ARGS: [&str; 4] = ["from", "to", "min_cases", "within_s"];
/// Argument names of `clusters`.
pub(crate) const CLUSTERS_ARGS: [&str; 3] = ["within_s", "latency_s", "min_size"];

impl TableFunctionImpl for RegisterFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let (name, names): (&str, &[&'static str]) =
            if self.clusters { ("clusters", &CLUSTERS_ARGS) } else { ("hotspots", &HOTSPOTS_ARGS) };
        let err = |msg: String| DataFusionError::Plan(format!("{name}: {msg}"));
        let engine_err = |e: crate::Error| match e.kind() {
            crate::ErrorKind::Usage | crate::ErrorKind::NotFound => err(e.to_string()),
            _ => DataFusionError::External(Box::new(e)).context(name),
        };
        let exprs = args.exprs();
        if exprs.len() > names.len() {
            return Err(err(format!("expected at most ({}), got {} argument(s)", names.join(", "), exprs.len())));
        }
        let mut values = Vec::with_capacity(exprs.len());
        for (e, n) in exprs.iter().zip(names) {
            let v = constant(e).ok_or_else(|| err(format!("argument {n} must be a constant, got {e}")))?;
            values.push((*n, v));
        }
        let count = |n: &str, v: &ScalarValue| -> DfResult<usize> {
            let i = integer(n, v).map_err(err)?;
            usize::try_from(i).map_err(|_| err(format!("argument {n} must be ≥ 0, got {i}")))
        };
        let batch = if self.clusters {
            let mut req = crate::trace::ClusterRequest::default();
            let mut min_size = 2;
            for (n, v) in values.iter().filter(|(_, v)| !v.is_null()) {
                match *n {
                    "within_s" => req.within = duration(n, v).map_err(err)?,
                    "latency_s" => req.latency = duration(n, v).map_err(err)?,
                    _ => min_size = count(n, v)?,
                }
            }
            self.snapshot.clusters(&req).and_then(|c| c.to_record_batch(min_size)).map_err(engine_err)?
        } else {
            let mut req = crate::trace::HotspotRequest::default();
            for (n, v) in values.iter().filter(|(_, v)| !v.is_null()) {
                match *n {
                    "from" => req.rules.from = Some(time(n, v).map_err(err)?),
                    "to" => req.rules.to = Some(time(n, v).map_err(err)?),
                    "min_cases" => req.min_cases = count(n, v)?,
                    _ => req.within = duration(n, v).map_err(err)?,
                }
            }
            self.snapshot.hotspots(&req).and_then(|h| h.to_record_batch()).map_err(engine_err)?
        };
        Ok(Arc::new(ResultTable { batch }))
    }
}

/// The trace request of a call (see the module docs), its rule named in `rules`.
pub(crate) fn request(exprs: &[Expr], rules: &RuleBook) -> Result<TraceRequest, String> {
    if exprs.is_empty() || exprs.len() > ARGS.len() {
        return Err(format!("expected ({}) with at least f0, got {} argument(s)", ARGS.join(", "), exprs.len()));
    }
    let mut values = Vec::with_capacity(exprs.len());
    for (e, name) in exprs.iter().zip(ARGS) {
        values.push(constant(e).ok_or_else(|| format!("argument {name} must be a constant, got {e}"))?);
    }
    let f0 = match &values[0] {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => s.clone(),
        v if !v.is_null() && v.data_type().is_integer() => v.to_string(),
        other => return Err(format!("argument f0 must be a person id (text), got {other}")),
    };
    let mut req = TraceRequest::new(f0);
    let rule = match values.get(7).filter(|v| !v.is_null()) {
        Some(v) => Some(text(v).ok_or_else(|| format!("argument rule must be a rule name (text), got {v}"))?),
        None => None,
    };
    req = rules.apply_named(rule, req).map_err(|e| e.to_string())?;
    for (i, v) in values.iter().enumerate().skip(1) {
        if v.is_null() || i == 7 {
            continue;
        }
        match i {
            1 => req.from = Some(time(ARGS[i], v)?),
            2 => req.to = Some(time(ARGS[i], v)?),
            3 => req.linger = duration(ARGS[i], v)?,
            4 => req.dwell = duration(ARGS[i], v)?,
            5 => req.max_visit = duration(ARGS[i], v)?,
            6 => req.min_overlap = duration(ARGS[i], v)?,
            _ => Arc::make_mut(&mut req.params).radius = duration(ARGS[i], v)?,
        }
    }
    Ok(req)
}

/// The value of a constant argument (literals, possibly under casts the planner left).
fn constant(expr: &Expr) -> Option<ScalarValue> {
    match expr {
        Expr::Literal(v, _) => Some(v.clone()),
        Expr::Alias(a) => constant(&a.expr),
        Expr::Cast(c) => constant(&c.expr)?.cast_to(c.field.data_type()).ok(),
        Expr::TryCast(c) => constant(&c.expr)?.cast_to(c.field.data_type()).ok(),
        Expr::Negative(e) => constant(e)?.arithmetic_negate().ok(),
        _ => None,
    }
}

fn text(v: &ScalarValue) -> Option<&str> {
    match v {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => Some(s),
        _ => None,
    }
}

fn time(name: &'static str, v: &ScalarValue) -> Result<Seconds, String> {
    if let Some(s) = text(v) {
        return parse_time_arg(name, s, Tz::UTC).map_err(|e| e.to_string());
    }
    match v {
        ScalarValue::TimestampSecond(Some(s), _) => Ok(*s),
        ScalarValue::TimestampMillisecond(Some(s), _) => Ok(s.div_euclid(1_000)),
        ScalarValue::TimestampMicrosecond(Some(s), _) => Ok(s.div_euclid(1_000_000)),
        ScalarValue::TimestampNanosecond(Some(s), _) => Ok(s.div_euclid(1_000_000_000)),
        ScalarValue::Date32(Some(d)) => Ok(i64::from(*d) * DAY),
        ScalarValue::Date64(Some(ms)) => Ok(ms.div_euclid(1_000)),
        v if v.data_type().is_integer() => integer(name, v),
        other => Err(format!("argument {name} must be a time (text, timestamp, date or Unix seconds), got {other}")),
    }
}

fn duration(name: &'static str, v: &ScalarValue) -> Result<Seconds, String> {
    if let Some(s) = text(v) {
        return parse_duration(s).map_err(|e| format!("argument {name}: {e}"));
    }
    match v {
        ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano { months: 0, days, nanoseconds })) => {
            Ok(i64::from(*days) * DAY + nanoseconds.div_euclid(1_000_000_000))
        }
        ScalarValue::IntervalDayTime(Some(dt)) => {
            Ok(i64::from(dt.days) * DAY + i64::from(dt.milliseconds).div_euclid(1_000))
        }
        v if v.data_type().is_integer() => integer(name, v),
        other => Err(format!(
            "argument {name} must be seconds, a duration such as '15m', or an interval without months, got {other}"
        )),
    }
}

fn integer(name: &str, v: &ScalarValue) -> Result<i64, String> {
    match v.cast_to(&DataType::Int64) {
        Ok(ScalarValue::Int64(Some(s))) => Ok(s),
        _ => Err(format!("argument {name}: {v} does not fit in 64 bits")),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::logical_expr::lit;

    use super::*;

    #[test]
    fn builds_requests_from_constants_and_keeps_defaults_for_null() {
        let null = Expr::Literal(ScalarValue::Utf8(None), None);
        let req = request(
            &[lit("P1"), lit("2021-08-01T00:00:00Z"), null.clone(), lit(900_i64), lit("2h")],
            &RuleBook::built_in(),
        )
        .unwrap();
        let mut want = TraceRequest::new("P1").linger(900).dwell(7200);
        want.from = Some(1_627_776_000);
        assert_eq!(req, want);
        let all_null = request(
            &[lit("P1"), null.clone(), null.clone(), null.clone(), null.clone(), null.clone(), null],
            &RuleBook::built_in(),
        )
        .unwrap();
        assert_eq!(all_null, TraceRequest::new("P1"));
        let ts = Expr::Literal(ScalarValue::TimestampSecond(Some(1_627_776_000), Some("UTC".into())), None);
        assert_eq!(request(&[lit(84_912_i64), ts], &RuleBook::built_in()).unwrap().from, Some(1_627_776_000));
        assert_eq!(request(&[lit(84_912_i64)], &RuleBook::built_in()).unwrap().f0, "84912");
        let interval = Expr::Literal(
            ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(0, 1, 1_500_000_000_000))),
            None,
        );
        assert_eq!(
            request(
                &[lit("P1"), Expr::Literal(ScalarValue::Null, None), Expr::Literal(ScalarValue::Null, None), interval],
                &RuleBook::built_in()
            )
            .unwrap()
            .linger,
            DAY + 1500
        );
    }

    #[test]
    fn explains_bad_arguments() {
        assert!(request(&[], &RuleBook::built_in()).unwrap_err().contains("at least f0"));
        assert!(request(&[lit("P1"), lit("yesterday")], &RuleBook::built_in()).unwrap_err().contains("invalid from"));
        assert!(
            request(&[lit("P1"), lit(1_i64), lit(2_i64), lit("5 parsecs")], &RuleBook::built_in())
                .unwrap_err()
                .contains("linger_s")
        );
        assert!(request(&[lit(true)], &RuleBook::built_in()).unwrap_err().contains("argument f0"));
        let column = Expr::Column("x".into());
        assert!(request(&[lit("P1"), column], &RuleBook::built_in()).unwrap_err().contains("must be a constant"));
    }
}

/// The answer of a table function, computed while the statement was planned: one batch. (Not
/// DataFusion's `MemTable`, so that a cluster's codec can recognise it and ship the batch.)
#[derive(Debug)]
pub(crate) struct ResultTable {
    pub(crate) batch: RecordBatch,
}

#[async_trait::async_trait]
impl TableProvider for ResultTable {
    fn schema(&self) -> SchemaRef {
        self.batch.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn DfSession,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(MemorySourceConfig::try_new_exec(&[vec![self.batch.clone()]], self.schema(), projection.cloned())?)
    }
}
