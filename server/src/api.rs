//! `/api/v1`: the JSON / Arrow API for dashboards. Every endpoint reads one snapshot, runs on
//! the blocking pool under the time limit, and answers rows in the encoding asked for (see
//! [`crate::respond`]); the parameters are the CLI's, with the same defaults and errors.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use truyvet::Snapshot;
use truyvet::model::Seconds;
use truyvet::report::ReportRequest;
use truyvet::time::{Tz, parse_day, parse_duration, parse_time_arg};
use truyvet::trace::{ChainRequest, ClusterRequest, HotspotRequest};
use truyvet::{RuleBook, TraceRequest};

use crate::accounts::Role;
use crate::live::Live;
use crate::respond::{self, ApiError, Rows};
use crate::signin::User;

/// Query parameters, checked against the names an endpoint takes, and the instant by which
/// the request's traces must stop.
pub struct Params(HashMap<String, String>, Option<std::time::Instant>);

impl Params {
    /// `pairs` as given; a name outside `known` (or given twice) is a usage error naming the
    /// ones that are.
    pub fn new(pairs: Vec<(String, String)>, known: &[&str]) -> Result<Params, ApiError> {
        let mut map = HashMap::new();
        for (k, v) in pairs {
            if !known.contains(&k.as_str()) && k != "format" {
                return Err(ApiError::Usage(format!(
                    "unknown parameter {k:?}: this endpoint takes {}",
                    known.join(", ")
                )));
            }
            if map.insert(k.clone(), v).is_some() {
                return Err(ApiError::Usage(format!("parameter {k:?} given twice")));
            }
        }
        Ok(Params(map, None))
    }

    /// Traces of these parameters stop `limit` from now ([`TraceRequest::deadline`]).
    pub fn within(mut self, limit: std::time::Duration) -> Params {
        self.1 = Some(std::time::Instant::now() + limit);
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        self.get(name)
            .map(|v| v.trim().parse().map_err(|_| ApiError::Usage(format!("{name}={v:?} is not a whole number ≥ 0"))))
            .transpose()
    }

    fn duration(&self, name: &str) -> Result<Option<Seconds>, ApiError> {
        Ok(self.get(name).map(parse_duration).transpose()?)
    }

    fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| ApiError::Usage(format!("parameter {name:?} is required")))
    }
}

/// Names every rules-taking endpoint accepts.
const RULES: [&str; 7] = ["from", "to", "tz", "linger", "dwell", "max_visit", "min_overlap"];

/// The exposure rules and window of a request (F0 unset).
fn rules(p: &Params) -> Result<TraceRequest, ApiError> {
    rules_over(p, TraceRequest::default())
}

/// The parameters a request gives, over `base` (a named rule's request, or the defaults).
fn rules_over(p: &Params, base: TraceRequest) -> Result<TraceRequest, ApiError> {
    let tz = p.get("tz").map(Tz::parse).transpose()?.unwrap_or(Tz::UTC);
    let mut r = TraceRequest {
        from: p.get("from").map(|v| parse_time_arg("from", v, tz)).transpose()?,
        to: p.get("to").map(|v| parse_time_arg("to", v, tz)).transpose()?,
        deadline: p.1,
        ..base
    };
    // Local days (midnight) are the request's time zone's, or the named rule's when the request
    // gives none.
    if p.get("tz").is_some() || r.params.tz_offset == 0 {
        std::sync::Arc::make_mut(&mut r.params).tz_offset = tz.offset_seconds();
    }
    for (name, field) in [
        ("linger", &mut r.linger),
        ("dwell", &mut r.dwell),
        ("max_visit", &mut r.max_visit),
        ("min_overlap", &mut r.min_overlap),
    ] {
        if let Some(v) = p.duration(name)? {
            *field = v;
        }
    }
    Ok(r)
}

/// Run `f` on the live snapshot on the blocking pool when its turn comes ([`Live::work`]), under
/// the time limit (the wait included). A request past the limit is answered with an error; a
/// trace's join stops at its deadline too ([`Params::within`]), other work runs to its end in
/// the background.
pub async fn blocking<T: Send + 'static>(
    live: &Arc<Live>,
    f: impl FnOnce(&Live, Snapshot) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let l = live.clone();
    let run = async move {
        let turn = l.work.clone().acquire_owned().await.map_err(|e| ApiError::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let snap = l.snapshot()?;
            f(&l, snap)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("the request failed: {e}")))
    };
    match tokio::time::timeout(live.time_limit, run).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ApiError::Timeout(live.time_limit)),
    }
}

