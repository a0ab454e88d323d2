//! The key sets of the trace index (format 3): which person or venue keys a part holds, and each
//! key's dense slot (its rank among them), answered in place from the mapped file.
//!
//! A lookup reads one or two cache lines of the map and checks only their pages, so a process
//! pays for the keys it asks about, not for every key of every part it opens (format 2 decoded a
//! whole roaring bitmap into the heap on first use).
//!
//! # Section (little-endian, 8-byte aligned)
//! A set is written in whichever of two layouts is smaller:
//! - **bits** (`kind = 1`): `kind u32, len u32, words u32, 0 u32`, then `words` `u64` bit words
//!   (bit `k % 64` of word `k / 64` is set when key `k` is present), then `words / 8 + 1` `u32`
//!   rank samples, the number of keys before each 8-word block (the last one is `len`). A slot
//!   is a sample plus at most eight popcounts within one 64-byte block.
//! - **sorted** (`kind = 2`): `kind u32, len u32, shift u32, buckets u32`, then `buckets + 1`
//!   `u32` bucket starts (the position of the first key `>= b << shift`), then the `len` keys
//!   ascending. The shift leaves about eight keys per bucket, so a slot is a bucket read and a
//!   binary search over a few adjacent keys.
//!
//! Dense parts (most persons or venues of the store present) take the bits; a small late batch
//! takes the sorted keys.
//!
//! # Trust
//! Every read checks its pages and its bounds; a slot found outside `0..len` is an error.
//! [`KeySet::verify`] checks the whole structure (samples against popcounts, keys ascending and
//! in their buckets).

use std::io::Write;
use std::ops::Range;

use super::bytes::{U32s, U64s, read_u32};
use super::paged::PageSums;

const BITS: u32 = 1;
const SORTED: u32 = 2;
/// 64-bit words per rank sample.
const BLOCK: usize = 8;
/// Keys per bucket aimed at by the sorted layout.
const PER_BUCKET: usize = 8;

/// Write the ascending, distinct `keys` in the smaller layout.
pub(crate) fn write(w: &mut impl Write, keys: &[u32]) -> std::io::Result<()> {
    let mut out = Vec::new();
    encode(&mut out, keys);
    w.write_all(&out)
}

fn encode(out: &mut Vec<u8>, keys: &[u32]) {
    let len = keys.len() as u32;
    let max = keys.last().map_or(0, |&k| k as usize);
    let words = if keys.is_empty() { 0 } else { max / 64 + 1 };
    let bits_size = 16 + words * 8 + (words / BLOCK + 1) * 4;
    let shift = sorted_shift(keys.len(), max);
    let buckets = if keys.is_empty() { 0 } else { (max >> shift) + 1 };
    let sorted_size = 16 + (buckets + 1) * 4 + keys.len() * 4;
    let put = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_le_bytes());
    if bits_size <= sorted_size {
        for v in [BITS, len, words as u32, 0] {
            put(out, v);
        }
        let mut bits = vec![0u64; words];
        for &k in keys {
            bits[k as usize / 64] |= 1 << (k % 64);
        }
        for w in &bits {
            out.extend_from_slice(&w.to_le_bytes());
        }
        let mut before = 0u32;
        for block in bits.chunks(BLOCK) {
            put(out, before);
            before += block.iter().map(|w| w.count_ones()).sum::<u32>();
        }
        // `words / 8 + 1` samples: a full last block is followed by `len`.
        if words.is_multiple_of(BLOCK) {
            put(out, before);
        }
    } else {
        for v in [SORTED, len, shift, buckets as u32] {
            put(out, v);
        }
        let mut at = 0usize;
        for b in 0..=buckets {
            while at < keys.len() && ((keys[at] as usize) >> shift) < b {
                at += 1;
            }
            put(out, at as u32);
        }
        for &k in keys {
            put(out, k);
        }
    }
}

/// The shift that leaves about [`PER_BUCKET`] of `n` keys up to `max` in a bucket.
fn sorted_shift(n: usize, max: usize) -> u32 {
    let span = (max + 1).next_power_of_two().trailing_zeros();
    let buckets = (n / PER_BUCKET).max(1).next_power_of_two().trailing_zeros();
    span.saturating_sub(buckets)
}

/// A key set inside a mapped file; see the module documentation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeySet {
    Bits { len: usize, words: U64s, samples: U32s },
    Sorted { len: usize, shift: u32, starts: U32s, keys: U32s },
}

