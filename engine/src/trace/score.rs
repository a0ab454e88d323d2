//! `--rank score`: a risk score whose parts a tracer can read out on a call.
//!
//! Per exposure episode (a maximal interval of a contact at a venue):
//! `score = minutes × category weight × crowding × infectiousness`, where
//! - **minutes** = the episode's seconds / 60;
//! - **category weight** = the venue category's weight from the rule's `weight` table (1 for a
//!   venue without a category or a category not in the table);
//! - **crowding** = `clamp(1 + log2(n / 2), 1, 4)` with `n` the largest number of distinct
//!   persons present at the venue at one instant of the episode (their stays under the rule, the
//!   F0 and the contact included; the F0's linger is not presence): 2 persons → 1, 4 → 2, 8 → 3,
//!   16 or more → 4;
//! - **infectiousness** = the weight of the episode's first local day relative to the F0's onset
//!   day (`risk_by_day`, the table `cwa` uses; `risk_outside` for days not in it), 1 when no
//!   onset is known.
//!
//! A contact's score is the sum over its episodes; its factor columns are the exposure-weighted
//! means of the episodes' (and `present` their largest `n`), so a tracer can say "40 minutes,
//! a restaurant (×1.5), crowded (×2.3), two days before onset (×1)". Contacts are ordered by
//! score desc, then as `overlap` (exposure, episodes, person id).

use super::rules::Stays;
use super::{Contact, Exposure, TraceRequest};
use crate::error::Result;
use crate::model::{PersonKey, Seconds, VenueKey};
use crate::store::Snapshot;

/// The parts of a score, per episode or (as exposure-weighted means) per contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Risk {
    /// The score × 1000.
    pub score_milli: u64,
    /// The venue category's weight × 1000.
    pub category_weight: u32,
    /// The crowding factor × 1000.
    pub crowding: u32,
    /// The infectiousness weight × 1000.
    pub infectiousness: u32,
    /// Most persons present at once.
    pub present: u32,
}

impl Risk {
    /// The score.
    pub fn score(&self) -> f64 {
        self.score_milli as f64 / 1000.0
    }
}

/// The crowding factor × 1000 of `n` persons present at once.
pub fn crowding(n: u32) -> u32 {
    let f = 1.0 + (f64::from(n.max(1)) / 2.0).log2();
    (f.clamp(1.0, 4.0) * 1000.0).round() as u32
}

/// Score every episode and contact, order the contacts by score and renumber them.
pub(crate) fn apply(
    snapshot: &Snapshot,
    req: &TraceRequest,
    contacts: &mut Vec<Contact>,
    exposures: &mut Vec<Exposure>,
) -> Result<()> {
    let stays = Stays::new(snapshot, req);
    let p = &req.params;
    // Episodes by venue and start, in clusters of overlapping ones: one read of the venue's
    // rows per cluster.
    let mut order: Vec<usize> = (0..exposures.len()).collect();
    order.sort_unstable_by_key(|&i| (exposures[i].venue, exposures[i].start));
    let mut i = 0;
    while i < order.len() {
        let v = exposures[order[i]].venue;
        let (lo, mut hi) = (exposures[order[i]].start, exposures[order[i]].end);
        let mut j = i + 1;
        while j < order.len() && exposures[order[j]].venue == v && exposures[order[j]].start < hi {
            hi = hi.max(exposures[order[j]].end);
            j += 1;
        }
        let steps = presence(snapshot, &stays, v, lo, hi, req)?;
        let weight = p.weight_for(snapshot.venue_category(v)?);
        for &k in &order[i..j] {
            let e = &mut exposures[k];
            let present = most_present(&steps, e.start, e.end);
            let infectiousness = p.infectiousness(p.local_day(e.start), req.onset);
            let c = crowding(present);
            let milli =
                (e.end - e.start) as f64 / 60.0 * f64::from(weight) * f64::from(c) * f64::from(infectiousness) / 1e6;
            e.risk = Some(Risk {
                score_milli: milli.round() as u64,
                category_weight: weight,
                crowding: c,
                infectiousness,
                present,
            });
        }
        i = j;
    }
    // Per contact: the sum, and exposure-weighted means of the factors.
    let mut lo = 0;
    for c in contacts.iter_mut() {
        let n = exposures[lo..].partition_point(|e| e.rank == c.rank);
        let mine = &exposures[lo..lo + n];
        lo += n;
        let total: Seconds = mine.iter().map(|e| e.end - e.start).sum::<Seconds>().max(1);
        let mean = |f: fn(&Risk) -> u32| -> u32 {
            let s: i128 =
                mine.iter().map(|e| i128::from(f(&e.risk.unwrap_or_default())) * i128::from(e.end - e.start)).sum();
            (s / i128::from(total)) as u32
        };
        c.risk = Some(Risk {
            score_milli: mine.iter().map(|e| e.risk.map_or(0, |r| r.score_milli)).sum(),
            category_weight: mean(|r| r.category_weight),
            crowding: mean(|r| r.crowding),
            infectiousness: mean(|r| r.infectiousness),
            present: mine.iter().map(|e| e.risk.map_or(0, |r| r.present)).max().unwrap_or(0),
        });
    }
    let score = |c: &Contact| c.risk.map_or(0, |r| r.score_milli);
    // Stable: ties keep the overlap order.
    contacts.sort_by_key(|c| std::cmp::Reverse(score(c)));
    super::rank::renumber(contacts, exposures, req.limit);
    Ok(())
}

