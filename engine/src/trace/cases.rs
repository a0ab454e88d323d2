//! A day's cases at once: each case's chain, traced in parallel with its own infectious window,
//! merged into one call list.
//!
//! # Semantics
//! 1. Each case is traced as [`Snapshot::trace_chain`] traces its person, with the case's
//!    window (re-derived with `lookback` when given; the request's `from`/`to`, when set, replace
//!    every case's). A case whose person has no check-in contributes nothing.
//! 2. Registered cases (the whole register, and every case of the request) are never listed: a
//!    case exposed to another case is a cluster link (`clusters`), not a contact.
//! 3. Each contact appears once: its `hop` is the lowest at which any case's chain lists it;
//!    `cases` are the cases whose chains list it at any hop; its exposure is the union, per
//!    venue, of its exposure intervals at that lowest hop over all cases (not a sum), with
//!    episodes, venues and first/last contact taken from that union.
//! 4. Ranked by hop, then number of cases (desc), then exposure (desc), then episodes (desc),
//!    then person id. The request's `limit` cuts the merged list.
//!
//! # Performance
//! Cases run in parallel on the rayon pool, each chain single-threaded. Unless
//! [`CasesRequest::per_case`] asks for each case's own list, a hop is ranked (ids looked up,
//! `via` found) only when a cap picks its sources; the others stay in person key order, so the
//! merge is one stable sort that merges runs, then a parallel pass per person. Memory: every
//! case's contacts and exposure intervals until the merge.
//!
//! [`Snapshot::count_cases`] (the daily report's figures) builds no list: each chain is followed
//! by `reach`, a bitset of the persons each hop reaches, and only the counts are merged.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, UInt8Array, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;
use roaring::RoaringBitmap;

use super::chain::{ChainRequest, ChainResult};
use super::interval::merge_sorted;
use super::reach::{Marks, Scratch};
use super::ts;
use crate::error::{Error, Result};
use crate::model::{Case, PersonKey, Seconds, VenueKey, col, timestamp_type};
use crate::pseudonym::Key;
use crate::store::Snapshot;

/// How to trace a set of cases: the chain's rules (its F0, exclusions and, unless set, window
/// are each case's) and an optional lookback to re-derive the cases' windows with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasesRequest {
    /// Rules, hops, latency, cap; `chain.trace.limit` cuts the merged list.
    pub chain: ChainRequest,
    /// Re-derive every case's window with this lookback instead of its stored one.
    pub lookback: Option<Seconds>,
    /// Keep each case's own ranked chain ([`CallList::chains`]); without it only the merged
    /// list is built, which skips ranking each case's lists and looking up their ids.
    pub per_case: bool,
}

impl CasesRequest {
    /// Cases traced under `chain`'s rules with their own windows, merged only.
    pub fn new(chain: ChainRequest) -> CasesRequest {
        CasesRequest { chain, lookback: None, per_case: false }
    }
}

/// One person to call: a contact of one or more cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// 1-based rank in the merged list.
    pub rank: u32,
    /// Person key in the snapshot.
    pub person: PersonKey,
    /// Person id (clear, for a keyed trace).
    pub person_id: String,
    /// The lowest hop any case reaches it at.
    pub hop: u8,
    /// The cases that reach it (indices into [`CallList::cases`]), ascending.
    pub cases: Vec<u32>,
    /// Seconds of exposure at its lowest hop, unioned over cases per venue.
    pub exposure_seconds: Seconds,
    /// Maximal exposure intervals of that union.
    pub episodes: u32,
    /// Venues with exposure.
    pub venues: u32,
    /// Start of the earliest exposure.
    pub first_contact: Seconds,
    /// End of the latest exposure.
    pub last_contact: Seconds,
}

/// The answer to [`Snapshot::trace_cases`].
#[derive(Debug, Clone)]
pub struct CallList {
    /// The request answered.
    pub request: CasesRequest,
    /// The cases traced, in request order.
    pub cases: Vec<Case>,
    /// With [`CasesRequest::per_case`], each case's chain (`None`: its person has no check-in
    /// in the store); empty otherwise.
    pub chains: Vec<Option<ChainResult>>,
    /// The merged, ranked list.
    pub calls: Vec<Call>,
    notes: Vec<String>,
}

/// Columns of a merged call list.
pub static CALLS_SCHEMA: std::sync::LazyLock<SchemaRef> = std::sync::LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("rank", DataType::UInt32, false),
        Field::new("hop", DataType::UInt8, false),
        Field::new(col::PERSON_ID, DataType::Utf8, false),
        Field::new("cases", DataType::UInt32, false),
        Field::new("case_ids", DataType::Utf8, false),
        Field::new("exposure_seconds", DataType::Int64, false),
        Field::new("episodes", DataType::UInt32, false),
        Field::new("venues", DataType::UInt32, false),
        Field::new("first_contact", timestamp_type(), false),
        Field::new("last_contact", timestamp_type(), false),
    ]))
});

