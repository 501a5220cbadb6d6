//! What a run measured: per-interval series and HDR histograms.
//!
//! Memory is fixed per interval (one [`Interval`] and one [`SiteInterval`]
//! per site) plus two fixed-size histograms, whatever the traffic.

use hdrhistogram::Histogram;
use serde::Serialize;

pub use super::interval::Interval;
use super::interval::merge;
use crate::time::{SimDuration, SimTime};

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
    /// Router weight published at the end of the interval (0: out of
    /// rotation); the clients' answers follow it `router.propagation`
    /// later.
    pub weight: u32,
    /// Whether health checks saw it healthy at the end of the interval.
    pub healthy: bool,
    /// The load balancer's accept rate at the end of the interval, new
    /// attempts per second (0: unlimited).
    pub accept_rate: f64,
    /// Backends in its balancer's rotation by its autoscaler at the end
    /// of the interval (all of its backends without one).
    pub in_service: u32,
}

/// Totals over the whole run that the series does not keep.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
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

/// Where a streaming run's rows go as each interval closes: one
/// [`Interval`] and its sites' rows, in time order, at full resolution.
/// See [`Simulation::stream_rows`](super::Simulation::stream_rows).
pub trait RowSink: Send {
    /// Takes the interval that just closed.
    fn row(&mut self, interval: &Interval, sites: &[SiteInterval]);
}

/// Series and histograms of a run.
///
/// By default every interval is kept. A streaming run (see
/// [`Simulation::stream_rows`](super::Simulation::stream_rows)) keeps at
/// most a set number of rows instead: when full, adjacent rows are merged
/// pairwise, so each kept row covers [`interval`](Self::interval) (a power
/// of two times the configured one) and memory stays bounded however long
/// the run; its verdict and totals are computed from every interval as it
/// closes.
#[derive(Clone, Debug)]
pub struct Recorder {
    pub(crate) interval: SimDuration,
    /// The most rows kept (`None`: all of them).
    limit: Option<usize>,
    /// Configured intervals per kept row.
    width: u64,
    /// Configured intervals in the last kept row.
    last_fill: u64,
    /// The verdict and totals of a streaming run, kept as rows close.
    pub(crate) live: Option<super::tally::Tally>,
    pub(crate) sites: usize,
    pub(crate) series: Vec<Interval>,
    pub(crate) site_series: Vec<SiteInterval>,
    pub(crate) current: Interval,
    pub(crate) latency: Histogram<u64>,
    /// The open interval's latencies, for its percentiles.
    interval_latency: Histogram<u64>,
    /// Requests that ended after `k + 1` attempts, for `k` below
    /// [`FEW_ATTEMPTS`]: nearly all of them, counted here instead of in
    /// the histogram, whose record costs a bucket computation.
    few_attempts: [u64; FEW_ATTEMPTS],
    /// Requests that ended after more attempts.
    attempts: Histogram<u64>,
    pub(crate) totals: Totals,
    /// Where the series' time ends (the last closed boundary).
    pub(crate) closed_until: SimTime,
    /// Intervals starting before this are the warm-up: their requests
    /// count in their rows (the series shows them) but not in the
    /// run-wide histograms, as they count in no total of the summary.
    warm_up: SimTime,
}

/// Attempt counts below this are counted in an array.
const FEW_ATTEMPTS: usize = 8;

/// Largest latency the histogram keeps exactly (larger values saturate):
/// about 19.5 hours.
const MAX_LATENCY_NS: u64 = 1 << 46;

