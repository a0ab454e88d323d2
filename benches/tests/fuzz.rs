//! A short seeded fuzz run of every reader (the long runs are reported in the notes).

use std::process::Command;

#[test]
fn readers_survive_a_short_seeded_fuzz_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_truyvet-fuzz"))
        .args(["--iterations", "20000", "--seed", "7", "--out"])
        .arg(dir.path().join("crash.bin"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    for target in truyvet::fuzz::TARGETS {
        assert!(text.contains(&format!("{target}: 20000 inputs, no panic")), "{text}");
    }
}