impl Snapshot {
    /// Trace `cases` (registered or not) in parallel and merge their contacts into one call list
    /// (see the module docs). With `key`, the cases' person ids are pseudonyms as the register
    /// stores them, and the list comes back by clear id.
    pub fn trace_cases(&self, cases: &[Case], req: &CasesRequest, key: Option<&Key>) -> Result<CallList> {
        if let Some(key) = key {
            self.check_key(key)?;
        }
        let chains = self.each_chain(cases, req, key, req.per_case, Ok)?;
        let calls = merge(self, &chains, req.chain.trace.limit, key)?;
        let mut notes = Vec::new();
        for (case, chain) in cases.iter().zip(&chains) {
            match chain {
                None => notes.push(format!("case {}: its person has no check-in in the store", case.case_id)),
                Some(c) => notes.extend(c.notes().into_iter().map(|n| format!("case {}: {n}", case.case_id))),
            }
        }
        let chains = if req.per_case { chains } else { Vec::new() };
        Ok(CallList { request: req.clone(), cases: cases.to_vec(), chains, calls, notes })
    }
}

/// The call list of [`Snapshot::trace_cases`], counted rather than listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// How many contacts each case has at each hop (hop 1 first; empty: its person has no
    /// check-in in the store), in request order.
    pub per_hop: Vec<Vec<usize>>,
    /// Distinct persons at each hop, each at the lowest hop any case lists it (the call list's
    /// rows by `hop`).
    pub distinct: Vec<u64>,
    /// `(cases, persons listed by exactly that many cases)`, ascending, for every count ≥ 1.
    pub reached_by: Vec<(u32, u64)>,
}

impl Snapshot {
    /// What [`Snapshot::trace_cases`] would list, counted: each case's chain reduced to a bitmap
    /// of persons per hop as it is followed (`reach`: no exposure interval is built, sorted or
    /// merged), unless a `max_per_hop` cap picks sources by rank, where the chains are ranked.
    /// Memory: a bitmap per case and hop, a counter per person, and bitsets per worker.
    pub fn count_cases(&self, cases: &[Case], req: &CasesRequest) -> Result<CallCounts> {
        let per_case: Vec<Option<Vec<RoaringBitmap>>> = if req.chain.hops > 1 && req.chain.max_per_hop.is_some() {
            // A cap picks each hop's sources by rank: the chains are ranked where it applies.
            self.each_chain(cases, req, None, false, |chain| {
                Ok(chain.hops.iter().map(|h| h.result.contacts.iter().map(|c| c.person).collect()).collect())
            })?
        } else {
            let (keys, excluded) = self.case_keys(cases)?;
            let excluded = Marks::with(self.person_count(), excluded);
            cases
                .par_iter()
                .zip(&keys)
                .map_init(Scratch::default, |scratch, (case, key_of_case)| {
                    let Some(person) = *key_of_case else { return Ok(None) };
                    self.chain_reach(&case_chain(req, case), person, &excluded, scratch).map(Some)
                })
                .collect::<Result<_>>()?
        };
        let hops = per_case.iter().flatten().map(Vec::len).max().unwrap_or(0);
        let (mut seen, mut distinct) = (RoaringBitmap::new(), Vec::with_capacity(hops));
        for h in 0..hops {
            let at_hop: RoaringBitmap =
                per_case.iter().flatten().filter_map(|b| b.get(h)).fold(RoaringBitmap::new(), |a, b| a | b);
            distinct.push(at_hop.difference_len(&seen));
            seen |= at_hop;
        }
        // How many cases reach each person, counted over slices of the person keys in parallel.
        let any: Vec<RoaringBitmap> =
            per_case.par_iter().flatten().map(|b| b.iter().fold(RoaringBitmap::new(), |a, b| a | b)).collect();
        let persons = self.person_count();
        const SLICE: u32 = 1 << 18;
        let reached = (0..persons.div_ceil(SLICE))
            .into_par_iter()
            .map(|i| {
                let lo = i * SLICE;
                let mut times = vec![0u32; (persons - lo).min(SLICE) as usize];
                for b in &any {
                    for p in b.range(lo..lo + times.len() as u32) {
                        times[(p - lo) as usize] += 1;
                    }
                }
                let mut out = std::collections::BTreeMap::<u32, u64>::new();
                for t in times.into_iter().filter(|&t| t > 0) {
                    *out.entry(t).or_default() += 1;
                }
                out
            })
            .reduce(std::collections::BTreeMap::new, |mut a, b| {
                for (t, n) in b {
                    *a.entry(t).or_default() += n;
                }
                a
            });
        Ok(CallCounts {
            per_hop: per_case.iter().map(|b| b.iter().flatten().map(|x| x.len() as usize).collect()).collect(),
            distinct,
            reached_by: reached.into_iter().collect(),
        })
    }

