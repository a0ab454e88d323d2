//! The synthetic province: venues (category, place, popularity) and persons (household,
//! occupation, regular venues). Everything is a pure function of the seed, so any shard can be
//! generated independently and the output never depends on the thread count.

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// Venue categories with their share of venues, median dwell (minutes), preferred local hours
/// `(center, spread)` and a Vietnamese name prefix.
pub(crate) struct Category {
    pub name: &'static str,
    pub label: &'static str,
    pub share: f64,
    pub dwell_min: f64,
    pub hours: (f64, f64),
}

pub(crate) const CATEGORIES: [Category; 12] = [
    Category { name: "market", label: "Chợ", share: 0.08, dwell_min: 40.0, hours: (7.0, 3.5) },
    Category { name: "supermarket", label: "Siêu thị", share: 0.05, dwell_min: 30.0, hours: (17.5, 3.0) },
    Category { name: "office", label: "Văn phòng", share: 0.20, dwell_min: 480.0, hours: (7.8, 0.6) },
    Category { name: "factory", label: "Nhà máy", share: 0.07, dwell_min: 540.0, hours: (6.5, 0.5) },
    Category { name: "school", label: "Trường", share: 0.08, dwell_min: 360.0, hours: (7.0, 0.3) },
    Category { name: "hospital", label: "Bệnh viện", share: 0.02, dwell_min: 120.0, hours: (9.0, 2.5) },
    Category { name: "restaurant", label: "Nhà hàng", share: 0.15, dwell_min: 60.0, hours: (12.0, 3.5) },
    Category { name: "cafe", label: "Quán cà phê", share: 0.15, dwell_min: 60.0, hours: (9.5, 3.5) },
    Category { name: "pharmacy", label: "Nhà thuốc", share: 0.08, dwell_min: 10.0, hours: (15.0, 4.0) },
    Category { name: "bus", label: "Xe buýt", share: 0.05, dwell_min: 30.0, hours: (12.0, 5.0) },
    Category { name: "checkpoint", label: "Chốt kiểm soát", share: 0.02, dwell_min: 3.0, hours: (12.0, 5.0) },
    Category { name: "pagoda", label: "Chùa", share: 0.05, dwell_min: 60.0, hours: (10.0, 4.0) },
];
pub(crate) const MARKET: usize = 0;
pub(crate) const SUPERMARKET: usize = 1;
pub(crate) const OFFICE: usize = 2;
pub(crate) const FACTORY: usize = 3;
pub(crate) const SCHOOL: usize = 4;
pub(crate) const HOSPITAL: usize = 5;

/// Provinces: (code, name, centre lat, centre lon, districts (code, name)).
pub(crate) const PROVINCES: [(&str, &str, f64, f64, &[(&str, &str)]); 4] = [
    ("HNI", "Hà Nội", 21.028, 105.834, &[("BD", "Ba Đình"), ("HK", "Hoàn Kiếm"), ("DD", "Đống Đa"), ("CG", "Cầu Giấy"), ("HM", "Hoàng Mai")]),
    ("HCM", "TP Hồ Chí Minh", 10.776, 106.700, &[("Q1", "Quận 1"), ("Q3", "Quận 3"), ("BT", "Bình Thạnh"), ("TD", "Thủ Đức")]),
    ("DNG", "Đà Nẵng", 16.054, 108.202, &[("HC", "Hải Châu"), ("TK", "Thanh Khê"), ("ST", "Sơn Trà")]),
    ("HUE", "Thừa Thiên Huế", 16.463, 107.590, &[("TPH", "TP Huế"), ("HT", "Hương Thủy")]),
];

/// SplitMix64: derives independent seeds from (seed, stream, index).
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A generator seeded from the configuration seed and a stream label.
pub(crate) fn rng(seed: u64, stream: u64, index: u64) -> Pcg64Mcg {
    Pcg64Mcg::seed_from_u64(mix(mix(seed ^ stream.wrapping_mul(0xA24B_AED4_963E_E407)) ^ index))
}

/// One venue.
pub(crate) struct Venue {
    pub id: String,
    pub category: usize,
    pub province: usize,
    pub district: usize,
    pub index: u64,
    pub lat: f64,
    pub lon: f64,
}

/// All venues plus, per category, a popularity CDF for Zipf-like draws.
pub(crate) struct Venues {
    pub list: Vec<Venue>,
    by_category: Vec<Vec<u32>>,
    cdf: Vec<Vec<f64>>,
}

