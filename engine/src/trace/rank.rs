//! From pieces to the ranked F1 list: per (person, venue) union, per-person totals, ordering.
//!
//! # Algorithm
//! Pieces arrive sorted by (person, venue, start). Each (person, venue) run is merged into
//! maximal intervals (the exposure episodes at that venue); a person's exposure is the sum of
//! their lengths, episodes their count, venues the number of runs with exposure, first/last
//! contact the extreme ends. Contacts below `max(min_overlap, 1)` seconds are dropped; the rest
//! are ordered by exposure desc, episodes desc, person id asc (bytes) and ranked from 1.

use super::exposure::Piece;
use super::interval::{Interval, merge_sorted, total_length};
use super::{Contact, Exposure};
use crate::model::{PersonKey, VenueKey};
use crate::store::Snapshot;

/// Rank the contacts; returns contacts (ranked, limited) and their exposure intervals.
pub(crate) fn rank(
    snapshot: &Snapshot,
    pieces: &[Piece],
    min_overlap: i64,
    limit: Option<usize>,
) -> (Vec<Contact>, Vec<Exposure>) {
    let mut contacts: Vec<(Contact, Vec<(VenueKey, Interval)>)> = Vec::new();
    for person_run in pieces.chunk_by(|a, b| a.person == b.person) {
        let person: PersonKey = person_run[0].person;
        let mut episodes = Vec::new();
        for venue_run in person_run.chunk_by(|a, b| a.venue == b.venue) {
            let mut ivs: Vec<Interval> = venue_run.iter().map(|p| (p.start, p.end)).collect();
            merge_sorted(&mut ivs);
            episodes.extend(ivs.into_iter().map(|iv| (venue_run[0].venue, iv)));
        }
        let venues = person_run.chunk_by(|a, b| a.venue == b.venue).count() as u32;
        let ivs: Vec<Interval> = episodes.iter().map(|&(_, iv)| iv).collect();
        let exposure = total_length(&ivs);
        if exposure < min_overlap.max(1) {
            continue;
        }
        let contact = Contact {
            rank: 0,
            person,
            person_id: snapshot.person_id(person).to_string(),
            exposure_seconds: exposure,
            episodes: episodes.len() as u32,
            venues,
            first_contact: ivs.iter().map(|iv| iv.0).min().unwrap_or(0),
            last_contact: ivs.iter().map(|iv| iv.1).max().unwrap_or(0),
        };
        contacts.push((contact, episodes));
    }
    contacts.sort_by(|(a, _), (b, _)| {
        b.exposure_seconds
            .cmp(&a.exposure_seconds)
            .then(b.episodes.cmp(&a.episodes))
            .then_with(|| a.person_id.as_bytes().cmp(b.person_id.as_bytes()))
    });
    if let Some(n) = limit {
        contacts.truncate(n);
    }
    let mut exposures = Vec::new();
    let mut out = Vec::with_capacity(contacts.len());
    for (i, (mut c, mut episodes)) in contacts.into_iter().enumerate() {
        c.rank = i as u32 + 1;
        episodes.sort_by_key(|&(v, (s, e))| (s, e, v));
        exposures.extend(episodes.into_iter().map(|(venue, (start, end))| Exposure {
            rank: c.rank,
            person: c.person,
            venue,
            start,
            end,
        }));
        out.push(c);
    }
    (out, exposures)
}
