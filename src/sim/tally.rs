//! A run's verdict and totals computed as its intervals close, one row at
//! a time: what lets a long run stream its series to disk and keep in
//! memory only a bounded copy (see
//! [`Simulation::stream_rows`](super::Simulation::stream_rows)) while
//! judging every interval at full resolution.
//!
//! It finds exactly what [`judge`] defines, which
//! is implemented on top of it: the recovery search keeps the last
//! `recovery_window` of rows (a ring bounded by the rule, not by the run's
//! length).

use std::collections::VecDeque;

use super::config::RecorderConfig;
use super::interval::{Interval, merge};
use super::verdict::{CollapsePeriod, Judgement, Recovery, Verdict};
use crate::time::SimTime;

/// The counts of one row the recovery rule reads.
#[derive(Clone, Copy, Debug)]
struct Window {
    start: u64,
    offered: u64,
    successes: u64,
    attempts: u64,
}

/// Totals, collapse periods and the recovery search over the rows pushed
/// so far (those that start at or after the warm-up).
#[derive(Clone, Debug)]
pub(crate) struct Tally {
    rule: RecorderConfig,
    step: u64,
    trigger: Option<SimTime>,
    /// Rows per recovery window.
    k: usize,
    /// Rows counted (after the warm-up).
    pub(crate) rows: u64,
    /// Every additive count, summed (the latency sum, which may overflow
    /// a `u64` over a long run, is `latency_sum`).
    pub(crate) sums: Interval,
    pub(crate) latency_sum: u128,
    pub(crate) peak_amplification: f64,
    collapses: Vec<CollapsePeriod>,
    collapse_start: Option<u64>,
    end: u64,
    /// The last `k` rows.
    ring: VecDeque<Window>,
    /// Whether a row at or after the trigger's end has been seen, and
    /// whether the window of `k` rows before it met the rule.
    reached: Option<bool>,
    /// Rows from the first at or after the trigger's end.
    after: u64,
    /// Start of the first window from the trigger's end that met the rule.
    found: Option<u64>,
}

impl Tally {
    pub(crate) fn new(rule: &RecorderConfig, step: u64, trigger: Option<SimTime>) -> Self {
        let k = (rule.window().0.div_ceil(step.max(1)) as usize).max(1);
        Self {
            rule: rule.clone(),
            step,
            trigger,
            k,
            rows: 0,
            sums: Interval::default(),
            latency_sum: 0,
            peak_amplification: 0.0,
            collapses: Vec::new(),
            collapse_start: None,
            end: 0,
            ring: VecDeque::with_capacity(k + 1),
            reached: None,
            after: 0,
            found: None,
        }
    }

    /// Counts the next row (rows come in time order).
    pub(crate) fn push(&mut self, r: &Interval) {
        if r.start.0 < self.rule.warm_up.0 {
            return;
        }
        self.rows += 1;
        merge(&mut self.sums, r);
        self.latency_sum += u128::from(r.latency_sum_ns);
        if r.offered >= 10 {
            let amp = r.attempts as f64 / r.offered as f64;
            self.peak_amplification = self.peak_amplification.max(amp);
        }

        let collapsed = r.offered > 0 && r.goodput_ratio() < self.rule.collapse_ratio;
        match (collapsed, self.collapse_start) {
            (true, None) => self.collapse_start = Some(r.start.0),
            (false, Some(start)) => {
                self.close_collapse(start, r.start.0);
                self.collapse_start = None;
            }
            _ => {}
        }
        self.end = r.start.0 + self.step;

        let Some(t) = self.trigger else {
            return;
        };
        if self.reached.is_none() && r.start.0 >= t.0 {
            // The window of the k rows before the trigger's end.
            self.reached = Some(self.ring.len() == self.k && self.good());
        }
        self.ring.push_back(Window {
            start: r.start.0,
            offered: r.offered,
            successes: r.successes,
            attempts: r.attempts,
        });
        if self.ring.len() > self.k {
            self.ring.pop_front();
        }
        if self.reached.is_some() {
            self.after += 1;
            if self.found.is_none() && self.after >= self.k as u64 && self.good() {
                let first = self.ring.front().map_or(0, |w| w.start);
                self.found = Some(first.max(t.0));
            }
        }
    }

    fn close_collapse(&mut self, start: u64, end: u64) {
        if end - start >= self.rule.collapse_min.0 {
            self.collapses.push(CollapsePeriod {
                start: SimTime(start),
                end: SimTime(end),
            });
        }
    }

    /// Whether the ring (a full window) meets the recovery rule.
    fn good(&self) -> bool {
        let (mut offered, mut successes, mut attempts) = (0, 0, 0);
        for w in &self.ring {
            offered += w.offered;
            successes += w.successes;
            attempts += w.attempts;
        }
        if offered == 0 {
            return attempts == 0;
        }
        successes as f64 >= self.rule.recovered_fraction * offered as f64
            && attempts as f64 <= self.rule.recovered_amplification * offered as f64
    }

    /// The fraction of offered requests that never succeeded.
    pub(crate) fn lost(&self) -> f64 {
        if self.sums.offered == 0 {
            0.0
        } else {
            (1.0 - self.sums.successes as f64 / self.sums.offered as f64).max(0.0)
        }
    }

    /// The verdict on the rows so far, `lost` being the fraction of
    /// offered requests lost.
    pub(crate) fn judgement(&self, lost: f64) -> Judgement {
        let mut collapses = self.collapses.clone();
        if let Some(start) = self.collapse_start
            && self.end - start >= self.rule.collapse_min.0
        {
            collapses.push(CollapsePeriod {
                start: SimTime(start),
                end: SimTime(self.end),
            });
        }
        let collapsed_seconds = collapses
            .iter()
            .map(|c| (c.end.0 - c.start.0) as f64 / 1e9)
            .fold(0.0, |a, b| a + b); // not `sum`, which gives −0.0 for none
        let (recovery, metastable) = match self.trigger {
            None => (Recovery::NoTrigger, false),
            Some(t) => {
                let judge_at = t.0.saturating_add(self.rule.metastable_after.0);
                if self.reached == Some(true) && self.after >= self.k as u64 {
                    (Recovery::BeforeTriggerEnd, false)
                } else if let Some(at) = self.found {
                    (
                        Recovery::After {
                            seconds: (at - t.0) as f64 / 1e9,
                        },
                        at > judge_at,
                    )
                } else {
                    (Recovery::Never, self.end >= judge_at)
                }
            }
        };
        let finished = self.sums.successes + self.sums.failures;
        let verdict = if finished == 0 {
            Verdict::Inconclusive
        } else if metastable {
            Verdict::Metastable
        } else if !collapses.is_empty() {
            Verdict::Collapsed
        } else if lost > self.rule.degraded_loss {
            Verdict::Degraded
        } else {
            Verdict::Absorbed
        };
        Judgement {
            collapses,
            collapsed_seconds,
            recovery,
            verdict,
        }
    }
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
