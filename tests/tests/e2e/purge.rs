//! Retention: a purge removes old days from everything, dictionaries and quarantine included,
//! so a person seen only in purged days leaves no byte behind; the kept days answer as before.

use std::path::Path;

use truyvet::{Ingest, Store, TraceRequest};

/// Every file under `dir` whose bytes contain `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).unwrap().windows(needle.len()).any(|w| w == needle) {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

fn contacts(store: &Store, req: &TraceRequest) -> Vec<(String, i64)> {
    let r = store.trace(req).unwrap();
    r.contacts.into_iter().map(|c| (c.person_id.into_string(), c.exposure_seconds)).collect()
}

#[test]
fn purge_leaves_no_byte_of_a_purged_person_and_keeps_recent_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    // Five days; OLDONLY visits on day 1 only, with a long id that compresses nowhere into
    // something else. Each day is its own batch; day 1's batch also has a rejected row.
    for day in 1..=5 {
        let input = dir.path().join(format!("d{day}.csv"));
        let mut text = String::from("person_id,venue_id,check_in,check_out\n");
        for i in 0..40 {
            text.push_str(&format!(
                "P{i},V{},2021-08-0{day}T{:02}:00:00Z,2021-08-0{day}T{:02}:30:00Z\n",
                i % 4,
                8 + i % 6,
                8 + i % 6
            ));
        }
        if day == 1 {
            text.push_str("OLDONLY-0901234567,V0,2021-08-01T08:10:00Z,\n");
            text.push_str("OLDONLY-0901234567,V0,not-a-time,\n");
        }
        std::fs::write(&input, text).unwrap();
        Ingest::new(&store).max_reject_ratio(1.0).run(&[input]).unwrap();
    }
    let needle = b"OLDONLY-0901234567";
    assert!(!files_holding(&store, needle).is_empty(), "the id is on disk before the purge");
    let open = Store::open(&store).unwrap();
    let recent = contacts(&open, &TraceRequest::new("P3"));

    Store::set_retention(&store, Some(3)).unwrap();
    // As of 08-05, keeping 3 days keeps 08-03..08-05.
    let r = Store::purge(&store, 18_844).unwrap();
    assert_eq!((r.days_purged, r.rows_purged, r.first_kept_day.as_str()), (2, 81, "2021-08-03"));
    assert_eq!((r.persons_purged, r.quarantine_files_purged), (1, 1));
    assert_eq!(files_holding(&store, needle), Vec::<String>::new(), "a purged person's id is still on disk");

    let after = Store::open(&store).unwrap();
    let snap = after.snapshot();
    assert_eq!(snap.person_key("OLDONLY-0901234567").unwrap(), None);
    assert_eq!(snap.manifest().days().len(), 3);
    assert_eq!(snap.manifest().rows(), 120);
    let kept: Vec<(String, i64)> = contacts(&after, &TraceRequest::new("P3"));
    assert!(!kept.is_empty());
    // The old snapshot counted days 1 and 2 as well: each kept contact's exposure can only
    // have shrunk, and a trace limited to the kept days gives the same list as before.
    let window = TraceRequest::new("P3").window(Some(18_842 * 86_400), None);
    assert_eq!(contacts(&after, &window), contacts(&open, &window));
    assert!(recent.len() >= kept.len());
    let v = Store::verify(&store, false).unwrap();
    assert!(v.ok() && v.unreferenced.is_empty(), "{v:?}");
    assert_eq!(std::fs::read_dir(store.join("manifests")).unwrap().count(), 1, "older manifests are gone");
    // Nothing older left: a second purge does nothing.
    assert_eq!(Store::purge(&store, 18_844).unwrap().version, None);
}
