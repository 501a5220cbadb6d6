//! The `drainstorm` command, run as a user runs it.

mod common;

use std::path::Path;
use std::process::Command;

use common::{TINY, drainstorm, scratch, text};

#[test]
fn help_mentions_every_subcommand() {
    let out = drainstorm(&["--help"], &std::env::temp_dir());
    assert!(out.status.success());
    let help = text(&out.stdout);
    for sub in ["run", "validate", "profiles", "show"] {
        assert!(help.contains(sub), "{sub} missing from:\n{help}");
    }
}

#[test]
fn every_bundled_profile_validates_by_name_and_by_path() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let listed = drainstorm(&["profiles"], root);
    assert!(listed.status.success());
    let listing = text(&listed.stdout);
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root.join("profiles")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        assert!(listing.contains(&name), "`profiles` lists {name}");
        let by_path = drainstorm(&["validate", path.to_str().unwrap()], root);
        assert!(by_path.status.success(), "{}", text(&by_path.stderr));
        names.push(name);
    }
    assert!(names.len() >= 7);
    let mut args = vec!["validate"];
    args.extend(names.iter().map(String::as_str));
    let by_name = drainstorm(&args, &std::env::temp_dir());
    assert!(by_name.status.success(), "{}", text(&by_name.stderr));
}

#[test]
fn show_prints_a_profile_that_reads_back() {
    let dir = scratch("show");
    let out = drainstorm(&["show", "mm1"], &dir);
    assert!(out.status.success());
    let shown = text(&out.stdout);
    assert!(shown.contains("collapse_ratio"), "defaults are filled in");
    std::fs::write(dir.join("shown.toml"), &shown).unwrap();
    let again = drainstorm(&["validate", "shown.toml"], &dir);
    assert!(again.status.success(), "{}", text(&again.stderr));
}

