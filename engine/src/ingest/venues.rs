//! The optional venues file (`venue_id,name,category,province,district,lat,lon`; all columns
//! but `venue_id` optional). It is curated metadata, so a bad row fails the ingest with its file
//! and line instead of being quarantined.

use std::path::Path;

use crate::error::{Error, Result};
use crate::model::col;
use crate::store::VenueInfo;

/// Read a venues CSV.
pub fn read_venues_csv(path: &Path) -> Result<Vec<VenueInfo>> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| Error::bad_input(path, format!("unreadable venues file: {e}")))?;
    let header: Vec<String> = r
        .headers()
        .map_err(|e| Error::bad_input(path, format!("unreadable header: {e}")))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    let find = |name: &str| header.iter().position(|h| h == name);
    let id =
        find(col::VENUE_ID).ok_or_else(|| Error::bad_input(path, "line 1: venues file lacks a venue_id column"))?;
    let attrs: Vec<Option<usize>> = col::VENUE_ATTRS.iter().map(|a| find(a)).collect();
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| Error::bad_input(path, format!("unreadable row: {e}")))?;
        let line = rec.position().map_or(0, |p| p.line());
        let get =
            |i: Option<usize>| i.and_then(|i| rec.get(i)).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        let venue_id = get(Some(id)).ok_or_else(|| Error::bad_input(path, format!("line {line}: empty venue_id")))?;
        let coord = |i: Option<usize>, name: &str| -> Result<Option<f64>> {
            get(i)
                .map(|s| {
                    s.parse::<f64>()
                        .map_err(|_| Error::bad_input(path, format!("line {line}: {name} {s:?} is not a number")))
                })
                .transpose()
        };
        out.push(VenueInfo {
            venue_id,
            name: get(attrs[0]),
            category: get(attrs[1]),
            province: get(attrs[2]),
            district: get(attrs[3]),
            lat: coord(attrs[4], "lat")?,
            lon: coord(attrs[5], "lon")?,
        });
    }
    Ok(out)
}
