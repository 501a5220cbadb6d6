//! `drainstorm plan headroom` and `plan drain`: the capacity and the drain
//! ramp a drain needs, per balancer × policy, as a table, a CSV and JSON.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use drainstorm::plan::{
    Capacity, DrainPlan, DrainSettings, HeadroomPlan, HeadroomSettings, Judging, Outcome, Progress,
    SearchSettings, staying_sites,
};
use drainstorm::profile::{DEFAULT, Profile};

use super::args::{CapacityArg, DrainArgs, HeadroomArgs, PlanArgs};
use super::{
    Failure, check_out, check_work, load_checked, pool, progress_bar, restrict, write_files,
};

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

/// What both plans need before searching: the profile, the search
/// settings (the range still to set), the output folder and the pool.
struct Setup {
    spec: String,
    profile: Profile,
    search: SearchSettings,
    judging: Judging,
    out: PathBuf,
    threads: usize,
    pool: rayon::ThreadPool,
}

fn setup(args: &PlanArgs, what: &str, tolerance: f64) -> Result<Setup, Failure> {
    let spec = args.profile.clone().unwrap_or_else(|| DEFAULT.to_owned());
    let mut profile = load_checked(&spec, args.strict, &args.changes)?;
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
    let tolerance = check(
        "--tolerance",
        args.tolerance.unwrap_or(tolerance),
        0.001,
        0.5,
        false,
    )?;
    // A plan runs its comparison at least once at every value it tries:
    // one comparison at the plan's seeds is the least it costs.
    let mut once = profile.clone();
    once.compare.seeds = args.seeds;
    check_work(&spec, &once.estimate(), args.yes)?;
    let (threads, pool) = pool(args.threads)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("drainstorm-out").join(format!("{}-{what}", profile.name)));
    check_out(&out, &[&format!("{what}.json"), &format!("{what}.csv")])?;
    Ok(Setup {
        spec,
        search: SearchSettings {
            target,
            seeds: args.seeds,
            tolerance,
            ..SearchSettings::default()
        },
        judging: if args.full_runs {
            Judging::FullRuns
        } else {
            Judging::UntilRecovered
        },
        profile,
        out,
        threads,
        pool,
    })
}

/// Runs `plan` with a progress bar (combinations done, runs so far) and a
/// Ctrl-C that says nothing was written.
fn with_progress<T>(
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
    let runs = AtomicU32::new(0);
    let name = format!("{} {what}", profile.name);
    let result = pool.install(|| {
        plan(&|p| match p {
            Progress::Run { .. } => {
                let n = runs.fetch_add(1, Ordering::Relaxed) + 1;
                bar.set_message(format!("{name}, {n} runs"));
            }
            Progress::Finished { .. } => bar.inc(1),
        })
    });
    bar.finish_and_clear();
    result
}

