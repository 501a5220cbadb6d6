//! A run's verdict and totals computed as its intervals close, one row at
//! a time: what lets a long run stream its series to disk and keep in
//! memory only a bounded copy (see
//! [`Simulation::stream_rows`](super::Simulation::stream_rows)) while
//! judging every interval at full resolution.
//!
//! It finds exactly what [`judge`](super::verdict::judge) defines, which
//! is implemented on top of it: the recovery search keeps the last
//! `recovery_window` of rows (a ring bounded by the rule, not by the run's
//! length).

use std::collections::VecDeque;

use super::config::RecorderConfig;
use super::recorder::{Interval, merge};
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
