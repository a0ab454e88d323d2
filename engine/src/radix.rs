//! Least-significant-digit radix sort by an integer key, for the two sorts where a comparison
//! sort was a visible share of the work: a trace's pieces by person, and an ingest flush by day,
//! venue and check-in.
//!
//! # Algorithm
//! One counting pass per digit, lowest digit first; each pass is stable, so after the last one
//! the items are in key order and items of equal key keep their input order. Digits are at most
//! 11 bits wide (2 048 counters, 16 KiB: they stay in L1) and as even as the key's width allows.
//!
//! # Performance
//! `⌈bits / 11⌉` passes, each reading the items once and writing them once (to scattered but
//! sequential streams, one per digit value); one scratch copy of the items.

/// Sort `items` stably by the low `bits` bits of `key(item)` (bits above are ignored).
pub(crate) fn sort_by_key<T: Copy>(items: &mut [T], bits: u32, key: impl Fn(&T) -> u64) {
    const MAX_DIGIT: u32 = 11;
    if items.len() < 2 || bits == 0 {
        return;
    }
    let passes = bits.div_ceil(MAX_DIGIT);
    let width = bits.div_ceil(passes);
    let mask = (1u64 << width) - 1;
    // The passes may cover more than `bits` bits; those above must not count.
    let low = u64::MAX >> (u64::BITS - bits);
    let mut scratch = items.to_vec();
    let mut count = vec![0usize; 1 << width];
    for pass in 0..passes {
        let shift = pass * width;
        let digit = |t: &T| (((key(t) & low) >> shift) & mask) as usize;
        // Even passes read `items` and write `scratch`, odd ones the other way round.
        let (from, to): (&[T], &mut [T]) =
            if pass % 2 == 0 { (&*items, &mut scratch[..]) } else { (&scratch[..], &mut *items) };
        count.fill(0);
        for t in from {
            count[digit(t)] += 1;
        }
        let mut at = 0;
        for c in &mut count {
            (*c, at) = (at, at + *c);
        }
        for t in from {
            let d = digit(t);
            to[count[d]] = *t;
            count[d] += 1;
        }
    }
    if passes % 2 == 1 {
        items.copy_from_slice(&scratch);
    }
}

/// Bits needed to hold every value up to `max` (0 for 0).
pub(crate) fn bits_for(max: u64) -> u32 {
    u64::BITS - max.leading_zeros()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{bits_for, sort_by_key};

    proptest! {
        /// Sorting by the low bits is a stable sort by those bits.
        #[test]
        fn sorts_stably_by_the_low_bits(
            items in prop::collection::vec((any::<u64>(), any::<u16>()), 0..3000),
            bits in 0u32..=64,
        ) {
            let low = |x: u64| if bits == 64 { x } else { x & ((1u64 << bits) - 1) };
            let mut want = items.clone();
            want.sort_by_key(|&(k, _)| low(k));
            let mut got = items;
            sort_by_key(&mut got, bits, |&(k, _)| k);
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn bits_at_the_edges() {
        assert_eq!(bits_for(0), 0);
        assert_eq!(bits_for(1), 1);
        assert_eq!(bits_for(2047), 11);
        assert_eq!(bits_for(2048), 12);
        assert_eq!(bits_for(u64::MAX), 64);
    }
}
