//! Why a run went bad, and what kept it bad: counterfactual runs with
//! common random numbers.
//!
//! The metastability literature names three parts of a metastable failure
//! (Bronson et al., *Metastable Failures in Distributed Systems*, HotOS
//! 2021; Huang et al., *Metastable Failures in the Wild*, OSDI 2022): a
//! **vulnerable state** (the system runs close to a limit), a **trigger**
//! (a load spike or a capacity drop) and a **sustaining effect** that keeps
//! the system in its bad state after the trigger is gone — workload
//! amplification (retries) or capacity degradation (work for clients that
//! gave up, full backlogs, ejected sites, stale routing).
//!
//! [`ExplainPlan`] names them for every balancer × policy of a profile by
//! running the same seeds again with one thing changed, through the
//! engine's own timeline actions (no special-cased model):
//!
//! 1. **Trigger**: each group of timeline actions at one moment is left
//!    out in turn (and the load curve's rise, flattened to its starting
//!    level): a group without which the run is absorbed triggered it.
//!    Without any of them at all, a run that is still not absorbed was
//!    vulnerable on its own: "not the drain".
//! 2. **Vulnerability**: at the trigger's moment, how close the sites ran
//!    to their limits (backend utilisation and accepted attempts against
//!    the load balancers' accept rate, in the interval before it), and
//!    capacity arithmetic's break-even factor for the sites that stay in
//!    rotation ([`Arithmetic`]).
//! 3. **Sustaining effect**: at the trigger's end each [`Effect`] is
//!    ablated in a run of its own — retries stopped, abandoned work
//!    cancelled, load balancers reset, health checks stopped, DNS caches
//!    flushed, budgets and breakers reset — and the effects whose ablation
//!    ends the storm sooner (recovery in at most half the time, or at all
//!    where the run never recovered) sustained it, best first.
//!
//! Every run of a combination uses the same seeds, so two runs differ only
//! by what was changed, not by chance.

use rayon::prelude::*;
use serde::Serialize;

use super::capacity::Arithmetic;
use super::counterfactual::{Candidate, Effect, ablated, candidates, without, without_any};
use super::judge::Progress;
use super::size::VerdictMix;
use crate::profile::{Profile, Run};
use crate::sim::{
    Interval, Recovery, RowSink, SimConfig, SimError, Simulation, SiteInterval, Summary, Verdict,
};
use crate::time::{SimDuration, SimTime};

/// A combination's result over its seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    /// Each seed's verdict.
    pub verdicts: VerdictMix,
    /// The verdict most seeds got (a tie goes to the worse).
    pub verdict: Verdict,
    /// Mean share of requests lost.
    pub lost: f64,
    /// The median recovery from the trigger's end over the seeds (a run
    /// that never recovered counts as the latest).
    pub recovery: Recovery,
}

impl Outcome {
    fn of(summaries: &[Summary]) -> Outcome {
        let mut verdicts = VerdictMix::default();
        for s in summaries {
            verdicts.add(s.verdict);
        }
        let mut recoveries: Vec<Recovery> = summaries.iter().map(|s| s.recovery).collect();
        recoveries.sort_by(|a, b| recovery_key(*a).total_cmp(&recovery_key(*b)));
        Outcome {
            verdict: verdicts.mode(),
            verdicts,
            lost: summaries.iter().map(|s| s.lost).sum::<f64>() / summaries.len().max(1) as f64,
            recovery: recoveries
                .get(recoveries.len().saturating_sub(1) / 2)
                .copied()
                .unwrap_or(Recovery::NoTrigger),
        }
    }

    /// Seconds from the trigger's end to the recovery: 0 if recovered
    /// before it, infinite if never.
    pub fn recovery_s(&self) -> f64 {
        recovery_key(self.recovery)
    }
}

fn recovery_key(r: Recovery) -> f64 {
    match r {
        Recovery::NoTrigger | Recovery::BeforeTriggerEnd => 0.0,
        Recovery::After { seconds } => seconds,
        Recovery::Never => f64::INFINITY,
    }
}

