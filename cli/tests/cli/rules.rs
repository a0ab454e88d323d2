//! `truyvet rules` and `truyvet trace --rule/--rules/--compare` on the SQL fixture store.

use crate::{fixture_store, run_ok, truyvet};

#[test]
fn rules_are_listed_shown_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let list = run_ok(&["rules", "list", "--format", "csv"]);
    let names: Vec<&str> = list.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(names, ["overlap", "pc-covid", "midnight", "next-checkin", "cwa"]);
    // A preset shown is a rules file that reads back, under a new name.
    let shown = run_ok(&["rules", "show", "cwa"]);
    assert!(shown.starts_with("[rule.cwa]\n") && shown.contains("risk_by_day = {"), "{shown}");
    let file = dir.path().join("rules.toml");
    std::fs::write(&file, shown.replace("[rule.cwa]", "[rule.cwa-hn]") + "[dwell]\nmarket = \"10m\"\n").unwrap();
    let list = run_ok(&["rules", "list", "--rules", file.to_str().unwrap(), "--format", "csv"]);
    assert!(list.lines().any(|l| l.starts_with("cwa-hn,cwa,")), "{list}");
    let shown = run_ok(&["rules", "show", "overlap", "--rules", file.to_str().unwrap()]);
    assert!(shown.contains("dwell_by_category = { \"market\" = \"10m\" }"), "{shown}");
}

#[test]
fn a_rule_changes_the_list_and_compare_says_how() {
    let (dir, store) = fixture_store();
    let s = store.to_str().unwrap();
    let trace = |extra: &[&str]| {
        let mut args = vec!["trace", "--store", s, "--f0", "F0A", "--format", "csv"];
        args.extend(extra);
        run_ok(&args)
    };
    let overlap = trace(&[]);
    assert!(overlap.starts_with("rank,person_id,exposure_seconds,imputed_seconds,episodes,"), "{overlap}");
    assert!(overlap.contains("\n1,A,3000,1800,2,2,"), "{overlap}");
    // A market's dwell of 10 minutes (A's market stay has no check-out): 600 + 1200.
    let file = dir.path().join("rules.toml");
    std::fs::write(&file, "[rule.hn]\nbase = \"overlap\"\ndwell_by_category = { market = \"10m\" }\n").unwrap();
    let hn = trace(&["--rules", file.to_str().unwrap(), "--rule", "hn"]);
    assert!(hn.contains(",A,1800,600,2,2,"), "{hn}");
    // pc-covid lists scans.
    let pc = trace(&["--rule", "pc-covid"]);
    assert!(pc.starts_with("rank,person_id,matches,min_gap_seconds,venues,first_match,last_match\n"), "{pc}");
    let cwa = trace(&["--rule", "cwa"]);
    assert!(cwa.lines().next().unwrap().ends_with(",weighted_minutes,risk"), "{cwa}");
    // The same through SQL.
    #[cfg(feature = "sql")]
    {
        let sql = run_ok(&[
            "sql",
            "--store",
            s,
            "--format",
            "csv",
            "SELECT person_id, matches FROM f1_contacts('F0A', NULL, NULL, NULL, NULL, NULL, NULL, 'pc-covid') ORDER BY rank",
        ]);
        let first_pc = pc.lines().nth(1).unwrap().split(',').nth(1).unwrap();
        assert_eq!(sql.lines().nth(1).unwrap().split(',').next().unwrap(), first_pc, "{sql}");
        // A rules file's rule by name, as `trace --rules --rule` lists it; an argument given
        // overrides the rule's parameter (a min overlap beyond A's exposure drops A).
        let f = file.to_str().unwrap();
        let a = "SELECT exposure_seconds, imputed_seconds FROM f1_contacts('F0A', NULL, NULL, NULL, NULL, NULL, \
                 MIN_OVERLAP, 'hn') WHERE person_id = 'A'";
        let by_rule =
            run_ok(&["sql", "--store", s, "--rules", f, "--format", "csv", &a.replace("MIN_OVERLAP", "NULL")]);
        assert_eq!(by_rule, "exposure_seconds,imputed_seconds\n1800,600\n");
        let overridden =
            run_ok(&["sql", "--store", s, "--rules", f, "--format", "csv", &a.replace("MIN_OVERLAP", "'31m'")]);
        assert_eq!(overridden, "exposure_seconds,imputed_seconds\n");
        // Without the file the name is unknown: a clear error naming it.
        let o = truyvet().args(["sql", "--store", s, &a.replace("MIN_OVERLAP", "NULL")]).output().unwrap();
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("hn"), "{}", String::from_utf8_lossy(&o.stderr));
    }
    // --compare: counts first, then one row per person listed by either rule.
    let out = truyvet()
        .args(["trace", "--store", s, "--f0", "F0A", "--compare", "pc-covid", "--format", "csv"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (stdout, stderr) = (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap());
    assert!(stdout.starts_with("person_id,listed,rank_overlap,rank_pc-covid,moved\n"), "{stdout}");
    assert!(stderr.contains("note: overlap: 6 listed, pc-covid: "), "{stderr}");
    let table = run_ok(&["trace", "--store", s, "--f0", "F0A", "--compare", "midnight", "--format", "table"]);
    assert!(table.starts_with("overlap: 6 listed, midnight: "), "{table}");
}

#[test]
fn bad_rules_and_unfollowable_rules_are_clear_errors() {
    let (dir, store) = fixture_store();
    let s = store.to_str().unwrap();
    let file = dir.path().join("rules.toml");
    std::fs::write(&file, "[rule.hn]\ndwel = \"10m\"\n").unwrap();
    for (args, needle) in [
        (vec!["--rules", file.to_str().unwrap(), "--rule", "hn"], "rules.toml: rule.hn.dwel: unknown key"),
        (vec!["--rule", "nhs"], "invalid rule \"nhs\": one of overlap, pc-covid"),
        (vec!["--rule", "cwa", "--hops", "2"], "cwa applies to one F0's list"),
        (vec!["--compare", "midnight", "--hops", "2"], "--compare compares one F0's F1 lists"),
    ] {
        let mut all = vec!["trace", "--store", s, "--f0", "F0A"];
        all.extend(args);
        let out = truyvet().args(&all).output().unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!out.status.success() && stderr.contains(needle), "{all:?}: {stderr}");
    }
}

