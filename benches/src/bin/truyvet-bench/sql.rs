//! SQL figures: a few analyst queries through DataFusion, and (`--compare`) the F1 rule in plain
//! SQL against the engine on the same F0s.

use std::time::Instant;

use anyhow::{Context, Result};
use truyvet::sql::Session;
use truyvet::{Snapshot, TraceRequest};
use truyvet_benches::{Percentiles, plain_sql};

use crate::report::{Compare, Report, SqlFigure};

fn median_of(mut f: impl FnMut() -> Result<usize>, runs: usize) -> Result<(usize, f64)> {
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..runs {
        let t = Instant::now();
        rows = f()?;
        times.push(t.elapsed());
    }
    Ok((rows, Percentiles::of(&times).p50_ms))
}

/// Time the queries (median of 5) and, with `compare`, the plain-SQL F1 on up to 5 F0s.
pub fn figures(snap: &Snapshot, f0s: &[String], compare: bool, report: &mut Report) -> Result<()> {
    eprintln!("sql: queries{} ...", if compare { " and the F1 rule in plain SQL" } else { "" });
    let session = Session::new(snap)?;
    let (venue, day) = {
        let part = snap.parts().iter().max_by_key(|p| p.info.rows).context("empty store")?;
        (snap.venue_id(part.venue_at(0)?)?.to_string(), truyvet::time::day_name(part.info.day))
    };
    let f0 = f0s.first().cloned().unwrap_or_default();
    let queries = [
        ("count", "SELECT count(*) FROM checkins".to_string()),
        (
            "per_day",
            "SELECT day, count(*) AS n, count(DISTINCT person_id) AS persons FROM checkins GROUP BY day ORDER BY day"
                .to_string(),
        ),
        (
            "top_venues",
            "SELECT venue_id, count(*) AS n FROM checkins GROUP BY venue_id ORDER BY n DESC LIMIT 10".to_string(),
        ),
        ("missing_checkout", "SELECT avg(CASE WHEN check_out IS NULL THEN 1.0 ELSE 0.0 END) FROM checkins".to_string()),
        ("point_venue_day", format!("SELECT count(*) FROM checkins WHERE venue_id = '{venue}' AND day = DATE '{day}'")),
        ("f1_contacts", format!("SELECT count(*) FROM f1_contacts('{f0}')")),
    ];
    for (name, sql) in queries {
        let (rows, ms) = median_of(|| Ok(session.query(&sql)?.1.iter().map(|b| b.num_rows()).sum()), 5)?;
        report.sql.push(SqlFigure { name: name.to_string(), rows, median_ms: ms });
    }
    if compare {
        let n = f0s.len().min(5);
        let (mut sql_t, mut eng_t, mut equal) = (Vec::new(), Vec::new(), true);
        for f0 in &f0s[..n] {
            // No window: all of the data set (open ends are bound by `plain_sql::f1`).
            let req = TraceRequest::new(f0.as_str());
            let t = Instant::now();
            let got = plain_sql::f1(&session, plain_sql::F1_SCRIPT, &req)?;
            sql_t.push(t.elapsed());
            let t = Instant::now();
            let r = snap.trace(&req)?;
            eng_t.push(t.elapsed());
            equal &= got == r.to_record_batch();
        }
        let (s, e) = (Percentiles::of(&sql_t).p50_ms, Percentiles::of(&eng_t).p50_ms);
        report.compare = Some(Compare {
            f0s: n,
            sql_median_ms: s,
            engine_median_ms: e,
            ratio: s / e.max(1e-6),
            results_equal: equal,
        });
    }
    Ok(())
}
