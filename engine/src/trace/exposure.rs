//! The interval join: F0's stays → the union U0(v) per venue → pieces of other persons' stays
//! that overlap it, found through the trace indexes.
//!
//! # Algorithm
//! 1. Visits of the F0: for each part whose day can hold a stay reaching the window, the F0's
//!    rows from the person postings (key slot → CSR).
//! 2. Clip each stay to the window, keep it if non-empty, extend its end by `linger`; union per
//!    venue into U0(v) (maximal disjoint intervals).
//! 3. For each interval `[s, e)` of U0(v): the rows at `v` checked in within
//!    `[s − max_visit, e)` are exactly those whose capped stay can reach `[s, e)`; each overlap
//!    with another person is a *piece* `(person, venue, start, end)`. The intervals of a venue
//!    whose look-back ranges meet are read as one group ([`look_back_groups`]): per part with a
//!    check-in in the group's range (its manifest span), the venue's rows there (venue postings
//!    and a search on check-in), once, each meeting the intervals from the first that ends
//!    after its check-in. Of the look-back, only the rows whose stays may last past the
//!    group's first start are read: those checked in since the rule's longest imputed stay
//!    before it, and earlier blocks of rows with a later check-out
//!    (`VenueStays::rows_reaching`).
//!
//! Tasks of step 3 run in parallel (rayon) when asked; pieces are sorted afterwards, so the
//! result does not depend on the thread count.
//!
//! # Performance
//! O(F0's rows + rows at the F0's venues present during its stays or checked in within the
//! imputed stay before them + one 4-byte entry per 64 earlier rows within `max_visit`), plus a
//! key-set lookup (a cache line or two of the mapped index) per part touched; independent of
//! the store's size. Under `next-checkin`, and on indexes before format 4, every row within
//! `max_visit` before.

use rayon::prelude::*;

use super::interval::{Interval, merge_sorted};
use super::request::TraceRequest;
use super::rules::{ExposureRule, Stays, cwa};
use crate::error::{Error, Result};
use crate::model::{PersonKey, Seconds, VenueKey};
use crate::radix;
use crate::store::{Part, Snapshot};
use crate::time::DAY;

/// Part of another person's stay that overlaps U0(v).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Piece {
    pub person: PersonKey,
    pub venue: VenueKey,
    pub start: Seconds,
    pub end: Seconds,
    /// Whether `[start, end)` also lies in a measured stay of this person and in the measured
    /// part of U0(v) (both ends check-outs). A measured piece may repeat part of an unmeasured
    /// one: unions are unchanged by it.
    pub measured: bool,
}

/// Days whose check-ins can produce a stay reaching `[from, to)`.
pub(crate) fn day_range(req: &TraceRequest, from: Seconds, to: Seconds) -> (i64, i64) {
    (from.saturating_sub(req.max_visit).div_euclid(DAY), (to.saturating_sub(1)).div_euclid(DAY))
}

/// One source's stay, clipped and extended by linger: an interval of a union before merging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SourceStay {
    pub venue: VenueKey,
    pub start: Seconds,
    pub end: Seconds,
    /// Index of the source in the list given to [`source_stays`].
    pub source: u32,
    /// Whether the stay's end is the source's check-out (not imputed).
    pub measured: bool,
}

/// Intervals per venue, sorted by venue then start.
pub(crate) type VenueIntervals = Vec<(VenueKey, Interval)>;

/// U0 per venue, and its measured part (the union of the F0's stays with measured ends).
pub(crate) struct Reach {
    /// `(venue, [s, e))`, sorted by venue then start, disjoint per venue.
    pub u0: VenueIntervals,
    /// The same of the measured stays only (a subset of `u0`).
    pub measured: VenueIntervals,
    /// F0 check-ins looked at.
    pub visits: usize,
}

/// Steps 1–2 for one F0.
pub(crate) fn f0_union(snapshot: &Snapshot, f0: PersonKey, req: &TraceRequest) -> Result<Reach> {
    let from = req.from.unwrap_or(Seconds::MIN / 4);
    let (stays, visits) = source_stays(snapshot, &[(f0, from)], req)?;
    let (u0, measured) = unions(&stays);
    Ok(Reach { u0, measured, visits })
}