/// The number of distinct persons present at venue `v` over `[lo, hi)` as steps `(from, n)`,
/// sorted by time.
fn presence(
    snapshot: &Snapshot,
    stays: &Stays<'_>,
    v: VenueKey,
    lo: Seconds,
    hi: Seconds,
    req: &TraceRequest,
) -> Result<Vec<(Seconds, u32)>> {
    let at = stays.at(v)?;
    let mut seen: Vec<(PersonKey, Seconds, Seconds)> = Vec::new();
    let (first, last) = super::exposure::day_range(req, lo, hi);
    for part in snapshot.parts_of_days(first, last) {
        let idx = &part.index;
        for r in idx.venue_rows_checked_in(v, lo.saturating_sub(req.max_visit), hi)? {
            let s = at.stay(idx, r)?;
            let (a, b) = (s.start.max(lo), s.end.min(hi));
            if a < b {
                seen.push((idx.person(r), a, b));
            }
        }
    }
    // A person's overlapping stays (repeated scans) count once.
    seen.sort_unstable();
    let mut events: Vec<(Seconds, i32)> = Vec::with_capacity(seen.len() * 2);
    for run in seen.chunk_by(|a, b| a.0 == b.0) {
        let mut cur: Option<(Seconds, Seconds)> = None;
        for &(_, a, b) in run {
            match &mut cur {
                Some(c) if a <= c.1 => c.1 = c.1.max(b),
                _ => {
                    if let Some((s, e)) = cur {
                        events.extend([(s, 1), (e, -1)]);
                    }
                    cur = Some((a, b));
                }
            }
        }
        if let Some((s, e)) = cur {
            events.extend([(s, 1), (e, -1)]);
        }
    }
    // Ends before starts at the same second: half-open stays that touch do not overlap.
    events.sort_unstable();
    let mut steps: Vec<(Seconds, u32)> = Vec::new();
    let mut n: i64 = 0;
    for run in events.chunk_by(|a, b| a.0 == b.0) {
        n += run.iter().map(|e| i64::from(e.1)).sum::<i64>();
        steps.push((run[0].0, n.max(0) as u32));
    }
    Ok(steps)
}

/// The largest count of `steps` over `[s, e)`.
fn most_present(steps: &[(Seconds, u32)], s: Seconds, e: Seconds) -> u32 {
    let i = steps.partition_point(|&(t, _)| t <= s);
    let before = if i > 0 { steps[i - 1].1 } else { 0 };
    steps[i..].iter().take_while(|&&(t, _)| t < e).map(|&(_, n)| n).fold(before, u32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crowding_is_documented_log2() {
        assert_eq!([1, 2, 3, 4, 8, 16, 100].map(crowding), [1000, 1000, 1585, 2000, 3000, 4000, 4000]);
    }

    #[test]
    fn most_present_reads_the_steps_over_the_interval() {
        let steps = [(0, 1), (10, 2), (20, 3), (30, 1)];
        assert_eq!(most_present(&steps, 0, 10), 1);
        assert_eq!(most_present(&steps, 5, 11), 2);
        assert_eq!(most_present(&steps, 25, 40), 3);
        assert_eq!(most_present(&steps, 30, 40), 1);
        assert_eq!(most_present(&steps, -5, 0), 0);
    }
}
