//! Peak memory of a child is the child's own, even when the benchmark process is large.

use std::ffi::OsString;
use std::path::Path;

use truyvet_benches::child;

#[test]
fn a_childs_peak_is_its_own_not_the_parents() {
    let relay = Path::new(env!("CARGO_BIN_EXE_truyvet-bench"));
    // Make this process large first: a child spawned straight from it would report ~300 MiB.
    let big = vec![1u8; 300 << 20];
    let small = child::run(relay, Path::new("true"), &[]).unwrap();
    assert!(small.status.success());
    assert!(small.peak_rss_bytes < 64 << 20, "`true` peaked at {} bytes", small.peak_rss_bytes);
    let py: Vec<OsString> = ["-c", "b = bytearray(200 << 20)"].map(OsString::from).into();
    let heavy = child::run(relay, Path::new("python3"), &py).unwrap();
    assert!(heavy.status.success());
    assert!(
        heavy.peak_rss_bytes > small.peak_rss_bytes + (150 << 20),
        "{} vs {}",
        heavy.peak_rss_bytes,
        small.peak_rss_bytes
    );
    // Output and exit codes pass through; the relay's own line is removed.
    let sh: Vec<OsString> = ["-c", "echo out; echo err >&2; exit 3"].map(OsString::from).into();
    let f = child::run(relay, Path::new("sh"), &sh).unwrap();
    assert_eq!((f.stdout.as_slice(), f.stderr.as_slice(), f.status.code()), (&b"out\n"[..], &b"err\n"[..], Some(3)));
    assert_eq!(big[big.len() - 1], 1);
}