#[test]
fn ingest_scans_pairs_a_log_and_says_how() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("scans.csv");
    std::fs::write(
        &log,
        "person_id,venue_id,scanned_at,direction\n\
         P1,V1,2021-08-01T08:00:00+07:00,\n\
         P1,V1,2021-08-01T08:00:20+07:00,\n\
         F0,V1,2021-08-01T08:10:00+07:00,in\n\
         P1,V1,2021-08-01T09:00:00+07:00,\n\
         F0,V1,2021-08-01T08:50:00+07:00,out\n",
    )
    .unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    let out = run_ok(&["ingest", "--store", s, "--tz", "+07:00", "--scans", log.to_str().unwrap()]);
    assert!(out.contains("read 5 scans from 1 file(s)"), "{out}");
    assert!(
        out.contains(
            "2 stays stored (2 paired from entry and exit, 0 without check-out), 1 scans debounced, 0 rejected"
        ),
        "{out}"
    );
    // The stays trace as check-ins would: P1 was there all of F0's 40 minutes, measured.
    let csv = run_ok(&["trace", "--store", s, "--f0", "F0", "--format", "csv"]);
    assert!(csv.contains("\n1,P1,2400,0,1,1,2021-08-01T01:10:00Z,2021-08-01T01:50:00Z"), "{csv}");
    let json: serde_json::Value = serde_json::from_str(&run_ok(&["stats", "--store", s, "--format", "json"])).unwrap();
    assert_eq!(json["rows"], 2, "{json}");
    // --debounce without --scans is a usage error.
    let bad = truyvet().args(["ingest", "--store", s, "--debounce", "1m", log.to_str().unwrap()]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