/// The union per venue of `stays` (sorted by venue then start), and of their measured ones.
pub(crate) fn unions(stays: &[SourceStay]) -> (VenueIntervals, VenueIntervals) {
    let measured: Vec<SourceStay> = stays.iter().filter(|s| s.measured).copied().collect();
    (union(stays), union(&measured))
}

/// Steps 1–2 for any sources (the F0 at hop 1, a hop's contacts after it): each source
/// `(person, from)`'s stays clipped to `[from, to)` and extended by linger, sorted by venue then
/// start; and the source visits looked at.
///
/// Part by part, each part asked for every source whose window it meets: a hop's sources come
/// in key order, so one part's key set and postings are read in ascending order while they are
/// in cache, rather than every part once per source.
pub(crate) fn source_stays(
    snapshot: &Snapshot,
    sources: &[(PersonKey, Seconds)],
    req: &TraceRequest,
) -> Result<(Vec<SourceStay>, usize)> {
    let to = req.to.unwrap_or(Seconds::MAX / 4);
    let stays = Stays::new(snapshot, req);
    let Some(earliest) = sources.iter().map(|s| s.1).filter(|&f| f < to).min() else {
        return Ok((Vec::new(), 0));
    };
    let one = |part: &Part| -> Result<(Vec<SourceStay>, usize)> {
        req.check_deadline()?;
        let idx = &part.index;
        let mut out = Vec::new();
        let mut visits = 0;
        for (i, &(person, from)) in sources.iter().enumerate() {
            // The part holds no check-in in [from − max_visit, to): none of its stays reach.
            if from >= to || part.info.max_check_in < from.saturating_sub(req.max_visit) {
                continue;
            }
            for r in idx.person_rows(person)? {
                visits += 1;
                let venue = idx.venue(r)?;
                let stay = stays.at(venue)?.stay(idx, r)?;
                let after = match req.rule {
                    ExposureRule::Cwa => match cwa::f0_extension(stay.end - stay.start) {
                        Some(x) => x,
                        None => continue,
                    },
                    _ => req.linger,
                };
                let (s, e) = (stay.start.max(from), stay.end.min(to));
                if s < e {
                    out.push(SourceStay {
                        venue,
                        start: s,
                        end: e.saturating_add(after),
                        source: i as u32,
                        measured: !stay.imputed,
                    });
                }
            }
        }
        Ok((out, visits))
    };
    let parts: Vec<&Part> = snapshot.parts_checked_in(earliest.saturating_sub(req.max_visit), to).collect();
    let per: Vec<(Vec<SourceStay>, usize)> = if req.parallel && parts.len() > 1 && sources.len() > 1 {
        parts.par_iter().map(|p| one(p)).collect::<Result<_>>()?
    } else {
        parts.iter().map(|p| one(p)).collect::<Result<_>>()?
    };
    let visits = per.iter().map(|p| p.1).sum();
    let mut stays: Vec<SourceStay> = per.into_iter().flat_map(|p| p.0).collect();
    stays.sort_unstable();
    Ok((stays, visits))
}

/// The union per venue of stays sorted by venue then start: `(venue, [s, e))`, disjoint per
/// venue.
pub(crate) fn union(stays: &[SourceStay]) -> Vec<(VenueKey, Interval)> {
    let mut out = Vec::with_capacity(stays.len());
    let mut ivs: Vec<Interval> = Vec::new();
    for group in stays.chunk_by(|a, b| a.venue == b.venue) {
        ivs.clear();
        ivs.extend(group.iter().map(|s| (s.start, s.end)));
        merge_sorted(&mut ivs);
        out.extend(ivs.iter().map(|&iv| (group[0].venue, iv)));
    }
    out
}

/// Step 3: the pieces of every person but those `skip` names, and the number of candidate rows
/// examined. `measured` is the measured part of `u0` (empty when no one asks for imputed
/// seconds): pieces of measured stays within it are marked measured.
pub(crate) fn pieces(
    snapshot: &Snapshot,
    skip: &(impl Fn(PersonKey) -> bool + Sync),
    u0: &[(VenueKey, Interval)],
    measured: &[(VenueKey, Interval)],
    req: &TraceRequest,
) -> Result<(Vec<Piece>, u64)> {
    pieces_in(snapshot, skip, u0, measured, req, &|_| true)
}

