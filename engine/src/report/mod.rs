//! The daily report a province asks for: how QR check-in is used, the day's cases and their
//! contacts, the venues to act on, and the quality of the data behind them.
//!
//! [`Snapshot::daily_report`] computes the numbers ([`DailyReport`], serialisable as JSON);
//! [`render`] draws them as one self-contained HTML file or as Markdown with SVG charts.
//!
//! # Semantics
//! Days are local days of the request's time zone: day `d` is `[d·86400 − offset,
//! (d+1)·86400 − offset)` in Unix seconds. The *period* is `from..=to` (one day for a daily
//! report); the *baseline* is the `baseline_days` days before it. A check-in belongs to the day
//! of its check-in time.
//! - **Adoption.** Per district and per venue category (from the venues register; venues not in
//!   it count under `(unknown)`): check-ins in the period, the mean per baseline day that the
//!   store's data covers, stays
//!   without a check-out in the period. *Silent venues*: register venues with no check-in in the
//!   period, and those with none in the baseline either. *First seen*: persons with a check-in
//!   in the period and none before it anywhere in the store.
//! - **Cases.** New cases: register cases confirmed in the period. They are traced together
//!   ([`Snapshot::trace_cases`], `hops`, the request's rules, each case in its stored window):
//!   F1 and F2 per case, distinct contacts per hop, and contacts reached by several new cases.
//!   A new case *visited* a district when it checked in at one of its venues inside its window.
//!   Hotspots ([`Snapshot::hotspots`]) are computed over the whole register, on stays in the
//!   baseline and the period; clusters ([`Snapshot::clusters`]) are those holding a new case.
//! - **Data quality.** Batches that stored rows for the period's days (UTC days of the store's
//!   parts) and their quarantined rows by reason (a rejected row's day is unknown, so rejects are
//!   attributed to their batch). *Late rows*: rows a batch stored for a UTC day earlier than the
//!   latest day already in the store when it committed ("rows for days already reported"), for
//!   the baseline's and period's days. *Repeated scans*: period rows equal to another in person,
//!   venue and check-in, beyond the first (stored as given; traces count them once). *Dated after
//!   commit*: period rows whose check-in is later than their batch's commit (a device clock ahead).
//!
//! # Algorithm
//! One pass over the parts covering the baseline and the period, in parallel by (local day,
//! part): each venue's rows of the day are found by binary search in its run of the trace index
//! (no Parquet is decoded); the period's rows are read for check-outs, persons and repeats.
//! Persons seen before the period are the union of the earlier parts' person bitmaps. Cost:
//! O(rows of the baseline and period) plus the traces of the new cases.

pub mod render;

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use rayon::prelude::*;
use roaring::RoaringBitmap;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::{Seconds, VenueKey};
use crate::store::{Part, Snapshot};
use crate::time::{DAY, Tz, day_name, format_utc};
use crate::trace::{
    CallCounts, CasesRequest, ChainRequest, ClusterRequest, Clusters, Hotspot, HotspotRequest, TraceRequest,
};

/// The label of venues absent from the venues register, or without the attribute.
pub const UNKNOWN: &str = "(unknown)";

/// What [`Snapshot::daily_report`] reports on.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    /// First local day of the period (days since 1970-01-01 in `tz`).
    pub from: i64,
    /// Last local day of the period, inclusive.
    pub to: i64,
    /// The time zone whose days are reported.
    pub tz: Tz,
    /// Days before the period that it is compared with (7).
    pub baseline_days: i64,
    /// Exposure rules of the new cases' traces and of hotspots and clusters.
    pub rules: TraceRequest,
    /// Hops traced from each new case (2: F1 and F2).
    pub hops: u8,
}

impl ReportRequest {
    /// A report on local day `day` of `tz`, with the default rules, 7 baseline days, 2 hops.
    pub fn daily(day: i64, tz: Tz) -> ReportRequest {
        ReportRequest { from: day, to: day, tz, baseline_days: 7, rules: TraceRequest::default(), hops: 2 }
    }

    /// First second of local day `d`.
    fn start_of(&self, d: i64) -> Seconds {
        d * DAY - Seconds::from(self.tz.offset_seconds())
    }
}

