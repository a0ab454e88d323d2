//! The binary starts and describes itself. (Also makes cargo build the `truyvet` binary before
//! the workspace's end-to-end tests run.)

use std::process::Command;

#[test]
fn version_and_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_truyvet")).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("truyvet "));
    let help = Command::new(env!("CARGO_BIN_EXE_truyvet")).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for cmd in ["demo", "gen", "ingest", "stats", "trace", "exposures"] {
        assert!(text.contains(cmd), "--help lacks {cmd}:\n{text}");
    }
}
