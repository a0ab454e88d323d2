//! Tracing: an F0 → its ranked F1 contacts, by interval joins over the trace indexes.
//!
//! Semantics (the contract every output follows):
//! 1. A visit is a stay `[a, b)`: `a` = check-in, `b` = check-out or `a + dwell`, then
//!    `b = min(b, a + max_visit)`.
//! 2. Each F0 stay is clipped to the window and extended by linger:
//!    `[max(a, from), min(b, to) + linger)`, kept when `max(a, from) < min(b, to)`; U0(v) is the
//!    union of these at venue `v`.
//! 3. For every other person p and venue v, p's exposure at v is the union of p's stays at v
//!    intersected with U0(v).
//! 4. Per person: `exposure_seconds` (total length), `episodes` (maximal intervals), `venues`,
//!    `first_contact`, `last_contact`.
//! 5. F1 = persons with `exposure_seconds >= max(min_overlap, 1)`, ordered by exposure desc,
//!    episodes desc, person id asc; ranks from 1.
//!
//! `exposure` does the join, `rank` the aggregation; this module holds the API and the Arrow
//! output. It reads the store through a [`Snapshot`] and never touches `sql`.

mod cases;
mod chain;
mod clusters;
mod compare;
pub(crate) mod exposure;
mod hotspots;
pub mod interval;
mod places;
mod rank;
mod reach;
mod request;
pub mod rules;
mod score;
mod status;

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampSecondArray, UInt32Array};
use rayon::prelude::*;

pub use self::cases::{CALLS_SCHEMA, Call, CallCounts, CallList, CasesRequest};
pub use self::chain::{CHAIN_SCHEMA, ChainRequest, ChainResult, Hop, MAX_HOPS, Via};
pub use self::clusters::{CLUSTERS_SCHEMA, Cluster, ClusterRequest, Clusters, LINKS_SCHEMA, Link, LinkKind};
pub use self::compare::{Comparison, Listed};
pub use self::hotspots::{HOTSPOTS_SCHEMA, Hotspot, HotspotRequest, Hotspots};
pub use self::places::{ITINERARY_SCHEMA, MAX_BUCKETS, OCCUPANCY_SCHEMA};
pub use self::request::{RankBy, TraceRequest};
pub use self::rules::{ExposureRule, RuleBook, RuleParams, RuleSpec};
pub use self::score::{Risk, crowding};
pub use self::status::{Status, StatusExposure, StatusIndex};
use crate::error::{Error, Result};
use crate::model::{CWA_SCHEMA, EXPOSURES_SCHEMA, F1_SCHEMA, PC_COVID_SCHEMA, PersonId, PersonKey, Seconds, VenueKey};
use crate::pseudonym::Key;
use crate::store::Snapshot;

/// One F1 contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// 1-based rank.
    pub rank: u32,
    /// Person key in the snapshot.
    pub person: PersonKey,
    /// Person id.
    pub person_id: PersonId,
    /// Total seconds of exposure (0 under `pc-covid`).
    pub exposure_seconds: Seconds,
    /// The part of `exposure_seconds` resting on an imputed stay end, the contact's or the
    /// F0's ([`rules`]).
    pub imputed_seconds: Seconds,
    /// Number of maximal exposure intervals (under `pc-covid`: matching scans).
    pub episodes: u32,
    /// Number of distinct venues with exposure.
    pub venues: u32,
    /// Start of the earliest exposure.
    pub first_contact: Seconds,
    /// End of the latest exposure.
    pub last_contact: Seconds,
    /// What the rule adds to the exposure.
    pub score: Score,
    /// The risk score and its parts, with `--rank score` ([`RankBy::Score`]).
    pub risk: Option<Risk>,
}

/// A rule's own measure of a contact, beside its exposure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Score {
    /// Interval rules rank by exposure alone.
    #[default]
    Exposure,
    /// `pc-covid`: matching scans and the smallest gap to an F0 scan, seconds.
    Scans {
        /// Matching scans.
        matches: u32,
        /// Smallest gap.
        min_gap: Seconds,
    },
    /// `cwa`: weighted minutes (× 1000) and whether they reach the high-risk threshold.
    Cwa {
        /// Weighted minutes × 1000.
        weighted_milli_minutes: u64,
        /// At least 10 weighted minutes.
        high: bool,
    },
}

