//! What the command-line tests share: running the binary, a scratch
//! folder, and a profile small enough for a debug build.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the binary in `dir`, without colour.
pub fn drainstorm(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drainstorm"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

/// An empty scratch folder of this process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("drainstorm-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Bytes as text, lossily.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A profile small enough to run in a debug build in a few seconds.
pub const TINY: &str = r#"
name = "tiny"
description = "two sites, a drain, two balancers against two policies"
seed = 3
duration = "30s"

[compare]
balancers = ["least-conn", "maglev"]
policies = ["hasty", "patient"]

[policies.hasty]
max_attempts = 3
attempt_timeout = "100ms"
backoff = { kind = "immediate" }

[policies.patient]
max_attempts = 3
attempt_timeout = "100ms"
backoff = { kind = "exponential", base = "20ms", multiplier = 2.0, cap = "1s", jitter = "full" }

[router]
health_check = { interval = "1s", timeout = "200ms", fall = 2, rise = 2 }

[[sites]]
name = "east"
max_new_per_sec = 300
accept_backlog = 100
backends = [{ count = 4, slots = 1, queue = 20, service = { dist = "exponential", mean = "10ms" } }]

[[sites]]
name = "west"
max_new_per_sec = 300
accept_backlog = 100
backends = [{ count = 4, slots = 1, queue = 20, service = { dist = "exponential", mean = "10ms" } }]

[[clients]]
name = "web"
retry = "hasty"
workload = { kind = "open", rate = 400 }

[[timeline]]
at = "10s"
action = "drain"
site = "east"

[[timeline]]
at = "20s"
action = "restore"
site = "east"
"#;

/// The bytes of `file` in `dir`, or a panic that names it.
pub fn read(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}
