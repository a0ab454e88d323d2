//! From pieces to the ranked F1 list: per (person, venue) union, per-person totals, ordering.
//!
//! # Algorithm
//! Pieces arrive sorted by (person, venue, start). Each (person, venue) run is merged into
//! maximal intervals (the exposure episodes at that venue); a person's exposure is the sum of
//! their lengths, episodes their count, venues the number of runs with exposure, first/last
//! contact the extreme ends. The measured pieces of a run, merged the same way, are the part of
//! each episode not imputed; the rest is its `imputed_seconds`. Contacts below
//! `max(min_overlap, 1)` seconds are dropped; the rest are ordered by exposure desc, episodes
//! desc, person id asc (bytes) and ranked from 1.

use std::ops::Range;

use super::exposure::Piece;
use super::interval::{Interval, merge_sorted};
use super::{Contact, Exposure, Score};
use crate::error::Result;
use crate::model::{PersonId, PersonKey, Seconds, VenueKey};
use crate::radix;
use crate::store::Snapshot;
use crate::store::dict::id_prefix;

/// A contact before ranking: totals and, when intervals are asked for, the range of its
/// episodes in the flat episode list.
struct Candidate {
    person: PersonKey,
    /// Looked up once: ties on exposure and episodes are common, and a dictionary lookup per
    /// comparison dominated the sort of large lists.
    id: PersonId,
    /// The id's first 8 bytes, big-endian, zero-padded: orders as the id unless equal.
    prefix: u64,
    exposure: Seconds,
    imputed: Seconds,
    episodes: u32,
    intervals: Range<usize>,
    venues: u32,
    first: Seconds,
    last: Seconds,
}

/// A person's totals, summed over their episodes as they are found.
struct Totals {
    exposure: Seconds,
    imputed: Seconds,
    episodes: u32,
    venues: u32,
    first: Seconds,
    last: Seconds,
}

impl Default for Totals {
    fn default() -> Totals {
        Totals { exposure: 0, imputed: 0, episodes: 0, venues: 0, first: Seconds::MAX, last: Seconds::MIN }
    }
}

impl Totals {
    #[inline]
    fn add(&mut self, (s, e): Interval, imputed: Seconds) {
        self.exposure += e - s;
        self.imputed += imputed;
        self.episodes += 1;
        self.first = self.first.min(s);
        self.last = self.last.max(e);
    }
}

/// A candidate's place in the ranking, packed into two words that compare as the ranking does
/// up to ties: exposure desc (capped at `u32::MAX` seconds) and episodes desc in the first, the
/// id's prefix in the second. Equal keys go on to the whole order: exposure, episodes, the whole
/// id, then the key. One comparison of two words instead of a chain of three made the sort of a
/// large list (~12 % of a 100 M trace) cheaper.
#[derive(Clone, Copy)]
struct RankKey {
    key: (u64, u64),
    at: u32,
}

impl RankKey {
    fn of(at: usize, c: &Candidate) -> RankKey {
        let exposure = u64::try_from(c.exposure).unwrap_or(0).min(u32::MAX.into());
        let episodes = u64::from(c.episodes);
        let first = (u64::from(u32::MAX) - exposure) << 32 | (u64::from(u32::MAX) - episodes);
        RankKey { key: (first, c.prefix), at: at as u32 }
    }
}

/// Below this many contacts a comparison sort of the keys is as fast as the radix sort.
const RADIX_MIN: usize = 256;

/// Sort `keys` by `order` (which orders them by `key`, then by the whole order on ties).
///
/// A large list is first sorted by the first word alone, exposure and episodes, with a radix
/// sort: rebased to the list's own smallest, they take ~20 bits (two passes), where a comparison
/// sort of thousands of keys was ~6 % of a 100 M trace. Then each run of equal first words, in
/// person order, is sorted by `order` (the id's prefix, then the whole order).
fn sort_keys(keys: &mut [RankKey], order: &impl Fn(&RankKey, &RankKey) -> std::cmp::Ordering) {
    let split = |k: &RankKey| (k.key.0 >> 32, k.key.0 & u64::from(u32::MAX));
    // (smallest, largest) of the high and of the low halves.
    let (mut high, mut low) = ((u64::MAX, 0), (u64::MAX, 0));
    for k in keys.iter() {
        let (h, l) = split(k);
        (high.0, high.1, low.0, low.1) = (high.0.min(h), high.1.max(h), low.0.min(l), low.1.max(l));
    }
    let low_bits = radix::bits_for(low.1.saturating_sub(low.0));
    let bits = radix::bits_for(high.1.saturating_sub(high.0)) + low_bits;
    if keys.len() < RADIX_MIN || bits > 33 {
        keys.sort_unstable_by(order);
        return;
    }
    radix::sort_by_key(keys, bits, |k| {
        let (h, l) = split(k);
        (h - high.0) << low_bits | (l - low.0)
    });
    for run in keys.chunk_by_mut(|a, b| a.key.0 == b.key.0) {
        if run.len() > 1 {
            run.sort_unstable_by(order);
        }
    }
}

