//! The interner's hash table: ids to keys, open addressing with linear probing.
//!
//! A slot holds the key and, for an id short enough, the id itself, so that finding a known id
//! reads one slot and nothing else: one cache line, where a table with a separate array of
//! control bytes reads two. A long id's slot holds its hash instead, and the id is compared in
//! the arena only when the hashes agree.
//!
//! Ingest looks up every row's two ids; with millions of persons the table is far larger than
//! the caches, so nearly every lookup misses. [`IdTable::touch`] loads the home slots of a group
//! of ids before they are looked up: the misses of a group overlap instead of following one
//! another.

use std::hash::BuildHasher;

use hashbrown::DefaultHashBuilder;
use memmap2::MmapMut;

use super::bytes::prefetch;

/// The length byte of a slot whose id is too long to keep in it.
const LONG: u8 = u8::MAX;

/// A slot: the key, and the id when it is short (`short[..len]`, `len = short[N - 1] < N`), or
/// the id's hash in `short[..8]` and `LONG` in `short[N - 1]`.
#[derive(Debug, Clone, Copy)]
struct Slot<const N: usize> {
    key: u32,
    short: [u8; N],
}

impl<const N: usize> Slot<N> {
    const LEN_AT: usize = N - 1;

    fn new(key: u32, id: &[u8], hash: u64) -> Slot<N> {
        const { assert!(N > 8, "a slot keeps a long id's 8-byte hash") };
        let mut short = [0u8; N];
        if id.len() <= Self::LEN_AT {
            short[..id.len()].copy_from_slice(id);
            short[Self::LEN_AT] = id.len() as u8;
        } else {
            short[..8].copy_from_slice(&hash.to_le_bytes());
            short[Self::LEN_AT] = LONG;
        }
        Slot { key, short }
    }

    /// Whether this slot holds `id`, whose slot bytes are `probe` (see [`Slot::new`]): one
    /// comparison of fixed size, then, for a long id whose hash agrees, the id in the arena
    /// (`long`).
    #[inline]
    fn holds<'a>(&self, probe: &[u8; N], id: &[u8], long: impl FnOnce(u32) -> &'a [u8]) -> bool {
        self.short == *probe && (probe[Self::LEN_AT] != LONG || long(self.key) == id)
    }
}

/// The slots, in an anonymous map that the kernel is asked to back with huge pages: the table of
/// 5 M persons is 128 MiB, and with 4 KiB pages nearly every lookup would miss the TLB as well as
/// the cache. A slot is the key plus one (0: vacant, as the map starts out) and `N` bytes of id
/// or hash, little-endian.
#[derive(Debug, Default)]
struct Slots<const N: usize> {
    map: Option<MmapMut>,
    count: usize,
}

impl<const N: usize> Slots<N> {
    const SIZE: usize = 4 + N;

    fn new(count: usize) -> Slots<N> {
        let map = MmapMut::map_anon(count * Self::SIZE).expect("memory for the interner's table");
        #[cfg(target_os = "linux")]
        // Advice only: without transparent huge pages the table works the same, slower.
        let _ = map.advise(memmap2::Advice::HugePage);
        Slots { map: Some(map), count }
    }

    fn bytes(&self, i: usize) -> &[u8] {
        let map = self.map.as_deref().expect("a table with slots has a map");
        &map[i * Self::SIZE..(i + 1) * Self::SIZE]
    }

    fn key(&self, i: usize) -> Option<u32> {
        let stored = u32::from_le_bytes(self.bytes(i)[..4].try_into().expect("4 bytes"));
        stored.checked_sub(1)
    }

    fn get(&self, i: usize) -> Option<Slot<N>> {
        Some(Slot { key: self.key(i)?, short: self.bytes(i)[4..].try_into().expect("N bytes") })
    }

    fn set(&mut self, i: usize, slot: &Slot<N>) {
        let map = self.map.as_deref_mut().expect("a table with slots has a map");
        let bytes = &mut map[i * Self::SIZE..(i + 1) * Self::SIZE];
        bytes[..4].copy_from_slice(&(slot.key + 1).to_le_bytes());
        bytes[4..].copy_from_slice(&slot.short);
    }
}

/// Ids to keys. The arena that holds the ids is the caller's: lookups of long ids take a
/// function from key to id.
#[derive(Debug, Default)]
pub(crate) struct IdTable<const N: usize> {
    /// A power of two many, or none.
    slots: Slots<N>,
    len: usize,
    hasher: DefaultHashBuilder,
}

/// Ids in a group whose home slots are loaded together (see [`IdTable::touch`]).
pub(crate) const GROUP: usize = 16;

impl<const N: usize> IdTable<N> {
    /// A table that holds `n` ids without growing.
    pub(crate) fn with_capacity(n: usize) -> IdTable<N> {
        let mut table = IdTable::default();
        table.resize(Self::slots_for(n));
        table
    }

    /// Slots for `n` ids: at most three quarters full.
    fn slots_for(n: usize) -> usize {
        (n + n / 3 + 1).next_power_of_two().max(16)
    }

    pub(crate) fn hash(&self, id: &[u8]) -> u64 {
        self.hasher.hash_one(id)
    }

    fn home(&self, hash: u64) -> usize {
        hash as usize & (self.slots.count - 1)
    }

    /// Load the home slot of each hash, so that the cache misses of a group overlap; the lookups
    /// that follow then find their slots in the cache.
    pub(crate) fn touch(&self, hashes: &[u64]) {
        if self.slots.count == 0 {
            return;
        }
        prefetch(hashes.iter().map(|&h| (self.slots.bytes(self.home(h)), 0)));
    }

