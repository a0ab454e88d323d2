//! Time-respecting chains: F0 → F1 → F2 → F3.
//!
//! # Semantics (the contract; the tests' reference follows it line by line)
//! 1. Hop 1 is the F1 trace of the request, unchanged.
//! 2. Each person p listed at hop k (the top `max_per_hop` of the hop's ranking, when capped)
//!    becomes a source for hop k+1 from `s(p) = first_contact(p) + latency` to the end of the
//!    window: p's stays clipped to `[s(p), to)`, extended by linger, unioned per venue over all
//!    hop-k sources into `U_k(v)`, as the F0's stays are into `U0(v)` at hop 1. Exposure at hop
//!    k+1 is measured against `U_k` with the same dwell, max-visit and min-overlap rules, and
//!    ranked the same way.
//! 3. A person appears once, at the lowest hop that reaches them; the F0 and the excluded
//!    persons (registered cases, when asked) are never listed.
//! 4. A contact at hop ≥ 2 names `via`: the hop-k source whose own clipped, extended stays give
//!    it the largest exposure (ties: earliest contact with that source, then the source's person
//!    id), and the venue of the largest part of that exposure (ties: earliest, then venue key).
//! 5. `limit` cuts each hop's list in the output only: who is listed, and so excluded from
//!    later hops, never depends on it.
//!
//! # Algorithm
//! Per hop: the sources' stays (`exposure::source_stays`, one person-postings lookup per source
//! and part), their union per venue, then the same venue-postings join (`exposure::pieces`) and
//! ranking as hop 1. `via` intersects each listed contact's pieces with the sources' stays at
//! that venue (binary search on start, as no stay is longer than `max_visit + linger`).
//!
//! # Performance
//! Hop k+1 costs what a trace of one F0 with all hop-k sources' stays would: the sources' rows,
//! plus the rows at their venues within `max_visit` before and during their stays. Memory holds
//! each hop's pieces while it is ranked, and the listed persons as a bitmap.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt8Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use roaring::RoaringBitmap;

use super::exposure::{self, Piece, SourceStay};
use super::request::TraceRequest;
use super::{TraceResult, rank};
use crate::error::{Error, Result};
use crate::model::{EXPOSURES_SCHEMA, F1_SCHEMA, PersonId, PersonKey, Seconds, VenueKey};
use crate::pseudonym::Key;
use crate::store::Snapshot;

/// Most hops a chain follows.
pub const MAX_HOPS: u8 = 3;

/// A chain request: the hop-1 trace and how far and how wide to follow it.
///
/// ```
/// let req = truyvet::trace::ChainRequest::new(truyvet::TraceRequest::new("F0"), 2).max_per_hop(Some(1000));
/// assert_eq!(req.latency, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRequest {
    /// The hop-1 request (F0, window, exposure rules); its `limit` cuts each hop's list.
    pub trace: TraceRequest,
    /// Hops to follow (1 to [`MAX_HOPS`]).
    pub hops: u8,
    /// Delay after a contact's first exposure before it counts as a source.
    pub latency: Seconds,
    /// Keep only the top N of a hop as sources for the next.
    pub max_per_hop: Option<usize>,
    /// Person ids never listed (registered cases); ids the store does not know are ignored.
    pub exclude: Vec<String>,
}

impl ChainRequest {
    /// Follow `trace` for `hops` hops, latency 0, no cap.
    pub fn new(trace: TraceRequest, hops: u8) -> ChainRequest {
        ChainRequest { trace, hops, latency: 0, max_per_hop: None, exclude: Vec::new() }
    }
    /// Delay before a contact becomes a source.
    pub fn latency(mut self, s: Seconds) -> Self {
        self.latency = s;
        self
    }
    /// Sources per hop.
    pub fn max_per_hop(mut self, n: Option<usize>) -> Self {
        self.max_per_hop = n;
        self
    }
    /// Persons never listed.
    pub fn exclude(mut self, ids: Vec<String>) -> Self {
        self.exclude = ids;
        self
    }

    pub(crate) fn check(&self) -> Result<()> {
        let bad = |what: &'static str, value: String, hint: &str| {
            Err(Error::InvalidArgument { what, value, hint: hint.into() })
        };
        self.trace.check_followable("hops and call lists")?;
        if !(1..=MAX_HOPS).contains(&self.hops) {
            return bad("hops", self.hops.to_string(), "must be 1, 2 or 3");
        }
        if self.latency < 0 {
            return bad("latency", self.latency.to_string(), "must be ≥ 0");
        }
        if self.max_per_hop == Some(0) {
            return bad("max-per-hop", "0".into(), "must be ≥ 1");
        }
        self.trace.check()
    }
}