impl Recorder {
    pub(crate) fn new(interval: SimDuration, sites: usize, warm_up: SimDuration) -> Self {
        Self {
            interval,
            limit: None,
            width: 1,
            last_fill: 0,
            live: None,
            sites,
            series: Vec::new(),
            site_series: Vec::new(),
            current: Interval::default(),
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid bounds"),
            interval_latency: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 2)
                .expect("valid bounds"),
            few_attempts: [0; FEW_ATTEMPTS],
            attempts: Histogram::new_with_bounds(1, 1 << 20, 3).expect("valid bounds"),
            totals: Totals::default(),
            closed_until: SimTime::ZERO,
            warm_up: SimTime(warm_up.0),
        }
    }

    /// Whether the open interval is past the warm-up (the rule the
    /// verdict's tally applies to whole rows).
    #[inline]
    fn measured(&self) -> bool {
        self.current.start >= self.warm_up
    }

    /// Always inlined: out of line (as the inliner chose once the
    /// engine's stores of reused places became one generic type) its call
    /// cost 0.5 % of the simulator benchmark's instructions.
    #[inline(always)]
    pub(crate) fn success(&mut self, latency: SimDuration, attempts: u32) {
        self.current.successes += 1;
        self.current.latency_sum_ns = self.current.latency_sum_ns.saturating_add(latency.0);
        let ns = latency.0.clamp(1, MAX_LATENCY_NS);
        if self.measured() {
            self.latency.saturating_record(ns);
        }
        self.interval_latency.saturating_record(ns);
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
        if !self.measured() {
            return;
        }
        let k = attempts.max(1) as usize - 1;
        match self.few_attempts.get_mut(k) {
            Some(count) => *count += 1,
            None => self.attempts.saturating_record(k as u64 + 1),
        }
    }

    /// Keeps at most `limit` rows (at least 2) from now on, judging every
    /// interval with `tally` as it closes.
    pub(crate) fn bound(&mut self, limit: usize, tally: super::tally::Tally) {
        self.limit = Some(limit.max(2));
        self.live = Some(tally);
    }

    /// Closes the current interval, with one row per site, handing it to
    /// `sink` first.
    pub(crate) fn close(
        &mut self,
        end: SimTime,
        sites: Vec<SiteInterval>,
        sink: Option<&mut (dyn RowSink + '_)>,
    ) {
        let next_start = end;
        let mut done = std::mem::take(&mut self.current);
        done.start = self.closed_until;
        if !self.interval_latency.is_empty() {
            done.p50_ns = self.interval_latency.value_at_quantile(0.5);
            done.p99_ns = self.interval_latency.value_at_quantile(0.99);
            self.interval_latency.reset();
        }
        if let Some(sink) = sink {
            sink.row(&done, &sites);
        }
        if let Some(tally) = &mut self.live {
            tally.push(&done);
        }
        match self.limit {
            None => {
                self.series.push(done);
                self.site_series.extend(sites);
            }
            Some(limit) => self.keep(done, sites, limit),
        }
        self.current.start = next_start;
        self.closed_until = end;
    }

    /// Adds a row to a bounded series: into the last kept row while it
    /// covers fewer than `width` intervals, else as a new row, after
    /// merging pairs if the series is full.
    fn keep(&mut self, row: Interval, sites: Vec<SiteInterval>, limit: usize) {
        let n = self.sites;
        if self.last_fill > 0 && self.last_fill < self.width {
            let i = self.series.len() - 1;
            merge(&mut self.series[i], &row);
            let (a, b) = (self.last_fill as f64, 1.0);
            for (s, new) in sites.iter().enumerate() {
                merge_site(&mut self.site_series[i * n + s], new, a, b);
            }
            self.last_fill += 1;
            return;
        }
        if self.series.len() >= limit {
            // Every row is full: merge pairs, doubling the width.
            let w = self.width as f64;
            let rows = self.series.len();
            for j in 0..rows / 2 {
                let next = self.series[2 * j + 1].clone();
                let mut first = self.series[2 * j].clone();
                merge(&mut first, &next);
                self.series[j] = first;
                for s in 0..n {
                    let next = self.site_series[(2 * j + 1) * n + s].clone();
                    let mut first = self.site_series[2 * j * n + s].clone();
                    merge_site(&mut first, &next, w, w);
                    self.site_series[j * n + s] = first;
                }
            }
            if rows % 2 == 1 {
                self.series[rows / 2] = self.series[rows - 1].clone();
                for s in 0..n {
                    self.site_series[rows / 2 * n + s] =
                        self.site_series[(rows - 1) * n + s].clone();
                }
            }
            let kept = rows.div_ceil(2);
            self.series.truncate(kept);
            self.site_series.truncate(kept * n);
            self.width *= 2;
            if rows % 2 == 1 {
                // The odd row out holds half the new width: keep filling it.
                self.last_fill = self.width / 2;
                return self.keep(row, sites, limit);
            }
        }
        self.series.push(row);
        self.site_series.extend(sites);
        self.last_fill = 1;
    }

    /// The time each row of [`series`](Self::series) covers: the
    /// configured interval, or a power of two times it once a bounded
    /// recorder has merged rows.
    pub fn interval(&self) -> SimDuration {
        SimDuration(self.interval.0.saturating_mul(self.width))
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
    /// success) after the warm-up (`recorder.warm_up`), ns.
    pub fn latency(&self) -> &Histogram<u64> {
        &self.latency
    }

    /// Attempts per finished request (successes, failures and requests
    /// the client refused) after the warm-up, as a new histogram.
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

/// Merges site row `b` (covering `wb` intervals) into `a` (covering `wa`):
/// counts add, time averages are weighted, end-of-interval states are
/// `b`'s.
fn merge_site(a: &mut SiteInterval, b: &SiteInterval, wa: f64, wb: f64) {
    let mean = |x: f64, y: f64| (x * wa + y * wb) / (wa + wb);
    a.admitted += b.admitted;
    a.rejected += b.rejected;
    a.utilisation = mean(a.utilisation, b.utilisation);
    a.mean_queue = mean(a.mean_queue, b.mean_queue);
    a.mean_in_flight = mean(a.mean_in_flight, b.mean_in_flight);
    a.weight = b.weight;
    a.healthy = b.healthy;
    a.accept_rate = b.accept_rate;
    a.in_service = b.in_service;
}
