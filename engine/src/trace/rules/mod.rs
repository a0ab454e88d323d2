//! Exposure rules: who is a contact, as each deployed system decided it.
//!
//! A rule is a choice of [`ExposureRule`] and its parameters on the [`TraceRequest`]; a rules
//! file ([`RuleBook`]) names rules a province uses. The semantics, exactly:
//!
//! - **`overlap`** (the default): the contract of [`crate::trace`], unchanged.
//! - **`midnight`** (NHS): as `overlap`, but a stay without check-out ends at the next local
//!   midnight of `tz` after its check-in (a check-in at midnight ends 24 h later), capped by
//!   `max_visit`. `dwell` is not used.
//! - **`next-checkin`**: as `overlap`, but a stay without check-out ends at the same person's
//!   earliest check-in anywhere (any venue) strictly after it and at most `max_visit` after it;
//!   with no such check-in, `dwell` applies. A next check-in further away than `max_visit` does
//!   not end the stay (the cap would, at a time nobody recorded).
//! - **`pc-covid`**: scans, not stays. A scan is a check-in, or a check-out within `max_visit`
//!   of its check-in. A person is a contact if one of their scans at a venue lies within
//!   `±radius` of one of the F0's scans there that lies inside the window. Per contact:
//!   matching scans, the smallest gap, venues, first and last matching scan; ordered by gap
//!   asc, matches desc, person id asc. `dwell`, `linger` and `min_overlap` are not used.
//! - **`cwa`** (Corona-Warn-App presence tracing): as `overlap`, except that the F0's stays
//!   shorter than 10 minutes are dropped, and each F0 stay of length `d` (capped, before
//!   clipping to the window) is extended after its end by `min(d, 30 min)` instead of
//!   `linger`. Each contact's exposure is cut at local midnights of `tz`; per day, whole
//!   10-minute slots (`floor(seconds / 600)`) count 10 minutes each, weighted by the
//!   transmission-risk value of that day relative to the F0's onset day (`risk_by_day`; days
//!   not in the table weigh `risk_outside`; all days weigh 1 when no onset is known). A contact
//!   is `high` when its weighted minutes reach 10, else `low`; contacts are ordered high first,
//!   then by weighted minutes desc, then as `overlap`.
//! - **Per-category dwell**, for every rule that uses `dwell`: a venue whose category is in
//!   `dwell_by_category` uses that dwell instead of `dwell`.
//!
//! A stay's end is *imputed* when it is not the person's check-out (no check-out, or one beyond
//! `max_visit` cut by the cap). Every contact carries `imputed_seconds`: the part of its
//! exposure that is not covered by stays with measured ends on both sides (the contact's and
//! the F0's).

mod book;
pub(crate) mod cwa;
pub(crate) mod pc_covid;
mod stay;

use std::collections::BTreeMap;

pub use self::book::{BUILT_IN, RuleBook, RuleSpec};
pub(crate) use self::stay::{Stay, Stays};
use crate::error::{Error, Result};
use crate::model::Seconds;

/// How check-ins become stays and stays become exposure (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ExposureRule {
    /// `overlap`: stays `[check_in, check_out or check_in + dwell)` capped at `max_visit`;
    /// exposure is the overlap with the F0's stays (extended by `linger`).
    #[default]
    IntervalOverlap,
    /// `midnight`: a stay without check-out ends at the next local midnight.
    Midnight,
    /// `next-checkin`: a stay without check-out ends at the person's next check-in.
    NextCheckin,
    /// `pc-covid`: scans within `±radius` of the F0's scans at the same venue.
    PcCovid,
    /// `cwa`: Corona-Warn-App presence tracing (10-minute slots, risk by day from onset).
    Cwa,
}

impl ExposureRule {
    /// Every rule, in documentation order.
    pub const ALL: [ExposureRule; 5] = [
        ExposureRule::IntervalOverlap,
        ExposureRule::PcCovid,
        ExposureRule::Midnight,
        ExposureRule::NextCheckin,
        ExposureRule::Cwa,
    ];