/// The source that led to a contact at hop ≥ 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// The source (a contact of the previous hop).
    pub person: PersonKey,
    /// Its id (clear, for a keyed trace).
    pub person_id: PersonId,
    /// Where most of the exposure to it happened.
    pub venue: VenueKey,
    /// Seconds of exposure to this source alone.
    pub exposure_seconds: Seconds,
    /// Start of the earliest exposure to it.
    pub first_contact: Seconds,
}

/// One hop of a chain.
#[derive(Debug, Clone)]
pub struct Hop {
    /// 1 for F1, 2 for F2, 3 for F3.
    pub hop: u8,
    /// The hop's contacts, ranked within the hop, and their exposure intervals (`f0_visits` and
    /// `f0_intervals` count the sources' visits and the union's intervals).
    pub result: TraceResult,
    /// By contact (same order as `result.contacts`); `None` at hop 1.
    pub via: Vec<Option<Via>>,
    /// Contacts listed at this hop before `limit`.
    pub listed: usize,
    /// How many of them were sources for the next hop (0 for the last hop).
    pub sources: usize,
}

impl Hop {
    /// Whether `max_per_hop` kept some of this hop's contacts from being sources.
    pub fn capped(&self) -> bool {
        self.sources > 0 && self.sources < self.listed
    }
}

/// The answer to a [`ChainRequest`].
#[derive(Debug, Clone)]
pub struct ChainResult {
    /// The request answered.
    pub request: ChainRequest,
    /// Hop 1 first; a chain stops early when a hop lists nobody.
    pub hops: Vec<Hop>,
}

/// Columns of a chain's list: `hop`, the columns of [`F1_SCHEMA`], then `via_person_id` and
/// `via_venue_id`.
pub static CHAIN_SCHEMA: std::sync::LazyLock<SchemaRef> = std::sync::LazyLock::new(|| {
    Arc::new(with_hop(
        &F1_SCHEMA,
        [Field::new("via_person_id", DataType::Utf8, true), Field::new("via_venue_id", DataType::Utf8, true)],
    ))
});

/// `hop`, then `inner`'s fields, then `after`.
fn with_hop(inner: &Schema, after: impl IntoIterator<Item = Field>) -> Schema {
    let mut fields = vec![Field::new("hop", DataType::UInt8, false)];
    fields.extend(inner.fields().iter().map(|f| f.as_ref().clone()));
    fields.extend(after);
    Schema::new(fields)
}

impl Snapshot {
    /// Follow an F0 for `req.hops` hops (see the module docs). With `key` (a pseudonymised
    /// store's), `req.trace.f0` and `req.exclude` are clear ids and every list, cap and tie is
    /// decided by clear id, as a store of clear ids would decide it.
    pub fn trace_chain(&self, req: &ChainRequest, key: Option<&Key>) -> Result<ChainResult> {
        req.check()?;
        if let Some(key) = key {
            self.check_key(key)?;
        }
        let as_stored = |id: &str| key.map_or_else(|| id.to_string(), |k| k.pseudonym(id.trim()));
        let f0 = self
            .person_key(&as_stored(&req.trace.f0))?
            .ok_or_else(|| Error::NotFound { what: "person", id: req.trace.f0.clone() })?;
        let mut excluded = RoaringBitmap::new();
        for id in &req.exclude {
            if let Some(p) = self.person_key(&as_stored(id))? {
                excluded.insert(p);
            }
        }
        self.chain_of(req, f0, &excluded, key, true)
    }

