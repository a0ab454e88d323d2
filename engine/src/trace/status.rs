//! Person status: the reverse lookup a dashboard asks on every page view (the PC-COVID card
//! question): is this person a case, or a contact at which hop, of which cases, where and when.
//!
//! # Semantics
//! The status of a person is its entry in the call list of every registered case traced two
//! hops ([`Snapshot::trace_cases`] with `hops = 2`, no cap, the index's rules): `case` when it
//! is a registered case's person; else `F1` or `F2` with the cases that reach it at that hop,
//! its exposure (unioned per venue over those cases) and the intervals behind it; else none.
//!
//! # Algorithm
//! [`Snapshot::status_index`] does the per-case work once: every case's stays (clipped to its
//! window, extended by linger) sorted by venue, and every case's F1 list as "person → cases and
//! first contacts". A query then reads only the person's own rows: its stays against the cases'
//! stays (hop 1, binary search per stay), and the rows at its venues during its stays against
//! the F1 map (hop 2). No case is traced per query.

use std::collections::HashMap;

use roaring::RoaringBitmap;

use super::chain::ChainRequest;
use super::exposure::{self, F1First, F1Of, SourceStay};
use super::interval::merge_sorted;
use crate::error::Result;
use crate::model::{Case, PersonKey, Seconds, VenueKey};
use crate::store::Snapshot;
use rayon::prelude::*;

/// A piece of exposure to one case: `(case, venue, start, end, via)`.
type Piece = (u32, VenueKey, Seconds, Seconds, Option<PersonKey>);

/// The status of one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The person id asked about.
    pub person_id: String,
    /// Whether the store has check-ins of this person.
    pub known: bool,
    /// The registered cases that are this person (indices into [`StatusIndex::cases`]).
    pub is_case: Vec<u32>,
    /// The lowest hop at which a case reaches it (`None`: a case, or not a contact).
    pub hop: Option<u8>,
    /// The cases that reach it at any hop, ascending.
    pub cases: Vec<u32>,
    /// Seconds of exposure at the lowest hop, unioned per venue over the cases reaching it
    /// there.
    pub exposure_seconds: Seconds,
    /// The exposure intervals behind it, per hop, case, venue and start.
    pub exposures: Vec<StatusExposure>,
}

/// One exposure interval behind a [`Status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusExposure {
    /// 1 or 2.
    pub hop: u8,
    /// The case (index into [`StatusIndex::cases`]).
    pub case: u32,
    /// Where.
    pub venue: VenueKey,
    /// Start (inclusive).
    pub start: Seconds,
    /// End (exclusive).
    pub end: Seconds,
    /// At hop 2, the case's F1 who contributed most to this case's exposure.
    pub via: Option<PersonKey>,
}

/// The register indexed for status queries ([`Snapshot::status_index`]).
#[derive(Debug, Clone)]
pub struct StatusIndex {
    req: ChainRequest,
    snapshot: Snapshot,
    /// The register, as indexed.
    pub cases: Vec<Case>,
    case_of: HashMap<PersonKey, Vec<u32>>,
    /// Every case's clipped, extended stays, by venue then start (`source` = case).
    stays: Vec<SourceStay>,
    /// Every case's F1s (cases excluded): person → (case, first contact).
    f1_of: F1Of,
    windows: Vec<(Seconds, Seconds)>,
}

impl Snapshot {
    /// Index the register for status queries under `req`'s rules (dwell, max-visit, linger,
    /// min-overlap, latency; its F0, window, hops and cap are not used): one F1 trace per case,
    /// in parallel.
    pub fn status_index(&self, req: &ChainRequest) -> Result<StatusIndex> {
        let mut req = ChainRequest::new(req.trace.clone(), 1).latency(req.latency);
        req.trace.limit = None;
        req.trace.parallel = false;
        req.trace.check()?;
        req.trace.check_followable("person status")?;
        let cases = self.cases()?.to_vec();
        let keys = self.person_keys_of(&cases)?;
        let mut case_of: HashMap<PersonKey, Vec<u32>> = HashMap::new();
        let mut excluded = RoaringBitmap::new();
        for (i, k) in keys.iter().enumerate() {
            if let Some(k) = k {
                case_of.entry(*k).or_default().push(i as u32);
                excluded.insert(*k);
            }
        }
        let windows: Vec<(Seconds, Seconds)> = cases.iter().map(|c| (c.window_from, c.window_to)).collect();
        // Per case: its stays, and its F1s with their first contacts.
        type Indexed = (Vec<SourceStay>, Vec<F1First>);
        let per_case: Vec<Indexed> = keys
            .par_iter()
            .zip(&windows)
            .enumerate()
            .map(|(i, (k, &(from, to)))| {
                let Some(k) = *k else { return Ok((Vec::new(), Vec::new())) };
                let mut r = req.clone();
                r.trace = r.trace.window(Some(from), Some(to));
                let (mut stays, _) = exposure::source_stays(self, &[(k, from)], &r.trace)?;
                for s in &mut stays {
                    s.source = i as u32;
                }
                let f1 = exposure::f1_firsts(self, k, &|p| excluded.contains(p), &r.trace)?;
                Ok((stays, f1))
            })
            .collect::<Result<_>>()?;
        let (stays, f1s): (Vec<_>, Vec<_>) = per_case.into_iter().unzip();
        let mut stays: Vec<SourceStay> = stays.into_iter().flatten().collect();
        stays.sort_unstable();
        let f1_of = F1Of::new(self.person_count() as usize, &f1s);
        Ok(StatusIndex { req, snapshot: self.clone(), cases, case_of, stays, f1_of, windows })
    }
}

