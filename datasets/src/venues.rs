//! The venue table of the synthetic country: provinces and districts, each venue's category,
//! place, coordinates and QR id, popularity draws, and the `venues.csv` file.
//!
//! # Format: `venues.csv`
//! RFC 4180, UTF-8, `\n` line ends, header `venue_id,name,category,province,district,lat,lon`,
//! one row per venue in index order. `venue_id` is `QR-<province>-<district>-<6 digits>`, the
//! digits a keyed permutation of the venue index (so ids are unique and not sequential; more
//! than 10⁶ venues append the index's millions). Names are Vietnamese and some hold a comma or
//! a double quote, so the `csv` crate quotes them (a field is quoted only if it holds a comma,
//! a quote or a line break; quotes inside are doubled). `lat`/`lon` have five decimals.
//!
//! # Performance
//! O(venues) memory: a few bytes per venue plus its id string, and per (province, category)
//! a popularity list. A popularity draw is a binary search in that list's CDF.

use std::io::{BufWriter, Write};
use std::path::Path;

use rand::RngExt;
use rand::seq::SliceRandom;

use crate::category::{CATEGORIES, Cat, FACTORY};
use crate::seed::{self, stream};

/// A province: code, name, centre and districts `(code, name)`.
pub(crate) struct Province {
    pub code: &'static str,
    pub name: &'static str,
    /// Share of persons and venues.
    pub weight: f64,
    pub lat: f64,
    pub lon: f64,
    pub districts: &'static [(&'static str, &'static str)],
    /// Industrial provinces have three times the usual share of factories.
    pub industrial: bool,
}

const fn province(
    code: &'static str,
    name: &'static str,
    weight: f64,
    (lat, lon): (f64, f64),
    districts: &'static [(&'static str, &'static str)],
    industrial: bool,
) -> Province {
    Province { code, name, weight, lat, lon, districts, industrial }
}

/// The provinces, weighted roughly by urban population.
pub(crate) const PROVINCES: [Province; 8] = [
    province(
        "HNI",
        "Hà Nội",
        0.30,
        (21.028, 105.854),
        &[
            ("BD", "Ba Đình"),
            ("HK", "Hoàn Kiếm"),
            ("DD", "Đống Đa"),
            ("CG", "Cầu Giấy"),
            ("HM", "Hoàng Mai"),
            ("LB", "Long Biên"),
        ],
        false,
    ),
    province(
        "HCM",
        "TP Hồ Chí Minh",
        0.34,
        (10.776, 106.700),
        &[
            ("Q1", "Quận 1"),
            ("Q3", "Quận 3"),
            ("BTH", "Bình Thạnh"),
            ("GV", "Gò Vấp"),
            ("TD", "Thủ Đức"),
            ("BC", "Bình Chánh"),
        ],
        false,
    ),
    province(
        "HPG",
        "Hải Phòng",
        0.07,
        (20.845, 106.688),
        &[("HB", "Hồng Bàng"), ("LC", "Lê Chân"), ("NQ", "Ngô Quyền")],
        true,
    ),
    province(
        "DNG",
        "Đà Nẵng",
        0.05,
        (16.054, 108.202),
        &[("HC", "Hải Châu"), ("TK", "Thanh Khê"), ("ST", "Sơn Trà")],
        false,
    ),
    province("HUE", "Thừa Thiên Huế", 0.04, (16.463, 107.590), &[("TPH", "TP Huế"), ("HT", "Hương Thủy")], false),
    province("CTO", "Cần Thơ", 0.05, (10.045, 105.747), &[("NK", "Ninh Kiều"), ("BT", "Bình Thủy")], false),
    province(
        "BDG",
        "Bình Dương",
        0.09,
        (10.980, 106.652),
        &[("TDM", "Thủ Dầu Một"), ("TA", "Thuận An"), ("DA", "Dĩ An")],
        true,
    ),
    province("DNI", "Đồng Nai", 0.06, (10.945, 106.824), &[("BH", "Biên Hòa"), ("LT", "Long Thành")], true),
];

/// Cumulative province weights, for one-uniform draws.
pub(crate) fn province_cdf() -> [f64; 8] {
    let mut acc = 0.0;
    PROVINCES.map(|p| {
        acc += p.weight;
        acc
    })
}

/// Draw a province from a uniform `u`.
#[inline]
pub(crate) fn pick_province(cdf: &[f64; 8], u: f64) -> usize {
    cdf.iter().position(|&c| u < c).unwrap_or(0)
}

