//! A check-in row → its stay interval under the request's rule: the one place the joins ask
//! where a stay ends.
//!
//! # Performance
//! `overlap` and `midnight` are arithmetic on the row. A category's dwell is looked up once per
//! venue ([`Stays::at`]), not per row. `next-checkin` reads, for a row without check-out, its
//! person's next check-in within the row's own part from a column of the trace index (4 bytes
//! a row, written with the part, read beside the row's check-in), and looks the person up in
//! every other part of the days up to `max_visit` later: a key-set probe, and a few rows where
//! the person is present, for all of a venue's rows at once ([`VenueStays::stays_ahead`]).
//! Parts never change, so the column is never stale: a later batch's check-ins are found in
//! that batch's own parts. A row whose own part already shows a next check-in at or before
//! the start of the join's intervals ended by then, and no other part is probed for it.
//!
//! When the snapshot holds the part's day links (every store written since format 5, see
//! `store::links`) and `max_visit` is at most a day, `next-checkin` reads instead the row's
//! person's next check-in anywhere in the store from them, beside the row, and probes nothing.
//!
//! Every rule bounds a stay without check-out (dwell, the next local midnight, or, under
//! `next-checkin` with day links, the next check-in they record), so a join reads of a venue's
//! look-back only the rows checked in within that bound before its intervals, and earlier ones
//! only in blocks of 64 rows with a later check-out (the index's `reach` section) or, under
//! `next-checkin`, a later next check-in (the links' `reach`):
//! [`VenueStays::rows_reaching`]. Without day links, `next-checkin` reads the whole look-back.

use super::ExposureRule;
use crate::error::Result;
use std::ops::Range;

use crate::model::{PersonKey, Seconds, VenueKey};
use crate::store::links::PartLinks;
use crate::store::{PartIndex, Snapshot};
use crate::time::DAY;
use crate::trace::TraceRequest;

/// A stay `[start, end)`, and whether its end is imputed (not the check-out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stay {
    pub start: Seconds,
    pub end: Seconds,
    pub imputed: bool,
}

/// Where stays end under one request, over one snapshot.
#[derive(Clone, Copy)]
pub(crate) struct Stays<'a> {
    snapshot: &'a Snapshot,
    req: &'a TraceRequest,
}

/// [`Stays`] at one venue: its dwell resolved.
#[derive(Clone, Copy)]
pub(crate) struct VenueStays<'a> {
    stays: Stays<'a>,
    dwell: Seconds,
}

impl<'a> Stays<'a> {
    pub(crate) fn new(snapshot: &'a Snapshot, req: &'a TraceRequest) -> Stays<'a> {
        Stays { snapshot, req }
    }

    /// The stays at venue `v` (its category's dwell looked up when the rule has a table).
    pub(crate) fn at(&self, v: VenueKey) -> Result<VenueStays<'a>> {
        let params = &self.req.params;
        let dwell = if params.dwell_by_category.is_empty() {
            self.req.dwell
        } else {
            params.dwell_for(self.snapshot.venue_category(v)?, self.req.dwell)
        };
        Ok(VenueStays { stays: *self, dwell })
    }
}

