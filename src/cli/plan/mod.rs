//! `drainstorm plan headroom` and `plan drain`: the capacity and the drain
//! ramp a drain needs, per balancer × policy, with a stated confidence
//! checked on fresh seeds — a table, `<what>.csv`, `<what>.json` and
//! `plan.html` (the local curve around each answer).

mod setup;
mod tables;

use std::fmt::Write as _;

use drainstorm::plan::{
    Capacity, DrainPlan, DrainSettings, HeadroomPlan, HeadroomSettings, Judging, Outcome,
    SearchSettings, Target, staying_sites,
};
use drainstorm::profile::Profile;

use self::setup::{check, finish, page, setup, with_progress};
use self::tables::{Row, outcome_csv, table};
use super::Failure;
use super::args::{CapacityArg, DrainArgs, HeadroomArgs};

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

fn capacity_words(capacity: Capacity) -> &'static str {
    match capacity {
        Capacity::Both => "backends and load-balancer accept rates",
        Capacity::Backends => "backends only",
        Capacity::LoadBalancers => "load-balancer accept rates only",
    }
}
