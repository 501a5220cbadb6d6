//! The verdict on a run: collapse, recovery and metastability, judged from
//! its per-interval series against the system's own baseline.
//!
//! # The rule
//!
//! A metastable failure (Bronson, Aghayev, Charapko, Zhu, "Metastable
//! failures in distributed systems", HotOS 2021; Huang et al., "Metastable
//! failures in the wild", OSDI 2022) is a bad state that a *trigger* (here:
//! a drain, a weight change, a load spike) pushes the system into and that
//! a *sustaining effect* (retries, queues of abandoned work) keeps it in
//! after the trigger is gone. What matters is therefore not how bad the
//! system looks at some moment but whether it returns to its normal,
//! stable behaviour once the trigger has ended — and how long that takes.
//!
//! - **Recovered**: the first moment *t* at or after the trigger's end
//!   from which, over one [`recovery_window`](RecorderConfig::recovery_window)
//!   (default 10 s, or one interval if longer), goodput is at least
//!   [`recovered_fraction`](RecorderConfig::recovered_fraction) (default
//!   0.95) of the offered load and amplification (attempts ÷ offered) at
//!   most [`recovered_amplification`](RecorderConfig::recovered_amplification)
//!   (default 1.1), both summed over the window. If the window that ends at
//!   the trigger's end already meets the rule, the system *recovered before
//!   the trigger ended* ([`Recovery::BeforeTriggerEnd`]): the trigger's
//!   end is then no event at all, which is different from recovering at
//!   that instant ([`Recovery::After`] of 0 s).
//! - **Metastable**: not recovered
//!   [`metastable_after`](RecorderConfig::metastable_after) past the
//!   trigger's end. A run that ends earlier than that without recovering
//!   is judged without this test; its recovery reads [`Recovery::Never`].
//! - **Collapse** is a separate measure of how deep the trouble went: an
//!   interval is collapsed when goodput is below
//!   [`collapse_ratio`](RecorderConfig::collapse_ratio) (default 0.5) of
//!   the offered load, and a *collapse period* is a run of collapsed
//!   intervals lasting at least [`collapse_min`](RecorderConfig::collapse_min)
//!   (default 5 s).
//!
//! The [`Verdict`] is the first that applies of: metastable, collapsed (at
//! least one collapse period), degraded (more than
//! [`degraded_loss`](RecorderConfig::degraded_loss) of the offered
//! requests lost, default 1 %), absorbed.
//!
//! A system stuck at 59 % goodput with amplification 2.2 for three minutes
//! after the restore never collapses (59 % is above 50 %), but it has not
//! recovered either: with `metastable_after` = 120 s it is metastable,
//! with a recovery time of three minutes.

use serde::Serialize;

use super::config::RecorderConfig;
use super::recorder::Interval;
use super::tally::Tally;
use crate::time::SimTime;

/// How a run absorbed its trigger (see the [module documentation](self)).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// No collapse, and at most `degraded_loss` of the offered requests
    /// lost.
    Absorbed,
    /// No collapse, but more than `degraded_loss` lost.
    Degraded,
    /// At least one collapse period, and recovered within
    /// `metastable_after` of the trigger's end.
    Collapsed,
    /// Not recovered `metastable_after` past the end of the trigger: the
    /// overload sustains itself (retries, queues of abandoned work) after
    /// its cause is gone.
    Metastable,
    /// Too short to judge: no request finished (succeeded or failed) within
    /// the run, so there is nothing to measure losses or collapse against.
    Inconclusive,
}

impl Verdict {
    /// The verdict's name, as printed.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Absorbed => "absorbed",
            Self::Degraded => "degraded",
            Self::Collapsed => "collapsed",
            Self::Metastable => "metastable",
            Self::Inconclusive => "inconclusive",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// When a run recovered, by the rule of the [module documentation](self).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Recovery {
    /// The run has no trigger end to recover from.
    NoTrigger,
    /// Already recovered over the window that ends at the trigger's end.
    BeforeTriggerEnd,
    /// Recovered this long after the trigger's end.
    After {
        /// Seconds from the trigger's end to the recovery.
        seconds: f64,
    },
    /// Not recovered by the end of the run.
    Never,
}

impl Recovery {
    /// Seconds after the trigger's end, for [`After`](Self::After).
    pub fn seconds(self) -> Option<f64> {
        match self {
            Self::After { seconds } => Some(seconds),
            _ => None,
        }
    }

    /// The later of two recoveries (for the worst of several seeds):
    /// before the end < after *s* (by *s*) < never; no trigger yields to
    /// the other.
    pub fn worse(self, other: Self) -> Self {
        let rank = |r: Self| match r {
            Self::NoTrigger => (0, 0.0),
            Self::BeforeTriggerEnd => (1, 0.0),
            Self::After { seconds } => (2, seconds),
            Self::Never => (3, 0.0),
        };
        let (a, b) = (rank(self), rank(other));
        if (b.0, b.1) > (a.0, a.1) { other } else { self }
    }
}