type Q = Query<Vec<(String, String)>>;

/// Answer rows computed by `f` from the parameters.
async fn answer(
    live: Arc<Live>,
    q: Vec<(String, String)>,
    headers: HeaderMap,
    known: &[&str],
    f: impl FnOnce(&Live, Snapshot, Params) -> Result<Rows, ApiError> + Send + 'static,
) -> Result<Response, ApiError> {
    let p = Params::new(q, known)?.within(live.time_limit);
    let encoding = respond::negotiate(p.get("format"), &headers)?;
    let rows = blocking(&live, move |l, snap| f(l, snap, p)).await?;
    respond::rows(rows, encoding)
}

/// `f0` (or `case`), rules, hops: the request a trace or exposures call describes. `rule` names
/// one of `book`'s rules, whose parameters the request's own override (as `truyvet trace
/// --rules F --rule R --linger L`); with a rules file and no `rule`, the file's `overlap`.
pub(crate) fn trace_request(snap: &Snapshot, p: &Params, book: &RuleBook) -> Result<ChainRequest, ApiError> {
    let mut r = rules_over(p, book.apply_named(p.get("rule"), TraceRequest::default())?)?;
    match (p.get("f0"), p.get("case")) {
        (Some(f0), None) => r.f0 = f0.trim().to_string(),
        (None, Some(id)) => {
            let case =
                snap.case(id)?.ok_or_else(|| truyvet::Error::NotFound { what: "case", id: id.to_string() })?.clone();
            let lookback = p.duration("lookback")?;
            let window = TraceRequest::for_case(&case, lookback);
            r.f0 = window.f0;
            r.from = r.from.or(window.from);
            r.to = r.to.or(window.to);
            r.onset = window.onset;
        }
        _ => return Err(ApiError::Usage("give exactly one of f0 and case".into())),
    }
    if let Some(radius) = p.duration("radius")? {
        std::sync::Arc::make_mut(&mut r.params).radius = radius;
    }
    r.rank_by = p.get("rank").map_or(Ok(truyvet::trace::RankBy::Exposure), truyvet::trace::RankBy::parse)?;
    r.limit = p.number("limit")?;
    let hops = p.number::<u8>("hops")?.unwrap_or(1);
    let mut chain = ChainRequest::new(r, hops).max_per_hop(p.number("max_per_hop")?);
    if let Some(l) = p.duration("latency")? {
        chain = chain.latency(l);
    }
    Ok(chain)
}

const TRACE: [&str; 17] = [
    "f0",
    "rule",
    "radius",
    "rank",
    "case",
    "lookback",
    "limit",
    "hops",
    "latency",
    "max_per_hop",
    "from",
    "to",
    "tz",
    "linger",
    "dwell",
    "max_visit",
    "min_overlap",
];

/// The list (`details`: the exposure intervals) a trace request asks for: a chain when it has
/// hops, a cap or a latency, else the plain F1 trace.
fn traced(snap: &Snapshot, p: &Params, book: &RuleBook, details: bool) -> Result<Rows, ApiError> {
    let mut req = trace_request(snap, p, book)?;
    // The list alone: its intervals are not gathered.
    req.trace.intervals = details;
    if req.hops > 1 || req.max_per_hop.is_some() || req.latency != 0 {
        let chain = snap.trace_chain(&req, None)?;
        let batch = if details { chain.exposures_record_batch()? } else { chain.to_record_batch()? };
        Ok(Rows { notes: chain.notes(), ..Rows::one(batch) })
    } else {
        let result = snap.trace(&req.trace)?;
        Ok(Rows::one(if details { result.exposures_record_batch()? } else { result.to_record_batch() }))
    }
}

/// `GET /api/v1/trace`: the ranked F1 list (with `hops`, the chain).
pub async fn trace(State(live): State<Arc<Live>>, Query(q): Q, headers: HeaderMap) -> Result<Response, ApiError> {
    answer(live, q, headers, &TRACE, |l, snap, p| traced(&snap, &p, &l.rules, false)).await
}

