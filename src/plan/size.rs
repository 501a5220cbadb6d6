//! `plan size`: is the model large enough? The same profile on a ladder of
//! sizes, and the smallest from which its answers no longer change.
//!
//! A system's verdicts move with its size: a large system has less noise
//! to escape a bad state, so a storm that a small model shakes off can hold
//! a large one for hours, and a headroom or a drain plan computed on a toy
//! answers for a system nobody runs. [`SizePlan`] runs every balancer ×
//! policy of a profile at each size of a ladder
//! ([`Profile::scale`](crate::profile::Profile::scale) times each rung;
//! ×1, ×3, ×10, ×30 by default), with the same seeds at every rung, every
//! run to its end, and says per combination where it converged.
//!
//! **The rule** ([`converged_at`]): a combination has converged at rung
//! *i* when, from *i* up to the largest rung, the verdict (the one most of
//! its seeds got) is the same at every rung, and each step up moves the
//! recovery time (the median over seeds; "never recovered" and "recovered
//! before the trigger's end" are values of their own) by less than the
//! tolerance (10 %) — or by less than one recorder interval, the
//! resolution a recovery time is measured at. The largest rung has nothing
//! above it to confirm it, so it never counts as converged on its own: a
//! combination that settles only there is *not converged by* it.

use rayon::prelude::*;
use serde::Serialize;

use super::judge::Progress;
use super::sweep::run_summary;
use crate::profile::Profile;
use crate::sim::{Recovery, SimError, Verdict};

/// The question `plan size` answers, and how.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SizeSettings {
    /// The rungs, as factors of the profile's own scale, in increasing
    /// order.
    pub sizes: Vec<f64>,
    /// Seeds per rung (the profile's seed, seed + 1, …, the same at every
    /// rung).
    pub seeds: u32,
    /// Largest relative move of the recovery time between two rungs that
    /// still counts as converged.
    pub tolerance: f64,
}

impl Default for SizeSettings {
    fn default() -> Self {
        Self {
            sizes: vec![1.0, 3.0, 10.0, 30.0],
            seeds: 3,
            tolerance: 0.1,
        }
    }
}

/// How many of a rung's seeds got each verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VerdictMix {
    /// Absorbed.
    pub absorbed: u32,
    /// Degraded.
    pub degraded: u32,
    /// Collapsed.
    pub collapsed: u32,
    /// Metastable.
    pub metastable: u32,
    /// Inconclusive.
    pub inconclusive: u32,
}

impl VerdictMix {
    pub(super) fn add(&mut self, v: Verdict) {
        *match v {
            Verdict::Absorbed => &mut self.absorbed,
            Verdict::Degraded => &mut self.degraded,
            Verdict::Collapsed => &mut self.collapsed,
            Verdict::Metastable => &mut self.metastable,
            Verdict::Inconclusive => &mut self.inconclusive,
        } += 1;
    }

    /// The verdict most seeds got; a tie goes to the worse verdict.
    pub fn mode(&self) -> Verdict {
        [
            (self.metastable, Verdict::Metastable),
            (self.collapsed, Verdict::Collapsed),
            (self.degraded, Verdict::Degraded),
            (self.inconclusive, Verdict::Inconclusive),
            (self.absorbed, Verdict::Absorbed),
        ]
        .into_iter()
        .fold((0, Verdict::Absorbed), |best, (n, v)| {
            if n > best.0 { (n, v) } else { best }
        })
        .1
    }

    /// Seeds counted.
    pub fn total(&self) -> u32 {
        self.absorbed + self.degraded + self.collapsed + self.metastable + self.inconclusive
    }
}

/// A recovery time as a number the rule can compare: 0 for recovered
/// before the trigger's end (or no trigger: nothing to recover from), the
/// seconds after it, and `None` for never.
fn recovery_s(r: Recovery) -> Option<f64> {
    match r {
        Recovery::NoTrigger | Recovery::BeforeTriggerEnd => Some(0.0),
        Recovery::After { seconds } => Some(seconds),
        Recovery::Never => None,
    }
}

/// One combination at one size.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rung {
    /// The scale it ran at (the profile's scale times the rung's factor).
    pub scale: f64,
    /// Its seeds' verdicts.
    pub verdicts: VerdictMix,
    /// The verdict most seeds got.
    pub verdict: Verdict,
    /// Mean share of requests lost over the seeds.
    pub lost: f64,
    /// Least and most lost over the seeds.
    pub lost_range: (f64, f64),
    /// Median recovery time after the trigger's end over the seeds, s (0:
    /// before it); `None`: the median seed never recovered.
    pub recovery_s: Option<f64>,
    /// Requests offered, summed over the seeds.
    pub offered: u64,
}

/// Where a combination's answers settled.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Convergence {
    /// From this scale up, the verdict and the recovery time held.
    At {
        /// The smallest such scale.
        scale: f64,
    },
    /// Still moving at the largest rung.
    NotBy {
        /// The largest scale run.
        scale: f64,
    },
}

