//! Who a chain reaches, hop by hop, without listing them: the counts of a day's call list.
//!
//! # Semantics
//! Exactly the persons [`Snapshot::chain_of`](super::chain) lists at each hop, for a chain
//! whose sources are every contact of the previous hop (no `max_per_hop` cap picks among them):
//! the same source stays and unions, the same stays of the other persons under the request's
//! rule, the same `min_overlap` on the union of each person's overlaps per venue.
//!
//! # Algorithm
//! Per hop:
//! 1. The sources' stays and their union per venue, as a chain builds them.
//! 2. As the join of a trace does ([`exposure::look_back_groups`]): each venue's intervals are
//!    cut into groups whose look-back ranges `[s − max_visit, e)` meet, and each group's rows
//!    are read once, in check-in order, per part; a row meets the intervals from the first that
//!    ends after its check-in, a pointer that only moves forward.
//! 3. Every overlap marks its person in a bitset over the person keys, and keeps the earliest
//!    overlap start when another hop follows. With `min_overlap` above one second, an overlap
//!    that alone reaches it decides the person; shorter ones are kept, and only the persons left
//!    undecided are merged per venue and summed, as the ranking would.
//!
//! No piece is sorted, no exposure interval is kept and no id is looked up.
//!
//! # Performance
//! A hop reads each row in its groups' look-back once, plus the sources' own rows. Memory: three
//! bitsets of one bit per person of the dictionary and, when a hop follows, an earliest start per
//! person (8 bytes; pages are touched only where a person is reached).

use roaring::RoaringBitmap;

use super::chain::ChainRequest;
use super::exposure;
use super::interval::{Interval, merge_sorted};
use super::request::TraceRequest;
use super::rules::Stays;
use crate::error::{Error, Result};
use crate::model::{PersonKey, Seconds, VenueKey};
use crate::store::Snapshot;

/// A set of person keys as one bit each.
#[derive(Debug, Clone, Default)]
pub(crate) struct Marks {
    words: Vec<u64>,
}

impl Marks {
    /// Room for keys `0..n`, none set.
    pub(crate) fn new(n: u32) -> Marks {
        Marks { words: vec![0; (n as usize).div_ceil(64)] }
    }

    /// Room for keys `0..n`, `keys` set.
    pub(crate) fn with(n: u32, keys: impl IntoIterator<Item = PersonKey>) -> Marks {
        let mut m = Marks::new(n);
        for p in keys {
            m.insert(p);
        }
        m
    }

    #[inline]
    fn contains(&self, p: PersonKey) -> bool {
        self.words[(p >> 6) as usize] & (1 << (p & 63)) != 0
    }

    /// Set `p`; whether it was set before.
    #[inline]
    fn insert(&mut self, p: PersonKey) -> bool {
        let w = &mut self.words[(p >> 6) as usize];
        let bit = 1 << (p & 63);
        let was = *w & bit != 0;
        *w |= bit;
        was
    }

    fn clear(&mut self) {
        self.words.fill(0);
    }

    fn union_with(&mut self, other: &Marks) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= b;
        }
    }

    /// The keys set, ascending.
    fn iter(&self) -> impl Iterator<Item = PersonKey> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let b = w.trailing_zeros();
                    w &= w - 1;
                    (i as u32) << 6 | b
                })
            })
        })
    }

    fn to_bitmap(&self) -> RoaringBitmap {
        let bytes: Vec<u8> = self.words.iter().flat_map(|w| w.to_le_bytes()).collect();
        RoaringBitmap::from_lsb0_bytes(0, &bytes)
    }
}

/// What one worker reuses from chain to chain.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// Never listed: the excluded persons, the F0, and the hops so far.
    listed: Marks,
    /// Overlapping a source's union this hop.
    seen: Marks,
    /// Reached this hop (with `min_overlap` ≤ 1 second, `seen` is used instead).
    reached: Marks,
    /// Earliest overlap start per person, valid where `seen` is set (allocated on first need).
    first: Vec<Seconds>,
    /// Overlaps shorter than `min_overlap`: `(person, venue, start, end)`.
    short: Vec<(PersonKey, VenueKey, Seconds, Seconds)>,
}

impl Snapshot {
    /// The persons each hop of `req` reaches from `f0` (listing no one in `excluded`), as
    /// [`Snapshot::chain_of`](super::chain) would list them; the last is empty when a hop
    /// reaches nobody and the chain stops there. `req.max_per_hop` must not cap a hop that
    /// sources another (the cap picks by rank, and nothing is ranked here).
    pub(crate) fn chain_reach(
        &self,
        req: &ChainRequest,
        f0: PersonKey,
        excluded: &Marks,
        scratch: &mut Scratch,
    ) -> Result<Vec<RoaringBitmap>> {
        req.check()?;
        if req.hops > 1 && req.max_per_hop.is_some() {
            return Err(Error::Internal("a capped chain is ranked, not counted".into()));
        }
        let persons = self.person_count();
        for m in [&mut scratch.listed, &mut scratch.seen, &mut scratch.reached] {
            if m.words.len() != excluded.words.len() {
                *m = Marks::new(persons);
            }
        }
        scratch.listed.words.copy_from_slice(&excluded.words);
        scratch.listed.insert(f0);
        let mut hop_req = req.trace.clone();
        hop_req.limit = None;
        let mut sources: Vec<(PersonKey, Seconds)> = vec![(f0, hop_req.from.unwrap_or(Seconds::MIN / 4))];
        let mut out = Vec::new();
        for hop in 1..=req.hops {
            let follows = hop < req.hops;
            if follows && scratch.first.len() != persons as usize {
                scratch.first = vec![0; persons as usize];
            }
            let (stays, _) = exposure::source_stays(self, &sources, &hop_req)?;
            let u = exposure::union(&stays);
            reach_hop(self, &u, &hop_req, scratch, follows)?;
            let reached = if hop_req.min_overlap > 1 { &scratch.reached } else { &scratch.seen };
            let bitmap = reached.to_bitmap();
            let empty = bitmap.is_empty();
            out.push(bitmap);
            if !follows || empty {
                break;
            }
            sources = reached.iter().map(|p| (p, scratch.first[p as usize].saturating_add(req.latency))).collect();
            scratch.listed.union_with(reached);
        }
        Ok(out)
    }
}

