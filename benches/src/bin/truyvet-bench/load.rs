//! `--serve-load SECONDS`: `truyvet serve` (the product binary) over a copy of the store, and 64
//! clients on loopback mixing traces (70 %), status (20 %) and SQL (10 %) for SECONDS while
//! `truyvet ingest` commits a batch every quarter of the run. Per endpoint: requests, errors,
//! p50/p99 latency. Each client opens a connection per request, or with `--keep-alive` keeps
//! one open (reconnecting when the server closes it).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use truyvet_benches::Percentiles;

/// Per endpoint: latencies and errors.
type Samples = BTreeMap<&'static str, (Vec<Duration>, usize)>;

/// Concurrent clients.
pub const CLIENTS: usize = 64;

/// What `--serve-load` measured.
#[derive(Debug, Serialize)]
pub struct LoadFigures {
    pub clients: usize,
    /// Whether each client kept one connection open across its requests.
    pub keep_alive: bool,
    pub seconds: f64,
    pub commits: usize,
    pub endpoints: BTreeMap<String, Endpoint>,
}

/// One endpoint's figures.
#[derive(Debug, Serialize)]
pub struct Endpoint {
    pub requests: usize,
    pub errors: usize,
    pub latency: Percentiles,
}

fn get(addr: &str, target: &str) -> Result<u16> {
    let mut s = TcpStream::connect(addr)?;
    write!(s, "GET {target} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let line = raw.split(|&b| b == b'\n').next().unwrap_or_default();
    let status = String::from_utf8_lossy(line).split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok(status)
}

/// A client's connection kept open across requests (the server answers with whole bodies of a
/// stated `Content-Length`).
#[derive(Default)]
struct Kept {
    conn: Option<BufReader<TcpStream>>,
}

impl Kept {
    /// `GET target`: the status, on the open connection (a new one if there is none, or if the
    /// server had closed the open one before this request reached it).
    fn get(&mut self, addr: &str, target: &str) -> Result<u16> {
        let reused = self.conn.is_some();
        match self.try_get(addr, target) {
            Err(_) if reused => {
                self.conn = None;
                self.try_get(addr, target)
            }
            answer => answer,
        }
    }

    fn try_get(&mut self, addr: &str, target: &str) -> Result<u16> {
        let conn = match &mut self.conn {
            Some(c) => c,
            None => {
                let stream = TcpStream::connect(addr)?;
                // A request leaves in one segment, not held back for the answer's ACK.
                stream.set_nodelay(true)?;
                self.conn.insert(BufReader::new(stream))
            }
        };
        conn.get_mut().write_all(format!("GET {target} HTTP/1.1\r\nHost: bench\r\n\r\n").as_bytes())?;
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            if conn.read_until(b'\n', &mut head)? == 0 {
                self.conn = None;
                bail!("the server closed the connection");
            }
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        response.parse(&head)?;
        let header = |name: &str| {
            response.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.to_ascii_lowercase())
        };
        let length: u64 = header("content-length")
            .and_then(|v| std::str::from_utf8(&v).ok()?.trim().parse().ok())
            .context("an answer without a Content-Length")?;
        let closing = header("connection").is_some_and(|v| v == b"close");
        let status = response.code.unwrap_or(0);
        let read = std::io::copy(&mut conn.by_ref().take(length), &mut std::io::sink())?;
        if read != length || closing {
            self.conn = None;
        }
        Ok(status)
    }
}

