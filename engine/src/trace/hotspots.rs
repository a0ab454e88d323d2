//! Hotspots: venues where several registered cases stayed, inside their infectious windows,
//! close together in time: the places to cordon off ("khoanh vùng").
//!
//! # Semantics
//! 1. A case's stays are its check-ins as stays (dwell, max-visit), clipped to its infectious
//!    window (re-derived with `lookback` when given) and to the request's `[from, to)`.
//! 2. Stays at one venue are *within W of each other* when one window of length W touches them
//!    all: `max(start) − min(end) ≤ W`.
//! 3. A stay belongs to a hotspot when it is in such a set holding stays of at least
//!    `min_cases` distinct cases. A venue is a hotspot when it has such stays; its `cases` are
//!    their cases, `first_stay`/`last_stay` their earliest start and latest end.
//! 4. `exposed`: persons other than registered cases whose exposure at the venue to the union of
//!    those stays (extended by linger) reaches `max(min_overlap, 1)`: the venue's F1s.
//! 5. Ranked by cases (desc), exposed (desc), venue id.
//!
//! # Algorithm
//! Per venue, a set stabbed by a window of length W is stabbed by one starting at its earliest
//! end, so only the windows `[end_i, end_i + W]` are tried: O(s²) for s case stays at a venue
//! (a register has thousands of stays, not millions). Exposed persons come from one venue-
//! postings join over all hotspots (`exposure::pieces`).

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;
use roaring::RoaringBitmap;

use super::exposure::{self, SourceStay};
use super::request::TraceRequest;
use super::ts;
use crate::error::{Error, Result};
use crate::model::{Case, Seconds, VenueKey, col, timestamp_type};
use crate::store::Snapshot;

/// What `hotspots` looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotspotRequest {
    /// Exposure rules (dwell, max-visit, linger, min-overlap) and the period `[from, to)`
    /// looked at; its F0 is not used.
    pub rules: TraceRequest,
    /// Least number of distinct cases.
    pub min_cases: usize,
    /// Longest time between the cases' stays (W).
    pub within: Seconds,
    /// Re-derive the cases' windows with this lookback.
    pub lookback: Option<Seconds>,
}

impl Default for HotspotRequest {
    fn default() -> Self {
        HotspotRequest { rules: TraceRequest::default(), min_cases: 2, within: 3 * 86_400, lookback: None }
    }
}

/// One hotspot venue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hotspot {
    /// 1-based rank.
    pub rank: u32,
    /// The venue.
    pub venue: VenueKey,
    /// Its id.
    pub venue_id: String,
    /// Its cases (indices into [`Hotspots::cases`]), ascending.
    pub cases: Vec<u32>,
    /// Earliest start of their stays here.
    pub first_stay: Seconds,
    /// Latest end of their stays here.
    pub last_stay: Seconds,
    /// Persons exposed here (F1 at this venue).
    pub exposed: u64,
}

/// The answer to [`Snapshot::hotspots`].
#[derive(Debug, Clone)]
pub struct Hotspots {
    /// The register's cases, in register order.
    pub cases: Vec<Case>,
    /// Ranked hotspots.
    pub hotspots: Vec<Hotspot>,
    snapshot: Snapshot,
}

/// Columns of `truyvet hotspots`.
pub static HOTSPOTS_SCHEMA: std::sync::LazyLock<SchemaRef> = std::sync::LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("rank", DataType::UInt32, false),
        Field::new(col::VENUE_ID, DataType::Utf8, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("category", DataType::Utf8, true),
        Field::new("district", DataType::Utf8, true),
        Field::new("cases", DataType::UInt32, false),
        Field::new("case_ids", DataType::Utf8, false),
        Field::new("first_stay", timestamp_type(), false),
        Field::new("last_stay", timestamp_type(), false),
        Field::new("exposed", DataType::UInt64, false),
    ]))
});

