//! Where each file of a store lives. Every path is built here.
//!
//! ```text
//! STORE/
//!   CURRENT                          name of the live manifest (the commit point)
//!   LOCK                             held by the one running ingest
//!   manifests/m-0000000007.json      one manifest per commit
//!   data/day=2021-08-01/b0000007-00.parquet   check-ins of one day from one batch
//!   data/day=2021-08-01/b0000007-00.tvx       their trace index
//!   dict/persons-b0000007.dict       person ids first seen in batch 7
//!   dict/venues-b0000007.dict        venue ids first seen in batch 7
//!   dict/persons-b0000007.reid       their clear ids, sealed (pseudonymised stores only)
//!   venues/venues-b0000007.parquet   venue attributes as of batch 7
//!   quarantine/b0000007.csv          rows rejected by batch 7
//!   cases/register-b0000009.parquet  the cases register as of batch 9
//!   quarantine/cases-b0000009.csv    case rows rejected by batch 9
//!   scans/carry-b0000011.tvs         the scan pairing batch 11 leaves to the next scan batch
//!   links/day=2021-08-01/l-b0000007.tvl  each check-in's next by its person, as of batch 7
//! ```
//! Every file name carries its batch number, so a batch never overwrites a committed file and
//! leftovers of an interrupted batch are recognisable (not named by the manifest).

use std::path::{Path, PathBuf};

/// The `CURRENT` pointer file.
pub const CURRENT: &str = "CURRENT";
/// The write lock file.
pub const LOCK: &str = "LOCK";
/// Directories a store owns.
pub const DIRS: [&str; 9] = ["manifests", "data", "dict", "venues", "quarantine", "cases", "scans", "links", "tmp"];

/// Manifest of a version.
pub fn manifest(version: u64) -> String {
    format!("manifests/m-{version:010}.json")
}

/// Parquet part and sidecar of a batch's `seq`-th flush of `day_name`.
pub fn part(batch: u64, day_name: &str, seq: u32) -> (String, String) {
    let stem = format!("data/day={day_name}/b{batch:07}-{seq:02}");
    (format!("{stem}.parquet"), format!("{stem}.tvx"))
}

/// The day links of `day_name` computed by a batch (see `store::links`).
pub fn links(batch: u64, day_name: &str) -> String {
    format!("links/day={day_name}/l-b{batch:07}.tvl")
}

/// Dictionary segment of a batch.
pub fn dict(kind: &str, batch: u64) -> String {
    format!("dict/{kind}-b{batch:07}.dict")
}

/// Re-identification segment beside a batch's person segment (pseudonymised stores).
pub fn reid(batch: u64) -> String {
    format!("dict/persons-b{batch:07}.reid")
}

/// Venue attributes as of a batch.
pub fn venue_attrs(batch: u64) -> String {
    format!("venues/venues-b{batch:07}.parquet")
}

/// Quarantine file of a batch.
pub fn quarantine(batch: u64) -> String {
    format!("quarantine/b{batch:07}.csv")
}

/// The cases register as of a batch.
pub fn cases(batch: u64) -> String {
    format!("cases/register-b{batch:07}.parquet")
}

/// Case rows rejected by a batch.
pub fn cases_quarantine(batch: u64) -> String {
    format!("quarantine/cases-b{batch:07}.csv")
}

/// The scan pairing a batch of raw scans carries to the next (see `store::carry`).
pub fn scan_carry(batch: u64) -> String {
    format!("scans/carry-b{batch:07}.tvs")
}

/// Spill of a transaction's rejected rows, before they become its quarantine file.
pub fn reject_spill(batch: u64) -> String {
    format!("tmp/rejects-b{batch:07}.csv")
}

/// Resolve a store-relative path.
pub fn resolve(dir: &Path, rel: &str) -> PathBuf {
    dir.join(rel)
}