/// What ran the sites close to their limits when the trigger came.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Margin {
    /// The moment judged: the trigger's, or the first collapse's when no
    /// action triggered it.
    pub at: SimTime,
    /// Busy slots ÷ slots over the sites in rotation then, in the
    /// interval before that moment (first seed).
    pub backend_utilisation: f64,
    /// Attempts admitted ÷ what the load balancers' accept rates allowed,
    /// over the sites with a rate, in the same interval (`None`: no site
    /// limits its rate).
    pub accept_utilisation: Option<f64>,
    /// Capacity arithmetic for the sites that stay in rotation.
    pub arithmetic: Arithmetic,
}

/// Who triggered it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Trigger {
    /// Absorbed: nothing to explain.
    Nothing,
    /// Without any one of these candidates (indices into
    /// [`Explanation::candidates`]) it is absorbed.
    Candidates {
        /// The candidates.
        which: Vec<usize>,
    },
    /// Without every candidate it is absorbed, without any one it is not:
    /// more than one of them can trigger it (alone or together).
    Together,
    /// Without any candidate it is still not absorbed: the system was
    /// vulnerable on its own.
    NotTheTimeline,
}

/// Why one combination went as it did.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Explanation {
    /// The balancer's name.
    pub balancer: String,
    /// The retry policy's name.
    pub policy: String,
    /// The run as written.
    pub base: Outcome,
    /// What could have triggered it.
    pub candidates: Vec<Candidate>,
    /// The run without each candidate, in the same order.
    pub without: Vec<Outcome>,
    /// The run without every candidate (with none, when there is only
    /// one: it is `without[0]`).
    pub without_any: Option<Outcome>,
    /// The verdict on the trigger.
    pub trigger: Trigger,
    /// The margin when it came.
    pub margin: Margin,
    /// The trigger's end, where each effect is ablated.
    pub trigger_end: Option<SimTime>,
    /// Each ablation that could act, with its outcome (none when the base
    /// recovered before the trigger's end).
    pub ablations: Vec<(Effect, Outcome)>,
    /// The effects whose ablation ends it sooner, the soonest first.
    pub sustained_by: Vec<Effect>,
}

impl Explanation {
    /// The outcome `effect`'s ablation had, if it was run.
    pub fn ablation(&self, effect: Effect) -> Option<&Outcome> {
        self.ablations
            .iter()
            .find(|(e, _)| *e == effect)
            .map(|(_, o)| o)
    }
}

/// Whether an ablation ended the storm sooner: the base never recovered
/// and it did, or it recovered in at most half the time (and at least one
/// recovery window sooner).
pub fn ends_sooner(base: &Outcome, ablated: &Outcome, window: SimDuration) -> bool {
    let (b, a) = (base.recovery_s(), ablated.recovery_s());
    if b == 0.0 {
        return false;
    }
    (b.is_infinite() && a.is_finite()) || (a <= b / 2.0 && b - a >= window.as_secs_f64())
}

/// Explanations for every balancer × policy of a profile.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ExplainPlan {
    /// Seeds per combination.
    pub seeds: u32,
    /// One per combination, in the profile's order.
    pub explanations: Vec<Explanation>,
    /// Runs made.
    pub runs: u32,
    /// Simulated seconds over every run.
    pub simulated_s: f64,
}

/// One run of a counterfactual.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Job {
    Base,
    Without(usize),
    WithoutAny,
    Ablated(Effect),
}

/// A job's result: its summary, simulated seconds, and for the base run
/// of the first seed the site rows around the trigger.
struct Done {
    combo: usize,
    job: Job,
    summary: Summary,
    simulated_s: f64,
    rows: Option<Vec<(Interval, Vec<SiteInterval>)>>,
}

