//! Whole processes as a benchmark sees them: run a command to completion, collect its output,
//! and read its peak resident memory from the kernel when it is reaped (`wait4`'s rusage), so
//! the measured binary needs no hook of its own.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A finished child process.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
    /// Peak resident set size in bytes (`ru_maxrss`).
    pub peak_rss_bytes: u64,
}

/// Run `cmd` to completion with stdout and stderr captured; stdin is closed.
pub fn run(cmd: &mut Command) -> std::io::Result<Finished> {
    let start = Instant::now();
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let mut out = child.stdout.take().expect("piped above");
    let mut err = child.stderr.take().expect("piped above");
    // Drain stderr on a thread so neither pipe can fill up and stall the child.
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        err.read_to_end(&mut buf).map(|_| buf)
    });
    let mut stdout = Vec::new();
    out.read_to_end(&mut stdout)?;
    let stderr = err_reader.join().expect("stderr reader does not panic")?;
    let (status, peak_rss_bytes) = reap(child.id())?;
    // The child was reaped by `wait4`; `Child` does not wait on drop, so nothing waits twice.
    drop(child);
    Ok(Finished { status, stdout, stderr, elapsed: start.elapsed(), peak_rss_bytes })
}

/// Wait for `pid` and return its status and peak RSS. `std` has no way to get a child's rusage,
/// so this is the one system call made by hand.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_status_and_memory() {
        let f = run(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"])).unwrap();
        assert_eq!(
            (f.stdout.as_slice(), f.stderr.as_slice(), f.status.code()),
            (&b"out\n"[..], &b"err\n"[..], Some(3))
        );
        // The figure is the child's own: a child touching 200 MiB peaks well above one that does not.
        let small = run(&mut Command::new("true")).unwrap().peak_rss_bytes;
        let big = run(Command::new("python3").args(["-c", "b = bytearray(200 << 20)"])).unwrap();
        assert!(big.status.success());
        assert!(big.peak_rss_bytes > small + (150 << 20), "{} vs {small}", big.peak_rss_bytes);
    }
}
