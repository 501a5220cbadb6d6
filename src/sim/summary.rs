//! The verdict on a run, computed from its series and histograms.

use serde::Serialize;

use super::config::RecorderConfig;
use super::recorder::Recorder;
use crate::retry::SimTime;

/// How a run absorbed its trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// No collapse, and at most `degraded_loss` of the offered requests
    /// lost.
    Absorbed,
    /// No collapse, but more than `degraded_loss` lost.
    Degraded,
    /// At least one collapse, over by `metastable_after` past the trigger's
    /// end.
    Collapsed,
    /// Still (or again) collapsed `metastable_after` past the end of the
    /// trigger: the
    /// overload sustains itself (retries, queues of abandoned work) after
    /// its cause is gone.
    Metastable,
}

impl Verdict {
    /// The verdict's name, as printed.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Absorbed => "absorbed",
            Self::Degraded => "degraded",
            Self::Collapsed => "collapsed",
            Self::Metastable => "metastable",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A maximal run of collapsed intervals lasting at least `collapse_min`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CollapsePeriod {
    /// Start of the first collapsed interval.
    pub start: SimTime,
    /// End of the last.
    pub end: SimTime,
}

/// Everything a report needs about one run. Definitions:
///
/// - *offered*: requests that arrived after the warm-up;
/// - *goodput*: requests that succeeded, per simulated second;
/// - *lost*: `1 − successes ÷ offered` (clamped at 0);
/// - *amplification*: attempts ÷ offered (mean), and the largest ratio of
///   any interval with at least 10 offered requests (peak);
/// - *latency*: end-to-end, from the first attempt to the success, of
///   successful requests only;
/// - *collapsed interval*: goodput below `collapse_ratio` × offered;
///   *collapse period*: consecutive collapsed intervals lasting at least
///   `collapse_min`;
/// - *recovery*: the time from the trigger's end (the start of the run
///   without a trigger) to the end of the last collapse period that ends
///   after it (0 if none; `None` if the run ends collapsed);
/// - *verdict*: see [`Verdict`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Simulated time covered (warm-up excluded), s.
    pub seconds: f64,
    /// Requests offered.
    pub offered: u64,
    /// Requests that succeeded.
    pub successes: u64,
    /// Requests that gave up.
    pub failures: u64,
    /// Requests the clients refused themselves (breaker, throttling).
    pub refused: u64,
    /// Attempts sent.
    pub attempts: u64,
    /// Attempts rejected by a site load balancer.
    pub lb_rejects: u64,
    /// Attempts rejected by a backend queue.
    pub queue_rejects: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Attempts served after their client stopped waiting.
    pub wasted: u64,
    /// Successes per second.
    pub goodput: f64,
    /// Offered requests per second.
    pub offered_rate: f64,
    /// Fraction of offered requests that did not succeed.
    pub lost: f64,
    /// Attempts ÷ offered requests.
    pub amplification: f64,
    /// Largest per-interval amplification.
    pub peak_amplification: f64,
    /// Latency percentiles of successful requests, s.
    pub p50: f64,
    /// 99th percentile, s.
    pub p99: f64,
    /// 99.9th percentile, s.
    pub p999: f64,
    /// Largest latency, s.
    pub max: f64,
    /// Mean latency (exact, not from the histogram), s.
    pub mean_latency: f64,
    /// Collapse periods, in time order.
    pub collapses: Vec<CollapsePeriod>,
    /// Total time collapsed, s.
    pub collapsed_seconds: f64,
    /// The trigger's end the verdict was judged against.
    pub trigger_end: Option<SimTime>,
    /// Recovery time after the trigger's end, s; `None`: never recovered.
    pub recovery: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
}

