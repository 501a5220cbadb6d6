//! `drainstorm sweep` and `merge`, run as a user runs them: shards
//! merged equal the whole sweep byte for byte, an interrupted sweep
//! resumes where it stopped, bad sweeps are refused before anything runs,
//! and the Slurm example runs as a job array.

mod common;

use common::{TINY, drainstorm, read, scratch, text};

/// A sweep small enough for a debug build: 3 points × 4 combinations × 2
/// seeds.
const VARY: &str = "clients[0].workload.rate=200..600:3";

fn sweep_into(dir: &std::path::Path, out: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "sweep",
        "tiny.toml",
        "--vary",
        VARY,
        "-n",
        "2",
        "-o",
        out,
        "-q",
    ];
    args.extend_from_slice(extra);
    drainstorm(&args, dir)
}

#[test]
fn three_shards_merged_equal_the_whole_sweep_byte_for_byte() {
    let dir = scratch("shards");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let whole = sweep_into(&dir, "whole", &["-j", "2"]);
    assert!(whole.status.success(), "{}", text(&whole.stderr));
    let table = text(&whole.stdout);
    assert!(
        table.contains("least-conn") && table.contains("where every seed was absorbed"),
        "{table}"
    );
    // One thread gives the same bytes as two.
    let single = sweep_into(&dir, "single", &["-j", "1"]);
    assert!(single.status.success(), "{}", text(&single.stderr));
    assert_eq!(
        read(&dir, "whole/sweep.csv"),
        read(&dir, "single/sweep.csv")
    );
    for k in 1..=3 {
        let part = sweep_into(&dir, "parts", &["--shard", &format!("{k}/3")]);
        assert!(part.status.success(), "{}", text(&part.stderr));
    }
    let parts: Vec<String> = (1..=3)
        .map(|k| format!("parts/part-{k}-of-3.jsonl"))
        .collect();
    let mut args = vec!["merge", "-o", "merged"];
    args.extend(parts.iter().map(String::as_str));
    let merged = drainstorm(&args, &dir);
    assert!(merged.status.success(), "{}", text(&merged.stderr));
    for file in ["sweep.csv", "map.html"] {
        assert_eq!(
            read(&dir, &format!("whole/{file}")),
            read(&dir, &format!("merged/{file}")),
            "{file}"
        );
    }
    let csv = text(&read(&dir, "whole/sweep.csv"));
    assert_eq!(csv.lines().count(), 1 + 3 * 4 * 2, "{csv}");
    assert!(
        csv.starts_with("clients[0].workload.rate,balancer,policy,seed,verdict,"),
        "{csv}"
    );
    assert!(read(&dir, "whole/map.html").starts_with(b"<!DOCTYPE html>"));

    // Bad merges are refused with a reason.
    let refuse = |args: &[&str], says: &str| {
        let out = drainstorm(args, &dir);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    };
    refuse(&["merge", &parts[0], &parts[1]], "shard 3/3 is missing");
    refuse(
        &["merge", &parts[0], &parts[1], &parts[1], &parts[2]],
        "overlapping parts",
    );
    // A shard of another profile, and of another drainstorm version.
    let other = TINY.replace("seed = 3", "seed = 4");
    std::fs::write(dir.join("other.toml"), other).unwrap();
    let out = drainstorm(
        &[
            "sweep",
            "other.toml",
            "--vary",
            VARY,
            "-n",
            "2",
            "-o",
            "other",
            "-q",
            "--shard",
            "3/3",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    refuse(
        &["merge", &parts[0], &parts[1], "other/part-3-of-3.jsonl"],
        "profiles differ",
    );
    let old = text(&read(&dir, &parts[2])).replacen(
        &format!("\"version\":\"{}\"", env!("CARGO_PKG_VERSION")),
        "\"version\":\"0.0.1\"",
        1,
    );
    std::fs::write(dir.join("old-3.jsonl"), old).unwrap();
    refuse(
        &["merge", &parts[0], &parts[1], "old-3.jsonl"],
        "drainstorm versions differ",
    );
    // An unfinished shard.
    let p3 = text(&read(&dir, &parts[2]));
    let cut: String = p3.lines().take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("cut-3.jsonl"), cut).unwrap();
    refuse(
        &["merge", &parts[0], &parts[1], "cut-3.jsonl"],
        "unfinished",
    );
    refuse(&["merge", "tiny.toml"], "not a drainstorm sweep journal");
}

#[test]
fn an_interrupted_sweep_resumes_where_it_stopped() {
    let dir = scratch("resume");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let whole = sweep_into(&dir, "whole", &[]);
    assert!(whole.status.success(), "{}", text(&whole.stderr));
    // An interruption: the journal keeps 7 runs and half of an eighth.
    let journal = text(&read(&dir, "whole/journal.jsonl"));
    let lines: Vec<&str> = journal.lines().collect();
    std::fs::create_dir_all(dir.join("cut")).unwrap();
    let mut cut: String = lines[..8].iter().map(|l| format!("{l}\n")).collect();
    cut.push_str(&lines[8][..lines[8].len() / 2]);
    std::fs::write(dir.join("cut/journal.jsonl"), cut).unwrap();
    // Without --resume the journal is not overwritten.
    let out = sweep_into(&dir, "cut", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("already holds 7 of 24 runs"),
        "{}",
        text(&out.stderr)
    );
    let out = sweep_into(&dir, "cut", &["--resume"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = text(&read(&dir, "cut/journal.jsonl"));
    assert_eq!(again.lines().count(), 1 + 24, "each run once");
    for file in ["sweep.csv", "map.html"] {
        assert_eq!(
            read(&dir, &format!("whole/{file}")),
            read(&dir, &format!("cut/{file}")),
            "{file}"
        );
    }
    // Resuming another sweep in that folder is refused.
    let out = drainstorm(
        &[
            "sweep",
            "tiny.toml",
            "--vary",
            "clients[0].workload.rate=200..600:5",
            "-n",
            "2",
            "-o",
            "cut",
            "--resume",
            "-q",
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is another sweep: --vary differ"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bad_sweeps_are_refused_before_anything_runs() {
    let dir = scratch("bad-sweep");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    for (vary, says) in [
        (
            "clients[0].workload.rat=1..2:2",
            "--vary clients[0].workload.rat=1..2:2 (at 1): `clients[0].workload.rat`: unknown field `rat`",
        ),
        (
            "clients[0].workload.rate=lots..2:2",
            "the ends are numbers, or durations",
        ),
        ("clients[0].workload.rate=600..200:3", "empty range"),
        ("clients[0].workload.rate=1..2", "needs a number of steps"),
        (
            "sites[0].backends[0].count=1.5,2",
            "invalid type: floating point `1.5`",
        ),
        ("sites[5].weight=1..2:2", "index 5 is out of range"),
        (
            "clients[0].workload.rate=1..1000000:1000000",
            "allowed 1 to 10000",
        ),
    ] {
        let out = drainstorm(&["sweep", "tiny.toml", "--vary", vary, "-o", "bad"], &dir);
        assert_eq!(out.status.code(), Some(2), "{vary}");
        let err = text(&out.stderr);
        assert!(err.contains(says), "{vary}: {err}");
        assert!(!dir.join("bad").exists(), "{vary}: nothing is written");
    }
    // More than 10^6 runs needs --yes.
    let out = drainstorm(
        &[
            "sweep",
            "tiny.toml",
            "--vary",
            "clients[0].workload.rate=1..10000:10000",
            "--vary",
            "sites[0].weight=1..100:100",
            "-o",
            "bad",
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("4000000 runs planned, above 1000000: pass --yes"),
        "{}",
        text(&out.stderr)
    );
    for shard in ["0/3", "4/3", "1/0", "a/b", "2", "1/100"] {
        let out = drainstorm(
            &[
                "sweep",
                "tiny.toml",
                "--vary",
                VARY,
                "--shard",
                shard,
                "-o",
                "bad",
            ],
            &dir,
        );
        assert_eq!(out.status.code(), Some(2), "{shard}");
        assert!(
            text(&out.stderr).contains(&format!("--shard {shard}")),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn ctrl_c_keeps_the_finished_runs_and_resume_finishes_the_same_sweep() {
    let dir = scratch("sweep-sigint");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let args = [
        "sweep",
        "tiny.toml",
        "--vary",
        "clients[0].workload.rate=100..480:20",
        "-n",
        "1",
        "-j",
        "1",
    ];
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_drainstorm"))
        .args(args)
        .args(["-o", "cut"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let journal = dir.join("cut/journal.jsonl");
    let lines = || std::fs::read_to_string(&journal).map_or(0, |t| t.lines().count());
    let started = std::time::Instant::now();
    while lines() < 4 && started.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    if out.status.code() == Some(0) {
        return; // finished before the signal: nothing to check on this machine
    }
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("keeps every finished run") && err.contains("--resume"),
        "{err}"
    );
    assert!(
        !dir.join("cut/sweep.csv").exists(),
        "no result from an unfinished sweep"
    );
    let kept = lines() - 1;
    assert!((3..80).contains(&kept), "{kept} runs kept");
    let resumed = drainstorm(
        &[&args[..], &["-o", "cut", "-q", "--resume"]].concat(),
        &dir,
    );
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    let whole = drainstorm(&[&args[..], &["-o", "whole", "-q"]].concat(), &dir);
    assert!(whole.status.success(), "{}", text(&whole.stderr));
    assert_eq!(read(&dir, "cut/sweep.csv"), read(&dir, "whole/sweep.csv"));
}

#[test]
fn the_slurm_example_runs_as_a_job_array_and_merges() {
    let dir = scratch("slurm");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let script = |name: &str, env: &[(&str, String)]| {
        let out = std::process::Command::new("bash")
            .arg(root.join("slurm").join(name))
            .current_dir(&dir)
            .env("DRAINSTORM", env!("CARGO_BIN_EXE_drainstorm"))
            .env("PROFILE", "tiny.toml")
            .env("VARY_1", "clients[0].workload.rate=200..600:3")
            .env("VARY_2", "timeline[0].ramp=0s..4s:2")
            .env("SEEDS", "1")
            .env("OUT", dir.join("array"))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
    };
    // What sbatch --array=1-3 would start, one task after another.
    for k in 1..=3 {
        script(
            "sweep.sbatch",
            &[
                ("SLURM_ARRAY_TASK_ID", k.to_string()),
                ("SLURM_ARRAY_TASK_COUNT", "3".into()),
            ],
        );
    }
    script("merge.sbatch", &[("N", "3".into())]);
    let whole = drainstorm(
        &[
            "sweep",
            "tiny.toml",
            "--vary",
            "clients[0].workload.rate=200..600:3",
            "--vary",
            "timeline[0].ramp=0s..4s:2",
            "-n",
            "1",
            "-o",
            "whole",
            "-q",
        ],
        &dir,
    );
    assert!(whole.status.success(), "{}", text(&whole.stderr));
    for file in ["sweep.csv", "map.html"] {
        assert_eq!(
            read(&dir, &format!("whole/{file}")),
            read(&dir, &format!("array/{file}")),
            "{file}"
        );
    }
    // The Kubernetes example runs the same sweep as the Slurm one.
    let slurm = std::fs::read_to_string(root.join("slurm/sweep.sbatch")).unwrap();
    let k8s = std::fs::read_to_string(root.join("kubernetes/sweep-job.yaml")).unwrap();
    for vary in [
        "clients[0].workload.rate=700..1100:5",
        "timeline[0].ramp=0s..60m:5",
    ] {
        assert!(slurm.contains(vary) && k8s.contains(vary), "{vary}");
    }
    // And that sweep is valid on the bundled profile.
    let out = drainstorm(
        &[
            "sweep",
            "cheyenne-2026",
            "--vary",
            "clients[0].workload.rate=700..1100:5",
            "--vary",
            "timeline[0].ramp=0s..60m:5",
            "--shard",
            "9/8",
        ],
        &dir,
    );
    assert!(
        text(&out.stderr).contains("--shard 9/8: allowed K from 1 to N"),
        "{}",
        text(&out.stderr)
    );
}
