//! Raw scan logs (`truyvet ingest --scans`): one row per QR scan, paired into stays.
//!
//! A scan file has the columns `person_id, venue_id, scanned_at[, direction]`; `direction` is
//! `in`, `out` or empty (undirected; most QR points log no direction), in any case. A row with
//! another direction, or that fails the check-in row checks, is quarantined with its reason.
//!
//! # Pairing (exact)
//! Scans are read in the order given (files in order, rows in order) and paired per person and
//! venue:
//! 1. **Debounce.** A scan within `debounce` (default 2 min) after the last kept scan of the
//!    same person at the same venue, with the same direction, collapses into it (counted
//!    `debounced`).
//! 2. **Pairing.** An `in` or undirected scan with no open stay opens one. With a stay open
//!    since `t0`, a scan at `t ≤ t0 + max_visit` closes it as the stay `[t0, t)` when it is an
//!    `out` or undirected; an `in` leaves the open stay without check-out and opens a new one.
//!    A scan after `t0 + max_visit` leaves the open stay without check-out first. An `out` with
//!    nothing open becomes a stay without check-out checked in at its time (the person was
//!    there then).
//! 3. **The end of a batch.** Stays still open when the batch's scans end are stored without
//!    check-out, in parts of their own, and the state of every person at a venue whose last scan
//!    is within `max_visit + debounce` of the batch's latest scan is carried to the next
//!    `--scans` batch of the store (`store::carry`). That batch replaces those parts and pairs on
//!    as if the two batches had been one log: an exit in it closes a stay the last one left
//!    open, a duplicate a few seconds after the last batch's scan is debounced, and so on.
//!    Ingests of check-ins in between leave the carried state alone, and so does compaction
//!    (it leaves the carried parts as they are); a purge of the day of a carried open stay
//!    ends the carry, and the next scan batch starts afresh.
//! 4. **Order.** Each person's scans at a venue must come in time order: a scan earlier than
//!    the last kept one of its person at that venue is quarantined (`scan out of order`; from
//!    Parquet, the row is quarantined as rendered from its values, the time in UTC). The
//!    state of a person at a venue is dropped (an open stay stored without check-out) once the
//!    log has moved `max_visit + debounce` past its last scan, so memory is bounded by the
//!    stays open in that span, not by the size of the files.
//!
//! Every scan is counted once: `scans + resumed = 2 × paired + unpaired + debounced + rejected`,
//! where `paired` stays have a check-out, `unpaired` ones do not (`carried` of them left open for
//! the next batch), and `resumed` are the stays the previous batch left open, whose opening scan
//! that batch counted. A batch's stored rows grow the store by `paired + unpaired - resumed`.

use std::borrow::Borrow;
use std::hash::Hash;

use crate::model::Seconds;
pub use crate::store::manifest::ScanCounts;

/// How scans are paired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanOptions {
    /// Scans of one person at one venue with one direction closer than this collapse.
    pub debounce: Seconds,
    /// The longest stay a pair of scans makes.
    pub max_visit: Seconds,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions { debounce: 120, max_visit: 43_200 }
    }
}

/// A scan's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// An entry.
    In,
    /// An exit.
    Out,
    /// Not recorded.
    Any,
}

impl Direction {
    /// The direction as written in a scan log: `in`, `out` or empty.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Direction::Any => "",
            Direction::In => "in",
            Direction::Out => "out",
        }
    }

    /// The direction's code in a carried state file (0 none, 1 in, 2 out).
    pub(crate) fn code(self) -> u8 {
        match self {
            Direction::Any => 0,
            Direction::In => 1,
            Direction::Out => 2,
        }
    }

    /// The direction of a code written by [`Direction::code`].
    pub(crate) fn of_code(code: u8) -> Direction {
        match code {
            1 => Direction::In,
            2 => Direction::Out,
            _ => Direction::Any,
        }
    }

    /// Parse a direction field (trimmed, any case); `None` for anything but in, out or empty.
    pub fn parse(field: &[u8]) -> Option<Direction> {
        let t = field.trim_ascii();
        if t.is_empty() {
            Some(Direction::Any)
        } else if t.eq_ignore_ascii_case(b"in") {
            Some(Direction::In)
        } else if t.eq_ignore_ascii_case(b"out") {
            Some(Direction::Out)
        } else {
            None
        }
    }
}