impl KeySet {
    /// Locate the set in bytes `range` of `map` from its first 16 bytes (their pages checked by
    /// the caller), every array within the range.
    pub(crate) fn open(map: &[u8], range: Range<usize>) -> Result<KeySet, String> {
        let head = map.get(range.start..range.start + 16).filter(|_| range.len() >= 16).ok_or("key set header")?;
        let (kind, len) = (read_u32(head, 0).unwrap_or(0), read_u32(head, 4).unwrap_or(0) as usize);
        let (a, b) = (read_u32(head, 8).unwrap_or(0) as usize, read_u32(head, 12).unwrap_or(0));
        let body = range.start + 16;
        let fits = |bytes: usize| body.checked_add(bytes).filter(|&end| end <= range.end);
        match kind {
            BITS if b == 0 => {
                let samples = a / BLOCK + 1;
                let end = fits(a * 8 + samples * 4).ok_or("key set bits beyond its section")?;
                Ok(KeySet::Bits {
                    len,
                    words: U64s::new(map.len(), body..body + a * 8).ok_or("key set words")?,
                    samples: U32s::new(map.len(), body + a * 8..end).ok_or("key set samples")?,
                })
            }
            SORTED if a <= 32 => {
                let starts = (b as usize + 1) * 4;
                let end = fits(starts + len * 4).ok_or("key set keys beyond its section")?;
                Ok(KeySet::Sorted {
                    len,
                    shift: a as u32,
                    starts: U32s::new(map.len(), body..body + starts).ok_or("key set starts")?,
                    keys: U32s::new(map.len(), body + starts..end).ok_or("key set keys")?,
                })
            }
            _ => Err(format!("key set of unknown kind {kind}")),
        }
    }

    /// The bytes of the set's arrays.
    pub(crate) fn byte_range(&self) -> Range<usize> {
        match self {
            KeySet::Bits { words, samples, .. } => words.bytes_of(0..0).start..samples.byte_range().end,
            KeySet::Sorted { starts, keys, .. } => starts.byte_range().start..keys.byte_range().end,
        }
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        match *self {
            KeySet::Bits { len, .. } | KeySet::Sorted { len, .. } => len,
        }
    }

    /// The slot of `key` (its rank among the keys), `None` when absent; only the pages read are
    /// checked.
    #[inline]
    pub(crate) fn slot(&self, map: &[u8], sums: &PageSums, key: u32) -> Result<Option<usize>, String> {
        let slot = match *self {
            KeySet::Bits { words, samples, .. } => {
                let w = key as usize / 64;
                if w >= words.len() {
                    return Ok(None);
                }
                sums.ensure(map, words.bytes_of(w..w + 1))?;
                let word = words.get(map, w);
                let bit = key % 64;
                if word >> bit & 1 == 0 {
                    return Ok(None);
                }
                let block = w / BLOCK;
                sums.ensure(map, words.bytes_of(block * BLOCK..w))?;
                sums.ensure(map, samples.bytes_of(block..block + 1))?;
                let below = (block * BLOCK..w).map(|i| words.get(map, i).count_ones()).sum::<u32>()
                    + (word & ((1u64 << bit) - 1)).count_ones();
                samples.get(map, block) as usize + below as usize
            }
            KeySet::Sorted { shift, starts, keys, .. } => {
                let b = (u64::from(key) >> shift) as usize;
                if b + 1 >= starts.len() {
                    return Ok(None);
                }
                sums.ensure(map, starts.bytes_of(b..b + 2))?;
                let (lo, hi) = (starts.get(map, b) as usize, starts.get(map, b + 1) as usize);
                if lo > hi || hi > keys.len() {
                    return Err(format!("key bucket {b} holds keys {lo}..{hi} of {}", keys.len()));
                }
                sums.ensure(map, keys.bytes_of(lo..hi))?;
                let at = lo + super::index::partition_point(hi - lo, |i| keys.get(map, lo + i) < key);
                if at == hi || keys.get(map, at) != key {
                    return Ok(None);
                }
                at
            }
        };
        if slot >= self.len() {
            return Err(format!("key {key} has slot {slot} of {}", self.len()));
        }
        Ok(Some(slot))
    }

    /// Where in the map a [`KeySet::slot`] of `key` reads first (for
    /// [`prefetch`](super::bytes::prefetch)).
    #[inline]
    pub(crate) fn probe_at(&self, key: u32) -> usize {
        match *self {
            KeySet::Bits { words, .. } => words.bytes_of(key as usize / 64..key as usize / 64 + 1).start,
            KeySet::Sorted { shift, starts, .. } => {
                let b = (u64::from(key) >> shift) as usize;
                starts.bytes_of(b..b + 1).start
            }
        }
    }

