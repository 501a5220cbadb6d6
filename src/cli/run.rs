//! `drainstorm run` (the default command): the comparison of a profile's
//! balancers and policies, its files, and `--fail-on`.

use std::io::IsTerminal;
use std::path::Path;

use drainstorm::profile::DEFAULT;
use drainstorm::report::Comparison;
use drainstorm::sim::run_batch_streaming;

use crate::args::{self, RunArgs};
use crate::{
    Failure, check_work, count, interrupt, load_checked, output, pool, progress_bar, restrict, rows,
};

/// Runs the comparison, writes its files and prints it; `--fail-on`
/// turns a verdict into an exit code.
pub fn run(args: RunArgs) -> Result<(), Failure> {
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
