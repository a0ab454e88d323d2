//! The daily report against the canned queries of `queries/` (run by DataFusion over the same
//! store), and against the trace for each new case's F1s; on a generated province with dirty
//! rows, silent venues, a late batch and new cases. Also an empty day, a day before any data,
//! and a store without registers: a clear report, not an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use truyvet::report::render::{self, Lang};
use truyvet::report::{DailyReport, Note, ReportRequest};
use truyvet::sql::{Session, bind_params};
use truyvet::time::parse_day;
use truyvet::{CasesImport, Ingest, Snapshot, Store, TraceRequest, Tz};
use truyvet_datasets::{GenConfig, OutputFormat, generate};

const TZ: i32 = 7 * 3600;
/// The report day: day 8 of 10 generated.
const DAY_REPORTED: &str = "2021-08-08";

fn tz() -> Tz {
    Tz::from_offset_seconds(TZ).unwrap()
}

/// Local midnight of `day` in +07:00, as the queries take it.
fn midnight(day: i64) -> String {
    format!("{}T00:00:00+07:00", truyvet::time::day_name(day))
}

/// Rows of a canned query as cells (nulls empty).
fn canned(s: &Session, file: &str, params: &[(&str, String)]) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../queries").join(file)).unwrap();
    let params: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    let sql = bind_params(&text, &params).unwrap();
    let mut out = s.query_script(&sql).unwrap_or_else(|e| panic!("{file}: {e}"));
    cells(&out.pop().unwrap().batches)
}

