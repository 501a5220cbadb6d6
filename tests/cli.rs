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
