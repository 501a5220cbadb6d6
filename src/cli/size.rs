//! `drainstorm plan size`: the profile on a ladder of sizes, per balancer
//! × policy, as a table, `size.csv` and `size.json`.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use drainstorm::plan::{Convergence, Progress, Rung, SizePlan, SizeSettings};
use drainstorm::profile::DEFAULT;
use drainstorm::report::spoken;
use drainstorm::sim::WorkEstimate;

use super::args::SizeArgs;
use super::{
    Failure, check_out, check_work, load_checked, pool, progress_bar, restrict, write_files,
};

/// The most rungs a ladder may have.
const MAX_RUNGS: usize = 12;

pub fn size(args: SizeArgs) -> Result<(), Failure> {
    let spec = args.profile.clone().unwrap_or_else(|| DEFAULT.to_owned());
    let mut profile = load_checked(&spec, args.strict, &args.changes)?;
    if !args.only.is_empty() {
        restrict(&mut profile, &args.only.join(","))?;
    }
    let sizes = args.sizes.clone();
    if sizes.is_empty() || sizes.len() > MAX_RUNGS {
        return Err(Failure::Input(format!(
            "--sizes: {} sizes: allowed 1 to {MAX_RUNGS}",
            sizes.len()
        )));
    }
    if let Some(bad) = sizes.iter().find(|k| !(k.is_finite() && **k > 0.0)) {
        return Err(Failure::Input(format!(
            "--sizes: {bad}: allowed factors above 0"
        )));
    }
    if sizes.windows(2).any(|w| w[1] <= w[0]) {
        return Err(Failure::Input(format!(
            "--sizes {}: allowed increasing factors (1,3,10,30)",
            list(&sizes)
        )));
    }
    if args.seeds == 0 || args.seeds > 1000 {
        return Err(Failure::Input(format!(
            "--seeds {}: allowed 1 to 1000",
            args.seeds
        )));
    }
    if !(args.tolerance > 0.0 && args.tolerance <= 1.0) {
        return Err(Failure::Input(format!(
            "--tolerance {}: allowed (0, 1]",
            args.tolerance
        )));
    }
    // Each rung must be a valid scale of the profile, and the whole ladder
    // within the work limits.
    let mut work = WorkEstimate::ZERO;
    for &k in &sizes {
        let mut p = profile.clone();
        p.scale = profile.scale * k;
        p.compare.seeds = args.seeds;
        let p = p
            .checked()
            .map_err(|e| Failure::Input(format!("--sizes {}: at ×{k}: {e}", list(&sizes))))?;
        work = work.plus(p.estimate());
    }
    check_work(&spec, &work, args.yes)?;

    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("drainstorm-out").join(format!("{}-size", profile.name)));
    check_out(&out, &["size.json", "size.csv"])?;

    let settings = SizeSettings {
        sizes: sizes.clone(),
        seeds: args.seeds,
        tolerance: args.tolerance,
    };
    let (threads, pool) = pool(args.threads)?;
    let combos = profile.compare.balancers.len().max(1) * profile.compare.policies.len().max(1);
    let total = (combos * sizes.len()) as u64 * u64::from(args.seeds);
    let bar = progress_bar(
        total,
        "{msg} [{bar:20.cyan/blue}] {pos}/{len} runs, ETA {eta}",
        args.quiet,
    );
    bar.set_message(format!("{} size", profile.name));
    let _ = ctrlc::set_handler(|| {
        eprintln!(
            "\ninterrupted: a plan writes nothing until it has every answer; nothing was written"
        );
        std::process::exit(130);
    });
    // Without a terminal, a line per finished combination.
    let lines = !args.quiet && !args.json && !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let finished = AtomicU32::new(0);
    let started = std::time::Instant::now();
    let plan = pool
        .install(|| {
            SizePlan::run(&profile, &settings, &|p| match p {
                Progress::Run { .. } => bar.inc(1),
                Progress::Finished { .. } => {
                    let n = finished.fetch_add(1, Ordering::Relaxed) + 1;
                    if lines {
                        eprintln!("{} size: {n} of {combos} combinations done", profile.name);
                    }
                }
            })
        })
        .map_err(|e| Failure::Run(format!("a run failed: {e}")))?;
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();

    let json = serde_json::to_string_pretty(&plan).map_err(|e| Failure::Run(e.to_string()))?;
    write_files(
        &out,
        &[("size.json", format!("{json}\n")), ("size.csv", csv(&plan))],
    )?;
    if args.json {
        outln!("{json}")?;
        return Ok(());
    }
    out!("{}", table(&plan))?;
    if !args.quiet {
        outln!(
            "\n{} of {} each, in {wall:.1} s on {threads} thread{}; wrote {}",
            super::count(plan.runs, "run"),
            profile.scenario.duration,
            if threads == 1 { "" } else { "s" },
            out.join("size.csv").display()
        )?;
    }
    Ok(())
}