/// One combination's ladder.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SizeAnswer {
    /// The balancer, or `configured`.
    pub balancer: String,
    /// The retry policy, or `configured`.
    pub policy: String,
    /// One rung per size, smallest first.
    pub rungs: Vec<Rung>,
    /// Where it settled.
    pub convergence: Convergence,
}

/// A size plan: every combination's ladder.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SizePlan {
    /// The profile's name.
    pub profile: String,
    /// The profile's own scale, which the rungs multiply.
    pub base_scale: f64,
    /// How it was asked.
    pub settings: SizeSettings,
    /// The recorder interval, s: the resolution of recovery times.
    pub resolution_s: f64,
    /// Per combination, in the profile's order.
    pub answers: Vec<SizeAnswer>,
    /// Runs made.
    pub runs: u32,
    /// Simulated seconds over every run.
    pub simulated_s: f64,
}

/// The index of the smallest rung from which the answers held: from it up
/// to the largest rung the verdict is the same at every rung and each step
/// moves the recovery time by less than `tolerance` (or less than
/// `resolution_s`). `rungs` are (verdict, recovery seconds or
/// `None` for never) from the smallest size up; `None` if no rung below the
/// largest qualifies.
///
/// ```
/// use drainstorm::plan::converged_at;
/// use drainstorm::sim::Verdict::{Collapsed, Metastable};
///
/// // Collapsed at ×1, metastable from ×3 with a recovery that settles.
/// let ladder = [(Collapsed, Some(3570.0)), (Metastable, Some(12540.0)),
///               (Metastable, Some(18150.0)), (Metastable, Some(18900.0))];
/// assert_eq!(converged_at(&ladder, 0.1, 30.0), Some(2)); // ×10
/// assert_eq!(converged_at(&ladder[..3], 0.1, 30.0), None); // 12540 → 18150 moves 31 %
/// ```
pub fn converged_at(
    rungs: &[(Verdict, Option<f64>)],
    tolerance: f64,
    resolution_s: f64,
) -> Option<usize> {
    let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() <= (tolerance * a.max(b)).max(resolution_s),
        _ => false,
    };
    let n = rungs.len();
    // Walk down from the top while each step still holds.
    let mut from = n.checked_sub(1)?;
    while from > 0 {
        let (lower, upper) = (rungs[from - 1], rungs[from]);
        if lower.0 != upper.0 || !close(lower.1, upper.1) {
            break;
        }
        from -= 1;
    }
    (from < n - 1).then_some(from)
}

