//! Judging runs for a search, and searching every combination of a
//! profile in parallel: what `plan headroom` and `plan drain` share. How
//! far a run goes is [`Judging`]'s to say.

use rayon::prelude::*;
use serde::Serialize;

use super::found::{Search, SearchSettings, Trial};
use super::search::search;
use crate::profile::{Profile, Run};
use crate::sim::{
    Interval, Recovery, RowSink, SimConfig, SimError, Simulation, SiteInterval, Summary, Verdict,
    offered_after_bound,
};
use crate::time::SimTime;

/// What a run must do to count as a success for a plan.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Target {
    /// Absorbed: no collapse, and at most the profile's `degraded_loss`
    /// lost (the default).
    Absorbed,
    /// No collapse: absorbed or degraded.
    NoCollapse,
    /// At most this share of the requests lost, whatever the verdict.
    Loss {
        /// The share, in [0, 1].
        share: f64,
    },
}

impl Target {
    /// Whether a finished run met it.
    pub fn met(self, s: &Summary) -> bool {
        match self {
            Target::Absorbed => s.verdict == Verdict::Absorbed,
            Target::NoCollapse => matches!(s.verdict, Verdict::Absorbed | Verdict::Degraded),
            Target::Loss { share } => s.verdict != Verdict::Inconclusive && s.lost <= share,
        }
    }

    /// The largest share of requests a success may lose.
    fn loss_limit(self, degraded_loss: f64) -> f64 {
        match self {
            Target::Absorbed => degraded_loss,
            Target::NoCollapse => 1.0,
            Target::Loss { share } => share,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Absorbed => f.write_str("absorbed"),
            Target::NoCollapse => f.write_str("no collapse"),
            Target::Loss { share } => write!(f, "at most {} % lost", share * 100.0),
        }
    }
}

impl std::str::FromStr for Target {
    type Err = String;

    /// `absorbed`, `degraded` (no collapse) or `loss=1%` (`loss=0.01`).
    fn from_str(text: &str) -> Result<Target, String> {
        let shape = "allowed: absorbed, degraded (absorbed or degraded: no collapse), loss=X% (at most X % of requests lost)";
        match text.trim() {
            "absorbed" => Ok(Target::Absorbed),
            "degraded" => Ok(Target::NoCollapse),
            t => {
                let share = t
                    .strip_prefix("loss=")
                    .and_then(|v| match v.strip_suffix('%') {
                        Some(p) => p.trim().parse::<f64>().ok().map(|p| p / 100.0),
                        None => v.trim().parse::<f64>().ok(),
                    })
                    .ok_or_else(|| format!("`{text}`: {shape}"))?;
                if (0.0..=1.0).contains(&share) {
                    Ok(Target::Loss { share })
                } else {
                    Err(format!("`{text}`: a share from 0 % to 100 %"))
                }
            }
        }
    }
}

/// How far each run is simulated.
///
/// A run stops as soon as its answer can no longer change. It has failed
/// for good when a collapse period has begun or it is metastable (for the
/// targets that allow no collapse), or when the requests it has lost for
/// good already exceed the target's share of every request it will have
/// been offered, counting the rest of the run's load at an upper bound
/// ([`offered_after_bound`]) — so a run that is losing is never stopped as
/// a failure while its loss could still fall under the threshold. By
/// default ([`Judging::UntilRecovered`]) a run also stops as a success
/// once it has recovered — the recovery rule held over one window ending
/// after both the trigger's end and the last timeline action — with its
/// losses so far within the target: the drain is over, and the rest of
/// the run is taken to bring no new trouble of its own
/// (`tests/early_stop.rs` checks that every run stopped this way is judged
/// as its full run is). [`Judging::FullRuns`] runs every run not failed
/// for good to its end instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Judging {
    /// Stop at failure for good or at recovery (the default).
    UntilRecovered,
    /// Stop at failure for good only; otherwise run to the end.
    FullRuns,
}

/// Runs `config` and says whether it met `target`, stopping as soon as that
/// is decided (see [`Judging`]).
pub fn judge(config: SimConfig, judging: Judging, target: Target) -> Result<Trial, SimError> {
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
    let limit = target.loss_limit(config.recorder.degraded_loss);
    let collapse_fails = !matches!(target, Target::Loss { .. });
    let bound = config.clone();
    let mut sim = Simulation::new(config)?;
    sim.stream_rows(Box::new(Discard), 1)?;
    let trial = |s: &Summary, t: u64, success: bool| Trial {
        success,
        verdict: s.verdict,
        simulated_s: t as f64 / 1e9,
    };
    let mut t = 0u64;
    while t < end {
        t = t.saturating_add(step).min(end);
        sim.run_until(SimTime(t));
        if t >= end {
            break;
        }
        let s = sim.summary();
        if collapse_fails && (!s.collapses.is_empty() || s.verdict == Verdict::Metastable) {
            return Ok(trial(&s, t, false));
        }
        // Lost for good: requests that failed or were refused.
        let lost = (s.failures + s.refused) as f64;
        if limit < 1.0 && lost > limit * (s.offered as f64 + offered_after_bound(&bound, t)) {
            return Ok(trial(&s, t, false));
        }
        let recovered = matches!(
            s.recovery,
            Recovery::BeforeTriggerEnd | Recovery::After { .. }
        );
        if judging == Judging::UntilRecovered && t >= settle && recovered && s.lost <= limit {
            return Ok(trial(&s, t, true));
        }
    }
    sim.run();
    let s = sim.summary();
    Ok(trial(&s, end, target.met(&s)))
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

/// Searches every balancer × policy of `profile` in parallel on rayon's
/// current pool: the knob `x` is applied to a combination's configuration
/// by `apply`, seeds are the profile's (`seed`, `seed + 1`, …) at every
/// value of the knob. Answers come back in the profile's order.
pub(super) fn search_each(
    profile: &Profile,
    settings: &SearchSettings,
    judging: Judging,
    target: Target,
    guess: f64,
    apply: &(dyn Fn(&SimConfig, f64) -> SimConfig + Sync),
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Vec<(Run, Search)>, SimError> {
    let mut one_seed = profile.clone();
    one_seed.compare.seeds = 1;
    let combos = one_seed.runs();
    let error = std::sync::Mutex::new(None);
    let answers: Vec<(Run, Search)> = combos
        .into_par_iter()
        .enumerate()
        .with_max_len(1)
        .map(|(i, run)| {
            let judge_one = |x: f64, seed: u64| {
                let mut c = apply(&run.config, x);
                c.seed = seed;
                let t = judge(c, judging, target);
                progress(Progress::Run { combination: i });
                t.unwrap_or_else(|e| {
                    if let Ok(mut slot) = error.lock() {
                        slot.get_or_insert(e);
                    }
                    Trial {
                        success: false,
                        verdict: Verdict::Inconclusive,
                        simulated_s: 0.0,
                    }
                })
            };
            let s = search(&judge_one, profile.scenario.seed, guess, settings);
            progress(Progress::Finished { combination: i });
            (run, s)
        })
        .collect();
    match error.into_inner().ok().flatten() {
        Some(e) => Err(e),
        None => Ok(answers),
    }
}
