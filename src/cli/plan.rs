//! `drainstorm plan headroom`: the capacity a drain needs, per balancer ×
//! policy, as a table, `headroom.csv` and `headroom.json`.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use drainstorm::plan::{
    HeadroomPlan, HeadroomSettings, Judging, Outcome, Progress, Scale, SearchSettings,
    staying_sites,
};
use drainstorm::profile::{DEFAULT, Profile};

use super::args::{HeadroomArgs, ScaleArg};
use super::{Failure, load_checked, restrict};

fn check(name: &str, value: f64, lo: f64, hi: f64, open_lo: bool) -> Result<f64, Failure> {
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

pub fn headroom(args: HeadroomArgs) -> Result<(), Failure> {
    let spec = args.profile.clone().unwrap_or_else(|| DEFAULT.to_owned());
    let mut profile = load_checked(&spec, args.strict, &args.sets)?;
    if !args.only.is_empty() {
        restrict(&mut profile, &args.only.join(","))?;
    }
    let target = check("--target", args.target, 0.0, 1.0, true)?;
    if args.seeds == 0 || args.seeds > 1000 {
        return Err(Failure::Input(format!(
            "--seeds {}: allowed 1 to 1000",
            args.seeds
        )));
    }
    let tolerance = check("--tolerance", args.tolerance, 0.001, 0.5, false)?;
    let min_factor = check("--min-factor", args.min_factor, 0.0, 100.0, true)?;
    let max_factor = check("--max-factor", args.max_factor, min_factor, 100.0, true)?;
    let settings = HeadroomSettings {
        scale: match args.scale {
            ScaleArg::Both => Scale::Both,
            ScaleArg::Backends => Scale::Backends,
            ScaleArg::Lb => Scale::LoadBalancers,
        },
        search: SearchSettings {
            target,
            seeds: args.seeds,
            probe_seeds: 2,
            tolerance,
            min_factor,
            max_factor,
        },
        judging: if args.full_runs {
            Judging::FullRuns
        } else {
            Judging::UntilRecovered
        },
    };
    let config = profile.sim_config();
    let staying: Vec<&str> = staying_sites(&config)
        .into_iter()
        .map(|i| config.sites[i].name.as_str())
        .collect();
    if staying.is_empty() {
        return Err(Failure::Input(format!(
            "{spec}: every site is drained: no site stays in rotation to add capacity to"
        )));
    }
    let threads = match args.threads {
        Some(0) | None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        Some(n) => n,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Failure::Run(format!("cannot start {threads} threads: {e}")))?;
    let combos = profile.compare.balancers.len().max(1) * profile.compare.policies.len().max(1);
    let bar = if !args.quiet && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(combos as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:20.cyan/blue}] {pos}/{len} combinations, ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let runs = AtomicU32::new(0);
    let started = std::time::Instant::now();
    let _ = ctrlc::set_handler(|| {
        eprintln!(
            "\ninterrupted: a plan keeps nothing until it has every answer; nothing was written"
        );
        std::process::exit(130);
    });
    let plan = pool
        .install(|| {
            HeadroomPlan::run(&profile, &settings, &|p| match p {
                Progress::Run { .. } => {
                    let n = runs.fetch_add(1, Ordering::Relaxed) + 1;
                    bar.set_message(format!("{} headroom, {n} runs", profile.name));
                }
                Progress::Finished { .. } => bar.inc(1),
            })
        })
        .map_err(|e| Failure::Run(format!("a run failed: {e}")))?;
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    let json = serde_json::to_string_pretty(&plan).map_err(|e| Failure::Run(e.to_string()))?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("drainstorm-out").join(format!("{}-headroom", profile.name)));
    write_files(
        &out,
        &[
            ("headroom.json", format!("{json}\n")),
            ("headroom.csv", csv(&plan)),
        ],
    )?;
    if args.json {
        outln!("{json}")?;
        return Ok(());
    }
    out!("{}", table(&plan, &profile, &staying))?;
    if !args.quiet {
        let equivalents = plan.simulated_s() / profile.duration.as_secs_f64();
        outln!(
            "\n{} runs, {:.1} run-equivalents (simulated time ÷ the profile's {}), in {:.1} s on {threads} thread{}; wrote {}",
            plan.runs(),
            equivalents,
            profile.duration,
            wall,
            if threads == 1 { "" } else { "s" },
            out.join("headroom.csv").display()
        )?;
    }
    Ok(())
}