    /// The person key of each case (`None`: no check-in in the store), and the persons no chain
    /// lists: the register's cases and those traced.
    fn case_keys(&self, cases: &[Case]) -> Result<(Vec<Option<PersonKey>>, RoaringBitmap)> {
        let keys = self.person_keys_of(cases)?;
        let excluded: RoaringBitmap =
            self.person_keys_of(self.cases()?)?.into_iter().chain(keys.iter().copied()).flatten().collect();
        Ok((keys, excluded))
    }

    /// Each case's chain (rules 1 and 2 of the module docs), traced in parallel and handed to
    /// `f` as soon as it is done; `None` for a case whose person has no check-in.
    fn each_chain<T: Send>(
        &self,
        cases: &[Case],
        req: &CasesRequest,
        key: Option<&Key>,
        ranked: bool,
        f: impl Fn(ChainResult) -> Result<T> + Sync,
    ) -> Result<Vec<Option<T>>> {
        let (keys, excluded) = self.case_keys(cases)?;
        cases
            .par_iter()
            .zip(&keys)
            .map(|(case, key_of_case)| {
                let Some(person) = *key_of_case else { return Ok(None) };
                f(self.chain_of(&case_chain(req, case), person, &excluded, key, ranked)?).map(Some)
            })
            .collect()
    }
}

/// The chain of one case under `req`: its F0, and its window unless the request sets one.
fn case_chain(req: &CasesRequest, case: &Case) -> ChainRequest {
    let (from, to) = req.lookback.map_or((case.window_from, case.window_to), |l| case.window(l));
    let mut r = req.chain.clone();
    r.trace.f0 = case.person_id.clone();
    r.trace.from = req.chain.trace.from.or(Some(from));
    r.trace.to = req.chain.trace.to.or(Some(to));
    r.trace.limit = None;
    r.trace.parallel = false;
    r
}

/// Rules 3 and 4 of the module docs; with `key`, ids are clear and ties go by them.
///
/// The exposure intervals of every listing go into one list, sorted by person with a stable
/// sort: each unranked hop comes in person order, so the sort merges runs, and a person's
/// intervals stay in case, then hop order. The persons are merged in parallel.
fn merge(
    snapshot: &Snapshot,
    chains: &[Option<ChainResult>],
    limit: Option<usize>,
    key: Option<&Key>,
) -> Result<Vec<Call>> {
    // (person, hop, case, venue, start, end) of every exposure interval of every listing.
    let total = chains.iter().flatten().flat_map(|c| &c.hops).map(|h| h.result.exposures.len()).sum();
    let mut all: Vec<(PersonKey, u8, u32, VenueKey, Seconds, Seconds)> = Vec::with_capacity(total);
    for (i, chain) in chains.iter().enumerate() {
        for hop in chain.iter().flat_map(|c| &c.hops) {
            all.extend(hop.result.exposures.iter().map(|e| (e.person, hop.hop, i as u32, e.venue, e.start, e.end)));
        }
    }
    all.sort_by_key(|x| x.0);
    type Scratch = (Vec<(VenueKey, Seconds, Seconds)>, Vec<(Seconds, Seconds)>);
    let one = |(lowest, ivs): &mut Scratch, run: &[(PersonKey, u8, u32, VenueKey, Seconds, Seconds)]| -> Result<Call> {
        let (person, hop) = (run[0].0, run.iter().map(|x| x.1).min().unwrap_or(0));
        let mut cases: Vec<u32> = run.iter().map(|x| x.2).collect();
        cases.dedup();
        lowest.clear();
        lowest.extend(run.iter().filter(|x| x.1 == hop).map(|x| (x.3, x.4, x.5)));
        lowest.sort_unstable();
        let (mut exposure, mut episodes, mut venues, mut first, mut last) = (0, 0u32, 0u32, Seconds::MAX, Seconds::MIN);
        for by_venue in lowest.chunk_by(|a, b| a.0 == b.0) {
            ivs.clear();
            ivs.extend(by_venue.iter().map(|x| (x.1, x.2)));
            merge_sorted(ivs);
            venues += 1;
            episodes += ivs.len() as u32;
            exposure += ivs.iter().map(|(s, e)| e - s).sum::<Seconds>();
            first = first.min(ivs[0].0);
            last = last.max(ivs[ivs.len() - 1].1);
        }
        // With a key the clear ids are filled in below, for all calls at once.
        let person_id = if key.is_some() { String::new() } else { snapshot.person_id(person)?.to_string() };
        Ok(Call {
            rank: 0,
            person,
            person_id,
            hop,
            cases,
            exposure_seconds: exposure,
            episodes,
            venues,
            first_contact: first,
            last_contact: last,
        })
    };
    let mut calls: Vec<Call> =
        all.par_chunk_by(|a, b| a.0 == b.0).map_init(Scratch::default, one).collect::<Result<_>>()?;
    if let Some(key) = key {
        let persons: Vec<PersonKey> = calls.iter().map(|c| c.person).collect();
        for (c, id) in calls.iter_mut().zip(snapshot.clear_ids(key, &persons)?) {
            c.person_id = id;
        }
    }
    calls.par_sort_unstable_by(|a, b| {
        a.hop
            .cmp(&b.hop)
            .then(b.cases.len().cmp(&a.cases.len()))
            .then(b.exposure_seconds.cmp(&a.exposure_seconds))
            .then(b.episodes.cmp(&a.episodes))
            .then_with(|| a.person_id.as_bytes().cmp(b.person_id.as_bytes()))
    });
    if let Some(n) = limit {
        calls.truncate(n);
    }
    for (i, c) in calls.iter_mut().enumerate() {
        c.rank = i as u32 + 1;
    }
    Ok(calls)
}

