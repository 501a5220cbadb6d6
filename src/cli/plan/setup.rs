//! What both plans share before and after their search: the checked
//! arguments and the output folder (`Setup`), the progress bar, the
//! `--fail-on` gate, and writing the files.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use drainstorm::plan::{Judging, Outcome, Progress, SearchSettings, Target};
use drainstorm::profile::{DEFAULT, Profile};
use drainstorm::report::{CurveChart, plan_page};

use super::tables::Row;
use crate::args::PlanArgs;
use crate::{
    Failure, check_out, check_work, load_checked, pool, progress_bar, restrict, write_files,
};

/// `value` of the flag `name` if it lies in `lo` (open if `open_lo`) to
/// `hi`, else an input error that names the flag and the range.
pub(super) fn check(
    name: &str,
    value: f64,
    lo: f64,
    hi: f64,
    open_lo: bool,
) -> Result<f64, Failure> {
    let ok = value.is_finite() && (if open_lo { value > lo } else { value >= lo }) && value <= hi;
    if ok {
        Ok(value)
    } else {
        Err(Failure::Input(format!(
            "{name} {value}: allowed {}{lo}, {hi}]",
            if open_lo { "(" } else { "[" }
        )))
    }
}

/// What both plans need before searching: the profile, the search
/// settings (the range still to set), the output folder and the pool.
pub(super) struct Setup {
    pub(super) spec: String,
    pub(super) profile: Profile,
    pub(super) search: SearchSettings,
    pub(super) judging: Judging,
    pub(super) target: Target,
    pub(super) fail_on: bool,
    pub(super) out: PathBuf,
    pub(super) threads: usize,
    pub(super) pool: rayon::ThreadPool,
}

/// A plan's files.
fn files(what: &str) -> [String; 3] {
    [
        format!("{what}.json"),
        format!("{what}.csv"),
        "plan.html".to_owned(),
    ]
}

/// The checked arguments of plan `what` (`tolerance`: the default
/// `--tolerance`), with its output folder checked and its thread pool.
pub(super) fn setup(args: &PlanArgs, what: &str, tolerance: f64) -> Result<Setup, Failure> {
    let spec = args.profile.clone().unwrap_or_else(|| DEFAULT.to_owned());
    let mut profile = load_checked(&spec, args.strict, &args.changes)?;
    if !args.only.is_empty() {
        restrict(&mut profile, &args.only.join(","))?;
    }
    let probability = check("--probability", args.probability, 0.0, 0.9999, true)?;
    let confidence = check("--confidence", args.confidence, 0.0, 0.9999, true)?;
    let seeds = args
        .seeds
        .unwrap_or_else(|| SearchSettings::seeds_for(probability, confidence));
    for (flag, n) in [
        ("--seeds", seeds),
        ("--fresh-seeds", args.fresh_seeds.unwrap_or(seeds)),
    ] {
        if n == 0 || n > 1000 {
            return Err(Failure::Input(format!("{flag} {n}: allowed 1 to 1000")));
        }
    }
    let curve_seeds = args.curve_seeds.unwrap_or(seeds.min(20));
    if curve_seeds > seeds {
        return Err(Failure::Input(format!(
            "--curve-seeds {curve_seeds}: allowed 0 to --seeds ({seeds}): the curve reuses the search's seeds"
        )));
    }
    let tolerance = check(
        "--tolerance",
        args.tolerance.unwrap_or(tolerance),
        0.001,
        0.5,
        false,
    )?;
    // A plan runs its comparison many times over (hundreds of runs per
    // combination at the default confidence): the limits judge one
    // comparison, one seed, as they judge one `run` — what a profile that
    // asks for too much (a rate of 1e8) would cost each time.
    let mut once = profile.clone();
    once.compare.seeds = 1;
    check_work(&spec, &once.estimate(), args.yes)?;
    let (threads, pool) = pool(args.threads)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("drainstorm-out").join(format!("{}-{what}", profile.name)));
    let names = files(what);
    check_out(&out, &names.each_ref().map(String::as_str))?;
    Ok(Setup {
        spec,
        search: SearchSettings {
            target: probability,
            confidence,
            seeds,
            fresh_seeds: args.fresh_seeds.unwrap_or(seeds),
            curve_seeds,
            tolerance,
            ..SearchSettings::default()
        },
        judging: if args.full_runs {
            Judging::FullRuns
        } else {
            Judging::UntilRecovered
        },
        target: args.target,
        fail_on: args.fail_on,
        profile,
        out,
        threads,
        pool,
    })
}

