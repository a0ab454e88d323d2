//! One shard's check-ins: the visits of a block of persons on one day, as [`Row`]s sorted by
//! check-in time. Owns the daily behaviour (work, school, errands, household shopping trips,
//! night shifts), the QR-system artefacts (missing check-outs, duplicate scans) and the
//! deliberately malformed rows; knows nothing of file formats.
//!
//! # Algorithm
//! For each person of the block, with the shard's own generator:
//! 1. Derive the person ([`Population::person`]).
//! 2. Regular visit: a worker or student whose place is open today goes there (95–97%
//!    attendance, hospitals in shifts) at the category's hour for the category's dwell; night
//!    shifts start 21:30–22:30 and last ~8.5 h, crossing midnight.
//! 3. Errands: a Poisson number (rate calibrated so that the population mean of all rows is
//!    `visits_per_person_per_day`, scaled by the person's activity; delivery riders make many
//!    short ones). Category by the day's weights; venue by popularity in the home province
//!    (the household market half the time, another province 4%); hour by category, moved out
//!    of working hours unless it is a lunch break.
//! 4. A market or supermarket errand brings a housemate along 35% of the time (their check-in
//!    0–5 min later).
//! 5. Every visit loses its check-out with probability 0.4 and is scanned twice (0–120 s
//!    later, no check-out) with probability 0.03; each row is malformed with probability
//!    `dirty_ratio`.
//! 6. A counting sort on the second of the day orders the rows (stable, so deterministic).
//!
//! # Performance
//! O(rows) time and two `Row` buffers (24 bytes a row) for the shard; a row costs a few
//! uniform and normal draws and at most one `exp`.

use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64Mcg;

use crate::category::{self as cat, CAFE, Cat, HOSPITAL, MARKET, PHARMACY, RESTAURANT, SCHOOL, SUPERMARKET};
use crate::persons::{self, Person, Population, Role};
use crate::venues::{self, Venues};

/// How a malformed row is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dirty {
    EmptyPerson,
    EmptyVenue,
    /// An unparsable check-in; the number picks the spelling (CSV only).
    BadTime(u8),
    CheckoutBefore,
    /// One field too many (CSV only).
    ExtraField,
    /// One field too few (CSV only).
    MissingField,
}

/// `Row::stay` of a visit without check-out.
pub(crate) const NO_CHECKOUT: i32 = i32::MIN;

/// One check-in row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    /// The person's phone number ([`persons::push_person_id`] spells it).
    pub phone: u64,
    pub venue: u32,
    /// Seconds after the day's local midnight.
    pub check_in: u32,
    /// `check_out - check_in` in seconds, or [`NO_CHECKOUT`].
    pub stay: i32,
    pub dirty: Option<Dirty>,
}

const MISSING_CHECKOUT: f64 = 0.4;
const DUPLICATE: f64 = 0.03;
const COVISIT: f64 = 0.35;
/// A delivery rider's errands relative to the mean visits per person.
const SHIPPER_FACTOR: f64 = 5.0;
/// Share of errands made outside the home province.
const AWAY: f64 = 0.04;
/// Seconds in a day: check-ins stay below it (see [`cat::LAST_HOUR`]).
const DAY: u32 = 86_400;

/// Probability that a person bound to a place of `category` goes there on `weekday`.
fn attendance(category: Cat, weekday: u32) -> f64 {
    match category {
        _ if !cat::open_on(category, weekday) => 0.0,
        HOSPITAL => 0.7,
        SCHOOL => 0.97,
        _ => 0.95,
    }
}

/// The visits of one day, for any block of persons.
pub(crate) struct DayPlan<'a> {
    pop: &'a Population<'a>,
    venues: &'a Venues,
    weekday: u32,
    errand_mean: f64,
    shipper_mean: f64,
    errands: [f64; 12],
    shipper: [f64; 12],
    provinces: [f64; 8],
    dirty_ratio: f64,
    /// Malformation kinds to draw from: 5 in CSV, 3 in Parquet (no bad text, no field count).
    dirty_kinds: u32,
}

