//! Criterion micro-benchmarks of the kernels, on data from the seeded generator (cached by
//! parameters under `truyvet_benches::cache_root()`): interval union and intersection, the
//! venue-window lookup, index and store opening, dictionary lookups, timestamp and CSV parsing,
//! and one end-to-end trace. Run: `cargo bench -p truyvet-benches`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use truyvet::encode::Encoding;
use truyvet::time::{Tz, parse_timestamp};
use truyvet::trace::interval::merge_sorted;
use truyvet::{Ingest, Store, TraceRequest};
use truyvet_datasets::GenConfig;

fn config() -> GenConfig {
    GenConfig {
        people: 30_000,
        venues: 1_500,
        days: 7,
        format: truyvet_datasets::OutputFormat::Csv,
        ..GenConfig::default()
    }
}

/// A cached store from the generator (ingested once per parameters).
fn store() -> Store {
    let root = truyvet_benches::cache_root();
    let cfg = config();
    let (data, _) = truyvet_benches::cached_dataset(&root, &cfg, &|_| {}).expect("generate");
    let dir = truyvet_benches::store_dir(&root, &cfg);
    if !dir.join("CURRENT").exists() {
        Ingest::new(&dir).venues(data.join("venues.csv")).run(&[data.join("checkins")]).expect("ingest");
    }
    Store::open(&dir).expect("open")
}

/// What the trace runs: merging sorted stays (U0 per venue, episodes per contact) in place.
fn intervals(c: &mut Criterion) {
    let mut g = c.benchmark_group("interval");
    let mut raw: Vec<(i64, i64)> =
        (0..10_000i64).map(|i| ((i * 7919) % 86_400, (i * 7919) % 86_400 + 600 + i % 3600)).collect();
    raw.sort_unstable();
    g.throughput(Throughput::Elements(raw.len() as u64));
    g.bench_function("merge_sorted_10k", |b| {
        b.iter_batched(|| raw.clone(), |mut v| merge_sorted(black_box(&mut v)), BatchSize::SmallInput)
    });
    g.finish();
}

fn parsing(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    g.bench_function("rfc3339_offset", |b| {
        b.iter(|| parse_timestamp(black_box(b"2021-08-01T08:15:00+07:00"), Tz::UTC))
    });
    g.bench_function("naive", |b| b.iter(|| parse_timestamp(black_box(b"2021-08-01 08:15:00"), Tz::UTC)));
    g.bench_function("unix", |b| b.iter(|| parse_timestamp(black_box(b"1627780500"), Tz::UTC)));
    // The alternative to the hand-written parser (see engine/src/time.rs): chrono's parsers, the
    // RFC 3339 one first and a naive one as the fallback every offset-less row would take.
    g.bench_function("chrono_rfc3339_offset", |b| {
        b.iter(|| chrono::DateTime::parse_from_rfc3339(black_box("2021-08-01T08:15:00+07:00")).map(|t| t.timestamp()))
    });
    g.bench_function("chrono_naive", |b| {
        b.iter(|| {
            let s = black_box("2021-08-01 08:15:00");
            chrono::DateTime::parse_from_rfc3339(s).map(|t| t.timestamp()).or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").map(|t| t.and_utc().timestamp())
            })
        })
    });
    g.finish();

    // CSV ingest of 100k rows end to end (parse, validate, encode, sort, write, commit).
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    let mut body = String::from("person_id,venue_id,check_in,check_out\n");
    for i in 0..100_000u64 {
        body.push_str(&format!(
            "09{:08},QR-HNI-{:06},2021-08-01T{:02}:{:02}:00+07:00,\n",
            (i * 7919) % 40_000,
            i % 900,
            6 + i % 14,
            i % 60
        ));
    }
    std::fs::write(&csv, body).unwrap();
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10);
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("csv_100k", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |store| Ingest::new(store.path().join("s")).run(std::slice::from_ref(&csv)).unwrap(),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn store_ops(c: &mut Criterion) {
    let store = store();
    let snap = store.snapshot();
    let f0s = truyvet_benches::pick_f0s(&snap, 256, 7).unwrap();
    let mut g = c.benchmark_group("store");
    g.bench_function("open", |b| b.iter(|| Store::open(store.dir()).unwrap()));
    g.bench_function("person_key_lookup", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % f0s.len();
            snap.person_key(black_box(&f0s[i]))
        })
    });
    let part = snap.parts().iter().max_by_key(|p| p.info.rows).unwrap();
    let venues: Vec<u32> = part.venues().unwrap().into_iter().take(512).collect();
    let t0 = part.info.min_check_in;
    g.bench_function("venue_window_lookup", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % venues.len();
            part.rows_at_venue(black_box(venues[i]), t0 + 8 * 3600, t0 + 10 * 3600).unwrap()
        })
    });
    g.bench_function("person_rows", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % f0s.len();
            let p = snap.person_key(&f0s[i]).unwrap().unwrap();
            part.rows_of_person(p).unwrap().len()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("trace");
    for parallel in [false, true] {
        g.bench_function(if parallel { "f1_parallel" } else { "f1_single_thread" }, |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % f0s.len();
                snap.trace(&TraceRequest::new(f0s[i].as_str()).parallel(parallel)).unwrap().contacts.len()
            })
        });
    }
    g.finish();

    // What a server's answer costs beside the trace: the ranked list as CSV, and as JSON (a
    // dashboard's default).
    let mut g = c.benchmark_group("encode");
    let lists: Vec<_> = f0s.iter().map(|f0| snap.trace(&TraceRequest::new(f0.as_str())).unwrap()).collect();
    for (name, encoding) in [("f1_list_csv", Encoding::Csv), ("f1_list_json", Encoding::Json)] {
        g.bench_function(name, |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % lists.len();
                let batch = lists[i].to_record_batch();
                truyvet::encode::to_vec(&batch.schema(), &[batch], encoding).unwrap().len()
            })
        });
    }
    // ... and as arrow's JSON writer writes it (timestamps as text first), the same bytes.
    g.bench_function("f1_list_json_arrow", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % lists.len();
            let batch = truyvet::encode::times_as_text(&lists[i].to_record_batch()).unwrap();
            let mut w = arrow::json::ArrayWriter::new(Vec::new());
            w.write(&batch).unwrap();
            w.finish().unwrap();
            w.into_inner().len()
        })
    });
    g.finish();
}

criterion_group!(benches, intervals, parsing, store_ops);
criterion_main!(benches);