    /// Every key, ascending (pages checked first).
    pub(crate) fn keys(&self, map: &[u8], sums: &PageSums) -> Result<Vec<u32>, String> {
        let mut out = Vec::with_capacity(self.len());
        match *self {
            KeySet::Bits { words, .. } => {
                sums.ensure(map, words.bytes_of(0..words.len()))?;
                for w in 0..words.len() {
                    let mut bits = words.get(map, w);
                    while bits != 0 {
                        out.push((w * 64) as u32 + bits.trailing_zeros());
                        bits &= bits - 1;
                    }
                }
            }
            KeySet::Sorted { keys, .. } => {
                sums.ensure(map, keys.byte_range())?;
                out.extend((0..keys.len()).map(|i| keys.get(map, i)));
            }
        }
        if out.len() != self.len() {
            return Err(format!("key set holds {} keys, its header says {}", out.len(), self.len()));
        }
        Ok(out)
    }

    /// Check the whole structure: the rank samples against the bits, or the keys ascending and
    /// each in its bucket; and `len` keys in all.
    pub(crate) fn verify(&self, map: &[u8], sums: &PageSums) -> Result<(), String> {
        let keys = self.keys(map, sums)?;
        match *self {
            KeySet::Bits { words, samples, .. } => {
                sums.ensure(map, samples.byte_range())?;
                let mut before = 0usize;
                for s in 0..samples.len() {
                    if samples.get(map, s) as usize != before {
                        return Err(format!("key rank sample {s} is {}, not {before}", samples.get(map, s)));
                    }
                    let block = s * BLOCK..((s + 1) * BLOCK).min(words.len());
                    before += block.map(|w| words.get(map, w).count_ones() as usize).sum::<usize>();
                }
            }
            KeySet::Sorted { shift, starts, .. } => {
                sums.ensure(map, starts.byte_range())?;
                if keys.windows(2).any(|w| w[0] >= w[1]) {
                    return Err("key set keys are not ascending".into());
                }
                let mut at = 0usize;
                for b in 0..starts.len() {
                    while at < keys.len() && ((keys[at] as usize) >> shift) < b {
                        at += 1;
                    }
                    if starts.get(map, b) as usize != at {
                        return Err(format!("key bucket {b} starts at {}, not {at}", starts.get(map, b)));
                    }
                }
                if at != keys.len() {
                    return Err("key set keys lie beyond its buckets".into());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(keys: &[u32]) {
        let mut bytes = Vec::new();
        encode(&mut bytes, keys);
        while !bytes.len().is_multiple_of(8) {
            bytes.push(0);
        }
        let map = crate::store::bytes::map_bytes(&bytes).unwrap();
        let sums = PageSums::none();
        let set = KeySet::open(&map, 0..bytes.len()).unwrap();
        set.verify(&map, &sums).unwrap();
        assert_eq!(set.keys(&map, &sums).unwrap(), keys);
        let max = keys.last().copied().unwrap_or(0);
        for (slot, &k) in keys.iter().enumerate() {
            assert_eq!(set.slot(&map, &sums, k).unwrap(), Some(slot), "key {k}");
        }
        for probe in [0, 1, 63, 64, 65, 511, 512, max.saturating_add(1), max.saturating_add(64), u32::MAX] {
            let want = keys.binary_search(&probe).ok();
            assert_eq!(set.slot(&map, &sums, probe).unwrap(), want, "probe {probe}");
        }
    }

    #[test]
    fn layouts_round_trip() {
        roundtrip(&[]);
        roundtrip(&[0]);
        roundtrip(&[u32::MAX]);
        roundtrip(&(0..1000).collect::<Vec<_>>());
        roundtrip(&(0..1000).map(|i| i * 5_000).collect::<Vec<_>>());
        roundtrip(&[3, 64, 511, 512, 4_000_000_000]);
    }

    #[test]
    fn dense_sets_take_bits_and_sparse_ones_sorted_keys() {
        let kind = |keys: &[u32]| {
            let mut b = Vec::new();
            encode(&mut b, keys);
            read_u32(&b, 0).unwrap()
        };
        assert_eq!(kind(&(0..10_000).step_by(3).collect::<Vec<_>>()), BITS);
        assert_eq!(kind(&(0..100).map(|i| i * 100_000).collect::<Vec<_>>()), SORTED);
    }

    proptest! {
        #[test]
        fn any_set_round_trips(mut keys in prop::collection::vec(prop_oneof![0u32..5_000, any::<u32>()], 0..600)) {
            keys.sort_unstable();
            keys.dedup();
            roundtrip(&keys);
        }
    }
}
