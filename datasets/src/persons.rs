//! The synthetic population: person ids, households, home provinces, roles (office, factory
//! or hospital worker, student, delivery rider, at home) and regular venues (workplace or school,
//! the household's favourite market).
//!
//! Nothing is stored per person: every attribute is a pure function of (seed, person index)
//! and is re-derived whenever a shard needs it, so memory does not grow with the population and
//! any shard can be generated alone, on any thread.
//!
//! # Algorithm
//! 1. Households are runs of consecutive person indices. Index `q` starts a household if
//!    `q % 6 == 0` or a hash of `q` falls below [`HOUSEHOLD_START`]; sizes are 1–6, mean ≈ 3.4
//!    (Vietnam's 2019 census: 3.5). Finding `p`'s household looks at most 5 indices each way.
//! 2. A household's first index keys its home province and favourite market, so members share
//!    them.
//! 3. A person's own index keys its role and workplace or school (usually in the home province).
//!
//! # Performance
//! O(1) per person and day: about a dozen SplitMix64 draws and two venue look-ups.

use crate::category::{FACTORY, HOSPITAL, MARKET, OFFICE, SCHOOL};
use crate::seed::{self, Draws, stream};
use crate::venues::{self, Venues};

/// Largest household.
const MAX_HOUSEHOLD: u64 = 6;
/// Probability that an index not aligned on [`MAX_HOUSEHOLD`] starts a household.
const HOUSEHOLD_START: f64 = 0.15;

/// Population shares of the roles; the rest stay at home (young children, the elderly, the
/// unemployed and those working from home).
pub(crate) const STUDENTS: f64 = 0.18;
pub(crate) const OFFICE_WORKERS: f64 = 0.27;
pub(crate) const FACTORY_WORKERS: f64 = 0.18;
pub(crate) const HOSPITAL_WORKERS: f64 = 0.03;
pub(crate) const SHIPPERS: f64 = 0.015;
/// Share of factory and hospital workers on the night shift (their visits cross midnight).
const NIGHT_SHIFT: f64 = 0.2;

/// What a person does on a working day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Role {
    /// Goes to `place` (office, factory or hospital); night shifts start around 22:00.
    Worker { place: u32, night: bool },
    /// Goes to `school`.
    Student { school: u32 },
    /// A delivery rider: many short scans at shops and eateries.
    Shipper,
    /// No regular place.
    Home,
}

/// A person's static attributes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Person {
    /// The id as a number: the low 8 digits follow `09`, a higher part is appended.
    pub phone: u64,
    /// First index and size of the household.
    pub household: (u64, u64),
    /// Home province (index into [`venues::PROVINCES`]).
    pub province: usize,
    /// The household's favourite market.
    pub market: Option<u32>,
    pub role: Role,
    /// Multiplier of the person's errand rate (mean 1).
    pub activity: f64,
}

/// Derives persons for one seed and venue table.
pub(crate) struct Population<'a> {
    seed: u64,
    people: u64,
    venues: &'a Venues,
    provinces: [f64; 8],
    id_key: u64,
}

impl<'a> Population<'a> {
    pub(crate) fn new(seed: u64, people: u64, venues: &'a Venues) -> Self {
        let id_key = seed::key(seed, stream::PERSON_ID, 0);
        Population { seed, people, venues, provinces: venues::province_cdf(), id_key }
    }

    fn starts_household(&self, q: u64) -> bool {
        q.is_multiple_of(MAX_HOUSEHOLD) || seed::unit(seed::key(self.seed, stream::HOUSEHOLD, q)) < HOUSEHOLD_START
    }

    /// First index and size of `p`'s household.
    pub(crate) fn household(&self, p: u64) -> (u64, u64) {
        let mut start = p;
        while !self.starts_household(start) {
            start -= 1;
        }
        let mut end = p + 1;
        while end < self.people && !self.starts_household(end) {
            end += 1;
        }
        (start, end - start)
    }

    /// The phone number of person `p`: `09` then a keyed permutation of `p mod 10⁸`.
    #[inline]
    pub(crate) fn phone(&self, p: u64) -> u64 {
        const M: u64 = 100_000_000;
        seed::scramble(p % M, 10_000, self.id_key) + p / M * M
    }

    /// Person `p`'s attributes.
    pub(crate) fn person(&self, p: u64) -> Person {
        let household = self.household(p);
        let mut home = Draws::new(self.seed, stream::HOME, household.0);
        let province = venues::pick_province(&self.provinces, home.unit());
        let market = self.venues.popular(province, MARKET, home.unit());
        let mut d = Draws::new(self.seed, stream::PERSON, p);
        // Most work in their home province; one in ten commutes or works elsewhere.
        let work_province = if d.unit() < 0.9 { province } else { venues::pick_province(&self.provinces, d.unit()) };
        let mut u = d.unit();
        let mut take = |share: f64| {
            u -= share;
            u < 0.0
        };
        let worker = |category, d: &mut Draws| {
            let night = category != OFFICE && d.unit() < NIGHT_SHIFT;
            self.venues
                .uniform(work_province, category, d.unit())
                .map_or(Role::Home, |place| Role::Worker { place, night })
        };
        let role = if take(STUDENTS) {
            self.venues.uniform(province, SCHOOL, d.unit()).map_or(Role::Home, |school| Role::Student { school })
        } else if take(OFFICE_WORKERS) {
            worker(OFFICE, &mut d)
        } else if take(FACTORY_WORKERS) {
            worker(FACTORY, &mut d)
        } else if take(HOSPITAL_WORKERS) {
            worker(HOSPITAL, &mut d)
        } else if take(SHIPPERS) {
            Role::Shipper
        } else {
            Role::Home
        };
        Person { phone: self.phone(p), household, province, market, role, activity: 0.4 + 1.2 * d.unit() }
    }

