//! `drainstorm plan headroom` and `plan drain`: the capacity and the drain
//! ramp a drain needs, per balancer × policy, with a stated confidence
//! checked on fresh seeds — a table, `<what>.csv`, `<what>.json` and
//! `plan.html` (the local curve around each answer).

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use drainstorm::plan::{
    Capacity, CurvePoint, DrainPlan, DrainSettings, HeadroomPlan, HeadroomSettings, Judging,
    Outcome, Progress, Search, SearchSettings, Target, staying_sites,
};
use drainstorm::profile::{DEFAULT, Profile};
use drainstorm::report::{CurveChart, plan_page};

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
    target: Target,
    fail_on: bool,
    out: PathBuf,
    threads: usize,
    pool: rayon::ThreadPool,
}

/// A plan's files.
fn files(what: &str) -> [String; 3] {
    [
        format!("{what}.json"),
        format!("{what}.csv"),
        "plan.html".to_owned(),
    ]
}

fn setup(args: &PlanArgs, what: &str, tolerance: f64) -> Result<Setup, Failure> {
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

/// What a plan claims, in words, for its title.
fn claim(s: &SearchSettings, target: Target) -> String {
    let needed = SearchSettings::seeds_for(s.target, s.confidence);
    let success = match target {
        Target::Absorbed => "absorbed".to_owned(),
        t => t.to_string(),
    };
    let mut words = format!(
        "P({success}) ≥ {} with {} % confidence (exact binomial, one-sided, on fresh seeds the search never used)",
        s.target,
        s.confidence * 100.0
    );
    let (k, n) = (s.required(s.seeds), s.seeds);
    let _ = write!(words, "; safe means {k} of {n} seeds in the search");
    if s.seeds < needed || s.fresh_seeds < needed {
        let n = s.seeds.min(s.fresh_seeds);
        let _ = write!(
            words,
            ". {needed} seeds are needed for that claim: with {n}, all of them show only P ≥ {:.2}",
            drainstorm::plan::lower_bound(n, n, s.confidence)
        );
    }
    words
}

/// A time of the run as people read it: the clock time (UTC) when the
/// profile sets `clock_start`, else seconds.
fn clock(profile: &Profile, seconds: f64) -> String {
    match profile.clock_start_seconds() {
        Some(start) => {
            let t = (start + seconds.max(0.0).round() as u64) % 86_400;
            format!("{:02}:{:02} UTC", t / 3600, t / 60 % 60)
        }
        None => format!("{seconds} s"),
    }
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
        target: s.target,
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
    let sites: Vec<String> = staying.iter().map(|s| (*s).to_owned()).collect();
    let rows: Vec<Row<'_>> = plan
        .answers
        .iter()
        .map(|a| {
            let mut extra = match a.binding {
                Some((b, ub, ul)) => vec![format!("{b}"), ub.to_string(), ul.to_string()],
                None => vec![String::new(); 3],
            };
            for site in &sites {
                let need = a.sites.iter().find(|n| n.site == *site);
                extra.push(need.map_or(String::new(), |n| n.backends_needed.to_string()));
                extra.push(
                    need.and_then(|n| n.accept_needed_per_s)
                        .map_or(String::new(), |r| r.to_string()),
                );
            }
            Row {
                balancer: &a.balancer,
                policy: &a.policy,
                search: &a.search,
                extra,
                shown: a.binding.map_or(String::new(), |(b, ub, ul)| {
                    format!(
                        "{b} ({:.0}% vs {:.0}%)",
                        100.0 * ub.max(ul),
                        100.0 * ub.min(ul)
                    )
                }),
            }
        })
        .collect();
    let scale = capacity_words(settings.capacity);
    let ar = &plan.arithmetic;
    let mut notes = vec![
        format!(
            "The factor multiplies the staying sites' {scale} (backend counts rounded up to whole backends; see `drainstorm plan headroom --help`); 1 is the profile as written. \"unsafe at\": the largest factor found failing. \"search\": seeds that met the target at the answer; \"fresh\": the same on seeds the search never used, whose exact one-sided bound is the claim."
        ),
        format!(
            "Capacity arithmetic at factor 1: peak load {:.0}/s; the staying sites serve {:.0}/s (backends) and accept {:.0}/s (load balancers, at the drain): break-even at {:.2}. \"binds\": the limit the peak load uses most at the answer (its utilisation vs the other's).",
            ar.peak_load,
            ar.backend_capacity,
            ar.accept_capacity,
            ar.break_even()
        ),
    ];
    // What each answer asks of the sites, in machines and rates.
    let asks = by_value(
        &plan.answers,
        |a| a.search.outcome.factor(),
        |a| format!("{} + {}", a.balancer, a.policy),
        |a, _| {
            let per_site: Vec<String> = a
                .sites
                .iter()
                .map(|n| {
                    let mut w = format!(
                        "{} {} → {} backends (+{})",
                        n.site,
                        n.backends,
                        n.backends_needed,
                        n.backends_needed.saturating_sub(n.backends)
                    );
                    if let (Some(now), Some(need)) = (n.accept_per_s, n.accept_needed_per_s) {
                        let _ = write!(w, ", accept {now:.0} → {need:.0}/s");
                    }
                    w
                })
                .collect();
            per_site.join("; ")
        },
    );
    for (f, names, per_site) in &asks {
        notes.push(format!("×{f:.2} ({}): {per_site}.", names.join(", ")));
    }
    judging_note(&mut notes, s.judging);
    let title = format!(
        "drainstorm plan headroom — {}: the capacity factor of {} ({scale}) at which {}",
        s.profile.name,
        staying.join(", "),
        claim(&s.search, s.target)
    );
    let json = serde_json::to_string_pretty(&plan).map_err(|e| Failure::Run(e.to_string()))?;
    let table = table(
        &title,
        ("factor", "binds at the peak"),
        &rows,
        &|f| format!("{f:.2}"),
        &notes,
    );
    let mut extra_head = vec![
        "binding".to_owned(),
        "backend_utilisation".into(),
        "accept_utilisation".into(),
    ];
    for site in &sites {
        extra_head.push(format!("{site}.backends_needed"));
        extra_head.push(format!("{site}.accept_needed_per_s"));
    }
    let csv = outcome_csv(("factor", 1.0), &extra_head, &rows);
    let gate = s.target_gate(
        &plan
            .answers
            .iter()
            .map(|a| (&a.balancer, &a.policy, &a.search.outcome))
            .collect::<Vec<_>>(),
        1.0,
        "capacity factor",
    );
    let page = page(&title, &table, &s, &rows, "capacity factor");
    let summary = (plan.runs(), plan.simulated_s(), wall);
    finish(
        &args.plan,
        &s,
        "headroom",
        (json, csv, page),
        table,
        summary,
    )?;
    gate
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
        target: s.target,
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
            search: &a.search,
            extra: Vec::new(),
            shown: String::new(),
        })
        .collect();
    let mut notes = vec![
        "The ramp: every `drain` of the timeline lowers its site's router weight linearly to zero over it. \"unsafe at\": the longest ramp found failing. \"search\": seeds that met the target at the answer; \"fresh\": the same on seeds the search never used, whose exact one-sided bound is the claim.".to_owned(),
    ];
    if plan.settings.search.max_factor < settings.search.max_factor {
        notes.push(format!(
            "Ramps searched up to {:.1} min: a longer one would still be draining a site after its restore (or the run's end).",
            plan.settings.search.max_factor
        ));
    }
    // The answers as steps a runbook can follow, one line per ramp.
    let steps = by_value(
        &plan.answers,
        |a| a.search.outcome.factor(),
        |a| format!("{} + {}", a.balancer, a.policy),
        |a, m| {
            let mut by_site: Vec<String> = Vec::new();
            for site in &plan.drained {
                let mine: Vec<&drainstorm::plan::Step> =
                    a.schedule.iter().filter(|x| x.site == *site).collect();
                if let (Some(first), Some(last)) = (mine.first(), mine.last()) {
                    let every = m * 60.0 / 10.0;
                    let start = first.at_s - every;
                    let from = first.weight + (first.weight / 9).max(1);
                    by_site.push(format!(
                        "lower {site}'s weight by a tenth every {} from {} ({}, {}, … 0 by {})",
                        drainstorm::report::spoken(every),
                        clock(&s.profile, start),
                        from.max(first.weight),
                        first.weight,
                        clock(&s.profile, last.at_s)
                    ));
                }
            }
            by_site.join("; ")
        },
    );
    for (m, names, words) in &steps {
        notes.push(format!("{m:.1} min ({}): {words}.", names.join(", ")));
    }
    let hopeless: Vec<String> = plan
        .answers
        .iter()
        .filter(|a| matches!(a.search.outcome, Outcome::AboveRange { .. }))
        .map(|a| format!("{} + {}", a.balancer, a.policy))
        .collect();
    if !hopeless.is_empty() {
        notes.push(format!(
            "No ramp up to {:.0} min helps {}: capacity is the limit, not the pace — `drainstorm plan headroom` says how much it needs.",
            plan.settings.search.max_factor,
            hopeless.join(", ")
        ));
    }
    judging_note(&mut notes, s.judging);
    let title = format!(
        "drainstorm plan drain — {}: the shortest linear drain of {} at which {}",
        s.profile.name,
        plan.drained.join(", "),
        claim(&s.search, s.target)
    );
    let json = serde_json::to_string_pretty(&plan).map_err(|e| Failure::Run(e.to_string()))?;
    let table = table(
        &title,
        ("ramp", ""),
        &rows,
        &|m| format!("{m:.1} min"),
        &notes,
    );
    let csv = outcome_csv(("ramp_s", 60.0), &[], &rows);
    // The ramp the profile drains with, minutes (the first drain's).
    let written = s
        .profile
        .scenario
        .timeline
        .iter()
        .find_map(|t| match &t.action {
            drainstorm::sim::Action::Drain { ramp, .. } => Some(ramp.as_secs_f64() / 60.0),
            _ => None,
        })
        .unwrap_or(0.0);
    let gate = s.target_gate(
        &plan
            .answers
            .iter()
            .map(|a| (&a.balancer, &a.policy, &a.search.outcome))
            .collect::<Vec<_>>(),
        written,
        "ramp (minutes)",
    );
    let page = page(&title, &table, &s, &rows, "ramp (minutes)");
    let summary = (plan.runs(), plan.simulated_s(), wall);
    finish(&args.plan, &s, "drain", (json, csv, page), table, summary)?;
    gate
}