/// One maximal exposure interval of a contact at a venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exposure {
    /// The contact's rank.
    pub rank: u32,
    /// The contact.
    pub person: PersonKey,
    /// The venue.
    pub venue: VenueKey,
    /// Start (inclusive).
    pub start: Seconds,
    /// End (exclusive).
    pub end: Seconds,
    /// Seconds of `[start, end)` resting on an imputed stay end.
    pub imputed_seconds: Seconds,
    /// The episode's risk score and its parts, with `--rank score`.
    pub risk: Option<Risk>,
}

/// The answer to a [`TraceRequest`].
#[derive(Debug, Clone)]
pub struct TraceResult {
    /// The request answered.
    pub request: TraceRequest,
    /// F0 check-ins looked at (in parts with a check-in that can reach the window).
    pub f0_visits: usize,
    /// F0 stays that reached the window, merged per venue.
    pub f0_intervals: usize,
    /// Candidate rows examined by the join (the work done).
    pub rows_examined: u64,
    /// The ranked contacts.
    pub contacts: Vec<Contact>,
    /// Their exposure intervals, by rank then start.
    pub exposures: Vec<Exposure>,
    snapshot: Snapshot,
}

impl Snapshot {
    /// Trace one F0. An unknown F0 is [`Error::NotFound`]; an F0 without visits in the window
    /// gives an empty list.
    pub fn trace(&self, req: &TraceRequest) -> Result<TraceResult> {
        req.check()?;
        let _span = tracing::debug_span!("trace", f0 = %req.f0).entered();
        let f0 = self.person_key(&req.f0)?.ok_or_else(|| Error::NotFound { what: "person", id: req.f0.clone() })?;
        if req.rule == ExposureRule::PcCovid {
            let found = rules::pc_covid::trace(self, f0, req)?;
            return Ok(TraceResult {
                request: req.clone(),
                f0_visits: found.f0_visits,
                f0_intervals: found.f0_scans,
                rows_examined: found.rows_examined,
                contacts: found.contacts,
                exposures: if req.intervals { found.exposures } else { Vec::new() },
                snapshot: self.clone(),
            });
        }
        let reach = exposure::f0_union(self, f0, req)?;
        let (pieces, rows_examined) = exposure::pieces(self, &|p| p == f0, &reach.u0, &reach.measured, req)?;
        self.ranked(req, &pieces, rows_examined, reach.visits, reach.u0.len())
    }

    /// Step 4 of an interval rule's trace: rank `pieces` (the union of the pieces of every part,
    /// in any order), rescore (`cwa`) or score (`--rank score`), cut at the limit.
    pub(crate) fn ranked(
        &self,
        req: &TraceRequest,
        pieces: &[exposure::Piece],
        rows_examined: u64,
        f0_visits: usize,
        f0_intervals: usize,
    ) -> Result<TraceResult> {
        let cwa = req.rule == ExposureRule::Cwa;
        let scored = req.rank_by == RankBy::Score;
        // `cwa` and the score weigh each episode, so they rank with the intervals either way.
        let limit = if cwa || scored { None } else { req.limit };
        let (mut contacts, mut exposures) =
            rank::rank(self, pieces, req.min_overlap, limit, true, req.intervals || cwa || scored)?;
        if cwa {
            rules::cwa::rescore(&mut contacts, &mut exposures, req);
        }
        if scored {
            score::apply(self, req, &mut contacts, &mut exposures)?;
        }
        if !req.intervals {
            exposures = Vec::new();
        }
        Ok(TraceResult {
            request: req.clone(),
            f0_visits,
            f0_intervals,
            rows_examined,
            contacts,
            exposures,
            snapshot: self.clone(),
        })
    }

    /// Trace many F0s: in parallel across requests (each trace single-threaded), results in
    /// request order. Holds every result until the end; to write results out as they come
    /// (a day's cases to files or a socket), use [`Snapshot::trace_each`].
    pub fn trace_many(&self, reqs: &[TraceRequest]) -> Vec<Result<TraceResult>> {
        reqs.par_iter().map(|r| self.trace(&r.clone().parallel(false))).collect()
    }

