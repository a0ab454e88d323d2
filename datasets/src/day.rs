//! One shard's check-ins: the visits of a block of persons on one day, with daily rhythms,
//! dwell times per category, missing check-outs, duplicate scans, household co-visits, night
//! shifts that cross midnight and, on request, malformed rows.

use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64Mcg;

use crate::world::{self, Occupation, Venues, CATEGORIES, MARKET, SUPERMARKET};

/// How a malformed row is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dirty {
    EmptyPerson,
    EmptyVenue,
    BadTime,
    CheckoutBefore,
    WrongFields,
}

/// One generated row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    pub person: u64,
    pub venue: u32,
    pub check_in: i64,
    pub check_out: Option<i64>,
    pub dirty: Option<Dirty>,
}

/// Weights of the categories of non-regular visits (market, supermarket, office, factory,
/// school, hospital, restaurant, cafe, pharmacy, bus, checkpoint, pagoda).
const ERRAND_WEIGHTS: [f64; 12] = [0.25, 0.12, 0.0, 0.0, 0.0, 0.02, 0.18, 0.18, 0.08, 0.08, 0.04, 0.05];
const UTC_OFFSET: i64 = 7 * 3600;

pub(crate) struct ShardSpec<'a> {
    pub seed: u64,
    pub people: u64,
    pub venues: &'a Venues,
    pub visits_per_day: f64,
    pub dirty_ratio: f64,
    /// Unix seconds of local midnight (+07:00) of the day.
    pub day_start: i64,
    /// 0 = Monday .. 6 = Sunday.
    pub weekday: u32,
    /// Parquet cannot hold a wrong field count.
    pub csv: bool,
}

fn local_time(rng: &mut Pcg64Mcg, (center, spread): (f64, f64)) -> f64 {
    let z: f64 = StandardNormal.sample(rng);
    (center + z * spread).clamp(5.0, 23.5)
}

fn dwell_seconds(rng: &mut Pcg64Mcg, category: usize) -> i64 {
    let z: f64 = StandardNormal.sample(rng);
    (CATEGORIES[category].dwell_min * (0.5 * z).exp() * 60.0).max(30.0) as i64
}

fn pick_errand(rng: &mut Pcg64Mcg) -> usize {
    let mut x = rng.random::<f64>() * ERRAND_WEIGHTS.iter().sum::<f64>();
    ERRAND_WEIGHTS.iter().position(|w| {
        x -= w;
        x < 0.0
    }).unwrap_or(MARKET)
}