/// `1,3,10,30`.
fn list(sizes: &[f64]) -> String {
    sizes
        .iter()
        .map(|k| k.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// A rung's verdicts in words, the most common first: `2 metastable, 1
/// collapsed`.
fn mix(r: &Rung) -> String {
    let v = &r.verdicts;
    let mut parts: Vec<(u32, &str)> = vec![
        (v.absorbed, "absorbed"),
        (v.degraded, "degraded"),
        (v.collapsed, "collapsed"),
        (v.metastable, "metastable"),
        (v.inconclusive, "inconclusive"),
    ];
    parts.retain(|p| p.0 > 0);
    parts.sort_by_key(|p| std::cmp::Reverse(p.0));
    parts
        .iter()
        .map(|(n, w)| format!("{n} {w}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn recovery(r: &Rung) -> String {
    match r.recovery_s {
        None => "never".into(),
        Some(0.0) => "before end".into(),
        Some(s) => spoken(s),
    }
}

fn convergence(c: &Convergence) -> String {
    match c {
        Convergence::At { scale } => format!("at ×{scale}"),
        Convergence::NotBy { scale } => format!("not by ×{scale}"),
    }
}

fn table(plan: &SizePlan) -> String {
    let mut out = String::new();
    let sizes: Vec<String> = plan
        .settings
        .sizes
        .iter()
        .map(|k| format!("×{}", plan.base_scale * k))
        .collect();
    let _ = writeln!(
        out,
        "drainstorm plan size — {}: every combination at {} of the profile as written, {} seed{} each, every run to its end\n",
        plan.profile,
        sizes.join(", "),
        plan.settings.seeds,
        if plan.settings.seeds == 1 { "" } else { "s" }
    );
    let cells: Vec<[String; 7]> = plan
        .answers
        .iter()
        .flat_map(|a| {
            a.rungs.iter().enumerate().map(move |(k, r)| {
                let first = k == 0;
                [
                    if first {
                        a.balancer.clone()
                    } else {
                        String::new()
                    },
                    if first {
                        a.policy.clone()
                    } else {
                        String::new()
                    },
                    format!("×{}", r.scale),
                    mix(r),
                    format!("{:.2}", r.lost * 100.0),
                    recovery(r),
                    if first {
                        convergence(&a.convergence)
                    } else {
                        String::new()
                    },
                ]
            })
        })
        .collect();
    let head = [
        "balancer",
        "policy",
        "size",
        "verdicts",
        "lost %",
        "recovery",
        "converged",
    ];
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: &[String]| {
        let mut s = String::new();
        for (i, (c, w)) in row.iter().zip(&width).enumerate() {
            let pad = w - c.chars().count();
            // Numbers right-aligned, words left.
            if (2..=5).contains(&i) && i != 3 {
                s += &" ".repeat(pad);
                s += c;
            } else {
                s += c;
                s += &" ".repeat(pad);
            }
            s += "  ";
        }
        s.trim_end().to_owned()
    };
    let _ = writeln!(out, "{}", line(&head.map(String::from)));
    for row in &cells {
        let _ = writeln!(out, "{}", line(row));
    }
    let settled = plan
        .answers
        .iter()
        .filter(|a| matches!(a.convergence, Convergence::At { .. }))
        .count();
    let _ = writeln!(
        out,
        "\nConverged: {settled} of {} combinations. A combination has converged at a size when, from it up to the largest, the verdict most seeds got is the same and each step up moves the median recovery time by less than {:.0} % (or less than one recorder interval, {} s); \"before end\": recovered before the trigger's end.",
        plan.answers.len(),
        plan.settings.tolerance * 100.0,
        plan.resolution_s
    );
    out
}

fn csv(plan: &SizePlan) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "balancer",
        "policy",
        "scale",
        "seeds",
        "absorbed",
        "degraded",
        "collapsed",
        "metastable",
        "inconclusive",
        "verdict",
        "lost",
        "lost_min",
        "lost_max",
        "recovery_s",
        "recovered",
        "offered",
        "converged_at",
    ]);
    for a in &plan.answers {
        let converged = match a.convergence {
            Convergence::At { scale } => scale.to_string(),
            Convergence::NotBy { .. } => String::new(),
        };
        for r in &a.rungs {
            let v = &r.verdicts;
            let _ = w.write_record([
                a.balancer.clone(),
                a.policy.clone(),
                r.scale.to_string(),
                v.total().to_string(),
                v.absorbed.to_string(),
                v.degraded.to_string(),
                v.collapsed.to_string(),
                v.metastable.to_string(),
                v.inconclusive.to_string(),
                r.verdict.to_string(),
                r.lost.to_string(),
                r.lost_range.0.to_string(),
                r.lost_range.1.to_string(),
                r.recovery_s.map_or(String::new(), |s| s.to_string()),
                r.recovery_s.is_some().to_string(),
                r.offered.to_string(),
                converged.clone(),
            ]);
        }
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}
