//! Seeded randomness: the derivation of independent streams from the configuration seed, cheap
//! hash draws for static attributes, and the bijective decimal scrambles behind person and
//! venue ids.
//!
//! Every random choice of the generator flows from here, keyed by *what* is drawn (a stream
//! label) and *for whom* (a person, venue or shard index), never by the order in which threads
//! happen to run. This module owns no domain knowledge.

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

/// Stream labels: one per kind of draw, so that adding draws to one never shifts another.
pub(crate) mod stream {
    /// The venue table.
    pub const VENUES: u64 = 1;
    /// Household boundaries.
    pub const HOUSEHOLD: u64 = 2;
    /// Household attributes (home, favourite market).
    pub const HOME: u64 = 3;
    /// Person attributes (role, workplace, activity).
    pub const PERSON: u64 = 4;
    /// One shard's visits.
    pub const SHARD: u64 = 5;
    /// Key of the person-id scramble.
    pub const PERSON_ID: u64 = 6;
    /// Key of the venue-number scramble.
    pub const VENUE_ID: u64 = 7;
    /// The sample cases register.
    pub const CASES: u64 = 8;
}

/// SplitMix64 finaliser: a cheap, well-mixed bijection of `u64`.
#[inline]
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A 64-bit key for (`seed`, `stream`, `index`).
#[inline]
pub(crate) fn key(seed: u64, stream: u64, index: u64) -> u64 {
    mix(mix(seed ^ stream.wrapping_mul(0xA24B_AED4_963E_E407)) ^ index)
}

/// The generator of one stream (the hot loops use it: PCG with a 128-bit multiply).
pub(crate) fn rng(seed: u64, stream: u64, index: u64) -> Pcg64Mcg {
    Pcg64Mcg::seed_from_u64(key(seed, stream, index))
}

/// A short SplitMix64 sequence: a handful of independent draws for one person or household,
/// cheaper to start than a PCG generator (static attributes are re-derived every day).
pub(crate) struct Draws(u64);

impl Draws {
    /// The draws of (`seed`, `stream`, `index`).
    pub(crate) fn new(seed: u64, stream: u64, index: u64) -> Draws {
        Draws(key(seed, stream, index))
    }

    /// The next raw 64 bits.
    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A uniform draw in `[0, 1)`.
    #[inline]
    pub(crate) fn unit(&mut self) -> f64 {
        unit(self.next_u64())
    }
}

/// The top 53 bits of `x` as a uniform `f64` in `[0, 1)`.
#[inline]
pub(crate) fn unit(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A keyed permutation of `0..half²` (a four-round Feistel network over the pair
/// `(x / half, x % half)`; each round is a bijection, so the whole is one and needs no cycle
/// walking). With `half = 10⁴` it scrambles 8-digit numbers, with `10³` 6-digit ones.
pub(crate) fn scramble(x: u64, half: u64, key: u64) -> u64 {
    debug_assert!(x < half * half);
    let (mut l, mut r) = (x / half, x % half);
    for round in 0..4u64 {
        let f = mix(key ^ (round << 56) ^ r) % half;
        (l, r) = (r, (l + f) % half);
    }
    l * half + r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scramble_is_a_permutation() {
        let half = 100;
        let mut seen = vec![false; (half * half) as usize];
        for x in 0..half * half {
            let y = scramble(x, half, 12345);
            assert!(!seen[y as usize], "{x} collides");
            seen[y as usize] = true;
        }
        // Not the identity and not a shift: neighbours land far apart.
        let jumps = (0..100).filter(|&x| scramble(x + 1, half, 1).abs_diff(scramble(x, half, 1)) > 50).count();
        assert!(jumps > 80, "{jumps}");
    }

    #[test]
    fn draws_are_uniform_enough() {
        let mut d = Draws::new(1, 2, 3);
        let n = 10_000;
        let mean = (0..n).map(|_| d.unit()).sum::<f64>() / n as f64;
        assert!((0.48..0.52).contains(&mean), "{mean}");
    }
}