/// A stay the pairing made; `key` is the person and venue it was given with. `carried`: still
/// open at the end of the batch, carried to the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Paired<K> {
    pub key: K,
    pub check_in: Seconds,
    pub check_out: Option<Seconds>,
    pub carried: bool,
}

impl<K> Paired<K> {
    fn ended(key: K, check_in: Seconds, check_out: Option<Seconds>) -> Paired<K> {
        Paired { key, check_in, check_out, carried: false }
    }
}

/// What became of one scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Kept: part of a stay (now or later).
    Kept,
    /// Collapsed into an earlier scan.
    Debounced,
    /// Earlier than the last kept scan of its person at its venue.
    OutOfOrder(Seconds),
}

/// The pairing of one person at one venue: the last kept scan, and the open stay if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct State {
    pub last: Seconds,
    pub last_direction: Direction,
    pub open: Option<Seconds>,
}

/// What a batch leaves to the next: the clock and the states still within reach of a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Carry<K> {
    pub now: Seconds,
    pub swept: Seconds,
    pub states: Vec<(K, State)>,
}

/// The streaming pairer. `K` identifies a person at a venue (cloned once per new pair).
pub(crate) struct Pairer<K> {
    options: ScanOptions,
    states: hashbrown::HashMap<K, State>,
    /// The latest scan seen, and when the states were last swept.
    now: Seconds,
    swept: Seconds,
    pub counts: ScanCounts,
}

impl<K: Hash + Eq + Clone> Pairer<K> {
    pub(crate) fn new(options: ScanOptions) -> Pairer<K> {
        Pairer {
            options,
            states: hashbrown::HashMap::new(),
            now: Seconds::MIN,
            swept: Seconds::MIN,
            counts: ScanCounts::default(),
        }
    }

    /// Go on from what an earlier batch left (its open stays count as `resumed`).
    pub(crate) fn resume(options: ScanOptions, carry: Carry<K>) -> Pairer<K> {
        let mut p = Pairer::new(options);
        p.now = carry.now;
        p.swept = carry.swept;
        p.counts.resumed = carry.states.iter().filter(|(_, s)| s.open.is_some()).count() as u64;
        p.states = carry.states.into_iter().collect();
        p
    }