/// The order of ranked contacts under every rule but their ids (ties go by id, then key):
/// exposure desc, episodes desc for the interval rules; `cwa` and `pc-covid` put their score
/// first.
pub(crate) fn order(a: &Contact, b: &Contact) -> std::cmp::Ordering {
    use std::cmp::Reverse;
    let risk = |c: &Contact| Reverse(c.risk.map_or(0, |r| r.score_milli));
    let key = |c: &Contact| match c.score {
        Score::Exposure => (Reverse(false), 0i128, Reverse(c.exposure_seconds), Reverse(c.episodes)),
        Score::Cwa { weighted_milli_minutes, high } => {
            (Reverse(high), -i128::from(weighted_milli_minutes), Reverse(c.exposure_seconds), Reverse(c.episodes))
        }
        Score::Scans { matches, min_gap } => (Reverse(false), i128::from(min_gap), Reverse(0), Reverse(matches)),
    };
    risk(a).cmp(&risk(b)).then_with(|| key(a).cmp(&key(b)))
}

/// Rank the contacts; returns contacts (ranked, limited) and, with `intervals`, their exposure
/// intervals (without, none: the loop that gathers every episode into rank order is skipped).
/// Without `ids`, no id is looked up and `person_id` stays empty, for lists whose order no one
/// reads: unlimited, they stay in person key order; limited, ties go by person key.
///
/// Episodes of all persons go to one flat list, so the allocations per trace are a handful, not
/// a few per contact: with large F1 lists the allocator otherwise dominates, and contends when
/// traces run in parallel.
pub(crate) fn rank(
    snapshot: &Snapshot,
    pieces: &[Piece],
    min_overlap: i64,
    limit: Option<usize>,
    ids: bool,
    intervals: bool,
) -> Result<(Vec<Contact>, Vec<Exposure>)> {
    // (venue, episode, imputed seconds of the episode); only with `intervals`.
    let mut flat: Vec<(VenueKey, Interval, Seconds)> = Vec::new();
    let mut scratch: Vec<Interval> = Vec::new();
    let mut known: Vec<Interval> = Vec::new();
    let mut candidates: Vec<Candidate> = Vec::new();
    for person_run in pieces.chunk_by(|a, b| a.person == b.person) {
        let start = flat.len();
        let mut totals = Totals::default();
        for venue_run in person_run.chunk_by(|a, b| a.venue == b.venue) {
            let v = venue_run[0].venue;
            totals.venues += 1;
            // Most contacts meet the F0 once at a venue: one piece, one episode, measured or not.
            if let [p] = venue_run {
                let imputed = if p.measured { 0 } else { p.end - p.start };
                totals.add((p.start, p.end), imputed);
                if intervals {
                    flat.push((v, (p.start, p.end), imputed));
                }
                continue;
            }
            scratch.clear();
            scratch.extend(venue_run.iter().map(|p| (p.start, p.end)));
            merge_sorted(&mut scratch);
            known.clear();
            known.extend(venue_run.iter().filter(|p| p.measured).map(|p| (p.start, p.end)));
            merge_sorted(&mut known);
            for (iv, imputed) in imputed_per_episode(&scratch, &known) {
                totals.add(iv, imputed);
                if intervals {
                    flat.push((v, iv, imputed));
                }
            }
        }
        if totals.exposure < min_overlap.max(1) {
            flat.truncate(start);
            continue;
        }
        // In start order now, while they are in cache, not when they are listed in rank order.
        flat[start..].sort_unstable_by_key(|&(v, (s, e), _)| (s, e, v));
        candidates.push(Candidate {
            person: person_run[0].person,
            id: PersonId::new(),
            prefix: 0,
            exposure: totals.exposure,
            imputed: totals.imputed,
            episodes: totals.episodes,
            intervals: start..flat.len(),
            venues: totals.venues,
            first: totals.first,
            last: totals.last,
        });
    }
    if ids {
        let keys: Vec<PersonKey> = candidates.iter().map(|c| c.person).collect();
        for (c, id) in candidates.iter_mut().zip(snapshot.person_ids_owned(&keys)?) {
            c.prefix = id_prefix(id.as_bytes());
            c.id = id;
        }
    }
    // Sorted as small keys pointing at the candidates: moving whole candidates (~100 bytes,
    // id and all) through the sort of a large list cost more than comparing them.
    let mut keys: Vec<RankKey> = candidates.iter().enumerate().map(|(at, c)| RankKey::of(at, c)).collect();
    let whole = |a: &RankKey, b: &RankKey| {
        let (ca, cb) = (&candidates[a.at as usize], &candidates[b.at as usize]);
        cb.exposure
            .cmp(&ca.exposure)
            .then(cb.episodes.cmp(&ca.episodes))
            .then_with(|| ca.id.as_bytes().cmp(cb.id.as_bytes()))
            .then(ca.person.cmp(&cb.person))
    };
    let order = |a: &RankKey, b: &RankKey| a.key.cmp(&b.key).then_with(|| whole(a, b));
    let sort = |keys: &mut [RankKey]| sort_keys(keys, &order);
    match limit {
        // Unordered: the person order the pieces came in (and the merge of lists relies on).
        None if !ids => {}
        Some(n) if n < keys.len() => {
            // Only the first n need ordering among themselves.
            keys.select_nth_unstable_by(n, order);
            keys.truncate(n);
            sort(&mut keys);
        }
        _ => sort(&mut keys),
    }
    let mut exposures = match intervals {
        true => Vec::with_capacity(keys.iter().map(|k| candidates[k.at as usize].intervals.len()).sum()),
        false => Vec::new(),
    };
    let mut contacts = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let c = &mut candidates[k.at as usize];
        let rank = i as u32 + 1;
        if intervals {
            let episodes = &flat[c.intervals.clone()];
            exposures.extend(episodes.iter().map(|&(venue, (start, end), imputed_seconds)| Exposure {
                rank,
                person: c.person,
                venue,
                start,
                end,
                imputed_seconds,
                risk: None,
            }));
        }
        contacts.push(Contact {
            rank,
            person: c.person,
            person_id: std::mem::take(&mut c.id),
            exposure_seconds: c.exposure,
            imputed_seconds: c.imputed,
            episodes: c.episodes,
            venues: c.venues,
            first_contact: c.first,
            last_contact: c.last,
            score: Score::Exposure,
            risk: None,
        });
    }
    Ok((contacts, exposures))
}

