//! `truyvet-fuzz`: throw mutated bytes at the engine's readers (CSV rows, time parsers, trace
//! indexes, dictionary segments) and report any panic. Seeded, so a failure reproduces; a short
//! run is part of CI, long runs are reported in the notes.
//!
//! Inputs are valid files (`truyvet::fuzz::seeds`) damaged by a few random mutations each: bit
//! flips, bytes set to edge values, runs overwritten, truncation, insertion, deletion, splices of
//! the input into itself. Half of the damaged indexes and dictionaries get their checksums
//! recomputed, so the structural checks behind the checksums are fuzzed as well (and format-1
//! files, which have none, are covered). A panicking input is written to `--out` and the run
//! exits 1.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Parser;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

#[derive(Debug, Parser)]
#[command(about = "Fuzz the engine's readers with mutated inputs")]
struct Args {
    /// Targets to run (default: all of csv, time, index, dict, links).
    #[arg(long, value_delimiter = ',')]
    target: Vec<String>,
    /// Inputs per target.
    #[arg(long, default_value_t = 100_000)]
    iterations: u64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where a panicking input is written.
    #[arg(long, default_value = "fuzz-crash.bin")]
    out: PathBuf,
}

fn mutate(rng: &mut Pcg64Mcg, input: &mut Vec<u8>) {
    for _ in 0..rng.random_range(1..=4) {
        let len = input.len();
        match rng.random_range(0..7) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                input[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                input[i] = [0, 0xff, 0x7f, 0x80, b'\n', b',', b'"', b'9'][rng.random_range(0..8)];
            }
            2 if len > 0 => {
                let i = rng.random_range(0..len);
                let n = rng.random_range(1..=16).min(len - i);
                let v: u8 = rng.random();
                input[i..i + n].fill(v);
            }
            3 if len > 0 => input.truncate(rng.random_range(0..len)),
            4 => {
                let i = rng.random_range(0..=len);
                let n = rng.random_range(1..=8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                input.splice(i..i, bytes);
            }
            5 if len > 1 => {
                let i = rng.random_range(0..len);
                let n = rng.random_range(1..=16).min(len - i);
                input.drain(i..i + n);
            }
            _ if len > 1 => {
                let (a, b) = (rng.random_range(0..len), rng.random_range(0..len));
                let n = rng.random_range(1..=32).min(len - a).min(len - b);
                let chunk = input[a..a + n].to_vec();
                input[b..b + n].copy_from_slice(&chunk);
            }
            _ => input.push(rng.random()),
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let targets: Vec<String> = if args.target.is_empty() {
        truyvet::fuzz::TARGETS.iter().map(|s| s.to_string()).collect()
    } else {
        args.target.clone()
    };
    // Panics are caught and reported below with where they happened; the default hook would
    // print each one.
    static WHERE: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());
    std::panic::set_hook(Box::new(|info| {
        if let (Some(l), Ok(mut w)) = (info.location(), WHERE.lock()) {
            *w = l.to_string();
        }
    }));
    for target in &targets {
        if !truyvet::fuzz::TARGETS.contains(&target.as_str()) {
            bail!("unknown target {target}; targets: {}", truyvet::fuzz::TARGETS.join(", "));
        }
        let seeds = truyvet::fuzz::seeds(target)?;
        let mut rng = Pcg64Mcg::seed_from_u64(args.seed);
        let start = Instant::now();
        let mut accepted = 0u64;
        for i in 0..args.iterations {
            let mut input = seeds[rng.random_range(0..seeds.len())].clone();
            if i > 0 {
                mutate(&mut rng, &mut input);
                // Half the inputs get their checksums recomputed, to reach the checks behind.
                if rng.random_range(0..2) == 0 {
                    truyvet::fuzz::reseal(target, &mut input);
                }
            }
            match std::panic::catch_unwind(|| truyvet::fuzz::run(target, &input)) {
                Ok(n) => accepted += u64::from(n > 0),
                Err(e) => {
                    std::fs::write(&args.out, &input)?;
                    let msg =
                        e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
                    bail!(
                        "{target}: input {i} (seed {}) panicked at {}: {}; input written to {}",
                        args.seed,
                        WHERE.lock().map(|w| w.clone()).unwrap_or_default(),
                        msg.unwrap_or_default(),
                        args.out.display()
                    );
                }
            }
        }
        println!(
            "{target}: {} inputs, no panic, {accepted} accepted in part, {:.1} s",
            args.iterations,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