    /// Take one valid scan; stays it completes go to `out`.
    pub(crate) fn scan<Q>(&mut self, key: &Q, at: Seconds, dir: Direction, out: &mut Vec<Paired<K>>) -> Outcome
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let outcome = self.take(key, at, dir, out);
        if outcome == Outcome::Kept {
            self.sweep(out);
        }
        outcome
    }

    fn take<Q>(&mut self, key: &Q, at: Seconds, dir: Direction, out: &mut Vec<Paired<K>>) -> Outcome
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.counts.scans += 1;
        let o = self.options;
        if at > self.now {
            self.now = at;
        }
        let Some(s) = self.states.get_mut(key) else {
            let open = match dir {
                Direction::Out => {
                    self.counts.unpaired += 1;
                    out.push(Paired::ended(key.to_owned(), at, None));
                    None
                }
                _ => Some(at),
            };
            self.states.insert(key.to_owned(), State { last: at, last_direction: dir, open });
            return Outcome::Kept;
        };
        if at < s.last {
            self.counts.rejected += 1;
            return Outcome::OutOfOrder(s.last);
        }
        if dir == s.last_direction && at - s.last <= o.debounce {
            self.counts.debounced += 1;
            return Outcome::Debounced;
        }
        s.last = at;
        s.last_direction = dir;
        if let Some(t0) = s.open
            && (at - t0 > o.max_visit || dir == Direction::In)
        {
            self.counts.unpaired += 1;
            out.push(Paired::ended(key.to_owned(), t0, None));
            s.open = None;
        }
        match (s.open, dir) {
            (Some(t0), _) => {
                self.counts.paired += 1;
                out.push(Paired::ended(key.to_owned(), t0, Some(at)));
                s.open = None;
            }
            (None, Direction::Out) => {
                self.counts.unpaired += 1;
                out.push(Paired::ended(key.to_owned(), at, None));
            }
            (None, _) => s.open = Some(at),
        }
        Outcome::Kept
    }

    /// A scan rejected before pairing, for the counts.
    pub(crate) fn rejected(&mut self) {
        self.counts.scans += 1;
        self.counts.rejected += 1;
    }

    /// Every `max_visit + debounce` of log time, drop the states whose last scan is that far
    /// behind the latest one; their open stays end without check-out.
    fn sweep(&mut self, out: &mut Vec<Paired<K>>) {
        let horizon = self.options.max_visit + self.options.debounce;
        if self.now.saturating_sub(self.swept) < horizon {
            return;
        }
        let cutoff = self.now.saturating_sub(horizon);
        let mut done: Vec<(Seconds, K)> = Vec::new();
        self.states.retain(|k, s| {
            if s.last >= cutoff {
                return true;
            }
            if let Some(t0) = s.open {
                done.push((t0, k.clone()));
            }
            false
        });
        // A deterministic order, whatever the map's.
        done.sort_unstable_by_key(|d| d.0);
        self.counts.unpaired += done.len() as u64;
        out.extend(done.into_iter().map(|(t0, key)| Paired::ended(key, t0, None)));
        self.swept = self.now;
    }

    /// The batch's scans are over: every open stay is stored without check-out (`carried` when
    /// its state goes on), and the states within `max_visit + debounce` of the latest scan are
    /// returned for the next batch, in key order.
    pub(crate) fn finish(&mut self, out: &mut Vec<Paired<K>>) -> Carry<K>
    where
        K: Ord,
    {
        let cutoff = self.now.saturating_sub(self.options.max_visit + self.options.debounce);
        let mut states: Vec<(K, State)> = self.states.drain().collect();
        states.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut kept = Vec::new();
        for (key, s) in states {
            let live = s.last >= cutoff;
            if let Some(t0) = s.open {
                self.counts.unpaired += 1;
                self.counts.carried += u64::from(live);
                out.push(Paired { key: key.clone(), check_in: t0, check_out: None, carried: live });
            }
            if live {
                kept.push((key, s));
            }
        }
        Carry { now: self.now, swept: self.swept, states: kept }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Stays = Vec<(&'static str, Seconds, Option<Seconds>)>;

    fn pair(scans: &[(&'static str, Seconds, Direction)], o: ScanOptions) -> (Stays, ScanCounts) {
        let mut p: Pairer<&'static str> = Pairer::new(o);
        let mut out = Vec::new();
        for &(k, t, d) in scans {
            p.scan(&k, t, d, &mut out);
        }
        p.finish(&mut out);
        (out.into_iter().map(|s| (s.key, s.check_in, s.check_out)).collect(), p.counts)
    }

    #[test]
    fn entries_exits_duplicates_and_strays() {
        use Direction::*;
        let o = ScanOptions { debounce: 120, max_visit: 3600 };
        let (stays, c) = pair(
            &[
                ("a", 0, Any),
                ("a", 30, Any),  // duplicate
                ("a", 600, Any), // closes [0, 600)
                ("b", 0, In),
                ("b", 60, Out), // a different direction: closes [0, 60)
                ("c", 0, In),
                ("c", 100, In),   // duplicate entry
                ("c", 500, In),   // a new entry: [0, –) left open
                ("c", 5000, Out), // too late for 500: [500, –), then a stray exit [5000, –)
                ("d", 0, Any),    // never closed
            ],
            o,
        );
        assert_eq!(
            stays,
            [
                ("a", 0, Some(600)),
                ("b", 0, Some(60)),
                ("c", 0, None),
                ("c", 500, None),
                ("c", 5000, None),
                ("d", 0, None)
            ]
        );
        assert_eq!(
            c,
            ScanCounts { scans: 10, paired: 2, unpaired: 4, debounced: 2, rejected: 0, resumed: 0, carried: 0 }
        );
        assert_eq!(c.scans, 2 * c.paired + c.unpaired + c.debounced + c.rejected);
    }

    #[test]
    fn a_log_split_into_batches_pairs_as_one() {
        use Direction::*;
        let o = ScanOptions { debounce: 120, max_visit: 3600 };
        let log = [
            ("a", 0, In),
            ("b", 10, Any),
            ("a", 60, In), // duplicate entry
            ("b", 200, Any),
            ("a", 900, Out),
            ("c", 1000, Any),
            ("c", 1050, Any), // duplicate
            ("b", 2000, In),
            ("c", 5000, Any), // too late for 1000
            ("b", 5500, Out), // too late for 2000
            ("d", 9000, Out),
            ("c", 9100, Any),
        ];
        let (whole, counts) = pair(&log, o);
        let mut whole = whole;
        whole.sort();
        for k in 0..=log.len() {
            let mut first: Pairer<&'static str> = Pairer::new(o);
            let mut out = Vec::new();
            for &(key, t, d) in &log[..k] {
                first.scan(&key, t, d, &mut out);
            }
            let carry = first.finish(&mut out);
            // The carried stays' rows are replaced by what the next batch makes of them.
            out.retain(|s| !s.carried);
            let mut next = Pairer::resume(o, carry);
            for &(key, t, d) in &log[k..] {
                next.scan(&key, t, d, &mut out);
            }
            next.finish(&mut out);
            let mut got: Stays = out.into_iter().map(|s| (s.key, s.check_in, s.check_out)).collect();
            got.sort();
            assert_eq!(got, whole, "split at {k}");
            let (a, b) = (first.counts, next.counts);
            assert_eq!(b.resumed, a.carried, "split at {k}");
            assert_eq!(
                (
                    a.scans + b.scans,
                    a.paired + b.paired,
                    a.unpaired + b.unpaired - b.resumed,
                    a.debounced + b.debounced
                ),
                (counts.scans, counts.paired, counts.unpaired, counts.debounced),
                "split at {k}"
            );
            for c in [a, b] {
                assert_eq!(c.scans + c.resumed, 2 * c.paired + c.unpaired + c.debounced + c.rejected);
            }
        }
    }

    #[test]
    fn out_of_order_scans_are_refused() {
        let mut p: Pairer<&'static str> = Pairer::new(ScanOptions::default());
        let mut out = Vec::new();
        assert_eq!(p.scan(&"a", 100, Direction::Any, &mut out), Outcome::Kept);
        assert_eq!(p.scan(&"a", 50, Direction::Any, &mut out), Outcome::OutOfOrder(100));
        assert_eq!((p.counts.scans, p.counts.rejected), (2, 1));
    }

    #[test]
    fn old_states_are_swept_as_the_log_moves_on() {
        let o = ScanOptions { debounce: 10, max_visit: 100 };
        let mut p: Pairer<&'static str> = Pairer::new(o);
        let mut out = Vec::new();
        p.scan(&"a", 0, Direction::Any, &mut out);
        for t in (1000..2000).step_by(50) {
            p.scan(&"b", t, Direction::In, &mut out);
        }
        assert!(p.states.len() <= 2);
        assert_eq!(out[0], Paired::ended("a", 0, None));
    }
}
