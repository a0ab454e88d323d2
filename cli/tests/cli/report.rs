//! `truyvet report daily`: the three formats, files beside a Markdown report, and usage errors.

use crate::{run_ok, truyvet};

#[test]
fn report_daily_writes_html_markdown_with_charts_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let (data, store) = (dir.path().join("data"), dir.path().join("store"));
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    run_ok(&["gen", "--out", &s(&data), "--people", "1500", "--venues", "40", "--days", "3", "--seed", "3"]);
    run_ok(&["ingest", "--store", &s(&store), "--venues", &s(&data.join("venues.csv")), &s(&data.join("checkins"))]);
    let st = s(&store);
    let with = |extra: &[&str]| -> Vec<String> {
        let base = ["report", "daily", "--store", st.as_str(), "--date", "2021-08-03", "--tz", "+07:00"];
        base.iter().chain(extra).map(|a| a.to_string()).collect()
    };
    let run = |args: Vec<String>| run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());

    // JSON: the period in +07:00, two baseline days with data, the check-ins of the day.
    let json: serde_json::Value = serde_json::from_str(&run(with(&["--format", "json"]))).unwrap();
    assert_eq!(json["period"]["starts"], "2021-08-02T17:00:00Z");
    assert_eq!(json["period"]["baseline_days_with_data"], 2);
    assert!(json["totals"]["checkins"].as_u64().unwrap() > 1000, "{json}");
    assert_eq!(json["notes"][0]["note"], "no_case_register");

    // HTML by default, on stdout; by --output extension too.
    let html = run(with(&["--lang", "en"]));
    assert!(html.starts_with("<!doctype html>") && html.contains("<h2>1. Use of QR check-in</h2>"));
    assert_eq!(html.matches("<svg").count(), 3);
    let file = dir.path().join("day.html");
    run(with(&["-o", &s(&file)]));
    assert!(std::fs::read_to_string(&file).unwrap().contains("<h2>1. Sử dụng mã QR</h2>"));

    // Markdown: the charts as SVG files beside it, linked by name.
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    run(with(&["-o", &s(&out.join("day.md"))]));
    let md = std::fs::read_to_string(out.join("day.md")).unwrap();
    for chart in ["checkins-by-day", "checkins-by-district", "missing-checkout-by-category"] {
        let name = format!("day-{chart}.svg");
        assert!(md.contains(&format!("({name})")), "{name} linked");
        assert!(std::fs::read_to_string(out.join(&name)).unwrap().contains("<svg"), "{name} written");
    }
    assert!(md.contains("| Quận/huyện |"), "{md}");
}

#[test]
fn report_daily_refuses_what_it_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "person_id,venue_id,check_in,check_out\nA,M,2021-08-01T08:00:00Z,\n").unwrap();
    run_ok(&["ingest", "--store", store.to_str().unwrap(), csv.to_str().unwrap()]);
    let st = store.to_str().unwrap();
    for (args, says) in [
        (vec!["--date", "2021-08-01", "--format", "md"], "--output"),
        (vec!["--date", "2021-02-30"], "2021-02-30"),
        (vec![], "--date"),
        (vec!["--from", "2021-08-01"], "--to"),
        (vec!["--from", "2021-08-02", "--to", "2021-08-01"], "before"),
        (vec!["--date", "2021-08-01", "--hops", "5"], "hops"),
    ] {
        let out = truyvet().args(["report", "daily", "--store", st]).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