/// [`pieces`] from the parts `keep` accepts only: the pieces of all parts are the union of
/// those of any split of the parts (a cluster computes them part group by part group).
pub(crate) fn pieces_in(
    snapshot: &Snapshot,
    skip: &(impl Fn(PersonKey) -> bool + Sync),
    u0: &[(VenueKey, Interval)],
    measured: &[(VenueKey, Interval)],
    req: &TraceRequest,
    keep: &(dyn Fn(&Part) -> bool + Sync),
) -> Result<(Vec<Piece>, u64)> {
    let persons = snapshot.person_count();
    let stays = Stays::new(snapshot, req);
    let tasks: Vec<(&[(VenueKey, Interval)], &Part)> = look_back_groups(u0, req.max_visit)
        .flat_map(|group| {
            let (lo, hi) = (group[0].1.0.saturating_sub(req.max_visit), group[group.len() - 1].1.1);
            snapshot.parts_checked_in(lo, hi).filter(|p| keep(p)).map(move |p| (group, p))
        })
        .collect();
    let run = |&(group, part): &(&[(VenueKey, Interval)], &Part)| -> Result<(Vec<Piece>, u64)> {
        req.check_deadline()?;
        let (v, n, idx) = (group[0].0, group.len(), &part.index);
        let rows = idx.venue_rows_checked_in(v, group[0].1.0.saturating_sub(req.max_visit), group[n - 1].1.1)?;
        let at = stays.at(v)?;
        let live = at.rows_reaching(idx, rows, group[0].1.0)?;
        let examined = live.iter().map(|r| r.len() as u64).sum();
        let known: Vec<Vec<Interval>> = group.iter().map(|&(_, (s, e))| within(measured, v, s, e)).collect();
        let mut out = Vec::new();
        // The first interval ending after the current row's check-in: check-ins ascend.
        let mut j = 0;
        for range in live {
            let ahead = at.stays_ahead(idx, range.clone(), group[0].1.0)?;
            for (k, r) in range.enumerate() {
                let p = idx.person(r);
                if skip(p) {
                    continue;
                }
                if p >= persons {
                    return Err(Error::store(
                        snapshot.dir().join(&part.info.index),
                        format!(
                            "damaged trace index: row {r} names person key {p}, beyond the {persons} of the dictionary"
                        ),
                    ));
                }
                let stay = match ahead.get(k) {
                    Some(&stay) => stay,
                    None => at.stay(idx, r)?,
                };
                while j < n && group[j].1.1 <= stay.start {
                    j += 1;
                }
                for (i, &(_, (s, e))) in group.iter().enumerate().skip(j).take_while(|(_, iv)| iv.1.0 < stay.end) {
                    let (ps, pe) = (stay.start.max(s), stay.end.min(e));
                    if ps >= pe {
                        continue;
                    }
                    // Measured as a whole when one measured interval of U0 holds it; otherwise
                    // its measured parts follow as pieces of their own.
                    let whole = !stay.imputed && known[i].iter().any(|&(ks, ke)| ks <= ps && pe <= ke);
                    out.push(Piece { person: p, venue: v, start: ps, end: pe, measured: whole });
                    if !stay.imputed && !whole {
                        for &(ks, ke) in &known[i] {
                            let (ms, me) = (ks.max(ps), ke.min(pe));
                            if ms < me {
                                out.push(Piece { person: p, venue: v, start: ms, end: me, measured: true });
                            }
                        }
                    }
                }
            }
        }
        Ok((out, examined))
    };
    let results: Vec<(Vec<Piece>, u64)> = if req.parallel && tasks.len() > 1 {
        tasks.par_iter().map(run).collect::<Result<_>>()?
    } else {
        tasks.iter().map(run).collect::<Result<_>>()?
    };
    let examined = results.iter().map(|r| r.1).sum();
    let mut all: Vec<Piece> = Vec::with_capacity(results.iter().map(|r| r.0.len()).sum());
    for (p, _) in results {
        all.extend(p);
    }
    if req.parallel && all.len() > 1 << 16 {
        all.par_sort_unstable();
    } else {
        sort_pieces(&mut all);
    }
    Ok((all, examined))
}