/// The report's numbers (the JSON of `truyvet report daily --format json`).
#[derive(Debug, Clone, Serialize)]
pub struct DailyReport {
    /// What was reported on.
    pub period: Period,
    /// The store version read.
    pub store_version: u64,
    /// Whether the store has a venues register (districts and categories come from it).
    pub venue_register: bool,
    /// Whether the store has a cases register.
    pub case_register: bool,
    /// First and last UTC day with check-ins in the store (`None`: no check-ins).
    pub data_days: Option<(String, String)>,
    /// Totals over the period.
    pub totals: Totals,
    /// Check-ins per local day over the baseline and the period.
    pub by_day: Vec<DayCount>,
    /// Adoption per district, busiest first.
    pub districts: Vec<GroupRow>,
    /// Adoption per venue category, busiest first.
    pub categories: Vec<GroupRow>,
    /// Register venues with no check-in in the period, by district then venue id.
    pub silent_venues: Vec<SilentVenue>,
    /// The period's cases and their contacts.
    pub cases: CasesSection,
    /// Data quality.
    pub quality: Quality,
    /// What a reader must know to read the figures (an empty day, no register, ...).
    pub notes: Vec<Note>,
}

/// A remark on the report's figures; as JSON, `{"note": "before_data", "day": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum Note {
    /// The store holds no check-ins.
    NoData,
    /// The period ends before the store's first (UTC) day.
    BeforeData {
        /// The store's first day.
        day: String,
    },
    /// The period starts after the store's last (UTC) day.
    AfterData {
        /// The store's last day.
        day: String,
    },
    /// No check-in in the period, inside the store's days.
    NoCheckins,
    /// No venues register: every venue is `(unknown)`, silent venues cannot be named.
    NoVenueRegister,
    /// The cases register is empty.
    NoCaseRegister,
    /// No case confirmed in the period.
    NoNewCase,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Note::NoData => f.write_str("the store holds no check-ins"),
            Note::BeforeData { day } => {
                write!(f, "the period is before any data: the store's first (UTC) day is {day}")
            }
            Note::AfterData { day } => {
                write!(f, "the period is after the last data: the store's last (UTC) day is {day}")
            }
            Note::NoCheckins => f.write_str("no check-ins in the period"),
            Note::NoVenueRegister => f.write_str(
                "the store has no venues register: every venue counts under (unknown) and silent venues cannot be \
                 named (load one with `truyvet ingest --venues`)",
            ),
            Note::NoCaseRegister => {
                f.write_str("the cases register is empty: no cases, contacts, hotspots or clusters to report")
            }
            Note::NoNewCase => f.write_str("no case was confirmed in the period"),
        }
    }
}

/// The period reported on.
#[derive(Debug, Clone, Serialize)]
pub struct Period {
    /// First day (`YYYY-MM-DD`, local).
    pub from: String,
    /// Last day, inclusive.
    pub to: String,
    /// Days in the period.
    pub days: i64,
    /// Time zone offset (`+07:00`).
    pub tz: String,
    /// Start of the period (RFC 3339, UTC).
    pub starts: String,
    /// End of the period, exclusive.
    pub ends: String,
    /// First baseline day.
    pub baseline_from: String,
    /// Baseline days.
    pub baseline_days: i64,
    /// Baseline days from the local day of the store's first check-in to that of its last:
    /// the divisor of every baseline mean.
    pub baseline_days_with_data: i64,
}

/// Totals over the period.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    /// Check-ins.
    pub checkins: u64,
    /// Mean check-ins per baseline day with data.
    pub baseline_mean: f64,
    /// Distinct persons.
    pub persons: u64,
    /// Persons never seen before the period.
    pub first_seen: u64,
    /// Stays without a check-out.
    pub missing_checkout: u64,
    /// Distinct venues with a check-in.
    pub venues_scanned: u64,
    /// Venues in the register.
    pub venues_registered: u64,
    /// Register venues with no check-in in the period.
    pub venues_silent: u64,
    /// ... and none in the baseline either.
    pub venues_silent_baseline: u64,
}

/// Check-ins on one local day.
#[derive(Debug, Clone, Serialize)]
pub struct DayCount {
    /// The day (`YYYY-MM-DD`).
    pub day: String,
    /// Check-ins.
    pub checkins: u64,
    /// In the period (else the baseline).
    pub in_period: bool,
}

