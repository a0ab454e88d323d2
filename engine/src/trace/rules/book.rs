//! Named rules: the built-in presets, and a province's own from a rules file (TOML).
//!
//! ```toml
//! # Every key is optional. File-wide tables apply to every rule of the file, presets included.
//! [dwell]                  # dwell by venue category, for every rule that uses dwell
//! market = "45m"
//! restaurant = "90m"
//! office = "8h"
//!
//! [weight]                 # the risk score (--rank score): weight by venue category
//! restaurant = 1.5
//! market = 0.7
//!
//! [risk_by_day]            # cwa and the risk score: weight by day relative to onset
//! -2 = 1.0
//! -1 = 1.0
//! 0 = 1.0
//! outside = 0.0            # days not listed
//!
//! [rule.hcm-market]        # a named rule: a base preset and its parameters
//! base = "overlap"         # overlap | pc-covid | midnight | next-checkin | cwa
//! description = "HCMC markets, summer 2021"
//! dwell = "30m"
//! linger = "15m"
//! max_visit = "12h"
//! min_overlap = "5m"
//! radius = "60m"           # pc-covid
//! tz = "+07:00"            # local days (midnight, cwa)
//! dwell_by_category = { market = "30m" }   # over the file-wide [dwell]
//! ```
//!
//! Durations are written as `truyvet trace` takes them (`90s`, `15m`, `1h30m`) or as seconds.
//! A key this module does not know is an error naming it, as is a value of the wrong kind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{ExposureRule, PerMille, RuleParams};
use crate::error::{Error, Result};
use crate::model::Seconds;
use crate::time::{Tz, parse_duration};
use crate::trace::TraceRequest;

/// A named rule: a preset and the parameters it sets (unset ones keep the request's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    /// The name `--rule` takes.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// The preset it builds on.
    pub base: ExposureRule,
    /// Linger, if the rule sets it.
    pub linger: Option<Seconds>,
    /// Dwell, if the rule sets it.
    pub dwell: Option<Seconds>,
    /// Max visit, if the rule sets it.
    pub max_visit: Option<Seconds>,
    /// Min overlap, if the rule sets it.
    pub min_overlap: Option<Seconds>,
    /// The local time zone (offset east of UTC, seconds), if the rule sets it; otherwise the
    /// request's stays (the command's `--tz`).
    pub tz: Option<i32>,
    /// The further parameters (their `tz_offset` is replaced as `tz` says).
    pub params: RuleParams,
}

/// The built-in presets: `(name, description)`.
pub const BUILT_IN: [(ExposureRule, &str); 5] = [
    (
        ExposureRule::IntervalOverlap,
        "stays overlap the F0's (extended by linger); a stay without check-out lasts dwell",
    ),
    (ExposureRule::PcCovid, "PC-COVID: a scan within ±radius of one of the F0's scans at the same venue"),
    (ExposureRule::Midnight, "NHS COVID-19: a stay without check-out ends at the next local midnight"),
    (
        ExposureRule::NextCheckin,
        "a stay without check-out ends at the person's next check-in anywhere (within max-visit)",
    ),
    (
        ExposureRule::Cwa,
        "Corona-Warn-App: F0 stays ≥ 10 min extended by up to 30 min, 10-minute slots weighted by day from onset",
    ),
];

impl RuleSpec {
    fn preset(rule: ExposureRule, description: &str, params: RuleParams) -> RuleSpec {
        RuleSpec {
            name: rule.name().to_string(),
            description: description.to_string(),
            base: rule,
            linger: None,
            dwell: None,
            max_visit: None,
            min_overlap: None,
            tz: None,
            params,
        }
    }

    /// `req` under this rule: its base, its parameters, and the durations it sets.
    pub fn apply(&self, mut req: TraceRequest) -> TraceRequest {
        req.rule = self.base;
        let tz_offset = self.tz.unwrap_or(req.params.tz_offset);
        req.params = std::sync::Arc::new(RuleParams { tz_offset, ..self.params.clone() });
        for (slot, v) in [
            (&mut req.linger, self.linger),
            (&mut req.dwell, self.dwell),
            (&mut req.max_visit, self.max_visit),
            (&mut req.min_overlap, self.min_overlap),
        ] {
            if let Some(v) = v {
                *slot = v;
            }
        }
        req
    }

