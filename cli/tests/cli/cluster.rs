//! `truyvet cluster scheduler`, two `truyvet cluster executor`s and `truyvet sql --cluster`, as
//! separate processes on loopback, as an operator would run them: the answers equal local SQL.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::{run_ok, truyvet};

/// Processes stopped (SIGTERM, then waited for) however the test ends.
struct Running(Vec<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        for child in &mut self.0 {
            // SAFETY: kill(2) on the pid of a child this test spawned and has not waited for.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let _ = child.wait();
        }
    }
}

/// A port free now, with the next one free too (an executor takes port and port + 1).
fn free_pair() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

fn wait_listening(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(30), "nothing listens on {port} after 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sql_runs_on_a_cluster_of_truyvet_processes() {
    let dir = tempfile::tempdir().unwrap();
    let (data, store) = (dir.path().join("data"), dir.path().join("store"));
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    run_ok(&["gen", "--out", &s(&data), "--people", "2000", "--venues", "80", "--days", "3", "--seed", "5"]);
    run_ok(&["ingest", "--store", &s(&store), "--venues", &s(&data.join("venues.csv")), &s(&data.join("checkins"))]);

    let scheduler = free_pair();
    let mut running = Running(Vec::new());
    let quiet = |c: &mut std::process::Command| c.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    running.0.push(quiet(truyvet().args(["cluster", "scheduler", "--bind", &format!("127.0.0.1:{scheduler}")])));
    wait_listening(scheduler);
    for i in 0..2 {
        let port = free_pair();
        running.0.push(quiet(truyvet().args([
            "cluster",
            "executor",
            "--scheduler",
            &format!("127.0.0.1:{scheduler}"),
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--concurrency",
            "1",
            "--work-dir",
            &s(&dir.path().join(format!("work{i}"))),
        ])));
        wait_listening(port);
    }

    let url = format!("df://127.0.0.1:{scheduler}");
    let f0 = super::busiest_person(&store);
    for sql in [
        "SELECT day, count(*) AS n, count(DISTINCT person_id) AS persons FROM checkins GROUP BY day ORDER BY day"
            .to_string(),
        "SELECT v.category, count(*) AS n FROM checkins c JOIN venues v USING (venue_id) GROUP BY v.category ORDER BY n DESC, v.category".to_string(),
        format!("SELECT * FROM f1_contacts('{f0}') ORDER BY rank"),
    ] {
        let local = run_ok(&["sql", "--store", &s(&store), "--format", "csv", &sql]);
        let remote = run_ok(&["sql", "--store", &s(&store), "--cluster", &url, "--format", "csv", &sql]);
        assert!(local.lines().count() > 2, "{sql}: {local}");
        assert_eq!(remote, local, "{sql}");
    }
}
