//! `truyvet trace` / `truyvet exposures`: an F0 → ranked F1 list or exposure intervals.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use truyvet::Case;
use truyvet::cases::CasesImport;
use truyvet::pseudonym::Key;
use truyvet::time::parse_time_arg;
use truyvet::time::{DAY, parse_day};
use truyvet::trace::{CasesRequest, ChainRequest};

use super::usage;
use truyvet::{Snapshot, Store, TraceRequest, TraceResult, Tz};

use super::StoreArg;
use crate::output::{self, Format};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["f0", "case_ids", "cases_confirmed", "cases_file"])))]
pub struct Args {
    #[command(flatten)]
    store: StoreArg,
    /// The confirmed case's person id.
    #[arg(long)]
    f0: Option<String>,
    /// A registered case (`truyvet cases`): its person, and its infectious window unless
    /// --from/--to say otherwise. Give it several times to trace several cases into one call
    /// list.
    #[arg(long = "case", value_name = "ID")]
    case_ids: Vec<String>,
    /// Trace every registered case confirmed on this day (YYYY-MM-DD, in --tz) into one call
    /// list.
    #[arg(long, value_name = "DAY")]
    cases_confirmed: Option<String>,
    /// Trace the cases of a case file (as `cases import` reads it, not registered) into one call
    /// list.
    #[arg(long = "cases", value_name = "FILE")]
    cases_file: Option<PathBuf>,
    /// With several cases: each case's own list (a `case_id` column) instead of the merged one.
    #[arg(long)]
    per_case: bool,
    /// Derive the cases' windows with this lookback instead of the stored one.
    #[arg(long, value_parser = super::duration)]
    lookback: Option<i64>,
    /// Start of the infectious window (RFC 3339, or naive read in --tz, or Unix seconds).
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// End of the infectious window (exclusive).
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// Offset for naive --from/--to.
    #[arg(long, default_value = "UTC", value_parser = super::ingest::parse_tz)]
    tz: Tz,
    #[command(flatten)]
    rules: super::RulesArgs,
    /// The F0's symptom onset (cwa weighs days from it; a registered case's is used otherwise).
    #[arg(long, value_name = "TIME")]
    onset: Option<String>,
    /// Rank by exposure (default), or by the risk score (exposure minutes × venue category
    /// weight × crowding × infectiousness by day from onset; each part a column).
    #[arg(long, value_enum, default_value = "exposure")]
    rank: RankArg,
    /// Trace the F0 under this rule too and list who each rule lists, who only one lists, and
    /// rank moves (counts first).
    #[arg(long, value_name = "RULE")]
    compare: Option<String>,
    /// Show only the top N contacts.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Output format (default: table on a terminal, CSV otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// One row per exposure interval (person, venue, start, end, seconds).
    #[arg(long)]
    details: bool,
    /// The key of a pseudonymised store: --f0 is then a clear id, and contacts are listed by
    /// clear id. Without it, a pseudonymised store is traced and listed by pseudonym.
    #[arg(long, value_name = "KEYFILE")]
    key: Option<PathBuf>,
    /// Follow contacts this many hops: 2 adds the F2 (contacts of F1s after their own
    /// exposure), 3 the F3. The list gains `hop` and `via` columns.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=3))]
    hops: u8,
    /// Delay after a contact's first exposure before it can pass it on (hops ≥ 2).
    #[arg(long, value_parser = super::duration)]
    latency: Option<i64>,
    /// Follow only the top N contacts of each hop to the next (the output says when this cut).
    #[arg(long, value_name = "N")]
    max_per_hop: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RankArg {
    Exposure,
    Score,
}

/// Who is traced: the F0's id as the trace takes it (a clear id with --key), or `None` for a
/// registered case whose person has no check-ins in the store.
fn f0_of(a: &Args, snap: &Snapshot, key: Option<&Key>) -> Result<(Option<String>, TraceRequest)> {
    let Some(id) = a.case_ids.first() else {
        let f0 = a.f0.clone().expect("clap requires --f0 or --case");
        return Ok((Some(f0.clone()), TraceRequest::new(f0)));
    };
    let case = snap.case(id)?.ok_or_else(|| truyvet::Error::NotFound { what: "case", id: id.clone() })?;
    let req = TraceRequest::for_case(case, a.lookback);
    let Some(person) = snap.person_key(&case.person_id)? else { return Ok((None, req)) };
    // A pseudonymised register names the pseudonym; a key holder traces by clear id.
    let f0 = match key {
        Some(key) => snap.clear_ids(key, &[person])?.remove(0),
        None => case.person_id.clone(),
    };
    Ok((Some(f0.clone()), TraceRequest { f0, ..req }))
}

/// Build the library request from the arguments; unset options keep the F0's or the case's.
fn request(a: &Args, mut req: TraceRequest, rule: Option<&str>) -> Result<TraceRequest> {
    if let Some(t) = &a.from {
        req.from = Some(parse_time_arg("--from", t, a.tz)?);
    }
    if let Some(t) = &a.to {
        req.to = Some(parse_time_arg("--to", t, a.tz)?);
    }
    if let Some(t) = &a.onset {
        req.onset = Some(parse_time_arg("--onset", t, a.tz)?);
    }
    a.rules.apply_rule(&mut req, rule, a.tz)?;
    req.rank_by = match a.rank {
        RankArg::Exposure => truyvet::trace::RankBy::Exposure,
        RankArg::Score => truyvet::trace::RankBy::Score,
    };
    req.limit = a.limit;
    Ok(req)
}

pub fn run(args: Args, details_cmd: bool) -> Result<ExitCode> {
    let key = args.key.as_deref().map(Key::read).transpose()?;
    // One F0 traced and the process exits: its pages are read at scattered places.
    let one_f0 = args.case_ids.len() <= 1 && args.cases_confirmed.is_none() && args.cases_file.is_none();
    truyvet::store::set_scattered_reads(one_f0 && args.hops <= 1);
    let snap = Store::open(&args.store.store)?.snapshot();
    if args.case_ids.len() > 1 || args.cases_confirmed.is_some() || args.cases_file.is_some() {
        return run_cases(&args, details_cmd, &snap, key.as_ref());
    }
    if args.per_case {
        usage!("--per-case needs several cases (--case more than once, --cases-confirmed or --cases)");
    }
    if args.lookback.is_some() && args.case_ids.is_empty() {
        usage!("--lookback applies to cases (--case, --cases-confirmed, --cases), not to --f0");
    }
    let (f0, base) = f0_of(&args, &snap, key.as_ref())?;
    let req = request(&args, base.clone(), args.rules.rule.as_deref())?;
    let format = Format::or_default(args.format, args.output.as_deref());
    let out = args.output.as_deref();
    let details = args.details || details_cmd;
    // The list alone needs no intervals, but the table shows each contact's venues from them.
    let req = req.intervals(details || format == Format::Table);
    let chain = args.hops > 1 || args.latency.is_some() || args.max_per_hop.is_some();
    if chain && args.compare.is_some() {
        usage!("--compare compares one F0's F1 lists: drop --hops, --latency and --max-per-hop");
    }
    let Some(f0) = f0 else {
        eprintln!(
            "note: case {}'s person has no check-in in the store; the contact list is empty",
            args.case_ids.first().map(String::as_str).unwrap_or_default()
        );
        let schema = match (details, chain) {
            (true, _) => truyvet::model::EXPOSURES_SCHEMA.clone(),
            (false, true) => truyvet::trace::CHAIN_SCHEMA.clone(),
            (false, false) => truyvet::trace::f1_schema(req.rule),
        };
        return output::write(&schema, &[], format, out).map(|_| ExitCode::SUCCESS);
    };
    let hint = |e: truyvet::Error| match e {
        e @ truyvet::Error::NotFound { .. } if key.is_none() && snap.pseudonyms().is_some() => anyhow::Error::new(e)
            .context(format!(
                "store {} is pseudonymised: give the F0's pseudonym, or --key KEYFILE to trace a clear id",
                args.store.store.display()
            )),
        e => e.into(),
    };
    if chain {
        let mut creq = ChainRequest::new(req, args.hops).max_per_hop(args.max_per_hop);
        if let Some(l) = args.latency {
            creq = creq.latency(l);
        }
        let result = snap.trace_chain(&creq, key.as_ref()).map_err(hint)?;
        for n in result.notes() {
            eprintln!("note: {n}");
        }
        if result.is_empty() {
            eprintln!("note: F0 {f0} has no contact in the window; the list is empty");
        }
        let batch = if details { result.exposures_record_batch()? } else { result.to_record_batch()? };
        return output::write(&batch.schema(), &[batch], format, out).map(|_| ExitCode::SUCCESS);
    }
    let traced = |req: &TraceRequest| match &key {
        Some(key) => snap.trace_with_key(req, key),
        None => snap.trace(req),
    };
    let result = traced(&req).map_err(hint)?;
    if let Some(other) = &args.compare {
        if details {
            usage!("--compare lists persons, not exposure intervals: drop --details");
        }
        let b = request(&args, base.clone(), Some(other))?;
        let compared = truyvet::trace::Comparison::of(&result, &traced(&b).map_err(hint)?)
            .named(args.rules.rule.as_deref().unwrap_or("overlap"), other);
        let batch = compared.to_record_batch();
        if format == Format::Table {
            println!("{}", compared.summary());
        } else {
            eprintln!("note: {}", compared.summary());
        }
        output::write(&batch.schema(), &[batch], format, out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if result.contacts.is_empty() {
        eprintln!(
            "note: F0 {f0} has {} check-in(s) that can reach the window and no contact in it; the F1 list is empty",
            result.f0_visits
        );
    }
    if details {
        let batch = result.exposures_record_batch()?;
        return output::write(&batch.schema(), &[batch], format, out).map(|_| ExitCode::SUCCESS);
    }
    let batch = result.to_record_batch();
    let batch = if format == Format::Table { with_venue_names(&result, &batch)? } else { batch };
    output::write(&batch.schema(), &[batch], format, out)?;
    Ok(ExitCode::SUCCESS)
}

/// Several cases at once: the merged call list (or each case's list).
fn run_cases(args: &Args, details_cmd: bool, snap: &Snapshot, key: Option<&Key>) -> Result<ExitCode> {
    if args.compare.is_some() {
        usage!("--compare compares one F0's lists: trace one --f0 or --case");
    }
    if args.details || details_cmd {
        usage!("exposure intervals are listed for one case at a time: trace one --case, or use --per-case");
    }
    let cases: Vec<Case> = if let Some(day) = &args.cases_confirmed {
        let start = parse_day("--cases-confirmed", day)? * DAY - i64::from(args.tz.offset_seconds());
        snap.cases()?.iter().filter(|c| (start..start + DAY).contains(&c.confirmed_at)).cloned().collect()
    } else if let Some(file) = &args.cases_file {
        let mut read = CasesImport::new(&args.store.store).tz(args.tz);
        if let Some(l) = args.lookback {
            read = read.lookback(l);
        }
        if let Some(path) = &args.key {
            read = read.pseudonymise(Key::read(path)?);
        }
        read.cases_of(std::slice::from_ref(file))?
    } else {
        args.case_ids
            .iter()
            .map(|id| snap.case(id)?.cloned().ok_or_else(|| truyvet::Error::NotFound { what: "case", id: id.clone() }))
            .collect::<truyvet::Result<_>>()?
    };
    let template = request(args, TraceRequest::default(), args.rules.rule.as_deref())?;
    let mut chain = ChainRequest::new(template, args.hops).max_per_hop(args.max_per_hop);
    if let Some(l) = args.latency {
        chain = chain.latency(l);
    }
    let req = CasesRequest { chain, lookback: args.lookback, per_case: args.per_case };
    let t0 = std::time::Instant::now();
    let list = snap.trace_cases(&cases, &req, key)?;
    for n in list.notes() {
        eprintln!("note: {n}");
    }
    eprintln!(
        "traced {} case(s) in {:.2}s: {} person(s) to call",
        cases.len(),
        t0.elapsed().as_secs_f64(),
        list.calls.len()
    );
    let batch = if args.per_case { list.per_case_record_batch()? } else { list.to_record_batch() };
    let format = Format::or_default(args.format, args.output.as_deref());
    output::write(&batch.schema(), &[batch], format, args.output.as_deref())?;
    Ok(ExitCode::SUCCESS)
}

/// The table view adds the names of each contact's main venues.
pub fn with_venue_names(result: &TraceResult, batch: &RecordBatch) -> Result<RecordBatch> {
    let snap = result.snapshot();
    let attrs = snap.venue_attrs()?;
    let names: StringArray = result
        .contacts
        .iter()
        .map(|c| {
            let venues = result.venues_of(c.rank);
            let mut shown: Vec<String> = venues
                .iter()
                .take(2)
                .map(|&(v, _)| {
                    let id = snap.venue_id(v)?;
                    Ok(attrs.get(id).and_then(|a| a.name.clone()).unwrap_or_else(|| id.to_string()))
                })
                .collect::<truyvet::Result<_>>()?;
            if venues.len() > 2 {
                shown.push(format!("+{} more", venues.len() - 2));
            }
            Ok(Some(shown.join(", ")))
        })
        .collect::<truyvet::Result<_>>()?;
    let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("where", DataType::Utf8, true));
    let mut cols = batch.columns().to_vec();
    cols.push(Arc::new(names));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}