/// Adoption figures of one district or category.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupRow {
    /// District or category (`(unknown)` for venues without it).
    pub name: String,
    /// Check-ins in the period.
    pub checkins: u64,
    /// Mean check-ins per baseline day.
    pub baseline_mean: f64,
    /// Stays without a check-out in the period.
    pub missing_checkout: u64,
    /// `missing_checkout / checkins` (0 without check-ins).
    pub missing_share: f64,
    /// Venues of the register here.
    pub venues_registered: u64,
    /// Distinct venues with a check-in in the period.
    pub venues_scanned: u64,
    /// Register venues with no check-in in the period.
    pub venues_silent: u64,
    /// ... and none in the baseline either.
    pub venues_silent_baseline: u64,
    /// New cases that checked in here inside their windows (districts only).
    pub new_cases_visited: u64,
    /// Hotspot venues here (districts only).
    pub hotspots: u64,
}

/// A register venue nobody scanned in the period.
#[derive(Debug, Clone, Serialize)]
pub struct SilentVenue {
    /// Venue id.
    pub venue_id: String,
    /// Name.
    pub name: Option<String>,
    /// District.
    pub district: String,
    /// Category.
    pub category: String,
    /// Also no check-in in the baseline.
    pub silent_baseline: bool,
}

/// The period's cases.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CasesSection {
    /// Cases confirmed in the period, in confirmation order.
    pub new_cases: Vec<NewCase>,
    /// Distinct F1 contacts of the new cases together.
    pub f1: u64,
    /// Distinct F2 contacts (not F1) of the new cases together.
    pub f2: u64,
    /// Contacts (any hop) reached by two or more new cases.
    pub reached_by_several: u64,
    /// `(number of new cases, contacts reached by exactly that many)`, for 2 and more.
    pub reached_by: Vec<(u32, u64)>,
    /// Hotspots with stays in the baseline or the period, ranked.
    pub hotspots: Vec<HotspotRow>,
    /// Clusters (two or more cases) holding a new case.
    pub clusters: Vec<ClusterRow>,
}

/// One new case.
#[derive(Debug, Clone, Serialize)]
pub struct NewCase {
    /// Case id.
    pub case_id: String,
    /// Confirmed at (RFC 3339, UTC).
    pub confirmed_at: String,
    /// Its F1 contacts.
    pub f1: u64,
    /// Its F2 contacts.
    pub f2: u64,
    /// Districts it checked in at inside its window.
    pub districts: Vec<String>,
    /// Whether its person has check-ins in the store at all.
    pub in_store: bool,
}

/// One hotspot venue.
#[derive(Debug, Clone, Serialize)]
pub struct HotspotRow {
    /// Rank among hotspots.
    pub rank: u32,
    /// Venue id.
    pub venue_id: String,
    /// Name.
    pub name: Option<String>,
    /// District.
    pub district: String,
    /// Cases that stayed there.
    pub cases: u64,
    /// Of them, new cases.
    pub new_cases: u64,
    /// Persons exposed there.
    pub exposed: u64,
    /// Earliest case stay start (RFC 3339).
    pub first_stay: String,
    /// Latest case stay end.
    pub last_stay: String,
}

/// One cluster holding a new case.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterRow {
    /// Cluster id (as `truyvet clusters`).
    pub id: u32,
    /// Its cases.
    pub cases: u64,
    /// Of them, new cases.
    pub new_cases: u64,
    /// Venues of its links.
    pub venues: Vec<String>,
}

/// Data quality.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Quality {
    /// Batches that stored rows for the period's days.
    pub batches: Vec<BatchRow>,
    /// Their quarantined rows, by reason (reason text up to its particulars), most first.
    pub rejected_by_reason: Vec<(String, u64)>,
    /// Their quarantined rows.
    pub rejected: u64,
    /// Rows stored late for the baseline's and period's days.
    pub late: Vec<LateRow>,
    /// Their sum.
    pub late_rows: u64,
    /// Period rows repeating another's person, venue and check-in.
    pub repeated_scans: u64,
    /// Period rows with a check-in later than their batch's commit.
    pub dated_after_commit: u64,
}

/// One batch behind the period.
#[derive(Debug, Clone, Serialize)]
pub struct BatchRow {
    /// Batch id.
    pub batch: u64,
    /// Committed at (RFC 3339).
    pub committed_at: String,
    /// Rows read.
    pub rows_read: u64,
    /// Rows stored.
    pub rows_stored: u64,
    /// Rows quarantined.
    pub rows_rejected: u64,
    /// A batch of raw scans (`ingest --scans`): how they were paired; its rows read are scans
    /// and its rows stored the stays made of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scans: Option<crate::store::manifest::ScanCounts>,
}