/// Steps 2–3 of the module docs for the union `u` (sorted by venue then start): marks the
/// persons reached in `scratch.seen` (and `scratch.reached` when `min_overlap` > 1), their
/// earliest overlap in `scratch.first` when `follows`.
fn reach_hop(
    snapshot: &Snapshot,
    u: &[(VenueKey, Interval)],
    req: &TraceRequest,
    scratch: &mut Scratch,
    follows: bool,
) -> Result<()> {
    let persons = snapshot.person_count();
    let stays = Stays::new(snapshot, req);
    let min = req.min_overlap.max(1);
    let Scratch { listed, seen, reached, first, short } = scratch;
    seen.clear();
    reached.clear();
    short.clear();
    let mut hit = |p: PersonKey, v: VenueKey, s: Seconds, e: Seconds| {
        if follows {
            let f = &mut first[p as usize];
            if !seen.insert(p) || s < *f {
                *f = s;
            }
        } else {
            seen.insert(p);
        }
        if min > 1 {
            if e - s >= min {
                reached.insert(p);
            } else {
                short.push((p, v, s, e));
            }
        }
    };
    for group in exposure::look_back_groups(u, req.max_visit) {
        let (v, n) = (group[0].0, group.len());
        let at = stays.at(v)?;
        req.check_deadline()?;
        let (gs, ge) = (group[0].1.0, group[n - 1].1.1);
        let lo = gs.saturating_sub(req.max_visit);
        for part in snapshot.parts_checked_in(lo, ge) {
            let idx = &part.index;
            let rows = idx.venue_rows_checked_in(v, lo, ge)?;
            let live = at.rows_reaching(idx, rows, gs)?;
            // The first interval ending after the current row's check-in: check-ins ascend.
            let mut j = 0;
            for range in live {
                let ahead = at.stays_ahead(idx, range.clone(), gs)?;
                for (k, r) in range.enumerate() {
                    let stay = match ahead.get(k) {
                        Some(&stay) => stay,
                        None => at.stay(idx, r)?,
                    };
                    // Never past the last interval: every row checks in before the group ends.
                    while j < n - 1 && group[j].1.1 <= stay.start {
                        j += 1;
                    }
                    if group[j].1.0 >= stay.end {
                        continue;
                    }
                    let p = idx.person(r);
                    if p >= persons {
                        return Err(Error::store(
                            snapshot.dir().join(&part.info.index),
                            format!(
                                "damaged trace index: row {r} names person key {p}, beyond the {persons} of the dictionary"
                            ),
                        ));
                    }
                    if listed.contains(p) {
                        continue;
                    }
                    for &(_, (s, e)) in group[j..].iter().take_while(|iv| iv.1.0 < stay.end) {
                        let (a, b) = (stay.start.max(s), stay.end.min(e));
                        if a < b {
                            hit(p, v, a, b);
                        }
                    }
                }
            }
        }
    }
    if min > 1 {
        // The undecided: every overlap of theirs is short; their union per venue decides.
        short.sort_unstable();
        let mut ivs: Vec<Interval> = Vec::new();
        for person_run in short.chunk_by(|a, b| a.0 == b.0) {
            let p = person_run[0].0;
            if reached.contains(p) {
                continue;
            }
            let mut total = 0;
            for venue_run in person_run.chunk_by(|a, b| a.1 == b.1) {
                ivs.clear();
                ivs.extend(venue_run.iter().map(|x| (x.2, x.3)));
                merge_sorted(&mut ivs);
                total += ivs.iter().map(|(s, e)| e - s).sum::<Seconds>();
            }
            if total >= min {
                reached.insert(p);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Marks;

    #[test]
    fn marks_iterate_and_convert_in_key_order() {
        let mut m = Marks::new(200);
        for p in [199, 0, 64, 63, 130] {
            assert!(!m.insert(p));
        }
        assert!(m.insert(64));
        assert_eq!(m.iter().collect::<Vec<_>>(), [0, 63, 64, 130, 199]);
        assert_eq!(m.to_bitmap().iter().collect::<Vec<_>>(), [0, 63, 64, 130, 199]);
        let mut other = Marks::new(200);
        other.insert(5);
        m.union_with(&other);
        assert!(m.contains(5) && !m.contains(6));
        m.clear();
        assert_eq!(m.iter().count(), 0);
    }
}
