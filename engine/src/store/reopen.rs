//! What a snapshot taken after a commit keeps of the one before it.
//!
//! Store files are never rewritten in place, and a format-2 manifest records each file's size
//! and BLAKE3. A file that the new manifest names with the same path, size and hash as the old
//! one is the same file, so the new snapshot takes the old one's mapping of it, with the pages
//! checked so far ([`super::paged::PageSums`]), instead of mapping it again and checking every
//! page again as it is first read. A server that reloads after each ingest thus pays only for
//! the files the commit wrote, and its traces do not go cold after every commit.
//!
//! Nothing is kept from a manifest without checksums (format 1), nor of a file whose entry
//! changed in any way (path, size, hash, rows, day, base, count, or the parts a day's links
//! cover).

use std::collections::HashMap;

use super::dict::DictSegment;
use super::links::{DayLinks, PartLinks};
use super::manifest::{DictSegmentInfo, Manifest};
use super::{Part, PartIndex, PartInfo, SnapshotInner};

/// The old snapshot and the manifest of the new one.
pub(crate) struct Kept<'a> {
    old: &'a SnapshotInner,
    new: &'a Manifest,
    /// The old snapshot's parts by Parquet path: looked up once per new part, so a reload of a
    /// store of many parts does not search them all for each.
    parts: HashMap<&'a str, &'a Part>,
}

impl<'a> Kept<'a> {
    pub(crate) fn new(old: &'a SnapshotInner, new: &'a Manifest) -> Kept<'a> {
        let parts = old.parts.iter().map(|p| (p.info.path.as_str(), p)).collect();
        Kept { old, new, parts }
    }

    /// Whether both manifests record the same size and hash for the file at `rel`.
    fn same(&self, rel: &str) -> bool {
        matches!((self.old.manifest.checksums.get(rel), self.new.checksums.get(rel)), (Some(a), Some(b)) if a == b)
    }

    /// The old snapshot's person (`persons`) or venue dictionary segment for `seg`.
    pub(crate) fn segment(&self, persons: bool, seg: &DictSegmentInfo) -> Option<DictSegment> {
        let (infos, dict) = match persons {
            true => (&self.old.manifest.persons, &self.old.persons),
            false => (&self.old.manifest.venues, &self.old.venues),
        };
        let at = infos.iter().position(|o| o.path == seg.path && o.base == seg.base && o.count == seg.count)?;
        self.same(&seg.path).then(|| dict.segments().get(at).cloned()).flatten()
    }

    /// The old snapshot's index of the part `info`, without its day links.
    pub(crate) fn index(&self, info: &PartInfo) -> Option<PartIndex> {
        let old = self.parts.get(info.path.as_str())?;
        let fits = old.info.index == info.index && old.info.rows == info.rows && old.info.day == info.day;
        (fits && self.same(&info.index)).then(|| old.index.without_links())
    }

    /// The old snapshot's links of the day `links` names, in `links.parts` order.
    pub(crate) fn links(&self, links: &DayLinks) -> Option<Vec<PartLinks>> {
        if !self.old.manifest.links.contains(links) || !self.same(&links.path) {
            return None;
        }
        links.parts.iter().map(|path| self.parts.get(path.as_str())?.index.links().cloned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;
    use crate::{Ingest, TraceRequest};

    fn csv(dir: &std::path::Path, name: &str, day: u32, tag: &str) -> std::path::PathBuf {
        let rows: String = (0..400)
            .map(|i| {
                let out = if i % 3 == 0 {
                    String::new()
                } else {
                    format!("2021-08-{day:02}T{:02}:{:02}:00+07:00", 9 + i % 10, i % 60)
                };
                format!("{tag}{},V{},2021-08-{day:02}T{:02}:{:02}:00+07:00,{out}\n", i % 40, i % 6, 8 + i % 10, i % 60)
            })
            .collect();
        let path = dir.join(name);
        std::fs::write(&path, format!("person_id,venue_id,check_in,check_out\n{rows}")).unwrap();
        path
    }

    /// A reload after a commit that adds a day shares every file of the days it did not touch
    /// (and the dictionary segments before its own), maps the new ones, and traces as a fresh
    /// open of the new version does.
    #[test]
    fn a_reload_keeps_the_files_a_commit_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store_dir = dir.path().join("s");
        Ingest::new(&store_dir).run(&[csv(dir.path(), "a.csv", 1, "A"), csv(dir.path(), "b.csv", 5, "B")]).unwrap();
        let mut store = Store::open(&store_dir).unwrap();
        let old = store.snapshot();
        // The old snapshot checks some pages, which the kept files carry along.
        let before = old.trace(&TraceRequest::new("A1")).unwrap();
        assert!(!before.contacts.is_empty());
        Ingest::new(&store_dir).run(&[csv(dir.path(), "c.csv", 9, "C")]).unwrap();
        assert!(store.refresh().unwrap());
        let new = store.snapshot();
        let (o, n) = (&old.0, &new.0);
        assert_eq!((o.parts.len(), n.parts.len()), (2, 3));
        // Days 1 and 5: the same index maps (their links too: day 9 is not the day after either).
        for part in &o.parts {
            let kept = n.parts.iter().find(|p| p.info.index == part.info.index).unwrap();
            assert!(kept.index.same_file(&part.index), "{}", part.info.index);
            let (a, b) = (kept.index.links().unwrap(), part.index.links().unwrap());
            assert!(a.same_file(b));
        }
        let fresh = n.parts.iter().find(|p| o.parts.iter().all(|q| q.info.index != p.info.index)).unwrap();
        assert!(fresh.index.links().is_some());
        // The persons' first segment is kept, the commit's own is new.
        let (os, ns) = (o.persons.segments(), n.persons.segments());
        assert_eq!((os.len(), ns.len()), (1, 2));
        assert!(os[0].same_file(&ns[0]));
        assert!(!os[0].same_file(&ns[1]));
        // Answers as from a fresh open of the same version.
        let reopened = Store::open(&store_dir).unwrap().snapshot();
        for f0 in ["A1", "B7", "C3"] {
            let req = TraceRequest::new(f0);
            assert_eq!(new.trace(&req).unwrap().contacts, reopened.trace(&req).unwrap().contacts, "{f0}");
        }
        assert_eq!(new.trace(&TraceRequest::new("A1")).unwrap().contacts, before.contacts);
    }

    /// A file whose manifest entry changed (here: compaction rewrote the day) is opened anew.
    #[test]
    fn a_rewritten_day_is_opened_anew() {
        let dir = tempfile::tempdir().unwrap();
        let store_dir = dir.path().join("s");
        Ingest::new(&store_dir).run(&[csv(dir.path(), "a.csv", 1, "A")]).unwrap();
        Ingest::new(&store_dir).run(&[csv(dir.path(), "b.csv", 1, "B")]).unwrap();
        let mut store = Store::open(&store_dir).unwrap();
        let old = store.snapshot();
        let before = old.trace(&TraceRequest::new("A1")).unwrap();
        Store::compact(&store_dir, None).unwrap();
        assert!(store.refresh().unwrap());
        let new = store.snapshot();
        assert_eq!(new.0.parts.len(), 1);
        let part = &new.0.parts[0];
        assert!(old.0.parts.iter().all(|p| !p.index.same_file(&part.index)));
        assert_eq!(new.trace(&TraceRequest::new("A1")).unwrap().contacts, before.contacts);
    }
}