/// Each file written beside and renamed into place.
fn write_files(out: &Path, files: &[(&str, String)]) -> Result<(), Failure> {
    std::fs::create_dir_all(out)
        .map_err(|e| Failure::Run(format!("{}: cannot create: {e}", out.display())))?;
    for (name, text) in files {
        let path = out.join(name);
        let tmp = out.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| Failure::Run(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

fn scale_words(scale: Scale) -> &'static str {
    match scale {
        Scale::Both => "backends and load-balancer accept rates",
        Scale::Backends => "backends only",
        Scale::LoadBalancers => "load-balancer accept rates only",
    }
}

/// The answer table, with what it means under it.
fn table(plan: &HeadroomPlan, profile: &Profile, staying: &[&str]) -> String {
    let s = &plan.settings;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "drainstorm plan headroom — {}: the capacity factor of {} ({}) at which P(absorbed) ≥ {} over {} seeds\n",
        profile.name,
        staying.join(", "),
        scale_words(s.scale),
        s.search.target,
        s.search.seeds
    );
    let _ = writeln!(
        t,
        "{:<13} {:<16} {:>7} {:>10}  {:<22} {:<42} {:>5}",
        "balancer",
        "policy",
        "factor",
        "unsafe at",
        "P(absorbed), 95% CI",
        "binds at the peak",
        "runs"
    );
    for a in &plan.answers {
        let (factor, below, p) = match &a.search.outcome {
            Outcome::Found {
                factor,
                unsafe_below,
                absorbed,
                seeds,
                wilson,
            } => (
                format!("{factor:.2}"),
                format!("{unsafe_below:.2}"),
                format!("{absorbed}/{seeds} [{:.2}, {:.2}]", wilson.0, wilson.1),
            ),
            Outcome::AboveRange { max_factor } => (
                format!(">{max_factor}"),
                format!("{max_factor}"),
                "never absorbed".into(),
            ),
            Outcome::BelowRange { min_factor } => (
                format!("≤{min_factor}"),
                "—".into(),
                "absorbed at the minimum".into(),
            ),
            Outcome::NotMonotone {
                seed,
                absorbed_at,
                failed_at,
            } => (
                "—".into(),
                "—".into(),
                format!(
                    "not monotone: seed {seed} absorbed at {absorbed_at:.2}, not at {failed_at:.2}"
                ),
            ),
        };
        let binds = a.binding.map_or(String::new(), |(b, ub, ul)| {
            format!(
                "{b} ({:.0}% vs {:.0}%)",
                100.0 * ub.max(ul),
                100.0 * ub.min(ul)
            )
        });
        let _ = writeln!(
            t,
            "{:<13} {:<16} {factor:>7} {below:>10}  {p:<22} {binds:<42} {:>5}",
            a.balancer, a.policy, a.search.runs
        );
    }
    let ar = &plan.arithmetic;
    let _ = writeln!(
        t,
        "\nThe factor multiplies the staying sites' {} (backend counts rounded up to whole backends; see `drainstorm plan headroom --help`); 1 is the profile as written. \"unsafe at\": the largest factor found failing. The interval is Wilson's, over the seeds at the answer.",
        scale_words(s.scale)
    );
    let _ = writeln!(
        t,
        "Capacity arithmetic at factor 1: peak load {:.0}/s; the staying sites serve {:.0}/s (backends) and accept {:.0}/s (load balancers, at the drain): break-even at {:.2}. \"binds\": the limit the peak load uses most at the answer (its utilisation vs the other's).",
        ar.peak_load,
        ar.backend_capacity,
        ar.accept_capacity,
        ar.break_even()
    );
    if s.judging == Judging::UntilRecovered {
        let _ = writeln!(
            t,
            "Runs stop once collapsed, metastable or recovered after the last action (--full-runs: to their end)."
        );
    }
    t
}

/// `headroom.csv`: one row per combination.
fn csv(plan: &HeadroomPlan) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "balancer",
        "policy",
        "outcome",
        "factor",
        "unsafe_below",
        "absorbed",
        "seeds",
        "wilson_low",
        "wilson_high",
        "binding",
        "backend_utilisation",
        "accept_utilisation",
        "runs",
        "simulated_s",
    ]);
    for a in &plan.answers {
        let mut r: Vec<String> = vec![a.balancer.clone(), a.policy.clone()];
        match &a.search.outcome {
            Outcome::Found {
                factor,
                unsafe_below,
                absorbed,
                seeds,
                wilson,
            } => r.extend([
                "found".into(),
                factor.to_string(),
                unsafe_below.to_string(),
                absorbed.to_string(),
                seeds.to_string(),
                wilson.0.to_string(),
                wilson.1.to_string(),
            ]),
            Outcome::AboveRange { max_factor } => {
                r.extend(["above-range".into(), String::new(), max_factor.to_string()]);
                r.extend(std::iter::repeat_n(String::new(), 4));
            }
            Outcome::BelowRange { min_factor } => {
                r.extend(["below-range".into(), min_factor.to_string()]);
                r.extend(std::iter::repeat_n(String::new(), 5));
            }
            Outcome::NotMonotone { .. } => {
                r.push("not-monotone".into());
                r.extend(std::iter::repeat_n(String::new(), 6));
            }
        }
        match a.binding {
            Some((b, ub, ul)) => r.extend([format!("{b}"), ub.to_string(), ul.to_string()]),
            None => r.extend(std::iter::repeat_n(String::new(), 3)),
        }
        r.extend([a.search.runs.to_string(), a.search.simulated_s.to_string()]);
        let _ = w.write_record(&r);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}
