//! Compaction: a day in many parts becomes one part with the same rows and the same answers,
//! and snapshots opened before it keep working, SQL included.

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use truyvet::sql::Session;
use truyvet::{Ingest, Snapshot, Store, TraceRequest};

fn count(snap: &Snapshot) -> i64 {
    let (_, batches): (_, Vec<RecordBatch>) =
        Session::new(snap).unwrap().query("SELECT count(*) AS n FROM checkins").unwrap();
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

fn answers(snap: &Snapshot, f0s: &[String]) -> Vec<Vec<(String, i64, u32)>> {
    f0s.iter()
        .map(|f| {
            let r = snap.trace(&TraceRequest::new(f.as_str()).linger(600)).unwrap();
            r.contacts.iter().map(|c| (c.person_id.to_string(), c.exposure_seconds, c.episodes)).collect()
        })
        .collect()
}

#[test]
fn compaction_keeps_rows_and_answers_and_spares_open_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    // Three batches over the same two days, each flushed in small parts.
    for b in 0..3 {
        let input = dir.path().join(format!("b{b}.csv"));
        let mut text = String::from("person_id,venue_id,check_in,check_out\n");
        for i in 0..900 {
            let (day, hour, minute) = (1 + i % 2, 6 + (i * 7 + b) % 12, (i * 13) % 60);
            let out =
                if i % 3 == 0 { String::new() } else { format!("2021-08-0{day}T{:02}:{minute:02}:00Z", hour + 1) };
            text.push_str(&format!(
                "P{},V{},2021-08-0{day}T{hour:02}:{minute:02}:00Z,{out}\n",
                (i * 31 + b * 7) % 400,
                i % 23
            ));
        }
        std::fs::write(&input, text).unwrap();
        Ingest::new(&store).flush_rows(200).run(&[input]).unwrap();
    }
    let before = Store::open(&store).unwrap().snapshot();
    let f0s: Vec<String> = (0..40).map(|i| format!("P{}", i * 9)).collect();
    let (rows, want, n) = (before.manifest().rows(), answers(&before, &f0s), count(&before));
    assert!(before.parts().len() > 10, "{} parts", before.parts().len());

    let report = Store::compact(&store, None).unwrap();
    assert_eq!(report.days.len(), 2);
    let after = Store::open(&store).unwrap().snapshot();
    assert_eq!(after.parts().len(), 2, "one part per day");
    assert_eq!(after.manifest().rows(), rows);
    assert_eq!(answers(&after, &f0s), want);
    assert_eq!(count(&after), n);
    assert!(Store::verify(&store, false).unwrap().ok());
    assert_eq!(Store::compact(&store, None).unwrap().version, None, "nothing left to compact");

    // Another commit after the compaction: the snapshot opened before both still traces and
    // still scans its own (replaced) Parquet parts.
    let more = dir.path().join("more.csv");
    std::fs::write(&more, "person_id,venue_id,check_in,check_out\nNEW,V1,2021-08-01T08:00:00Z,\n").unwrap();
    Ingest::new(&store).run(&[more]).unwrap();
    assert_eq!(answers(&before, &f0s), want);
    assert_eq!(count(&before), n);
    let report = Store::verify(&store, false).unwrap();
    assert!(report.ok() && report.unreferenced.is_empty(), "{report:?}");
}
