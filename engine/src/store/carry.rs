//! The scan pairing carried from one `ingest --scans` batch to the next.
//!
//! A batch of raw scans ends with some stays still open (an entry whose exit may come in the
//! next file delivered) and with the last scan of each person at each venue still able to
//! debounce or refuse a later one. The batch stores its open stays at once, without check-out,
//! in parts of their own (so a trace sees them), and writes the pairing's state here. The next
//! scan batch reads the state back, drops those parts, and goes on pairing as if the two
//! batches had been one log; the stays it ends (closed by an exit, or still open) are written
//! again in its own parts.
//!
//! # File (`scans/carry-b0000007.tvs`)
//! ```text
//! b"TVCARRY1", now: i64, swept: i64, count: u64,
//! count × { person_len: u32, person, venue_len: u32, venue, last: i64, direction: u8, open: i64 }
//! ```
//! Little-endian; `direction` is 0 (none), 1 (in) or 2 (out); `open` is `i64::MIN` for no
//! open stay. Ids are as stored (pseudonyms in a pseudonymised store). The file is checked
//! against the manifest's size and BLAKE3 before it is read.

use std::io::{BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::manifest::{FileSum, PartInfo};
use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"TVCARRY1";

/// What the manifest records of a carried pairing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanCarry {
    /// The state file, relative to the store.
    pub state: String,
    /// The batch that wrote it.
    pub batch: u64,
    /// The parts holding its open stays (Parquet paths); the next scan batch replaces them.
    pub parts: Vec<String>,
    /// Persons at venues whose pairing goes on.
    pub states: u64,
    /// Of them, the stays still open (stored without check-out in `parts`).
    pub open: u64,
}

impl ScanCarry {
    /// Whether `part` holds open stays of this pairing.
    pub(crate) fn holds(&self, part: &PartInfo) -> bool {
        self.parts.contains(&part.path)
    }

    /// Check a state read back against this record and the store's `parts`: as many open
    /// stays as recorded, and as many rows in their parts.
    pub(crate) fn check(&self, state: &CarriedState, parts: &[PartInfo]) -> std::result::Result<(), String> {
        let stays = state.open_stays();
        let rows: u64 = parts.iter().filter(|p| self.holds(p)).map(|p| p.rows).sum();
        if stays != self.open || rows != self.open {
            return Err(format!(
                "{stays} open stays, but the manifest records {} and their parts hold {rows} rows",
                self.open
            ));
        }
        Ok(())
    }
}

/// One person at one venue whose pairing goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CarriedScan {
    pub person: String,
    pub venue: String,
    /// The last kept scan and its direction (0 none, 1 in, 2 out).
    pub last: i64,
    pub direction: u8,
    /// The check-in of the open stay, if one is open.
    pub open: Option<i64>,
}

/// The pairing's clock and states.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CarriedState {
    /// The latest scan seen, and when states were last swept.
    pub now: i64,
    pub swept: i64,
    pub scans: Vec<CarriedScan>,
}

impl CarriedState {
    /// The stays still open.
    pub(crate) fn open_stays(&self) -> u64 {
        self.scans.iter().filter(|s| s.open.is_some()).count() as u64
    }
}

/// Write a state file and `fsync` it.
pub(crate) fn write(path: &Path, state: &CarriedState) -> Result<()> {
    let parent = path.parent().expect("a store file has a directory");
    std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
    let file = std::fs::File::create(path).map_err(Error::io(path))?;
    let mut w = BufWriter::new(file);
    let mut go = || -> std::io::Result<()> {
        w.write_all(MAGIC)?;
        for n in [state.now, state.swept] {
            w.write_all(&n.to_le_bytes())?;
        }
        w.write_all(&(state.scans.len() as u64).to_le_bytes())?;
        for s in &state.scans {
            for id in [&s.person, &s.venue] {
                w.write_all(&(id.len() as u32).to_le_bytes())?;
                w.write_all(id.as_bytes())?;
            }
            w.write_all(&s.last.to_le_bytes())?;
            w.write_all(&[s.direction])?;
            w.write_all(&s.open.unwrap_or(i64::MIN).to_le_bytes())?;
        }
        w.flush()?;
        w.get_ref().sync_all()
    };
    go().map_err(Error::io(path))
}

/// Read a state file written by [`write`], checked first against the manifest's size and BLAKE3.
pub(crate) fn read(path: &Path, sum: Option<&FileSum>) -> Result<CarriedState> {
    let damaged = |why: &str| Error::store(path, format!("damaged scan pairing state: {why}"));
    if let Some(want) = sum
        && &FileSum::of(path)? != want
    {
        return Err(damaged("size or BLAKE3 differs from the manifest"));
    }
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8]> {
        let end = at.checked_add(n).filter(|&e| e <= bytes.len()).ok_or_else(|| damaged("truncated"))?;
        let s = &bytes[at..end];
        at = end;
        Ok(s)
    };
    if take(8)? != MAGIC {
        return Err(damaged("not a scan pairing state (magic)"));
    }
    let i64_of = |b: &[u8]| i64::from_le_bytes(b.try_into().expect("8 bytes"));
    let (now, swept) = (i64_of(take(8)?), i64_of(take(8)?));
    let count = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
    let mut scans = Vec::with_capacity(count.min(1 << 20) as usize);
    for _ in 0..count {
        let mut id = || -> Result<String> {
            let n = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
            String::from_utf8(take(n)?.to_vec()).map_err(|_| damaged("an id is not UTF-8"))
        };
        let (person, venue) = (id()?, id()?);
        let last = i64_of(take(8)?);
        let direction = take(1)?[0];
        if direction > 2 {
            return Err(damaged("unknown direction"));
        }
        let open = Some(i64_of(take(8)?)).filter(|&t| t != i64::MIN);
        scans.push(CarriedScan { person, venue, last, direction, open });
    }
    if at != bytes.len() {
        return Err(damaged("trailing bytes"));
    }
    Ok(CarriedState { now, swept, scans })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scans").join("carry.tvs");
        let state = CarriedState {
            now: 1_000,
            swept: 400,
            scans: vec![
                CarriedScan { person: "P1".into(), venue: "V é".into(), last: 990, direction: 1, open: Some(990) },
                CarriedScan { person: "P2".into(), venue: "V2".into(), last: 900, direction: 2, open: None },
            ],
        };
        write(&path, &state).unwrap();
        let sum = FileSum::of(&path).unwrap();
        assert_eq!(read(&path, Some(&sum)).unwrap(), state);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 3);
        std::fs::write(&path, &bytes).unwrap();
        assert!(read(&path, Some(&sum)).unwrap_err().to_string().contains("BLAKE3 differs"));
        assert!(read(&path, None).unwrap_err().to_string().contains("truncated"));
    }
}