impl CallList {
    /// The merged list as Arrow, columns as [`CALLS_SCHEMA`] (`case_ids` joined by commas).
    pub fn to_record_batch(&self) -> RecordBatch {
        let c = &self.calls;
        let case_ids = c.iter().map(|c| {
            Some(c.cases.iter().map(|&i| self.cases[i as usize].case_id.as_str()).collect::<Vec<_>>().join(","))
        });
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from_iter_values(c.iter().map(|c| c.rank))),
            Arc::new(UInt8Array::from_iter_values(c.iter().map(|c| c.hop))),
            Arc::new(StringArray::from_iter_values(c.iter().map(|c| c.person_id.as_str()))),
            Arc::new(UInt32Array::from_iter_values(c.iter().map(|c| c.cases.len() as u32))),
            Arc::new(case_ids.collect::<StringArray>()),
            Arc::new(Int64Array::from_iter_values(c.iter().map(|c| c.exposure_seconds))),
            Arc::new(UInt32Array::from_iter_values(c.iter().map(|c| c.episodes))),
            Arc::new(UInt32Array::from_iter_values(c.iter().map(|c| c.venues))),
            ts(c.iter().map(|c| c.first_contact)),
            ts(c.iter().map(|c| c.last_contact)),
        ];
        RecordBatch::try_new(CALLS_SCHEMA.clone(), columns).expect("columns match CALLS_SCHEMA")
    }

    /// Each case's own list (each hop cut by the request's `limit`), one after the other:
    /// `case_id`, then the columns of [`ChainResult::to_record_batch`]. Needs
    /// [`CasesRequest::per_case`].
    pub fn per_case_record_batch(&self) -> Result<RecordBatch> {
        if !self.request.per_case && !self.cases.is_empty() {
            return Err(Error::InvalidArgument {
                what: "per-case lists",
                value: "a merged-only call list".into(),
                hint: "trace with CasesRequest::per_case set".into(),
            });
        }
        let mut fields = vec![Field::new("case_id", DataType::Utf8, false)];
        fields.extend(super::CHAIN_SCHEMA.fields().iter().map(|f| f.as_ref().clone()));
        let schema = Arc::new(Schema::new(fields));
        let mut batches = Vec::new();
        for (case, chain) in self.cases.iter().zip(&self.chains) {
            let Some(chain) = chain else { continue };
            let mut chain = chain.clone();
            if let Some(n) = self.request.chain.trace.limit {
                for h in &mut chain.hops {
                    h.result.truncate(n);
                    h.via.truncate(n);
                }
            }
            let b = chain.to_record_batch()?;
            let mut columns: Vec<ArrayRef> =
                vec![Arc::new(StringArray::from_iter_values(std::iter::repeat_n(case.case_id.as_str(), b.num_rows())))];
            columns.extend(b.columns().iter().cloned());
            batches.push(RecordBatch::try_new(schema.clone(), columns).expect("case_id and chain columns"));
        }
        arrow::compute::concat_batches(&schema, &batches).map_err(|e| Error::Internal(e.to_string()))
    }

    /// Notes a reader must see: cases without check-ins, hops a cap cut.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }
}
