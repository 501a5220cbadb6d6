//! Nothing the user asked for is lost: a write killed at any point leaves
//! the old result or the new one, and an interrupt (Ctrl-C) while
//! simulating says so and keeps the old result, or lets the writing
//! finish — the `drainstorm` command run as a user runs it.

mod common;

use std::path::Path;
use std::process::Command;

use common::{TINY, drainstorm, scratch, text};

/// The files of a result set, by name.
fn result_set(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

fn copy_set(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for (name, bytes) in result_set(from) {
        std::fs::write(to.join(name), bytes).unwrap();
    }
}

#[test]
fn a_write_killed_at_any_point_leaves_the_old_result_or_the_new_one() {
    let dir = scratch("atomic");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let run = |seed: &str, out: &str| {
        drainstorm(
            &["run", "tiny.toml", "--quiet", "--seed", seed, "--out", out],
            &dir,
        )
    };
    assert!(run("1", "a").status.success());
    let started = std::time::Instant::now();
    assert!(run("2", "b").status.success());
    let full = started.elapsed();
    let (old, new) = (result_set(&dir.join("a")), result_set(&dir.join("b")));
    assert_eq!(old.len(), 5);
    assert_ne!(old, new);
    // Kill points spread over the simulation and the (slowed) writing.
    let pause = 40;
    let mut seen = [0; 2];
    for i in 0..16u32 {
        copy_set(&dir.join("a"), &dir.join("out"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_drainstorm"))
            .args(["run", "tiny.toml", "--quiet", "--seed", "2", "--out", "out"])
            .current_dir(&dir)
            .env("DRAINSTORM_WRITE_PAUSE_MS", pause.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let at = full.mul_f64(0.5) + std::time::Duration::from_millis(u64::from(i) * 15);
        std::thread::sleep(at);
        let _ = child.kill();
        let _ = child.wait();
        let got = result_set(&dir.join("out"));
        if got == old {
            seen[0] += 1;
        } else if got == new {
            seen[1] += 1;
        } else {
            let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
            panic!("killed after {at:?}: a mixed folder: {names:?}");
        }
    }
    eprintln!("outcomes (old, new): {seen:?}");
    // The next command clears what the killed ones left beside it.
    assert!(run("2", "out").status.success());
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.starts_with(".out.").then_some(name)
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?} (outcomes {seen:?})");
}

#[test]
fn an_interrupt_while_simulating_says_so_and_keeps_the_old_result() {
    let dir = scratch("sigint");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    assert!(
        drainstorm(&["run", "tiny.toml", "--quiet", "--out", "out"], &dir)
            .status
            .success()
    );
    let before = result_set(&dir.join("out"));
    let child = Command::new(env!("CARGO_BIN_EXE_drainstorm"))
        .args(["run", "cheyenne-2026", "--out", "out", "--threads", "1"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted while simulating") && err.contains("previous result"),
        "{err}"
    );
    assert_eq!(result_set(&dir.join("out")), before);
}

#[test]
fn an_interrupt_at_any_point_of_a_run_exits_130_or_lets_it_finish() {
    let dir = scratch("sigint-any");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let args = ["run", "tiny.toml", "--quiet", "--out", "out"];
    let started = std::time::Instant::now();
    assert!(drainstorm(&args, &dir).status.success());
    let full = started.elapsed();
    let mut seen = std::collections::BTreeMap::new();
    // Interrupts spread from the start to past the end of the run, the
    // writing slowed so that some land in it.
    for i in 0..20u32 {
        let child = Command::new(env!("CARGO_BIN_EXE_drainstorm"))
            .args(args)
            .current_dir(&dir)
            .env("DRAINSTORM_WRITE_PAUSE_MS", "20")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(f64::from(i) / 16.0));
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let out = child.wait_with_output().unwrap();
        // Before the handler is installed, the signal itself ends it (the
        // shell's 130 too).
        let code = std::os::unix::process::ExitStatusExt::signal(&out.status)
            .filter(|&s| s == 2)
            .map_or(out.status.code(), |_| Some(130));
        assert!(
            matches!(code, Some(0 | 130)),
            "interrupted at {i}/16 of the run: exit {code:?}: {}",
            text(&out.stderr)
        );
        *seen.entry(code).or_insert(0) += 1;
    }
    eprintln!("exit codes: {seen:?}");
    assert!(seen.contains_key(&Some(130)), "{seen:?}");
}
