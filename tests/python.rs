//! The Python package's tests (`python/tests`, pytest), run by `cargo
//! test` so that one command runs every test the project has.
//!
//! It makes a virtual environment in `target/python-venv` (once), installs
//! what the package and its tests need from PyPI (maturin, pytest, pandas,
//! simpy, dask[distributed]), builds the package into it with `maturin
//! develop --release` (in `target/python`, beside this build, so the two
//! cargo runs do not wait on each other) and runs pytest. Needs `python3`
//! (3.9 or later) with `venv`, and PyPI the first time.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What the tests import besides the package.
const REQUIREMENTS: &[&str] = &[
    "maturin>=1.5,<2",
    "pytest>=7",
    "pandas>=1.5",
    "simpy>=4",
    "dask[distributed]>=2023.1",
];

fn run(what: &str, cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start {:?}: {e}", cmd.get_program()));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn venv(root: &Path) -> PathBuf {
    let venv = root.join("target/python-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        run(
            "python3 -m venv target/python-venv",
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
        );
    }
    // pip skips what is already there.
    run(
        "pip install (the Python tests' requirements)",
        Command::new(&python)
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
            .args(REQUIREMENTS),
    );
    venv
}

#[test]
fn the_python_package_passes_its_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = venv(root);
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run(
        "maturin develop --release (python/)",
        Command::new(venv.join("bin/maturin"))
            .args(["develop", "--release", "-q"])
            .current_dir(root.join("python"))
            .env("VIRTUAL_ENV", &venv)
            .env("PATH", &path)
            .env("CARGO_TARGET_DIR", root.join("target/python")),
    );
    run(
        "pytest python/tests",
        Command::new(venv.join("bin/python"))
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
            .current_dir(root.join("python"))
            .env("PATH", &path),
    );
}
