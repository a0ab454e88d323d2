//! What a trace asks: the F0, its infectious window and the exposure parameters.
//! `TraceRequest::default()` is the one definition of the defaults (CLI and SQL reuse it).

use crate::error::{Error, Result};
use crate::model::{Case, Seconds};

/// How a check-in becomes a stay interval and how stays become exposure.
///
/// Only the interval-overlap rule exists today. Other systems' rules (PC-COVID's scans within
/// ±60 min, stays ended at midnight, Corona-Warn-App's weighted 10-minute slots, stays inferred
/// from the next check-in, per-category dwell) become further variants, each mapping visits to
/// weighted intervals before the same joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ExposureRule {
    /// Stays `[check_in, check_out or check_in + dwell)` capped at `max_visit`; exposure is the
    /// overlap with the F0's stays (extended by `linger`).
    #[default]
    IntervalOverlap,
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
    /// The exposure rule.
    pub rule: ExposureRule,
    /// Use rayon inside this trace. Results never depend on it.
    pub parallel: bool,
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
            parallel: true,
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
        TraceRequest::new(case.person_id.clone()).window(Some(from), Some(to))
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

    /// The stay interval of a visit under this request: `[a, min(check_out or a + dwell,
    /// a + max_visit))`.
    #[inline]
    pub fn stay(&self, check_in: Seconds, check_out: Option<Seconds>) -> (Seconds, Seconds) {
        let end = check_out.unwrap_or(check_in.saturating_add(self.dwell));
        (check_in, end.min(check_in.saturating_add(self.max_visit)))
    }
}