#[test]
fn run_writes_the_report_files_with_every_combination() {
    let dir = scratch("run");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let out = drainstorm(&["run", "tiny.toml", "--out", "out", "--quiet"], &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for name in ["least-conn", "maglev", "hasty", "patient", "verdict"] {
        assert!(table.contains(name), "{table}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["profile"]["name"], "tiny");
    assert_eq!(summary["rows"].as_array().unwrap().len(), 4);
    assert_eq!(summary["runs"].as_array().unwrap().len(), 4);
    let csv = std::fs::read_to_string(dir.join("out/series.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..4], ["balancer", "policy", "seed", "time_s"]);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 4 * 30, "4 runs × 30 one-second intervals");
    assert!(rows.iter().all(|r| r.len() == header.len()));
    for b in ["least-conn", "maglev"] {
        for p in ["hasty", "patient"] {
            assert_eq!(
                rows.iter().filter(|r| r[0] == b && r[1] == p).count(),
                30,
                "{b} + {p}"
            );
        }
    }
    let html = std::fs::read_to_string(dir.join("out/report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    assert!(html.matches("<svg").count() >= 6, "charts are inline SVG");
    assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
    assert!(
        !html.contains("http://")
            || html.matches("http://").count()
                == html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count(),
        "no network references beyond the SVG namespace"
    );
    for name in ["least-conn", "maglev", "hasty", "patient"] {
        assert!(html.contains(name));
    }
}

#[test]
fn the_rule_and_a_compressed_time_scale_are_stated() {
    let dir = scratch("rule");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let out = drainstorm(&["run", "tiny.toml", "--out", "plain", "--quiet"], &dir);
    let plain = text(&out.stdout);
    assert!(plain.contains("Verdicts (trigger's end at"), "{plain}");
    assert!(plain.contains("goodput ≥ 95% of offered"), "{plain}");
    assert!(!plain.contains("compresses time"), "{plain}");
    let html = std::fs::read_to_string(dir.join("plain/report.html")).unwrap();
    assert!(html.contains("goodput ≥ 95% of offered"));
    assert!(html.contains("simulated time (s)"));

    std::fs::write(
        dir.join("fast.toml"),
        format!("time_scale = 60.0\nclock_start = \"17:00\"\n{TINY}"),
    )
    .unwrap();
    let out = drainstorm(&["run", "fast.toml", "--out", "fast", "--quiet"], &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let fast = text(&out.stdout);
    assert!(
        fast.contains("one simulated second stands for 60 s"),
        "{fast}"
    );
    let html = std::fs::read_to_string(dir.join("fast/report.html")).unwrap();
    assert!(html.contains("one simulated second stands for 60 s"));
    assert!(html.contains("time of day (UTC; 1 simulated s stands for 60 s)"));
    assert!(html.contains("\n17:00\n"), "clock-time ticks");
}

#[test]
fn json_output_is_identical_on_one_and_two_threads() {
    let dir = scratch("threads");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let one = drainstorm(
        &[
            "run",
            "tiny.toml",
            "--json",
            "--threads",
            "1",
            "--out",
            "o1",
        ],
        &dir,
    );
    let two = drainstorm(
        &[
            "run",
            "tiny.toml",
            "--json",
            "--threads",
            "2",
            "--out",
            "o2",
        ],
        &dir,
    );
    assert!(one.status.success() && two.status.success());
    let _: serde_json::Value = serde_json::from_slice(&one.stdout).expect("valid JSON");
    assert!(one.stdout == two.stdout, "same bytes for any thread count");
    let seeded = drainstorm(
        &["run", "tiny.toml", "--json", "--seed", "4", "--out", "o3"],
        &dir,
    );
    assert!(seeded.stdout != one.stdout, "the seed matters");
}

#[test]
fn only_and_seeds_select_what_runs() {
    let dir = scratch("only");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let out = drainstorm(
        &[
            "run",
            "tiny.toml",
            "--json",
            "--only",
            "balancer=maglev,policy=patient",
            "--seeds",
            "2",
            "--out",
            "o",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert!(
        runs.iter()
            .all(|r| r["balancer"] == "maglev" && r["policy"] == "patient")
    );
    assert_eq!(runs[0]["seed"], 3);
    assert_eq!(runs[1]["seed"], 4);
    let bad = drainstorm(&["run", "tiny.toml", "--only", "colour=red"], &dir);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("allowed: balancer, policy"));
    // A list after one key: both balancers, one policy.
    let out = drainstorm(
        &[
            "run",
            "tiny.toml",
            "--json",
            "--only",
            "balancer=maglev,least-conn",
            "--only",
            "policy=hasty",
            "--out",
            "o",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs: Vec<(String, String)> = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["balancer"].as_str().unwrap().into(),
                r["policy"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        runs,
        [
            ("maglev".into(), "hasty".into()),
            ("least-conn".into(), "hasty".into())
        ]
    );
    // A value with no key before it names the problem.
    let bad = drainstorm(&["run", "tiny.toml", "--only", "maglev"], &dir);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("`maglev` is not key=value"),
        "{}",
        text(&bad.stderr)
    );
}

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
fn a_closed_pipe_ends_the_command_quietly() {
    // The reader is gone before the command starts, so every write fails
    // with a broken pipe, as with `drainstorm profiles | head -c1`.
    for args in [
        &["profiles"][..],
        &["show", "cheyenne-2026"],
        &["validate", "mm1"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_drainstorm"))
            .args(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
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

#[test]
fn fail_on_gates_on_the_verdicts() {
    let dir = scratch("gate");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let out = drainstorm(&["run", "tiny.toml", "-q", "-o", "o", "--json"], &dir);
    assert!(out.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdicts: Vec<String> = summary["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["summary"]["verdict"].as_str().unwrap().to_owned())
        .collect();
    for (level, matching) in [
        (
            "degraded",
            &["degraded", "inconclusive", "collapsed", "metastable"][..],
        ),
        ("collapsed", &["collapsed", "metastable"][..]),
        ("metastable", &["metastable"][..]),
    ] {
        let out = drainstorm(
            &["run", "tiny.toml", "-q", "-o", "o", "--fail-on", level],
            &dir,
        );
        let bad = verdicts.iter().any(|v| matching.contains(&v.as_str()));
        let expected = if bad { 3 } else { 0 };
        assert_eq!(out.status.code(), Some(expected), "{level}: {verdicts:?}");
        if bad {
            assert!(text(&out.stderr).contains(&format!("--fail-on {level}")));
        }
    }
}

#[test]
fn short_flags_repeated_only_auto_threads_completions_and_man() {
    let dir = scratch("flags");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let out = drainstorm(
        &[
            "run",
            "tiny.toml",
            "-q",
            "-o",
            "o",
            "-j",
            "auto",
            "--only",
            "balancer=maglev",
            "--only",
            "policy=hasty",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert_eq!(
        table.lines().filter(|l| l.starts_with("maglev")).count(),
        1,
        "{table}"
    );
    assert!(!table.contains("least-conn"));
    let out = drainstorm(&["completions", "bash"], &dir);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("drainstorm"));
    let out = drainstorm(&["man"], &dir);
    assert!(text(&out.stdout).starts_with(".ie") || text(&out.stdout).contains(".TH"));
    // Every page the main page names exists.
    let out = drainstorm(&["man", "--dir", "pages"], &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let main = text(&drainstorm(&["man"], &dir).stdout);
    for named in main.split("drainstorm\\-").skip(1) {
        let Some((name, _)) = named.split_once("(1)") else {
            continue;
        };
        let file = format!("pages/man1/drainstorm-{}.1", name.replace("\\-", "-"));
        assert!(dir.join(&file).exists(), "{file}");
    }
    let page = text(&drainstorm(&["man", "plan-headroom"], &dir).stdout);
    assert!(page.contains("drainstorm-plan-headroom"), "{page}");
    let help = text(&drainstorm(&["run", "--help"], &dir).stdout);
    assert!(
        help.contains("Exit codes:") && help.contains("130") && help.contains("3    --fail-on"),
        "{help}"
    );
    // A command without --fail-on does not list its exit code.
    for command in ["sweep", "merge", "explain", "validate"] {
        let help = text(&drainstorm(&[command, "--help"], &dir).stdout);
        assert!(
            help.contains("Exit codes:") && !help.contains("--fail-on"),
            "{command}: {help}"
        );
    }
}

#[test]
fn a_bare_name_is_a_bundled_profile_even_beside_a_folder_of_that_name() {
    let dir = scratch("names");
    std::fs::create_dir(dir.join("mm1")).unwrap();
    let out = drainstorm(&["validate", "mm1"], &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(dir.join("mine.toml"), TINY).unwrap();
    assert!(
        drainstorm(&["validate", "mine.toml"], &dir)
            .status
            .success()
    );
    let out = drainstorm(&["validate", "mine"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`./mine`"),
        "{}",
        text(&out.stderr)
    );
}

/// The README's example profile, and the errors the README shows for two
/// mistakes in it, are what the command prints.
#[test]
fn the_readme_example_and_its_errors_are_true() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = &readme[readme.find("## Writing a profile").unwrap()..];
    let start = section.find("```toml\n").unwrap() + 8;
    let profile = &section[start..start + section[start..].find("```").unwrap()];
    let shown: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("error: mine.toml:"))
        .collect();
    assert_eq!(shown.len(), 2);
    let dir = scratch("readme");
    std::fs::write(dir.join("mine.toml"), profile).unwrap();
    assert!(
        drainstorm(&["validate", "mine.toml"], &dir)
            .status
            .success()
    );
    let typo = profile.replacen("count = 8, slots = 2", "count = 8, slot = 2", 1);
    let negative = profile.replacen("rate = 1000,", "rate = -5,", 1);
    for (edited, expected) in [(typo, shown[0]), (negative, shown[1])] {
        std::fs::write(dir.join("mine.toml"), edited).unwrap();
        let out = drainstorm(&["validate", "mine.toml"], &dir);
        assert_eq!(text(&out.stderr).trim_end(), expected);
    }
}

/// `summary.json` follows its documented schema (seconds as numbers in
/// `_s` keys, fractions as fractions), the CSVs are proper CSV with exact
/// times, and the timeline has its own file.
#[test]
fn the_outputs_are_what_a_notebook_expects() {
    let dir = scratch("schema");
    let profile = TINY
        .replace("\"hasty\"", "\"hasty,quick\"")
        .replace("[policies.hasty]", "[policies.\"hasty,quick\"]");
    std::fs::write(dir.join("tiny.toml"), &profile).unwrap();
    let out = drainstorm(&["run", "tiny.toml", "-q", "-o", "o"], &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("o/summary.json")).unwrap())
            .unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["drainstorm_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["profile"]["duration_s"], 30.0);
    assert_eq!(doc["profile"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(doc["trigger_end_s"], 20.0);
    assert_eq!(doc["timeline"][0]["at_s"], 10.0);
    assert_eq!(doc["rule"]["collapse_ratio"], 0.5);
    // No duration strings anywhere, and every `_s` key holds a number.
    fn walk(v: &serde_json::Value, key: &str) {
        match v {
            serde_json::Value::Object(m) => m.iter().for_each(|(k, v)| walk(v, k)),
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, key)),
            serde_json::Value::String(s) => {
                assert!(
                    drainstorm::retry::parse_duration(s).is_err(),
                    "`{key}` holds a duration string `{s}`"
                );
            }
            other => {
                if key.ends_with("_s") {
                    assert!(other.is_number() || other.is_null(), "{key}: {other}");
                }
            }
        }
    }
    walk(&doc, "");
    let lost = doc["runs"][0]["summary"]["lost"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&lost));

    // Proper CSV: the policy with a comma reads back whole.
    let mut reader = csv::Reader::from_path(dir.join("o/series.csv")).unwrap();
    let policies: std::collections::BTreeSet<String> =
        reader.records().map(|r| r.unwrap()[1].to_owned()).collect();
    assert!(policies.contains("hasty,quick"), "{policies:?}");
    let series = std::fs::read_to_string(dir.join("o/series.csv")).unwrap();
    for line in series.lines().skip(1).take(40) {
        assert!(!line.contains("000000000"), "float noise: {line}");
    }
    let timeline = std::fs::read_to_string(dir.join("o/timeline.csv")).unwrap();
    let lines: Vec<&str> = timeline.lines().collect();
    assert_eq!(lines[0], "at_s,action,target,parameters");
    assert_eq!(
        &lines[1..],
        [
            "10,drain,east,ramp_s=0.0",
            "20,restore,east,cold_factor=1.0; cold_for_s=0.0; ramp_s=0.0"
        ]
    );
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

#[test]
fn show_says_what_a_preset_does_and_the_report_what_the_best_policy_does() {
    let dir = scratch("presets");
    let out = drainstorm(&["show", "smtp-451"], &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.starts_with("# policy `smtp-mta`: the preset from Postfix"),
        "{shown}"
    );
    assert!(shown.contains("no attempt timeout"), "{shown}");
    assert!(shown.contains("#   [policies.my-smtp-mta]"), "{shown}");
    // What show prints is a profile that validates, presets explained in
    // comments.
    std::fs::write(dir.join("smtp.toml"), &shown).unwrap();
    assert!(
        drainstorm(&["validate", "smtp.toml"], &dir)
            .status
            .success()
    );
    // Uncommented and renamed, the preset's table is a policy of one's own.
    let table: String = shown
        .lines()
        .skip_while(|l| !l.starts_with("#   [policies."))
        .take_while(|l| l.starts_with("#   "))
        .map(|l| format!("{}\n", &l[4..]))
        .collect();
    std::fs::write(
        dir.join("mine.toml"),
        format!("{TINY}\n{table}").replace("retry = \"hasty\"", "retry = \"my-smtp-mta\""),
    )
    .unwrap();
    let out = drainstorm(&["validate", "mine.toml"], &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The report's opening lines say what the best policy does.
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    assert!(
        drainstorm(&["run", "tiny.toml", "-q", "-o", "r"], &dir)
            .status
            .success()
    );
    let page = std::fs::read_to_string(dir.join("r/report.html")).unwrap();
    assert!(page.contains("Its policy, "), "no policy sentence");
    assert!(page.contains("100ms per attempt"), "the policy's settings");
}