impl ExplainPlan {
    /// Explains every balancer × policy of `profile` over `seeds` seeds
    /// (the profile's `seed`, `seed + 1`, …), in parallel on rayon's
    /// current pool; `progress` hears of every run and every finished
    /// combination.
    pub fn run(
        profile: &Profile,
        seeds: u32,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<ExplainPlan, SimError> {
        let mut one = profile.clone();
        one.compare.seeds = 1;
        let combos: Vec<Run> = one.runs();
        let seeds = seeds.max(1);
        let config_of = |combo: usize, seed: u32, job: Job| -> Option<SimConfig> {
            let mut c = combos[combo].config.clone();
            c.seed = profile.scenario.seed + u64::from(seed);
            let cands = candidates(&c);
            match job {
                Job::Base => Some(c),
                Job::Without(k) => Some(without(&c, &cands[k])),
                Job::WithoutAny => (cands.len() > 1).then(|| without_any(&c)),
                Job::Ablated(e) => ablated(&c, e),
            }
        };
        // First the base and the triggers' counterfactuals.
        let mut jobs = Vec::new();
        for (combo, run) in combos.iter().enumerate() {
            let n = candidates(&run.config).len();
            for seed in 0..seeds {
                jobs.push((combo, seed, Job::Base));
                jobs.extend((0..n).map(|k| (combo, seed, Job::Without(k))));
                jobs.push((combo, seed, Job::WithoutAny));
            }
        }
        let first = run_all(&jobs, &config_of, progress)?;
        // Then the ablations, where the base had something to sustain.
        let mut later = Vec::new();
        for combo in 0..combos.len() {
            let base: Vec<Summary> = first
                .iter()
                .filter(|d| d.combo == combo && d.job == Job::Base)
                .map(|d| d.summary.clone())
                .collect();
            if Outcome::of(&base).recovery_s() > 0.0 {
                for e in Effect::ALL {
                    for seed in 0..seeds {
                        later.push((combo, seed, Job::Ablated(e)));
                    }
                }
            }
        }
        let second = run_all(&later, &config_of, progress)?;
        let done: Vec<&Done> = first.iter().chain(&second).collect();
        let explanations = (0..combos.len())
            .map(|combo| {
                let mine: Vec<&Done> = done.iter().copied().filter(|d| d.combo == combo).collect();
                let e = explain(&combos[combo], &mine);
                progress(Progress::Finished { combination: combo });
                e
            })
            .collect();
        Ok(ExplainPlan {
            seeds,
            explanations,
            runs: done.len() as u32,
            simulated_s: done.iter().map(|d| d.simulated_s).sum(),
        })
    }
}

/// Runs every job that applies (in parallel), in job order.
fn run_all(
    jobs: &[(usize, u32, Job)],
    config_of: &(dyn Fn(usize, u32, Job) -> Option<SimConfig> + Sync),
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Vec<Done>, SimError> {
    let done: Vec<Option<Result<Done, SimError>>> = jobs
        .par_iter()
        .with_max_len(1)
        .map(|&(combo, seed, job)| {
            let config = config_of(combo, seed, job)?;
            let keep_rows = job == Job::Base && seed == 0;
            let result = simulate(config, keep_rows, matches!(job, Job::Ablated(_)));
            progress(Progress::Run { combination: combo });
            Some(result.map(|(summary, simulated_s, rows)| Done {
                combo,
                job,
                summary,
                simulated_s,
                rows,
            }))
        })
        .collect();
    done.into_iter().flatten().collect()
}

/// Runs `config`: to its end, keeping every row when `keep_rows`; or, with
/// `until_recovered`, only until it has recovered from the trigger's end
/// (its recovery can no longer change).
#[allow(clippy::type_complexity)]
fn simulate(
    config: SimConfig,
    keep_rows: bool,
    until_recovered: bool,
) -> Result<(Summary, f64, Option<Vec<(Interval, Vec<SiteInterval>)>>), SimError> {
    struct Discard;
    impl RowSink for Discard {
        fn row(&mut self, _: &Interval, _: &[SiteInterval]) {}
    }
    let end = config.duration.0;
    let mut sim = Simulation::new(config)?;
    if keep_rows {
        sim.run();
        let r = sim.recorder();
        let rows = r
            .series()
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let sites = (0..r.sites())
                    .filter_map(|s| r.site_interval(i, s).cloned())
                    .collect();
                (row.clone(), sites)
            })
            .collect();
        return Ok((sim.summary(), end as f64 / 1e9, Some(rows)));
    }
    sim.stream_rows(Box::new(Discard), 1)?;
    if until_recovered {
        let step = 60_000_000_000u64;
        let mut t = 0u64;
        while t < end {
            t = t.saturating_add(step).min(end);
            sim.run_until(SimTime(t));
            if matches!(sim.summary().recovery, Recovery::After { .. }) {
                return Ok((sim.summary(), t as f64 / 1e9, None));
            }
        }
    }
    sim.run();
    Ok((sim.summary(), end as f64 / 1e9, None))
}

