//! Whole processes as a benchmark sees them: run a command to completion, collect its output,
//! and read its peak resident memory from the kernel when it is reaped (`wait4`'s rusage), so
//! the measured binary needs no hook of its own.
//!
//! The kernel's figure for a child starts from the high-water mark of the address space it was
//! spawned from (`exec` records the old memory's peak), so a child spawned by a large benchmark
//! process would report the benchmark's size. Each command therefore runs under a small
//! intermediate, this same binary started in [`relay`] mode: freshly started, its own memory is
//! a few MiB, and it forwards the child's peak.

use std::ffi::OsString;
use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The argument that starts a binary in relay mode (see [`relay`]).
pub const RELAY_FLAG: &str = "--relay-child-rss";

const MARK: &str = "\ntruyvet-relay peak_rss_bytes=";
const ELAPSED: &str = " elapsed_ns=";

/// A finished child process.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
    /// Wall time from its spawn to its exit, as the relay saw it (the relay's own start, a
    /// second large binary's `exec`, is not counted).
    pub elapsed: Duration,
    /// Peak resident set size in bytes (`ru_maxrss`).
    pub peak_rss_bytes: u64,
}

/// Run `program args` to completion with stdout and stderr captured and stdin closed, under
/// `relay_exe` (a binary whose `main` calls [`relay`] first).
pub fn run(relay_exe: &std::path::Path, program: &std::path::Path, args: &[OsString]) -> std::io::Result<Finished> {
    let mut child = Command::new(relay_exe)
        .arg(RELAY_FLAG)
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut out = child.stdout.take().expect("piped above");
    let mut err = child.stderr.take().expect("piped above");
    // Drain stderr on a thread so neither pipe can fill up and stall the child.
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        err.read_to_end(&mut buf).map(|_| buf)
    });
    let mut stdout = Vec::new();
    out.read_to_end(&mut stdout)?;
    let mut stderr = err_reader.join().expect("stderr reader does not panic")?;
    let status = child.wait()?;
    let text = String::from_utf8_lossy(&stderr);
    let at = text.rfind(MARK).ok_or_else(|| std::io::Error::other(format!("the relay reported no peak: {text}")))?;
    let (peak, elapsed_ns) = text[at + MARK.len()..]
        .trim()
        .split_once(ELAPSED)
        .ok_or_else(|| std::io::Error::other(format!("the relay reported no time: {text}")))?;
    let peak_rss_bytes = peak.parse().map_err(std::io::Error::other)?;
    let elapsed = Duration::from_nanos(elapsed_ns.parse().map_err(std::io::Error::other)?);
    stderr.truncate(at);
    Ok(Finished { status, stdout, stderr, elapsed, peak_rss_bytes })
}

/// Relay mode: when the process was started as `EXE --relay-child-rss PROGRAM ARGS...`, run
/// PROGRAM with the inherited stdio, print its peak RSS and its wall time (spawn to exit) on
/// stderr after it exits, and exit with its code. Otherwise return at once. Call it first thing
/// in `main`.
pub fn relay() {
    let mut args = std::env::args_os().skip(1);
    if args.next().is_none_or(|a| a != RELAY_FLAG) {
        return;
    }
    let Some(program) = args.next() else { std::process::exit(2) };
    let start = Instant::now();
    let code = match Command::new(program).args(args).spawn().and_then(|c| reap(c.id())) {
        Ok((status, peak)) => {
            eprint!("{MARK}{peak}{ELAPSED}{}", start.elapsed().as_nanos());
            status.code().unwrap_or(128)
        }
        Err(e) => {
            eprintln!("relay: {e}");
            127
        }
    };
    std::process::exit(code);
}

/// Wait for `pid` and return its status and peak RSS. `std` has no way to get a child's rusage,
/// so this is the one system call made by hand. The `Child` handle is dropped unwaited (it
/// does not wait on drop), so nothing reaps twice.
fn reap(pid: u32) -> std::io::Result<(ExitStatus, u64)> {
    use std::os::unix::process::ExitStatusExt;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data, valid when zeroed.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live locals; `pid` is our own unreaped child.
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        if r >= 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    // Linux reports ru_maxrss in KiB.
    Ok((ExitStatus::from_raw(status), u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024))
}