    /// Trace many F0s in parallel across requests and hand each result, with its request's
    /// index, to `f` as soon as it is ready (on the worker thread that computed it; in no
    /// particular order). Memory stays at a few results per thread, whatever the batch size.
    pub fn trace_each<F>(&self, reqs: &[TraceRequest], f: F)
    where
        F: Fn(usize, Result<TraceResult>) + Sync,
    {
        reqs.par_iter().enumerate().for_each(|(i, r)| f(i, self.trace(&r.clone().parallel(false))));
    }
}

impl Snapshot {
    /// Trace for a holder of the key of a pseudonymised store: `req.f0` is a clear id, and the
    /// contacts come back by clear id, ranked and cut by `req.limit` exactly as a store of clear
    /// ids would rank and cut them. A key that is not the store's is refused.
    pub fn trace_with_key(&self, req: &TraceRequest, key: &Key) -> Result<TraceResult> {
        self.check_key(key)?;
        let mut keyed = req.clone();
        keyed.f0 = key.pseudonym(req.f0.trim());
        // Ties at the cut are decided by clear id, known only after re-identification.
        keyed.limit = None;
        let mut result = match self.trace(&keyed) {
            Err(Error::NotFound { what, .. }) => return Err(Error::NotFound { what, id: req.f0.clone() }),
            r => r?,
        };
        result.reidentify(key)?;
        if let Some(n) = req.limit {
            result.truncate(n);
        }
        result.request = req.clone();
        Ok(result)
    }
}

impl crate::store::Store {
    /// Trace one F0 in the snapshot opened (see [`Snapshot::trace`]).
    pub fn trace(&self, req: &TraceRequest) -> Result<TraceResult> {
        self.snapshot().trace(req)
    }
}

/// The columns `--rank score` adds: the score and its parts.
static RISK_FIELDS: std::sync::LazyLock<Vec<arrow::datatypes::FieldRef>> = std::sync::LazyLock::new(|| {
    use arrow::datatypes::{DataType, Field};
    ["score", "category_weight", "crowding", "infectiousness"]
        .into_iter()
        .map(|n| Arc::new(Field::new(n, DataType::Float64, false)))
        .chain([Arc::new(Field::new("present", DataType::UInt32, false))])
        .collect()
});

fn risk_columns(risks: impl Iterator<Item = Risk> + Clone) -> Vec<ArrayRef> {
    let milli =
        |f: fn(&Risk) -> f64| -> ArrayRef { Arc::new(Float64Array::from_iter_values(risks.clone().map(|r| f(&r)))) };
    vec![
        milli(|r| r.score_milli as f64 / 1000.0),
        milli(|r| f64::from(r.category_weight) / 1000.0),
        milli(|r| f64::from(r.crowding) / 1000.0),
        milli(|r| f64::from(r.infectiousness) / 1000.0),
        Arc::new(UInt32Array::from_iter_values(risks.map(|r| r.present))),
    ]
}

/// The F1 list's columns under `rule` (see [`TraceResult::schema`]).
pub fn f1_schema(rule: ExposureRule) -> arrow::datatypes::SchemaRef {
    match rule {
        ExposureRule::PcCovid => PC_COVID_SCHEMA.clone(),
        ExposureRule::Cwa => CWA_SCHEMA.clone(),
        _ => F1_SCHEMA.clone(),
    }
}

fn ts(values: impl Iterator<Item = Seconds>) -> ArrayRef {
    Arc::new(TimestampSecondArray::from_iter_values(values).with_timezone("UTC"))
}