    /// The rule as a rules-file entry, with every parameter spelled out (defaults included).
    pub fn to_toml(&self) -> String {
        let d = TraceRequest::default();
        let dur =
            |s: Seconds| format!("\"{}\"", humantime::format_duration(std::time::Duration::from_secs(s.max(0) as u64)));
        let mut out = format!("[rule.{}]\n", self.name);
        out += &format!("description = {:?}\n", self.description);
        out += &format!("base = \"{}\"\n", self.base.name());
        for (key, v, default) in [
            ("linger", self.linger, d.linger),
            ("dwell", self.dwell, d.dwell),
            ("max_visit", self.max_visit, d.max_visit),
            ("min_overlap", self.min_overlap, d.min_overlap),
        ] {
            out += &format!("{key} = {}\n", dur(v.unwrap_or(default)));
        }
        let p = &self.params;
        out += &format!("radius = {}\n", dur(p.radius));
        if let Some(tz) = self.tz {
            out += &format!("tz = \"{}\"\n", format_offset(tz));
        }
        let cats: Vec<String> = p.dwell_by_category.iter().map(|(k, v)| format!("{k:?} = {}", dur(*v))).collect();
        out += &format!("dwell_by_category = {{ {} }}\n", cats.join(", "));
        let ws: Vec<String> = p.category_weight.iter().map(|(k, v)| format!("{k:?} = {}", weight(*v))).collect();
        out += &format!("weight = {{ {} }}\n", ws.join(", "));
        let mut risk: Vec<String> = p.risk_by_day.iter().map(|(k, v)| format!("\"{k}\" = {}", weight(*v))).collect();
        risk.push(format!("outside = {}", weight(p.risk_outside)));
        out += &format!("risk_by_day = {{ {} }}\n", risk.join(", "));
        out
    }
}

fn weight(w: PerMille) -> String {
    format!("{:?}", f64::from(w) / 1000.0)
}

fn format_offset(o: i32) -> String {
    let sign = if o < 0 { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", o.abs() / 3600, o.abs() % 3600 / 60)
}

/// The rules a trace can name: the presets, and a rules file's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleBook {
    rules: Vec<RuleSpec>,
    /// The file read, if any.
    pub path: Option<PathBuf>,
}

impl Default for RuleBook {
    fn default() -> Self {
        RuleBook::built_in()
    }
}

impl RuleBook {
    /// The built-in presets.
    pub fn built_in() -> RuleBook {
        RuleBook::with_defaults(&RuleParams::default())
    }

    fn with_defaults(params: &RuleParams) -> RuleBook {
        let rules = BUILT_IN.iter().map(|&(r, d)| RuleSpec::preset(r, d, params.clone())).collect();
        RuleBook { rules, path: None }
    }

    /// The rules file at `path`, or the built-in presets without one.
    pub fn open(path: Option<&Path>) -> Result<RuleBook> {
        path.map_or_else(|| Ok(RuleBook::built_in()), RuleBook::read)
    }

    /// Read a rules file: the presets with its file-wide tables, and its named rules.
    pub fn read(path: &Path) -> Result<RuleBook> {
        let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
        RuleBook::parse(&text, path)
    }

    /// Parse a rules file's text (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<RuleBook> {
        let bad = |key: &str, reason: String| Error::BadInput {
            path: path.to_path_buf(),
            reason: format!("{key}: {reason}"),
        };
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| Error::BadInput {
            path: path.to_path_buf(),
            reason: e.to_string().trim_end().to_string(),
        })?;
        let mut defaults = RuleParams::default();
        let mut named: Vec<(&String, &toml::Value)> = Vec::new();
        for (key, value) in &table {
            match key.as_str() {
                "dwell" => defaults.dwell_by_category = categories(value, "dwell").map_err(|(k, r)| bad(&k, r))?,
                "weight" => defaults.category_weight.extend(weights(value, "weight").map_err(|(k, r)| bad(&k, r))?),
                "risk_by_day" => {
                    (defaults.risk_by_day, defaults.risk_outside) =
                        risk(value, "risk_by_day", defaults.risk_outside).map_err(|(k, r)| bad(&k, r))?
                }
                "rule" => {
                    let t = value.as_table().ok_or_else(|| bad("rule", "must be a table of named rules".into()))?;
                    named.extend(t.iter());
                }
                other => {
                    return Err(bad(other, "unknown key (expected dwell, weight, risk_by_day or rule.NAME)".into()));
                }
            }
        }
        let mut book = RuleBook::with_defaults(&defaults);
        book.path = Some(path.to_path_buf());
        for (name, value) in named {
            let spec = rule(name, value, &defaults).map_err(|(k, r)| bad(&k, r))?;
            match book.rules.iter_mut().find(|r| r.name == spec.name) {
                Some(r) => *r = spec,
                None => book.rules.push(spec),
            }
        }
        Ok(book)
    }

    /// Every rule, presets first.
    pub fn rules(&self) -> &[RuleSpec] {
        &self.rules
    }

    /// `req` under the rule `name`, as every front end reads `--rule`/`rule=`: the named rule's
    /// parameters set first (the caller's own override them after); with a rules file and no
    /// name, the file's `overlap`; with neither, `req` unchanged.
    pub fn apply_named(&self, name: Option<&str>, req: TraceRequest) -> Result<TraceRequest> {
        match name.or(self.path.as_ref().map(|_| "overlap")) {
            Some(name) => Ok(self.get(name)?.apply(req)),
            None => Ok(req),
        }
    }

    /// The rule named `name`.
    pub fn get(&self, name: &str) -> Result<&RuleSpec> {
        self.rules.iter().find(|r| r.name == name.trim()).ok_or_else(|| Error::InvalidArgument {
            what: "rule",
            value: name.to_string(),
            hint: format!("one of {}", self.rules.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")),
        })
    }
}

