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
//! 3. **The end.** Stays still open when the batch's scans end are stored without check-out.
//! 4. **Order.** Each person's scans at a venue must come in time order: a scan earlier than
//!    the last kept one of its person at that venue is quarantined (`scan out of order`). The
//!    state of a person at a venue is dropped (an open stay stored without check-out) once the
//!    log has moved `max_visit + debounce` past its last scan, so memory is bounded by the
//!    stays open in that span, not by the size of the files.
//!
//! Every scan is counted once: `scans = 2 × paired + unpaired + debounced + rejected`, where
//! `paired` stays have a check-out and `unpaired` ones do not.

use std::borrow::Borrow;
use std::collections::HashMap;
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

/// A stay the pairing made; `key` is the person and venue it was given with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Paired<K> {
    pub key: K,
    pub check_in: Seconds,
    pub check_out: Option<Seconds>,
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

struct State {
    last: Seconds,
    last_direction: Direction,
    open: Option<Seconds>,
}

/// The streaming pairer. `K` identifies a person at a venue (cloned once per new pair).
pub(crate) struct Pairer<K> {
    options: ScanOptions,
    states: HashMap<K, State>,
    /// The latest scan seen, and when the states were last swept.
    now: Seconds,
    swept: Seconds,
    pub counts: ScanCounts,
}

impl<K: Hash + Eq + Clone> Pairer<K> {
    pub(crate) fn new(options: ScanOptions) -> Pairer<K> {
        Pairer {
            options,
            states: HashMap::new(),
            now: Seconds::MIN,
            swept: Seconds::MIN,
            counts: ScanCounts::default(),
        }
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
                    out.push(Paired { key: key.to_owned(), check_in: at, check_out: None });
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
            out.push(Paired { key: key.to_owned(), check_in: t0, check_out: None });
            s.open = None;
        }
        match (s.open, dir) {
            (Some(t0), _) => {
                self.counts.paired += 1;
                out.push(Paired { key: key.to_owned(), check_in: t0, check_out: Some(at) });
                s.open = None;
            }
            (None, Direction::Out) => {
                self.counts.unpaired += 1;
                out.push(Paired { key: key.to_owned(), check_in: at, check_out: None });
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
        out.extend(done.into_iter().map(|(t0, key)| Paired { key, check_in: t0, check_out: None }));
        self.swept = self.now;
    }

    /// The batch's scans are over: every open stay ends without check-out.
    pub(crate) fn finish(&mut self, out: &mut Vec<Paired<K>>) {
        let mut done: Vec<(Seconds, K)> = self.states.drain().filter_map(|(k, s)| s.open.map(|t0| (t0, k))).collect();
        done.sort_unstable_by_key(|d| d.0);
        self.counts.unpaired += done.len() as u64;
        out.extend(done.into_iter().map(|(t0, key)| Paired { key, check_in: t0, check_out: None }));
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
        assert_eq!(c, ScanCounts { scans: 10, paired: 2, unpaired: 4, debounced: 2, rejected: 0 });
        assert_eq!(c.scans, 2 * c.paired + c.unpaired + c.debounced + c.rejected);
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
        assert_eq!(out[0], Paired { key: "a", check_in: 0, check_out: None });
    }
}
