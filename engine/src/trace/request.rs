//! What a trace asks: the F0, its infectious window and the exposure parameters.
//! `TraceRequest::default()` is the one definition of the defaults (CLI and SQL reuse it).

use std::sync::Arc;

use super::rules::{ExposureRule, RuleParams};
use crate::error::{Error, Result};
use crate::model::{Case, Seconds};

/// How contacts are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum RankBy {
    /// By the rule's measure (exposure for the interval rules).
    #[default]
    Exposure,
    /// By the risk score ([`super::Risk`]): exposure minutes × category weight × crowding ×
    /// infectiousness, each part a column.
    Score,
}

impl RankBy {
    /// `exposure` or `score`, as `--rank`, the API's and Python's `rank` take it.
    pub fn parse(name: &str) -> Result<RankBy> {
        match name.trim() {
            "exposure" => Ok(RankBy::Exposure),
            "score" => Ok(RankBy::Score),
            other => {
                Err(Error::InvalidArgument { what: "rank", value: other.to_string(), hint: "exposure or score".into() })
            }
        }
    }
}

/// A trace request. Build with [`TraceRequest::new`] and the setters.
///
/// ```
/// let req = truyvet::TraceRequest::new("0912345678").linger(900).min_overlap(300);
/// assert_eq!(req.dwell, 3600);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRequest {
    /// The F0's person id.
    pub f0: String,
    /// Start of the infectious window (inclusive); `None` = all time.
    pub from: Option<Seconds>,
    /// End of the infectious window (exclusive); `None` = all time.
    pub to: Option<Seconds>,
    /// Seconds the F0's presence lingers after it leaves (aerosols).
    pub linger: Seconds,
    /// Assumed stay when a check-out is missing.
    pub dwell: Seconds,
    /// Longest stay credited to one check-in.
    pub max_visit: Seconds,
    /// Least exposure for a contact to count (and at least 1 s).
    pub min_overlap: Seconds,
    /// Keep only the top `limit` contacts.
    pub limit: Option<usize>,
    /// The exposure rule ([`super::rules`]).
    pub rule: ExposureRule,
    /// The rule's further parameters (radius, local time zone, dwell by category, risk by day).
    pub params: Arc<RuleParams>,
    /// The F0's symptom onset, when known (`cwa` and the score weigh days relative to it).
    pub onset: Option<Seconds>,
    /// How contacts are ranked.
    pub rank_by: RankBy,
    /// Use rayon inside this trace. Results never depend on it.
    pub parallel: bool,
    /// Keep each contact's exposure intervals in [`TraceResult::exposures`](super::TraceResult)
    /// (the default). A caller that reads only the ranked list (a CSV for the call centre, a
    /// count, a dashboard's table) sets it to `false`: the list is the same, `exposures` stays
    /// empty, and the trace skips gathering every episode into rank order, the costliest loop
    /// of its ranking. [`TraceResult::exposures_record_batch`](super::TraceResult) then refuses.
    pub intervals: bool,
    /// Stop with [`Error::TimeLimit`](crate::Error::TimeLimit) once this instant has passed
    /// (checked before each venue-and-part task of the join, so a trace stops within one
    /// task's time). `None`: no limit.
    pub deadline: Option<std::time::Instant>,
}

impl Default for TraceRequest {
    fn default() -> Self {
        TraceRequest {
            f0: String::new(),
            from: None,
            to: None,
            linger: 0,
            dwell: 3600,
            max_visit: 43_200,
            min_overlap: 0,
            limit: None,
            rule: ExposureRule::IntervalOverlap,
            params: Arc::default(),
            onset: None,
            rank_by: RankBy::Exposure,
            parallel: true,
            intervals: true,
            deadline: None,
        }
    }
}

impl TraceRequest {
    /// Fail with [`Error::TimeLimit`](crate::Error::TimeLimit) if [`TraceRequest::deadline`]
    /// has passed.
    pub fn check_deadline(&self) -> crate::Result<()> {
        match self.deadline {
            Some(d) if std::time::Instant::now() >= d => Err(crate::Error::TimeLimit),
            _ => Ok(()),
        }
    }

    /// Set [`TraceRequest::deadline`].
    pub fn deadline(mut self, at: Option<std::time::Instant>) -> Self {
        self.deadline = at;
        self
    }

