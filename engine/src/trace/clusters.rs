//! Clusters: connected components of the registered cases, linked by exposure or co-location.
//!
//! # Semantics
//! Two cases A and B are linked when:
//! - `f1`: B would be A's F1 if cases were listed: B's stays meet A's (clipped to A's window,
//!   extended by linger) for at least `max(min_overlap, 1)` seconds, exactly as `trace` measures
//!   an F1;
//! - `f2`: otherwise, B would be A's F2 if cases were listed: B is not A's F1, and B's exposure
//!   to the stays of A's F1s (every F1, cases included; each from its first contact plus
//!   latency to the end of A's window, extended by linger) reaches the same threshold, as
//!   `trace --hops 2` measures it; `via` is the F1 who contributed most;
//! - `colocated`: A and B stayed at one venue, both stays clipped to the intersection of their
//!   windows, within `within` of each other (`max(start) − min(end) ≤ within`).
//!
//! A cluster is a connected component of these links; clusters are numbered from 1 by size
//! (desc), then earliest link. Its venues and time span are those of its links.
//!
//! # Algorithm
//! Hop 1 of every case (parallel), as (F1, first contact, top venue) without ranking: the `f1`
//! links, and per person the cases it is an F1 of (a CSR over the person keys). Then per case
//! B, the rows at B's venues during B's stays: a row whose stay ended before B's began is
//! skipped unlooked; each row of an F1 X of some case A contributes X's clipped, extended stay;
//! per (A, B) the contributions are unioned per venue (`f2`). Co-location compares the cases'
//! clipped stays per venue.
//! Cost: one hop-1 join per case plus a venue lookup per case stay; memory: 4 bytes per person
//! of the store plus the F1 lists.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;

use super::exposure::{self, F1First, F1Of, SourceStay};
use super::interval::merge_sorted;
use super::request::TraceRequest;
use super::ts;
use crate::error::{Error, Result};
use crate::model::{Case, PersonKey, Seconds, VenueKey, timestamp_type};
use crate::store::Snapshot;

/// What `clusters` links by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRequest {
    /// Exposure rules (dwell, max-visit, linger, min-overlap); F0 and window are the cases'.
    pub rules: TraceRequest,
    /// Delay after an F1's first exposure before it passes it on (`f2` links).
    pub latency: Seconds,
    /// Longest time between two cases' stays at one venue (`colocated` links).
    pub within: Seconds,
    /// Re-derive the cases' windows with this lookback.
    pub lookback: Option<Seconds>,
}

impl Default for ClusterRequest {
    fn default() -> Self {
        ClusterRequest { rules: TraceRequest::default(), latency: 0, within: 3 * 86_400, lookback: None }
    }
}

/// Why two cases are linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LinkKind {
    /// `to` would be `from`'s F1.
    F1,
    /// `to` would be `from`'s F2.
    F2,
    /// Both stayed at one venue inside both windows, close in time.
    Colocated,
}

impl LinkKind {
    /// `f1`, `f2` or `colocated`.
    pub fn name(self) -> &'static str {
        match self {
            LinkKind::F1 => "f1",
            LinkKind::F2 => "f2",
            LinkKind::Colocated => "colocated",
        }
    }
}

/// One link between two cases (indices into [`Clusters::cases`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The source case (for `colocated`, the lower index).
    pub from: u32,
    /// The exposed case.
    pub to: u32,
    /// Why.
    pub kind: LinkKind,
    /// Where most of it happened.
    pub venue: VenueKey,
    /// When it started.
    pub at: Seconds,
    /// For `f2`: the F1 in between.
    pub via: Option<PersonKey>,
}

/// One cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// 1-based id.
    pub id: u32,
    /// Its cases, ascending.
    pub cases: Vec<u32>,
    /// Its links (indices into [`Clusters::links`]).
    pub links: Vec<usize>,
}

/// The answer to [`Snapshot::clusters`].
#[derive(Debug, Clone)]
pub struct Clusters {
    /// The register's cases.
    pub cases: Vec<Case>,
    /// Every link, by from, to, kind.
    pub links: Vec<Link>,
    /// Every cluster of two or more cases, and every case alone as a cluster of one.
    pub clusters: Vec<Cluster>,
    snapshot: Snapshot,
}

