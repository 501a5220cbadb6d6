//! Every command that simulates estimates its work first and refuses work
//! above the limits (10^10 requests, or 4 GiB in flight) without `--yes`,
//! with exit code 2 and before anything runs or is written: `run`,
//! `sweep` (over all its points) and every `plan`.

mod common;

use common::{TINY, drainstorm, scratch, text};

#[test]
fn work_above_the_limits_needs_yes_on_every_command() {
    let dir = scratch("work-limits");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let huge = "clients[0].workload.rate=1e8";
    for args in [
        vec!["run", "tiny.toml", "--set", huge],
        vec![
            "sweep",
            "tiny.toml",
            "--vary",
            "clients[0].workload.rate=300,1e8",
        ],
        vec!["plan", "headroom", "tiny.toml", "--set", huge],
        vec!["plan", "drain", "tiny.toml", "--set", huge],
        // (×3 of 10^8 requests/s is out of range: a ladder of one rung.)
        vec!["plan", "size", "tiny.toml", "--set", huge, "--sizes", "1"],
    ] {
        let mut a = args.clone();
        a.extend(["-o", "out"]);
        let out = drainstorm(&a, &dir);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("above the limits") && err.contains("--yes"),
            "{args:?}: {err}"
        );
        assert!(!dir.join("out").exists(), "{args:?}: nothing is written");
    }
    // The same sweep at a modest load runs without asking.
    let out = drainstorm(
        &[
            "sweep",
            "tiny.toml",
            "--vary",
            "clients[0].workload.rate=300,400",
            "-o",
            "out",
            "-q",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}