/// Compact facts about one venue.
#[derive(Clone, Copy)]
pub(crate) struct Venue {
    pub category: u8,
    pub province: u8,
    pub district: u8,
}

/// Venues of one (province, category), most popular first, with the popularity CDF.
#[derive(Default)]
struct Popularity {
    venues: Vec<u32>,
    cdf: Vec<f32>,
}

impl Popularity {
    fn draw(&self, u: f64) -> Option<u32> {
        let last = self.venues.len().checked_sub(1)?;
        let r = self.cdf.partition_point(|&c| f64::from(c) <= u).min(last);
        Some(self.venues[r])
    }

    fn uniform(&self, u: f64) -> Option<u32> {
        (!self.venues.is_empty())
            .then(|| self.venues[((u * self.venues.len() as f64) as usize).min(self.venues.len() - 1)])
    }
}

/// All venues.
pub(crate) struct Venues {
    pub list: Vec<Venue>,
    /// QR ids, by venue index.
    pub ids: Vec<Box<str>>,
    /// Popularity per `province * CATEGORIES.len() + category`.
    local: Vec<Popularity>,
    /// Popularity per category, all provinces.
    national: Vec<Popularity>,
}

/// Zipf-like exponent of venue popularity within a category.
const ZIPF: f64 = 0.9;

impl Venues {
    /// Build `n` venues for `seed`.
    pub(crate) fn new(seed: u64, n: u64) -> Venues {
        let mut rng = seed::rng(seed, stream::VENUES, 0);
        let provinces = province_cdf();
        let id_key = seed::key(seed, stream::VENUE_ID, 0);
        let mut list = Vec::with_capacity(n as usize);
        let mut ids = Vec::with_capacity(n as usize);
        for i in 0..n {
            let province = pick_province(&provinces, rng.random::<f64>());
            let p = &PROVINCES[province];
            // Every category exists as soon as there are twelve venues.
            let category = if i < CATEGORIES.len() as u64 {
                i as usize
            } else {
                let factory_boost = if p.industrial { 2.0 * CATEGORIES[FACTORY].share } else { 0.0 };
                let mut u = rng.random::<f64>() * (1.0 + factory_boost);
                CATEGORIES
                    .iter()
                    .enumerate()
                    .position(|(c, cat)| {
                        u -= cat.share + if c == FACTORY { factory_boost } else { 0.0 };
                        u < 0.0
                    })
                    .unwrap_or(0)
            };
            let district = rng.random_range(0..p.districts.len());
            let number = seed::scramble(i % 1_000_000, 1_000, id_key);
            let mut id = format!("QR-{}-{}-{number:06}", p.code, p.districts[district].0);
            if i >= 1_000_000 {
                id.push_str(&(i / 1_000_000).to_string());
            }
            ids.push(id.into_boxed_str());
            list.push(Venue { category: category as u8, province: province as u8, district: district as u8 });
        }
        let mut local: Vec<Popularity> =
            (0..PROVINCES.len() * CATEGORIES.len()).map(|_| Popularity::default()).collect();
        let mut national: Vec<Popularity> = (0..CATEGORIES.len()).map(|_| Popularity::default()).collect();
        for (i, v) in list.iter().enumerate() {
            local[usize::from(v.province) * CATEGORIES.len() + usize::from(v.category)].venues.push(i as u32);
            national[usize::from(v.category)].venues.push(i as u32);
        }
        // Popularity ranks are a random order, so popular venues are spread over the id space.
        for pop in local.iter_mut().chain(national.iter_mut()) {
            pop.venues.shuffle(&mut rng);
            let mut acc = 0.0;
            let weights: Vec<f64> = (0..pop.venues.len())
                .map(|r| {
                    acc += 1.0 / ((r + 1) as f64).powf(ZIPF);
                    acc
                })
                .collect();
            pop.cdf = weights.iter().map(|w| (w / acc) as f32).collect();
        }
        Venues { list, ids, local, national }
    }

    /// A venue of `category` by popularity, in `province` if it has one; `None` only if no
    /// venue of that category exists at all.
    #[inline]
    pub(crate) fn popular(&self, province: usize, category: Cat, u: f64) -> Option<u32> {
        self.local[province * CATEGORIES.len() + category].draw(u).or_else(|| self.national[category].draw(u))
    }

    /// A venue of `category` drawn uniformly (workplaces and schools), in `province` if it has
    /// one.
    pub(crate) fn uniform(&self, province: usize, category: Cat, u: f64) -> Option<u32> {
        self.local[province * CATEGORIES.len() + category].uniform(u).or_else(|| self.national[category].uniform(u))
    }