impl<'a> DayPlan<'a> {
    /// Plan a day with `weekday` (0 = Monday) aiming at `visits` rows per person.
    pub(crate) fn new(
        pop: &'a Population<'a>,
        venues: &'a Venues,
        weekday: u32,
        visits: f64,
        dirty_ratio: f64,
        csv: bool,
    ) -> Self {
        let weights = if weekday == 6 { &cat::ERRANDS_SUNDAY } else { &cat::ERRANDS_WEEKDAY };
        let errands = cat::cumulative(weights);
        let shopping = (weights[MARKET] + weights[SUPERMARKET]) / weights.iter().sum::<f64>();
        let covisit = shopping * COVISIT * persons::SHARED_HOUSEHOLDS;
        let regular = persons::STUDENTS * attendance(SCHOOL, weekday)
            + persons::OFFICE_WORKERS * attendance(cat::OFFICE, weekday)
            + persons::FACTORY_WORKERS * attendance(cat::FACTORY, weekday)
            + persons::HOSPITAL_WORKERS * attendance(HOSPITAL, weekday);
        let shipper_mean = SHIPPER_FACTOR * visits;
        let s = persons::SHIPPERS;
        let errand_mean =
            ((visits / (1.0 + DUPLICATE) - regular - s * shipper_mean) / ((1.0 - s) * (1.0 + covisit))).max(0.1);
        DayPlan {
            pop,
            venues,
            weekday,
            errand_mean,
            shipper_mean,
            errands,
            shipper: cat::cumulative(&cat::ERRANDS_SHIPPER),
            provinces: venues::province_cdf(),
            dirty_ratio,
            dirty_kinds: if csv { 5 } else { 3 },
        }
    }

    /// Append the rows of persons `lo..hi` to `out`, unsorted.
    pub(crate) fn visits(&self, rng: &mut Pcg64Mcg, lo: u64, hi: u64, out: &mut Vec<Row>) {
        for p in lo..hi {
            let me = self.pop.person(p);
            let busy = self.regular(rng, &me, out);
            let (mean, shipper) = match me.role {
                Role::Shipper => (self.shipper_mean * me.activity, true),
                _ => (self.errand_mean * me.activity, false),
            };
            for _ in 0..poisson(rng, mean) {
                self.errand(rng, p, &me, busy, shipper, out);
            }
        }
    }

    /// The visit to work or school, if any; returns the busy interval.
    fn regular(&self, rng: &mut Pcg64Mcg, me: &Person, out: &mut Vec<Row>) -> Option<(u32, u32)> {
        let (place, night) = match me.role {
            Role::Worker { place, night } => (place, night),
            Role::Student { school } => (school, false),
            Role::Shipper | Role::Home => return None,
        };
        let category = self.venues.category(place);
        if rng.random::<f64>() >= attendance(category, self.weekday) {
            return None;
        }
        let (check_in, stay) = if night {
            let z: f64 = StandardNormal.sample(rng);
            (21 * 3600 + 1800 + rng.random_range(0..3600), ((8.5 + 0.25 * z) * 3600.0) as i32)
        } else {
            (cat::check_in_second(rng, category), cat::dwell_seconds(rng, category))
        };
        self.visit(rng, me.phone, place, check_in, stay, out);
        Some((check_in, check_in.saturating_add_signed(stay)))
    }

    fn errand(
        &self,
        rng: &mut Pcg64Mcg,
        p: u64,
        me: &Person,
        busy: Option<(u32, u32)>,
        shipper: bool,
        out: &mut Vec<Row>,
    ) {
        let category = cat::pick(if shipper { &self.shipper } else { &self.errands }, rng.random::<f64>());
        let u = rng.random::<f64>();
        let venue = match me.market {
            Some(m) if category == MARKET && u < 0.5 => Some(m),
            _ if u > 1.0 - AWAY => self.venues.popular(
                venues::pick_province(&self.provinces, rng.random::<f64>()),
                category,
                rng.random::<f64>(),
            ),
            _ => self.venues.popular(me.province, category, rng.random::<f64>()),
        };
        let Some(venue) = venue else { return };
        let (mut check_in, stay) = if shipper {
            let z: f64 = StandardNormal.sample(rng);
            (rng.random_range(8 * 3600..21 * 3600), (240.0 * (0.5 * z).exp()).max(30.0) as i32)
        } else {
            (cat::check_in_second(rng, category), cat::dwell_seconds(rng, category))
        };
        if let Some((start, end)) = busy
            && check_in + 900 > start
            && check_in < end
        {
            let lunch =
                matches!(category, RESTAURANT | CAFE | PHARMACY) && (11 * 3600..13 * 3600 + 1800).contains(&check_in);
            if end >= DAY {
                // A night shift: run the errand in the afternoon before it.
                check_in = start.saturating_sub(rng.random_range(3600..5 * 3600));
            } else if !lunch {
                check_in = end + rng.random_range(300..7200);
            }
            if check_in > (cat::LAST_HOUR * 3600.0) as u32 {
                return;
            }
        }
        self.visit(rng, me.phone, venue, check_in, stay, out);
        if !shipper
            && (category == MARKET || category == SUPERMARKET)
            && rng.random::<f64>() < COVISIT
            && let Some(mate) = Population::housemate(me, p, rng.random::<u64>())
        {
            let with = check_in + rng.random_range(0..300);
            let stay = (stay + rng.random_range(-120..=120)).max(60);
            self.visit(rng, self.pop.phone(mate), venue, with, stay, out);
        }
    }