/// Columns of `truyvet clusters`.
pub static CLUSTERS_SCHEMA: std::sync::LazyLock<SchemaRef> = std::sync::LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("cluster", DataType::UInt32, false),
        Field::new("cases", DataType::UInt32, false),
        Field::new("case_ids", DataType::Utf8, false),
        Field::new("venues", DataType::Utf8, false),
        Field::new("first_link", timestamp_type(), true),
        Field::new("last_link", timestamp_type(), true),
        Field::new("links", DataType::UInt32, false),
    ]))
});

/// Columns of `truyvet clusters --links`.
pub static LINKS_SCHEMA: std::sync::LazyLock<SchemaRef> = std::sync::LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("cluster", DataType::UInt32, false),
        Field::new("from_case", DataType::Utf8, false),
        Field::new("to_case", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("venue_id", DataType::Utf8, false),
        Field::new("at", timestamp_type(), false),
        Field::new("via_person_id", DataType::Utf8, true),
    ]))
});

impl Snapshot {
    /// The clusters of the registered cases (see the module docs).
    pub fn clusters(&self, req: &ClusterRequest) -> Result<Clusters> {
        req.rules.check()?;
        req.rules.check_followable("clusters")?;
        if req.latency < 0 || req.within < 0 {
            return Err(Error::InvalidArgument {
                what: "clusters",
                value: format!("latency {}s, within {}s", req.latency, req.within),
                hint: "both must be ≥ 0".into(),
            });
        }
        let cases = self.cases()?;
        let keys = self.person_keys_of(cases)?;
        let windows: Vec<(Seconds, Seconds)> =
            cases.iter().map(|c| req.lookback.map_or((c.window_from, c.window_to), |l| c.window(l))).collect();
        let case_of: HashMap<PersonKey, Vec<u32>> = keys.iter().enumerate().fold(HashMap::new(), |mut m, (i, k)| {
            if let Some(k) = k {
                m.entry(*k).or_default().push(i as u32);
            }
            m
        });
        let mut links: Vec<Link> = Vec::new();
        // F1 of every case, cases listed.
        let f1s: Vec<Vec<F1First>> = keys
            .par_iter()
            .zip(&windows)
            .map(|(k, &(from, to))| {
                let Some(k) = *k else { return Ok(Vec::new()) };
                exposure::f1_firsts(
                    self,
                    k,
                    &|_| false,
                    &req.rules.clone().window(Some(from), Some(to)).parallel(false),
                )
            })
            .collect::<Result<_>>()?;
        for (a, list) in f1s.iter().enumerate() {
            for f in list {
                for &b in case_of.get(&f.person).into_iter().flatten() {
                    if b != a as u32 {
                        links.push(Link {
                            from: a as u32,
                            to: b,
                            kind: LinkKind::F1,
                            venue: f.top_venue,
                            at: f.first_contact,
                            via: None,
                        });
                    }
                }
            }
        }
        let f1_of = F1Of::new(self.person_count() as usize, &f1s);
        drop(f1s);
        // For each case B, the cases A it is an F1 of (those pairs get no f2 link).
        let mut f1_into: Vec<Vec<u32>> = vec![Vec::new(); cases.len()];
        for l in &links {
            f1_into[l.to as usize].push(l.from);
        }
        // F2: per case B, rows at B's venues during its stays.
        let rules = &req.rules;
        let lo = windows.iter().map(|w| w.0).min().unwrap_or(0).saturating_sub(rules.max_visit);
        let hi =
            windows.iter().map(|w| w.1).max().unwrap_or(0).saturating_add(rules.linger).saturating_add(rules.max_visit);
        let all_stays: Vec<Vec<SourceStay>> = keys
            .par_iter()
            .map(|k| {
                let Some(k) = *k else { return Ok(Vec::new()) };
                let r = rules.clone().linger(0).window(Some(lo), Some(hi)).parallel(false);
                Ok(exposure::source_stays(self, &[(k, lo)], &r)?.0)
            })
            .collect::<Result<_>>()?;
        let f2: Vec<Vec<Link>> = all_stays
            .par_iter()
            .enumerate()
            .map(|(b, stays)| self.f2_links(b as u32, stays, &keys, &windows, &f1_of, &f1_into[b], req))
            .collect::<Result<_>>()?;
        links.extend(f2.into_iter().flatten());
        // Co-location.
        let mut clipped: Vec<(VenueKey, Seconds, Seconds, u32)> = Vec::new();
        for (i, stays) in all_stays.iter().enumerate() {
            let (f, t) = windows[i];
            clipped
                .extend(stays.iter().filter(|s| s.start < t && s.end > f).map(|s| (s.venue, s.start, s.end, i as u32)));
        }
        clipped.sort_unstable();
        for at in clipped.chunk_by(|x, y| x.0 == y.0) {
            let mut best: HashMap<(u32, u32), Seconds> = HashMap::new();
            for x in at {
                for y in at.iter().filter(|y| y.3 > x.3) {
                    let (f, t) = (
                        windows[x.3 as usize].0.max(windows[y.3 as usize].0),
                        windows[x.3 as usize].1.min(windows[y.3 as usize].1),
                    );
                    let (xs, xe) = (x.1.max(f), x.2.min(t));
                    let (ys, ye) = (y.1.max(f), y.2.min(t));
                    if xs < xe && ys < ye && xs.max(ys) - xe.min(ye) <= req.within {
                        let when = xs.min(ys);
                        best.entry((x.3, y.3)).and_modify(|w| *w = (*w).min(when)).or_insert(when);
                    }
                }
            }
            links.extend(best.into_iter().map(|((a, b), when)| Link {
                from: a,
                to: b,
                kind: LinkKind::Colocated,
                venue: at[0].0,
                at: when,
                via: None,
            }));
        }
        // One colocated link per pair: the earliest.
        links.sort_by_key(|l| (l.from, l.to, l.kind, l.at, l.venue));
        links.dedup_by(|x, y| (x.from, x.to, x.kind) == (y.from, y.to, y.kind));
        let clusters = components(cases.len(), &links);
        Ok(Clusters { cases: cases.to_vec(), links, clusters, snapshot: self.clone() })
    }

