//! Venue categories and their behaviour: share of venues, dwell-time distribution, daily rhythm,
//! weekday schedule and the Vietnamese name templates used in `venues.csv`.
//!
//! This is the one table to edit to change how a kind of place behaves; the visit generator
//! reads it and owns no per-category constants of its own.

use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64Mcg;

/// A category of venue.
pub(crate) struct Category {
    /// The `category` column of `venues.csv`.
    pub name: &'static str,
    /// Share of venues of this category.
    pub share: f64,
    /// Median dwell in minutes; the dwell is log-normal around it.
    pub dwell_min: f64,
    /// Log-normal sigma of the dwell (small for fixed working hours).
    pub dwell_sigma: f64,
    /// Check-in hour (local) as a mixture of normals: `(weight, centre, spread)`.
    pub hours: &'static [(f64, f64, f64)],
    /// Name templates; `{}` is replaced by the district name.
    pub names: &'static [&'static str],
}

/// Index of a category in [`CATEGORIES`].
pub(crate) type Cat = usize;

pub(crate) const MARKET: Cat = 0;
pub(crate) const SUPERMARKET: Cat = 1;
pub(crate) const OFFICE: Cat = 2;
pub(crate) const FACTORY: Cat = 3;
pub(crate) const SCHOOL: Cat = 4;
pub(crate) const HOSPITAL: Cat = 5;
pub(crate) const RESTAURANT: Cat = 6;
pub(crate) const CAFE: Cat = 7;
pub(crate) const PHARMACY: Cat = 8;

/// The categories. Restaurants and cafés are the most numerous QR posters; markets are few but
/// crowded (popularity is handled by [`crate::venues`]).
pub(crate) const CATEGORIES: [Category; 12] = [
    Category {
        name: "market",
        share: 0.05,
        dwell_min: 40.0,
        dwell_sigma: 0.45,
        hours: &[(0.6, 6.5, 1.0), (0.4, 16.5, 1.2)],
        names: &["Chợ {}", "Chợ dân sinh {}", "Chợ đầu mối {}, cổng"],
    },
    Category {
        name: "supermarket",
        share: 0.05,
        dwell_min: 30.0,
        dwell_sigma: 0.45,
        hours: &[(0.35, 10.0, 1.5), (0.65, 18.0, 1.5)],
        names: &["WinMart {}", "Co.opmart {}", "Bách hóa Xanh {}", "Siêu thị {}"],
    },
    Category {
        name: "office",
        share: 0.14,
        dwell_min: 480.0,
        dwell_sigma: 0.12,
        hours: &[(1.0, 7.8, 0.5)],
        names: &["Văn phòng {}", "Tòa nhà {}", "UBND phường {}"],
    },
    Category {
        name: "factory",
        share: 0.05,
        dwell_min: 540.0,
        dwell_sigma: 0.08,
        hours: &[(1.0, 6.5, 0.4)],
        names: &["Nhà máy {}", "Công ty May {}", "KCN {}, xưởng"],
    },
    Category {
        name: "school",
        share: 0.06,
        dwell_min: 330.0,
        dwell_sigma: 0.15,
        hours: &[(1.0, 6.9, 0.25)],
        names: &["Trường Tiểu học {}", "Trường THCS {}", "Trường THPT {}"],
    },
    Category {
        name: "hospital",
        share: 0.02,
        dwell_min: 120.0,
        dwell_sigma: 0.6,
        hours: &[(1.0, 9.0, 2.5)],
        names: &["Bệnh viện {}", "Trạm Y tế {}", "Phòng khám Đa khoa {}"],
    },
    Category {
        name: "restaurant",
        share: 0.20,
        dwell_min: 60.0,
        dwell_sigma: 0.4,
        hours: &[(0.15, 6.8, 0.6), (0.45, 11.8, 0.6), (0.40, 18.7, 0.8)],
        names: &["Nhà hàng {}", "Phở {}", "Cơm tấm {}", "Bún chả {}", "Quán \"Ngon\" {}"],
    },
    Category {
        name: "cafe",
        share: 0.18,
        dwell_min: 60.0,
        dwell_sigma: 0.5,
        hours: &[(0.5, 8.0, 1.2), (0.3, 14.5, 1.5), (0.2, 20.0, 1.2)],
        names: &["Cà phê {}", "Highlands Coffee {}", "Cộng Cà phê {}", "Trà chanh {}"],
    },
    Category {
        name: "pharmacy",
        share: 0.10,
        dwell_min: 10.0,
        dwell_sigma: 0.5,
        hours: &[(1.0, 15.0, 4.0)],
        names: &["Nhà thuốc {}", "Nhà thuốc Long Châu {}", "Pharmacity {}"],
    },
    Category {
        name: "bus",
        share: 0.06,
        dwell_min: 30.0,
        dwell_sigma: 0.5,
        hours: &[(0.5, 7.0, 1.0), (0.5, 17.3, 1.0)],
        names: &["Xe buýt {}, tuyến"],
    },
    Category {
        name: "checkpoint",
        share: 0.03,
        dwell_min: 3.0,
        dwell_sigma: 0.5,
        hours: &[(0.5, 8.0, 2.0), (0.5, 16.0, 2.0)],
        names: &["Chốt kiểm soát {}"],
    },
    Category {
        name: "pagoda",
        share: 0.06,
        dwell_min: 60.0,
        dwell_sigma: 0.5,
        hours: &[(0.6, 7.0, 1.5), (0.4, 17.0, 2.0)],
        names: &["Chùa {}", "Đền {}", "Nhà thờ {}"],
    },
];

