//! The `drainstorm` command: replay a drain on a profile and compare every
//! balancer against every retry policy.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use clap::{CommandFactory, Parser};
use drainstorm::profile::{BUNDLED, DEFAULT, Override, Profile, ProfileError};
use drainstorm::report::Comparison;
use drainstorm::sim::{WorkEstimate, run_batch_streaming};

use self::args::{Changes, Cli, Command, RunArgs};

#[path = "cli/args.rs"]
mod args;
#[path = "cli/output.rs"]
mod output;
#[path = "cli/rows.rs"]
mod rows;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What went wrong, and the exit code it earns.
enum Failure {
    /// Bad input: exit 2.
    Input(String),
    /// A run or an output failed: exit 1.
    Run(String),
    /// Standard output was closed by its reader: end quietly, exit 0.
    Pipe,
    /// Ctrl-C: exit 130.
    Interrupted(String),
    /// `--fail-on` matched: exit 3 (the results are written and printed).
    Gate(String),
}

impl From<ProfileError> for Failure {
    fn from(e: ProfileError) -> Self {
        Failure::Input(e.to_string())
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Failure::Pipe
        } else {
            Failure::Run(format!("standard output: {e}"))
        }
    }
}

/// `print!` that returns write errors instead of panicking: a reader that
/// closed the pipe (`drainstorm profiles | head -1`) ends the command
/// quietly.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// `println!` that returns write errors, as [`out!`].
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

#[path = "cli/explain.rs"]
mod explain;
#[path = "cli/plan/mod.rs"]
mod plan;
#[path = "cli/size.rs"]
mod size;
#[path = "cli/sweep.rs"]
mod sweep;

/// Loads a profile and reports its warnings on standard error; with
/// `strict`, a warning is an error.
fn load_checked(spec: &str, strict: bool, changes: &Changes) -> Result<Profile, Failure> {
    let (profile, text, file) = load_text(spec)?;
    let profile = overridden(profile, changes)?;
    for note in profile.scale_notes() {
        eprintln!("note: {note}");
    }
    let warnings = profile.warnings(&text, &file);
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if strict && !warnings.is_empty() {
        return Err(Failure::Input(format!(
            "{spec}: {} warning{} (--strict)",
            warnings.len(),
            if warnings.len() == 1 { "" } else { "s" }
        )));
    }
    Ok(profile)
}

fn load(spec: &str, changes: &Changes) -> Result<Profile, Failure> {
    overridden(load_text(spec)?.0, changes)
}

/// Applies `--set KEY=VALUE` overrides in order, then `--scale K`.
fn overridden(profile: Profile, changes: &Changes) -> Result<Profile, Failure> {
    let mut overrides = changes
        .sets
        .iter()
        .map(|s| s.parse::<Override>())
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(k) = &changes.scale {
        overrides.push(Override::new("--scale", "scale", k)?);
    }
    Ok(profile.with_overrides(&overrides)?)
}

/// The profile, the text it was parsed from, and the name errors give it.
fn load_text(spec: &str) -> Result<(Profile, String, String), Failure> {
    // A path is anything with a `/` or ending in `.toml`; anything else is
    // a bundled profile's name, even if a file or folder has that name.
    if spec.contains('/') || spec.ends_with(".toml") {
        let bytes =
            std::fs::read(spec).map_err(|e| Failure::Input(format!("{spec}: cannot read: {e}")))?;
        let profile = Profile::from_slice(&bytes, spec)?;
        let text = String::from_utf8(bytes).unwrap_or_default();
        return Ok((profile, text, spec.to_owned()));
    }
    match (Profile::bundled(spec), drainstorm::profile::bundled(spec)) {
        (Some(p), Some(text)) => Ok((p?, text.to_owned(), format!("{spec}.toml (bundled)"))),
        _ => Err(Failure::Input(format!(
            "{spec}: no bundled profile of that name (bundled: {}); a file is named by a path: `./{spec}` or `{spec}.toml`",
            BUNDLED.map(|(n, _)| n).join(", ")
        ))),
    }
}

