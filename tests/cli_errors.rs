//! Bad input, as a user meets it from the `drainstorm` command: a
//! malformed profile fails with its file, line, column and key and exit
//! code 2; a missing profile, an output folder that cannot be used and
//! work above the limit fail before simulating; warnings are printed,
//! and `--strict` makes them errors.

mod common;

use common::{TINY, drainstorm, scratch, text};

/// Malformed profiles: (what, edit to TINY, expected text in the error).
fn malformed() -> Vec<(&'static str, String, &'static str)> {
    let edit = |from: &str, to: &str| {
        assert!(TINY.contains(from), "{from}");
        TINY.replacen(from, to, 1)
    };
    vec![
        (
            "unknown top-level key",
            edit("seed = 3", "seed = 3\ncolour = 1"),
            "unknown field `colour`",
        ),
        (
            "wrong type",
            edit("duration = \"30s\"", "duration = true"),
            "duration",
        ),
        (
            "bad unit",
            edit("duration = \"30s\"", "duration = \"30 parsecs\""),
            "unknown unit",
        ),
        (
            "no unit",
            edit("duration = \"30s\"", "duration = \"30\""),
            "has no unit",
        ),
        (
            "missing duration",
            edit("duration = \"30s\"\n", ""),
            "missing field `duration`",
        ),
        (
            "negative rate",
            edit("rate = 400", "rate = -5"),
            "clients[0].workload.rate",
        ),
        (
            "NaN rate",
            edit("rate = 400", "rate = nan"),
            "clients[0].workload.rate",
        ),
        (
            "zero slots",
            edit("count = 4, slots = 1", "count = 4, slots = 0"),
            "sites[0].backends[0].slots",
        ),
        (
            "infinite speed",
            edit("count = 4, slots = 1", "count = 4, speed = inf, slots = 1"),
            "sites[0].backends[0].speed",
        ),
        (
            "typo in a backend key",
            edit("count = 4, slots = 1", "count = 4, slot = 1"),
            "unknown field `slot`",
        ),
        (
            "unknown balancer",
            edit(
                "\"least-conn\", \"maglev\"",
                "\"least-conn\", \"round-robin-ish\"",
            ),
            "unknown variant `round-robin-ish`",
        ),
        (
            "unknown retry policy",
            edit("retry = \"hasty\"", "retry = \"telepathy\""),
            "no policy named `telepathy`",
        ),
        (
            "unknown compared policy",
            edit("[\"hasty\", \"patient\"]", "[\"hasty\", \"eager\"]"),
            "compare.policies[1]",
        ),
        (
            "timeline out of order",
            edit("at = \"20s\"", "at = \"5s\""),
            "timeline[1].at",
        ),
        (
            "timeline unknown site",
            edit(
                "site = \"east\"\n\n[[timeline]]\nat = \"20s\"",
                "site = \"north\"\n\n[[timeline]]\nat = \"20s\"",
            ),
            "one of the sites: east, west",
        ),
        (
            "timeline unknown action",
            edit("action = \"drain\"", "action = \"explode\""),
            "unknown variant `explode`",
        ),
        (
            "duplicate site",
            edit("name = \"west\"", "name = \"east\""),
            "sites[1].name",
        ),
        (
            "no sites",
            edit("[[clients]]", "[[clients]]")
                .replace("[[sites]]\nname = \"west\"", "[[sitez]]\nname = \"west\""),
            "unknown field `sitez`",
        ),
        (
            "too many backends",
            edit("count = 4, slots = 1", "count = 4000000, slots = 1"),
            "backends",
        ),
        (
            "queues too big for memory",
            edit("queue = 20", "queue = 4000000000"),
            "would not fit in memory",
        ),
        (
            "probability above 1",
            edit(
                "count = 4, slots = 1",
                "count = 4, fail_probability = 1.5, slots = 1",
            ),
            "fail_probability",
        ),
        (
            "interval too short",
            edit("[router]", "[recorder]\ninterval = \"1ns\"\n\n[router]"),
            "recorder.interval",
        ),
        (
            "zero seeds",
            edit(
                "policies = [\"hasty\", \"patient\"]",
                "policies = [\"hasty\", \"patient\"]\nseeds = 0",
            ),
            "compare.seeds",
        ),
        (
            "bad name",
            edit("name = \"tiny\"", "name = \"a/b\""),
            "name",
        ),
        (
            "unknown backoff kind",
            edit(
                "backoff = { kind = \"immediate\" }",
                "backoff = { kind = \"sometimes\" }",
            ),
            "unknown variant `sometimes`",
        ),
        (
            "cap below base",
            edit("cap = \"1s\"", "cap = \"1ms\""),
            "cap",
        ),
        (
            "log-normal sigma",
            edit(
                "service = { dist = \"exponential\", mean = \"10ms\" } }]\n\n[[sites]]",
                "service = { dist = \"log-normal\", mean = \"10ms\", sigma = 9 } }]\n\n[[sites]]",
            ),
            "sigma",
        ),
        (
            "health check fall 0",
            edit("fall = 2", "fall = 0"),
            "router.health_check.fall",
        ),
        (
            "policy named like a preset",
            edit("[policies.patient]", "[policies.envoy]")
                .replace("\"hasty\", \"patient\"", "\"hasty\", \"envoy\""),
            "preset",
        ),
        (
            "TOML syntax",
            edit("[[clients]]", "[[clients]"),
            "tiny.toml:",
        ),
        (
            "zero attempts",
            edit("max_attempts = 3", "max_attempts = 0"),
            "max_attempts",
        ),
    ]
}