/// Weights of the categories of errands (visits other than work or school), on a working day
/// and on Sunday (more markets and pagodas, fewer buses).
pub(crate) const ERRANDS_WEEKDAY: [f64; 12] = [0.22, 0.12, 0.0, 0.0, 0.0, 0.02, 0.20, 0.18, 0.08, 0.09, 0.04, 0.05];
pub(crate) const ERRANDS_SUNDAY: [f64; 12] = [0.25, 0.16, 0.0, 0.0, 0.0, 0.01, 0.20, 0.18, 0.06, 0.04, 0.02, 0.08];
/// Where delivery riders ("shippers") scan: shops and eateries, briefly.
pub(crate) const ERRANDS_SHIPPER: [f64; 12] = [0.15, 0.20, 0.0, 0.0, 0.0, 0.0, 0.30, 0.20, 0.15, 0.0, 0.0, 0.0];

/// The latest local check-in hour: later scans are pulled back, so that a check-in plus its
/// co-visit and duplicate-scan jitter stays within its day.
pub(crate) const LAST_HOUR: f64 = 23.75;
const FIRST_HOUR: f64 = 4.0;

/// Cumulative form of a weight table, for one-uniform draws.
pub(crate) fn cumulative(weights: &[f64; 12]) -> [f64; 12] {
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    weights.map(|w| {
        acc += w / total;
        acc
    })
}

/// The category whose cumulative weight first exceeds `u`.
#[inline]
pub(crate) fn pick(cdf: &[f64; 12], u: f64) -> Cat {
    cdf.iter().position(|&c| u < c).unwrap_or(MARKET)
}

/// Whether a person bound to a workplace of `category` goes there on `weekday` (0 = Monday):
/// offices close on the weekend, factories and schools on Sunday; hospitals never close.
pub(crate) fn open_on(category: Cat, weekday: u32) -> bool {
    match category {
        OFFICE => weekday < 5,
        HOSPITAL => true,
        _ => weekday < 6,
    }
}

/// A check-in time of day for `category`, in seconds after local midnight.
pub(crate) fn check_in_second(rng: &mut Pcg64Mcg, category: Cat) -> u32 {
    let modes = CATEGORIES[category].hours;
    let mut u = rng.random::<f64>();
    let &(_, centre, spread) = modes
        .iter()
        .find(|m| {
            u -= m.0;
            u < 0.0
        })
        .unwrap_or(&modes[modes.len() - 1]);
    // Redraw rather than clamp, so no second of the day collects the tails.
    let mut hour = centre;
    for _ in 0..8 {
        let z: f64 = StandardNormal.sample(rng);
        hour = centre + z * spread;
        if (FIRST_HOUR..LAST_HOUR).contains(&hour) {
            break;
        }
    }
    (hour.clamp(FIRST_HOUR, LAST_HOUR) * 3600.0) as u32
}

/// A dwell in seconds for `category`: log-normal around its median, at least 30 s.
pub(crate) fn dwell_seconds(rng: &mut Pcg64Mcg, category: Cat) -> i32 {
    let c = &CATEGORIES[category];
    let z: f64 = StandardNormal.sample(rng);
    (c.dwell_min * 60.0 * (c.dwell_sigma * z).exp()).clamp(30.0, 14.0 * 3600.0) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_consistent() {
        assert!((CATEGORIES.iter().map(|c| c.share).sum::<f64>() - 1.0).abs() < 1e-9);
        for c in &CATEGORIES {
            assert!((c.hours.iter().map(|m| m.0).sum::<f64>() - 1.0).abs() < 1e-9, "{}", c.name);
            assert!(c.names.iter().all(|n| n.contains("{}")), "{}", c.name);
        }
        let cdf = cumulative(&ERRANDS_WEEKDAY);
        assert!((cdf[11] - 1.0).abs() < 1e-9);
        assert_eq!(pick(&cdf, 0.0), MARKET);
        assert_eq!(pick(&cdf, 0.999_999), 11);
    }
}
