//! `drainstorm sweep` and `drainstorm merge`: run a grid of overrides,
//! journal each finished run, and write `sweep.csv`, `map.html` and the
//! table — whole, or shard by shard for a batch scheduler and merged.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use drainstorm::plan::{Axis, CONFIRM_RUNS_ABOVE, Sweep};
use drainstorm::report::sweep::{Journal, JournalHeader, merge, sweep_csv, sweep_table, verify};
use drainstorm::report::sweep_map;

use super::args::{MergeArgs, SweepArgs};
use drainstorm::profile::Override;

use super::{
    Failure, check_out, check_work, count, load_checked, pool, progress_bar, restrict, write_files,
};

/// `--shard K/N`.
fn shard(text: &str, runs: usize) -> Result<(usize, usize), Failure> {
    let bad = |why: &str| Failure::Input(format!("--shard {text}: {why}"));
    let (k, n) = text
        .split_once('/')
        .ok_or_else(|| bad("write K/N, e.g. 2/8"))?;
    let (k, n): (usize, usize) = match (k.trim().parse(), n.trim().parse()) {
        (Ok(k), Ok(n)) => (k, n),
        _ => return Err(bad("K and N are whole numbers, e.g. 2/8")),
    };
    if n == 0 || k == 0 || k > n {
        return Err(bad("allowed K from 1 to N"));
    }
    if n > runs {
        return Err(bad(&format!(
            "N is above the sweep's {runs} runs: some shards would be empty"
        )));
    }
    Ok((k, n))
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static WRITING: AtomicBool = AtomicBool::new(false);
static FINISHED: AtomicUsize = AtomicUsize::new(0);

pub fn sweep(args: SweepArgs) -> Result<(), Failure> {
    let mut profile = load_checked(&args.profile, args.strict, &args.changes)?;
    if !args.only.is_empty() {
        restrict(&mut profile, &args.only.join(","))?;
    }
    let seeds = args.seeds.unwrap_or(profile.compare.seeds);
    let axes = args
        .vary
        .iter()
        .map(|v| v.parse::<Axis>())
        .collect::<Result<Vec<_>, _>>()?;
    let planned = Sweep::planned_runs(&profile, &axes, seeds);
    if planned > CONFIRM_RUNS_ABOVE && !args.yes {
        return Err(Failure::Input(format!(
            "{}: {planned} runs planned, above {CONFIRM_RUNS_ABOVE}: pass --yes to run them anyway",
            args.vary.join(" × ")
        )));
    }
    for set in &args.changes.sets {
        if let Ok(o) = set.parse::<Override>()
            && let Some(a) = axes.iter().find(|a| a.key == o.key)
        {
            return Err(Failure::Input(format!(
                "--set {set} and --vary {}: one key, two values (the --vary values would replace the --set one): drop one of them",
                a.spec
            )));
        }
    }
    if let (Some(k), Some(a)) = (&args.changes.scale, axes.iter().find(|a| a.key == "scale")) {
        return Err(Failure::Input(format!(
            "--scale {k} and --vary {}: one key, two values (the --vary values would replace --scale): drop one of them",
            a.spec
        )));
    }
    let sweep = Sweep::new(&profile, axes, seeds)?;
    let (k, n) = match &args.shard {
        Some(s) => shard(s, sweep.runs())?,
        None => (1, 1),
    };
    check_work(&args.vary.join(" × "), &sweep.estimate(), args.yes)?;
    let header = JournalHeader::of(&sweep, k, n);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("drainstorm-out").join(format!("{}-sweep", profile.name)));
    check_out(&out, &RESULT_FILES)?;
    std::fs::create_dir_all(&out)
        .map_err(|e| Failure::Run(format!("{}: cannot create: {e}", out.display())))?;
    let journal_path = if n == 1 {
        out.join("journal.jsonl")
    } else {
        out.join(format!("part-{k}-of-{n}.jsonl"))
    };
    let shown = journal_path.display().to_string();
    let mut done = std::collections::HashSet::new();
    let mut file = if journal_path.exists() {
        let old = Journal::read(&journal_path).map_err(Failure::Input)?;
        if !args.resume {
            return Err(Failure::Input(format!(
                "{shown} already holds {} of {} runs of a sweep: pass --resume to continue it, or remove it to start again",
                old.rows.len(),
                old.header.jobs().count()
            )));
        }
        old.header
            .same_sweep(&header)
            .map_err(|e| Failure::Input(format!("--resume: {shown} is another sweep: {e}")))?;
        old.check(&shown, &sweep)
            .map_err(|e| Failure::Input(format!("--resume: {e}")))?;
        if old.header.shard != header.shard {
            return Err(Failure::Input(format!(
                "--resume: {shown} is shard {}/{}, not {k}/{n}",
                old.header.shard[0], old.header.shard[1]
            )));
        }
        done.extend(old.rows.iter().map(|r| r.job));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&journal_path)
            .map_err(|e| Failure::Run(format!("{shown}: cannot open: {e}")))?;
        // Drop a line an interrupted write left unfinished.
        f.set_len(old.complete_len)
            .and_then(|()| f.seek(std::io::SeekFrom::End(0)).map(|_| ()))
            .map_err(|e| Failure::Run(format!("{shown}: {e}")))?;
        f
    } else {
        let mut f = std::fs::File::create(&journal_path)
            .map_err(|e| Failure::Run(format!("{shown}: cannot create: {e}")))?;
        f.write_all(Journal::header_line(&header).as_bytes())
            .and_then(|()| f.flush())
            .map_err(|e| Failure::Run(format!("{shown}: {e}")))?;
        f
    };
    let mine: Vec<usize> = header.jobs().collect();
    let todo: Vec<usize> = mine.iter().copied().filter(|j| !done.contains(j)).collect();
    if !args.quiet {
        eprintln!(
            "{}: {} ({} × {} per point){}; {} to run{}",
            profile.name,
            count(sweep.runs() as u64, "run"),
            count(sweep.points().len() as u64, "point"),
            sweep.runs_per_point(),
            if n > 1 {
                format!(", shard {k}/{n}: {}", mine.len())
            } else {
                String::new()
            },
            todo.len(),
            if done.is_empty() {
                String::new()
            } else {
                format!(" ({} resumed from {shown})", done.len())
            }
        );
    }
    let (threads, pool) = pool(args.threads)?;
    let bar = progress_bar(
        todo.len() as u64,
        "{msg} [{bar:20.cyan/blue}] {pos}/{len} runs, ETA {eta}",
        args.quiet,
    );
    bar.set_message(format!("{} sweep", profile.name));
    {
        let (total, shown) = (todo.len(), shown.clone());
        let _ = ctrlc::set_handler(move || {
            INTERRUPTED.store(true, Ordering::SeqCst);
            if WRITING.load(Ordering::SeqCst) {
                return;
            }
            eprintln!(
                "\ninterrupted after {} of {total} runs: {shown} keeps every finished run; the same command with --resume runs only the rest",
                FINISHED.load(Ordering::SeqCst)
            );
            std::process::exit(130);
        });
    }
    let journal = Mutex::new((
        file.try_clone().map_err(|e| Failure::Run(e.to_string()))?,
        None::<String>,
    ));
    let started = std::time::Instant::now();
    let identity = header.identity();
    let result = pool.install(|| {
        sweep.run_jobs(&todo, &|row| {
            let line = Journal::row_line(&identity, row);
            if let Ok(mut j) = journal.lock()
                && let Err(e) = j.0.write_all(line.as_bytes())
            {
                j.1.get_or_insert_with(|| format!("{}: {e}", journal_path.display()));
            }
            FINISHED.fetch_add(1, Ordering::SeqCst);
            bar.inc(1);
        })
    });
    bar.finish_and_clear();
    let wall = started.elapsed();
    let done_now = result.map_err(|e| Failure::Run(format!("a run failed: {e}")))?;
    if let Some(e) = journal.lock().ok().and_then(|mut j| j.1.take()) {
        return Err(Failure::Run(e));
    }
    let _ = file.flush();
    let _ = file.sync_all();
    let attempts: u64 = done_now.iter().map(|r| r.attempts).sum();
    let speed = format!(
        "{} in {:.1} s on {threads} thread{} ({:.2} M attempts/s)",
        count(todo.len() as u64, "run"),
        wall.as_secs_f64(),
        if threads == 1 { "" } else { "s" },
        attempts as f64 / wall.as_secs_f64().max(1e-9) / 1e6
    );
    if n > 1 {
        if !args.quiet {
            eprintln!("{speed}");
        }
        outln!(
            "shard {k}/{n}: {} in {shown}; when every shard is done: drainstorm merge {}",
            count(mine.len() as u64, "run"),
            out.join(format!("part-*-of-{n}.jsonl")).display()
        )?;
        return Ok(());
    }
    let journal = Journal::read(&journal_path).map_err(Failure::Run)?;
    let (header, rows) = merge(&[(shown, journal)]).map_err(Failure::Run)?;
    write_results(&out, &header, &rows)?;
    if !args.quiet {
        eprintln!("{speed}");
    }
    Ok(())
}

