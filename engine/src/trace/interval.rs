//! The interval kernel of the trace: merging sorted half-open second ranges `[start, end)` into
//! maximal disjoint ones.
//!
//! Merging joins overlapping *and touching* intervals: `[1,5) ∪ [5,9) = [1,9)` is one maximal
//! interval, as it is as a set of seconds. Both callers (U0 per venue in `exposure`, episodes per
//! contact and venue in `rank`) produce their intervals already sorted by start, so no sort
//! happens here.
//!
//! # Performance
//! One pass, in place, O(n).

use crate::model::Seconds;

/// A half-open interval of seconds.
pub type Interval = (Seconds, Seconds);

/// Merge intervals already sorted by start into maximal disjoint intervals.
pub fn merge_sorted(v: &mut Vec<Interval>) {
    let mut out = 0usize;
    for i in 0..v.len() {
        let (s, e) = v[i];
        if out > 0 && s <= v[out - 1].1 {
            v[out - 1].1 = v[out - 1].1.max(e);
        } else {
            v[out] = (s, e);
            out += 1;
        }
    }
    v.truncate(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn covered(v: &[Interval]) -> BTreeSet<i64> {
        v.iter().flat_map(|&(s, e)| s..e).collect()
    }

    /// Non-empty intervals sorted by start, as both callers make them.
    fn sorted_intervals() -> impl Strategy<Value = Vec<Interval>> {
        proptest::collection::vec((0i64..200, 1i64..40).prop_map(|(s, l)| (s, s + l)), 0..12).prop_map(|mut v| {
            v.sort_unstable();
            v
        })
    }

    #[test]
    fn touching_intervals_merge() {
        let mut v = vec![(1, 5), (5, 9), (10, 12)];
        merge_sorted(&mut v);
        assert_eq!(v, vec![(1, 9), (10, 12)]);
    }

    proptest! {
        #[test]
        fn merge_matches_covered_seconds(v in sorted_intervals()) {
            let mut u = v.clone();
            merge_sorted(&mut u);
            prop_assert_eq!(covered(&u), covered(&v));
            // Maximal: no two results overlap or touch.
            for w in u.windows(2) {
                prop_assert!(w[0].1 < w[1].0);
            }
        }
    }
}
