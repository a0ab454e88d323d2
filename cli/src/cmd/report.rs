//! `truyvet report daily`: the day's report a province asks for, as one HTML file, Markdown
//! with SVG charts beside it, or JSON.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use truyvet::report::ReportRequest;
use truyvet::report::render::{self, Lang};
use truyvet::time::parse_day;
use truyvet::{Store, Tz};

use super::{StoreArg, usage};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    kind: Kind,
}

#[derive(Debug, clap::Subcommand)]
enum Kind {
    /// Adoption of QR check-in, the period's cases and contacts, hotspots, data quality.
    Daily(DailyArgs),
}

#[derive(Debug, clap::Args)]
struct DailyArgs {
    #[command(flatten)]
    store: StoreArg,
    /// The day reported on (YYYY-MM-DD, a local day of --tz).
    #[arg(long, value_name = "DAY", conflicts_with_all = ["from", "to"], required_unless_present = "from")]
    date: Option<String>,
    /// First day of a longer period (with --to), e.g. a week.
    #[arg(long, value_name = "DAY", requires = "to")]
    from: Option<String>,
    /// Last day of the period, inclusive.
    #[arg(long, value_name = "DAY", requires = "from")]
    to: Option<String>,
    /// Time zone of the days (Vietnam: +07:00).
    #[arg(long, default_value = "UTC", value_parser = super::ingest::parse_tz)]
    tz: Tz,
    /// Days before the period to compare with.
    #[arg(long, default_value_t = 7, value_name = "N")]
    baseline: i64,
    /// Hops traced from each new case (1: F1 only; 2: F1 and F2).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=3))]
    hops: u8,
    #[command(flatten)]
    rules: super::RulesArgs,
    /// Labels and number format: vi (Vietnamese, the default) or en.
    #[arg(long, default_value = "vi", value_parser = ["vi", "en"])]
    lang: String,
    /// html (one self-contained file), md (charts as SVG files beside it) or json (default: from
    /// the --output extension, else html).
    #[arg(long, value_parser = ["html", "md", "json"])]
    format: Option<String>,
    /// Write to FILE instead of stdout (required for md).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let Kind::Daily(a) = a.kind;
    let (from, to) = match (&a.date, &a.from, &a.to) {
        (Some(d), _, _) => {
            let d = parse_day("--date", d)?;
            (d, d)
        }
        (None, Some(f), Some(t)) => (parse_day("--from", f)?, parse_day("--to", t)?),
        _ => usage!("give --date DAY, or --from DAY --to DAY"),
    };
    let format = match (a.format.as_deref(), a.output.as_deref().and_then(Path::extension).and_then(|e| e.to_str())) {
        (Some(f), _) => f.to_string(),
        (None, Some("md" | "markdown")) => "md".into(),
        (None, Some("json")) => "json".into(),
        _ => "html".into(),
    };
    let lang = Lang::parse(&a.lang)?;
    let mut req = ReportRequest::daily(from, a.tz);
    req.to = to;
    req.baseline_days = a.baseline;
    req.hops = a.hops;
    a.rules.apply(&mut req.rules, a.tz)?;
    let snap = Store::open(&a.store.store)?.snapshot();
    let report = snap.daily_report(&req)?;
    for n in &report.notes {
        eprintln!("note: {}", render::note(n, Lang::En));
    }
    match format.as_str() {
        "json" => emit(a.output.as_deref(), &(serde_json::to_string_pretty(&report)? + "\n"))?,
        "html" => emit(a.output.as_deref(), &render::html(&report, lang)?)?,
        _ => {
            let Some(out) = a.output.as_deref() else {
                usage!("--format md writes its charts as files beside the report: give --output FILE.md")
            };
            let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("report");
            let (text, charts) = render::markdown(&report, lang, &format!("{stem}-"))?;
            let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            for (name, svg) in charts {
                let path = dir.join(name);
                std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
            }
            emit(Some(out), &text)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Write `text` to `output`, or to stdout.
fn emit(output: Option<&Path>, text: &str) -> Result<()> {
    let mut out = crate::output::sink(output)?;
    out.write_all(text.as_bytes())?;
    Ok(out.flush()?)
}
