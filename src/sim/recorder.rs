//! What a run measured: per-interval series and HDR histograms.
//!
//! Memory is fixed per interval (one [`Interval`] and one [`SiteInterval`]
//! per site) plus two fixed-size histograms, whatever the traffic.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::retry::{SimDuration, SimTime};

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
    /// work.
    pub wasted: u64,
    /// Attempts served with an error (failing backends).
    pub errors: u64,
    /// Sum of latencies of the successes in this interval, ns.
    pub latency_sum_ns: u64,
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

/// One site over one interval.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SiteInterval {
    /// Attempts its load balancer admitted (health probes not counted).
    pub admitted: u64,
    /// Attempts it rejected (load balancer or backend queue).
    pub rejected: u64,
    /// Busy slots ÷ slots, time-averaged.
    pub utilisation: f64,
    /// Queued attempts (all backends), time-averaged.
    pub mean_queue: f64,
    /// Attempts held by its load balancer, time-averaged.
    pub mean_in_flight: f64,
    /// Router weight at the end of the interval (0: out of rotation).
    pub weight: u32,
    /// Whether health checks saw it healthy at the end of the interval.
    pub healthy: bool,
    /// The load balancer's accept rate at the end of the interval, new
    /// attempts per second (0: unlimited).
    pub accept_rate: f64,
}

/// Totals over the whole run that the series does not keep.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Attempts whose server work finished (served, wasted or errors).
    pub completions: u64,
    /// Sum over completions of (completion − admission at the site), ns.
    pub server_sojourn_ns: u128,
    /// Sum over completions of (service start − admission), ns.
    pub server_wait_ns: u128,
    /// ∫ attempts held by all load balancers dt, attempt·ns.
    pub in_system_area: u128,
    /// Attempts cancelled at the server (with `cancel_on_timeout`).
    pub cancelled: u64,
    /// Health probes sent.
    pub probes: u64,
    /// Health probes that failed.
    pub probe_failures: u64,
    /// Events processed.
    pub events: u64,
}

/// Series and histograms of a run.
#[derive(Clone, Debug)]
pub struct Recorder {
    pub(crate) interval: SimDuration,
    pub(crate) sites: usize,
    pub(crate) series: Vec<Interval>,
    pub(crate) site_series: Vec<SiteInterval>,
    pub(crate) current: Interval,
    pub(crate) latency: Histogram<u64>,
    /// Requests that ended after `k + 1` attempts, for `k` below
    /// [`FEW_ATTEMPTS`]: nearly all of them, counted here instead of in
    /// the histogram, whose record costs a bucket computation.
    few_attempts: [u64; FEW_ATTEMPTS],
    /// Requests that ended after more attempts.
    attempts: Histogram<u64>,
    pub(crate) totals: Totals,
    /// Where the series' time ends (the last closed boundary).
    pub(crate) closed_until: SimTime,
}

/// Attempt counts below this are counted in an array.
const FEW_ATTEMPTS: usize = 8;

/// Largest latency the histogram keeps exactly (larger values saturate):
/// about 19.5 hours.
const MAX_LATENCY_NS: u64 = 1 << 46;

impl Recorder {
    pub(crate) fn new(interval: SimDuration, sites: usize) -> Self {
        Self {
            interval,
            sites,
            series: Vec::new(),
            site_series: Vec::new(),
            current: Interval::default(),
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid bounds"),
            few_attempts: [0; FEW_ATTEMPTS],
            attempts: Histogram::new_with_bounds(1, 1 << 20, 3).expect("valid bounds"),
            totals: Totals::default(),
            closed_until: SimTime::ZERO,
        }
    }

    #[inline]
    pub(crate) fn success(&mut self, latency: SimDuration, attempts: u32) {
        self.current.successes += 1;
        self.current.latency_sum_ns = self.current.latency_sum_ns.saturating_add(latency.0);
        self.latency
            .saturating_record(latency.0.clamp(1, MAX_LATENCY_NS));
        self.ended(attempts);
    }

    #[inline]
    pub(crate) fn failure(&mut self, attempts: u32) {
        self.current.failures += 1;
        self.ended(attempts);
    }

    /// Counts a request failed by a client concurrency limit after
    /// `attempts` attempts.
    #[inline]
    pub(crate) fn overflow(&mut self, attempts: u32) {
        self.current.overflows += 1;
        self.failure(attempts);
    }

    /// Counts a request that ended (or was refused) after `attempts`
    /// attempts (at least one is counted).
    #[inline]
    pub(crate) fn ended(&mut self, attempts: u32) {
        let k = attempts.max(1) as usize - 1;
        match self.few_attempts.get_mut(k) {
            Some(count) => *count += 1,
            None => self.attempts.saturating_record(k as u64 + 1),
        }
    }

    /// Closes the current interval, with one row per site.
    pub(crate) fn close(&mut self, end: SimTime, sites: impl Iterator<Item = SiteInterval>) {
        let next_start = end;
        let mut done = std::mem::take(&mut self.current);
        done.start = self.closed_until;
        self.series.push(done);
        self.site_series.extend(sites);
        self.current.start = next_start;
        self.closed_until = end;
    }

    /// The interval length.
    pub fn interval(&self) -> SimDuration {
        self.interval
    }

    /// The closed intervals, in time order.
    pub fn series(&self) -> &[Interval] {
        &self.series
    }

    /// Site `site`'s row of every closed interval.
    pub fn site_series(&self, site: usize) -> impl Iterator<Item = &SiteInterval> + '_ {
        self.site_series
            .iter()
            .skip(site)
            .step_by(self.sites.max(1))
    }

    /// The row of site `site` in closed interval `interval`.
    pub fn site_interval(&self, interval: usize, site: usize) -> Option<&SiteInterval> {
        self.site_series.get(interval * self.sites + site)
    }

    /// Number of sites per interval.
    pub fn sites(&self) -> usize {
        self.sites
    }

    /// End-to-end latency of successful requests (first attempt to
    /// success), ns.
    pub fn latency(&self) -> &Histogram<u64> {
        &self.latency
    }

    /// Attempts per finished request (successes, failures and requests
    /// the client refused), as a new histogram.
    pub fn attempts_per_request(&self) -> Histogram<u64> {
        let mut h = self.attempts.clone();
        for (k, &n) in self.few_attempts.iter().enumerate() {
            // A count of zero would still move the histogram's max.
            if n > 0 {
                h.saturating_record_n(k as u64 + 1, n);
            }
        }
        h
    }

    /// Run-wide totals.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// The counts of the interval still open.
    pub fn current(&self) -> &Interval {
        &self.current
    }
}
