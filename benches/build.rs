//! Records the git commit the benchmark binary is built from (`TRUYVET_BUILD_COMMIT`), so every
//! figure names the code that produced it, whatever directory the binary later runs in.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "--short=10", "HEAD"]).unwrap_or_default();
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let suffix = if dirty && !commit.is_empty() { "+dirty" } else { "" };
    println!("cargo:rustc-env=TRUYVET_BUILD_COMMIT={commit}{suffix}");
    // A new commit moves HEAD or the branch it names; staging changes the index.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        for f in ["HEAD", "index", "refs/heads"] {
            println!("cargo:rerun-if-changed={dir}/{f}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