/// Rows a batch stored late for one day.
#[derive(Debug, Clone, Serialize)]
pub struct LateRow {
    /// The (UTC) day of the rows.
    pub day: String,
    /// The batch.
    pub batch: u64,
    /// When it committed.
    pub committed_at: String,
    /// Its rows of that day.
    pub rows: u64,
    /// The latest day already in the store before it.
    pub store_reached: String,
}

/// What one (local day, part) task found.
#[derive(Default)]
struct Tally {
    /// `(venue, check-ins, without check-out)`.
    venues: Vec<(VenueKey, u64, u64)>,
    persons: RoaringBitmap,
    repeated: u64,
    after_commit: u64,
}

/// What [`Snapshot::case_work`] traced for the cases section.
struct CaseWork {
    /// The cases confirmed in the period, in confirmation order.
    new_cases: Vec<crate::model::Case>,
    /// By register index, whether the case is new.
    is_new: Vec<bool>,
    counts: CallCounts,
    hotspots: Vec<Hotspot>,
    /// `None` when there is no new case.
    clusters: Option<Clusters>,
}

impl Snapshot {
    /// The daily report (see the [module docs](crate::report)).
    pub fn daily_report(&self, req: &ReportRequest) -> Result<DailyReport> {
        if req.to < req.from {
            return Err(Error::InvalidArgument {
                what: "report period",
                value: format!("{}..{}", day_name(req.from), day_name(req.to)),
                hint: "the last day must not come before the first".into(),
            });
        }
        if !(0..=366).contains(&req.baseline_days) {
            return Err(Error::InvalidArgument {
                what: "baseline days",
                value: req.baseline_days.to_string(),
                hint: "must be between 0 and 366".into(),
            });
        }
        let _span = tracing::debug_span!("daily_report", from = req.from, to = req.to).entered();
        let m = self.manifest();
        let (start, end) = (req.start_of(req.from), req.start_of(req.to + 1));
        let first_day = req.from - req.baseline_days;
        let mut notes = Vec::new();

        // Check-ins by (local day, venue); the period's persons, repeats and clock errors.
        let tasks: Vec<(i64, &Part)> = (first_day..=req.to)
            .flat_map(|d| {
                let (lo, hi) = (req.start_of(d), req.start_of(d + 1));
                self.parts_of_days(lo.div_euclid(DAY), (hi - 1).div_euclid(DAY)).map(move |p| (d, p))
            })
            .collect();
        let commits = commit_times(self);
        // The cases' traces run beside the tallies: both are parallel, neither fills two cores
        // all the time.
        let (tallies, work) = rayon::join(
            || -> Result<(Vec<(i64, Tally)>, RoaringBitmap)> {
                let tallies = tasks
                    .par_iter()
                    .map(|&(d, part)| {
                        let in_period = d >= req.from;
                        let committed = commits.get(&part.info.batch).copied().flatten();
                        tally(part, req.start_of(d), req.start_of(d + 1), in_period, committed).map(|t| (d, t))
                    })
                    .collect::<Result<_>>()?;
                Ok((tallies, self.persons_before(start)?))
            },
            || self.case_work(req, start, end),
        );
        let (tallies, seen_before) = tallies?;

        let attrs = self.venue_attrs()?;
        let venue_register = !attrs.is_empty();
        let mut per_day: BTreeMap<i64, u64> = (first_day..=req.to).map(|d| (d, 0)).collect();
        // venue → (period check-ins, period missing, baseline check-ins)
        let mut by_venue: HashMap<VenueKey, (u64, u64, u64)> = HashMap::new();
        let mut persons = RoaringBitmap::new();
        let (mut repeated, mut after_commit) = (0, 0);
        for (d, t) in &tallies {
            let in_period = *d >= req.from;
            for &(v, n, missing) in &t.venues {
                *per_day.entry(*d).or_default() += n;
                let e = by_venue.entry(v).or_default();
                if in_period {
                    e.0 += n;
                    e.1 += missing;
                } else {
                    e.2 += n;
                }
            }
            if in_period {
                persons |= &t.persons;
                repeated += t.repeated;
                after_commit += t.after_commit;
            }
        }

        // Persons seen before the period: earlier parts whole, the rows before `start` of a
        // part that straddles it.
        let first_seen = persons.difference_len(&seen_before);

        // Baseline means are over the baseline days the store's data covers (a store that began
        // three days ago is not compared with seven).
        let span = m.parts.iter().map(|p| p.day).min().zip(m.parts.iter().map(|p| p.day).max());
        let local_day = |t: Seconds| (t + Seconds::from(req.tz.offset_seconds())).div_euclid(DAY);
        let first_checkin = m.parts.iter().map(|p| p.min_check_in).min().map(local_day);
        let last_checkin = m.parts.iter().map(|p| p.max_check_in).max().map(local_day);
        let covered = match (first_checkin, last_checkin) {
            (Some(a), Some(b)) => (first_day..req.from).filter(|d| (a..=b).contains(d)).count(),
            _ => 0,
        };
        let baseline = covered.max(1) as f64;

        // Districts and categories.
        let mut districts: BTreeMap<String, GroupRow> = BTreeMap::new();
        let mut categories: BTreeMap<String, GroupRow> = BTreeMap::new();
        let mut scanned_ids: HashMap<&str, (bool, bool)> = HashMap::new();
        for (&v, &(n, missing, base)) in &by_venue {
            let id = self.venue_id(v)?;
            let info = attrs.get(id);
            let district = info.and_then(|i| i.district.as_deref()).unwrap_or(UNKNOWN);
            let category = info.and_then(|i| i.category.as_deref()).unwrap_or(UNKNOWN);
            for (map, name) in [(&mut districts, district), (&mut categories, category)] {
                let row = group(map, name);
                row.checkins += n;
                row.missing_checkout += missing;
                // A sum of whole numbers, exact in any order (the venues come from a hash map);
                // divided once below, so the report is the same from run to run.
                row.baseline_mean += base as f64;
                row.venues_scanned += u64::from(n > 0);
            }
            scanned_ids.insert(id, (n > 0, base > 0));
        }
        for row in districts.values_mut().chain(categories.values_mut()) {
            row.baseline_mean /= baseline;
        }
        let mut silent_venues = Vec::new();
        for (id, info) in attrs {
            let district = info.district.as_deref().unwrap_or(UNKNOWN);
            let category = info.category.as_deref().unwrap_or(UNKNOWN);
            let (in_period, in_baseline) = scanned_ids.get(id.as_str()).copied().unwrap_or((false, false));
            for (map, name) in [(&mut districts, district), (&mut categories, category)] {
                let row = group(map, name);
                row.venues_registered += 1;
                row.venues_silent += u64::from(!in_period);
                row.venues_silent_baseline += u64::from(!in_period && !in_baseline);
            }
            if !in_period {
                silent_venues.push(SilentVenue {
                    venue_id: id.clone(),
                    name: info.name.clone(),
                    district: district.to_string(),
                    category: category.to_string(),
                    silent_baseline: !in_baseline,
                });
            }
        }
        silent_venues.sort_by(|a, b| (&a.district, &a.venue_id).cmp(&(&b.district, &b.venue_id)));

        let totals = Totals {
            checkins: by_venue.values().map(|x| x.0).sum(),
            baseline_mean: by_venue.values().map(|x| x.2).sum::<u64>() as f64 / baseline,
            persons: persons.len(),
            first_seen,
            missing_checkout: by_venue.values().map(|x| x.1).sum(),
            venues_scanned: by_venue.values().filter(|x| x.0 > 0).count() as u64,
            venues_registered: attrs.len() as u64,
            venues_silent: silent_venues.len() as u64,
            venues_silent_baseline: silent_venues.iter().filter(|s| s.silent_baseline).count() as u64,
        };

        let cases = self.cases_section(work?, &mut districts)?;
        let quality = self.quality(req, first_day, repeated, after_commit)?;

        let data_days = span.map(|(a, b)| (day_name(a), day_name(b)));
        match span {
            None => notes.push(Note::NoData),
            Some((a, _)) if end <= a * DAY => notes.push(Note::BeforeData { day: day_name(a) }),
            Some((_, b)) if start >= (b + 1) * DAY => notes.push(Note::AfterData { day: day_name(b) }),
            _ if totals.checkins == 0 => notes.push(Note::NoCheckins),
            _ => {}
        }
        if !venue_register {
            notes.push(Note::NoVenueRegister);
        }
        if self.cases()?.is_empty() {
            notes.push(Note::NoCaseRegister);
        } else if cases.new_cases.is_empty() {
            notes.push(Note::NoNewCase);
        }

        let mut districts: Vec<GroupRow> = districts.into_values().collect();
        let mut categories: Vec<GroupRow> = categories.into_values().collect();
        for row in districts.iter_mut().chain(categories.iter_mut()) {
            row.missing_share = if row.checkins == 0 { 0.0 } else { row.missing_checkout as f64 / row.checkins as f64 };
        }
        let busiest = |a: &GroupRow, b: &GroupRow| b.checkins.cmp(&a.checkins).then_with(|| a.name.cmp(&b.name));
        districts.sort_by(busiest);
        categories.sort_by(busiest);

        Ok(DailyReport {
            period: Period {
                from: day_name(req.from),
                to: day_name(req.to),
                days: req.to - req.from + 1,
                tz: tz_name(req.tz),
                starts: format_utc(start),
                ends: format_utc(end),
                baseline_from: day_name(first_day),
                baseline_days: req.baseline_days,
                baseline_days_with_data: covered as i64,
            },
            store_version: m.version,
            venue_register,
            case_register: !self.cases()?.is_empty(),
            data_days,
            totals,
            by_day: per_day
                .into_iter()
                .map(|(d, n)| DayCount { day: day_name(d), checkins: n, in_period: d >= req.from })
                .collect(),
            districts,
            categories,
            silent_venues,
            cases,
            quality,
            notes,
        })
    }