    /// The slot holding `id`, or the vacant slot where it would go.
    fn probe<'a>(&self, id: &[u8], hash: u64, long: impl Fn(u32) -> &'a [u8]) -> Result<u32, usize> {
        let probe = Slot::<N>::new(0, id, hash).short;
        let mask = self.slots.count - 1;
        let mut i = self.home(hash);
        loop {
            let Some(slot) = self.slots.get(i) else { return Err(i) };
            if slot.holds(&probe, id, &long) {
                return Ok(slot.key);
            }
            i = (i + 1) & mask;
        }
    }

    /// The key of `id`.
    pub(crate) fn get<'a>(&self, id: &[u8], hash: u64, long: impl Fn(u32) -> &'a [u8]) -> Option<u32> {
        if self.slots.count == 0 {
            return None;
        }
        self.probe(id, hash, long).ok()
    }

    /// The key of `id`, or `key` for it if it is new (then `true`).
    pub(crate) fn get_or_insert<'a>(
        &mut self,
        id: &[u8],
        hash: u64,
        key: u32,
        long: impl Fn(u32) -> &'a [u8],
    ) -> (u32, bool) {
        assert!(key < u32::MAX, "an interner holds fewer than {} ids", u32::MAX);
        if (self.len + 1) * 4 > self.slots.count * 3 {
            self.resize(Self::slots_for(self.len + 1).max(self.slots.count * 2));
        }
        match self.probe(id, hash, long) {
            Ok(found) => (found, false),
            Err(at) => {
                self.slots.set(at, &Slot::new(key, id, hash));
                self.len += 1;
                (key, true)
            }
        }
    }

    fn resize(&mut self, count: usize) {
        let old = std::mem::replace(&mut self.slots, Slots::new(count));
        let mask = count - 1;
        for slot in (0..old.count).filter_map(|i| old.get(i)) {
            let hash = match slot.short[Slot::<N>::LEN_AT] {
                LONG => u64::from_le_bytes(slot.short[..8].try_into().expect("8 bytes")),
                n => self.hash(&slot.short[..usize::from(n)]),
            };
            let mut i = self.home(hash);
            while self.slots.key(i).is_some() {
                i = (i + 1) & mask;
            }
            self.slots.set(i, &slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids short and long, hashes colliding in their home slot (a table of 16 slots), growth
    /// past several sizes: every id finds the key it was given, and no other id finds one.
    #[test]
    fn every_id_finds_its_key_through_collisions_and_growth() {
        let ids: Vec<String> = (0..5000)
            .map(|i| match i % 3 {
                0 => format!("{i}"),
                1 => format!("09{i:08}"),
                _ => format!("QR-VN-a-long-venue-name-{i:06}"),
            })
            .collect();
        let mut table: IdTable<12> = IdTable::default();
        let long = |k: u32| ids[k as usize].as_bytes();
        for (k, id) in ids.iter().enumerate() {
            let h = table.hash(id.as_bytes());
            assert_eq!(table.get_or_insert(id.as_bytes(), h, k as u32, long), (k as u32, true));
            let again = table.get_or_insert(id.as_bytes(), h, 999_999, long);
            assert_eq!(again, (k as u32, false));
        }
        assert_eq!(table.len, ids.len());
        assert!(table.slots.count >= ids.len() * 4 / 3);
        for (k, id) in ids.iter().enumerate() {
            assert_eq!(table.get(id.as_bytes(), table.hash(id.as_bytes()), long), Some(k as u32));
        }
        for absent in ["", "5000", "0900005000", "QR-VN-a-long-venue-name-005000", "QR-VN-a-long-venue-name-00500"] {
            assert_eq!(table.get(absent.as_bytes(), table.hash(absent.as_bytes()), long), None, "{absent}");
        }
        let sized: IdTable<12> = IdTable::with_capacity(ids.len());
        assert_eq!(sized.slots.count, IdTable::<12>::slots_for(ids.len()));
        assert_eq!(IdTable::<12>::default().get(b"x", 0, long), None);
    }

    /// A long id's slot is matched by its hash and then by the id in the arena.
    #[test]
    fn a_long_id_is_compared_in_the_arena_when_the_hashes_agree() {
        let holds = |slot: &Slot<12>, id: &[u8], hash: u64, long: &dyn Fn(u32) -> &'static [u8]| {
            slot.holds(&Slot::<12>::new(0, id, hash).short, id, long)
        };
        let slot = Slot::<12>::new(7, b"QR-VN-long-id-1", 42);
        let arena = |k: u32| -> &'static [u8] {
            assert_eq!(k, 7);
            b"QR-VN-long-id-1"
        };
        assert!(holds(&slot, b"QR-VN-long-id-1", 42, &arena));
        assert!(!holds(&slot, b"QR-VN-long-id-2", 42, &arena));
        assert!(!holds(&slot, b"QR-VN-long-id-1", 43, &|_| unreachable!("hashes differ")));
        assert!(!holds(&slot, b"short", 42, &|_| unreachable!("a short id is never long")));
        // 11 bytes fit a 12-byte slot; 12 do not, and their first 8 bytes are not a hash.
        let short = Slot::<12>::new(3, b"09123456789", 1);
        assert!(holds(&short, b"09123456789", 99, &|_| unreachable!("kept in the slot")));
        assert!(!holds(&short, b"0912345678", 1, &|_| unreachable!("kept in the slot")));
        assert!(!holds(&short, b"091234567890", 1, &|_| unreachable!("kept in the slot")));
        assert!(!holds(&short, b"", 1, &|_| unreachable!("kept in the slot")));
    }
}
