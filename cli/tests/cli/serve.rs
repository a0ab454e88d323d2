//! `truyvet serve` as an operator runs it: it says where it listens, answers, and stops
//! cleanly on SIGTERM; without accounts it refuses a non-loopback address.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;

use super::{run_ok, truyvet};

/// Ask `child` to stop as an init system does.
fn sigterm(child: &std::process::Child) {
    // SAFETY: kill(2) on the pid of a child this test spawned and has not yet waited for.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0, "kill: {}", std::io::Error::last_os_error());
}

/// `truyvet users add` with `password` on stdin, as an operator types it.
pub(crate) fn add_user(users: &std::path::Path, name: &str, role: &str, password: &str) {
    let file = users.to_str().unwrap();
    let mut add = truyvet()
        .args(["users", "add", "--file", file, "--name", name, "--role", role])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    assert!(add.wait().unwrap().success());
}

/// `truyvet serve args`: the child, its stderr after the first line, that first line, and the
/// address it listens on for HTTP (`host:port`).
pub(crate) fn serve(args: &[&str]) -> (std::process::Child, BufReader<std::process::ChildStderr>, String, String) {
    let mut child = truyvet().arg("serve").args(args).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let addr = first.split("http://").nth(1).unwrap().split('/').next().unwrap().to_string();
    (child, stderr, first, addr)
}

#[test]
fn serve_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (data, store) = (dir.path().join("data"), dir.path().join("store"));
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    run_ok(&["gen", "--out", &s(&data), "--people", "2000", "--venues", "80", "--days", "2"]);
    run_ok(&["ingest", "--store", &s(&store), &s(&data.join("checkins"))]);
    let (mut child, mut stderr, first, addr) = serve(&["--store", &s(&store), "--http", "127.0.0.1:0"]);
    assert!(first.contains("no accounts"), "{first}");
    let mut conn = TcpStream::connect(&addr).unwrap();
    write!(conn, "GET /api/v1/stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let stats: serde_json::Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let want: serde_json::Value =
        serde_json::from_str(&run_ok(&["stats", "--store", &s(&store), "--format", "json"])).unwrap();
    assert_eq!(stats["rows"], want["rows"]);

    sigterm(&child);
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{status}: {rest}");
    assert!(rest.contains("stopped"), "{rest}");
    // The request is in the store's audit log, as `truyvet audit` shows it.
    let audit = run_ok(&["audit", "--store", &s(&store), "--format", "csv"]);
    let lines: Vec<&str> = audit.lines().collect();
    assert_eq!(lines.len(), 2, "{audit}");
    assert!(lines[0].starts_with("at,via,user,client,action,detail,outcome,code,rows"), "{audit}");
    assert!(
        lines[1].contains(",http,local-owner,127.0.0.1:")
            && lines[1].contains("GET /api/v1/stats,/api/v1/stats,ok,200,"),
        "{audit}"
    );
    assert_eq!(run_ok(&["audit", "--store", &s(&store), "--outcome", "failed", "--format", "csv"]).lines().count(), 1);
    assert_eq!(
        run_ok(&["audit", "--store", &s(&store), "--since", "2999-01-01", "--format", "csv"]).lines().count(),
        1
    );
}

#[test]
fn without_accounts_serve_refuses_a_public_address() {
    let out = truyvet().args(["serve", "--store", "nowhere", "--http", "0.0.0.0:0"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("loopback"), "{err}");
}

#[test]
fn with_users_serve_listens_anywhere_and_asks_everyone_to_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let (data, store, users) = (dir.path().join("data"), dir.path().join("store"), dir.path().join("users.toml"));
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    run_ok(&["gen", "--out", &s(&data), "--people", "500", "--venues", "40", "--days", "1"]);
    run_ok(&["ingest", "--store", &s(&store), &s(&data.join("checkins"))]);
    add_user(&users, "lan", "admin", "correct horse battery");
    assert_eq!(run_ok(&["users", "list", "--file", &s(&users)]), "lan,admin\n");
    assert!(!std::fs::read_to_string(&users).unwrap().contains("correct horse"));

    let (mut child, _stderr, first, addr) =
        serve(&["--store", &s(&store), "--http", "0.0.0.0:0", "--users", &s(&users)]);
    assert!(first.contains("every client signs in"), "{first}");
    let port = addr.rsplit(':').next().unwrap().to_string();
    let get = |auth: &str| {
        let mut conn = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        write!(conn, "GET /api/v1/stats HTTP/1.1\r\nHost: t\r\n{auth}Connection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        answer
    };
    assert!(get("").starts_with("HTTP/1.1 401"));
    // "lan:correct horse battery" in base64.
    assert!(get("Authorization: Basic bGFuOmNvcnJlY3QgaG9yc2UgYmF0dGVyeQ==\r\n").starts_with("HTTP/1.1 200"));
    sigterm(&child);
    assert!(child.wait().unwrap().success());
}
