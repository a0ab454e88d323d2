//! The `pc-covid` rule: contacts by scans within `±radius` of the F0's scans at a venue.
//!
//! # Algorithm
//! 1. The F0's scans inside the window (check-ins, and check-outs within `max_visit` of their
//!    check-in), sorted per venue.
//! 2. Per venue, the windows `[t − radius, t + radius]` around them, merged.
//! 3. Per window and part: the rows at the venue checked in within `[window start − max_visit,
//!    window end]` (a scan lies at or after its check-in and at most `max_visit` after it), of
//!    those before the window only the blocks with a check-out in or after it (the index's
//!    `reach` section); each of their scans inside the window is matched to the nearest F0
//!    scan by binary search. Windows are disjoint, so every scan is counted once.
//!
//! # Performance
//! O(F0's rows + rows at the F0's venues checked in within `max_visit + radius` before and
//! `radius` after its scans), like the interval join.

use std::cmp::Reverse;

use rayon::prelude::*;

use super::super::exposure::day_range;
use super::super::{Contact, Exposure, Score};
use crate::error::Result;
use crate::model::{PersonId, PersonKey, Seconds, VenueKey};
use crate::store::{Part, Snapshot};
use crate::trace::TraceRequest;

/// One of a contact's scans matched to the F0's nearest scan at the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Match {
    person: PersonKey,
    at: Seconds,
    venue: VenueKey,
    f0_at: Seconds,
}

/// What [`trace`] found.
pub(crate) struct Found {
    pub contacts: Vec<Contact>,
    pub exposures: Vec<Exposure>,
    pub f0_visits: usize,
    pub f0_scans: usize,
    pub rows_examined: u64,
}

/// The scans of a row: its check-in, and its check-out within `max_visit`.
fn scans(check_in: Seconds, check_out: Option<Seconds>, max_visit: Seconds) -> impl Iterator<Item = Seconds> {
    std::iter::once(check_in).chain(check_out.filter(|&o| o >= check_in && o - check_in <= max_visit))
}

/// A window `[s, e)` around the F0's scans at a venue (all of them there), in one part.
type Task<'a> = (VenueKey, Seconds, Seconds, &'a [(VenueKey, Seconds)], &'a Part);

/// The `pc-covid` contacts of `f0` under `req`, ranked and cut by `req.limit`.
pub(crate) fn trace(snapshot: &Snapshot, f0: PersonKey, req: &TraceRequest) -> Result<Found> {
    let (from, to) = (req.from.unwrap_or(Seconds::MIN / 4), req.to.unwrap_or(Seconds::MAX / 4));
    let radius = req.params.radius;
    let mut f0_scans: Vec<(VenueKey, Seconds)> = Vec::new();
    let mut f0_visits = 0;
    let (first, last) = day_range(req, from, to);
    for part in snapshot.parts_of_days(first, last) {
        let idx = &part.index;
        for r in idx.person_rows(f0)? {
            f0_visits += 1;
            let v = idx.venue(r)?;
            f0_scans.extend(
                scans(idx.check_in(r), idx.check_out(r), req.max_visit)
                    .filter(|t| (from..to).contains(t))
                    .map(|t| (v, t)),
            );
        }
    }
    f0_scans.sort_unstable();
    f0_scans.dedup();
    // Per venue: the merged windows [t − radius, t + radius + 1) with the venue's scans.
    let mut tasks: Vec<Task> = Vec::new();
    for at_venue in f0_scans.chunk_by(|a, b| a.0 == b.0) {
        let mut windows: Vec<(Seconds, Seconds)> = Vec::new();
        for &(_, t) in at_venue {
            let (s, e) = (t.saturating_sub(radius), t.saturating_add(radius + 1));
            match windows.last_mut() {
                Some(w) if s <= w.1 => w.1 = w.1.max(e),
                _ => windows.push((s, e)),
            }
        }
        for (s, e) in windows {
            let (first, last) = day_range(req, s, e);
            tasks.extend(snapshot.parts_of_days(first, last).map(|p| (at_venue[0].0, s, e, at_venue, p)));
        }
    }
    let run = |&(v, s, e, at_venue, part): &Task| -> Result<(Vec<Match>, u64)> {
        req.check_deadline()?;
        let idx = &part.index;
        let rows = idx.venue_rows_checked_in(v, s.saturating_sub(req.max_visit), e)?;
        // A row checked in before the window scans in it only by a check-out at or after `s`.
        let live = idx.rows_reaching(rows, s.saturating_sub(1), s, None)?;
        let examined = live.iter().map(|r| r.len() as u64).sum();
        let mut out = Vec::new();
        for r in live.into_iter().flatten() {
            let p = idx.person(r);
            if p == f0 {
                continue;
            }
            for t in scans(idx.check_in(r), idx.check_out(r), req.max_visit).filter(|t| (s..e).contains(t)) {
                let i = at_venue.partition_point(|&(_, f)| f < t);
                let nearest = [i.checked_sub(1), Some(i)]
                    .into_iter()
                    .flatten()
                    .filter_map(|j| at_venue.get(j))
                    .map(|&(_, f)| f)
                    .min_by_key(|&f| ((f - t).abs(), f));
                if let Some(f) = nearest.filter(|f| (f - t).abs() <= radius) {
                    out.push(Match { person: p, at: t, venue: v, f0_at: f });
                }
            }
        }
        Ok((out, examined))
    };
    let results: Vec<(Vec<Match>, u64)> = if req.parallel && tasks.len() > 1 {
        tasks.par_iter().map(run).collect::<Result<_>>()?
    } else {
        tasks.iter().map(run).collect::<Result<_>>()?
    };
    let rows_examined = results.iter().map(|r| r.1).sum();
    let mut matches: Vec<Match> = results.into_iter().flat_map(|r| r.0).collect();
    matches.sort_unstable();
    let (contacts, exposures) = rank(snapshot, &matches, req.limit)?;
    Ok(Found { contacts, exposures, f0_visits, f0_scans: f0_scans.len(), rows_examined })
}