    /// Persons with a check-in before `start`.
    fn persons_before(&self, start: Seconds) -> Result<RoaringBitmap> {
        let last = (start - 1).div_euclid(DAY);
        let parts: Vec<&Part> = self.parts().iter().filter(|p| p.info.day <= last).collect();
        parts
            .par_iter()
            .map(|p| {
                if (p.info.day + 1) * DAY <= start {
                    let keys = p.index.person_keys()?;
                    return RoaringBitmap::from_sorted_iter(keys)
                        .map_err(|_| crate::error::Error::Internal("person keys out of order".into()));
                }
                let mut b = RoaringBitmap::new();
                for (_, rows) in p.index.groups_checked_in(p.info.day * DAY, start)? {
                    b.extend(rows.map(|r| p.index.person(r)));
                }
                Ok(b)
            })
            .try_reduce(RoaringBitmap::new, |a, b| Ok(a | b))
    }

    /// The traces behind the cases section, each beside the others: the new cases' counts,
    /// the hotspots and the clusters (`None`: no cases register).
    fn case_work(&self, req: &ReportRequest, start: Seconds, end: Seconds) -> Result<Option<CaseWork>> {
        let register = self.cases()?;
        if register.is_empty() {
            return Ok(None);
        }
        // By register index, whether the case is new; the new ones in confirmation order.
        let is_new: Vec<bool> = register.iter().map(|c| (start..end).contains(&c.confirmed_at)).collect();
        let mut new_cases: Vec<crate::model::Case> =
            register.iter().zip(&is_new).filter(|(_, new)| **new).map(|(c, _)| c.clone()).collect();
        new_cases.sort_by(|a, b| (a.confirmed_at, &a.case_id).cmp(&(b.confirmed_at, &b.case_id)));
        let mut hreq = HotspotRequest { rules: req.rules.clone(), ..HotspotRequest::default() };
        hreq.rules.from = Some(req.start_of(req.from - req.baseline_days));
        hreq.rules.to = Some(end);
        let traced = !new_cases.is_empty();
        let ((counts, hotspots), clusters) = rayon::join(
            || {
                rayon::join(
                    || {
                        // Counted, not listed: the report needs no exposure interval of the call list.
                        let chain = ChainRequest::new(req.rules.clone(), req.hops);
                        traced.then(|| self.count_cases(&new_cases, &CasesRequest::new(chain))).transpose()
                    },
                    || self.hotspots(&hreq),
                )
            },
            || {
                let creq = ClusterRequest { rules: req.rules.clone(), ..ClusterRequest::default() };
                traced.then(|| self.clusters(&creq)).transpose()
            },
        );
        Ok(Some(CaseWork {
            new_cases,
            is_new,
            counts: counts?.unwrap_or_default(),
            hotspots: hotspots?.hotspots,
            clusters: clusters?,
        }))
    }