    /// The rule's name, as `--rule` and rules files spell it.
    pub fn name(self) -> &'static str {
        match self {
            ExposureRule::IntervalOverlap => "overlap",
            ExposureRule::Midnight => "midnight",
            ExposureRule::NextCheckin => "next-checkin",
            ExposureRule::PcCovid => "pc-covid",
            ExposureRule::Cwa => "cwa",
        }
    }

    /// The rule named `name`.
    pub fn parse(name: &str) -> Result<ExposureRule> {
        ExposureRule::ALL.into_iter().find(|r| r.name() == name.trim()).ok_or_else(|| Error::InvalidArgument {
            what: "rule",
            value: name.to_string(),
            hint: format!("one of {}", ExposureRule::ALL.map(ExposureRule::name).join(", ")),
        })
    }

    /// Whether contacts are the overlap of stays ranked by exposure alone (`overlap`,
    /// `midnight`, `next-checkin`): the rules hops, call lists, the outbreak passes and the risk
    /// score take. `pc-covid` matches scans and `cwa` scores one F0's list.
    pub fn ranks_by_exposure(self) -> bool {
        matches!(self, ExposureRule::IntervalOverlap | ExposureRule::Midnight | ExposureRule::NextCheckin)
    }
}

impl std::fmt::Display for ExposureRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A weight read to three decimals (`1.5` → 1500), so that requests stay comparable and
/// hashable.
pub type PerMille = u32;

/// The parameters of a rule beyond the request's own (window, linger, dwell, max-visit,
/// min-overlap). Shared by clones of a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct RuleParams {
    /// `pc-covid`: largest gap between matching scans, seconds.
    pub radius: Seconds,
    /// Offset east of UTC of the local days (`midnight`, `cwa`), seconds.
    pub tz_offset: i32,
    /// Dwell by venue category, overriding `dwell` at venues of these categories.
    pub dwell_by_category: BTreeMap<String, Seconds>,
    /// `cwa`: transmission-risk weight by day relative to onset.
    pub risk_by_day: BTreeMap<i64, PerMille>,
    /// `cwa`: the weight of days not in `risk_by_day`.
    pub risk_outside: PerMille,
    /// The risk score: weight by venue category (1 for others).
    pub category_weight: BTreeMap<String, PerMille>,
}

impl Default for RuleParams {
    fn default() -> Self {
        RuleParams {
            radius: 3600,
            tz_offset: 0,
            dwell_by_category: BTreeMap::new(),
            risk_by_day: cwa::default_risk_by_day(),
            risk_outside: cwa::DEFAULT_RISK_OUTSIDE,
            category_weight: default_category_weight(),
        }
    }
}

/// truyvet's default weights of venue categories for the risk score: indoor, seated, crowded
/// and poorly aired above 1 (eating and drinking, buses), open air below (markets, checkpoints).
/// A province sets its own in the rules file (`[weight]`).
pub fn default_category_weight() -> BTreeMap<String, PerMille> {
    [
        ("restaurant", 1500),
        ("cafe", 1500),
        ("bus", 1400),
        ("school", 1300),
        ("hospital", 1300),
        ("factory", 1200),
        ("office", 1200),
        ("supermarket", 1000),
        ("pagoda", 1000),
        ("pharmacy", 800),
        ("market", 700),
        ("checkpoint", 500),
    ]
    .into_iter()
    .map(|(c, w)| (c.to_string(), w))
    .collect()
}

impl RuleParams {
    /// The dwell at a venue of `category`, or `default`.
    pub fn dwell_for(&self, category: Option<&str>, default: Seconds) -> Seconds {
        category.and_then(|c| self.dwell_by_category.get(c)).copied().unwrap_or(default)
    }

    /// The risk score's weight of a venue of `category` (1 when it has none or is not listed).
    pub fn weight_for(&self, category: Option<&str>) -> PerMille {
        category.and_then(|c| self.category_weight.get(c)).copied().unwrap_or(1000)
    }

    /// The local day (of `tz_offset`) of instant `t`, as days since 1970-01-01.
    pub fn local_day(&self, t: Seconds) -> i64 {
        (t + Seconds::from(self.tz_offset)).div_euclid(crate::time::DAY)
    }

    /// The transmission-risk weight of local day `day` for an F0 with symptom onset `onset`
    /// (`risk_by_day` relative to the onset's local day, `risk_outside` for days not in it;
    /// 1 when no onset is known).
    pub fn infectiousness(&self, day: i64, onset: Option<Seconds>) -> PerMille {
        onset.map_or(1000, |o| self.risk_by_day.get(&(day - self.local_day(o))).copied().unwrap_or(self.risk_outside))
    }
}
