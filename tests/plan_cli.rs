//! `--set`, `drainstorm sweep`, `merge` and `plan`, run as a user runs
//! them.

mod common;

use common::{TINY, drainstorm, scratch, text};

#[test]
fn set_overrides_a_key_on_show_validate_and_run() {
    let dir = scratch("set");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let out = drainstorm(
        &[
            "show",
            "tiny.toml",
            "--set",
            "sites[1].backends[0].count=7",
            "--set",
            "router.dns_ttl=45s",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("count = 7"), "{shown}");
    assert!(shown.contains("dns_ttl = \"45s\""), "{shown}");

    for (set, says) in [
        (
            "sites[1].backends[0].cuont=3",
            "--set sites[1].backends[0].cuont=3: `sites[1].backends[0].cuont`: unknown field `cuont`, expected one of",
        ),
        (
            "sites[2].weight=1",
            "index 2 is out of range: the list has 2 entries (allowed 0 to 1)",
        ),
        (
            "sites[0].backends[0].count=lots",
            "invalid type: string \"lots\"",
        ),
        ("duration=0s", "`duration`"),
        ("count", "not KEY=VALUE"),
    ] {
        for cmd in ["validate", "run", "show"] {
            let out = drainstorm(&[cmd, "tiny.toml", "--set", set], &dir);
            assert_eq!(out.status.code(), Some(2), "{cmd} --set {set}");
            let err = text(&out.stderr);
            assert!(err.contains(says), "{cmd} --set {set}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }

    let out = drainstorm(
        &[
            "run",
            "tiny.toml",
            "--only",
            "balancer=maglev,policy=hasty",
            "--json",
            "-q",
            "--set",
            "clients[0].workload.rate=50",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rate = json["runs"][0]["summary"]["offered_per_s"]
        .as_f64()
        .unwrap();
    assert!(
        (rate - 50.0).abs() < 10.0,
        "offered {rate}/s with --set rate=50"
    );
}