/// Matches sorted by person → contacts ordered by smallest gap asc, matches desc, person id
/// asc; each contact's matches become its exposures (the two scans, in time order).
fn rank(snapshot: &Snapshot, matches: &[Match], limit: Option<usize>) -> Result<(Vec<Contact>, Vec<Exposure>)> {
    struct Row<'a> {
        id: PersonId,
        gap: Seconds,
        run: &'a [Match],
    }
    let runs: Vec<&[Match]> = matches.chunk_by(|a, b| a.person == b.person).collect();
    let ids = snapshot.person_ids_owned(&runs.iter().map(|run| run[0].person).collect::<Vec<_>>())?;
    let mut rows: Vec<Row> = Vec::with_capacity(runs.len());
    for (run, id) in runs.into_iter().zip(ids) {
        let gap = run.iter().map(|m| (m.at - m.f0_at).abs()).min().unwrap_or(0);
        rows.push(Row { id, gap, run });
    }
    let key = |r: &Row| (r.gap, Reverse(r.run.len()));
    rows.sort_unstable_by(|a, b| {
        key(a).cmp(&key(b)).then_with(|| (&a.id, a.run[0].person).cmp(&(&b.id, b.run[0].person)))
    });
    rows.truncate(limit.unwrap_or(usize::MAX));
    let mut contacts = Vec::with_capacity(rows.len());
    let mut exposures = Vec::new();
    for (i, r) in rows.into_iter().enumerate() {
        let rank = i as u32 + 1;
        let mut venues: Vec<VenueKey> = r.run.iter().map(|m| m.venue).collect();
        venues.sort_unstable();
        venues.dedup();
        let person = r.run[0].person;
        contacts.push(Contact {
            rank,
            person,
            person_id: r.id,
            exposure_seconds: 0,
            imputed_seconds: 0,
            episodes: r.run.len() as u32,
            venues: venues.len() as u32,
            first_contact: r.run.first().map_or(0, |m| m.at),
            last_contact: r.run.last().map_or(0, |m| m.at),
            score: Score::Scans { matches: r.run.len() as u32, min_gap: r.gap },
            risk: None,
        });
        let start = exposures.len();
        exposures.extend(r.run.iter().map(|m| Exposure {
            rank,
            person,
            venue: m.venue,
            start: m.at.min(m.f0_at),
            end: m.at.max(m.f0_at),
            imputed_seconds: 0,
            risk: None,
        }));
        exposures[start..].sort_unstable_by_key(|e| (e.start, e.end, e.venue));
    }
    Ok((contacts, exposures))
}