impl VenueStays<'_> {
    /// The stay of row `r` of `idx` (a row at this venue).
    #[inline]
    pub(crate) fn stay(&self, idx: &PartIndex, r: u32) -> Result<Stay> {
        let a = idx.check_in(r);
        let out = idx.check_out(r);
        let req = self.stays.req;
        let cap = a.saturating_add(req.max_visit);
        if let Some(b) = out
            && b <= cap
        {
            return Ok(Stay { start: a, end: b, imputed: false });
        }
        let end = match (out, req.rule) {
            (Some(_), _) => cap,
            (None, ExposureRule::Midnight) => next_midnight(a, req.params.tz_offset),
            (None, ExposureRule::NextCheckin) => match self.linked(idx) {
                Some(links) => {
                    links.ensure(r..r + 1)?;
                    return Ok(self.linked_stay(links, a, cap, r));
                }
                None => return Ok(self.stays_ahead(idx, r..r + 1, Seconds::MIN)?[0]),
            },
            (None, _) => a.saturating_add(self.dwell),
        };
        Ok(Stay { start: a, end: end.min(cap), imputed: true })
    }

    /// The rows of `rows` (rows of `idx` at this venue, checked) whose stays may end after
    /// `after`, as ascending ranges: the look-back of a join whose intervals start at `after`
    /// or later. A stay without check-out that begins before [`VenueStays::open_from`] has
    /// ended by `after`, and the index skips the blocks of earlier rows whose check-outs all
    /// lie at or before it ([`PartIndex::rows_reaching`]) and, under `next-checkin` with day
    /// links, whose next check-ins do too. Under `next-checkin` without day links, where such a
    /// stay ends at a next check-in no column here records, all of `rows`. Their cache lines are
    /// prefetched ([`PartIndex::prefetch_rows`]): every caller scans them next.
    pub(crate) fn rows_reaching(&self, idx: &PartIndex, rows: Range<u32>, after: Seconds) -> Result<Vec<Range<u32>>> {
        let links = self.linked(idx);
        let live = match self.open_from(after, links.is_some()) {
            Some(from) => idx.rows_reaching(rows, after, from, links.map(|l| (l, self.stays.req.max_visit)))?,
            None => vec![rows],
        };
        for range in &live {
            idx.prefetch_rows(range.clone());
            if let Some(links) = links {
                links.prefetch(range.clone());
            }
        }
        Ok(live)
    }

    /// The day links of `idx` when this request's stays without check-out end at the next
    /// check-in they record: under `next-checkin`, with `max_visit` at most a day (a stay then
    /// ends before the day after next, which the links do not look into).
    #[inline]
    fn linked<'i>(&self, idx: &'i PartIndex) -> Option<&'i PartLinks> {
        let req = self.stays.req;
        if req.rule == ExposureRule::NextCheckin && req.max_visit <= DAY { idx.links() } else { None }
    }

    /// Under `next-checkin` with day links: the stay of row `r` (checked in at `a`, without
    /// check-out, capped at `cap`), its `next` entry checked.
    #[inline]
    fn linked_stay(&self, links: &PartLinks, a: Seconds, cap: Seconds, r: u32) -> Stay {
        let end = links.next(r).filter(|&t| t <= cap).unwrap_or(a.saturating_add(self.dwell));
        Stay { start: a, end: end.min(cap), imputed: true }
    }

    /// A time before which every stay without check-out at this venue ends at or before
    /// `after` (`None` when the rule bounds no such stay but by `max_visit`). `linked`: the
    /// part has day links that [`VenueStays::linked`] reads.
    fn open_from(&self, after: Seconds, linked: bool) -> Option<Seconds> {
        let req = self.stays.req;
        let capped = after.saturating_sub(req.max_visit).saturating_add(1);
        match req.rule {
            // A stay without a later check-in within `max_visit` lasts the dwell; one with a
            // later one ends there, and the links' reach keeps its block.
            ExposureRule::NextCheckin if linked => {
                Some(after.saturating_sub(self.dwell.min(req.max_visit).max(0)).saturating_add(1))
            }
            ExposureRule::NextCheckin => None,
            // A stay checked in before the last midnight at or before `after` ends by then.
            ExposureRule::Midnight => Some((next_midnight(after, req.params.tz_offset) - DAY).max(capped)),
            ExposureRule::IntervalOverlap | ExposureRule::PcCovid | ExposureRule::Cwa => {
                Some(after.saturating_sub(self.dwell.min(req.max_visit).max(0)).saturating_add(1))
            }
        }
    }

    /// The stays of `rows` (rows of `idx` at this venue, checked), in order, computed ahead where
    /// that is faster than one by one: under `next-checkin`, where a stay without check-out
    /// ends at its person's next check-in. That is read from the row's part's `next_in` column
    /// (formats 3 and 4; formats 1 and 2 probe the part like the others), and every other part of
    /// the days up to `max_visit` later is probed for all the rows without check-out at once
    /// ([`PartIndex::next_check_ins`]), so that the probes' cache misses overlap. With day
    /// links ([`VenueStays::linked`]) each is read from them and nothing is probed. Empty under
    /// the other rules: [`VenueStays::stay`] gives each.
    ///
    /// Only stays ending after `reach` need to be exact: a row whose own part already shows its
    /// person's next check-in at or before `reach` (or whose `max_visit` cap is) ends no later,
    /// so no other part is probed for it, and its stay is returned ending there (at or after
    /// its true end, not after `reach`). The joins pass their intervals' earliest start.
    pub(crate) fn stays_ahead(&self, idx: &PartIndex, rows: Range<u32>, reach: Seconds) -> Result<Vec<Stay>> {
        let req = self.stays.req;
        if req.rule != ExposureRule::NextCheckin {
            return Ok(Vec::new());
        }
        if let Some(links) = self.linked(idx) {
            links.ensure(rows.clone())?;
            return rows
                .map(|r| match idx.check_out(r) {
                    Some(_) => self.stay(idx, r),
                    None => {
                        let a = idx.check_in(r);
                        Ok(self.linked_stay(links, a, a.saturating_add(req.max_visit), r))
                    }
                })
                .collect();
        }
        let mut out = Vec::with_capacity(rows.len());
        // Rows without check-out: (position in `out`, person, check-in, cap, next check-in so far).
        let mut open: Vec<(usize, PersonKey, Seconds, Seconds, Option<Seconds>)> = Vec::new();
        for r in rows {
            if idx.check_out(r).is_some() {
                out.push(self.stay(idx, r)?);
                continue;
            }
            let a = idx.check_in(r);
            let cap = a.saturating_add(req.max_visit);
            let own = idx.next_in_part(r).flatten().filter(|&t| t <= cap);
            if let Some(t) = own.filter(|&t| t <= reach).or((cap <= reach).then_some(cap)) {
                out.push(Stay { start: a, end: t, imputed: true });
                continue;
            }
            open.push((out.len(), idx.person(r), a, cap, own));
            out.push(Stay { start: a, end: cap, imputed: true });
        }
        let (Some(first), Some(last)) =
            (open.iter().map(|o| o.2.div_euclid(DAY)).min(), open.iter().map(|o| o.3.div_euclid(DAY)).max())
        else {
            return Ok(out);
        };
        let mut ask = Vec::new();
        let mut queries = Vec::new();
        for part in self.stays.snapshot.parts_of_days(first, last) {
            if std::ptr::eq(&part.index, idx) && idx.has_next_in() {
                continue;
            }
            let (first_in, last_in) = (part.info.min_check_in, part.info.max_check_in);
            ask.clear();
            queries.clear();
            for (i, &(_, p, a, cap, best)) in open.iter().enumerate() {
                // Only a part with a check-in in (a, cap], and before the earliest one found so
                // far, can hold a nearer one (parts of an hourly ingest each span an hour; a
                // part of a day outside a..cap has none there).
                if last_in > a && first_in <= cap && best.is_none_or(|b| b > first_in) {
                    ask.push(i);
                    queries.push((p, a, cap));
                }
            }
            if queries.is_empty() {
                continue;
            }
            for (&i, found) in ask.iter().zip(part.index.next_check_ins(&queries)?) {
                let best = &mut open[i].4;
                if let Some(t) = found
                    && best.is_none_or(|b| t < b)
                {
                    *best = Some(t);
                }
            }
        }
        for (at, _, a, cap, best) in open {
            let end = best.unwrap_or(a.saturating_add(self.dwell));
            out[at] = Stay { start: a, end: end.min(cap), imputed: true };
        }
        Ok(out)
    }
}

/// The first local midnight (of a zone `offset` seconds east of UTC) strictly after `t`.
pub(crate) fn next_midnight(t: Seconds, offset: i32) -> Seconds {
    let local = t + Seconds::from(offset);
    (local.div_euclid(DAY) + 1) * DAY - Seconds::from(offset)
}

#[cfg(test)]
mod tests {
    use super::next_midnight;

    #[test]
    fn midnight_is_local_and_strictly_after() {
        let t0 = 1_627_776_000; // 2021-08-01T00:00Z
        assert_eq!(next_midnight(t0, 0), t0 + 86_400);
        assert_eq!(next_midnight(t0 + 1, 0), t0 + 86_400);
        // 2021-08-01T00:00Z is 07:00 in Hanoi; its next midnight is 17:00Z.
        assert_eq!(next_midnight(t0, 7 * 3600), t0 + 17 * 3600);
        assert_eq!(next_midnight(t0 + 17 * 3600, 7 * 3600), t0 + 41 * 3600);
        assert_eq!(next_midnight(t0 - 1, -3 * 3600), t0 + 3 * 3600);
    }
}
