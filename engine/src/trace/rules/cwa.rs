//! The `cwa` rule's parts beyond the interval join: the F0's stay extension, and the 10-minute
//! slots weighted by day relative to onset.

use std::collections::BTreeMap;

use super::PerMille;
use crate::model::Seconds;
use crate::time::DAY;
use crate::trace::{Contact, Exposure, Score, TraceRequest};

/// F0 stays shorter than this are dropped.
pub const MIN_F0_STAY: Seconds = 600;
/// The longest extension after an F0 stay.
pub const MAX_EXTENSION: Seconds = 1800;
/// A slot.
pub const SLOT: Seconds = 600;
/// Weighted minutes from which a contact is `high`.
pub const HIGH_MINUTES: u64 = 10;

/// The weight of days outside the default table.
pub const DEFAULT_RISK_OUTSIDE: PerMille = 0;

/// truyvet's default transmission risk by day relative to onset: full from two days before
/// onset to three after, tapering on both sides, nothing outside −4..=+7 (the infectious period
/// most guidance assumed). A province sets its own in the rules file.
pub fn default_risk_by_day() -> BTreeMap<i64, PerMille> {
    [
        (-4, 400),
        (-3, 700),
        (-2, 1000),
        (-1, 1000),
        (0, 1000),
        (1, 1000),
        (2, 1000),
        (3, 1000),
        (4, 700),
        (5, 500),
        (6, 300),
        (7, 200),
    ]
    .into_iter()
    .collect()
}

/// The extension after an F0 stay of length `d`, or `None` when the stay is too short to count.
pub(crate) fn f0_extension(d: Seconds) -> Option<Seconds> {
    (d >= MIN_F0_STAY).then_some(d.min(MAX_EXTENSION))
}

/// Weighted minutes × 1000 of one contact's exposure intervals under `req`.
fn weighted(exposures: &[Exposure], req: &TraceRequest) -> u64 {
    let p = &req.params;
    let mut per_day: BTreeMap<i64, Seconds> = BTreeMap::new();
    for e in exposures {
        let mut s = e.start;
        while s < e.end {
            let day = p.local_day(s);
            let day_end = (day + 1) * DAY - Seconds::from(p.tz_offset);
            let cut = e.end.min(day_end);
            *per_day.entry(day).or_default() += cut - s;
            s = cut;
        }
    }
    per_day
        .iter()
        .map(|(&day, &seconds)| (seconds / SLOT) as u64 * 10 * u64::from(p.infectiousness(day, req.onset)))
        .sum()
}

/// Score ranked contacts (exposures ordered by rank) under `cwa`, reorder them high first, by
/// weighted minutes desc, then as ranked, renumber, and cut at `req.limit`.
pub(crate) fn rescore(contacts: &mut Vec<Contact>, exposures: &mut Vec<Exposure>, req: &TraceRequest) {
    let mut lo = 0;
    for c in contacts.iter_mut() {
        let n = exposures[lo..].partition_point(|e| e.rank == c.rank);
        let w = weighted(&exposures[lo..lo + n], req);
        c.score = Score::Cwa { weighted_milli_minutes: w, high: w >= HIGH_MINUTES * 1000 };
        lo += n;
    }
    let key = |c: &Contact| match c.score {
        Score::Cwa { weighted_milli_minutes, high } => {
            (std::cmp::Reverse(high), std::cmp::Reverse(weighted_milli_minutes))
        }
        _ => unreachable!("scored above"),
    };
    // Stable: ties keep the overlap order.
    contacts.sort_by_key(key);
    crate::trace::rank::renumber(contacts, exposures, req.limit);
}
