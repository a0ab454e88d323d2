//! A sample cases register for the generated province (`cases.csv`): what a tracing team would
//! import with `truyvet cases import`.
//!
//! One case per 5,000 persons (at least 5, at most 1,000), each a person drawn from the
//! population, confirmed at 10:00 local time (+07:00) on a day from the fourth on; two in three
//! have a symptom onset 2 days before, the others a sample date 1 day before; one in four was
//! isolated 6 hours before confirmation. Case ids are `BN-1000`, `BN-1001`, ….

use std::io::Write;
use std::path::Path;

use crate::GenConfig;
use crate::persons::{Population, push_person_id};
use crate::seed::{self, stream};

/// Number of sample cases for `people` persons.
pub(crate) fn count(people: u64) -> u64 {
    (people / 5_000).clamp(5, 1_000).min(people)
}

/// Write `cases.csv`.
pub(crate) fn write(cfg: &GenConfig, pop: &Population, path: &Path) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "case_id,person_id,confirmed_at,onset_at,sampled_at,isolated_at")?;
    let mut d = seed::Draws::new(cfg.seed, stream::CASES, 0);
    let mut seen = std::collections::HashSet::new();
    let days = u64::from(cfg.days.max(1));
    let first = days.min(3);
    for i in 0..count(cfg.people) {
        let p = loop {
            let p = d.next_u64() % cfg.people.max(1);
            if seen.insert(p) || seen.len() as u64 >= cfg.people {
                break p;
            }
        };
        let mut id = Vec::with_capacity(10);
        push_person_id(&mut id, pop.phone(p));
        let day = cfg.start + chrono::Days::new(first + d.next_u64() % (days - first).max(1));
        let confirmed = day.and_hms_opt(10, 0, 0).expect("valid time");
        let stamp = |t: chrono::NaiveDateTime| format!("{}+07:00", t.format("%Y-%m-%dT%H:%M:%S"));
        let (onset, sampled) = if d.next_u64() % 3 < 2 {
            (stamp(confirmed - chrono::Duration::days(2)), String::new())
        } else {
            (String::new(), stamp(confirmed - chrono::Duration::days(1)))
        };
        let isolated =
            if d.next_u64().is_multiple_of(4) { stamp(confirmed - chrono::Duration::hours(6)) } else { String::new() };
        writeln!(
            out,
            "BN-{},{},{},{onset},{sampled},{isolated}",
            1000 + i,
            String::from_utf8_lossy(&id),
            stamp(confirmed)
        )?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()
}