/// Puts one combination's runs together.
fn explain(run: &Run, done: &[&Done]) -> Explanation {
    let outcome = |job: Job| -> Option<Outcome> {
        let s: Vec<Summary> = done
            .iter()
            .filter(|d| d.job == job)
            .map(|d| d.summary.clone())
            .collect();
        (!s.is_empty()).then(|| Outcome::of(&s))
    };
    let config = &run.config;
    let cands = candidates(config);
    let base = outcome(Job::Base).expect("the base always runs");
    let without: Vec<Outcome> = (0..cands.len())
        .map(|k| outcome(Job::Without(k)).expect("every candidate runs"))
        .collect();
    let without_any = outcome(Job::WithoutAny);
    let absorbed = |o: &Outcome| o.verdict == Verdict::Absorbed;
    let trigger = if absorbed(&base) {
        Trigger::Nothing
    } else {
        let which: Vec<usize> = (0..cands.len())
            .filter(|&k| absorbed(&without[k]))
            .collect();
        let none = without_any.as_ref().or(without.first());
        if !which.is_empty() {
            Trigger::Candidates { which }
        } else if none.is_some_and(absorbed) {
            Trigger::Together
        } else {
            Trigger::NotTheTimeline
        }
    };
    let rows = done
        .iter()
        .find_map(|d| d.rows.as_ref())
        .expect("the first seed's base keeps its rows");
    let base_summary = &done
        .iter()
        .find(|d| d.job == Job::Base)
        .expect("the base always runs")
        .summary;
    let at = match &trigger {
        Trigger::Candidates { which } => cands[which[0]].at,
        Trigger::Together => cands.first().map_or(SimTime::ZERO, |c| c.at),
        Trigger::Nothing | Trigger::NotTheTimeline => base_summary
            .collapses
            .first()
            .map(|c| c.start)
            .or(cands.first().map(|c| c.at))
            .unwrap_or(SimTime::ZERO),
    };
    let margin = margin(config, rows, at);
    let window = config.recorder.window();
    let ablations: Vec<(Effect, Outcome)> = Effect::ALL
        .into_iter()
        .filter_map(|e| outcome(Job::Ablated(e)).map(|o| (e, o)))
        .collect();
    let mut sustained: Vec<&(Effect, Outcome)> = ablations
        .iter()
        .filter(|(_, o)| ends_sooner(&base, o, window))
        .collect();
    sustained.sort_by(|a, b| a.1.recovery_s().total_cmp(&b.1.recovery_s()));
    Explanation {
        balancer: run.balancer.clone(),
        policy: run.policy.clone(),
        base,
        candidates: cands,
        without,
        without_any,
        trigger,
        margin,
        trigger_end: config.trigger_end(),
        sustained_by: sustained.iter().map(|(e, _)| *e).collect(),
        ablations,
    }
}

/// The sites' margin in the interval that ends at (or contains) `at`.
fn margin(config: &SimConfig, rows: &[(Interval, Vec<SiteInterval>)], at: SimTime) -> Margin {
    let step = config.recorder.interval.0.max(1);
    let i = ((at.0 / step) as usize)
        .saturating_sub(1)
        .min(rows.len().saturating_sub(1));
    let mut busy = 0.0;
    let mut slots = 0.0;
    let mut admitted = 0.0;
    let mut allowed = 0.0;
    if let Some((_, sites)) = rows.get(i) {
        for (s, row) in sites.iter().enumerate() {
            if row.weight == 0 {
                continue;
            }
            let n: f64 = config.sites[s]
                .backends
                .iter()
                .map(|b| f64::from(b.count) * f64::from(b.slots))
                .sum();
            busy += row.utilisation * n;
            slots += n;
            if row.accept_rate > 0.0 {
                admitted += row.admitted as f64;
                allowed += row.accept_rate * step as f64 / 1e9;
            }
        }
    }
    Margin {
        at,
        backend_utilisation: if slots > 0.0 { busy / slots } else { 0.0 },
        accept_utilisation: (allowed > 0.0).then(|| admitted / allowed),
        arithmetic: Arithmetic::of(config),
    }
}