/// Writes `sweep.csv` and `map.html` (each replaced in one step) and
/// prints the table.
fn write_results(
    out: &Path,
    header: &JournalHeader,
    rows: &[drainstorm::plan::SweepRow],
) -> Result<(), Failure> {
    write_result_files(out, header, rows, &result_files(header, rows))
}

/// The files of a sweep's result set.
const RESULT_FILES: [&str; 2] = ["sweep.csv", "map.html"];

/// `sweep.csv` and `map.html`, as written.
fn result_files(
    header: &JournalHeader,
    rows: &[drainstorm::plan::SweepRow],
) -> [(&'static str, String); 2] {
    [
        ("sweep.csv", sweep_csv(header, rows)),
        ("map.html", sweep_map(header, rows)),
    ]
}

/// Writes `files` (from [`result_files`]) and prints the table.
fn write_result_files(
    out: &Path,
    header: &JournalHeader,
    rows: &[drainstorm::plan::SweepRow],
    files: &[(&'static str, String)],
) -> Result<(), Failure> {
    WRITING.store(true, Ordering::SeqCst);
    write_files(out, files)?;
    WRITING.store(false, Ordering::SeqCst);
    outln!(
        "drainstorm sweep — {}: {}\n",
        header.profile,
        header.vary.join(" × ")
    )?;
    out!("{}", sweep_table(header, rows))?;
    outln!(
        "\nwrote {} and {}",
        out.join("sweep.csv").display(),
        out.join("map.html").display()
    )?;
    if INTERRUPTED.load(Ordering::SeqCst) {
        return Err(Failure::Interrupted(
            "interrupted while writing: the complete result was written first".into(),
        ));
    }
    Ok(())
}

pub fn merge_parts(args: MergeArgs) -> Result<(), Failure> {
    let parts = args
        .parts
        .iter()
        .map(|p| Journal::read(p).map(|j| (p.display().to_string(), j)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::Input)?;
    let (header, rows) = merge(&parts).map_err(Failure::Input)?;
    let out: PathBuf = args.out.clone().unwrap_or_else(|| {
        args.parts[0]
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    });
    check_out(&out, &RESULT_FILES)?;
    if args.verify > 0 {
        verify_rows(&parts, &header, args.verify, args.threads, args.quiet)?;
    }
    let files = result_files(&header, &rows);
    if !args.force {
        for (name, text) in &files {
            let path = out.join(name);
            if std::fs::read(&path).is_ok_and(|old| old != text.as_bytes()) {
                return Err(Failure::Input(format!(
                    "{}: already there, with other results: pass --force to replace it, or -o to write elsewhere",
                    path.display()
                )));
            }
        }
    }
    write_result_files(&out, &header, &rows, &files)
}

/// `merge --verify N`: runs N rows again, chosen at random over all the
/// parts, and refuses the merge if one differs, naming its part and line.
fn verify_rows(
    parts: &[(String, Journal)],
    header: &JournalHeader,
    n: usize,
    threads: Option<usize>,
    quiet: bool,
) -> Result<(), Failure> {
    use std::hash::{BuildHasher, Hasher};
    let (name, first) = &parts[0];
    let sweep = first.sweep(name).map_err(Failure::Input)?;
    let all: Vec<(&str, usize, &drainstorm::plan::SweepRow)> = parts
        .iter()
        .flat_map(|(name, j)| {
            j.rows
                .iter()
                .zip(&j.lines)
                .map(move |(r, &line)| (name.as_str(), line, r))
        })
        .collect();
    // Which rows is not predictable from the parts: a seed from the
    // process's own hash keys, not from anything a forger could read.
    let mut state = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let mut picks: Vec<usize> = (0..all.len()).collect();
    let take = n.min(all.len());
    for i in 0..take {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = i + ((state >> 33) as usize) % (all.len() - i);
        picks.swap(i, j);
    }
    picks.truncate(take);
    picks.sort_unstable();
    let chosen: Vec<&drainstorm::plan::SweepRow> = picks.iter().map(|&i| all[i].2).collect();
    let (_, pool) = pool(threads)?;
    if !quiet {
        eprintln!(
            "{}: running {take} of {} rows again to verify them (--verify)",
            header.profile,
            all.len()
        );
    }
    let checked = pool
        .install(|| verify(&sweep, &chosen))
        .map_err(|e| Failure::Run(format!("--verify: a run failed: {e}")))?;
    if let Err((i, why)) = checked {
        let (name, line, row) = all[picks[i]];
        return Err(Failure::Input(format!(
            "{name}:{line}: run {} does not give the results its row says ({why}): the part was changed; refusing the merge",
            row.job
        )));
    }
    Ok(())
}
