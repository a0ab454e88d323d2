//! Subcommands: one file each.

mod audit;
mod cases;
#[cfg(feature = "cluster")]
mod cluster;
mod clusters;
mod compact;
mod demo;
mod generate;
mod hotspots;
mod ingest;
mod key;
mod purge;
mod rejects;
mod report;
mod retention;
mod rules;
mod serve;
#[cfg(feature = "sql")]
mod sql;
mod stats;
mod status;
mod trace;
mod users;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// truyvet: contact tracing over venue check-in logs.
#[derive(Debug, Parser)]
#[command(name = "truyvet", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a synthetic province, ingest it, trace an F0 and print its ranked F1 list.
    Demo(demo::Args),
    /// Generate synthetic check-in logs (seeded, streaming).
    Gen(generate::Args),
    /// Load check-in files (CSV, CSV.gz, Parquet) into a store, quarantining bad rows.
    Ingest(ingest::Args),
    /// Make a pseudonymisation key (`key new`), or compute pseudonyms with one.
    Key(key::Args),
    /// Summarise a store.
    Stats(stats::Args),
    /// Rewrite each day's parts as one (re-sorted, re-indexed), in one commit.
    Compact(compact::Args),
    /// Show or set how many days the store keeps.
    Retention(retention::Args),
    /// Remove every day older than the retention policy: data, indexes, dictionaries, quarantine.
    Purge(purge::Args),
    /// The quarantined (rejected) rows, with file, line and reason.
    Rejects(rejects::Args),
    /// Check every file of a store against its manifest (sizes, BLAKE3, structure).
    Verify(verify::Args),
    /// The cases register: import, add, list and remove confirmed cases (F0s).
    Cases(cases::Args),
    /// Trace an F0 (or a registered case): the ranked list of F1 contacts, and with --hops their
    /// F2 and F3.
    Trace(trace::Args),
    /// The exposure rules a trace can name (`--rule`): the presets and a rules file's.
    Rules(rules::Args),
    /// The exposure intervals of an F0's contacts (same as `trace --details`).
    Exposures(trace::Args),
    /// Venues where several registered cases stayed close together in time (where to cordon
    /// off), with the persons exposed there.
    Hotspots(hotspots::Args),
    /// The registered cases grouped by the links between them (one exposed to another, or both
    /// at one venue close in time).
    Clusters(clusters::Args),
    /// Is this person a case, or a contact at which hop, of which cases, where and when
    /// (under the current register).
    Status(status::Args),
    /// Run SQL over a store (DataFusion); an interactive prompt without a query.
    #[cfg(feature = "sql")]
    Sql(sql::Args),
    /// Serve the tracers' web page and the JSON/Arrow API over a store.
    Serve(serve::Args),
    /// Run a DataFusion Ballista scheduler or executor for `truyvet sql --cluster`.
    #[cfg(feature = "cluster")]
    Cluster(cluster::Args),
    /// The accounts of `serve --users`: add, remove, list.
    Users(users::Args),
    /// Reports for a province: `report daily` (QR adoption, cases and contacts, hotspots, data
    /// quality), as HTML, Markdown or JSON.
    Report(report::Args),
    /// The store's audit log: every request the server answered, who, when, what, outcome.
    Audit(audit::Args),
}

/// A store directory argument shared by subcommands.
#[derive(Debug, clap::Args)]
pub struct StoreArg {
    /// The store directory.
    #[arg(long, short = 's', value_name = "DIR")]
    pub store: PathBuf,
}

/// The exposure rules every tracing command takes (unset: [`truyvet::TraceRequest::default`]).
#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// The exposure rule: overlap (default), pc-covid, midnight, next-checkin, cwa, or a rule
    /// named in --rules (`truyvet rules list`).
    #[arg(long, value_name = "NAME")]
    pub rule: Option<String>,
    /// A rules file (TOML): per-category dwell, cwa's risk by day, named rules.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<std::path::PathBuf>,
    /// pc-covid: the largest gap between two scans that makes a contact.
    #[arg(long, value_parser = duration)]
    pub radius: Option<i64>,
    /// How long a presence lingers after the person leaves (90s, 15m, 1h30m, seconds).
    #[arg(long, value_parser = duration)]
    pub linger: Option<i64>,
    /// Stay assumed when a check-out is missing.
    #[arg(long, value_parser = duration)]
    pub dwell: Option<i64>,
    /// Longest stay credited to one check-in.
    #[arg(long, value_parser = duration)]
    pub max_visit: Option<i64>,
    /// Least exposure for a contact to count.
    #[arg(long, value_parser = duration)]
    pub min_overlap: Option<i64>,
}

impl RulesArgs {
    /// The rules a command can name: the presets, and --rules's.
    pub fn book(&self) -> anyhow::Result<truyvet::RuleBook> {
        Ok(truyvet::RuleBook::open(self.rules.as_deref())?)
    }

    /// Set the rules given on `req`: the rule named by --rule (or, with --rules, the file's
    /// `overlap`), with local days in `tz` unless the rule names its zone, then the durations
    /// given as flags.
    pub fn apply(&self, req: &mut truyvet::TraceRequest, tz: truyvet::Tz) -> anyhow::Result<()> {
        self.apply_rule(req, self.rule.as_deref(), tz)
    }

    /// As [`RulesArgs::apply`] with the rule `name` (or the default) instead of --rule's.
    pub fn apply_rule(
        &self,
        req: &mut truyvet::TraceRequest,
        name: Option<&str>,
        tz: truyvet::Tz,
    ) -> anyhow::Result<()> {
        std::sync::Arc::make_mut(&mut req.params).tz_offset = tz.offset_seconds();
        if name.is_some() || self.rules.is_some() {
            *req = self.book()?.apply_named(name, req.clone())?;
        }
        if let Some(r) = self.radius {
            std::sync::Arc::make_mut(&mut req.params).radius = r;
        }
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
        Ok(())
    }
}

/// A duration argument (`90s`, `15m`, `1h30m`, `3d`, seconds).
pub fn duration(s: &str) -> Result<i64, String> {
    truyvet::time::parse_duration(s).map_err(|e| e.to_string())
}

/// A mistake in how the command was called that clap cannot see (exit 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Fail with a [`UsageError`].
macro_rules! usage {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::cmd::UsageError(format!($($arg)*))))
    };
}
pub(crate) use usage;

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Gen(a) => generate::run(a),
        Command::Ingest(a) => ingest::run(a),
        Command::Key(a) => key::run(a),
        Command::Stats(a) => stats::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Compact(a) => compact::run(a),
        Command::Retention(a) => retention::run(a),
        Command::Purge(a) => purge::run(a),
        Command::Rejects(a) => rejects::run(a),
        Command::Cases(a) => cases::run(a),
        Command::Hotspots(a) => hotspots::run(a),
        Command::Clusters(a) => clusters::run(a),
        Command::Status(a) => status::run(a),
        Command::Serve(a) => serve::run(a),
        #[cfg(feature = "cluster")]
        Command::Cluster(a) => cluster::run(a),
        Command::Users(a) => users::run(a),
        Command::Audit(a) => audit::run(a),
        Command::Report(a) => report::run(a),
        Command::Rules(a) => rules::run(a),
        Command::Trace(a) => trace::run(a, false),
        Command::Exposures(a) => trace::run(a, true),
        #[cfg(feature = "sql")]
        Command::Sql(a) => sql::run(a),
    }
}
