//! `drainstorm explain`: the comparison, then counterfactual runs with the
//! same seeds, and why each combination went as it did — a table, and
//! `explain.json`, `explain.csv` and `report.html` (with its "Why").

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use drainstorm::plan::{Effect, ExplainPlan, Progress, candidates};
use drainstorm::profile::DEFAULT;
use drainstorm::report::{Comparison, html_with_why, why};

use super::args::ExplainArgs;
use super::{
    Failure, check_out, check_work, load_checked, pool, progress_bar, restrict, write_files,
};

/// The files of an explanation's result set.
const FILES: [&str; 3] = ["explain.json", "explain.csv", "report.html"];

pub fn explain(args: ExplainArgs) -> Result<(), Failure> {
    let spec = args.profile.clone().unwrap_or_else(|| DEFAULT.to_owned());
    let mut profile = load_checked(&spec, args.strict, &args.changes)?;
    if !args.only.is_empty() {
        restrict(&mut profile, &args.only.join(","))?;
    }
    if let Some(n) = args.seeds {
        if n == 0 || n > 1000 {
            return Err(Failure::Input(format!("--seeds {n}: allowed 1 to 1000")));
        }
        profile.compare.seeds = n;
    }
    let seeds = profile.compare.seeds;
    // Every combination runs once as written, once without each candidate
    // and once without them all, and once per effect that can act: at
    // most this many comparisons' worth.
    let config = profile.sim_config();
    let per_run = 2
        + candidates(&config).len()
        + Effect::ALL
            .iter()
            .filter(|e| e.actions(&config).is_some())
            .count();
    let mut work = drainstorm::sim::WorkEstimate::ZERO;
    let once = profile.estimate();
    for _ in 0..per_run {
        work = work.plus(once);
    }
    check_work(&spec, &work, args.yes)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("drainstorm-out").join(format!("{}-explain", profile.name)));
    check_out(&out, &FILES)?;
    let (threads, pool) = pool(args.threads)?;
    let combos = profile.runs().len() / seeds as usize;
    let most = (combos * seeds as usize * per_run) as u64;
    let bar = progress_bar(
        most,
        "{msg} [{bar:20.cyan/blue}] {pos} runs (at most {len}), ETA {eta}",
        args.quiet,
    );
    bar.set_message(format!("{} explain", profile.name));
    let lines = !args.quiet && !args.json && !std::io::stderr().is_terminal();
    if !args.quiet {
        eprintln!(
            "{}: {combos} combinations × {seeds} seed{}: the comparison, then at most {} counterfactual runs each",
            profile.name,
            if seeds == 1 { "" } else { "s" },
            (per_run - 1) * seeds as usize
        );
    }
    let _ = ctrlc::set_handler(|| {
        eprintln!(
            "\ninterrupted: explain writes nothing until it has every answer; nothing was written"
        );
        std::process::exit(130);
    });
    let started = std::time::Instant::now();
    let done = AtomicU32::new(0);
    let (comparison, plan) = pool.install(|| {
        let comparison = Comparison::run(profile.clone());
        let plan = ExplainPlan::run(&profile, seeds, &|p| {
            if let Progress::Run { .. } = p {
                bar.inc(1);
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if lines
                    && (u64::from(n) * 10 / most.max(1)) != (u64::from(n - 1) * 10 / most.max(1))
                {
                    eprintln!("{} explain: {n} runs done (at most {most})", profile.name);
                }
            }
        });
        (comparison, plan)
    });
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    let comparison = comparison.map_err(|e| Failure::Run(format!("a run failed: {e}")))?;
    let plan = plan.map_err(|e| Failure::Run(format!("a run failed: {e}")))?;
    let json = why::json(&profile, &plan);
    let said = why::why(&profile, &plan);
    write_files(
        &out,
        &[
            ("explain.json", json.clone()),
            ("explain.csv", why::csv(&profile, &plan)),
            ("report.html", html_with_why(&comparison, Some(&said))),
        ],
    )?;
    if args.json {
        out!("{json}")?;
        return Ok(());
    }
    outln!(
        "drainstorm explain — {}: {}\n",
        profile.name,
        profile.description
    )?;
    out!("{}", why::table(&profile, &plan))?;
    outln!()?;
    for line in &said.conclusion {
        outln!("{line}")?;
    }
    for (_, sentences) in &said.combinations {
        outln!("\n{}", sentences.join(" "))?;
    }
    if !args.quiet {
        outln!(
            "\n{} counterfactual runs and the comparison, {:.1} run-equivalents, in {wall:.1} s on {threads} thread{}; wrote {}",
            plan.runs,
            (plan.simulated_s
                + comparison.runs.len() as f64 * profile.scenario.duration.as_secs_f64())
                / profile.scenario.duration.as_secs_f64(),
            if threads == 1 { "" } else { "s" },
            out.join("report.html").display()
        )?;
    }
    Ok(())
}