/// `GET /api/v1/exposures`: every exposure interval behind the list.
pub async fn exposures(State(live): State<Arc<Live>>, Query(q): Q, headers: HeaderMap) -> Result<Response, ApiError> {
    answer(live, q, headers, &TRACE, |l, snap, p| traced(&snap, &p, &l.rules, true)).await
}

/// `GET /api/v1/itinerary?person=`: a person's own stays.
pub async fn itinerary(State(live): State<Arc<Live>>, Query(q): Q, headers: HeaderMap) -> Result<Response, ApiError> {
    let known = [&["person"][..], &RULES[..]].concat();
    answer(live, q, headers, &known, |_, snap, p| {
        let id = p.required("person")?;
        let person =
            snap.person_key(id)?.ok_or_else(|| truyvet::Error::NotFound { what: "person", id: id.to_string() })?;
        Ok(Rows::one(snap.itinerary(person, &rules(&p)?)?))
    })
    .await
}

/// `GET /api/v1/venues/{id}/occupancy?from=&to=[&bucket=1h]`.
pub async fn occupancy(
    State(live): State<Arc<Live>>,
    Path(venue): Path<String>,
    Query(q): Q,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let known = [&["bucket"][..], &RULES[..]].concat();
    answer(live, q, headers, &known, move |_, snap, p| {
        let key = snap.venue_key(&venue)?.ok_or(truyvet::Error::NotFound { what: "venue", id: venue })?;
        let bucket = p.duration("bucket")?.unwrap_or(3600);
        Ok(Rows::one(snap.occupancy(key, &rules(&p)?, bucket)?))
    })
    .await
}

/// `GET /api/v1/cases`: the register.
pub async fn cases(State(live): State<Arc<Live>>, Query(q): Q, headers: HeaderMap) -> Result<Response, ApiError> {
    answer(live, q, headers, &[], |_, snap, _| Ok(Rows::one(snap.cases_record_batch()?))).await
}

/// `GET /api/v1/hotspots[?from&to&min_cases&within]`.
pub async fn hotspots(State(live): State<Arc<Live>>, Query(q): Q, headers: HeaderMap) -> Result<Response, ApiError> {
    let known = [&["min_cases", "within", "lookback"][..], &RULES[..]].concat();
    answer(live, q, headers, &known, |_, snap, p| {
        let mut req = HotspotRequest { rules: rules(&p)?, ..HotspotRequest::default() };
        req.min_cases = p.number("min_cases")?.unwrap_or(req.min_cases);
        req.within = p.duration("within")?.unwrap_or(req.within);
        req.lookback = p.duration("lookback")?;
        Ok(Rows::one(snap.hotspots(&req)?.to_record_batch()?))
    })
    .await
}

/// `GET /api/v1/clusters[?links=true&min_size&within&latency]`.
pub async fn clusters(State(live): State<Arc<Live>>, Query(q): Q, headers: HeaderMap) -> Result<Response, ApiError> {
    let known = [&["links", "min_size", "within", "latency", "lookback"][..], &RULES[..]].concat();
    answer(live, q, headers, &known, |_, snap, p| {
        let mut req = ClusterRequest { rules: rules(&p)?, ..ClusterRequest::default() };
        req.within = p.duration("within")?.unwrap_or(req.within);
        req.latency = p.duration("latency")?.unwrap_or(req.latency);
        req.lookback = p.duration("lookback")?;
        let c = snap.clusters(&req)?;
        let links = match p.get("links") {
            None | Some("false") => false,
            Some("true") => true,
            Some(v) => return Err(ApiError::Usage(format!("links={v:?}: use true or false"))),
        };
        Ok(Rows::one(if links {
            c.links_record_batch()?
        } else {
            c.to_record_batch(p.number("min_size")?.unwrap_or(2))?
        }))
    })
    .await
}