    /// `f2` links into case `b`, from the rows at its venues during its `stays`.
    #[allow(clippy::too_many_arguments)]
    fn f2_links(
        &self,
        b: u32,
        stays: &[SourceStay],
        keys: &[Option<PersonKey>],
        windows: &[(Seconds, Seconds)],
        f1_of: &F1Of,
        f1_of_b: &[u32],
        req: &ClusterRequest,
    ) -> Result<Vec<Link>> {
        let r = &req.rules;
        let me = keys[b as usize];
        // Sources whose rows cannot make an f2 link into b: b itself, and the cases b is an F1 of.
        let mut skip = vec![false; keys.len()];
        skip[b as usize] = true;
        for &a in f1_of_b {
            skip[a as usize] = true;
        }
        // (a, venue, start, end, via)
        let ends: Vec<Seconds> = windows.iter().map(|w| w.1).collect();
        let mut got = exposure::f1_contributions(self, stays, me, f1_of, &ends, req.latency, r, |a| skip[a as usize])?;
        got.sort_unstable();
        let mut out = Vec::new();
        let mut ivs: Vec<(Seconds, Seconds)> = Vec::new();
        for by_a in got.chunk_by(|x, y| x.0 == y.0) {
            let (mut total, mut at, mut top) = (0, Seconds::MAX, (0, 0));
            for by_v in by_a.chunk_by(|x, y| x.1 == y.1) {
                ivs.clear();
                ivs.extend(by_v.iter().map(|x| (x.2, x.3)));
                ivs.sort_unstable();
                merge_sorted(&mut ivs);
                let here: Seconds = ivs.iter().map(|(s, e)| e - s).sum();
                total += here;
                at = at.min(ivs[0].0);
                if here > top.0 {
                    top = (here, by_v[0].1);
                }
            }
            if total < r.min_overlap.max(1) {
                continue;
            }
            let mut per_via: HashMap<PersonKey, Seconds> = HashMap::new();
            for x in by_a {
                *per_via.entry(x.4).or_default() += x.3 - x.2;
            }
            let via = per_via.into_iter().max_by_key(|&(p, s)| (s, std::cmp::Reverse(p))).map(|(p, _)| p);
            out.push(Link { from: by_a[0].0, to: b, kind: LinkKind::F2, venue: top.1, at, via });
        }
        Ok(out)
    }
}