/// Runs `plan` with a progress bar (combinations done, runs so far) — or,
/// without a terminal, a line per finished combination — and a Ctrl-C
/// that says nothing was written.
pub(super) fn with_progress<T>(
    args: &PlanArgs,
    profile: &Profile,
    what: &str,
    pool: &rayon::ThreadPool,
    plan: impl FnOnce(&(dyn Fn(Progress) + Sync)) -> T + Send,
) -> T
where
    T: Send,
{
    let combos = profile.compare.balancers.len().max(1) * profile.compare.policies.len().max(1);
    let bar = progress_bar(
        combos as u64,
        "{msg} [{bar:20.cyan/blue}] {pos}/{len} combinations, ETA {eta}",
        args.quiet,
    );
    let _ = ctrlc::set_handler(|| {
        eprintln!(
            "\ninterrupted: a plan writes nothing until it has every answer; nothing was written"
        );
        std::process::exit(130);
    });
    let lines = !args.quiet && !args.json && !std::io::stderr().is_terminal();
    let runs = AtomicU32::new(0);
    let finished = AtomicU32::new(0);
    let name = format!("{} {what}", profile.name);
    let result = pool.install(|| {
        plan(&|p| match p {
            Progress::Run { .. } => {
                let n = runs.fetch_add(1, Ordering::Relaxed) + 1;
                bar.set_message(format!("{name}, {n} runs"));
            }
            Progress::Finished { .. } => {
                bar.inc(1);
                let k = finished.fetch_add(1, Ordering::Relaxed) + 1;
                if lines {
                    eprintln!(
                        "{name}: {k} of {combos} combinations done ({} runs)",
                        runs.load(Ordering::Relaxed)
                    );
                }
            }
        })
    });
    bar.finish_and_clear();
    result
}

impl Setup {
    /// `--fail-on`: an error (exit 3) naming the combinations whose answer
    /// the profile as written (`written`) falls short of.
    pub(super) fn target_gate(
        &self,
        answers: &[(&String, &String, &Outcome)],
        written: f64,
        what: &str,
    ) -> Result<(), Failure> {
        if !self.fail_on {
            return Ok(());
        }
        let short: Vec<String> = answers
            .iter()
            .filter_map(|(b, p, o)| {
                let needs = match o {
                    Outcome::Found { factor, .. } => {
                        (*factor > written).then(|| format!("{factor:.2}"))
                    }
                    Outcome::BelowRange { .. } => None,
                    Outcome::AboveRange { max_factor } => {
                        Some(format!("more than {max_factor:.2}"))
                    }
                    Outcome::Unconfirmed { factor, .. } => {
                        Some(format!("more than {factor:.2} (unconfirmed)"))
                    }
                    Outcome::NotMonotone { .. } => Some("no answer (not monotone)".into()),
                };
                needs.map(|n| format!("{b} + {p} needs {n}"))
            })
            .collect();
        if short.is_empty() {
            return Ok(());
        }
        Err(Failure::Gate(format!(
            "--fail-on: the profile as written ({what} {written:.2}) is below the answer for {} of {} combinations: {}",
            short.len(),
            answers.len(),
            short.join("; ")
        )))
    }
}

/// `plan.html`: the table and the local curves.
pub(super) fn page(title: &str, table: &str, s: &Setup, rows: &[Row<'_>], x_desc: &str) -> String {
    let charts: Vec<CurveChart<'_>> = rows
        .iter()
        .map(|r| CurveChart {
            name: format!("{} + {}", r.balancer, r.policy),
            points: &r.search.curve,
            answer: r.search.outcome.factor(),
        })
        .collect();
    plan_page(title, table, s.search.target, x_desc, &charts)
}

/// Writes `<what>.json`, `<what>.csv` and `plan.html` as one set, prints
/// the table (or the JSON) and the cost.
pub(super) fn finish(
    args: &PlanArgs,
    s: &Setup,
    what: &str,
    (json, csv, page): (String, String, String),
    table: String,
    (runs, simulated_s, wall): (u32, f64, f64),
) -> Result<(), Failure> {
    let names = files(what);
    write_files(
        &s.out,
        &[
            (&names[0], format!("{json}\n")),
            (&names[1], csv),
            (&names[2], page),
        ],
    )?;
    if args.json {
        outln!("{json}")?;
        return Ok(());
    }
    out!("{table}")?;
    if !args.quiet {
        outln!(
            "\n{runs} runs, {:.1} run-equivalents (simulated time ÷ the profile's {}), in {wall:.1} s on {} thread{}; wrote {} and {}",
            simulated_s / s.profile.scenario.duration.as_secs_f64(),
            s.profile.scenario.duration,
            s.threads,
            if s.threads == 1 { "" } else { "s" },
            s.out.join(&names[1]).display(),
            s.out.join("plan.html").display()
        )?;
    }
    Ok(())
}