/// Run the load against a copy of `store_dir` (the cached store is not changed).
pub fn figures(
    bin: &Path,
    store_dir: &Path,
    f0s: &[String],
    seconds: u64,
    seed: u64,
    keep_alive: bool,
) -> Result<LoadFigures> {
    let work = tempfile_dir(store_dir)?;
    let store = work.join("store");
    let status = Command::new("cp").arg("-a").arg(store_dir).arg(&store).status()?;
    if !status.success() {
        bail!("cannot copy {} for the load run", store_dir.display());
    }
    let mut server = Command::new(bin)
        .args(["serve", "--http", "127.0.0.1:0", "--time-limit", "60s", "--store"])
        .arg(&store)
        .stderr(Stdio::piped())
        .spawn()
        .context("starting truyvet serve")?;
    let mut first = String::new();
    let mut err = BufReader::new(server.stderr.take().expect("piped"));
    err.read_line(&mut first)?;
    // The rest of the server's stderr, kept for the report of a failure.
    let rest = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let addr = first.split("http://").nth(1).and_then(|r| r.split('/').next()).context("no address")?.to_string();
    let how = if keep_alive { "each keeping its connection" } else { "a connection per request" };
    eprintln!("load: {CLIENTS} clients ({how}) for {seconds} s against http://{addr}/ ...");

    let samples: Arc<Mutex<Samples>> = Default::default();
    let until = Instant::now() + Duration::from_secs(seconds);
    let f0s = Arc::new(f0s.to_vec());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (addr, f0s, samples) = (addr.clone(), f0s.clone(), samples.clone());
            std::thread::spawn(move || {
                let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed.wrapping_add(c as u64));
                let mut kept = Kept::default();
                while Instant::now() < until {
                    let p = &f0s[rng.random_range(0..f0s.len())];
                    let roll = rng.random_range(0..10);
                    let (name, target) = match roll {
                        0..7 => ("trace", format!("/api/v1/trace?f0={p}&format=csv")),
                        7..9 => ("status", format!("/api/v1/status?person={p}")),
                        _ => ("sql", format!("/api/v1/sql?format=csv&q=SELECT%20count(*)%20FROM%20f1_contacts('{p}')")),
                    };
                    let t = Instant::now();
                    let answer = if keep_alive { kept.get(&addr, &target) } else { get(&addr, &target) };
                    let ok = matches!(answer, Ok(200));
                    let d = t.elapsed();
                    let mut s = samples.lock().unwrap_or_else(|e| e.into_inner());
                    let e = s.entry(name).or_default();
                    e.0.push(d);
                    e.1 += usize::from(!ok);
                }
            })
        })
        .collect();
    // Commits while the clients run: a few rows of known persons each quarter.
    let mut commits = 0;
    for q in 1..4 {
        std::thread::sleep(Duration::from_secs(seconds) / 4);
        let file = work.join(format!("late-{q}.csv"));
        let mut csv = String::from("person_id,venue_id,check_in,check_out\n");
        for (i, p) in f0s.iter().take(50).enumerate() {
            csv.push_str(&format!("{p},BENCH-LATE-{q},2021-08-14T{:02}:00:00Z,\n", 8 + i % 10));
        }
        std::fs::write(&file, csv)?;
        let out = Command::new(bin).arg("ingest").arg("--store").arg(&store).arg(&file).output()?;
        if !out.status.success() {
            bail!("ingest during the load failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        commits += 1;
    }
    for c in clients {
        let _ = c.join();
    }
    // SAFETY: kill(2) on the pid of the server this run spawned and has not waited for.
    unsafe { libc::kill(server.id() as libc::pid_t, libc::SIGTERM) };
    let stopped = server.wait()?;
    let said = rest.join().unwrap_or_default();
    if !stopped.success() {
        bail!("truyvet serve did not stop cleanly: {stopped}: {said}");
    }
    let _ = std::fs::remove_dir_all(&work);
    let samples = Arc::try_unwrap(samples).map_err(|_| anyhow::anyhow!("clients still hold samples"))?;
    let endpoints = samples
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|(k, (lat, errors))| {
            (k.to_string(), Endpoint { requests: lat.len(), errors, latency: Percentiles::of(&lat) })
        })
        .collect();
    Ok(LoadFigures { clients: CLIENTS, keep_alive, seconds: seconds as f64, commits, endpoints })
}

fn tempfile_dir(beside: &Path) -> Result<std::path::PathBuf> {
    let dir = beside.with_extension(format!("load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
