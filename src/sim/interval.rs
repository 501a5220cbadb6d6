//! The counts of one interval of simulated time — what the recorder keeps
//! per row, the verdict's tally reads, and `series.csv` writes — and how
//! two rows add up.

use serde::Serialize;

use crate::time::SimTime;

/// Counts over one interval of simulated time. Requests are counted in the
/// interval where the event happened: `offered` when they arrive,
/// `successes` and `failures` when they end.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Interval {
    /// Start of the interval.
    pub start: SimTime,
    /// Requests that arrived (first attempts only).
    pub offered: u64,
    /// Attempts sent (first tries and retries) that reached a router.
    pub attempts: u64,
    /// Of which retries.
    pub retries: u64,
    /// Requests that succeeded (within their deadline, by construction:
    /// an attempt past the deadline has timed out).
    pub successes: u64,
    /// Requests that gave up: out of attempts, past the deadline, out of
    /// retry budget, or told not to retry.
    pub failures: u64,
    /// Requests refused by the client itself (open breaker, adaptive
    /// throttling) before or between attempts.
    pub refused: u64,
    /// Requests that failed fast on a client concurrency limit
    /// (`limits`: max requests, pending or retries); also counted in
    /// `failures`.
    pub overflows: u64,
    /// Attempts a site load balancer rejected (over its in-flight or rate
    /// limit).
    pub lb_rejects: u64,
    /// Attempts a backend rejected (queue full) or that found no backend.
    pub queue_rejects: u64,
    /// Attempts with no site to go to (every site out of rotation).
    pub unroutable: u64,
    /// Attempts whose client timed out.
    pub timeouts: u64,
    /// Attempts served after their client had stopped waiting: wasted
    /// work. Over a network, counted when the answer reaches a client
    /// that no longer waits on it.
    pub wasted: u64,
    /// Attempts answered with an error that their client heard: served
    /// by a failing backend, or shed from a queue under controlled delay.
    pub errors: u64,
    /// Sum of latencies of the successes in this interval, ns.
    pub latency_sum_ns: u64,
    /// Median latency of the successes in this interval, ns (0: none; a
    /// row merged from several intervals keeps their largest).
    pub p50_ns: u64,
    /// 99th-percentile latency of the successes in this interval, ns (0:
    /// none). A row merged from several intervals keeps their largest.
    pub p99_ns: u64,
}

impl Interval {
    /// Successful requests per `offered`, or 1 with nothing offered.
    pub fn goodput_ratio(&self) -> f64 {
        if self.offered == 0 {
            1.0
        } else {
            self.successes as f64 / self.offered as f64
        }
    }
}

/// Adds `b`'s counts to `a`, which keeps its start.
pub(crate) fn merge(a: &mut Interval, b: &Interval) {
    a.offered += b.offered;
    a.attempts += b.attempts;
    a.retries += b.retries;
    a.successes += b.successes;
    a.failures += b.failures;
    a.refused += b.refused;
    a.overflows += b.overflows;
    a.lb_rejects += b.lb_rejects;
    a.queue_rejects += b.queue_rejects;
    a.unroutable += b.unroutable;
    a.timeouts += b.timeouts;
    a.wasted += b.wasted;
    a.errors += b.errors;
    a.latency_sum_ns = a.latency_sum_ns.saturating_add(b.latency_sum_ns);
    a.p50_ns = a.p50_ns.max(b.p50_ns);
    a.p99_ns = a.p99_ns.max(b.p99_ns);
}
