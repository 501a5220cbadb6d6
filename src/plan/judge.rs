//! Judging runs for a search, and searching every combination of a
//! profile in parallel: what `plan headroom` and `plan drain` share. How
//! far a run goes is [`Judging`]'s to say.

use rayon::prelude::*;
use serde::Serialize;

use super::search::{Search, SearchSettings, Trial, search};
use crate::profile::{Profile, Run};
use crate::retry::SimTime;
use crate::sim::{
    Interval, Recovery, RowSink, SimConfig, SimError, Simulation, SiteInterval, Verdict,
};

/// How far each run is simulated.
///
/// A run stops as soon as its answer to "absorbed?" can no longer change:
/// when a collapse period has begun (collapsed or worse, for good), or when
/// it is judged metastable. By default ([`Judging::UntilRecovered`]) a run
/// also stops once it has recovered — the recovery rule held over one
/// window ending after both the trigger's end and the last timeline action
/// — and is then judged on what it lost up to that moment: the drain is
/// over, and the losses of a shorter span are the larger share, so a run
/// absorbed this way loses no more than its threshold unless the load that
/// follows brings new trouble of its own. [`Judging::FullRuns`] runs every
/// run that is not collapsed to its end instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Judging {
    /// Stop at collapse, metastability or recovery (the default).
    UntilRecovered,
    /// Stop at collapse or metastability only; otherwise run to the end.
    FullRuns,
}

/// Runs `config` and says whether it absorbed its trigger, stopping as
/// soon as that is decided (see [`Judging`]).
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
                let t = judge(c, judging);
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