type KeyError = (String, String);

fn duration(v: &toml::Value, key: &str) -> Result<Seconds, KeyError> {
    let s = match v {
        toml::Value::Integer(i) if *i >= 0 => return Ok(*i),
        toml::Value::String(s) => s,
        other => return Err((key.into(), format!("expected a duration such as \"15m\" or seconds, got {other}"))),
    };
    parse_duration(s).map_err(|e| (key.into(), e.to_string()))
}

fn categories(v: &toml::Value, key: &str) -> Result<BTreeMap<String, Seconds>, KeyError> {
    let t = v.as_table().ok_or_else(|| (key.to_string(), "expected a table of category = duration".to_string()))?;
    t.iter().map(|(c, d)| Ok((c.clone(), duration(d, &format!("{key}.{c}"))?))).collect()
}

fn weight_of(v: &toml::Value, key: &str) -> Result<PerMille, KeyError> {
    match v {
        toml::Value::Float(f) if *f >= 0.0 && *f <= 1000.0 => Ok((f * 1000.0).round() as PerMille),
        toml::Value::Integer(i) if (0..=1000).contains(i) => Ok(*i as PerMille * 1000),
        other => Err((key.to_string(), format!("expected a weight between 0 and 1000, got {other}"))),
    }
}

fn weights(v: &toml::Value, key: &str) -> Result<BTreeMap<String, PerMille>, KeyError> {
    let t = v.as_table().ok_or_else(|| (key.to_string(), "expected a table of category = weight".to_string()))?;
    t.iter().map(|(c, w)| Ok((c.clone(), weight_of(w, &format!("{key}.{c}"))?))).collect()
}

fn risk(v: &toml::Value, key: &str, outside: PerMille) -> Result<(BTreeMap<i64, PerMille>, PerMille), KeyError> {
    let t = v.as_table().ok_or_else(|| (key.to_string(), "expected a table of day = weight".to_string()))?;
    let mut by_day = BTreeMap::new();
    let mut out = outside;
    for (day, w) in t {
        let k = format!("{key}.{day}");
        let w = weight_of(w, &k)?;
        if day == "outside" {
            out = w;
        } else {
            let d: i64 = day
                .parse()
                .map_err(|_| (k.clone(), "expected a day relative to onset (-2, 0, 3) or outside".into()))?;
            by_day.insert(d, w);
        }
    }
    Ok((by_day, out))
}

