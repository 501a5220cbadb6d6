//! `--scale` on the command line: `show` prints the scaled profile, `run`
//! says the size it ran at, `sweep --vary scale=…` and `plan --scale` work,
//! and a bad factor is exit 2 named as the flag.

mod common;
use common::scratch;

fn drainstorm(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    common::drainstorm(args, dir)
}

const TINY: &str = r#"
name = "tiny"
duration = "5s"

[[sites]]
name = "east"
max_new_per_sec = 500
backends = [{ count = 3, service = { dist = "exponential", mean = "10ms" } }]

[[clients]]
name = "web"
workload = { kind = "open", rate = 100 }
retry = "grpc"
"#;

#[test]
fn the_command_line_runs_shows_sweeps_and_plans_at_a_scale() {
    let dir = scratch("scale");
    let file = dir.join("tiny.toml");
    std::fs::write(&file, TINY).unwrap();
    let f = file.to_str().unwrap();

    // show --scale prints the scaled profile with its notes.
    let out = drainstorm(&dir, &["show", f, "--scale", "2.5"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("# at scale 2.5"), "{text}");
    assert!(
        text.contains("# rounded: `sites[0].backends[0].count` 3 × 2.5 = 7.5 → 8"),
        "{text}"
    );
    assert!(text.contains("count = 8"), "{text}");

    // run --scale says the size it ran at, and writes it in summary.json.
    let out_dir = dir.join("run");
    let out = drainstorm(
        &dir,
        &["run", f, "--scale", "3", "-o", out_dir.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("Size: 1 site, 9 backends, 300 client instances, 300 requests/s at the load's peak (scale 3 of the profile as written)."),
        "{table}"
    );
    let summary = std::fs::read_to_string(out_dir.join("summary.json")).unwrap();
    assert!(summary.contains("\"scale\": 3.0"), "{summary}");
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(html.contains("9 backends"));

    // A bad --scale is exit 2, named as the flag.
    let out = drainstorm(&dir, &["run", f, "--scale", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("error: --scale 0: `scale`: 0 is not allowed"),
        "{err}"
    );

    // sweep --vary scale=…: one point per size.
    let sweep_dir = dir.join("sweep");
    let out = drainstorm(
        &dir,
        &[
            "sweep",
            f,
            "--vary",
            "scale=1,3,10",
            "-n",
            "1",
            "-q",
            "-o",
            sweep_dir.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(sweep_dir.join("sweep.csv")).unwrap();
    let offered: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').rev().nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(csv.lines().next().unwrap().split(',').next(), Some("scale"));
    assert_eq!(offered.len(), 3);
    assert!(
        offered[1] / offered[0] > 2.7 && offered[2] / offered[0] > 9.0,
        "{offered:?}"
    );

    // plan --scale plans the larger system.
    let out = drainstorm(
        &dir,
        &[
            "plan",
            "headroom",
            f,
            "--scale",
            "2",
            "-n",
            "2",
            "-q",
            "--json",
            "-o",
            dir.join("plan").to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