fn cells(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let opts = FormatOptions::default().with_null("");
    let mut out = Vec::new();
    for b in batches {
        let f: Vec<_> = b.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap()).collect();
        for r in 0..b.num_rows() {
            out.push(f.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    out
}

/// A generated province (3,000 persons, 150 venues, 10 days, 1% dirty rows) loaded in three
/// batches, the seventh day last (late), with three register venues nobody scans and a case
/// confirmed on the report day besides the generated ones.
fn province() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = GenConfig {
        people: 3_000,
        venues: 150,
        days: 10,
        format: OutputFormat::Csv,
        dirty_ratio: 0.01,
        threads: 1,
        ..GenConfig::default()
    };
    let g = generate(&cfg, &dir.path().join("input"), &|_| {}).unwrap();
    let mut venues = std::fs::read_to_string(&g.venues_file).unwrap();
    for i in 0..3 {
        venues.push_str(&format!("QR-SILENT-{i},Quầy {i},pharmacy,Hà Nội,Ba Đình,21.03,105.83\n"));
    }
    std::fs::write(&g.venues_file, venues).unwrap();
    let store = dir.path().join("store");
    let day_of = |f: &PathBuf| f.file_name().unwrap().to_str().unwrap()[..10].to_string();
    let (late, rest): (Vec<PathBuf>, Vec<PathBuf>) = g.files.iter().cloned().partition(|f| day_of(f) == "2021-08-07");
    let (early, after): (Vec<PathBuf>, Vec<PathBuf>) =
        rest.into_iter().partition(|f| day_of(f).as_str() < "2021-08-07");
    let ingest = || Ingest::new(&store).tz(tz()).venues(&g.venues_file).max_reject_ratio(0.5);
    for files in [early, after, late] {
        ingest().run(&files).unwrap();
    }
    CasesImport::new(&store).tz(tz()).import(std::slice::from_ref(&g.cases_file)).unwrap();
    // A case confirmed on the report day: the first person at the busiest venue that morning.
    let snap = Store::open(&store).unwrap().snapshot();
    let s = Session::new(&snap).unwrap();
    let person = &s
        .query(&format!(
            "SELECT person_id FROM checkins WHERE check_in >= CAST('{}' AS TIMESTAMP) - INTERVAL '2 days' \
             ORDER BY check_in, person_id LIMIT 1",
            midnight(parse_day("d", DAY_REPORTED).unwrap())
        ))
        .map(|(_, b)| cells(&b))
        .unwrap()[0][0];
    CasesImport::new(&store)
        .tz(tz())
        .add([
            Some(person.clone()),
            Some(format!("{DAY_REPORTED}T09:00:00+07:00")),
            None,
            None,
            None,
            Some("BN-REPORT".into()),
            None,
        ])
        .unwrap();
    (dir, store)
}

fn report(snap: &Snapshot, day: &str) -> DailyReport {
    snap.daily_report(&ReportRequest::daily(parse_day("d", day).unwrap(), tz())).unwrap()
}

#[test]
fn daily_report_equals_the_canned_queries() {
    let (_dir, store) = province();
    let snap = Store::open(&store).unwrap().snapshot();
    let r = report(&snap, DAY_REPORTED);
    let s = Session::new(&snap).unwrap();
    let d = parse_day("d", DAY_REPORTED).unwrap();
    let (from, to, base) = (midnight(d), midnight(d + 1), midnight(d - 7));
    let days = r.period.baseline_days_with_data.to_string();
    assert_eq!(r.period.baseline_days_with_data, 7, "the store begins 2021-08-01, seven days before");
    let p = |extra: &[(&'static str, &String)]| -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("from", from.clone()),
            ("to", to.clone()),
            ("baseline_from", base.clone()),
            ("baseline_days", days.clone()),
        ];
        v.extend(extra.iter().map(|(k, x)| (*k, (*x).clone())));
        v
    };
    assert!(r.totals.checkins > 1_000 && r.notes.is_empty(), "{:?}", r.notes);

    // Districts and categories: every group with a check-in in the query, equal figures.
    for (file, groups) in
        [("daily_checkins_by_district.sql", &r.districts), ("daily_checkins_by_category.sql", &r.categories)]
    {
        let rows = canned(&s, file, &p(&[]));
        let by_name: BTreeMap<&str, _> = groups.iter().map(|g| (g.name.as_str(), g)).collect();
        let mut seen = 0;
        for row in &rows {
            let g = by_name.get(row[0].as_str()).unwrap_or_else(|| panic!("{file}: {} not in the report", row[0]));
            let mean: f64 = row[2].parse().unwrap();
            assert_eq!(
                (row[1].as_str(), row[3].as_str(), row[4].as_str()),
                (
                    g.checkins.to_string().as_str(),
                    g.missing_checkout.to_string().as_str(),
                    g.venues_scanned.to_string().as_str()
                ),
                "{file}: {}",
                row[0]
            );
            assert!((mean - g.baseline_mean).abs() < 1e-6, "{file}: {} mean {mean} vs {}", row[0], g.baseline_mean);
            seen += 1;
        }
        let with_data = groups.iter().filter(|g| g.checkins > 0 || g.baseline_mean > 0.0).count();
        assert_eq!(seen, with_data, "{file}: groups with check-ins");
        assert!(seen >= 3, "{file}: too few groups to mean anything");
    }
    assert_eq!(r.districts.iter().map(|g| g.checkins).sum::<u64>(), r.totals.checkins);

    // Check-ins per day.
    let per_day = canned(&s, "daily_checkins_by_day.sql", &p(&[]));
    let expected: Vec<u64> = per_day.iter().map(|r| r[1].parse().unwrap()).collect();
    let got: Vec<u64> = r.by_day.iter().map(|x| x.checkins).filter(|&n| n > 0).collect();
    assert_eq!(got, expected);
    assert_eq!(r.by_day.len(), 8);

    // Silent venues: the three planted, at least.
    let silent = canned(&s, "daily_silent_venues.sql", &p(&[]));
    let sql_silent: Vec<(String, bool)> = silent.iter().map(|r| (r[1].clone(), r[4] == "true")).collect();
    let mut ours: Vec<(String, bool)> =
        r.silent_venues.iter().map(|v| (v.venue_id.clone(), v.silent_baseline)).collect();
    ours.sort();
    let mut sql_sorted = sql_silent.clone();
    sql_sorted.sort();
    assert_eq!(ours, sql_sorted);
    assert!(ours.iter().filter(|v| v.0.starts_with("QR-SILENT-") && v.1).count() == 3);
    assert_eq!(r.totals.venues_silent, ours.len() as u64);

    // Persons, first seen, repeats.
    let persons = canned(&s, "daily_first_seen_persons.sql", &p(&[]));
    assert_eq!(
        (r.totals.first_seen.to_string(), r.totals.persons.to_string()),
        (persons[0][0].clone(), persons[0][1].clone())
    );
    let repeated = canned(&s, "daily_repeated_scans.sql", &p(&[]));
    assert_eq!(r.quality.repeated_scans.to_string(), repeated[0][0]);

    // New cases: the register's, and each one's F1s equal its trace without registered cases.
    let new = canned(&s, "daily_new_cases.sql", &p(&[]));
    let ids: Vec<&str> = new.iter().map(|r| r[0].as_str()).collect();
    let ours: Vec<&str> = r.cases.new_cases.iter().map(|c| c.case_id.as_str()).collect();
    assert_eq!(ours, ids);
    assert!(ids.contains(&"BN-REPORT"));
    let registered: Vec<String> = snap.cases().unwrap().iter().map(|c| c.person_id.clone()).collect();
    for c in snap.cases().unwrap().iter().filter(|c| ids.contains(&c.case_id.as_str())) {
        let mut t = TraceRequest::new(&c.person_id);
        (t.from, t.to) = (Some(c.window_from), Some(c.window_to));
        let f1 =
            snap.trace(&t).unwrap().contacts.iter().filter(|x| !registered.iter().any(|r| x.person_id == *r)).count()
                as u64;
        let line = r.cases.new_cases.iter().find(|n| n.case_id == c.case_id).unwrap();
        assert_eq!(line.f1, f1, "case {}", c.case_id);
    }
    let reported = r.cases.new_cases.iter().find(|c| c.case_id == "BN-REPORT").unwrap();
    assert!(reported.f1 > 0 && !reported.districts.is_empty());
    assert!(r.cases.f1 >= reported.f1);

    // Quality: rejects add up to the batches', the late day is named with its rows.
    let q = &r.quality;
    assert!(q.rejected > 0);
    assert_eq!(q.rejected_by_reason.iter().map(|x| x.1).sum::<u64>(), q.rejected);
    assert_eq!(q.rejected, q.batches.iter().map(|b| b.rows_rejected).sum::<u64>());
    assert!(q.rejected_by_reason.iter().any(|x| x.0 == "check_out before check_in"), "{:?}", q.rejected_by_reason);
    let m = snap.manifest();
    let last_batch = m.batches.iter().map(|b| b.id).max().unwrap();
    let late_parts: u64 = m.parts.iter().filter(|p| p.batch == last_batch).map(|p| p.rows).sum();
    assert_eq!(q.late_rows, late_parts, "{:?}", q.late);
    assert!(q.late.iter().all(|l| l.batch == last_batch && l.store_reached == "2021-08-10"));
    // Synthetic 2021 rows were all committed after they happened.
    assert_eq!(q.dated_after_commit, 0);

    // The documents: every section, charts inline, labels in the language asked.
    let html = render::html(&r, Lang::Vi).unwrap();
    for needle in [
        "<h2>1. Sử dụng mã QR</h2>",
        "<h2>2. Ca bệnh và tiếp xúc</h2>",
        "<h2>3. Chất lượng dữ liệu</h2>",
        "QR-SILENT-0",
        "BN-REPORT",
    ] {
        assert!(html.contains(needle), "HTML lacks {needle}");
    }
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(
        !html.contains("http://") || html.matches("http://").all(|_| html.contains("http://www.w3.org")),
        "no external assets"
    );
    assert!(html.contains(&Lang::Vi.int(r.totals.checkins)));
    let (md, charts) = render::markdown(&r, Lang::En, "day-").unwrap();
    assert!(md.contains("## 1. Use of QR check-in") && md.contains("![checkins-by-day](day-checkins-by-day.svg)"));
    assert_eq!(charts.len(), 3);
    assert!(charts.iter().all(|(_, svg)| svg.contains("<svg") && svg.contains("</svg>")));
}

#[test]
fn empty_days_and_missing_registers_give_a_clear_report() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let csv = dir.path().join("in.csv");
    std::fs::write(
        &csv,
        "person_id,venue_id,check_in,check_out\nA,M,2021-08-01T08:00:00Z,\nB,M,2021-08-01T08:30:00Z,2021-08-01T09:00:00Z\n\
         A,M,2021-08-03T08:00:00Z,\n",
    )
    .unwrap();
    Ingest::new(&store).run(&[csv]).unwrap();
    let snap = Store::open(&store).unwrap().snapshot();
    let utc = |day: &str| snap.daily_report(&ReportRequest::daily(parse_day("d", day).unwrap(), Tz::UTC)).unwrap();

    let before = utc("2021-07-01");
    assert_eq!(before.totals.checkins, 0);
    assert_eq!(
        before.notes,
        [Note::BeforeData { day: "2021-08-01".into() }, Note::NoVenueRegister, Note::NoCaseRegister]
    );
    assert_eq!(before.period.baseline_days_with_data, 0);

    let empty = utc("2021-08-02");
    assert_eq!((empty.totals.checkins, empty.totals.persons), (0, 0));
    assert_eq!(empty.notes[0], Note::NoCheckins);
    assert_eq!(utc("2021-09-01").notes[0], Note::AfterData { day: "2021-08-03".into() });

    let later = utc("2021-08-03");
    assert_eq!((later.totals.checkins, later.totals.first_seen, later.totals.missing_checkout), (1, 0, 1));
    assert_eq!(later.districts.len(), 1);
    assert_eq!(later.districts[0].name, "(unknown)");
    // Two baseline days have data (08-01 and 08-02): one check-in each on average.
    assert_eq!(later.period.baseline_days_with_data, 2);
    assert_eq!(later.districts[0].baseline_mean, 1.0);
    assert!(later.silent_venues.is_empty());

    for r in [&before, &empty, &later] {
        for lang in [Lang::Vi, Lang::En] {
            let html = render::html(r, lang).unwrap();
            assert!(html.contains("</html>") && html.matches("<svg").count() == 3);
        }
    }
    let week = snap
        .daily_report(&ReportRequest {
            to: parse_day("d", "2021-08-03").unwrap(),
            ..ReportRequest::daily(parse_day("d", "2021-08-01").unwrap(), Tz::UTC)
        })
        .unwrap();
    assert_eq!((week.period.days, week.totals.checkins, week.totals.persons, week.totals.first_seen), (3, 3, 2, 2));
    let backwards = ReportRequest { to: 0, ..ReportRequest::daily(1, Tz::UTC) };
    assert!(snap.daily_report(&backwards).is_err());
}

#[test]
fn a_batch_of_raw_scans_says_so_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let log = dir.path().join("scans.csv");
    std::fs::write(
        &log,
        "person_id,venue_id,scanned_at\nA,M,2021-08-01T08:00:00Z\nA,M,2021-08-01T08:00:20Z\nA,M,2021-08-01T09:00:00Z\n",
    )
    .unwrap();
    Ingest::new(&store).scans(truyvet::ingest::ScanOptions::default()).run(&[log]).unwrap();
    let snap = Store::open(&store).unwrap().snapshot();
    let r = snap.daily_report(&ReportRequest::daily(parse_day("d", "2021-08-01").unwrap(), Tz::UTC)).unwrap();
    let b = &r.quality.batches[0];
    assert_eq!((b.rows_read, b.rows_stored), (3, 1));
    assert_eq!(b.scans.map(|c| (c.paired, c.debounced)), Some((1, 1)));
    assert!(render::html(&r, Lang::En).unwrap().contains("raw scans (paired into stays)"));
    assert!(render::html(&r, Lang::Vi).unwrap().contains("lượt quét thô"));
}