/// Applies `--only` to the profile's comparison.
fn restrict(profile: &mut Profile, only: &str) -> Result<(), Failure> {
    let mut balancers = Vec::new();
    let mut policies = Vec::new();
    // `balancer=least-conn,p2c`: a value without a key takes the key
    // before it.
    let mut last: Option<&str> = None;
    for part in only.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = match (part.split_once('='), last) {
            (Some((key, value)), _) => (key.trim(), value),
            (None, Some(key)) => (key, part),
            (None, None) => {
                return Err(Failure::Input(format!(
                    "--only: `{part}` is not key=value (keys: balancer, policy; `balancer=a,b` lists several)"
                )));
            }
        };
        last = Some(key);
        match key {
            "balancer" => {
                let kind = value
                    .trim()
                    .parse()
                    .map_err(|e| Failure::Input(format!("--only: {e}")))?;
                if !profile.compare.balancers.is_empty()
                    && !profile.compare.balancers.contains(&kind)
                {
                    return Err(Failure::Input(format!(
                        "--only: balancer `{value}` is not compared by profile `{}` (it compares: {})",
                        profile.name,
                        profile
                            .compare
                            .balancers
                            .iter()
                            .map(|b| b.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                balancers.push(kind);
            }
            "policy" => {
                let value = value.trim().to_owned();
                if !profile.compare.policies.contains(&value) {
                    return Err(Failure::Input(format!(
                        "--only: policy `{value}` is not compared by profile `{}` (it compares: {})",
                        profile.name,
                        profile.compare.policies.join(", ")
                    )));
                }
                policies.push(value);
            }
            other => {
                return Err(Failure::Input(format!(
                    "--only: unknown key `{other}` (allowed: balancer, policy)"
                )));
            }
        }
    }
    if !balancers.is_empty() {
        profile.compare.balancers = balancers;
    }
    if !policies.is_empty() {
        profile.compare.policies = policies;
    }
    Ok(())
}

/// The worker pool `-j` asks for: `None` or 0, one thread per core.
fn pool(threads: Option<usize>) -> Result<(usize, rayon::ThreadPool), Failure> {
    let threads = match threads {
        Some(0) | None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        Some(n) => n,
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map(|pool| (threads, pool))
        .map_err(|e| Failure::Run(format!("cannot start {threads} threads: {e}")))
}

/// A progress bar on standard error with `template`, or a hidden one when
/// `quiet` or standard error is not a terminal.
fn progress_bar(len: u64, template: &str, quiet: bool) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// Writes `files` into `out` as one set (see [`output`]): a reader, or
/// an interrupted command, sees the old set or the new one, never a mix.
fn write_files(out: &Path, files: &[(&str, String)]) -> Result<(), Failure> {
    output::write_set(out, files).map_err(Failure::Run)
}

/// Checks, before anything is simulated, that `out` can take a set of the
/// files `names` (an unwritable folder, or one holding a FIFO, fails now
/// rather than after the runs).
fn check_out(out: &Path, names: &[&str]) -> Result<(), Failure> {
    output::prepare(out, names, output::Others::Keep)
        .map(drop)
        .map_err(Failure::Input)
}

/// `n` of `what`, with the plural where it takes one: "1 run", "18 runs".
fn count(n: impl Into<u64>, what: &str) -> String {
    let n = n.into();
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Refuses work above the limit unless the user said `--yes`.
fn check_work(name: &str, estimate: &WorkEstimate, yes: bool) -> Result<(), Failure> {
    if estimate.needs_confirmation() && !yes {
        return Err(Failure::Input(format!(
            "{name}: {estimate}: above the limits ({:.0e} requests, {} GiB in flight); pass --yes to run it anyway",
            WorkEstimate::CONFIRM_ABOVE,
            WorkEstimate::MEMORY_CONFIRM_ABOVE / (1u64 << 30) as f64
        )));
    }
    Ok(())
}

fn run(args: RunArgs) -> Result<(), Failure> {
    let spec = args.profile.clone().unwrap_or_else(|| DEFAULT.to_owned());
    let mut profile = load_checked(&spec, args.strict, &args.changes)?;
    if let Some(seed) = args.seed {
        profile.scenario.seed = seed;
    }
    if let Some(n) = args.seeds {
        if n == 0 || n > 1000 {
            return Err(Failure::Input(format!("--seeds {n}: allowed 1 to 1000")));
        }
        profile.compare.seeds = n;
    }
    if !args.only.is_empty() {
        restrict(&mut profile, &args.only.join(","))?;
    }
    let (threads, pool) = pool(args.threads)?;
    let estimate = profile.estimate();
    check_work(&spec, &estimate, args.yes)?;
    if !args.quiet {
        eprintln!("{}: {estimate}", profile.name);
    }
    let runs = profile.runs();
    let configs: Vec<_> = runs.iter().map(|r| r.config.clone()).collect();
    // The bar advances by simulated time, so one long run shows progress
    // and an ETA too.
    let simulated: u64 = configs.iter().map(|c| c.duration.0 / 1_000_000_000).sum();
    let bar = progress_bar(
        simulated.max(1),
        "{msg} [{bar:20.cyan/blue}] {percent:>3}% of {len} sim. s, ETA {eta}",
        args.quiet,
    );
    bar.set_message(profile.name.clone());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("drainstorm-out").join(&profile.name));
    let staging =
        output::prepare(&out, &output::FILES, output::Others::Refuse).map_err(Failure::Run)?;
    interrupt::arm(&out, staging.tmp(), configs.len());
    let started = std::time::Instant::now();
    let write_error = std::sync::Arc::new(std::sync::Mutex::new(None));
    let results = pool.install(|| {
        run_batch_streaming(
            &configs,
            &|i| {
                rows::with_progress(
                    rows::sink(staging.tmp(), i, &runs[i], &write_error),
                    &bar,
                    configs[i].recorder.interval.0,
                )
            },
            rows::CHART_ROWS,
            &interrupt::one_done,
        )
    });
    bar.finish_and_clear();
    let wall = started.elapsed();
    let mut done = Vec::with_capacity(runs.len());
    for (run, result) in runs.into_iter().zip(results) {
        let result = result.map_err(|e| {
            Failure::Run(format!(
                "run {} + {} (seed {}) failed: {e}",
                run.balancer, run.policy, run.seed
            ))
        })?;
        done.push((run, result));
    }
    let comparison = Comparison {
        profile,
        runs: done,
    };
    if let Some(e) = write_error.lock().ok().and_then(|mut e| e.take()) {
        return Err(Failure::Run(e));
    }
    let json = comparison.json();
    interrupt::writing();
    rows::join(staging.tmp(), comparison.runs.len()).map_err(Failure::Run)?;
    staging
        .commit(&[
            ("summary.json", json.clone()),
            ("timeline.csv", comparison.timeline_csv()),
            (
                "report.html",
                drainstorm::report::html_with_why(
                    &comparison,
                    explained(&out, &comparison).as_ref(),
                ),
            ),
        ])
        .map_err(Failure::Run)?;
    interrupt::written()?;
    if args.json {
        out!("{json}")?;
        return Ok(());
    }
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    outln!(
        "drainstorm — {}: {}\n",
        comparison.profile.name,
        comparison.profile.description
    )?;
    outln!("{}\n", comparison.size_line())?;
    if let Some(note) = comparison.time_note() {
        outln!("{note}\n")?;
    }
    let width = if args.wide || !std::io::stdout().is_terminal() {
        None
    } else {
        Some(console::Term::stdout().size().1 as usize)
    };
    out!("{}", comparison.table_for_width(colour, width))?;
    outln!("\n{}", comparison.rule_line())?;
    if !args.quiet {
        outln!(
            "\n{} in {:.1} s on {threads} thread{}; wrote {}",
            count(comparison.runs.len() as u64, "run"),
            wall.as_secs_f64(),
            if threads == 1 { "" } else { "s" },
            out.join("report.html").display()
        )?;
    }
    gate(&comparison, args.fail_on)
}

/// The explanation `drainstorm explain` made of this run's scenario, if
/// one is beside its folder (`<out>/../<name>-explain/explain.json`), for
/// the report to link to and to say why.
fn explained(out: &Path, c: &Comparison) -> Option<drainstorm::report::why::Why> {
    let folder = format!("{}-explain", c.profile.name);
    let path = out.parent()?.join(&folder).join("explain.json");
    let text = std::fs::read_to_string(path).ok()?;
    drainstorm::report::why::read_why(&text, &c.profile, &format!("../{folder}/report.html"))
}

/// `--fail-on`: an error naming the combinations judged that bad or worse.
fn gate(c: &Comparison, fail_on: Option<args::FailOn>) -> Result<(), Failure> {
    let Some(level) = fail_on else {
        return Ok(());
    };
    let bad: Vec<String> = c
        .runs
        .iter()
        .filter(|(_, r)| level.matches(r.summary.verdict))
        .map(|(run, r)| {
            format!(
                "{} + {} (seed {}): {}",
                run.balancer, run.policy, run.seed, r.summary.verdict
            )
        })
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    Err(Failure::Gate(format!(
        "--fail-on {}: {} of {} runs: {}",
        format!("{level:?}").to_lowercase(),
        bad.len(),
        c.runs.len(),
        bad.join("; ")
    )))
}

/// Ctrl-C: while simulating, the command stops at once and says how far it
/// got (nothing is written; the output folder keeps its previous result);
/// while writing, it finishes the set first, then stops.
mod interrupt {
    use super::*;
    use std::sync::atomic::AtomicU8;

    static OUT: OnceLock<(PathBuf, PathBuf, usize)> = OnceLock::new();
    static DONE: AtomicUsize = AtomicUsize::new(0);
    /// Simulating, until the handler or [`writing`] moves it on: one
    /// compare-and-swap decides which came first, so an interrupt at the
    /// moment the writing starts is either handled as during the
    /// simulation (nothing written, exit 130) or as during the writing
    /// (the set finished, then exit 130), never half of each.
    static STATE: AtomicU8 = AtomicU8::new(SIMULATING);
    const SIMULATING: u8 = 0;
    const WRITING: u8 = 1;
    const STOPPING: u8 = 2;
    static INTERRUPTED: AtomicBool = AtomicBool::new(false);

    /// Installs the handler for a run writing to `out` through `tmp`.
    pub fn arm(out: &Path, tmp: &Path, runs: usize) {
        let _ = OUT.set((out.to_path_buf(), tmp.to_path_buf(), runs));
        let _ = ctrlc::set_handler(|| {
            INTERRUPTED.store(true, Ordering::SeqCst);
            if STATE
                .compare_exchange(SIMULATING, STOPPING, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                // Writing (or already stopping): the set is finished first.
                return;
            }
            if let Some((out, tmp, runs)) = OUT.get() {
                let _ = std::fs::remove_dir_all(tmp);
                eprintln!(
                    "\ninterrupted while simulating, after {} of {runs} runs: nothing was written; {} keeps {}",
                    DONE.load(Ordering::SeqCst),
                    out.display(),
                    if out.exists() {
                        "its previous result"
                    } else {
                        "nothing (it was not created)"
                    }
                );
            }
            std::process::exit(130);
        });
    }

    /// One more run finished.
    pub fn one_done() {
        DONE.fetch_add(1, Ordering::SeqCst);
    }

    /// The result set is about to be written: from now on an interrupt
    /// waits for it. If an interrupt came first, its handler is ending the
    /// process: this waits for that instead of returning.
    pub fn writing() {
        if STATE
            .compare_exchange(SIMULATING, WRITING, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            stopping();
        }
    }

    /// Called before the command fails: if an interrupt came while
    /// simulating, its handler is ending the process with 130 (it removed
    /// the hidden folder, which is likely why this failed), so wait for it
    /// rather than exit 1 with a missing-file message.
    pub fn settle() {
        if STATE.load(Ordering::SeqCst) == STOPPING {
            stopping();
        }
    }

    /// Waits for the handler's `exit(130)`.
    fn stopping() -> ! {
        loop {
            std::thread::park();
        }
    }

    /// The set is in place; an interrupt that came while writing ends the
    /// command now.
    pub fn written() -> Result<(), Failure> {
        if INTERRUPTED.load(Ordering::SeqCst) {
            let out = OUT
                .get()
                .map(|o| o.0.display().to_string())
                .unwrap_or_default();
            return Err(Failure::Interrupted(format!(
                "interrupted while writing: the complete result was put in {out} first"
            )));
        }
        Ok(())
    }
}

fn try_main() -> Result<(), Failure> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run(RunArgs::default())) {
        Command::Run(args) => run(args),
        Command::Sweep(args) => sweep::sweep(args),
        Command::Merge(args) => sweep::merge_parts(args),
        Command::Plan(args::PlanCommand::Headroom(args)) => plan::headroom(args),
        Command::Plan(args::PlanCommand::Drain(args)) => plan::drain(args),
        Command::Plan(args::PlanCommand::Size(args)) => size::size(args),
        Command::Explain(args) => explain::explain(args),
        Command::Validate {
            profiles,
            yes,
            strict,
            changes,
        } => {
            let mut errors = Vec::new();
            for spec in &profiles {
                match load_checked(spec, strict, &changes).and_then(|p| {
                    let estimate = p.estimate();
                    check_work(spec, &estimate, yes).map(|()| estimate)
                }) {
                    Ok(estimate) => outln!("{spec}: ok: {estimate}")?,
                    Err(
                        Failure::Input(e)
                        | Failure::Run(e)
                        | Failure::Interrupted(e)
                        | Failure::Gate(e),
                    ) => errors.push(e),
                    Err(Failure::Pipe) => return Err(Failure::Pipe),
                }
            }
            if errors.is_empty() {
                Ok(())
            } else {
                Err(Failure::Input(errors.join("\n")))
            }
        }
        Command::Profiles => {
            for (name, _) in BUNDLED {
                let description = Profile::bundled(name)
                    .and_then(Result::ok)
                    .map(|p| p.description)
                    .unwrap_or_default();
                outln!("{name:<15} {description}")?;
            }
            Ok(())
        }
        Command::Completions { shell } => {
            let mut buffer = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "drainstorm", &mut buffer);
            out!("{}", String::from_utf8_lossy(&buffer))?;
            Ok(())
        }
        Command::Man { page, dir } => {
            let pages = man_pages().map_err(|e| Failure::Run(format!("man page: {e}")))?;
            if let Some(dir) = dir {
                let files: Vec<(String, String)> = pages
                    .into_iter()
                    .map(|(name, text)| (format!("{name}.1"), text))
                    .collect();
                let files: Vec<(&str, String)> =
                    files.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
                write_files(&dir.join("man1"), &files)?;
                outln!(
                    "wrote {} pages in {}: man -M {} drainstorm-run",
                    files.len(),
                    dir.join("man1").display(),
                    dir.display()
                )?;
                return Ok(());
            }
            let want = match &page {
                Some(p) => format!("drainstorm-{p}"),
                None => "drainstorm".to_owned(),
            };
            match pages.iter().find(|(name, _)| *name == want) {
                Some((_, text)) => out!("{text}")?,
                None => {
                    return Err(Failure::Input(format!(
                        "man {}: no such page (pages: {})",
                        page.unwrap_or_default(),
                        pages
                            .iter()
                            .filter_map(|(n, _)| n.strip_prefix("drainstorm-"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
            Ok(())
        }
        Command::Show { profile, changes } => {
            let profile = load(&profile, &changes)?;
            if profile.scale != 1.0 {
                for line in profile.scale_notes() {
                    outln!("# {line}")?;
                }
            }
            for line in profile.preset_notes() {
                outln!("# {line}")?;
            }
            out!("{}", profile.scaled().to_toml())?;
            Ok(())
        }
    }
}

/// Every man page, as (name, roff): `drainstorm`, and a page per
/// subcommand named as the main page's SEE ALSO names it
/// (`drainstorm-run`, `drainstorm-plan-headroom`, …).
fn man_pages() -> std::io::Result<Vec<(String, String)>> {
    fn walk(
        cmd: clap::Command,
        name: String,
        out: &mut Vec<(String, String)>,
    ) -> std::io::Result<()> {
        let mut buffer = Vec::new();
        clap_mangen::Man::new(cmd.clone().name(name.clone())).render(&mut buffer)?;
        out.push((name.clone(), String::from_utf8_lossy(&buffer).into_owned()));
        for sub in cmd.get_subcommands() {
            walk(sub.clone(), format!("{name}-{}", sub.get_name()), out)?;
        }
        Ok(())
    }
    let mut pages = Vec::new();
    let mut cmd = Cli::command();
    cmd.build();
    walk(cmd, "drainstorm".to_owned(), &mut pages)?;
    Ok(pages)
}

fn main() -> ExitCode {
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Run(e)) => {
            interrupt::settle();
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
        Err(Failure::Pipe) => ExitCode::SUCCESS,
        Err(Failure::Interrupted(e)) => {
            eprintln!("{e}");
            ExitCode::from(130)
        }
        Err(Failure::Gate(e)) => {
            eprintln!("{e}");
            ExitCode::from(3)
        }
    }
}