impl Setup {
    /// `--fail-on`: an error (exit 3) naming the combinations whose answer
    /// the profile as written (`written`) falls short of.
    fn target_gate(
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

/// The answers that have a value, grouped by it in increasing order:
/// (the value, the combinations that share it, what it asks, from
/// `describe` of the first to have it).
fn by_value<A>(
    answers: &[A],
    value: impl Fn(&A) -> Option<f64>,
    name: impl Fn(&A) -> String,
    describe: impl Fn(&A, f64) -> String,
) -> Vec<(f64, Vec<String>, String)> {
    let mut groups: Vec<(f64, Vec<String>, String)> = Vec::new();
    for a in answers {
        let Some(v) = value(a) else {
            continue;
        };
        match groups.iter_mut().find(|g| g.0 == v) {
            Some(group) => group.1.push(name(a)),
            None => groups.push((v, vec![name(a)], describe(a, v))),
        }
    }
    groups.sort_by(|a, b| a.0.total_cmp(&b.0));
    groups
}

fn judging_note(notes: &mut Vec<String>, judging: Judging) {
    if judging == Judging::UntilRecovered {
        notes.push(
            "Runs stop once their answer can no longer change — failed for good, or recovered after the last action within the target (--full-runs: to their end unless failed).".into(),
        );
    }
}

/// `plan.html`: the table and the local curves.
fn page(title: &str, table: &str, s: &Setup, rows: &[Row<'_>], x_desc: &str) -> String {
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
fn finish(
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
    search: &'a Search,
    /// Extra CSV columns.
    extra: Vec<String>,
    /// The extra table column.
    shown: String,
}

/// An outcome as table cells: (answer, unsafe at, search, fresh, claim),
/// values written by `fmt`.
fn cells(outcome: &Outcome, fmt: &dyn Fn(f64) -> String) -> [String; 5] {
    let dash = || "—".to_owned();
    match outcome {
        Outcome::Found {
            factor,
            unsafe_below,
            success,
            seeds,
            fresh,
        } => [
            fmt(*factor),
            fmt(*unsafe_below),
            format!("{success}/{seeds}"),
            format!("{}/{}", fresh.success, fresh.seeds),
            format!("P ≥ {:.3}", fresh.lower),
        ],
        Outcome::BelowRange { min_factor, fresh } => [
            format!("≤{}", fmt(*min_factor)),
            dash(),
            dash(),
            format!("{}/{}", fresh.success, fresh.seeds),
            format!("P ≥ {:.3}", fresh.lower),
        ],
        Outcome::Unconfirmed { factor, fresh } => [
            dash(),
            dash(),
            dash(),
            format!("{}/{}", fresh.success, fresh.seeds),
            format!("not confirmed at {}", fmt(*factor)),
        ],
        Outcome::AboveRange { max_factor } => [
            format!(">{}", fmt(*max_factor)),
            fmt(*max_factor),
            dash(),
            dash(),
            "not met at the maximum".into(),
        ],
        Outcome::NotMonotone { .. } => [
            dash(),
            dash(),
            dash(),
            dash(),
            "not monotone (below)".into(),
        ],
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
    let mut lines: Vec<Vec<String>> = vec![
        [
            "balancer",
            "policy",
            answer,
            "unsafe at",
            "search",
            "fresh",
            "claim",
            extra,
            "runs",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for r in rows {
        let mut l = vec![r.balancer.to_owned(), r.policy.to_owned()];
        l.extend(cells(&r.search.outcome, fmt));
        l.push(r.shown.clone());
        l.push(r.search.runs.to_string());
        lines.push(l);
    }
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    // Text left, numbers right; the extra column only where it says something.
    let right = [false, false, true, true, true, true, false, false, true];
    for l in &lines {
        let mut out = String::new();
        for (c, cell) in l.iter().enumerate() {
            let w = widths[c];
            if w == 0 {
                continue;
            }
            if !out.is_empty() {
                out.push_str("  ");
            }
            if right[c] {
                let _ = write!(out, "{cell:>w$}");
            } else {
                let _ = write!(out, "{cell:<w$}");
            }
        }
        let _ = writeln!(t, "{}", out.trim_end());
    }
    let _ = writeln!(t);
    for r in rows {
        let name = format!("{} + {}", r.balancer, r.policy);
        if let Outcome::NotMonotone {
            seed,
            absorbed_at,
            failed_at,
        } = &r.search.outcome
        {
            let _ = writeln!(
                t,
                "{name}: not monotone, no answer: seed {seed} met the target at {} but not at {}.",
                fmt(*absorbed_at),
                fmt(*failed_at)
            );
        }
        for c in &r.search.rejected {
            let _ = writeln!(
                t,
                "{name}: fresh seeds rejected {} ({}/{} from seed {}); stepped up.",
                fmt(c.factor),
                c.success,
                c.seeds,
                c.first_seed
            );
        }
        if let Some((a, b)) = dip(&r.search.curve) {
            let _ = writeln!(
                t,
                "{name}: the local curve is not monotone: {}/{} at {} but {}/{} at {} (plan.html).",
                a.success,
                a.seeds,
                fmt(a.factor),
                b.success,
                b.seeds,
                fmt(b.factor)
            );
        }
    }
    for n in notes {
        let _ = writeln!(t, "{n}");
    }
    t
}

/// Two points of a curve where more capacity did worse, if any.
fn dip(curve: &[CurvePoint]) -> Option<(&CurvePoint, &CurvePoint)> {
    curve
        .windows(2)
        .find(|w| w[1].success < w[0].success)
        .map(|w| (&w[0], &w[1]))
}

/// The CSV: per combination a row `answer` (the outcome, its seeds and
/// fresh block, `extra`, runs and simulated seconds) and a row `curve` per
/// point of its local curve. `answer` names the value's column, and its
/// scale from the search's unit (60: minutes written as seconds).
fn outcome_csv((answer, unit): (&str, f64), extra: &[String], rows: &[Row<'_>]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let below = if unit == 1.0 {
        "unsafe_below".to_owned()
    } else {
        format!("unsafe_below_{}", answer.rsplit('_').next().unwrap_or("s"))
    };
    let mut head: Vec<String> = [
        "balancer",
        "policy",
        "row",
        "outcome",
        answer,
        &below,
        "success",
        "seeds",
        "interval_low",
        "interval_high",
        "fresh_success",
        "fresh_seeds",
        "fresh_first_seed",
        "claim_lower",
        "rejected_blocks",
    ]
    .map(str::to_owned)
    .to_vec();
    head.extend(extra.iter().cloned());
    head.extend(["runs".to_owned(), "simulated_s".to_owned()]);
    let _ = w.write_record(&head);
    let num = |x: f64| format!("{}", x * unit);
    for row in rows {
        let mut r: Vec<String> = vec![
            row.balancer.to_owned(),
            row.policy.to_owned(),
            "answer".into(),
        ];
        let (kind, value, unsafe_below, k, n, fresh) = match &row.search.outcome {
            Outcome::Found {
                factor,
                unsafe_below,
                success,
                seeds,
                fresh,
            } => (
                "found",
                num(*factor),
                num(*unsafe_below),
                Some(*success),
                Some(*seeds),
                Some(fresh),
            ),
            Outcome::BelowRange { min_factor, fresh } => (
                "below-range",
                num(*min_factor),
                String::new(),
                None,
                None,
                Some(fresh),
            ),
            Outcome::Unconfirmed { factor, fresh } => (
                "unconfirmed",
                num(*factor),
                String::new(),
                None,
                None,
                Some(fresh),
            ),
            Outcome::AboveRange { max_factor } => (
                "above-range",
                String::new(),
                num(*max_factor),
                None,
                None,
                None,
            ),
            Outcome::NotMonotone { .. } => (
                "not-monotone",
                String::new(),
                String::new(),
                None,
                None,
                None,
            ),
        };
        let interval = match (k, n) {
            (Some(k), Some(n)) => drainstorm::plan::exact_interval(k, n),
            _ => (f64::NAN, f64::NAN),
        };
        let opt = |x: Option<String>| x.unwrap_or_default();
        r.extend([
            kind.to_owned(),
            value,
            unsafe_below,
            opt(k.map(|k| k.to_string())),
            opt(n.map(|n| n.to_string())),
            opt(k.map(|_| interval.0.to_string())),
            opt(k.map(|_| interval.1.to_string())),
            opt(fresh.map(|f| f.success.to_string())),
            opt(fresh.map(|f| f.seeds.to_string())),
            opt(fresh.map(|f| f.first_seed.to_string())),
            opt(fresh.map(|f| f.lower.to_string())),
            row.search.rejected.len().to_string(),
        ]);
        r.extend(row.extra.iter().cloned());
        r.extend([
            row.search.runs.to_string(),
            row.search.simulated_s.to_string(),
        ]);
        let _ = w.write_record(&r);
        for p in &row.search.curve {
            let mut c: Vec<String> = vec![
                row.balancer.to_owned(),
                row.policy.to_owned(),
                "curve".into(),
                String::new(),
                num(p.factor),
                String::new(),
                p.success.to_string(),
                p.seeds.to_string(),
                p.interval.0.to_string(),
                p.interval.1.to_string(),
            ];
            c.resize(head.len(), String::new());
            let _ = w.write_record(&c);
        }
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}