impl TraceResult {
    /// The snapshot traced.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The F1 list as Arrow, columns as [`TraceResult::schema`].
    pub fn to_record_batch(&self) -> RecordBatch {
        let c = &self.contacts;
        let rank: ArrayRef = Arc::new(UInt32Array::from_iter_values(c.iter().map(|c| c.rank)));
        let ids: ArrayRef = Arc::new(StringArray::from_iter_values(c.iter().map(|c| c.person_id.as_str())));
        let venues: ArrayRef = Arc::new(UInt32Array::from_iter_values(c.iter().map(|c| c.venues)));
        let (first, last) = (ts(c.iter().map(|c| c.first_contact)), ts(c.iter().map(|c| c.last_contact)));
        let columns: Vec<ArrayRef> = match self.request.rule {
            ExposureRule::PcCovid => {
                let scans = |c: &Contact| match c.score {
                    Score::Scans { matches, min_gap } => (matches, min_gap),
                    _ => (0, 0),
                };
                vec![
                    rank,
                    ids,
                    Arc::new(UInt32Array::from_iter_values(c.iter().map(|c| scans(c).0))),
                    Arc::new(Int64Array::from_iter_values(c.iter().map(|c| scans(c).1))),
                    venues,
                    first,
                    last,
                ]
            }
            rule => {
                let mut columns: Vec<ArrayRef> = vec![
                    rank,
                    ids,
                    Arc::new(Int64Array::from_iter_values(c.iter().map(|c| c.exposure_seconds))),
                    Arc::new(Int64Array::from_iter_values(c.iter().map(|c| c.imputed_seconds))),
                    Arc::new(UInt32Array::from_iter_values(c.iter().map(|c| c.episodes))),
                    venues,
                    first,
                    last,
                ];
                if self.request.rank_by == RankBy::Score {
                    columns.extend(risk_columns(c.iter().map(|c| c.risk.unwrap_or_default())));
                }
                if rule == ExposureRule::Cwa {
                    let cwa = |c: &Contact| match c.score {
                        Score::Cwa { weighted_milli_minutes, high } => (weighted_milli_minutes as f64 / 1000.0, high),
                        _ => (0.0, false),
                    };
                    columns.push(Arc::new(Float64Array::from_iter_values(c.iter().map(|c| cwa(c).0))));
                    columns.push(Arc::new(StringArray::from_iter_values(
                        c.iter().map(|c| if cwa(c).1 { "high" } else { "low" }),
                    )));
                }
                columns
            }
        };
        RecordBatch::try_new(self.schema(), columns).expect("columns match the rule's schema")
    }

    /// The columns of [`TraceResult::to_record_batch`]: [`F1_SCHEMA`] for the interval rules
    /// (`cwa` adds `weighted_minutes,risk`), [`PC_COVID_SCHEMA`] for `pc-covid`.
    pub fn schema(&self) -> arrow::datatypes::SchemaRef {
        let base = f1_schema(self.request.rule);
        if self.request.rank_by != RankBy::Score {
            return base;
        }
        // The score's columns go after the F1 columns, before cwa's.
        let mut fields: Vec<arrow::datatypes::FieldRef> = F1_SCHEMA.fields().iter().cloned().collect();
        fields.extend(RISK_FIELDS.iter().cloned());
        fields.extend(base.fields().iter().skip(F1_SCHEMA.fields().len()).cloned());
        Arc::new(arrow::datatypes::Schema::new(fields))
    }