impl ShardSpec<'_> {
    fn row(&self, rng: &mut Pcg64Mcg, person: u64, venue: u32, check_in: i64, stay: i64, emit: &mut impl FnMut(Row)) {
        let check_out = (rng.random::<f64>() >= 0.4).then_some(check_in + stay);
        let dirty = (self.dirty_ratio > 0.0 && rng.random::<f64>() < self.dirty_ratio).then(|| {
            let kinds: &[Dirty] = if self.csv {
                &[Dirty::EmptyPerson, Dirty::EmptyVenue, Dirty::BadTime, Dirty::CheckoutBefore, Dirty::WrongFields]
            } else {
                &[Dirty::EmptyPerson, Dirty::EmptyVenue, Dirty::BadTime, Dirty::CheckoutBefore]
            };
            kinds[rng.random_range(0..kinds.len())]
        });
        let check_out = if dirty == Some(Dirty::CheckoutBefore) { Some(check_in - 60 - stay.min(600)) } else { check_out };
        emit(Row { person, venue, check_in, check_out, dirty });
        // A few percent of scans are repeated within two minutes (a second scan, no check-out).
        if dirty.is_none() && rng.random::<f64>() < 0.03 {
            emit(Row { person, venue, check_in: check_in + rng.random_range(0..=120), check_out: None, dirty: None });
        }
    }

    /// Generate the visits of persons `lo..hi` on this day.
    pub(crate) fn generate(&self, rng: &mut Pcg64Mcg, lo: u64, hi: u64, emit: &mut impl FnMut(Row)) {
        let working_day = self.weekday < 6;
        let regular_share = 0.6 * 6.0 / 7.0;
        let errands_mean = (self.visits_per_day - regular_share).max(0.2);
        for p in lo..hi {
            let me = world::person(self.seed, p, self.people, self.venues);
            match me.occupation {
                Occupation::Worker { place, night_shift } if working_day => {
                    let category = self.venues.list[place as usize].category;
                    let (hour, stay) = if night_shift {
                        (21.5 + rng.random::<f64>(), 8 * 3600 + rng.random_range(0..3600))
                    } else {
                        (local_time(rng, CATEGORIES[category].hours), dwell_seconds(rng, category))
                    };
                    self.row(rng, p, place, self.day_start + (hour * 3600.0) as i64, stay, emit);
                }
                Occupation::Student { school } if working_day => {
                    let hour = local_time(rng, CATEGORIES[world::SCHOOL].hours);
                    let stay = dwell_seconds(rng, world::SCHOOL);
                    self.row(rng, p, school, self.day_start + (hour * 3600.0) as i64, stay, emit);
                }
                _ => {}
            }
            let n = errands_mean.floor() as u32 + u32::from(rng.random::<f64>() < errands_mean.fract());
            for _ in 0..n {
                let category = pick_errand(rng);
                let venue = match (category, me.market) {
                    (MARKET, Some(m)) if rng.random::<f64>() < 0.5 => Some(m),
                    _ => self.venues.draw(category, rng),
                };
                let Some(venue) = venue else { continue };
                let check_in = self.day_start + (local_time(rng, CATEGORIES[category].hours) * 3600.0) as i64;
                let stay = dwell_seconds(rng, category);
                self.row(rng, p, venue, check_in, stay, emit);
                // Households shop together.
                if (category == MARKET || category == SUPERMARKET)
                    && let Some(mate) = me.housemate
                    && rng.random::<f64>() < 0.3
                {
                    let with = check_in + rng.random_range(0..300);
                    self.row(rng, mate, venue, with, stay, emit);
                }
            }
        }
    }
}

/// Unix seconds of local midnight (+07:00) of `date`.
pub(crate) fn local_midnight(date: chrono::NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp() - UTC_OFFSET
}

/// Format Unix seconds as RFC 3339 in +07:00, appending to `out` (no allocation).
pub(crate) fn push_local_time(out: &mut Vec<u8>, utc: i64, cache: &mut (i64, [u8; 10])) {
    let local = utc + UTC_OFFSET;
    let day = local.div_euclid(86_400);
    if cache.0 != day {
        let date = chrono::DateTime::from_timestamp(day * 86_400, 0).expect("in range").date_naive();
        cache.0 = day;
        cache.1.copy_from_slice(date.format("%Y-%m-%d").to_string().as_bytes());
    }
    let sod = local.rem_euclid(86_400);
    let (h, m, s) = (sod / 3600, sod / 60 % 60, sod % 60);
    out.extend_from_slice(&cache.1);
    out.extend_from_slice(&[b'T', b'0' + (h / 10) as u8, b'0' + (h % 10) as u8, b':', b'0' + (m / 10) as u8, b'0' + (m % 10) as u8, b':', b'0' + (s / 10) as u8, b'0' + (s % 10) as u8]);
    out.extend_from_slice(b"+07:00");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_format() {
        let mut out = Vec::new();
        let mut cache = (i64::MIN, [0u8; 10]);
        push_local_time(&mut out, 1_627_780_500, &mut cache);
        assert_eq!(out, b"2021-08-01T08:15:00+07:00");
        out.clear();
        push_local_time(&mut out, 1_627_780_500 + 16 * 3600, &mut cache);
        assert_eq!(out, b"2021-08-02T00:15:00+07:00");
    }
}