/// Sort pieces as `Ord` does. A comparison sort of a trace's thousands of pieces was a tenth of
/// its time; persons are few per piece (one to three pieces each), so the pieces are first
/// spread by person key (a radix sort), then each person's run, already nearly in order, is
/// sorted on its own.
pub(crate) fn sort_pieces(all: &mut [Piece]) {
    const SMALL: usize = 512;
    if all.len() < SMALL {
        all.sort_unstable();
        return;
    }
    let max = all.iter().map(|p| p.person).max().unwrap_or(0);
    radix::sort_by_key(all, radix::bits_for(max.into()), |p| p.person.into());
    for run in all.chunk_by_mut(|a, b| a.person == b.person) {
        if run.len() > 1 {
            run.sort_unstable();
        }
    }
}

/// `u` (sorted by venue then start, disjoint per venue) cut into groups of one venue whose
/// look-back ranges `[s − max_visit, e)` meet: a group's rows are read once, in check-in order,
/// where reading them per interval would read a busy venue's look-back once per interval.
pub(crate) fn look_back_groups(
    u: &[(VenueKey, Interval)],
    max_visit: Seconds,
) -> impl Iterator<Item = &[(VenueKey, Interval)]> + '_ {
    let mut rest = u;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = 1 + rest
            .windows(2)
            .take_while(|w| w[1].0 == w[0].0 && w[1].1.0.saturating_sub(max_visit) <= w[0].1.1)
            .count();
        let (group, next) = rest.split_at(n);
        rest = next;
        Some(group)
    })
}

/// The intervals of `measured` (sorted by venue then start) at venue `v` that meet `[s, e)`.
fn within(measured: &[(VenueKey, Interval)], v: VenueKey, s: Seconds, e: Seconds) -> Vec<Interval> {
    let lo = measured.partition_point(|&(mv, (_, me))| (mv, me) <= (v, s));
    measured[lo..].iter().take_while(|&&(mv, (ms, _))| mv == v && ms < e).map(|&(_, iv)| iv).collect()
}

/// One F1 of a case, as the register-wide passes need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct F1First {
    pub person: PersonKey,
    /// Start of its earliest exposure.
    pub first_contact: Seconds,
    /// The venue of its largest exposure (ties: lowest venue key), as
    /// [`TraceResult::venues_of`](super::TraceResult::venues_of) orders them.
    pub top_venue: VenueKey,
}

/// Hop 1 of `f0` under `req` (its window), persons `skip` names left out: every F1 with its
/// first contact and top venue, by person key. The same contacts as a trace, without ranking
/// or looking up ids.
pub(crate) fn f1_firsts(
    snapshot: &Snapshot,
    f0: PersonKey,
    skip: &(impl Fn(PersonKey) -> bool + Sync),
    req: &TraceRequest,
) -> Result<Vec<F1First>> {
    let reach = f0_union(snapshot, f0, req)?;
    let (pieces, _) = pieces(snapshot, &|p| p == f0 || skip(p), &reach.u0, &[], req)?;
    let mut out = Vec::new();
    let mut ivs: Vec<Interval> = Vec::new();
    for person_run in pieces.chunk_by(|a, b| a.person == b.person) {
        let (mut total, mut first, mut top) = (0, Seconds::MAX, (0, 0));
        for venue_run in person_run.chunk_by(|a, b| a.venue == b.venue) {
            ivs.clear();
            ivs.extend(venue_run.iter().map(|p| (p.start, p.end)));
            merge_sorted(&mut ivs);
            let here: Seconds = ivs.iter().map(|(s, e)| e - s).sum();
            total += here;
            first = first.min(ivs[0].0);
            // Venue runs ascend, so a strict comparison keeps the lowest key on ties.
            if here > top.0 {
                top = (here, venue_run[0].venue);
            }
        }
        if total >= req.min_overlap.max(1) {
            out.push(F1First { person: person_run[0].person, first_contact: first, top_venue: top.1 });
        }
    }
    Ok(out)
}

/// Person → the cases it is an F1 of, each with its first contact: a CSR over the person keys,
/// so the second-hop read-back looks a row's person up by two array reads, not a hash.
#[derive(Debug, Clone, Default)]
pub(crate) struct F1Of {
    offsets: Vec<u32>,
    entries: Vec<(u32, Seconds)>,
}