    /// The cases section from its traces; adds each district's new cases and hotspots to its row.
    fn cases_section(
        &self,
        work: Option<CaseWork>,
        districts: &mut BTreeMap<String, GroupRow>,
    ) -> Result<CasesSection> {
        let Some(CaseWork { new_cases, is_new, counts, hotspots, clusters }) = work else {
            return Ok(CasesSection::default());
        };
        let attrs = self.venue_attrs()?;
        let district_of = |v: VenueKey| -> Result<String> {
            let id = self.venue_id(v)?;
            Ok(attrs.get(id).and_then(|i| i.district.clone()).unwrap_or_else(|| UNKNOWN.to_string()))
        };

        let mut section = CasesSection::default();
        if !new_cases.is_empty() {
            section.f1 = counts.distinct.first().copied().unwrap_or(0);
            section.f2 = counts.distinct.get(1).copied().unwrap_or(0);
            section.reached_by = counts.reached_by.iter().copied().filter(|&(n, _)| n >= 2).collect();
            section.reached_by_several = section.reached_by.iter().map(|x| x.1).sum();
            let keys = self.person_keys_of(&new_cases)?;
            for ((case, per_hop), key) in new_cases.iter().zip(&counts.per_hop).zip(keys) {
                let count = |hop: usize| per_hop.get(hop - 1).map_or(0, |&n| n as u64);
                let mut visited: Vec<String> = Vec::new();
                if let Some(p) = key {
                    let (lo, hi) = (case.window_from, case.window_to);
                    for part in self.parts_of_days(lo.div_euclid(DAY), (hi - 1).div_euclid(DAY)) {
                        for r in part.index.person_rows(p)? {
                            if (lo..hi).contains(&part.index.check_in(r)) {
                                visited.push(district_of(part.index.venue(r)?)?);
                            }
                        }
                    }
                }
                visited.sort();
                visited.dedup();
                for d in &visited {
                    let row = group(districts, d);
                    row.new_cases_visited += 1;
                }
                section.new_cases.push(NewCase {
                    case_id: case.case_id.clone(),
                    confirmed_at: format_utc(case.confirmed_at),
                    f1: count(1),
                    f2: count(2),
                    districts: visited,
                    in_store: key.is_some(),
                });
            }
        }
        for h in hotspots {
            let district = district_of(h.venue)?;
            let row = group(districts, &district);
            row.hotspots += 1;
            section.hotspots.push(HotspotRow {
                rank: h.rank,
                name: attrs.get(&h.venue_id).and_then(|i| i.name.clone()),
                venue_id: h.venue_id,
                district,
                cases: h.cases.len() as u64,
                new_cases: h.cases.iter().filter(|&&c| is_new[c as usize]).count() as u64,
                exposed: h.exposed,
                first_stay: format_utc(h.first_stay),
                last_stay: format_utc(h.last_stay),
            });
        }

        if let Some(clusters) = clusters {
            for c in clusters.clusters.iter().filter(|c| c.cases.len() >= 2) {
                let new_cases = c.cases.iter().filter(|&&i| is_new[i as usize]).count() as u64;
                if new_cases == 0 {
                    continue;
                }
                let mut venues: Vec<String> = c
                    .links
                    .iter()
                    .map(|&l| self.venue_id(clusters.links[l].venue).map(str::to_string))
                    .collect::<Result<_>>()?;
                venues.sort();
                venues.dedup();
                section.clusters.push(ClusterRow { id: c.id, cases: c.cases.len() as u64, new_cases, venues });
            }
        }
        Ok(section)
    }