/// `GET /api/v1/status?person=`: the PC-COVID card question, from the status index of the
/// live snapshot (built on first use, then one person's rows per query).
pub async fn status(State(live): State<Arc<Live>>, Query(q): Q) -> Result<Response, ApiError> {
    let p = Params::new(q, &["person"])?;
    let body = blocking(&live, move |l, snap| {
        let id = p.required("person")?.to_string();
        let index = l.status_index(&snap)?;
        let s = index.status(&id)?;
        let case_ids = |v: &[u32]| v.iter().map(|&i| index.cases[i as usize].case_id.clone()).collect::<Vec<_>>();
        let exposures = s
            .exposures
            .iter()
            .map(|e| {
                Ok(serde_json::json!({
                    "hop": e.hop,
                    "case_id": index.cases[e.case as usize].case_id,
                    "venue_id": snap.venue_id(e.venue)?,
                    "start": truyvet::time::format_utc(e.start),
                    "end": truyvet::time::format_utc(e.end),
                    "via_person_id": e.via.map(|v| snap.person_id(v)).transpose()?,
                }))
            })
            .collect::<truyvet::Result<Vec<_>>>()?;
        Ok(serde_json::json!({
            "person_id": s.person_id,
            "known": s.known,
            "is_case": case_ids(&s.is_case),
            "hop": s.hop,
            "cases": case_ids(&s.cases),
            "exposure_seconds": s.exposure_seconds,
            "exposures": exposures,
            "store_version": snap.manifest().version,
        }))
    })
    .await?;
    Ok(axum::Json(body).into_response())
}

/// Stored check-ins per day, from the manifest's parts (nothing is read).
pub(crate) fn check_ins_per_day(snap: &Snapshot) -> std::collections::BTreeMap<i64, u64> {
    let mut per_day = std::collections::BTreeMap::new();
    for part in snap.parts() {
        *per_day.entry(part.info.day).or_default() += part.info.rows;
    }
    per_day
}

/// `GET /api/v1/stats`: the store's figures and check-ins per day.
pub async fn stats(State(live): State<Arc<Live>>, Query(q): Q) -> Result<Response, ApiError> {
    Params::new(q, &[])?;
    let body = blocking(&live, |_, snap| {
        let stats = snap.stats()?;
        let days: Vec<_> = check_ins_per_day(&snap)
            .into_iter()
            .map(|(d, rows)| serde_json::json!({ "day": truyvet::time::day_name(d), "check_ins": rows }))
            .collect();
        let mut body = serde_json::to_value(stats).map_err(|e| ApiError::Internal(e.to_string()))?;
        body["check_ins_per_day"] = serde_json::Value::Array(days);
        Ok(body)
    })
    .await?;
    Ok(axum::Json(body).into_response())
}

/// `GET /api/v1/openapi.json`.
pub async fn openapi() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], include_str!("openapi.json")).into_response()
}

/// Run one read-only statement (the `truyvet sql` sandbox, tables and table functions) under
/// the time and memory limits.
async fn sql(
    live: Arc<Live>,
    user: Option<User>,
    statement: String,
    format: Option<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let detail = respond::Statement(statement.clone());
    let mut response = sql_rows(live, user, statement, format, headers).await.into_response();
    // The sandbox's refusals (writes, DDL, COPY) all begin so: the audit log calls them
    // refused, not failed.
    if response.extensions().get::<respond::Failure>().is_some_and(|f| f.0.contains("refused: ")) {
        response.extensions_mut().insert(respond::Refused);
    }
    response.extensions_mut().insert(detail);
    Ok(response)
}