impl std::fmt::Display for Recovery {
    /// `—`, `before end`, `12 s`, `never`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoTrigger => f.write_str("—"),
            Self::BeforeTriggerEnd => f.write_str("before end"),
            Self::After { seconds } => write!(f, "{seconds:.0} s"),
            Self::Never => f.write_str("never"),
        }
    }
}

/// A maximal run of collapsed intervals lasting at least `collapse_min`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CollapsePeriod {
    /// Start of the first collapsed interval.
    pub start: SimTime,
    /// End of the last.
    pub end: SimTime,
}

/// What [`judge`] finds in a series.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Judgement {
    /// Collapse periods, in time order.
    pub collapses: Vec<CollapsePeriod>,
    /// Total time collapsed, s.
    pub collapsed_seconds: f64,
    /// When the run recovered.
    pub recovery: Recovery,
    /// The verdict.
    pub verdict: Verdict,
}

/// Judges a series of consecutive intervals of `step` nanoseconds (the
/// warm-up already left out) under `rule`'s thresholds; `lost` is the
/// fraction of offered requests that never succeeded.
pub fn judge(
    rows: &[Interval],
    step: u64,
    rule: &RecorderConfig,
    trigger_end: Option<SimTime>,
    lost: f64,
) -> Judgement {
    // The rows come without their warm-up already.
    let rule = RecorderConfig {
        warm_up: crate::time::SimDuration::ZERO,
        ..rule.clone()
    };
    let mut tally = Tally::new(&rule, step, trigger_end);
    for r in rows {
        tally.push(r);
    }
    tally.judgement(lost)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;

    const S: u64 = 1_000_000_000;

    /// One row per second: (offered, successes, attempts) for each.
    fn series(parts: &[(u64, (u64, u64, u64))]) -> Vec<Interval> {
        let mut rows = Vec::new();
        for &(seconds, (offered, successes, attempts)) in parts {
            for _ in 0..seconds {
                rows.push(Interval {
                    start: SimTime(rows.len() as u64 * S),
                    offered,
                    successes,
                    attempts,
                    ..Interval::default()
                });
            }
        }
        rows
    }

    fn rule() -> RecorderConfig {
        RecorderConfig {
            metastable_after: SimDuration::from_secs(120),
            ..RecorderConfig::default()
        }
    }

    const NORMAL: (u64, u64, u64) = (100, 100, 100);
    const COLLAPSED: (u64, u64, u64) = (100, 30, 400);
    /// 59 % goodput at amplification 2.2: never below the collapse line.
    const STUCK: (u64, u64, u64) = (100, 59, 220);

    fn at(s: u64) -> Option<SimTime> {
        Some(SimTime(s * S))
    }

    #[test]
    fn a_run_in_which_nothing_finished_is_inconclusive() {
        // Requests offered and sent, none answered yet: 100 % "lost" means
        // nothing here.
        let rows = series(&[(1, (100, 0, 100))]);
        let j = judge(&rows, S, &rule(), None, 1.0);
        assert_eq!(j.verdict, Verdict::Inconclusive);
        let rows = series(&[(1, (100, 0, 100)), (1, (100, 1, 100))]);
        assert_ne!(
            judge(&rows, S, &rule(), None, 0.99).verdict,
            Verdict::Inconclusive
        );
    }

    #[test]
    fn stuck_at_59_percent_for_three_minutes_is_metastable() {
        let rows = series(&[(60, NORMAL), (60, COLLAPSED), (180, STUCK), (200, NORMAL)]);
        let j = judge(&rows, S, &rule(), at(120), 0.3);
        assert_eq!(j.verdict, Verdict::Metastable);
        assert_eq!(j.recovery, Recovery::After { seconds: 180.0 });
        assert_eq!(j.collapses.len(), 1, "the stuck part is no collapse");
        assert_eq!(j.collapsed_seconds, 60.0);
    }

    #[test]
    fn stuck_but_shorter_than_metastable_after_is_collapsed() {
        let rows = series(&[(60, NORMAL), (60, COLLAPSED), (90, STUCK), (200, NORMAL)]);
        let j = judge(&rows, S, &rule(), at(120), 0.3);
        assert_eq!(j.verdict, Verdict::Collapsed);
        assert_eq!(j.recovery, Recovery::After { seconds: 90.0 });
    }

    #[test]
    fn stuck_without_any_collapse_is_still_metastable() {
        let rows = series(&[(60, NORMAL), (60, STUCK), (300, STUCK)]);
        let j = judge(&rows, S, &rule(), at(120), 0.4);
        assert_eq!(j.verdict, Verdict::Metastable);
        assert_eq!(j.recovery, Recovery::Never);
        assert!(j.collapses.is_empty());
    }

    #[test]
    fn recovery_before_the_trigger_ends_is_not_zero_seconds() {
        // Recovered at 100 s, trigger ends at 120 s.
        let early = series(&[(60, NORMAL), (40, COLLAPSED), (200, NORMAL)]);
        let j = judge(&early, S, &rule(), at(120), 0.1);
        assert_eq!(j.recovery, Recovery::BeforeTriggerEnd);
        assert_eq!(j.verdict, Verdict::Collapsed);
        // Recovered exactly at the trigger's end.
        let exact = series(&[(60, NORMAL), (60, COLLAPSED), (200, NORMAL)]);
        let j = judge(&exact, S, &rule(), at(120), 0.1);
        assert_eq!(j.recovery, Recovery::After { seconds: 0.0 });
        assert_ne!(
            j.recovery.to_string(),
            Recovery::BeforeTriggerEnd.to_string()
        );
    }

    #[test]
    fn a_quiet_run_is_absorbed_or_degraded_by_its_loss() {
        let rows = series(&[(300, NORMAL)]);
        let j = judge(&rows, S, &rule(), at(100), 0.005);
        assert_eq!(j.verdict, Verdict::Absorbed);
        assert_eq!(j.recovery, Recovery::BeforeTriggerEnd);
        let j = judge(&rows, S, &rule(), at(100), 0.05);
        assert_eq!(j.verdict, Verdict::Degraded);
    }

    #[test]
    fn amplification_alone_keeps_a_run_unrecovered() {
        // Every request succeeds, but only at two attempts each.
        let rows = series(&[(60, NORMAL), (60, COLLAPSED), (200, (100, 100, 200))]);
        let j = judge(&rows, S, &rule(), at(120), 0.2);
        assert_eq!(j.recovery, Recovery::Never);
        assert_eq!(j.verdict, Verdict::Metastable);
        // Within the allowed amplification, it has recovered.
        let rows = series(&[(60, NORMAL), (60, COLLAPSED), (200, (100, 100, 105))]);
        let j = judge(&rows, S, &rule(), at(120), 0.2);
        assert_eq!(j.recovery, Recovery::After { seconds: 0.0 });
    }

    #[test]
    fn a_run_too_short_to_judge_metastability_is_not_called_metastable() {
        let rows = series(&[(60, NORMAL), (100, COLLAPSED)]);
        let j = judge(&rows, S, &rule(), at(120), 0.3);
        assert_eq!(j.recovery, Recovery::Never);
        assert_eq!(j.verdict, Verdict::Collapsed);
    }

    #[test]
    fn without_a_trigger_there_is_no_recovery_to_measure() {
        let rows = series(&[(60, NORMAL), (60, COLLAPSED), (60, NORMAL)]);
        let j = judge(&rows, S, &rule(), None, 0.3);
        assert_eq!(j.recovery, Recovery::NoTrigger);
        assert_eq!(j.verdict, Verdict::Collapsed);
    }

    #[test]
    fn the_window_and_thresholds_are_the_rules() {
        // 92 % goodput after the trigger: recovered under a 0.9 rule, not
        // under the default 0.95.
        let rows = series(&[(60, NORMAL), (60, COLLAPSED), (200, (100, 92, 100))]);
        let strict = judge(&rows, S, &rule(), at(120), 0.1);
        assert_eq!(strict.verdict, Verdict::Metastable);
        let lenient = RecorderConfig {
            recovered_fraction: 0.9,
            ..rule()
        };
        let j = judge(&rows, S, &lenient, at(120), 0.1);
        assert_eq!(j.recovery, Recovery::After { seconds: 0.0 });
        // A longer window needs longer good behaviour: one good 10 s
        // stretch between bad ones is enough for a 10 s window only.
        let rows = series(&[(120, COLLAPSED), (10, NORMAL), (200, COLLAPSED)]);
        assert_eq!(
            judge(&rows, S, &rule(), at(100), 0.5).recovery,
            Recovery::After { seconds: 20.0 }
        );
        let long = RecorderConfig {
            recovery_window: Some(SimDuration::from_secs(30)),
            ..rule()
        };
        assert_eq!(
            judge(&rows, S, &long, at(100), 0.5).recovery,
            Recovery::Never
        );
    }

    #[test]
    fn the_worst_recovery_over_seeds() {
        let after = |s| Recovery::After { seconds: s };
        assert_eq!(after(3.0).worse(after(9.0)), after(9.0));
        assert_eq!(after(3.0).worse(Recovery::Never), Recovery::Never);
        assert_eq!(Recovery::BeforeTriggerEnd.worse(after(0.0)), after(0.0));
        assert_eq!(
            Recovery::NoTrigger.worse(Recovery::BeforeTriggerEnd),
            Recovery::BeforeTriggerEnd
        );
    }
}