impl Venues {
    pub(crate) fn new(seed: u64, n: u64) -> Venues {
        let mut rng = rng(seed, 1, 0);
        let total_share: f64 = CATEGORIES.iter().map(|c| c.share).sum();
        let mut list = Vec::with_capacity(n as usize);
        for i in 0..n {
            // Every category is present as soon as there are enough venues.
            let category = if i < CATEGORIES.len() as u64 {
                i as usize
            } else {
                let mut x = rng.random::<f64>() * total_share;
                CATEGORIES.iter().position(|c| {
                    x -= c.share;
                    x < 0.0
                }).unwrap_or(0)
            };
            let province = rng.random_range(0..PROVINCES.len());
            let (pcode, _, lat, lon, districts) = PROVINCES[province];
            let district = rng.random_range(0..districts.len());
            list.push(Venue {
                id: format!("QR-{pcode}-{}-{:06}", districts[district].0, mix(seed ^ i) % 1_000_000),
                category,
                province,
                district,
                index: i,
                lat: lat + (rng.random::<f64>() - 0.5) * 0.2,
                lon: lon + (rng.random::<f64>() - 0.5) * 0.2,
            });
        }
        // Venue ids must be unique: suffix the rare collisions of the scrambled number.
        let mut seen = std::collections::HashSet::new();
        for v in &mut list {
            if !seen.insert(v.id.clone()) {
                v.id = format!("{}-{}", v.id, v.index);
                seen.insert(v.id.clone());
            }
        }
        let mut by_category = vec![Vec::new(); CATEGORIES.len()];
        for v in &list {
            by_category[v.category].push(v.index as u32);
        }
        // Heavy-tailed popularity: the r-th venue of a category weighs 1/(r+1)^0.9.
        let cdf = by_category
            .iter()
            .map(|vs| {
                let mut acc = 0.0;
                let mut c: Vec<f64> = (0..vs.len()).map(|r| {
                    acc += 1.0 / ((r + 1) as f64).powf(0.9);
                    acc
                }).collect();
                c.iter_mut().for_each(|x| *x /= acc.max(f64::MIN_POSITIVE));
                c
            })
            .collect();
        Venues { list, by_category, cdf }
    }

    /// A venue of `category` drawn by popularity; `None` if the category has no venue.
    pub(crate) fn draw(&self, category: usize, rng: &mut Pcg64Mcg) -> Option<u32> {
        let vs = &self.by_category[category];
        if vs.is_empty() {
            return None;
        }
        let x = rng.random::<f64>();
        let r = self.cdf[category].partition_point(|&c| c < x).min(vs.len() - 1);
        Some(vs[r])
    }

    /// A venue of `category` drawn uniformly (regular places: workplaces, schools).
    pub(crate) fn uniform(&self, category: usize, rng: &mut Pcg64Mcg) -> Option<u32> {
        let vs = &self.by_category[category];
        (!vs.is_empty()).then(|| vs[rng.random_range(0..vs.len())])
    }
}

/// What a person does on a weekday.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Occupation {
    Worker { place: u32, night_shift: bool },
    Student { school: u32 },
    Home,
}

/// Static attributes of a person.
pub(crate) struct Person {
    pub occupation: Occupation,
    pub market: Option<u32>,
    /// Index of the next member of the same household, if any.
    pub housemate: Option<u64>,
}

/// The phone-number id of person `p`: `09` + 8 digits, a bijective scramble of `p`.
pub(crate) fn person_id(seed: u64, p: u64, out: &mut String) {
    // An affine map modulo 10^8 with a multiplier coprime to 10 is a bijection.
    const M: u64 = 100_000_000;
    let x = (p % M).wrapping_mul(48_271_237) .wrapping_add(seed % M) % M;
    out.push_str("09");
    let start = out.len();
    let mut digits = [b'0'; 8];
    let mut v = x;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.push_str(std::str::from_utf8(&digits).expect("ascii"));
    if p >= M {
        // More than 10^8 persons: extend the number so ids stay unique.
        out.push_str(&(p / M).to_string());
    }
    debug_assert!(out.len() >= start + 8);
}

/// Derive person `p`'s attributes (pure function of seed and index).
pub(crate) fn person(seed: u64, p: u64, people: u64, venues: &Venues) -> Person {
    let mut rng = rng(seed, 2, p);
    // Households: runs of consecutive persons; p starts one with probability 1/3 (mean size 3),
    // capped at 6 by forcing a start every 6th run position.
    let starts_household = |q: u64| mix(seed ^ 0x55 ^ q) % 3 == 0 || q % 6 == 0;
    let housemate = (p + 1 < people && !starts_household(p + 1)).then_some(p + 1);
    let age = rng.random::<f64>();
    let occupation = if age < 0.20 {
        venues.uniform(SCHOOL, &mut rng).map_or(Occupation::Home, |school| Occupation::Student { school })
    } else if age < 0.80 {
        let category = if rng.random::<f64>() < 0.7 { OFFICE } else if rng.random::<f64>() < 0.85 { FACTORY } else { HOSPITAL };
        let night_shift = category != OFFICE && rng.random::<f64>() < 0.15;
        venues.uniform(category, &mut rng).map_or(Occupation::Home, |place| Occupation::Worker { place, night_shift })
    } else {
        Occupation::Home
    };
    Person { occupation, market: venues.draw(MARKET, &mut rng), housemate }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_ids_are_unique_and_phone_shaped() {
        let mut seen = std::collections::HashSet::new();
        for p in 0..200_000 {
            let mut s = String::new();
            person_id(42, p, &mut s);
            assert_eq!(s.len(), 10);
            assert!(s.starts_with("09"));
            assert!(seen.insert(s));
        }
    }

    #[test]
    fn venues_cover_categories_and_are_unique() {
        let v = Venues::new(7, 500);
        let ids: std::collections::HashSet<&str> = v.list.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids.len(), 500);
        for c in 0..CATEGORIES.len() {
            assert!(v.list.iter().any(|v| v.category == c));
        }
    }
}