impl Snapshot {
    /// The hotspots of the registered cases (see the module docs).
    pub fn hotspots(&self, req: &HotspotRequest) -> Result<Hotspots> {
        req.rules.check()?;
        req.rules.check_followable("hotspots")?;
        if req.min_cases == 0 || req.within < 0 {
            return Err(Error::InvalidArgument {
                what: "hotspots",
                value: format!("min-cases {}, within {}s", req.min_cases, req.within),
                hint: "min-cases must be ≥ 1 and within ≥ 0".into(),
            });
        }
        let cases = self.cases()?;
        let keys = self.person_keys_of(cases)?;
        let registered: RoaringBitmap = keys.iter().flatten().copied().collect();
        // Rule 1: every case's clipped stays (no linger: presence, not exposure).
        let per_case: Vec<Vec<SourceStay>> = cases
            .par_iter()
            .zip(&keys)
            .enumerate()
            .map(|(i, (c, k))| {
                let Some(p) = *k else { return Ok(Vec::new()) };
                let (from, to) = req.lookback.map_or((c.window_from, c.window_to), |l| c.window(l));
                let mut r = req.rules.clone().linger(0).parallel(false);
                r.to = Some(req.rules.to.map_or(to, |t| t.min(to)));
                let from = req.rules.from.map_or(from, |f| f.max(from));
                let (mut stays, _) = exposure::source_stays(self, &[(p, from)], &r)?;
                for s in &mut stays {
                    s.source = i as u32;
                }
                Ok(stays)
            })
            .collect::<Result<_>>()?;
        let mut stays: Vec<SourceStay> = per_case.into_iter().flatten().collect();
        stays.sort_unstable();
        // Rules 2–3, per venue.
        let mut found: Vec<(VenueKey, Vec<SourceStay>)> = Vec::new();
        for at in stays.chunk_by(|a, b| a.venue == b.venue) {
            let mut marked = vec![false; at.len()];
            let mut members: Vec<u32> = Vec::new();
            for anchor in at {
                let t = anchor.end;
                let set = at.iter().enumerate().filter(|(_, s)| s.end >= t && s.start <= t.saturating_add(req.within));
                members.clear();
                members.extend(set.clone().map(|(_, s)| s.source));
                members.sort_unstable();
                members.dedup();
                if members.len() >= req.min_cases {
                    for (j, _) in set {
                        marked[j] = true;
                    }
                }
            }
            let kept: Vec<SourceStay> = at.iter().zip(&marked).filter(|(_, m)| **m).map(|(s, _)| *s).collect();
            if !kept.is_empty() {
                found.push((at[0].venue, kept));
            }
        }
        // Rule 4: one join over every hotspot's case stays, extended by linger.
        let mut u_stays: Vec<SourceStay> = found
            .iter()
            .flat_map(|(_, s)| s.iter().map(|s| SourceStay { end: s.end.saturating_add(req.rules.linger), ..*s }))
            .collect();
        u_stays.sort_unstable();
        let u = exposure::union(&u_stays);
        let (pieces, _) = exposure::pieces(self, &|p| registered.contains(p), &u, &[], &req.rules)?;
        let mut exposed: std::collections::HashMap<VenueKey, u64> = std::collections::HashMap::new();
        let mut ivs: Vec<(Seconds, Seconds)> = Vec::new();
        for run in pieces.chunk_by(|a, b| a.person == b.person && a.venue == b.venue) {
            ivs.clear();
            ivs.extend(run.iter().map(|p| (p.start, p.end)));
            super::interval::merge_sorted(&mut ivs);
            if ivs.iter().map(|(s, e)| e - s).sum::<Seconds>() >= req.rules.min_overlap.max(1) {
                *exposed.entry(run[0].venue).or_default() += 1;
            }
        }
        let mut hotspots = found
            .into_iter()
            .map(|(venue, kept)| {
                let mut cases: Vec<u32> = kept.iter().map(|s| s.source).collect();
                cases.sort_unstable();
                cases.dedup();
                Ok(Hotspot {
                    rank: 0,
                    venue,
                    venue_id: self.venue_id(venue)?.to_string(),
                    cases,
                    first_stay: kept.iter().map(|s| s.start).min().unwrap_or_default(),
                    last_stay: kept.iter().map(|s| s.end).max().unwrap_or_default(),
                    exposed: exposed.get(&venue).copied().unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        hotspots.sort_by(|a, b| {
            b.cases.len().cmp(&a.cases.len()).then(b.exposed.cmp(&a.exposed)).then_with(|| a.venue_id.cmp(&b.venue_id))
        });
        for (i, h) in hotspots.iter_mut().enumerate() {
            h.rank = i as u32 + 1;
        }
        Ok(Hotspots { cases: cases.to_vec(), hotspots, snapshot: self.clone() })
    }
}

impl Hotspots {
    /// As Arrow, columns as [`HOTSPOTS_SCHEMA`] (venue attributes from the venues file;
    /// `case_ids` joined by commas).
    pub fn to_record_batch(&self) -> Result<RecordBatch> {
        let h = &self.hotspots;
        let attrs = self.snapshot.venue_attrs()?;
        let attr = |f: fn(&crate::store::VenueInfo) -> Option<&str>| -> ArrayRef {
            Arc::new(h.iter().map(|x| attrs.get(&x.venue_id).and_then(f)).collect::<StringArray>())
        };
        let case_ids = h.iter().map(|x| {
            Some(x.cases.iter().map(|&i| self.cases[i as usize].case_id.as_str()).collect::<Vec<_>>().join(","))
        });
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from_iter_values(h.iter().map(|x| x.rank))),
            Arc::new(StringArray::from_iter_values(h.iter().map(|x| x.venue_id.as_str()))),
            attr(|v| v.name.as_deref()),
            attr(|v| v.category.as_deref()),
            attr(|v| v.district.as_deref()),
            Arc::new(UInt32Array::from_iter_values(h.iter().map(|x| x.cases.len() as u32))),
            Arc::new(case_ids.collect::<StringArray>()),
            ts(h.iter().map(|x| x.first_stay)),
            ts(h.iter().map(|x| x.last_stay)),
            Arc::new(UInt64Array::from_iter_values(h.iter().map(|x| x.exposed))),
        ];
        Ok(RecordBatch::try_new(HOTSPOTS_SCHEMA.clone(), columns).expect("columns match HOTSPOTS_SCHEMA"))
    }
}
