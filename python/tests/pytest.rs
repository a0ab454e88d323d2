//! The Python package's tests (`python/tests/test_*.py`) under pytest, against the extension
//! this build made (`lib_truyvet.so`, this crate's cdylib) and the `truyvet` binary of the same
//! build, so `cargo test --workspace` runs them with everything else. They need Python ≥ 3.9
//! with pyarrow, polars and pytest (`.ci/run` installs them).

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>`: the directory above this test's executable (`deps/`).
fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>").to_path_buf()
}

#[test]
fn python_package() {
    let dir = build_dir();
    // Built beside the test for linking (deps/); a plain `cargo build` also copies it up.
    let name = format!("{}_truyvet{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    let ext = [dir.join("deps").join(&name), dir.join(&name)]
        .into_iter()
        .filter(|p| p.is_file())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .unwrap_or_else(|| dir.join("deps").join(&name));
    let bin = dir.join(format!("truyvet{}", std::env::consts::EXE_SUFFIX));
    assert!(ext.is_file(), "{}: the extension is missing; build with `cargo test --workspace`", ext.display());
    assert!(bin.is_file(), "{}: the CLI is missing; build with `cargo test --workspace`", bin.display());

    // The package as pip would install it: the Python sources and the extension beside them.
    let site = tempfile::tempdir().expect("a temporary directory");
    let package = site.path().join("truyvet");
    let sources = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir(&package).expect("package directory");
    for entry in std::fs::read_dir(sources.join("truyvet")).expect("python/truyvet") {
        let path = entry.expect("a package file").path();
        if path.extension().is_some_and(|e| e == "py") {
            std::fs::copy(&path, package.join(path.file_name().expect("a file name"))).expect("copy a module");
        }
    }
    std::fs::copy(&ext, package.join("_truyvet.abi3.so")).expect("copy the extension");

    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"])
        .arg(sources.join("tests"))
        .env("PYTHONPATH", site.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("TRUYVET_BIN", &bin)
        .current_dir(site.path())
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e}; install Python 3 with pyarrow, polars and pytest"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{text}");
    assert!(out.status.success(), "pytest failed ({}):\n{text}", out.status);
    assert!(text.contains(" passed"), "pytest ran no tests:\n{text}");
}