impl SizePlan {
    /// Runs the ladder on rayon's current pool (every combination × rung ×
    /// seed in parallel); `progress` hears of every run and of every
    /// combination finished.
    ///
    /// ```no_run
    /// use drainstorm::plan::{SizePlan, SizeSettings};
    /// use drainstorm::profile::Profile;
    ///
    /// let profile = Profile::bundled("cheyenne-2026").unwrap()?;
    /// let plan = SizePlan::run(&profile, &SizeSettings::default(), &|_| {}).unwrap();
    /// for a in &plan.answers {
    ///     println!("{} + {}: {:?}", a.balancer, a.policy, a.convergence);
    /// }
    /// # Ok::<(), drainstorm::profile::ProfileError>(())
    /// ```
    pub fn run(
        profile: &Profile,
        settings: &SizeSettings,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<SizePlan, SimError> {
        if settings.sizes.is_empty() || settings.seeds == 0 {
            return Err(SimError::Invalid {
                path: "sizes".into(),
                value: format!("{:?} × {} seeds", settings.sizes, settings.seeds),
                allowed: "at least one size and one seed".into(),
            });
        }
        let mut one_seed = profile.clone();
        one_seed.compare.seeds = 1;
        let combos = one_seed.runs();
        // Divided, not multiplied by 1e-9: 30 s is 30, not 30.000000000000004.
        let resolution_s = profile.scenario.recorder.interval.0 as f64 / 1e9;
        // Each rung's scenario, validated before anything runs.
        let mut rungs = Vec::with_capacity(settings.sizes.len());
        for &k in &settings.sizes {
            let mut p = profile.clone();
            p.scale = profile.scale * k;
            p.scenario.scaled(p.scale)?;
            p.sim_config().validate()?;
            rungs.push(p);
        }
        let answers: Vec<Result<SizeAnswer, SimError>> = combos
            .par_iter()
            .enumerate()
            .map(|(i, combo)| {
                let ladder: Result<Vec<Rung>, SimError> = rungs
                    .par_iter()
                    .map(|p| {
                        let runs: Vec<_> = p
                            .runs()
                            .into_iter()
                            .filter(|r| r.balancer == combo.balancer && r.policy == combo.policy)
                            .collect();
                        let summaries: Result<Vec<_>, SimError> = (0..settings.seeds)
                            .into_par_iter()
                            .map(|k| {
                                let mut c = runs[0].config.clone();
                                c.seed = profile.scenario.seed.wrapping_add(u64::from(k));
                                let s = run_summary(c);
                                progress(Progress::Run { combination: i });
                                s
                            })
                            .collect();
                        Ok(rung(p.scale, &summaries?))
                    })
                    .collect();
                let rungs = ladder?;
                let points: Vec<(Verdict, Option<f64>)> =
                    rungs.iter().map(|r| (r.verdict, r.recovery_s)).collect();
                let convergence = match converged_at(&points, settings.tolerance, resolution_s) {
                    Some(k) => Convergence::At {
                        scale: rungs[k].scale,
                    },
                    None => Convergence::NotBy {
                        scale: rungs.last().map_or(profile.scale, |r| r.scale),
                    },
                };
                progress(Progress::Finished { combination: i });
                Ok(SizeAnswer {
                    balancer: combo.balancer.clone(),
                    policy: combo.policy.clone(),
                    rungs,
                    convergence,
                })
            })
            .collect();
        let answers = answers.into_iter().collect::<Result<Vec<_>, _>>()?;
        let runs = (answers.len() * settings.sizes.len()) as u32 * settings.seeds;
        let simulated_s = f64::from(runs) * profile.scenario.duration.as_secs_f64();
        Ok(SizePlan {
            profile: profile.name.clone(),
            base_scale: profile.scale,
            settings: settings.clone(),
            resolution_s,
            answers,
            runs,
            simulated_s,
        })
    }
}

/// A rung from its seeds' summaries.
fn rung(scale: f64, summaries: &[crate::sim::Summary]) -> Rung {
    let mut verdicts = VerdictMix::default();
    let mut recoveries: Vec<Option<f64>> = Vec::new();
    let (mut lost, mut lo, mut hi) = (0.0, f64::INFINITY, f64::NEG_INFINITY);
    let mut offered = 0;
    for s in summaries {
        verdicts.add(s.verdict);
        recoveries.push(recovery_s(s.recovery));
        lost += s.lost;
        lo = lo.min(s.lost);
        hi = hi.max(s.lost);
        offered += s.offered;
    }
    // Never recovered sorts last.
    recoveries.sort_by(|a, b| match (a, b) {
        (Some(a), Some(b)) => a.total_cmp(b),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    let n = summaries.len().max(1);
    Rung {
        scale,
        verdict: verdicts.mode(),
        verdicts,
        lost: lost / n as f64,
        lost_range: (lo, hi),
        recovery_s: recoveries
            .get((recoveries.len().saturating_sub(1)) / 2)
            .copied()
            .flatten(),
        offered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verdict::*;

    #[test]
    fn the_rule_on_ladders_with_known_answers() {
        let r = |v, s: f64| (v, Some(s));
        // Settled from the first rung.
        assert_eq!(converged_at(&[r(Absorbed, 0.0); 4], 0.1, 30.0), Some(0));
        // The verdict flips at ×3, then holds with a steady recovery.
        let flips = [
            r(Collapsed, 900.0),
            r(Metastable, 5000.0),
            r(Metastable, 5200.0),
            r(Metastable, 5300.0),
        ];
        assert_eq!(converged_at(&flips, 0.1, 30.0), Some(1));
        // Still flipping at the top.
        let late = [
            r(Collapsed, 900.0),
            r(Collapsed, 950.0),
            r(Metastable, 5200.0),
        ];
        assert_eq!(converged_at(&late, 0.1, 30.0), None);
        // Recovery still growing by more than 10 % a rung.
        let growing = [
            r(Metastable, 1000.0),
            r(Metastable, 1500.0),
            r(Metastable, 2200.0),
        ];
        assert_eq!(converged_at(&growing, 0.1, 30.0), None);
        // A tolerance that allows it.
        assert_eq!(converged_at(&growing, 0.5, 30.0), Some(0));
        // Small recoveries within one interval of each other hold.
        let small = [r(Collapsed, 60.0), r(Collapsed, 90.0), r(Collapsed, 60.0)];
        assert_eq!(converged_at(&small, 0.1, 30.0), Some(0));
        // Never is a value of its own: never, never holds; never vs a time does not.
        let never = [
            (Metastable, Some(8000.0)),
            (Metastable, None),
            (Metastable, None),
        ];
        assert_eq!(converged_at(&never, 0.1, 30.0), Some(1));
        // One rung confirms nothing; none is nothing.
        assert_eq!(converged_at(&[r(Absorbed, 0.0)], 0.1, 30.0), None);
        assert_eq!(converged_at(&[], 0.1, 30.0), None);
        // A blip in the middle breaks the run of agreement below it.
        let blip = [
            r(Metastable, 5000.0),
            r(Collapsed, 4000.0),
            r(Metastable, 5100.0),
            r(Metastable, 5150.0),
        ];
        assert_eq!(converged_at(&blip, 0.1, 30.0), Some(2));
    }

    #[test]
    fn the_mode_breaks_ties_toward_the_worse_verdict() {
        let mix = |a, c, m| VerdictMix {
            absorbed: a,
            collapsed: c,
            metastable: m,
            ..VerdictMix::default()
        };
        assert_eq!(mix(2, 1, 0).mode(), Absorbed);
        assert_eq!(mix(1, 1, 0).mode(), Collapsed);
        assert_eq!(mix(1, 1, 1).mode(), Metastable);
        assert_eq!(mix(0, 0, 0).mode(), Absorbed);
        assert_eq!(mix(3, 2, 1).total(), 6);
    }
}