    /// [`Snapshot::trace_chain`] of the person `f0`, never listing `excluded` (the request's
    /// F0 id and `exclude` are not looked at). Unless `ranked`, only each hop's contacts and
    /// exposures are wanted (they are merged elsewhere): a hop whose order decides nothing (no
    /// cap picks sources from it) is left unranked, without ids or `via`.
    pub(crate) fn chain_of(
        &self,
        req: &ChainRequest,
        f0: PersonKey,
        excluded: &RoaringBitmap,
        key: Option<&Key>,
        ranked: bool,
    ) -> Result<ChainResult> {
        req.check()?;
        let mut hop_req = req.trace.clone();
        hop_req.limit = None;
        let mut listed = excluded.clone();
        listed.insert(f0);
        let mut hops: Vec<Hop> = Vec::new();
        let mut sources: Vec<(PersonKey, Seconds)> = vec![(f0, hop_req.from.unwrap_or(Seconds::MIN / 4))];
        let mut source_ids: Vec<PersonId> = vec![PersonId::from_str(&req.trace.f0)];
        for hop in 1..=req.hops {
            let (stays, visits) = exposure::source_stays(self, &sources, &hop_req)?;
            let (u, measured) = exposure::unions(&stays);
            let (pieces, rows_examined) = exposure::pieces(self, &|p| listed.contains(p), &u, &measured, &hop_req)?;
            let ordered = ranked || (hop < req.hops && req.max_per_hop.is_some());
            let (contacts, exposures) =
                rank::rank(self, &pieces, hop_req.min_overlap, None, ordered, req.trace.intervals)?;
            let mut via = if hop == 1 || !ranked {
                HashMap::new()
            } else {
                via(&pieces, &contacts, &stays, &sources, &source_ids, hop_req.max_visit + hop_req.linger)
            };
            let mut result = TraceResult {
                request: req.trace.clone(),
                f0_visits: visits,
                f0_intervals: u.len(),
                rows_examined,
                contacts,
                exposures,
                snapshot: self.clone(),
            };
            if let Some(key) = key.filter(|_| ordered) {
                result.reidentify(key)?;
            }
            if hop < req.hops {
                listed.extend(result.contacts.iter().map(|c| c.person));
            }
            let n = result.contacts.len();
            let keep = if hop < req.hops { req.max_per_hop.map_or(n, |m| m.min(n)) } else { 0 };
            sources = result.contacts[..keep]
                .iter()
                .map(|c| (c.person, c.first_contact.saturating_add(req.latency)))
                .collect();
            source_ids = result.contacts[..keep].iter().map(|c| c.person_id.clone()).collect();
            let via = result.contacts.iter().map(|c| via.remove(&c.person)).collect();
            hops.push(Hop { hop, result, via, listed: n, sources: keep });
            if keep == 0 {
                break;
            }
        }
        if let Some(n) = req.trace.limit {
            for h in &mut hops {
                h.result.truncate(n);
                h.via.truncate(n);
            }
        }
        Ok(ChainResult { request: req.clone(), hops })
    }
}

/// For each listed contact at venue pieces against the union of `stays`, the source with the
/// largest exposure of its own (semantics rule 4).
fn via(
    pieces: &[Piece],
    contacts: &[super::Contact],
    stays: &[SourceStay],
    sources: &[(PersonKey, Seconds)],
    source_ids: &[PersonId],
    longest: Seconds,
) -> HashMap<PersonKey, Via> {
    let wanted: HashMap<PersonKey, ()> = contacts.iter().map(|c| (c.person, ())).collect();
    let mut out = HashMap::with_capacity(contacts.len());
    // (source, venue, start, end) of one contact, reused.
    let mut parts: Vec<(u32, VenueKey, Seconds, Seconds)> = Vec::new();
    for run in pieces.chunk_by(|a, b| a.person == b.person) {
        let q = run[0].person;
        if !wanted.contains_key(&q) {
            continue;
        }
        parts.clear();
        for p in run {
            let at = stays.partition_point(|s| s.venue < p.venue);
            let at = &stays[at..stays.partition_point(|s| s.venue <= p.venue)];
            let lo = at.partition_point(|s| s.start < p.start.saturating_sub(longest));
            for s in at[lo..].iter().take_while(|s| s.start < p.end) {
                let (a, b) = (s.start.max(p.start), s.end.min(p.end));
                if a < b {
                    parts.push((s.source, p.venue, a, b));
                }
            }
        }
        parts.sort_unstable();
        // Per source: total over venues of merged intervals, earliest start, best venue.
        let mut best: Option<(Seconds, Seconds, u32, VenueKey)> = None;
        for by_source in parts.chunk_by(|a, b| a.0 == b.0) {
            let (mut total, mut first) = (0, Seconds::MAX);
            let mut top: Option<(Seconds, Seconds, VenueKey)> = None;
            for by_venue in by_source.chunk_by(|a, b| a.1 == b.1) {
                let mut ivs: Vec<(Seconds, Seconds)> = by_venue.iter().map(|x| (x.2, x.3)).collect();
                super::interval::merge_sorted(&mut ivs);
                let here: Seconds = ivs.iter().map(|(a, b)| b - a).sum();
                let start = ivs[0].0;
                total += here;
                first = first.min(start);
                let v = by_venue[0].1;
                if top.is_none_or(|(t, s, tv)| {
                    (here, std::cmp::Reverse(start), std::cmp::Reverse(v))
                        > (t, std::cmp::Reverse(s), std::cmp::Reverse(tv))
                }) {
                    top = Some((here, start, v));
                }
            }
            let src = by_source[0].0;
            let better = match best {
                None => true,
                Some((bt, bf, bs, _)) => {
                    (total, std::cmp::Reverse(first)) > (bt, std::cmp::Reverse(bf))
                        || ((total, first) == (bt, bf)
                            && source_ids[src as usize].as_bytes() < source_ids[bs as usize].as_bytes())
                }
            };
            if better {
                best = Some((total, first, src, top.expect("a source with parts has a venue").2));
            }
        }
        if let Some((total, first, src, venue)) = best {
            out.insert(
                q,
                Via {
                    person: sources[src as usize].0,
                    person_id: source_ids[src as usize].clone(),
                    venue,
                    exposure_seconds: total,
                    first_contact: first,
                },
            );
        }
    }
    out
}

