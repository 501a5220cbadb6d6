//! `--set`, `drainstorm plan` and `explain`, and the columns and map
//! every command writes, run as a user runs them (`sweep` and `merge`:
//! `tests/sweep_cli.rs`).

mod common;

use common::{TINY, drainstorm, read, scratch, text};

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

#[test]
fn plan_headroom_answers_per_combination_and_refuses_bad_questions() {
    let dir = scratch("headroom");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let out = drainstorm(
        &["plan", "headroom", "tiny.toml", "-n", "2", "-o", "h", "-q"],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.contains("the capacity factor of west"), "{table}");
    // The claim two seeds support, said as such.
    assert!(
        table
            .contains("59 seeds are needed for that claim: with 2, all of them show only P ≥ 0.22"),
        "{table}"
    );
    assert!(table.contains("2/2    2/2  P ≥ 0.224"), "{table}");
    // What the answer asks of west, in machines and rates.
    assert!(table.contains("west 4 → "), "{table}");
    let csv = text(&read(&dir, "h/headroom.csv"));
    let rows: Vec<&str> = csv.lines().collect();
    assert!(
        rows[0].starts_with("balancer,policy,row,outcome,factor,unsafe_below,success,seeds,"),
        "{csv}"
    );
    assert!(
        rows[0].contains(",west.backends_needed,west.accept_needed_per_s,"),
        "{csv}"
    );
    let answers: Vec<&&str> = rows.iter().filter(|r| r.contains(",answer,")).collect();
    assert_eq!(answers.len(), 4, "{csv}");
    assert!(
        answers.iter().all(|r| r.contains(",answer,found,")),
        "{csv}"
    );
    // Each answer's local curve: points either side, on the two seeds.
    assert!(
        rows.iter().filter(|r| r.contains(",curve,")).count() >= 4 * 3,
        "{csv}"
    );
    let json: serde_json::Value = serde_json::from_slice(&read(&dir, "h/headroom.json")).unwrap();
    assert_eq!(json["answers"].as_array().unwrap().len(), 4);
    let page = text(&read(&dir, "h/plan.html"));
    assert!(
        page.contains("<svg") && page.contains("The local curve"),
        "plan.html"
    );
    // The profile as written has less capacity than every answer: the
    // gate fails with 3, after writing its files.
    let gated = drainstorm(
        &[
            "plan",
            "headroom",
            "tiny.toml",
            "-n",
            "2",
            "-o",
            "g",
            "-q",
            "--fail-on",
        ],
        &dir,
    );
    assert_eq!(gated.status.code(), Some(3), "{}", text(&gated.stderr));
    assert!(
        text(&gated.stderr).contains("below the answer for 4 of 4"),
        "{}",
        text(&gated.stderr)
    );
    assert!(dir.join("g/headroom.csv").exists());
    // A looser target needs no more capacity than absorbing.
    let loose = drainstorm(
        &[
            "plan",
            "headroom",
            "tiny.toml",
            "-n",
            "2",
            "-o",
            "l",
            "-q",
            "--target",
            "loss=50%",
            "--json",
        ],
        &dir,
    );
    assert!(loose.status.success(), "{}", text(&loose.stderr));
    let factors = |v: &serde_json::Value| -> Vec<f64> {
        v["answers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["search"]["outcome"]["factor"].as_f64().unwrap_or(0.0))
            .collect()
    };
    let loose: serde_json::Value = serde_json::from_slice(&loose.stdout).unwrap();
    for (l, a) in factors(&loose).iter().zip(factors(&json)) {
        assert!(*l <= a, "{l} > {a}");
    }
    for (args, says) in [
        (&["--target", "0"][..], "`0`: allowed: absorbed, degraded"),
        (&["--target", "loss=150%"][..], "a share from 0 % to 100 %"),
        (
            &["--probability", "1.5"][..],
            "--probability 1.5: allowed (0, 0.9999]",
        ),
        (
            &["--confidence", "0"][..],
            "--confidence 0: allowed (0, 0.9999]",
        ),
        (&["--seeds", "0"][..], "--seeds 0: allowed 1 to 1000"),
        (
            &["--fresh-seeds", "0"][..],
            "--fresh-seeds 0: allowed 1 to 1000",
        ),
        (
            &["-n", "4", "--curve-seeds", "5"][..],
            "--curve-seeds 5: allowed 0 to --seeds (4)",
        ),
        (
            &["--tolerance", "0"][..],
            "--tolerance 0: allowed [0.001, 0.5]",
        ),
        (
            &["--min-factor", "2", "--max-factor", "1"][..],
            "--max-factor 1: allowed (2, 100]",
        ),
        (
            &[
                "--set",
                "timeline[1]={ at = \"20s\", action = \"drain\", site = \"west\" }",
            ][..],
            "every site is drained",
        ),
        (&["--set", "sites[0].cuont=1"][..], "unknown field `cuont`"),
    ] {
        let out = drainstorm(
            &[&["plan", "headroom", "tiny.toml", "-o", "bad"][..], args].concat(),
            &dir,
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert!(!dir.join("bad").exists());
}

#[test]
fn plan_drain_answers_per_combination_and_refuses_a_profile_without_a_drain() {
    let dir = scratch("plan-drain");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let out = drainstorm(
        &[
            "plan",
            "drain",
            "tiny.toml",
            "-n",
            "2",
            "--min-ramp",
            "1s",
            "--max-ramp",
            "9s",
            "-o",
            "d",
            "-q",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains("the shortest linear drain of east"),
        "{table}"
    );
    let csv = text(&read(&dir, "d/drain.csv"));
    assert!(
        csv.starts_with("balancer,policy,row,outcome,ramp_s,unsafe_below_s,"),
        "{csv}"
    );
    assert_eq!(
        csv.lines().filter(|l| l.contains(",answer,")).count(),
        4,
        "{csv}"
    );
    // East comes back at 20 s, 10 s after its drain: no longer ramp is
    // tried, and the plan says so.
    let long = drainstorm(
        &[
            "plan",
            "drain",
            "tiny.toml",
            "-n",
            "2",
            "--min-ramp",
            "1s",
            "--max-ramp",
            "1h",
            "-o",
            "d2",
            "-q",
        ],
        &dir,
    );
    assert!(long.status.success(), "{}", text(&long.stderr));
    let said = text(&long.stdout);
    assert!(said.contains("Ramps searched up to 0.2 min"), "{said}");
    let json: serde_json::Value = serde_json::from_slice(&read(&dir, "d2/drain.json")).unwrap();
    assert!((json["longest_ramp_min"].as_f64().unwrap() - 10.0 / 60.0).abs() < 1e-9);
    for (args, says) in [
        (&["--set", "timeline=[]"][..], "no `drain` action"),
        (
            &["--min-ramp", "10m", "--max-ramp", "5m"][..],
            "allowed 0 < min < max",
        ),
        (&["--max-ramp", "soon"][..], "soon"),
    ] {
        let out = drainstorm(
            &[&["plan", "drain", "tiny.toml", "-o", "bad"][..], args].concat(),
            &dir,
        );
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    assert!(!dir.join("bad").exists());
}

#[test]
fn plan_size_runs_the_ladder_and_refuses_a_bad_one() {
    let dir = scratch("size");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let out = drainstorm(
        &[
            "plan",
            "size",
            "tiny.toml",
            "--sizes",
            "1,2",
            "-n",
            "1",
            "--only",
            "policy=hasty",
            "-o",
            "s",
            "-q",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.starts_with("drainstorm plan size — tiny: every combination at ×1, ×2"),
        "{table}"
    );
    assert!(table.contains("Converged: "), "{table}");
    let csv = text(&read(&dir, "s/size.csv"));
    let rows: Vec<&str> = csv.lines().collect();
    // Two balancers × two sizes.
    assert_eq!(rows.len(), 1 + 4, "{csv}");
    assert!(
        rows[0].starts_with("balancer,policy,scale,seeds,absorbed"),
        "{csv}"
    );
    let json: serde_json::Value = serde_json::from_slice(&read(&dir, "s/size.json")).unwrap();
    assert_eq!(json["answers"].as_array().unwrap().len(), 2);
    assert_eq!(json["answers"][0]["rungs"][1]["scale"], 2.0);
    for (args, says) in [
        (
            &["--sizes", "3,1"][..],
            "--sizes 3,1: allowed increasing factors",
        ),
        (
            &["--sizes", "0,1"][..],
            "--sizes: 0: allowed factors above 0",
        ),
        (&["--seeds", "0"][..], "--seeds 0: allowed 1 to 1000"),
        (&["--tolerance", "2"][..], "--tolerance 2: allowed (0, 1]"),
        (&["--sizes", "1,100000"][..], "at ×100000"),
        (
            &["--sizes", "1,100", "--set", "clients[0].workload.rate=1e6"][..],
            "pass --yes",
        ),
    ] {
        let out = drainstorm(
            &[&["plan", "size", "tiny.toml", "-o", "bad"][..], args].concat(),
            &dir,
        );
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let err = text(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert!(!dir.join("bad").exists());
}

#[test]
fn explain_says_why_writes_its_files_and_the_runs_report_links_to_it() {
    let dir = scratch("explain");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let out = drainstorm(
        &[
            "explain",
            "tiny.toml",
            "--only",
            "balancer=least-conn",
            "-q",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("sustained by"), "{said}");
    assert!(said.contains("least-conn + hasty: "), "{said}");
    let folder = dir.join("drainstorm-out/tiny-explain");
    for file in ["explain.json", "explain.csv", "report.html"] {
        assert!(folder.join(file).exists(), "{file}");
    }
    let json: serde_json::Value = serde_json::from_slice(&read(&folder, "explain.json")).unwrap();
    assert_eq!(json["combinations"].as_array().unwrap().len(), 2);
    let csv = text(&read(&folder, "explain.csv"));
    assert!(
        csv.starts_with("balancer,policy,run,what,at_s,verdict,"),
        "{csv}"
    );
    let page = text(&read(&folder, "report.html"));
    assert!(page.contains("<h2>Why</h2>"));
    // A run of the same scenario beside it links to it and says why.
    let run = drainstorm(&["run", "tiny.toml", "-q"], &dir);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let report = text(&read(&dir, "drainstorm-out/tiny/report.html"));
    assert!(report.contains("../tiny-explain/report.html"), "no link");
    // ...and one of another scenario does not.
    let other = drainstorm(&["run", "tiny.toml", "-q", "--set", "seed=9"], &dir);
    assert!(other.status.success());
    let report = text(&read(&dir, "drainstorm-out/tiny/report.html"));
    assert!(!report.contains("tiny-explain"));
    for (args, says) in [
        (&["--seeds", "0"][..], "--seeds 0: allowed 1 to 1000"),
        (&["--only", "balancer=ring"][..], "not compared"),
        (&["--set", "sites[0].cuont=1"][..], "unknown field `cuont`"),
    ] {
        let out = drainstorm(
            &[&["explain", "tiny.toml", "-o", "bad"][..], args].concat(),
            &dir,
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    assert!(!dir.join("bad").exists());
}

/// Every column of a CSV's first line is defined in `report::files`: in
/// backquotes, or for a column named after a site or a key path, its
/// suffix (`<site>.backends_needed`) or the varied keys' rule.
fn assert_columns_defined(csv: &str) {
    const DOC: &str = include_str!("../src/report/files.rs");
    let head = csv.lines().next().unwrap_or_default();
    for column in head.split(',') {
        let defined = DOC.contains(&format!("`{column}`"))
            || column
                .split_once('.')
                .is_some_and(|(_, suffix)| DOC.contains(&format!("`<site>.{suffix}`")))
            || column.contains('[');
        assert!(defined, "`{column}` is not defined in report::files");
    }
}

#[test]
fn every_csv_column_a_command_writes_is_defined_in_one_place() {
    let dir = scratch("columns");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let runs: [&[&str]; 6] = [
        &["run", "tiny.toml", "-q", "-o", "r"],
        &[
            "sweep",
            "tiny.toml",
            "--vary",
            "clients[0].workload.rate=200,400",
            "-n",
            "1",
            "-o",
            "s",
            "-q",
        ],
        &["plan", "headroom", "tiny.toml", "-n", "1", "-o", "h", "-q"],
        &[
            "plan",
            "drain",
            "tiny.toml",
            "-n",
            "1",
            "--min-ramp",
            "1s",
            "--max-ramp",
            "9s",
            "-o",
            "d",
            "-q",
        ],
        &[
            "plan",
            "size",
            "tiny.toml",
            "--sizes",
            "1,2",
            "-n",
            "1",
            "--only",
            "policy=hasty",
            "-o",
            "z",
            "-q",
        ],
        &[
            "explain",
            "tiny.toml",
            "--only",
            "balancer=least-conn",
            "-o",
            "e",
            "-q",
        ],
    ];
    for args in runs {
        let out = drainstorm(args, &dir);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    for file in [
        "r/series.csv",
        "r/sites.csv",
        "r/timeline.csv",
        "s/sweep.csv",
        "h/headroom.csv",
        "d/drain.csv",
        "z/size.csv",
        "e/explain.csv",
    ] {
        assert_columns_defined(&text(&read(&dir, file)));
    }
}

#[test]
fn the_map_names_its_axes_marks_the_profile_and_says_where_it_tips() {
    let dir = scratch("map-words");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let out = drainstorm(
        &[
            "sweep",
            "tiny.toml",
            "--vary",
            "clients[0].workload.rate=200..600:5",
            "--vary",
            "timeline[0].ramp=0s..8s:4",
            "-n",
            "1",
            "-o",
            "m",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    // Durations read as seconds, keys with their units, nothing cut.
    assert!(
        !table.contains("2666666666ns") && !table.contains('…'),
        "{table}"
    );
    assert!(table.contains("requests/s with ramp "), "{table}");
    let page = text(&read(&dir, "m/map.html"));
    assert!(
        page.contains("rate (requests/s) — clients[0].workload.rate"),
        "axis"
    );
    assert!(page.contains("ramp (s) — timeline[0].ramp"), "axis");
    assert!(
        page.contains(">\n2.67 s\n<") && !page.contains("2666666666ns"),
        "tick"
    );
    assert!(
        page.contains("The outlined cell is the profile as written (rate 400, ramp 0 s"),
        "mark"
    );
    assert!(
        page.contains("<figcaption>least-conn + hasty: every seed absorbed at "),
        "words"
    );
}