    /// The category of venue `v`.
    #[inline]
    pub(crate) fn category(&self, v: u32) -> Cat {
        usize::from(self.list[v as usize].category)
    }

    /// The display name of venue `i` (deterministic, computed on demand).
    pub(crate) fn name(&self, seed: u64, i: usize) -> String {
        let v = self.list[i];
        let c = &CATEGORIES[usize::from(v.category)];
        let district = PROVINCES[usize::from(v.province)].districts[usize::from(v.district)].1;
        let h = seed::key(seed, stream::VENUES, i as u64 + 1);
        let template = c.names[(h % c.names.len() as u64) as usize];
        format!("{} {}", template.replacen("{}", district, 1), 1 + (h >> 32) % 99)
    }

    /// Write `venues.csv` (see the module docs).
    pub(crate) fn write_csv(&self, seed: u64, path: &Path) -> std::io::Result<()> {
        let file = BufWriter::with_capacity(1 << 16, std::fs::File::create(path)?);
        let mut w = csv::Writer::from_writer(file);
        w.write_record(["venue_id", "name", "category", "province", "district", "lat", "lon"])?;
        for (i, v) in self.list.iter().enumerate() {
            let p = &PROVINCES[usize::from(v.province)];
            let district = p.districts[usize::from(v.district)].1;
            let mut d = seed::Draws::new(seed, stream::VENUES, (1 << 40) + i as u64);
            // Districts sit around the province centre; venues around their district's centre.
            let mut dd =
                seed::Draws::new(seed, stream::VENUES, (1 << 41) + u64::from(v.province) * 64 + u64::from(v.district));
            let lat = p.lat + (dd.unit() - 0.5) * 0.12 + (d.unit() - 0.5) * 0.04;
            let lon = p.lon + (dd.unit() - 0.5) * 0.12 + (d.unit() - 0.5) * 0.04;
            let (name, category) = (self.name(seed, i), CATEGORIES[usize::from(v.category)].name);
            let (lat, lon) = (format!("{lat:.5}"), format!("{lon:.5}"));
            w.write_record([&*self.ids[i], &name, category, p.name, district, &lat, &lon])?;
        }
        w.into_inner().map_err(csv::IntoInnerError::into_error)?.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_qr_shaped_and_every_category_exists() {
        let v = Venues::new(7, 3_000);
        let ids: std::collections::HashSet<&str> = v.ids.iter().map(|s| &**s).collect();
        assert_eq!(ids.len(), 3_000);
        assert!(v.ids.iter().all(|id| id.starts_with("QR-") && id.len() >= 15 && !id.contains(',')));
        // Check-in CSV writes ids unquoted: no code may ever need quoting.
        let codes = PROVINCES.iter().flat_map(|p| std::iter::once(p.code).chain(p.districts.iter().map(|d| d.0)));
        assert!(codes.flat_map(str::bytes).all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        for c in 0..CATEGORIES.len() {
            assert!(v.list.iter().any(|x| usize::from(x.category) == c));
            assert!(v.popular(0, c, 0.5).is_some());
        }
    }

    #[test]
    fn popularity_is_heavy_tailed() {
        let v = Venues::new(1, 2_000);
        let mut counts = vec![0u32; v.list.len()];
        let mut d = seed::Draws::new(0, 0, 0);
        for _ in 0..20_000 {
            counts[v.popular(0, 0, d.unit()).unwrap() as usize] += 1;
        }
        let top = *counts.iter().max().unwrap();
        let used = counts.iter().filter(|&&c| c > 0).count();
        assert!(top > 20_000 / used as u32 * 3, "top {top}, used {used}");
    }

    #[test]
    fn names_with_commas_and_quotes_read_back() {
        let (v, seed) = (Venues::new(3, 600), 3);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("venues.csv");
        v.write_csv(seed, &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let quoted = (0..v.list.len()).map(|i| v.name(seed, i)).find(|n| n.contains('"')).expect("a quoted name");
        assert!(text.contains(&format!(",\"{}\",", quoted.replace('"', "\"\""))), "{quoted}");
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let names: Vec<String> = reader.records().map(|r| r.unwrap()[1].to_string()).collect();
        assert_eq!(names, (0..v.list.len()).map(|i| v.name(seed, i)).collect::<Vec<_>>());
        assert!(names.iter().any(|n| n.contains(',')));
    }
}