pub fn headroom(args: HeadroomArgs) -> Result<(), Failure> {
    let mut s = setup(&args.plan, "headroom", 0.02)?;
    s.search.min_factor = check("--min-factor", args.min_factor, 0.0, 100.0, true)?;
    s.search.max_factor = check(
        "--max-factor",
        args.max_factor,
        s.search.min_factor,
        100.0,
        true,
    )?;
    let settings = HeadroomSettings {
        capacity: match args.capacity {
            CapacityArg::Both => Capacity::Both,
            CapacityArg::Backends => Capacity::Backends,
            CapacityArg::Lb => Capacity::LoadBalancers,
        },
        search: s.search,
        judging: s.judging,
    };
    let config = s.profile.sim_config();
    let staying: Vec<&str> = staying_sites(&config)
        .into_iter()
        .map(|i| config.sites[i].name.as_str())
        .collect();
    if staying.is_empty() {
        return Err(Failure::Input(format!(
            "{}: every site is drained: no site stays in rotation to add capacity to",
            s.spec
        )));
    }
    let started = std::time::Instant::now();
    let plan = with_progress(&args.plan, &s.profile, "headroom", &s.pool, |p| {
        HeadroomPlan::run(&s.profile, &settings, p)
    })
    .map_err(|e| Failure::Run(format!("a run failed: {e}")))?;
    let wall = started.elapsed().as_secs_f64();
    let rows: Vec<Row<'_>> = plan
        .answers
        .iter()
        .map(|a| Row {
            balancer: &a.balancer,
            policy: &a.policy,
            outcome: &a.search.outcome,
            extra: match a.binding {
                Some((b, ub, ul)) => vec![format!("{b}"), ub.to_string(), ul.to_string()],
                None => vec![String::new(); 3],
            },
            shown: a.binding.map_or(String::new(), |(b, ub, ul)| {
                format!(
                    "{b} ({:.0}% vs {:.0}%)",
                    100.0 * ub.max(ul),
                    100.0 * ub.min(ul)
                )
            }),
            runs: a.search.runs,
            simulated_s: a.search.simulated_s,
        })
        .collect();
    let scale = capacity_words(settings.capacity);
    let ar = &plan.arithmetic;
    let mut notes = vec![
        format!(
            "The factor multiplies the staying sites' {scale} (backend counts rounded up to whole backends; see `drainstorm plan headroom --help`); 1 is the profile as written. \"unsafe at\": the largest factor found failing. The interval is Wilson's, over the seeds at the answer."
        ),
        format!(
            "Capacity arithmetic at factor 1: peak load {:.0}/s; the staying sites serve {:.0}/s (backends) and accept {:.0}/s (load balancers, at the drain): break-even at {:.2}. \"binds\": the limit the peak load uses most at the answer (its utilisation vs the other's).",
            ar.peak_load,
            ar.backend_capacity,
            ar.accept_capacity,
            ar.break_even()
        ),
    ];
    judging_note(&mut notes, s.judging);
    let title = format!(
        "drainstorm plan headroom — {}: the capacity factor of {} ({scale}) at which P(absorbed) ≥ {} over {} seeds",
        s.profile.name,
        staying.join(", "),
        s.search.target,
        s.search.seeds
    );
    let json = serde_json::to_string_pretty(&plan).map_err(|e| Failure::Run(e.to_string()))?;
    let table = table(
        &title,
        ("factor", "binds at the peak"),
        &rows,
        &|f| format!("{f:.2}"),
        &notes,
    );
    let csv = outcome_csv(
        "factor",
        &["binding", "backend_utilisation", "accept_utilisation"],
        &rows,
    );
    let summary = (plan.runs(), plan.simulated_s(), wall);
    finish(&args.plan, &s, "headroom", json, csv, table, summary)
}

pub fn drain(args: DrainArgs) -> Result<(), Failure> {
    let mut s = setup(&args.plan, "drain", 0.05)?;
    let minutes = |d: drainstorm::retry::SimDuration| d.as_secs_f64() / 60.0;
    s.search.min_factor = minutes(args.min_ramp);
    s.search.max_factor = minutes(args.max_ramp);
    if s.search.min_factor <= 0.0 || s.search.max_factor <= s.search.min_factor {
        return Err(Failure::Input(format!(
            "--min-ramp {} --max-ramp {}: allowed 0 < min < max",
            args.min_ramp, args.max_ramp
        )));
    }
    let settings = DrainSettings {
        search: s.search,
        judging: s.judging,
    };
    let started = std::time::Instant::now();
    let plan = with_progress(&args.plan, &s.profile, "drain", &s.pool, |p| {
        DrainPlan::run(&s.profile, &settings, p)
    })
    .map_err(|e| match e {
        drainstorm::sim::SimError::Invalid { .. } => Failure::Input(format!("{}: {e}", s.spec)),
        e => Failure::Run(format!("a run failed: {e}")),
    })?;
    let wall = started.elapsed().as_secs_f64();
    let rows: Vec<Row<'_>> = plan
        .answers
        .iter()
        .map(|a| Row {
            balancer: &a.balancer,
            policy: &a.policy,
            outcome: &a.search.outcome,
            extra: Vec::new(),
            shown: String::new(),
            runs: a.search.runs,
            simulated_s: a.search.simulated_s,
        })
        .collect();
    let mut notes = vec![
        "The ramp: every `drain` of the timeline lowers its site's router weight linearly to zero over it. \"unsafe at\": the longest ramp found failing. The interval is Wilson's, over the seeds at the answer.".to_owned(),
    ];
    judging_note(&mut notes, s.judging);
    let title = format!(
        "drainstorm plan drain — {}: the shortest linear drain of {} at which P(absorbed) ≥ {} over {} seeds",
        s.profile.name,
        plan.drained.join(", "),
        s.search.target,
        s.search.seeds
    );
    let json = serde_json::to_string_pretty(&plan).map_err(|e| Failure::Run(e.to_string()))?;
    let table = table(
        &title,
        ("ramp", ""),
        &rows,
        &|m| format!("{m:.1} min"),
        &notes,
    );
    let csv = outcome_csv("ramp_min", &[], &rows);
    let summary = (plan.runs(), plan.simulated_s(), wall);
    finish(&args.plan, &s, "drain", json, csv, table, summary)
}

