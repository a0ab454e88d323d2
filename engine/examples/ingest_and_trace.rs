//! Library usage without the CLI: ingest files into a store, then trace a few F0s.
//!
//! `cargo run --release -p truyvet --example ingest_and_trace -- STORE F0 FILE...`

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(store), Some(f0)) = (args.next(), args.next()) else {
        eprintln!("usage: ingest_and_trace STORE F0 FILE...");
        std::process::exit(2);
    };
    let files: Vec<std::path::PathBuf> = args.map(Into::into).collect();
    if !files.is_empty() {
        let t = Instant::now();
        let flush = std::env::var("FLUSH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(8 << 20);
        let r = truyvet::Ingest::new(&store).flush_rows(flush).run(&files)?;
        let s = t.elapsed().as_secs_f64();
        println!(
            "ingest: {} rows in {s:.2}s = {:.2} M rows/s ({} rejected)",
            r.rows_read,
            r.rows_read as f64 / s / 1e6,
            r.rows_rejected
        );
    }
    let t = Instant::now();
    let store = truyvet::Store::open(&store)?;
    println!("open: {:.2} ms", t.elapsed().as_secs_f64() * 1e3);
    for _ in 0..3 {
        let t = Instant::now();
        let r = store.trace(&truyvet::TraceRequest::new(f0.as_str()))?;
        println!(
            "trace {f0}: {} contacts, {} rows examined, {:.3} ms",
            r.contacts.len(),
            r.rows_examined,
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    Ok(())
}
