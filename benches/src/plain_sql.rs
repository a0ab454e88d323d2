//! The F1 rule in plain SQL (`queries/f1_in_plain_sql.sql`: joins, gaps-and-islands unions and
//! window-function ranking, as an analyst would write it), bound to a [`TraceRequest`] and run
//! through DataFusion. It is the reference the engine is checked against (the e2e tests,
//! `truyvet-bench --compare`, DuckDB in `f1_vs_duckdb.py`), not a product API.

use arrow::array::RecordBatch;
use truyvet::model::F1_SCHEMA;
use truyvet::sql::{Session, bind_params};
use truyvet::trace::ExposureRule;
use truyvet::{Error, ErrorKind, Result, TraceRequest};

/// The script shipped in `queries/`.
pub const F1_SCRIPT: &str = include_str!("../../queries/f1_in_plain_sql.sql");

/// Run an F1 script (normally [`F1_SCRIPT`]) for `req` and return its last statement's rows cast
/// to the F1 columns and cut to `req.limit`: for a correct script, equal to
/// `snapshot.trace(req)?.to_record_batch()`. An open window end binds as 1678-01-01 or
/// 2262-01-01, the outermost new years a SQL `TIMESTAMP` (nanoseconds) holds.
pub fn f1(session: &Session, script: &str, req: &TraceRequest) -> Result<RecordBatch> {
    if req.rule != ExposureRule::IntervalOverlap {
        return Err(Error::InvalidArgument {
            what: "exposure rule",
            value: format!("{:?}", req.rule),
            hint: "queries/f1_in_plain_sql.sql spells the interval-overlap rule only".into(),
        });
    }
    let time = |t: Option<i64>, open: i64| truyvet::time::format_utc(t.unwrap_or(open));
    let params: Vec<(String, String)> = [
        ("f0", req.f0.clone()),
        ("from", time(req.from, -9_214_560_000)),
        ("to", time(req.to, 9_214_646_400)),
        ("linger_s", req.linger.to_string()),
        ("dwell_s", req.dwell.to_string()),
        ("max_visit_s", req.max_visit.to_string()),
        ("min_overlap_s", req.min_overlap.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let last = session.query_script(&bind_params(script, &params)?)?.pop().ok_or_else(|| Error::InvalidArgument {
        what: "F1 script",
        value: script.into(),
        hint: "it holds no statement".into(),
    })?;
    let misfit = |e: &dyn std::fmt::Display| Error::Sql {
        message: format!("the result does not fit the F1 columns: {e}"),
        statement: last.statement.clone(),
        kind: ErrorKind::Usage,
    };
    let (got, want) = (last.schema.fields().len(), F1_SCHEMA.fields().len());
    if got != want {
        return Err(misfit(&format!("{got} columns, the F1 list has {want}")));
    }
    let mut batches = Vec::with_capacity(last.batches.len());
    for b in &last.batches {
        let columns = b
            .columns()
            .iter()
            .zip(F1_SCHEMA.fields())
            .map(|(c, f)| arrow::compute::cast(c, f.data_type()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| misfit(&e))?;
        batches.push(RecordBatch::try_new(F1_SCHEMA.clone(), columns).map_err(|e| misfit(&e))?);
    }
    let all = arrow::compute::concat_batches(&F1_SCHEMA, &batches).map_err(|e| misfit(&e))?;
    Ok(match req.limit {
        Some(n) if n < all.num_rows() => all.slice(0, n),
        _ => all,
    })
}