    fn quality(&self, req: &ReportRequest, first_day: i64, repeated: u64, after_commit: u64) -> Result<Quality> {
        let m = self.manifest();
        let period_days = req.start_of(req.from).div_euclid(DAY)..=(req.start_of(req.to + 1) - 1).div_euclid(DAY);
        let shown_days = req.start_of(first_day).div_euclid(DAY)..=*period_days.end();
        let mut q = Quality { repeated_scans: repeated, dated_after_commit: after_commit, ..Quality::default() };

        let batch_ids: std::collections::BTreeSet<u64> =
            m.parts.iter().filter(|p| period_days.contains(&p.day)).map(|p| p.batch).collect();
        let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
        for b in m.batches.iter().filter(|b| batch_ids.contains(&b.id)) {
            q.batches.push(BatchRow {
                batch: b.id,
                committed_at: b.committed_at.clone(),
                rows_read: b.rows_read,
                rows_stored: b.rows_stored,
                rows_rejected: b.rows_rejected,
                scans: b.scans,
            });
            q.rejected += b.rows_rejected;
            if let Some(rel) = &b.quarantine {
                for r in crate::store::quarantine::read(&crate::store::layout::resolve(self.dir(), rel))? {
                    *reasons.entry(reason_class(&r.reason)).or_default() += 1;
                }
            }
        }
        q.rejected_by_reason = reasons.into_iter().collect();
        q.rejected_by_reason.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

        // Late rows: a batch's parts for days before the latest day of the batches before it.
        let mut batches: Vec<u64> = m.parts.iter().map(|p| p.batch).collect();
        batches.sort_unstable();
        batches.dedup();
        let mut reached: Option<i64> = None;
        for b in batches {
            let parts: Vec<_> = m.parts.iter().filter(|p| p.batch == b).collect();
            if let Some(r) = reached {
                let mut by_day: BTreeMap<i64, u64> = BTreeMap::new();
                for p in parts.iter().filter(|p| p.day < r && shown_days.contains(&p.day)) {
                    *by_day.entry(p.day).or_default() += p.rows;
                }
                let committed_at =
                    m.batches.iter().find(|x| x.id == b).map(|x| x.committed_at.clone()).unwrap_or_default();
                for (day, rows) in by_day {
                    q.late_rows += rows;
                    q.late.push(LateRow {
                        day: day_name(day),
                        batch: b,
                        committed_at: committed_at.clone(),
                        rows,
                        store_reached: day_name(r),
                    });
                }
            }
            reached = reached.max(parts.iter().map(|p| p.day).max());
        }
        Ok(q)
    }
}

