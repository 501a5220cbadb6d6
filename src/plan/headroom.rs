//! `plan headroom`: for each balancer × policy of a profile, the smallest
//! capacity factor of the sites that stay in rotation (see
//! [`scale_capacity`]) at which the drain is absorbed often enough.
//!
//! Each combination is one [`search`], started from capacity arithmetic
//! ([`Arithmetic::break_even`]) and run on the profile's seeds with common
//! random numbers; combinations are searched in parallel with rayon.
//!
//! # Stopping a run early
//!
//! A run stops as soon as its answer to "absorbed?" can no longer change:
//! when a collapse period has begun (collapsed or worse, for good), or when
//! it is judged metastable. By default ([`Judging::UntilRecovered`]) a run
//! also stops once it has recovered — the recovery rule held over one
//! window ending after both the trigger's end and the last timeline action
//! — and is then judged on what it lost up to that moment: the drain is
//! over, and the losses of a shorter span are the larger share, so a run
//! absorbed this way loses no more than its threshold unless the load that
//! follows brings new trouble of its own. [`Judging::FullRuns`] runs every
//! run that is not collapsed to its end instead.

use rayon::prelude::*;
use serde::Serialize;

use super::capacity::{Arithmetic, Binding, Scale, scale_capacity};
use super::search::{Outcome, Search, SearchSettings, Trial, search};
use crate::profile::Profile;
use crate::retry::SimTime;
use crate::sim::{
    Interval, Recovery, RowSink, SimConfig, SimError, Simulation, SiteInterval, Verdict,
};

/// How far each run is simulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Judging {
    /// Stop at collapse, metastability or recovery (the default).
    UntilRecovered,
    /// Stop at collapse or metastability only; otherwise run to the end.
    FullRuns,
}

/// Runs `config` and says whether it absorbed its trigger, stopping as
/// soon as that is decided (see the [module documentation](self)).
pub fn judge(config: SimConfig, judging: Judging) -> Result<Trial, SimError> {
    struct Discard;
    impl RowSink for Discard {
        fn row(&mut self, _: &Interval, _: &[SiteInterval]) {}
    }
    let end = config.duration.0;
    let step = config.recorder.interval.0.max(60_000_000_000);
    let settle = config
        .trigger_end()
        .map_or(0, |t| t.0)
        .max(config.timeline.last().map_or(0, |t| t.at.0))
        .saturating_add(config.recorder.window().0);
    let mut sim = Simulation::new(config)?;
    sim.stream_rows(Box::new(Discard), 1)?;
    let mut t = 0u64;
    while t < end {
        t = t.saturating_add(step).min(end);
        sim.run_until(SimTime(t));
        if t >= end {
            break;
        }
        let s = sim.summary();
        let decided = !s.collapses.is_empty()
            || s.verdict == Verdict::Metastable
            || (judging == Judging::UntilRecovered
                && t >= settle
                && matches!(
                    s.recovery,
                    Recovery::BeforeTriggerEnd | Recovery::After { .. }
                ));
        if decided {
            return Ok(Trial {
                absorbed: s.verdict == Verdict::Absorbed,
                verdict: s.verdict,
                simulated_s: t as f64 / 1e9,
            });
        }
    }
    sim.run();
    let s = sim.summary();
    Ok(Trial {
        absorbed: s.verdict == Verdict::Absorbed,
        verdict: s.verdict,
        simulated_s: end as f64 / 1e9,
    })
}

/// The question `plan headroom` answers, and how.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct HeadroomSettings {
    /// What the factor scales.
    pub scale: Scale,
    /// The search.
    pub search: SearchSettings,
    /// How far runs go.
    pub judging: Judging,
}

impl Default for HeadroomSettings {
    fn default() -> Self {
        Self {
            scale: Scale::Both,
            search: SearchSettings::default(),
            judging: Judging::UntilRecovered,
        }
    }
}

