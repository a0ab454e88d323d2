//! `ingest --scans`: raw scan logs paired into stays, against a reference written from the
//! pairing rules in `truyvet::ingest` (scans), on random logs split over several files; and the
//! rejections, with file, line and reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, RecordBatch, StringArray, TimestampSecondArray};
use proptest::prelude::*;
use truyvet::ingest::{ScanCounts, ScanOptions};
use truyvet::sql::{Session, SessionOptions};
use truyvet::{Ingest, Store};

use crate::fixture::T0;

/// (person, venue, time, direction)
type Scan = (String, String, i64, &'static str);
/// (person, venue, check_in, check_out)
type Stay = (String, String, i64, Option<i64>);

/// The reference: per person and venue, the scans in log order, by the documented rules.
fn reference(scans: &[Scan], o: ScanOptions) -> (Vec<Stay>, ScanCounts) {
    let mut by_key: BTreeMap<(&str, &str), Vec<(i64, &str)>> = BTreeMap::new();
    for (p, v, t, d) in scans {
        by_key.entry((p.as_str(), v.as_str())).or_default().push((*t, *d));
    }
    let mut stays = Vec::new();
    let mut c = ScanCounts { scans: scans.len() as u64, ..ScanCounts::default() };
    for ((p, v), list) in by_key {
        let mut stay = |a: i64, b: Option<i64>| stays.push((p.to_string(), v.to_string(), a, b));
        let (mut last, mut open): (Option<(i64, &str)>, Option<i64>) = (None, None);
        for (t, d) in list {
            if let Some((lt, ld)) = last {
                if t < lt {
                    c.rejected += 1;
                    continue;
                }
                if d == ld && t - lt <= o.debounce {
                    c.debounced += 1;
                    continue;
                }
            }
            last = Some((t, d));
            if let Some(t0) = open
                && (t - t0 > o.max_visit || d == "in")
            {
                stay(t0, None);
                c.unpaired += 1;
                open = None;
            }
            match (open, d) {
                (Some(t0), _) => {
                    stay(t0, Some(t));
                    c.paired += 1;
                    open = None;
                }
                (None, "out") => {
                    stay(t, None);
                    c.unpaired += 1;
                }
                (None, _) => open = Some(t),
            }
        }
        if let Some(t0) = open {
            stay(t0, None);
            c.unpaired += 1;
        }
    }
    stays.sort();
    (stays, c)
}

fn write_logs(dir: &Path, scans: &[Scan], files: usize) -> Vec<PathBuf> {
    let per = scans.len().div_ceil(files).max(1);
    scans
        .chunks(per)
        .enumerate()
        .map(|(i, chunk)| {
            let mut text = String::from("person_id,venue_id,scanned_at,direction\n");
            for (p, v, t, d) in chunk {
                text += &format!("{p},{v},{t},{d}\n");
            }
            let path = dir.join(format!("scans-{i}.csv"));
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect()
}

/// Every stored check-in, sorted.
fn stored(store: &Path) -> Vec<Stay> {
    let snap = Store::open(store).unwrap().snapshot();
    let s = Session::with_options(&snap, SessionOptions::default().threads(1)).unwrap();
    let (_, batches) = s
        .query("SELECT person_id, venue_id, arrow_cast(check_in, 'Timestamp(Second, None)') AS a, arrow_cast(check_out, 'Timestamp(Second, None)') AS b FROM checkins")
        .unwrap();
    let mut out = Vec::new();
    for b in &batches {
        let b: &RecordBatch = b;
        let text = |i: usize| arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Utf8).unwrap();
        let (p, v) = (text(0), text(1));
        let (p, v) =
            (p.as_any().downcast_ref::<StringArray>().unwrap(), v.as_any().downcast_ref::<StringArray>().unwrap());
        let a = b.column(2).as_any().downcast_ref::<TimestampSecondArray>().unwrap();
        let c = b.column(3).as_any().downcast_ref::<TimestampSecondArray>().unwrap();
        for r in 0..b.num_rows() {
            out.push((p.value(r).to_string(), v.value(r).to_string(), a.value(r), c.is_valid(r).then(|| c.value(r))));
        }
    }
    out.sort();
    out
}

fn scan_strategy() -> impl Strategy<Value = Vec<Scan>> {
    proptest::collection::vec(
        (0u8..4, 0u8..3, 0i64..(2 * 86_400), prop_oneof![2 => Just(""), 1 => Just("in"), 1 => Just("out")], 0i64..3),
        1..60,
    )
    .prop_map(|v| {
        // Duplicates a few seconds apart, as QR points log them.
        let mut scans: Vec<Scan> = Vec::new();
        for (p, venue, t, d, repeat) in v {
            for k in 0..repeat.max(1) {
                scans.push((format!("P{p}"), format!("V{venue}"), T0 + t + 20 * k, d));
            }
        }
        // A log is in time order; ties keep the order drawn.
        scans.sort_by_key(|s| s.2);
        scans
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The stored stays and the counts equal the reference, with the log split over 1–4 files
    /// ingested in 1–3 batches (a stay opened in one batch is closed in the next), and the
    /// store compacted between batches or not.
    #[test]
    fn pairing_matches_the_reference(
        scans in scan_strategy(),
        files in 1usize..5,
        batches in 1usize..4,
        compact in any::<bool>(),
        debounce in prop_oneof![Just(120i64), 0i64..600],
        max_visit in prop_oneof![Just(43_200i64), 600i64..20_000],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let o = ScanOptions { debounce, max_visit };
        let paths = write_logs(dir.path(), &scans, files);
        let store = dir.path().join("store");
        let per = paths.len().div_ceil(batches);
        let mut sum = ScanCounts::default();
        let (mut read, mut stored_rows, mut replaced) = (0, 0, 0);
        for (i, group) in paths.chunks(per).enumerate() {
            if compact && i > 0 {
                Store::compact(&store, None).unwrap();
            }
            let report = Ingest::new(&store).scans(o).run(group).unwrap();
            let c = report.scans.unwrap();
            prop_assert_eq!(c.scans + c.resumed, 2 * c.paired + c.unpaired + c.debounced + c.rejected);
            prop_assert_eq!(c.resumed, sum.carried, "a batch takes over what the last one left open");
            (read, stored_rows, replaced) = (read + report.rows_read, stored_rows + report.rows_stored, replaced + c.resumed);
            sum = ScanCounts {
                scans: sum.scans + c.scans,
                paired: sum.paired + c.paired,
                unpaired: sum.unpaired + c.unpaired,
                debounced: sum.debounced + c.debounced,
                rejected: sum.rejected + c.rejected,
                resumed: sum.resumed + c.resumed,
                carried: c.carried,
            };
        }
        let (want, counts) = reference(&scans, o);
        prop_assert_eq!(
            (sum.scans, sum.paired, sum.unpaired - sum.resumed, sum.debounced, sum.rejected),
            (counts.scans, counts.paired, counts.unpaired, counts.debounced, counts.rejected)
        );
        prop_assert_eq!(read, counts.scans);
        prop_assert_eq!((stored_rows - replaced) as usize, want.len());
        prop_assert_eq!(stored(&store), want);
        let verified = Store::verify(&store, false).unwrap();
        prop_assert!(verified.ok(), "{:?}", verified.problems);
    }
}

#[test]
fn bad_scans_are_quarantined_with_file_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.csv");
    std::fs::write(
        &log,
        "person_id,venue_id,scanned_at,direction\n\
         P1,V1,2021-08-01T08:00:00Z,in\n\
         P1,V1,2021-08-01T09:00:00Z,out\n\
         P1,V1,2021-08-01T08:30:00Z,\n\
         P2,V1,2021-08-01T08:00:00Z,sideways\n\
         P2,V1,not-a-time,\n\
         P3,V1,2021-08-01T08:00:00Z,\n",
    )
    .unwrap();
    let store = dir.path().join("store");
    let report = Ingest::new(&store)
        .scans(ScanOptions::default())
        .max_reject_ratio(1.0)
        .run(std::slice::from_ref(&log))
        .unwrap();
    assert_eq!(
        report.scans,
        Some(ScanCounts { scans: 6, paired: 1, unpaired: 1, debounced: 0, rejected: 3, resumed: 0, carried: 1 })
    );
    assert_eq!((report.rows_read, report.rows_stored, report.rows_rejected), (6, 2, 3));
    let q = report.sample_rejects.join("\n");
    for needle in [
        "log.csv:4: scan out of order: 2021-08-01T08:30:00Z is before the previous scan of this person at this venue (2021-08-01T09:00:00Z)",
        "log.csv:5: direction \"sideways\" is not in, out or empty",
        "log.csv:6: unparsable timestamp in scanned_at",
    ] {
        assert!(q.contains(needle), "{needle}\nin:\n{q}");
    }
    assert_eq!(
        stored(&store),
        [
            ("P1".into(), "V1".into(), T0 + 8 * 3600, Some(T0 + 9 * 3600)),
            ("P3".into(), "V1".into(), T0 + 8 * 3600, None)
        ]
    );
    // From Parquet, the out-of-order scan is quarantined re-rendered from its values.
    let pq = dir.path().join("log.parquet");
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("person_id", arrow::datatypes::DataType::Utf8, false),
        arrow::datatypes::Field::new("venue_id", arrow::datatypes::DataType::Utf8, false),
        arrow::datatypes::Field::new(
            "scanned_at",
            arrow::datatypes::DataType::Timestamp(arrow::datatypes::TimeUnit::Second, None),
            false,
        ),
        arrow::datatypes::Field::new("direction", arrow::datatypes::DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            std::sync::Arc::new(StringArray::from(vec!["P1", "P1", "P1"])),
            std::sync::Arc::new(StringArray::from(vec!["V1", "V1", "V1"])),
            std::sync::Arc::new(TimestampSecondArray::from(vec![T0 + 8 * 3600, T0 + 9 * 3600, T0 + 8 * 3600 + 1800])),
            std::sync::Arc::new(StringArray::from(vec![Some("in"), Some("OUT"), None])),
        ],
    )
    .unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&pq).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let report = Ingest::new(dir.path().join("s3"))
        .scans(ScanOptions::default())
        .max_reject_ratio(1.0)
        .run(std::slice::from_ref(&pq))
        .unwrap();
    let q = truyvet::store::quarantine::read(report.quarantine.as_ref().unwrap()).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!((q[0].line, q[0].raw.as_str()), (3, "P1,V1,2021-08-01T08:30:00Z,"));
    assert!(q[0].reason.starts_with("scan out of order"), "{}", q[0].reason);
    // A check-in file given as scans names the columns it lacks.
    let wrong = dir.path().join("checkins.csv");
    std::fs::write(&wrong, "person_id,venue_id,check_in,check_out\nP1,V1,2021-08-01T08:00:00Z,\n").unwrap();
    let e = Ingest::new(dir.path().join("s2")).scans(ScanOptions::default()).run(&[wrong]).unwrap_err().to_string();
    assert!(
        e.contains("header lacks column(s) scanned_at") && e.contains("person_id,venue_id,scanned_at[,direction]"),
        "{e}"
    );
}

#[test]
fn a_purge_keeps_the_carry_unless_it_purges_a_carried_stay() {
    let dir = tempfile::tempdir().unwrap();
    let day = 86_400;
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("person_id,venue_id,scanned_at,direction\n{text}")).unwrap();
        p
    };
    let carry = |store: &Path| Store::open(store).unwrap().snapshot().manifest().scan_carry.clone();
    // Day 0 holds an old stay, day 2 an entry whose exit comes in the next batch.
    let first = write("a.csv", &format!("P1,V1,{T0},\nP1,V1,{},\nP2,V1,{},in\n", T0 + 600, T0 + 2 * day));
    let exit = write("b.csv", &format!("P2,V1,{},out\n", T0 + 2 * day + 3600));
    for (purged_day, carried) in [(0, true), (2, false)] {
        let store = dir.path().join(format!("s{purged_day}"));
        let r = Ingest::new(&store).scans(ScanOptions::default()).run(std::slice::from_ref(&first)).unwrap();
        assert_eq!(r.scans.unwrap().carried, 1);
        assert!(carry(&store).is_some());
        Store::set_retention(&store, Some(1)).unwrap();
        // Keep one day: today = purged_day + 1 purges days up to `purged_day`.
        Store::purge(&store, T0.div_euclid(day) + purged_day + 1).unwrap();
        assert_eq!(carry(&store).is_some(), carried, "purge up to day {purged_day}");
        assert!(Store::verify(&store, false).unwrap().ok());
        let r = Ingest::new(&store).scans(ScanOptions::default()).run(std::slice::from_ref(&exit)).unwrap();
        let c = r.scans.unwrap();
        let stays = stored(&store);
        if carried {
            // The exit closes the stay the first batch left open, which replaces its open row.
            assert_eq!((c.resumed, c.paired, c.unpaired), (1, 1, 0));
            assert_eq!(stays, [("P2".into(), "V1".into(), T0 + 2 * day, Some(T0 + 2 * day + 3600))]);
        } else {
            // Afresh: the exit is a stray (the entry's day is gone).
            assert_eq!((c.resumed, c.paired, c.unpaired), (0, 0, 1));
            assert_eq!(stays, [("P2".into(), "V1".into(), T0 + 2 * day + 3600, None)]);
        }
    }
}

