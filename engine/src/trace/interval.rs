//! Interval kernels on half-open second ranges `[start, end)`.
//!
//! Unions merge overlapping *and touching* intervals: `[1,5) ∪ [5,9) = [1,9)` is one maximal
//! interval, as it is as a set of seconds. Intersections keep only non-empty overlaps, so
//! touching intervals (`b == a'`) never intersect.
//!
//! # Performance
//! `union_in_place` is O(n log n) (a sort, then one pass); `intersect_sorted` is O(n + m).

use crate::model::Seconds;

/// A half-open interval of seconds.
pub type Interval = (Seconds, Seconds);

/// Sort and merge intervals into maximal disjoint intervals (empty ones dropped).
pub fn union_in_place(v: &mut Vec<Interval>) {
    v.retain(|&(s, e)| s < e);
    v.sort_unstable();
    merge_sorted(v);
}

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

/// Intersection of two lists of disjoint sorted intervals.
pub fn intersect_sorted(a: &[Interval], b: &[Interval]) -> Vec<Interval> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let s = a[i].0.max(b[j].0);
        let e = a[i].1.min(b[j].1);
        if s < e {
            out.push((s, e));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Total length of disjoint intervals.
pub fn total_length(v: &[Interval]) -> Seconds {
    v.iter().map(|&(s, e)| e - s).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn covered(v: &[Interval]) -> BTreeSet<i64> {
        v.iter().flat_map(|&(s, e)| s..e).collect()
    }

    fn intervals() -> impl Strategy<Value = Vec<Interval>> {
        proptest::collection::vec((0i64..200, 0i64..40).prop_map(|(s, l)| (s, s + l)), 0..12)
    }

    #[test]
    fn touching_merges_in_union_but_does_not_intersect() {
        let mut v = vec![(5, 9), (1, 5)];
        union_in_place(&mut v);
        assert_eq!(v, vec![(1, 9)]);
        assert_eq!(intersect_sorted(&[(1, 5)], &[(5, 9)]), vec![]);
    }

    proptest! {
        #[test]
        fn union_matches_covered_seconds(v in intervals()) {
            let mut u = v.clone();
            union_in_place(&mut u);
            prop_assert_eq!(covered(&u), covered(&v));
            prop_assert_eq!(total_length(&u) as usize, covered(&v).len());
            // Maximal: no two results overlap or touch.
            for w in u.windows(2) {
                prop_assert!(w[0].1 < w[1].0);
            }
        }

        #[test]
        fn intersection_matches_covered_seconds(a in intervals(), b in intervals()) {
            let (mut a, mut b) = (a, b);
            union_in_place(&mut a);
            union_in_place(&mut b);
            let got = intersect_sorted(&a, &b);
            let want: BTreeSet<i64> = covered(&a).intersection(&covered(&b)).copied().collect();
            prop_assert_eq!(covered(&got), want);
        }
    }
}