fn judging_note(notes: &mut Vec<String>, judging: Judging) {
    if judging == Judging::UntilRecovered {
        notes.push(
            "Runs stop once collapsed, metastable or recovered after the last action (--full-runs: to their end).".into(),
        );
    }
}

/// Writes `<what>.json` and `<what>.csv`, prints the table (or the JSON)
/// and the cost.
fn finish(
    args: &PlanArgs,
    s: &Setup,
    what: &str,
    json: String,
    csv: String,
    table: String,
    (runs, simulated_s, wall): (u32, f64, f64),
) -> Result<(), Failure> {
    write_files(
        &s.out,
        &[
            (&format!("{what}.json"), format!("{json}\n")),
            (&format!("{what}.csv"), csv),
        ],
    )?;
    if args.json {
        outln!("{json}")?;
        return Ok(());
    }
    out!("{table}")?;
    if !args.quiet {
        outln!(
            "\n{runs} runs, {:.1} run-equivalents (simulated time ÷ the profile's {}), in {wall:.1} s on {} thread{}; wrote {}",
            simulated_s / s.profile.scenario.duration.as_secs_f64(),
            s.profile.scenario.duration,
            s.threads,
            if s.threads == 1 { "" } else { "s" },
            s.out.join(format!("{what}.csv")).display()
        )?;
    }
    Ok(())
}

fn capacity_words(capacity: Capacity) -> &'static str {
    match capacity {
        Capacity::Both => "backends and load-balancer accept rates",
        Capacity::Backends => "backends only",
        Capacity::LoadBalancers => "load-balancer accept rates only",
    }
}

/// One combination's line of a plan.
struct Row<'a> {
    balancer: &'a str,
    policy: &'a str,
    outcome: &'a Outcome,
    /// Extra CSV columns.
    extra: Vec<String>,
    /// The extra table column.
    shown: String,
    runs: u32,
    simulated_s: f64,
}

/// A row's cells: (answer, unsafe at, P(absorbed), the row).
type Cells<'a> = (String, String, String, &'a Row<'a>);

/// An outcome as table cells: (answer, unsafe at, P(absorbed)), values
/// written by `fmt`.
fn cells(outcome: &Outcome, fmt: &dyn Fn(f64) -> String) -> (String, String, String) {
    match outcome {
        Outcome::Found {
            factor,
            unsafe_below,
            absorbed,
            seeds,
            wilson,
        } => (
            fmt(*factor),
            fmt(*unsafe_below),
            format!("{absorbed}/{seeds} [{:.2}, {:.2}]", wilson.0, wilson.1),
        ),
        Outcome::AboveRange { max_factor } => (
            format!(">{}", fmt(*max_factor)),
            fmt(*max_factor),
            "not absorbed at the maximum".into(),
        ),
        Outcome::BelowRange { min_factor } => (
            format!("≤{}", fmt(*min_factor)),
            "—".into(),
            "absorbed at the minimum".into(),
        ),
        Outcome::NotMonotone { .. } => ("—".into(), "—".into(), "not monotone (below)".into()),
    }
}