    /// A request for `f0` with the default parameters.
    pub fn new(f0: impl Into<String>) -> TraceRequest {
        TraceRequest { f0: f0.into(), ..TraceRequest::default() }
    }
    /// The request for a registered case: its person as F0 and its infectious window, the
    /// stored one or, with `lookback`, re-derived ([`Case::window`]).
    pub fn for_case(case: &Case, lookback: Option<Seconds>) -> TraceRequest {
        let (from, to) = lookback.map_or((case.window_from, case.window_to), |l| case.window(l));
        let mut req = TraceRequest::new(case.person_id.clone()).window(Some(from), Some(to));
        req.onset = case.onset_at;
        req
    }
    /// The exposure rule.
    pub fn rule(mut self, rule: ExposureRule) -> Self {
        self.rule = rule;
        self
    }
    /// The rule's further parameters.
    pub fn params(mut self, params: RuleParams) -> Self {
        self.params = Arc::new(params);
        self
    }
    /// Rank by exposure (default) or by the risk score.
    pub fn rank_by(mut self, by: RankBy) -> Self {
        self.rank_by = by;
        self
    }
    /// The F0's symptom onset.
    pub fn onset(mut self, at: Option<Seconds>) -> Self {
        self.onset = at;
        self
    }
    /// Infectious window `[from, to)`.
    pub fn window(mut self, from: Option<Seconds>, to: Option<Seconds>) -> Self {
        self.from = from;
        self.to = to;
        self
    }
    /// Linger after the F0 leaves.
    pub fn linger(mut self, s: Seconds) -> Self {
        self.linger = s;
        self
    }
    /// Stay assumed without check-out.
    pub fn dwell(mut self, s: Seconds) -> Self {
        self.dwell = s;
        self
    }
    /// Longest credited stay.
    pub fn max_visit(mut self, s: Seconds) -> Self {
        self.max_visit = s;
        self
    }
    /// Least exposure to count.
    pub fn min_overlap(mut self, s: Seconds) -> Self {
        self.min_overlap = s;
        self
    }
    /// Top-N only.
    pub fn limit(mut self, n: Option<usize>) -> Self {
        self.limit = n;
        self
    }
    /// Parallel inside the trace (default) or single-threaded.
    pub fn parallel(mut self, parallel: bool) -> Self {
        self.parallel = parallel;
        self
    }

    /// Set [`TraceRequest::intervals`]: keep each contact's exposure intervals (default) or
    /// only the ranked list.
    pub fn intervals(mut self, intervals: bool) -> Self {
        self.intervals = intervals;
        self
    }

    pub(crate) fn check(&self) -> Result<()> {
        let bad = |what: &'static str, value: Seconds, hint: &str| Error::InvalidArgument {
            what,
            value: value.to_string(),
            hint: hint.into(),
        };
        if self.linger < 0 {
            return Err(bad("linger", self.linger, "must be ≥ 0"));
        }
        if self.dwell < 0 {
            return Err(bad("dwell", self.dwell, "must be ≥ 0"));
        }
        if self.max_visit <= 0 {
            return Err(bad("max-visit", self.max_visit, "must be > 0"));
        }
        if self.min_overlap < 0 {
            return Err(bad("min-overlap", self.min_overlap, "must be ≥ 0"));
        }
        if self.rank_by == RankBy::Score && !self.rule.ranks_by_exposure() {
            return Err(Error::InvalidArgument {
                what: "rank",
                value: "score".into(),
                hint: format!(
                    "the risk score ranks overlap, midnight or next-checkin lists; {} has its own order",
                    self.rule
                ),
            });
        }
        if self.params.radius < 0 {
            return Err(bad("radius", self.params.radius, "must be ≥ 0"));
        }
        if let Some((category, &d)) = self.params.dwell_by_category.iter().find(|(_, d)| **d < 0) {
            return Err(Error::InvalidArgument {
                what: "dwell",
                value: format!("{category} = {d}"),
                hint: "a category's dwell must be ≥ 0".into(),
            });
        }
        if let (Some(f), Some(t)) = (self.from, self.to)
            && f >= t
        {
            return Err(Error::InvalidArgument {
                what: "window",
                value: format!("{}..{}", crate::time::format_utc(f), crate::time::format_utc(t)),
                hint: "--from must be before --to".into(),
            });
        }
        Ok(())
    }

    /// Refuse the rules whose contacts `what` cannot follow: `pc-covid` (scans, not stays) and
    /// `cwa` (a score of one F0's list) apply to one F0's trace.
    pub(crate) fn check_followable(&self, what: &str) -> Result<()> {
        if self.rank_by == RankBy::Score {
            return Err(Error::InvalidArgument {
                what: "rank",
                value: "score".into(),
                hint: format!("{what} rank by exposure; the risk score ranks one F0's list"),
            });
        }
        match self.rule {
            rule if rule.ranks_by_exposure() => Ok(()),
            rule => Err(Error::InvalidArgument {
                what: "rule",
                value: rule.name().to_string(),
                hint: format!("{what} take overlap, midnight or next-checkin; {rule} applies to one F0's list"),
            }),
        }
    }

    /// The stay interval of a visit under the `overlap` rule without a category table:
    /// `[a, min(check_out or a + dwell, a + max_visit))`.
    #[inline]
    pub fn stay(&self, check_in: Seconds, check_out: Option<Seconds>) -> (Seconds, Seconds) {
        let end = check_out.unwrap_or(check_in.saturating_add(self.dwell));
        (check_in, end.min(check_in.saturating_add(self.max_visit)))
    }
}