async fn sql_rows(
    live: Arc<Live>,
    user: Option<User>,
    statement: String,
    format: Option<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let encoding = respond::negotiate(format.as_deref(), &headers)?;
    if statement.trim().is_empty() {
        return Err(ApiError::Usage("no SQL statement: give it as the body of a POST, or as q=".into()));
    }
    #[cfg(feature = "sql")]
    {
        let limit = live.time_limit;
        // The session cancels the statement at the time limit itself; this outer limit is a
        // second guard, a little later.
        // A statement waits at most the time limit for its lane; the limit of its run starts
        // when it runs, and the turn stays with the statement until it ends.
        let turn = match tokio::time::timeout(limit, live.sql_slots.clone().acquire_owned()).await {
            Ok(turn) => turn.map_err(|e| ApiError::Internal(e.to_string()))?,
            Err(_) => return Err(ApiError::Timeout(limit)),
        };
        let l = live.clone();
        let task = tokio::task::spawn_blocking(move || -> Result<Rows, ApiError> {
            let _turn = turn;
            let snap = l.snapshot()?;
            let admin = user.is_some_and(|u| u.1 == Role::Admin);
            let (schema, batches) = l.sql_session(&snap, admin)?.query(&statement)?;
            Ok(Rows { schema, batches, notes: Vec::new() })
        });
        let rows = match tokio::time::timeout(limit + std::time::Duration::from_secs(5), task).await {
            Ok(Ok(rows)) => rows?,
            Ok(Err(e)) => return Err(ApiError::Internal(format!("the statement failed: {e}"))),
            Err(_) => return Err(ApiError::Timeout(limit)),
        };
        respond::rows(rows, encoding)
    }
    #[cfg(not(feature = "sql"))]
    {
        let _ = (live, user, encoding);
        Err(ApiError::Usage("this truyvet was built without SQL (the `sql` feature)".into()))
    }
}

/// `GET /api/v1/sql?q=SELECT ...`.
pub async fn sql_get(
    State(live): State<Arc<Live>>,
    user: Option<Extension<User>>,
    Query(q): Q,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = Params::new(q, &["q"])?;
    sql(live, user.map(|u| u.0), p.required("q")?.to_string(), p.get("format").map(str::to_string), headers).await
}

/// `POST /api/v1/sql` with the statement as the body.
pub async fn sql_post(
    State(live): State<Arc<Live>>,
    user: Option<Extension<User>>,
    Query(q): Q,
    headers: HeaderMap,
    body: String,
) -> Result<Response, ApiError> {
    let p = Params::new(q, &[])?;
    sql(live, user.map(|u| u.0), body, p.get("format").map(str::to_string), headers).await
}

/// Parameters of the daily report (`/api/v1/report/daily`, `/report`).
pub(crate) const REPORT: [&str; 6] = ["date", "from", "to", "tz", "baseline", "hops"];

/// The report asked for: `date=DAY`, or `from=DAY&to=DAY`, or by default the last day with
/// data; local days of `tz` (UTC by default).
pub(crate) fn report_request(p: &Params, snap: &Snapshot) -> Result<ReportRequest, ApiError> {
    let tz = p.get("tz").map(Tz::parse).transpose()?.unwrap_or(Tz::UTC);
    let day = |name: &'static str| p.get(name).filter(|v| !v.is_empty()).map(|v| parse_day(name, v)).transpose();
    let (from, to) = match (day("date")?, day("from")?, day("to")?) {
        (Some(d), None, None) => (d, d),
        (None, Some(f), Some(t)) => (f, t),
        (None, None, None) => {
            let last = snap.manifest().parts.iter().map(|x| x.day).max().unwrap_or_else(truyvet::time::today);
            (last, last)
        }
        _ => return Err(ApiError::Usage("give date=DAY, or from=DAY and to=DAY".into())),
    };
    let mut req = ReportRequest::daily(from, tz);
    req.to = to;
    req.baseline_days = p.number("baseline")?.unwrap_or(req.baseline_days);
    req.hops = p.number("hops")?.unwrap_or(req.hops);
    if !(1..=truyvet::trace::MAX_HOPS).contains(&req.hops) {
        return Err(ApiError::Usage(format!("hops={}: use 1 to {}", req.hops, truyvet::trace::MAX_HOPS)));
    }
    req.rules.deadline = p.1;
    Ok(req)
}

/// `GET /api/v1/report/daily[?date=DAY | from=DAY&to=DAY][&tz&baseline&hops]`: the numbers of
/// the daily report (`truyvet report daily --format json`).
pub async fn report(State(live): State<Arc<Live>>, Query(q): Q) -> Result<Response, ApiError> {
    let p = Params::new(q, &REPORT)?.within(live.time_limit);
    let body = blocking(&live, move |_, snap| {
        let r = snap.daily_report(&report_request(&p, &snap)?)?;
        serde_json::to_value(r).map_err(|e| ApiError::Internal(e.to_string()))
    })
    .await?;
    Ok(axum::Json(body).into_response())
}
