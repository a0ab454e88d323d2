//! From pieces to the ranked F1 list: per (person, venue) union, per-person totals, ordering.
//!
//! # Algorithm
//! Pieces arrive sorted by (person, venue, start). Each (person, venue) run is merged into
//! maximal intervals (the exposure episodes at that venue); a person's exposure is the sum of
//! their lengths, episodes their count, venues the number of runs with exposure, first/last
//! contact the extreme ends. Contacts below `max(min_overlap, 1)` seconds are dropped; the rest
//! are ordered by exposure desc, episodes desc, person id asc (bytes) and ranked from 1.

use std::ops::Range;

use super::exposure::Piece;
use super::interval::{Interval, merge_sorted};
use super::{Contact, Exposure};
use crate::error::Result;
use crate::model::{PersonKey, Seconds, VenueKey};
use crate::store::Snapshot;

/// A contact before ranking: totals and the range of its episodes in the flat episode list.
struct Candidate<'s> {
    person: PersonKey,
    /// Looked up once: ties on exposure and episodes are common, and a dictionary lookup per
    /// comparison dominated the sort of large lists.
    id: &'s str,
    exposure: Seconds,
    episodes: Range<usize>,
    venues: u32,
    first: Seconds,
    last: Seconds,
}

/// Rank the contacts; returns contacts (ranked, limited) and their exposure intervals.
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
) -> Result<(Vec<Contact>, Vec<Exposure>)> {
    let mut flat: Vec<(VenueKey, Interval)> = Vec::new();
    let mut scratch: Vec<Interval> = Vec::new();
    let mut candidates: Vec<Candidate> = Vec::new();
    for person_run in pieces.chunk_by(|a, b| a.person == b.person) {
        let start = flat.len();
        let mut venues = 0u32;
        for venue_run in person_run.chunk_by(|a, b| a.venue == b.venue) {
            scratch.clear();
            scratch.extend(venue_run.iter().map(|p| (p.start, p.end)));
            merge_sorted(&mut scratch);
            flat.extend(scratch.iter().map(|&iv| (venue_run[0].venue, iv)));
            venues += 1;
        }
        let episodes = &flat[start..];
        let exposure: Seconds = episodes.iter().map(|&(_, (s, e))| e - s).sum();
        if exposure < min_overlap.max(1) {
            flat.truncate(start);
            continue;
        }
        candidates.push(Candidate {
            person: person_run[0].person,
            id: if ids { snapshot.person_id(person_run[0].person)? } else { "" },
            exposure,
            episodes: start..flat.len(),
            venues,
            first: episodes.iter().map(|&(_, iv)| iv.0).min().unwrap_or(0),
            last: episodes.iter().map(|&(_, iv)| iv.1).max().unwrap_or(0),
        });
    }
    let order = |a: &Candidate<'_>, b: &Candidate<'_>| {
        b.exposure
            .cmp(&a.exposure)
            .then(b.episodes.len().cmp(&a.episodes.len()))
            .then_with(|| a.id.as_bytes().cmp(b.id.as_bytes()))
            .then(a.person.cmp(&b.person))
    };
    match limit {
        // Unordered: the person order the pieces came in (and the merge of lists relies on).
        None if !ids => {}
        Some(n) if n < candidates.len() => {
            // Only the first n need ordering among themselves.
            candidates.select_nth_unstable_by(n, order);
            candidates.truncate(n);
            candidates.sort_unstable_by(order);
        }
        _ => candidates.sort_unstable_by(order),
    }
    let mut exposures = Vec::with_capacity(candidates.iter().map(|c| c.episodes.len()).sum());
    let mut contacts = Vec::with_capacity(candidates.len());
    for (i, c) in candidates.into_iter().enumerate() {
        let rank = i as u32 + 1;
        let episodes = &mut flat[c.episodes.clone()];
        episodes.sort_unstable_by_key(|&(v, (s, e))| (s, e, v));
        exposures.extend(episodes.iter().map(|&(venue, (start, end))| Exposure {
            rank,
            person: c.person,
            venue,
            start,
            end,
        }));
        contacts.push(Contact {
            rank,
            person: c.person,
            person_id: c.id.to_string(),
            exposure_seconds: c.exposure,
            episodes: c.episodes.len() as u32,
            venues: c.venues,
            first_contact: c.first,
            last_contact: c.last,
        });
    }
    Ok((contacts, exposures))
}