/// Each episode (maximal, sorted) with its seconds not covered by `known` (merged, sorted, each
/// inside some episode).
fn imputed_per_episode<'a>(
    episodes: &'a [Interval],
    known: &'a [Interval],
) -> impl Iterator<Item = (Interval, Seconds)> + 'a {
    let mut k = 0;
    episodes.iter().map(move |&(s, e)| {
        let mut covered = 0;
        while k < known.len() && known[k].0 < e {
            covered += known[k].1.min(e) - known[k].0.max(s);
            k += 1;
        }
        ((s, e), (e - s) - covered)
    })
}

/// Renumber `contacts` (reordered from a ranking) from 1, cut them at `limit`, and carry the
/// new ranks to `exposures` (dropping those of contacts cut), ordered by rank.
pub(crate) fn renumber(contacts: &mut Vec<Contact>, exposures: &mut Vec<Exposure>, limit: Option<usize>) {
    let mut new_rank = vec![0u32; contacts.len()];
    contacts.truncate(limit.unwrap_or(usize::MAX));
    for (i, c) in contacts.iter_mut().enumerate() {
        new_rank[c.rank as usize - 1] = i as u32 + 1;
        c.rank = i as u32 + 1;
    }
    exposures.retain_mut(|e| {
        e.rank = new_rank[e.rank as usize - 1];
        e.rank > 0
    });
    // Stable: each contact's intervals stay in start order.
    exposures.sort_by_key(|e| e.rank);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{RankKey, imputed_per_episode, sort_keys};

    proptest! {
        /// The radix path orders keys as the comparison sort does, ties (equal keys, here broken
        /// by position as the whole order breaks them by id) included, on lists short and long,
        /// with narrow and wide spreads of exposure.
        #[test]
        fn keys_sort_as_their_order(
            raw in prop::collection::vec((0u64..40, 1u64..4, 0u64..6), 0..1200),
            wide in any::<bool>(),
        ) {
            let scale = if wide { 1 << 26 } else { 1 };
            let mut keys: Vec<RankKey> = raw
                .iter()
                .enumerate()
                .map(|(at, &(exposure, episodes, prefix))| {
                    let first = (u64::from(u32::MAX) - exposure * scale) << 32 | (u64::from(u32::MAX) - episodes);
                    RankKey { key: (first, prefix), at: at as u32 }
                })
                .collect();
            let order = |a: &RankKey, b: &RankKey| a.key.cmp(&b.key).then(a.at.cmp(&b.at));
            let mut want = keys.clone();
            want.sort_by(order);
            sort_keys(&mut keys, &order);
            let at = |v: &[RankKey]| v.iter().map(|k| k.at).collect::<Vec<_>>();
            prop_assert_eq!(at(&keys), at(&want));
        }
    }

    #[test]
    fn id_prefixes_order_as_the_ids() {
        let ids = ["", "\0", "0", "09", "0912345678", "0912345679", "09123456", "091234560", "a", "a\0", "a\0b", "Đà"];
        for a in ids {
            for b in ids {
                let (pa, pb) = (super::id_prefix(a.as_bytes()), super::id_prefix(b.as_bytes()));
                assert!(pa == pb || pa.cmp(&pb) == a.as_bytes().cmp(b.as_bytes()), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn imputed_is_the_uncovered_rest_of_each_episode() {
        let episodes = [(0, 100), (200, 300)];
        let known = [(10, 20), (50, 100), (200, 300)];
        let got: Vec<_> = imputed_per_episode(&episodes, &known).collect();
        assert_eq!(got, [((0, 100), 40), ((200, 300), 0)]);
        let got: Vec<_> = imputed_per_episode(&episodes, &[]).collect();
        assert_eq!(got, [((0, 100), 100), ((200, 300), 100)]);
    }
}