impl Summary {
    /// Summarises `recorder` under `config`'s definitions.
    pub fn compute(
        recorder: &Recorder,
        config: &RecorderConfig,
        trigger_end: Option<SimTime>,
    ) -> Summary {
        let warm = config.warm_up.0;
        let rows: Vec<_> = recorder
            .series()
            .iter()
            .filter(|r| r.start.0 >= warm)
            .collect();
        let step = recorder.interval().0;
        let sum = |f: fn(&super::Interval) -> u64| rows.iter().map(|r| f(r)).sum::<u64>();
        let offered = sum(|r| r.offered);
        let successes = sum(|r| r.successes);
        let attempts = sum(|r| r.attempts);
        let latency_sum: u128 = rows.iter().map(|r| u128::from(r.latency_sum_ns)).sum();
        let seconds = (rows.len() as u64 * step) as f64 / 1e9;
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let peak_amplification = rows
            .iter()
            .filter(|r| r.offered >= 10)
            .map(|r| ratio(r.attempts, r.offered))
            .fold(0.0, f64::max);

        let mut collapses = Vec::new();
        let mut run_start: Option<u64> = None;
        let min = config.collapse_min.0;
        let close = |start: u64, end: u64, out: &mut Vec<CollapsePeriod>| {
            if end - start >= min {
                out.push(CollapsePeriod {
                    start: SimTime(start),
                    end: SimTime(end),
                });
            }
        };
        for r in &rows {
            let collapsed = r.offered > 0 && r.goodput_ratio() < config.collapse_ratio;
            match (collapsed, run_start) {
                (true, None) => run_start = Some(r.start.0),
                (false, Some(s)) => {
                    close(s, r.start.0, &mut collapses);
                    run_start = None;
                }
                _ => {}
            }
        }
        let end = rows.last().map_or(0, |r| r.start.0 + step);
        let ends_collapsed = run_start.is_some_and(|s| end - s >= min);
        if let Some(s) = run_start {
            close(s, end, &mut collapses);
        }
        let collapsed_seconds = collapses
            .iter()
            .map(|c| (c.end.0 - c.start.0) as f64 / 1e9)
            .fold(0.0, |a, b| a + b);

        let lost = if offered == 0 {
            0.0
        } else {
            (1.0 - successes as f64 / offered as f64).max(0.0)
        };
        // Recovery is measured from the trigger's end, or from the start of
        // the run when there is no trigger.
        let since = trigger_end.map_or(0, |t| t.0);
        let recovery = if ends_collapsed {
            None
        } else {
            Some(
                collapses
                    .iter()
                    .filter(|c| c.end.0 > since)
                    .map(|c| (c.end.0 - since) as f64 / 1e9)
                    .fold(0.0, f64::max),
            )
        };
        let metastable = trigger_end.is_some_and(|t| {
            let judge = t.0.saturating_add(config.metastable_after.0);
            collapses.iter().any(|c| c.end.0 > judge)
        });
        let verdict = if metastable {
            Verdict::Metastable
        } else if !collapses.is_empty() {
            Verdict::Collapsed
        } else if lost > config.degraded_loss {
            Verdict::Degraded
        } else {
            Verdict::Absorbed
        };
        let h = recorder.latency();
        let q = |p: f64| {
            if h.is_empty() {
                0.0
            } else {
                h.value_at_quantile(p) as f64 / 1e9
            }
        };
        Summary {
            seconds,
            offered,
            successes,
            failures: sum(|r| r.failures),
            refused: sum(|r| r.refused),
            attempts,
            lb_rejects: sum(|r| r.lb_rejects),
            queue_rejects: sum(|r| r.queue_rejects),
            timeouts: sum(|r| r.timeouts),
            wasted: sum(|r| r.wasted),
            goodput: if seconds > 0.0 {
                successes as f64 / seconds
            } else {
                0.0
            },
            offered_rate: if seconds > 0.0 {
                offered as f64 / seconds
            } else {
                0.0
            },
            lost,
            amplification: ratio(attempts, offered),
            peak_amplification,
            p50: q(0.5),
            p99: q(0.99),
            p999: q(0.999),
            max: if h.is_empty() {
                0.0
            } else {
                h.max() as f64 / 1e9
            },
            mean_latency: if successes == 0 {
                0.0
            } else {
                latency_sum as f64 / 1e9 / successes as f64
            },
            collapses,
            collapsed_seconds,
            trigger_end,
            recovery,
            verdict,
        }
    }

    /// Collapsed time, in minutes.
    pub fn collapsed_minutes(&self) -> f64 {
        self.collapsed_seconds / 60.0
    }
}