/// The answer table, with what it means under it.
fn table(
    title: &str,
    (answer, extra): (&str, &str),
    rows: &[Row<'_>],
    fmt: &dyn Fn(f64) -> String,
    notes: &[String],
) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{title}\n");
    let rows: Vec<Cells<'_>> = rows
        .iter()
        .map(|r| {
            let (value, below, p) = cells(r.outcome, fmt);
            (value, below, p, r)
        })
        .collect();
    let width = |f: &dyn Fn(&Cells<'_>) -> usize, head: &str| {
        rows.iter()
            .map(f)
            .chain([head.chars().count()])
            .max()
            .unwrap_or(0)
    };
    let wa = width(&|r| r.0.chars().count(), answer);
    let wb = width(&|r| r.1.chars().count(), "unsafe at");
    let wp = width(&|r| r.2.chars().count(), "P(absorbed), 95% CI");
    let we = width(&|r| r.3.shown.chars().count(), extra);
    let line = |b: &str, p: &str, a: &str, u: &str, ci: &str, e: &str, runs: &str| {
        let mut l = format!("{b:<13} {p:<16} {a:>wa$} {u:>wb$}  {ci:<wp$}");
        if we > 0 {
            l.push_str(&format!("  {e:<we$}"));
        }
        format!("{l}  {runs:>5}")
    };
    let _ = writeln!(
        t,
        "{}",
        line(
            "balancer",
            "policy",
            answer,
            "unsafe at",
            "P(absorbed), 95% CI",
            extra,
            "runs"
        )
    );
    for (value, below, p, r) in &rows {
        let _ = writeln!(
            t,
            "{}",
            line(
                r.balancer,
                r.policy,
                value,
                below,
                p,
                &r.shown,
                &r.runs.to_string()
            )
        );
    }
    let _ = writeln!(t);
    for (_, _, _, r) in &rows {
        if let Outcome::NotMonotone {
            seed,
            absorbed_at,
            failed_at,
        } = r.outcome
        {
            let _ = writeln!(
                t,
                "{} + {}: not monotone, no answer: seed {seed} is absorbed at {} but not at {}.",
                r.balancer,
                r.policy,
                fmt(*absorbed_at),
                fmt(*failed_at)
            );
        }
    }
    for n in notes {
        let _ = writeln!(t, "{n}");
    }
    t
}

/// One row per combination: the outcome's columns (`answer` names the
/// found value's), then `extra`, then runs and simulated seconds.
fn outcome_csv(answer: &str, extra: &[&str], rows: &[Row<'_>]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut head = vec![
        "balancer",
        "policy",
        "outcome",
        answer,
        "unsafe_below",
        "absorbed",
        "seeds",
        "wilson_low",
        "wilson_high",
    ];
    head.extend_from_slice(extra);
    head.extend(["runs", "simulated_s"]);
    let _ = w.write_record(&head);
    for row in rows {
        let mut r: Vec<String> = vec![row.balancer.to_owned(), row.policy.to_owned()];
        let blank = |n| std::iter::repeat_n(String::new(), n);
        match row.outcome {
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
                r.extend(blank(4));
            }
            Outcome::BelowRange { min_factor } => {
                r.extend(["below-range".into(), min_factor.to_string()]);
                r.extend(blank(5));
            }
            Outcome::NotMonotone { .. } => {
                r.push("not-monotone".into());
                r.extend(blank(6));
            }
        }
        r.extend(row.extra.iter().cloned());
        r.extend([row.runs.to_string(), row.simulated_s.to_string()]);
        let _ = w.write_record(&r);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}