/// The row of `name` in `map`, added empty if missing.
fn group<'a>(map: &'a mut BTreeMap<String, GroupRow>, name: &str) -> &'a mut GroupRow {
    map.entry(name.to_string()).or_insert_with(|| GroupRow { name: name.to_string(), ..Default::default() })
}

/// Commit time of each batch (`None`: not recorded, as in stores rewritten by compaction).
fn commit_times(s: &Snapshot) -> HashMap<u64, Option<Seconds>> {
    s.manifest()
        .batches
        .iter()
        .map(|b| (b.id, chrono::DateTime::parse_from_rfc3339(&b.committed_at).ok().map(|t| t.timestamp())))
        .collect()
}

/// One (local day, part) task: check-ins by venue in `[lo, hi)`; with `in_period`, also
/// check-outs, persons, repeats and rows after `committed`.
fn tally(part: &Part, lo: Seconds, hi: Seconds, in_period: bool, committed: Option<Seconds>) -> Result<Tally> {
    let ix = &part.index;
    let groups = ix.groups_checked_in(lo, hi)?;
    let mut t = Tally::default();
    for (v, rows) in groups {
        let n = rows.len() as u64;
        if !in_period {
            t.venues.push((v, n, 0));
            continue;
        }
        let mut missing = 0;
        for r in rows.clone() {
            missing += u64::from(ix.check_out(r).is_none());
            t.persons.insert(ix.person(r));
            if committed.is_some_and(|c| ix.check_in(r) > c) {
                t.after_commit += 1;
            }
        }
        t.repeated += repeats(ix, rows);
        t.venues.push((v, n, missing));
    }
    Ok(t)
}

/// Rows of one venue run (sorted by check-in) that repeat an earlier row's person and check-in.
fn repeats(ix: &crate::store::index::PartIndex, rows: Range<u32>) -> u64 {
    let mut n = 0;
    let mut run: Vec<u32> = Vec::new();
    let mut r = rows.start;
    while r < rows.end {
        let t = ix.check_in(r);
        let mut e = r + 1;
        while e < rows.end && ix.check_in(e) == t {
            e += 1;
        }
        if e - r > 1 {
            run.clear();
            run.extend((r..e).map(|i| ix.person(i)));
            run.sort_unstable();
            let before = run.len();
            run.dedup();
            n += (before - run.len()) as u64;
        }
        r = e;
    }
    n
}

/// A time zone as `+07:00`.
pub fn tz_name(tz: Tz) -> String {
    let s = tz.offset_seconds();
    let sign = if s < 0 { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", s.abs() / 3600, s.abs() % 3600 / 60)
}

/// A quarantine reason without its particulars (quoted text, numbers in brackets, after a
/// colon): `invalid date in check_in "2021-02-30"` → `invalid date in check_in`.
pub fn reason_class(reason: &str) -> String {
    let cut = reason.find([':', '(', '"']).unwrap_or(reason.len());
    reason[..cut].trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_classes() {
        assert_eq!(reason_class("wrong number of fields: expected 4, found 3"), "wrong number of fields");
        assert_eq!(reason_class("check_out before check_in (60s earlier)"), "check_out before check_in");
        assert_eq!(reason_class("invalid date in check_in \"2021-02-30\""), "invalid date in check_in");
        assert_eq!(reason_class("empty person_id"), "empty person_id");
    }
}