    /// One visit: its row, perhaps without check-out, perhaps scanned twice.
    fn visit(&self, rng: &mut Pcg64Mcg, phone: u64, venue: u32, check_in: u32, stay: i32, out: &mut Vec<Row>) {
        let stay = if rng.random::<f64>() < MISSING_CHECKOUT { NO_CHECKOUT } else { stay };
        self.push(rng, Row { phone, venue, check_in, stay, dirty: None }, out);
        if rng.random::<f64>() < DUPLICATE {
            let again = check_in + rng.random_range(0..=120);
            self.push(rng, Row { phone, venue, check_in: again, stay: NO_CHECKOUT, dirty: None }, out);
        }
    }

    fn push(&self, rng: &mut Pcg64Mcg, mut row: Row, out: &mut Vec<Row>) {
        if self.dirty_ratio > 0.0 && rng.random::<f64>() < self.dirty_ratio {
            let dirty = match rng.random_range(0..self.dirty_kinds) {
                0 => Dirty::EmptyPerson,
                1 => Dirty::EmptyVenue,
                2 => Dirty::CheckoutBefore,
                3 => Dirty::BadTime(rng.random_range(0..3)),
                _ if rng.random::<bool>() => Dirty::ExtraField,
                _ => Dirty::MissingField,
            };
            if dirty == Dirty::CheckoutBefore {
                row.stay = -rng.random_range(60..3600);
            }
            row.dirty = Some(dirty);
        }
        out.push(row);
    }
}

/// A Poisson draw (Knuth's product of uniforms; means here are small).
fn poisson(rng: &mut Pcg64Mcg, mean: f64) -> u32 {
    let limit = (-mean).exp();
    let mut k = 0;
    let mut product = rng.random::<f64>();
    while product > limit {
        k += 1;
        product *= rng.random::<f64>();
    }
    k
}

/// Sort `rows` by check-in second, stably, using `scratch` (a counting sort: two passes).
pub(crate) fn sort_by_check_in(rows: &mut Vec<Row>, scratch: &mut Vec<Row>) {
    let mut starts = vec![0u32; DAY as usize + 1];
    for r in rows.iter() {
        starts[r.check_in.min(DAY - 1) as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    scratch.clear();
    scratch.resize(rows.len(), Row { phone: 0, venue: 0, check_in: 0, stay: 0, dirty: None });
    for r in rows.iter() {
        let slot = &mut starts[r.check_in.min(DAY - 1) as usize];
        scratch[*slot as usize] = *r;
        *slot += 1;
    }
    std::mem::swap(rows, scratch);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_stably_and_daily_rhythm() {
        let venues = Venues::new(9, 400);
        let pop = Population::new(9, 3_000, &venues);
        let plan = DayPlan::new(&pop, &venues, 2, 2.5, 0.0, true);
        let mut rng = crate::seed::rng(9, 0, 0);
        let (mut rows, mut scratch) = (Vec::new(), Vec::new());
        plan.visits(&mut rng, 0, 3_000, &mut rows);
        let per_person = rows.len() as f64 / 3_000.0;
        assert!((2.2..2.8).contains(&per_person), "{per_person}");
        sort_by_check_in(&mut rows, &mut scratch);
        assert!(rows.windows(2).all(|w| w[0].check_in <= w[1].check_in));
        assert!(rows.iter().all(|r| r.check_in < DAY && r.dirty.is_none()));
        // Mornings are busier than the small hours.
        let at = |h: u32| rows.iter().filter(|r| r.check_in / 3600 == h).count();
        assert!(at(7) > 10 * at(3).max(1), "{} vs {}", at(7), at(3));
    }

    #[test]
    fn sunday_has_no_office() {
        let venues = Venues::new(9, 400);
        let pop = Population::new(9, 2_000, &venues);
        let plan = DayPlan::new(&pop, &venues, 6, 2.5, 0.0, true);
        let mut rows = Vec::new();
        plan.visits(&mut crate::seed::rng(1, 0, 0), 0, 2_000, &mut rows);
        assert!(rows.iter().all(|r| !matches!(venues.category(r.venue), cat::OFFICE | SCHOOL)));
        let per_person = rows.len() as f64 / 2_000.0;
        assert!((2.2..2.8).contains(&per_person), "{per_person}");
    }
}