#[test]
fn malformed_profiles_fail_with_position_key_and_exit_2() {
    let dir = scratch("malformed");
    let cases = malformed();
    assert!(cases.len() >= 20);
    let position = |e: &str| {
        // "tiny.toml:LINE:COL: …"
        let rest = e.split("tiny.toml:").nth(1)?;
        let mut parts = rest.splitn(3, ':');
        let line: usize = parts.next()?.parse().ok()?;
        let col: usize = parts.next()?.parse().ok()?;
        Some((line, col))
    };
    for (what, profile, expected) in cases {
        std::fs::write(dir.join("tiny.toml"), &profile).unwrap();
        for command in ["validate", "run"] {
            let out = drainstorm(
                &[command, "tiny.toml", "--quiet"][..if command == "run" { 3 } else { 2 }],
                &dir,
            );
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{what} ({command}): {err}");
            assert!(!err.contains("panicked"), "{what}: {err}");
            assert!(
                err.contains(expected),
                "{what}: expected `{expected}` in: {err}"
            );
            let (line, col) =
                position(&err).unwrap_or_else(|| panic!("{what}: no position in {err}"));
            assert!(
                line >= 1 && line <= profile.lines().count() + 1 && col >= 1,
                "{what}: {err}"
            );
            assert_eq!(err.trim_end().lines().count(), 1, "{what}: one line: {err}");
        }
    }
}

#[test]
fn a_missing_profile_is_bad_input() {
    let out = drainstorm(&["run", "no-such-profile"], &std::env::temp_dir());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cheyenne-2026"),
        "lists the bundled ones"
    );
}

#[test]
fn work_above_the_limit_needs_yes() {
    let dir = scratch("work");
    let profile = TINY
        .replace("duration = \"30s\"", "duration = \"10h\"")
        .replace("rate = 400", "rate = 1e7");
    std::fs::write(dir.join("big.toml"), &profile).unwrap();
    let out = drainstorm(&["validate", "big.toml"], &dir);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("--yes") && err.contains("requests"), "{err}");
    let out = drainstorm(&["run", "big.toml", "--out", "o"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !dir.join("o").exists(),
        "nothing is written for a refused run"
    );
    let out = drainstorm(&["validate", "--yes", "big.toml"], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("attempts at amplification 1"));
}

#[test]
fn an_unusable_out_fails_before_simulating() {
    let dir = scratch("unusable");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    std::fs::write(dir.join("file"), "not a folder").unwrap();
    std::fs::create_dir(dir.join("mine")).unwrap();
    std::fs::write(dir.join("mine").join("notes.txt"), "keep me").unwrap();
    for (out, says) in [("file/x", "--out file/x"), ("mine", "notes.txt")] {
        let started = std::time::Instant::now();
        let o = drainstorm(&["run", "cheyenne-2026", "--out", out], &dir);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(says), "{err}");
        // Refused before the 13 simulated hours, not after.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{err}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("mine").join("notes.txt")).unwrap(),
        "keep me"
    );
}

#[test]
fn warnings_are_printed_and_strict_makes_them_errors() {
    let dir = scratch("strict");
    let profile = TINY.replace("duration = \"30s\"", "duration = \"15s\"");
    std::fs::write(dir.join("late.toml"), profile).unwrap();
    let out = drainstorm(&["validate", "late.toml"], &dir);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: late.toml:") && err.contains("`timeline[1].at`"),
        "{err}"
    );
    let out = drainstorm(&["validate", "--strict", "late.toml"], &dir);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = drainstorm(&["run", "--strict", "late.toml", "--out", "o"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.join("o").exists());
}