/// A carried state damaged on disk (one byte flipped), or intact but disagreeing with the
/// manifest's counts: `verify` names it, and the next batch of scans refuses to pair on from it
/// (an error naming the file) and commits nothing, rather than pairing from a wrong state.
#[test]
fn a_damaged_carry_is_named_by_verify_and_refused_by_the_next_batch() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("person_id,venue_id,scanned_at,direction\n{text}")).unwrap();
        p
    };
    let store = dir.path().join("s");
    let first = write("a.csv", &format!("P1,V1,{T0},in\nP2,V2,{},in\n", T0 + 60));
    let exit = write("b.csv", &format!("P1,V1,{},out\n", T0 + 3600));
    let r = Ingest::new(&store).scans(ScanOptions::default()).run(&[first]).unwrap();
    assert_eq!(r.scans.unwrap().carried, 2);
    let name = Store::open(&store).unwrap().snapshot().manifest().scan_carry.clone().unwrap().state;
    let file = store.join(&name);
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    std::fs::write(&file, &bytes).unwrap();
    let before = stored(&store);

    let report = Store::verify(&store, false).unwrap();
    assert!(!report.ok());
    assert!(report.problems.iter().any(|p| p.file.contains(&name)), "{:?}", report.problems);
    let e = Ingest::new(&store).scans(ScanOptions::default()).run(std::slice::from_ref(&exit)).unwrap_err().to_string();
    assert!(e.contains(&name), "{e}");
    assert_eq!(stored(&store), before, "nothing committed");

    // The file intact but the manifest's count of open stays altered (a manifest has no
    // checksum of its own): the state no longer agrees with it, and that too is refused.
    let bytes = std::fs::read(&file).unwrap();
    let mut fixed = bytes.clone();
    fixed[at] ^= 0x20;
    std::fs::write(&file, &fixed).unwrap();
    assert!(Store::verify(&store, false).unwrap().ok());
    let manifest = store.join(std::fs::read_to_string(store.join("CURRENT")).unwrap().trim());
    let mut m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(m["scan_carry"]["open"], 2);
    m["scan_carry"]["open"] = 3.into();
    std::fs::write(&manifest, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    let report = Store::verify(&store, false).unwrap();
    assert!(report.problems.iter().any(|p| p.reason.contains("open stays")), "{:?}", report.problems);
    let e = Ingest::new(&store).scans(ScanOptions::default()).run(&[exit]).unwrap_err().to_string();
    assert!(e.contains(&name) && e.contains("manifest records 3"), "{e}");
    assert_eq!(stored(&store), before, "nothing committed");
}