    /// The exposure intervals as Arrow, columns as [`EXPOSURES_SCHEMA`]
    /// (`rank,person_id,venue_id,venue_name,start,end,seconds`). Loads venue names.
    /// A trace asked without them ([`TraceRequest::intervals`]) has none to give: refused.
    pub fn exposures_record_batch(&self) -> Result<RecordBatch> {
        if !self.request.intervals {
            return Err(Error::InvalidArgument {
                what: "exposures",
                value: self.request.f0.clone(),
                hint: "this trace was asked for its list alone (TraceRequest::intervals(false)): ask with intervals"
                    .into(),
            });
        }
        let e = &self.exposures;
        let attrs = self.snapshot.venue_attrs()?;
        let venue_ids: Vec<&str> = e.iter().map(|x| self.snapshot.venue_id(x.venue)).collect::<Result<_>>()?;
        // Exposures belong to listed contacts only, so their ids are the contacts' (clear ids
        // after `reidentify`).
        let person_ids = e.iter().map(|x| self.contacts[x.rank as usize - 1].person_id.as_str());
        let names: StringArray = venue_ids.iter().map(|v| attrs.get(*v).and_then(|a| a.name.as_deref())).collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from_iter_values(e.iter().map(|x| x.rank))),
            Arc::new(StringArray::from_iter_values(person_ids)),
            Arc::new(StringArray::from_iter_values(venue_ids.iter().copied())),
            Arc::new(names),
            ts(e.iter().map(|x| x.start)),
            ts(e.iter().map(|x| x.end)),
            Arc::new(Int64Array::from_iter_values(e.iter().map(|x| x.end - x.start))),
            Arc::new(Int64Array::from_iter_values(e.iter().map(|x| x.imputed_seconds))),
        ];
        if self.request.rank_by != RankBy::Score {
            return Ok(RecordBatch::try_new(EXPOSURES_SCHEMA.clone(), columns).expect("columns match EXPOSURES_SCHEMA"));
        }
        let mut columns = columns;
        columns.extend(risk_columns(e.iter().map(|x| x.risk.unwrap_or_default())));
        let mut fields: Vec<arrow::datatypes::FieldRef> = EXPOSURES_SCHEMA.fields().iter().cloned().collect();
        fields.extend(RISK_FIELDS.iter().cloned());
        let schema = Arc::new(arrow::datatypes::Schema::new(fields));
        Ok(RecordBatch::try_new(schema, columns).expect("columns match the scored exposures"))
    }

    /// Replace the contacts' pseudonyms by their clear ids, for a holder of the key of a
    /// pseudonymised store, and re-rank ties by clear id (rule 5), so that the list is the one a
    /// store of clear ids gives. If the trace had a `limit`, which of several contacts tied at
    /// the cut made it was decided by pseudonym: [`Snapshot::trace_with_key`] avoids that.
    pub fn reidentify(&mut self, key: &Key) -> Result<()> {
        let persons: Vec<PersonKey> = self.contacts.iter().map(|c| c.person).collect();
        let clear = self.snapshot.clear_ids(key, &persons)?;
        let mut order: Vec<usize> = (0..self.contacts.len()).collect();
        let c = &self.contacts;
        order.sort_by(|&a, &b| rank::order(&c[a], &c[b]).then_with(|| clear[a].as_bytes().cmp(clear[b].as_bytes())));
        let mut new_rank = vec![0u32; order.len()];
        for (i, &o) in order.iter().enumerate() {
            new_rank[o] = i as u32 + 1;
        }
        let mut clear: Vec<Option<PersonId>> = clear.into_iter().map(|id| Some(PersonId::from(id))).collect();
        let old = std::mem::take(&mut self.contacts);
        self.contacts = order
            .iter()
            .map(|&o| Contact {
                rank: new_rank[o],
                person_id: clear[o].take().expect("each contact once"),
                ..old[o].clone()
            })
            .collect();
        for e in &mut self.exposures {
            e.rank = new_rank[e.rank as usize - 1];
        }
        // Stable: each contact's intervals stay in start order.
        self.exposures.sort_by_key(|e| e.rank);
        Ok(())
    }

    /// Keep the first `n` contacts and their exposures.
    pub fn truncate(&mut self, n: usize) {
        self.contacts.truncate(n);
        self.exposures.retain(|e| (e.rank as usize) <= n);
    }

    /// The venues of a contact with their total exposure, most exposed first (for displays;
    /// none when the trace was asked without its intervals, [`TraceRequest::intervals`]).
    pub fn venues_of(&self, rank: u32) -> Vec<(VenueKey, Seconds)> {
        let mut per: Vec<(VenueKey, Seconds)> = Vec::new();
        // Exposures are ordered by rank: the contact's run is found by binary search, so a
        // display that asks for every contact stays linear.
        let lo = self.exposures.partition_point(|e| e.rank < rank);
        let hi = lo + self.exposures[lo..].partition_point(|e| e.rank == rank);
        for e in &self.exposures[lo..hi] {
            match per.iter_mut().find(|(v, _)| *v == e.venue) {
                Some((_, s)) => *s += e.end - e.start,
                None => per.push((e.venue, e.end - e.start)),
            }
        }
        per.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        per
    }
}
