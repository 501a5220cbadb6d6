//! Every command's result set is written as one: `sweep`, `merge` and the
//! plans, killed while they write, leave the previous set whole (never a
//! new `sweep.csv` beside an old `map.html`); the folder's other files (a
//! sweep's journal) stay; a folder holding a FIFO is refused before
//! anything runs; and a merge does not swap the folder the user stands in.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TINY, drainstorm, scratch, text};

/// The bytes of each of `names` in `dir` (`None` for a missing file).
fn set(dir: &Path, names: &[&str]) -> Vec<Option<Vec<u8>>> {
    names
        .iter()
        .map(|n| std::fs::read(dir.join(n)).ok())
        .collect()
}

/// Starts `args` in `dir` with a pause after each file it writes, waits
/// until its hidden folder holds `first` (the set is half written), and
/// kills it (SIGKILL: no handler runs).
fn kill_while_writing(dir: &Path, args: &[&str], out: &str, first: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_drainstorm"))
        .args(args)
        .current_dir(dir)
        .env("DRAINSTORM_WRITE_PAUSE_MS", "60000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let hidden = dir.join(format!(".{out}.drainstorm-{}", child.id()));
    let started = Instant::now();
    while !hidden.join(first).exists() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "{args:?} never began writing its set"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "{args:?} ended before writing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

fn tiny(name: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    dir
}

const SWEEP_SET: [&str; 2] = ["sweep.csv", "map.html"];

fn sweep_args<'a>(rates: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "sweep",
        "tiny.toml",
        "--vary",
        rates,
        "-n",
        "1",
        "-o",
        out,
        "-q",
    ]
}

#[test]
fn a_sweep_killed_while_writing_leaves_the_previous_set_and_its_journal() {
    let dir = tiny("set-sweep");
    let first = drainstorm(&sweep_args("clients[0].workload.rate=200,400", "s"), &dir);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let before = set(&dir.join("s"), &SWEEP_SET);
    assert!(before.iter().all(Option::is_some));
    // A second sweep in the same folder (its own journal removed first).
    std::fs::remove_file(dir.join("s/journal.jsonl")).unwrap();
    let args = sweep_args("clients[0].workload.rate=300,500", "s");
    kill_while_writing(&dir, &args, "s", "sweep.csv");
    assert_eq!(set(&dir.join("s"), &SWEEP_SET), before);
    // The killed sweep's journal is whole: --resume finishes it, and the
    // new set replaces the old one as a whole, the journal kept beside.
    let journal = std::fs::read(dir.join("s/journal.jsonl")).unwrap();
    let resumed = drainstorm(&[&args[..], &["--resume"]].concat(), &dir);
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    let after = set(&dir.join("s"), &SWEEP_SET);
    assert!(after.iter().all(Option::is_some));
    assert_ne!(after[0], before[0]);
    assert_ne!(after[1], before[1]);
    assert_eq!(std::fs::read(dir.join("s/journal.jsonl")).unwrap(), journal);
    // Nothing hidden is left beside the folder.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".s."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_merge_killed_while_writing_leaves_the_previous_set() {
    let dir = tiny("set-merge");
    for shard in ["1/2", "2/2"] {
        let out = drainstorm(
            &[
                &sweep_args("clients[0].workload.rate=200,400", "p")[..],
                &["--shard", shard],
            ]
            .concat(),
            &dir,
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let parts = ["p/part-1-of-2.jsonl", "p/part-2-of-2.jsonl"];
    let merged = drainstorm(&[&["merge"][..], &parts, &["-o", "m", "-q"]].concat(), &dir);
    assert!(merged.status.success(), "{}", text(&merged.stderr));
    let before = set(&dir.join("m"), &SWEEP_SET);
    std::fs::write(dir.join("m/notes.txt"), "mine").unwrap();
    // Replacing it (--force: the file differs) and killed half way.
    std::fs::write(dir.join("m/map.html"), "an older map").unwrap();
    let mut expected = before.clone();
    expected[1] = Some(b"an older map".to_vec());
    kill_while_writing(
        &dir,
        &[&["merge"][..], &parts, &["-o", "m", "-q", "--force"]].concat(),
        "m",
        "sweep.csv",
    );
    assert_eq!(set(&dir.join("m"), &SWEEP_SET), expected);
    let again = drainstorm(
        &[&["merge"][..], &parts, &["-o", "m", "-q", "--force"]].concat(),
        &dir,
    );
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(set(&dir.join("m"), &SWEEP_SET), before);
    assert_eq!(std::fs::read(dir.join("m/notes.txt")).unwrap(), b"mine");
}

#[test]
fn a_plan_killed_while_writing_leaves_the_previous_answers() {
    let dir = tiny("set-plan");
    let names = ["headroom.json", "headroom.csv"];
    let args = ["plan", "headroom", "tiny.toml", "-n", "2", "-o", "h", "-q"];
    let first = drainstorm(&args, &dir);
    assert!(first.status.success(), "{}", text(&first.stderr));
    // An older answer in place, then a new plan killed half way.
    for name in names {
        std::fs::write(dir.join("h").join(name), format!("older {name}")).unwrap();
    }
    let older = set(&dir.join("h"), &names);
    kill_while_writing(&dir, &args, "h", "headroom.json");
    assert_eq!(set(&dir.join("h"), &names), older);
}

#[cfg(unix)]
#[test]
fn a_folder_holding_a_fifo_is_refused_before_anything_runs() {
    let dir = tiny("set-fifo");
    for out in ["s", "h", "m"] {
        std::fs::create_dir(dir.join(out)).unwrap();
        let made = Command::new("mkfifo")
            .arg(dir.join(out).join("pipe"))
            .status()
            .unwrap();
        assert!(made.success());
    }
    let first = drainstorm(&sweep_args("clients[0].workload.rate=200,400", "ok"), &dir);
    assert!(first.status.success(), "{}", text(&first.stderr));
    for args in [
        sweep_args("clients[0].workload.rate=200,400", "s"),
        vec!["plan", "headroom", "tiny.toml", "-n", "2", "-o", "h", "-q"],
        vec!["merge", "ok/journal.jsonl", "-o", "m", "-q"],
    ] {
        let started = Instant::now();
        let out = drainstorm(&args, &dir);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("holds `pipe`, which is not a regular file"),
            "{args:?}: {err}"
        );
        assert!(started.elapsed() < Duration::from_secs(60), "{args:?}");
    }
    assert!(!dir.join("s/journal.jsonl").exists());
}

#[test]
fn a_merge_into_the_folder_it_runs_in_is_refused_and_names_the_way_out() {
    let dir = tiny("set-here");
    let first = drainstorm(&sweep_args("clients[0].workload.rate=200,400", "s"), &dir);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let here = dir.join("s");
    let out = drainstorm(&["merge", "journal.jsonl", "-q"], &here);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("is the current folder"), "{err}");
    assert!(err.contains("-o results"), "{err}");
    let out = drainstorm(&["merge", "journal.jsonl", "-q", "-o", "results"], &here);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(here.join("results/sweep.csv")).unwrap(),
        std::fs::read(here.join("sweep.csv")).unwrap()
    );
}