/// What a running plan reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A run of combination `combination` finished.
    Run {
        /// The combination's index, in the profile's order.
        combination: usize,
    },
    /// Combination `combination` has its answer.
    Finished {
        /// The combination's index.
        combination: usize,
    },
}

/// One combination's answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Headroom {
    /// The balancer, or `configured`.
    pub balancer: String,
    /// The retry policy, or `configured`.
    pub policy: String,
    /// The search and its answer.
    pub search: Search,
    /// At the answer (if found): the limit that binds at the peak by
    /// capacity arithmetic, and the peak's utilisation of the backends and
    /// of the accept rate.
    pub binding: Option<(Binding, f64, f64)>,
}

/// A headroom plan: every combination's answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HeadroomPlan {
    /// The profile's name.
    pub profile: String,
    /// How it was asked.
    pub settings: HeadroomSettings,
    /// Capacity arithmetic at factor 1.
    pub arithmetic: Arithmetic,
    /// Per combination, in the profile's order.
    pub answers: Vec<Headroom>,
}

impl HeadroomPlan {
    /// Runs the plan on rayon's current pool; `progress` hears (from any
    /// thread) of every run and every finished combination.
    ///
    /// ```no_run
    /// use drainstorm::plan::{HeadroomPlan, HeadroomSettings};
    /// use drainstorm::profile::Profile;
    ///
    /// let profile = Profile::bundled("cheyenne-2026").unwrap()?;
    /// let plan = HeadroomPlan::run(&profile, &HeadroomSettings::default(), &|_| {}).unwrap();
    /// for a in &plan.answers {
    ///     println!("{} + {}: {:?} ({} runs)", a.balancer, a.policy, a.search.outcome, a.search.runs);
    /// }
    /// # Ok::<(), drainstorm::profile::ProfileError>(())
    /// ```
    pub fn run(
        profile: &Profile,
        settings: &HeadroomSettings,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<HeadroomPlan, SimError> {
        let mut one_seed = profile.clone();
        one_seed.compare.seeds = 1;
        let combos = one_seed.runs();
        let base = profile.sim_config();
        base.validate()?;
        let arithmetic = Arithmetic::of(&base);
        let guess = arithmetic.break_even();
        let error = std::sync::Mutex::new(None);
        let answers: Vec<Headroom> = combos
            .par_iter()
            .enumerate()
            .with_max_len(1)
            .map(|(i, run)| {
                let judge_one = |f: f64, seed: u64| {
                    let mut c = scale_capacity(&run.config, f, settings.scale);
                    c.seed = seed;
                    let t = judge(c, settings.judging);
                    progress(Progress::Run { combination: i });
                    t.unwrap_or_else(|e| {
                        if let Ok(mut slot) = error.lock() {
                            slot.get_or_insert(e);
                        }
                        Trial {
                            absorbed: false,
                            verdict: Verdict::Inconclusive,
                            simulated_s: 0.0,
                        }
                    })
                };
                let s = search(&judge_one, profile.seed, guess, &settings.search);
                let binding = match s.outcome {
                    Outcome::Found { factor, .. } => Some(arithmetic.at(factor, settings.scale)),
                    _ => None,
                };
                progress(Progress::Finished { combination: i });
                Headroom {
                    balancer: run.balancer.clone(),
                    policy: run.policy.clone(),
                    search: s,
                    binding,
                }
            })
            .collect();
        if let Some(e) = error.into_inner().ok().flatten() {
            return Err(e);
        }
        Ok(HeadroomPlan {
            profile: profile.name.clone(),
            settings: *settings,
            arithmetic,
            answers,
        })
    }

    /// Simulated seconds over every run of the plan.
    pub fn simulated_s(&self) -> f64 {
        self.answers.iter().map(|a| a.search.simulated_s).sum()
    }

    /// Runs over the plan.
    pub fn runs(&self) -> u32 {
        self.answers.iter().map(|a| a.search.runs).sum()
    }
}