impl F1Of {
    /// From each case's F1s (`lists[case]`); a person's entries ascend by case. Memory: 4 bytes
    /// per person of the dictionary plus 16 per (F1, case).
    pub(crate) fn new(persons: usize, lists: &[Vec<F1First>]) -> F1Of {
        let mut offsets = vec![0u32; persons + 1];
        for f in lists.iter().flatten() {
            offsets[f.person as usize + 1] += 1;
        }
        for i in 1..offsets.len() {
            offsets[i] += offsets[i - 1];
        }
        let mut fill: Vec<u32> = offsets[..persons].to_vec();
        let mut entries = vec![(0, 0); lists.iter().map(Vec::len).sum()];
        for (case, list) in lists.iter().enumerate() {
            for f in list {
                let at = &mut fill[f.person as usize];
                entries[*at as usize] = (case as u32, f.first_contact);
                *at += 1;
            }
        }
        F1Of { offsets, entries }
    }

    /// The cases `person` is an F1 of, with its first contact, ascending by case (empty for a
    /// key beyond the dictionary).
    fn get(&self, person: PersonKey) -> &[(u32, Seconds)] {
        match self.offsets.get(person as usize..person as usize + 2) {
            Some(&[lo, hi]) => &self.entries[lo as usize..hi as usize],
            _ => &[],
        }
    }
}

/// One F1's contribution to a person's second-hop exposure: `(case, venue, start, end, F1)`.
pub(crate) type Contribution = (u32, VenueKey, Seconds, Seconds, PersonKey);

/// Second-hop exposure of one person, read backwards from its own `stays` (unclipped, no
/// linger): every row at their venues during them whose person X (not `me`) is an F1 of some
/// case (`f1_of`) contributes X's stay clipped to `[first contact + latency, the case's window
/// end)`, extended by linger, met with the stay. Returns `(case, venue, start, end, X)` for
/// every case `skip` lets through, unsorted.
#[allow(clippy::too_many_arguments)]
pub(crate) fn f1_contributions(
    snapshot: &Snapshot,
    stays: &[SourceStay],
    me: Option<PersonKey>,
    f1_of: &F1Of,
    window_ends: &[Seconds],
    latency: Seconds,
    req: &TraceRequest,
    skip: impl Fn(u32) -> bool,
) -> Result<Vec<Contribution>> {
    let mut out = Vec::new();
    let rules = Stays::new(snapshot, req);
    for s in stays {
        let at = rules.at(s.venue)?;
        let lo = s.start.saturating_sub(req.max_visit + req.linger);
        for part in snapshot.parts_checked_in(lo, s.end) {
            let idx = &part.index;
            let rows = idx.venue_rows_checked_in(s.venue, lo, s.end)?;
            let live = at.rows_reaching(idx, rows, s.start.saturating_sub(req.linger))?;
            for row in live.into_iter().flatten() {
                let stay = at.stay(idx, row)?;
                let (xa, xb) = (stay.start, stay.end);
                // Most rows of the look-back ended, linger included, before the stay began:
                // they contribute nothing, whoever they are.
                if xb.saturating_add(req.linger) <= s.start {
                    continue;
                }
                let x = idx.person(row);
                if Some(x) == me {
                    continue;
                }
                for &(case, first_contact) in f1_of.get(x).iter().filter(|c| !skip(c.0)) {
                    let (cs, ce) = (xa.max(first_contact.saturating_add(latency)), xb.min(window_ends[case as usize]));
                    if cs >= ce {
                        continue;
                    }
                    let (a, b) = (cs.max(s.start), ce.saturating_add(req.linger).min(s.end));
                    if a < b {
                        out.push((case, s.venue, a, b, x));
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{Piece, sort_pieces};
    use proptest::prelude::*;

    /// Persons below `persons`: few make ties on every field, many need three passes.
    fn pieces(persons: u32) -> impl Strategy<Value = Vec<Piece>> {
        let piece = (0..persons, 0u32..4, 0i64..6, 0i64..6, any::<bool>())
            .prop_map(|(person, venue, start, end, measured)| Piece { person, venue, start, end, measured });
        prop::collection::vec(piece, 0..2_000)
    }

    proptest! {
        #[test]
        fn pieces_sort_as_their_order(mut pieces in prop_oneof![pieces(40), pieces(u32::MAX)]) {
            let mut want = pieces.clone();
            want.sort_unstable();
            sort_pieces(&mut pieces);
            prop_assert_eq!(pieces, want);
        }
    }
}