    /// Another member of `person`'s household than `p`, chosen by `r`; `None` if they live
    /// alone.
    pub(crate) fn housemate(person: &Person, p: u64, r: u64) -> Option<u64> {
        let (start, size) = person.household;
        (size > 1).then(|| start + (p - start + 1 + r % (size - 1)) % size)
    }
}

/// Share of the population that is in a household of more than one person (used to calibrate
/// the visit rate; measured from the rule in the module docs).
pub(crate) const SHARED_HOUSEHOLDS: f64 = 0.935;

/// Append the textual id of phone number `phone` (see [`Population::phone`]) to `out`.
#[inline]
pub(crate) fn push_person_id(out: &mut Vec<u8>, phone: u64) {
    let low = phone % 100_000_000;
    let (hi, lo) = ((low / 10_000) as usize, (low % 10_000) as usize);
    let d = DIGIT_PAIRS.as_bytes();
    out.extend_from_slice(&[
        b'0',
        b'9',
        d[hi / 100 * 2],
        d[hi / 100 * 2 + 1],
        d[hi % 100 * 2],
        d[hi % 100 * 2 + 1],
        d[lo / 100 * 2],
        d[lo / 100 * 2 + 1],
        d[lo % 100 * 2],
        d[lo % 100 * 2 + 1],
    ]);
    if phone >= 100_000_000 {
        out.extend_from_slice((phone / 100_000_000).to_string().as_bytes());
    }
}

/// "00" through "99", for two digits per look-up.
pub(crate) const DIGIT_PAIRS: &str = "00010203040506070809101112131415161718192021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859606162636465666768697071727374757677787980818283848586878889\
    90919293949596979899";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_ids_are_unique_and_phone_shaped() {
        let venues = Venues::new(1, 100);
        let pop = Population::new(42, 300_000, &venues);
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for p in (0..200_000).chain([100_000_000, 100_000_001, 250_000_007]) {
            out.clear();
            push_person_id(&mut out, pop.phone(p));
            assert!(out.starts_with(b"09") && out.iter().all(u8::is_ascii_digit), "{out:?}");
            assert!(out.len() == 10 || p >= 100_000_000);
            assert!(seen.insert(out.clone()));
        }
        // Not sequential.
        let (a, b) = (pop.phone(10), pop.phone(11));
        assert!(a.abs_diff(b) > 1_000, "{a} {b}");
    }

    #[test]
    fn households_are_consistent_and_sized_one_to_six() {
        let venues = Venues::new(1, 500);
        let pop = Population::new(3, 10_000, &venues);
        let mut sizes = [0u64; 7];
        let mut p = 0;
        let mut shared = 0;
        while p < 10_000 {
            let (start, size) = pop.household(p);
            assert_eq!(start, p);
            assert!((1..=6).contains(&size), "{size}");
            sizes[size as usize] += 1;
            let first = pop.person(p);
            for q in p..p + size {
                let other = pop.person(q);
                assert_eq!(other.household, (start, size));
                assert_eq!((other.province, other.market), (first.province, first.market));
                let mate =
                    Population::housemate(&other, q, q * 7).map(|m| m != q && (start..start + size).contains(&m));
                assert_eq!(mate, (size > 1).then_some(true));
            }
            shared += if size > 1 { size } else { 0 };
            p += size;
        }
        let households: u64 = sizes.iter().sum();
        let mean = 10_000.0 / households as f64;
        assert!((3.0..4.0).contains(&mean), "mean household {mean}, {sizes:?}");
        let shared = shared as f64 / 10_000.0;
        assert!((SHARED_HOUSEHOLDS - 0.03..SHARED_HOUSEHOLDS + 0.03).contains(&shared), "{shared}");
    }

    #[test]
    fn roles_follow_their_shares() {
        let venues = Venues::new(1, 2_000);
        let pop = Population::new(5, 20_000, &venues);
        let roles: Vec<Role> = (0..20_000).map(|p| pop.person(p).role).collect();
        let share = |f: fn(&Role) -> bool| roles.iter().filter(|r| f(r)).count() as f64 / 20_000.0;
        assert!((0.16..0.20).contains(&share(|r| matches!(r, Role::Student { .. }))));
        assert!((0.45..0.51).contains(&share(|r| matches!(r, Role::Worker { .. }))));
        assert!((0.005..0.03).contains(&share(|r| matches!(r, Role::Shipper))));
        assert!(share(|r| matches!(r, Role::Worker { night: true, .. })) > 0.02);
    }
}
