//! `truyvet verify`: check every file of the store against its manifest; exit 4 if any is
//! damaged or missing.

use std::process::ExitCode;

use anyhow::Result;

use super::StoreArg;
use crate::output::{self, ReportFormat};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArg,
    /// Check sizes and headers only, not contents (seconds on any store).
    #[arg(long)]
    quick: bool,
    /// Output format (`json`: the library's `VerifyReport`).
    #[arg(long, value_enum, default_value = "table")]
    format: ReportFormat,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let r = truyvet::Store::verify(&args.store.store, args.quick)?;
    output::report(&r, args.format, || {
        let mut t = comfy_table::Table::new();
        t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        t.set_header(["file", "problem"]);
        for p in &r.problems {
            t.add_row([&p.file, &p.reason]);
        }
        let what = if r.quick { "sizes and headers" } else { "contents" };
        let mut s = format!(
            "version {}: {} files, {:.1} MiB, {what} checked: {}",
            r.version,
            r.files,
            r.bytes as f64 / 1048576.0,
            if r.ok() { "all intact".to_string() } else { format!("{} damaged or missing", r.problems.len()) }
        );
        if r.unhashed > 0 {
            s.push_str(&format!("\n{} files written by format 1 carry no hash: structure checked only", r.unhashed));
        }
        if !r.unreferenced.is_empty() {
            s.push_str(&format!(
                "\n{} files not named by the manifest (left by an interrupted write; the next write removes them)",
                r.unreferenced.len()
            ));
        }
        if !r.ok() {
            s = format!("{t}\n{s}");
        }
        s
    })?;
    Ok(if r.ok() { ExitCode::SUCCESS } else { ExitCode::from(truyvet::ErrorKind::Environment.exit_code()) })
}