/// Connected components by union-find; numbered by size (desc), then earliest link, then
/// lowest case.
fn components(n: usize, links: &[Link]) -> Vec<Cluster> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for l in links {
        let (a, b) = (root(&mut parent, l.from as usize), root(&mut parent, l.to as usize));
        if a != b {
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut by_root: HashMap<usize, Cluster> = HashMap::new();
    for i in 0..n {
        let r = root(&mut parent, i);
        by_root
            .entry(r)
            .or_insert_with(|| Cluster { id: 0, cases: Vec::new(), links: Vec::new() })
            .cases
            .push(i as u32);
    }
    for (k, l) in links.iter().enumerate() {
        let r = root(&mut parent, l.from as usize);
        by_root.get_mut(&r).expect("every case has a root").links.push(k);
    }
    let mut clusters: Vec<Cluster> = by_root.into_values().collect();
    let first = |c: &Cluster| c.links.iter().map(|&k| links[k].at).min().unwrap_or(Seconds::MAX);
    clusters.sort_by(|a, b| {
        b.cases.len().cmp(&a.cases.len()).then(first(a).cmp(&first(b))).then(a.cases[0].cmp(&b.cases[0]))
    });
    for (i, c) in clusters.iter_mut().enumerate() {
        c.id = i as u32 + 1;
    }
    clusters
}

impl Clusters {
    /// The clusters of at least `min_size` cases as Arrow, columns as [`CLUSTERS_SCHEMA`].
    pub fn to_record_batch(&self, min_size: usize) -> Result<RecordBatch> {
        let shown: Vec<&Cluster> = self.clusters.iter().filter(|c| c.cases.len() >= min_size).collect();
        let ids = |c: &Cluster| {
            c.cases.iter().map(|&i| self.cases[i as usize].case_id.as_str()).collect::<Vec<_>>().join(",")
        };
        let venues = shown
            .iter()
            .map(|c| {
                let mut v: Vec<&str> =
                    c.links.iter().map(|&k| self.snapshot.venue_id(self.links[k].venue)).collect::<Result<_>>()?;
                v.sort_unstable();
                v.dedup();
                Ok(Some(v.join(",")))
            })
            .collect::<Result<Vec<_>>>()?;
        let span = |f: fn(&[Seconds]) -> Option<Seconds>| -> ArrayRef {
            Arc::new(
                shown
                    .iter()
                    .map(|c| f(&c.links.iter().map(|&k| self.links[k].at).collect::<Vec<_>>()))
                    .collect::<arrow::array::TimestampSecondArray>()
                    .with_timezone("UTC"),
            )
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from_iter_values(shown.iter().map(|c| c.id))),
            Arc::new(UInt32Array::from_iter_values(shown.iter().map(|c| c.cases.len() as u32))),
            Arc::new(shown.iter().map(|c| Some(ids(c))).collect::<StringArray>()),
            Arc::new(StringArray::from(venues)),
            span(|v| v.iter().copied().min()),
            span(|v| v.iter().copied().max()),
            Arc::new(UInt32Array::from_iter_values(shown.iter().map(|c| c.links.len() as u32))),
        ];
        Ok(RecordBatch::try_new(CLUSTERS_SCHEMA.clone(), columns).expect("columns match CLUSTERS_SCHEMA"))
    }

    /// Every link as Arrow, by cluster, columns as [`LINKS_SCHEMA`].
    pub fn links_record_batch(&self) -> Result<RecordBatch> {
        let rows: Vec<(u32, &Link)> =
            self.clusters.iter().flat_map(|c| c.links.iter().map(move |&k| (c.id, &self.links[k]))).collect();
        let case = |i: u32| self.cases[i as usize].case_id.as_str();
        let venue_ids: Vec<&str> = rows.iter().map(|(_, l)| self.snapshot.venue_id(l.venue)).collect::<Result<_>>()?;
        let via: Vec<Option<&str>> =
            rows.iter().map(|(_, l)| l.via.map(|p| self.snapshot.person_id(p)).transpose()).collect::<Result<_>>()?;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(rows.iter().map(|(_, l)| Some(case(l.from))).collect::<StringArray>()),
            Arc::new(rows.iter().map(|(_, l)| Some(case(l.to))).collect::<StringArray>()),
            Arc::new(rows.iter().map(|(_, l)| Some(l.kind.name())).collect::<StringArray>()),
            Arc::new(StringArray::from(venue_ids)),
            ts(rows.iter().map(|(_, l)| l.at)),
            Arc::new(StringArray::from(via)),
        ];
        Ok(RecordBatch::try_new(LINKS_SCHEMA.clone(), columns).expect("columns match LINKS_SCHEMA"))
    }
}