impl StatusIndex {
    /// The snapshot indexed.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The status of `person_id` (a stored id: a pseudonym in a pseudonymised store).
    pub fn status(&self, person_id: &str) -> Result<Status> {
        let snap = &self.snapshot;
        let mut status = Status {
            person_id: person_id.to_string(),
            known: false,
            is_case: self
                .cases
                .iter()
                .enumerate()
                .filter(|(_, c)| c.person_id == person_id)
                .map(|(i, _)| i as u32)
                .collect(),
            hop: None,
            cases: Vec::new(),
            exposure_seconds: 0,
            exposures: Vec::new(),
        };
        let Some(p) = snap.person_key(person_id)? else { return Ok(status) };
        status.known = true;
        if !status.is_case.is_empty() || self.case_of.contains_key(&p) {
            return Ok(status);
        }
        let r = &self.req.trace;
        let (mine, _) =
            exposure::source_stays(snap, &[(p, Seconds::MIN / 4)], &r.clone().linger(0).window(None, None))?;
        let longest = r.max_visit.saturating_add(r.linger);
        // Hop 1: its stays against the cases' stays.
        let mut got: Vec<Piece> = Vec::new();
        for s in &mine {
            let at = &self.stays[self.stays.partition_point(|x| x.venue < s.venue)..];
            let at = &at[..at.partition_point(|x| x.venue == s.venue)];
            let lo = at.partition_point(|x| x.start < s.start.saturating_sub(longest));
            for c in at[lo..].iter().take_while(|x| x.start < s.end) {
                let (a, b) = (c.start.max(s.start), c.end.min(s.end));
                if a < b {
                    got.push((c.source, s.venue, a, b, None));
                }
            }
        }
        let hop1 = self.reached(got);
        let at_hop1: Vec<u32> = hop1.iter().map(|e| e.0).collect();
        // Hop 2: the rows at its venues during its stays, against the cases' F1s.
        let ends: Vec<Seconds> = self.windows.iter().map(|w| w.1).collect();
        let got = exposure::f1_contributions(snap, &mine, Some(p), &self.f1_of, &ends, self.req.latency, r, |c| {
            at_hop1.contains(&c)
        })?;
        let got = got.into_iter().map(|(case, venue, a, b, x)| (case, venue, a, b, Some(x))).collect();
        let hop2 = self.reached(got);
        let lowest = if !hop1.is_empty() { &hop1 } else { &hop2 };
        if lowest.is_empty() {
            return Ok(status);
        }
        status.hop = Some(if hop1.is_empty() { 2 } else { 1 });
        let mut per_venue: Vec<(VenueKey, Seconds, Seconds)> = lowest.iter().map(|e| (e.1, e.2, e.3)).collect();
        per_venue.sort_unstable();
        let mut ivs = Vec::new();
        for by_venue in per_venue.chunk_by(|a, b| a.0 == b.0) {
            ivs.clear();
            ivs.extend(by_venue.iter().map(|x| (x.1, x.2)));
            merge_sorted(&mut ivs);
            status.exposure_seconds += ivs.iter().map(|(s, e)| e - s).sum::<Seconds>();
        }
        status.cases = hop1.iter().chain(&hop2).map(|e| e.0).collect();
        status.cases.sort_unstable();
        status.cases.dedup();
        let tagged = |hop: u8, v: &[Piece]| {
            v.iter()
                .map(move |&(case, venue, start, end, via)| StatusExposure { hop, case, venue, start, end, via })
                .collect::<Vec<_>>()
        };
        status.exposures = tagged(1, &hop1);
        status.exposures.extend(tagged(2, &hop2));
        Ok(status)
    }

    /// The cases whose pieces reach the threshold, with their merged intervals per venue (and
    /// the top contributor as `via`).
    fn reached(&self, mut got: Vec<Piece>) -> Vec<Piece> {
        got.sort_unstable();
        let mut out = Vec::new();
        let mut ivs: Vec<(Seconds, Seconds)> = Vec::new();
        for by_case in got.chunk_by(|a, b| a.0 == b.0) {
            let mut via: HashMap<PersonKey, Seconds> = HashMap::new();
            for g in by_case {
                if let Some(x) = g.4 {
                    *via.entry(x).or_default() += g.3 - g.2;
                }
            }
            let via = via.into_iter().max_by_key(|&(p, s)| (s, std::cmp::Reverse(p))).map(|(p, _)| p);
            let mut merged = Vec::new();
            for by_venue in by_case.chunk_by(|a, b| a.1 == b.1) {
                ivs.clear();
                ivs.extend(by_venue.iter().map(|g| (g.2, g.3)));
                ivs.sort_unstable();
                merge_sorted(&mut ivs);
                merged.extend(ivs.iter().map(|&(s, e)| (by_case[0].0, by_venue[0].1, s, e, via)));
            }
            let total: Seconds = merged.iter().map(|m| m.3 - m.2).sum();
            if total >= self.req.trace.min_overlap.max(1) {
                out.extend(merged);
            }
        }
        out
    }
}
