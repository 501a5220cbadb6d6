//! The `drainstorm` command: replay a drain on a profile and compare every
//! balancer against every retry policy.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use clap::{CommandFactory, Parser};
use drainstorm::profile::{BUNDLED, Override, Profile, ProfileError};
use drainstorm::sim::WorkEstimate;

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
#[path = "cli/interrupt.rs"]
mod interrupt;
#[path = "cli/plan/mod.rs"]
mod plan;
#[path = "cli/run.rs"]
mod run;
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

fn try_main() -> Result<(), Failure> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run(RunArgs::default())) {
        Command::Run(args) => run::run(args),
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
