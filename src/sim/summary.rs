//! The verdict on a run, computed from its series and histograms.

use serde::Serialize;

use super::config::RecorderConfig;
use super::recorder::Recorder;
use super::tally::Tally;
use super::verdict::{CollapsePeriod, Recovery, Verdict};
use crate::time::SimTime;

/// Everything a report needs about one run. Definitions:
///
/// - *offered*: requests that arrived after the warm-up;
/// - *goodput*: requests that succeeded, per simulated second;
/// - *lost*: `1 − successes ÷ offered` (clamped at 0);
/// - *amplification*: attempts ÷ offered (mean), and the largest ratio of
///   any interval with at least 10 offered requests (peak);
/// - *latency*: end-to-end, from the first attempt to the success, of
///   successful requests only;
/// - *collapse*, *recovery* and the *verdict*: see the
///   [`verdict`](super::verdict) module; `rule` holds the thresholds they
///   were judged with.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
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
    /// Requests failed fast by a client concurrency limit (of the
    /// failures).
    pub overflows: u64,
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
    /// When the run recovered from its trigger.
    pub recovery: Recovery,
    /// The verdict.
    pub verdict: Verdict,
    /// The thresholds the verdict was judged with (the run's recorder
    /// settings); [`RecorderConfig::rule`] says them in words.
    pub rule: RecorderConfig,
}

impl Summary {
    /// Summarises `recorder` under `config`'s definitions.
    pub fn compute(
        recorder: &Recorder,
        config: &RecorderConfig,
        trigger_end: Option<SimTime>,
    ) -> Summary {
        let step = recorder.interval.0;
        // A streaming recorder judged every interval as it closed; else
        // judge the kept rows now.
        let tally = recorder.live.clone().unwrap_or_else(|| {
            let mut t = Tally::new(config, step, trigger_end);
            for r in recorder.series() {
                t.push(r);
            }
            t
        });
        let sums = &tally.sums;
        let (offered, successes, attempts) = (sums.offered, sums.successes, sums.attempts);
        let latency_sum = tally.latency_sum;
        let seconds = (tally.rows * step) as f64 / 1e9;
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let peak_amplification = tally.peak_amplification;
        let lost = tally.lost();
        let judged = tally.judgement(lost);
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
            failures: sums.failures,
            refused: sums.refused,
            overflows: sums.overflows,
            attempts,
            lb_rejects: sums.lb_rejects,
            queue_rejects: sums.queue_rejects,
            timeouts: sums.timeouts,
            wasted: sums.wasted,
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
            collapses: judged.collapses,
            collapsed_seconds: judged.collapsed_seconds,
            trigger_end,
            recovery: judged.recovery,
            verdict: judged.verdict,
            rule: config.clone(),
        }
    }

    /// Collapsed time, in minutes.
    pub fn collapsed_minutes(&self) -> f64 {
        self.collapsed_seconds / 60.0
    }
}