impl ChainResult {
    /// Contacts over all hops.
    pub fn len(&self) -> usize {
        self.hops.iter().map(|h| h.result.contacts.len()).sum()
    }

    /// Whether no hop lists anyone.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One list, hop by hop, ranked within each hop; columns as [`CHAIN_SCHEMA`]: each hop's
    /// [`TraceResult::to_record_batch`] between its `hop` and `via` columns.
    pub fn to_record_batch(&self) -> Result<RecordBatch> {
        let schema = Arc::new(CHAIN_SCHEMA.as_ref().clone().with_metadata(self.notes_metadata()));
        self.per_hop(&schema, |h| {
            let snap = h.result.snapshot();
            let venue_ids: Vec<Option<&str>> =
                h.via.iter().map(|v| v.as_ref().map(|v| snap.venue_id(v.venue)).transpose()).collect::<Result<_>>()?;
            let mut columns = h.result.to_record_batch().columns().to_vec();
            columns.push(Arc::new(
                h.via.iter().map(|v| v.as_ref().map(|v| v.person_id.as_str())).collect::<StringArray>(),
            ));
            columns.push(Arc::new(StringArray::from(venue_ids)));
            Ok(columns)
        })
    }

    /// The exposure intervals of every hop's contacts: `hop`, then the columns of
    /// [`TraceResult::exposures_record_batch`].
    pub fn exposures_record_batch(&self) -> Result<RecordBatch> {
        let schema = Arc::new(with_hop(&EXPOSURES_SCHEMA, []).with_metadata(self.notes_metadata()));
        self.per_hop(&schema, |h| Ok(h.result.exposures_record_batch()?.columns().to_vec()))
    }

    /// One batch of `schema`: per hop, its `hop` column before the columns `hop_columns` gives.
    fn per_hop(&self, schema: &SchemaRef, hop_columns: impl Fn(&Hop) -> Result<Vec<ArrayRef>>) -> Result<RecordBatch> {
        let mut batches = Vec::with_capacity(self.hops.len());
        for h in &self.hops {
            let rest = hop_columns(h)?;
            let rows = rest.first().map_or(0, |c| c.len());
            let mut columns: Vec<ArrayRef> = vec![Arc::new(UInt8Array::from(vec![h.hop; rows]))];
            columns.extend(rest);
            batches.push(RecordBatch::try_new(schema.clone(), columns).expect("hop, then the hop's columns"));
        }
        arrow::compute::concat_batches(schema, &batches).map_err(|e| Error::Internal(e.to_string()))
    }

    /// What a reader of the list must know: each hop that a cap cut, as `hop N: kept K of L
    /// as sources`.
    pub fn notes(&self) -> Vec<String> {
        self.hops
            .iter()
            .filter(|h| h.capped())
            .map(|h| {
                format!(
                    "hop {}: only the top {} of {} contacts were followed to hop {} (--max-per-hop)",
                    h.hop,
                    h.sources,
                    h.listed,
                    h.hop + 1
                )
            })
            .collect()
    }

    fn notes_metadata(&self) -> HashMap<String, String> {
        let notes = self.notes();
        if notes.is_empty() { HashMap::new() } else { HashMap::from([("truyvet.notes".into(), notes.join("; "))]) }
    }
}