fn rule(name: &str, v: &toml::Value, defaults: &RuleParams) -> Result<RuleSpec, KeyError> {
    let at = |k: &str| format!("rule.{name}.{k}");
    let t = v.as_table().ok_or_else(|| (format!("rule.{name}"), "expected a table".to_string()))?;
    let base = match t.get("base") {
        None => ExposureRule::IntervalOverlap,
        Some(toml::Value::String(s)) => ExposureRule::parse(s).map_err(|e| (at("base"), e.to_string()))?,
        Some(other) => return Err((at("base"), format!("expected a rule name, got {other}"))),
    };
    let mut spec = RuleSpec::preset(base, "", defaults.clone());
    spec.name = name.to_string();
    for (key, value) in t {
        let k = at(key);
        match key.as_str() {
            "base" => {}
            "description" => {
                spec.description = value.as_str().ok_or_else(|| (k.clone(), "expected text".to_string()))?.to_string()
            }
            "linger" => spec.linger = Some(duration(value, &k)?),
            "dwell" => spec.dwell = Some(duration(value, &k)?),
            "max_visit" => {
                let d = duration(value, &k)?;
                if d == 0 {
                    return Err((k, "must be > 0".into()));
                }
                spec.max_visit = Some(d)
            }
            "min_overlap" => spec.min_overlap = Some(duration(value, &k)?),
            "radius" => spec.params.radius = duration(value, &k)?,
            "tz" => {
                let s =
                    value.as_str().ok_or_else(|| (k.clone(), "expected an offset such as \"+07:00\"".to_string()))?;
                spec.tz = Some(Tz::parse(s).map_err(|e| (k.clone(), e.to_string()))?.offset_seconds());
            }
            "dwell_by_category" => spec.params.dwell_by_category.extend(categories(value, &k)?),
            "weight" => spec.params.category_weight.extend(weights(value, &k)?),
            "risk_by_day" => {
                (spec.params.risk_by_day, spec.params.risk_outside) = risk(value, &k, spec.params.risk_outside)?
            }
            _ => {
                return Err((
                    k,
                    "unknown key (expected base, description, linger, dwell, max_visit, min_overlap, radius, tz, \
                     dwell_by_category, weight or risk_by_day)"
                        .into(),
                ));
            }
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RuleBook> {
        RuleBook::parse(text, Path::new("rules.toml"))
    }

    #[test]
    fn a_province_names_its_own_rule_over_the_presets() {
        let book = parse(
            "[dwell]\nmarket = \"45m\"\n[rule.hcm]\nbase = \"midnight\"\nlinger = 900\ntz = \"+07:00\"\n\
             dwell_by_category = { office = \"8h\" }\n",
        )
        .unwrap();
        let hcm = book.get("hcm").unwrap();
        assert_eq!(hcm.base, ExposureRule::Midnight);
        assert_eq!(hcm.linger, Some(900));
        assert_eq!(hcm.tz, Some(7 * 3600));
        assert_eq!(hcm.params.dwell_by_category.get("market"), Some(&2700));
        assert_eq!(hcm.params.dwell_by_category.get("office"), Some(&28_800));
        // File-wide tables reach the presets too.
        assert_eq!(book.get("overlap").unwrap().params.dwell_by_category.get("market"), Some(&2700));
        let req = hcm.apply(TraceRequest::new("X").dwell(60));
        assert_eq!((req.rule, req.linger, req.dwell, req.params.tz_offset), (ExposureRule::Midnight, 900, 60, 25_200));
    }

    #[test]
    fn every_preset_round_trips_through_its_toml() {
        let mut text = String::from("[dwell]\nmarket = \"45m\"\n[risk_by_day]\n0 = 1.5\noutside = 0.25\n");
        let book = parse(&text).unwrap();
        for r in book.rules() {
            text += &r.to_toml();
        }
        let again = parse(&text).unwrap();
        for (a, b) in book.rules().iter().zip(again.rules()) {
            assert_eq!(a.apply(TraceRequest::new("X")), b.apply(TraceRequest::new("X")), "{}", a.name);
        }
    }

    #[test]
    fn bad_files_name_the_key() {
        for (text, key) in [
            ("[rule.a]\ndwel = \"1h\"\n", "rule.a.dwel"),
            ("[rule.a]\ndwell = \"1x\"\n", "rule.a.dwell"),
            ("[rule.a]\nbase = \"nhs\"\n", "rule.a.base"),
            ("[dwell]\nmarket = true\n", "dwell.market"),
            ("[risk_by_day]\nsoon = 1.0\n", "risk_by_day.soon"),
            ("[rule.a]\ntz = \"Hanoi\"\n", "rule.a.tz"),
            ("colour = 1\n", "colour"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.starts_with(&format!("rules.toml: {key}: ")), "{text:?} → {e}");
        }
        let e = parse("[rule.a\n").unwrap_err().to_string();
        assert!(e.starts_with("rules.toml: ") && e.contains("line 1"), "{e}");
        assert!(RuleBook::built_in().get("nhs").unwrap_err().to_string().contains("pc-covid"));
    }
}
