//! Server-side adaptive concurrency: Envoy's gradient controller
//! (`envoy.filters.http.adaptive_concurrency`).
//!
//! See [`GradientController`].

use super::BalancerError;
use super::hash::{next_random, reduce};

/// Parameters of a [`GradientController`], with Envoy's names and
/// defaults. Times are nanoseconds; percentages are 0–100, as Envoy's
/// `type.v3.Percent`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConcurrencyParams {
    /// The percentile of the samples that stands for them (default 50).
    pub sample_aggregate_percentile: f64,
    /// The highest limit (default 1000).
    pub max_concurrency_limit: u32,
    /// Time between limit updates (Envoy requires it; default 100 ms, its
    /// documentation's example).
    pub concurrency_update_interval_ns: u64,
    /// Time between minRTT windows (Envoy requires it; default 60 s, its
    /// documentation's example). Ignored with `fixed_min_rtt_ns`.
    pub min_rtt_interval_ns: u64,
    /// A minRTT given instead of measured (Envoy's `fixed_value`): no
    /// windows are held.
    pub fixed_min_rtt_ns: Option<u64>,
    /// Answers a minRTT window waits for (default 50).
    pub request_count: u32,
    /// The most a window's start is put off, as a percentage of
    /// `min_rtt_interval_ns` (default 15).
    pub jitter_percent: f64,
    /// The limit during a minRTT window, and the lowest limit (default 3).
    pub min_concurrency: u32,
    /// The share added to the minRTT before it is compared, as a
    /// percentage (default 25).
    pub buffer_percent: f64,
}

impl Default for ConcurrencyParams {
    fn default() -> Self {
        Self {
            sample_aggregate_percentile: 50.0,
            max_concurrency_limit: 1000,
            concurrency_update_interval_ns: 100_000_000,
            min_rtt_interval_ns: 60_000_000_000,
            fixed_min_rtt_ns: None,
            request_count: 50,
            jitter_percent: 15.0,
            min_concurrency: 3,
            buffer_percent: 25.0,
        }
    }
}

impl ConcurrencyParams {
    /// Checks every range; the error names the parameter.
    pub fn check(&self) -> Result<(), BalancerError> {
        let bad = |name, value: String, allowed| {
            Err(BalancerError::InvalidParameter {
                name,
                value,
                allowed,
            })
        };
        let p = self.sample_aggregate_percentile;
        if !(p > 0.0 && p <= 100.0) {
            return bad(
                "sample_aggregate_percentile",
                p.to_string(),
                "above 0 and at most 100",
            );
        }
        if self.min_concurrency == 0 {
            return bad("min_concurrency", "0".into(), "at least 1");
        }
        if self.max_concurrency_limit < self.min_concurrency {
            return bad(
                "max_concurrency_limit",
                self.max_concurrency_limit.to_string(),
                "at least min_concurrency",
            );
        }
        if self.concurrency_update_interval_ns == 0 {
            return bad("concurrency_update_interval", "0".into(), "above 0");
        }
        if self.fixed_min_rtt_ns.is_none() && self.min_rtt_interval_ns == 0 {
            return bad("interval", "0".into(), "above 0 (or a fixed_value)");
        }
        if self.fixed_min_rtt_ns == Some(0) {
            return bad("fixed_value", "0".into(), "above 0");
        }
        if self.request_count == 0 {
            return bad("request_count", "0".into(), "at least 1");
        }
        let j = self.jitter_percent;
        if !(0.0..=100.0).contains(&j) {
            return bad("jitter", j.to_string(), "0 to 100");
        }
        let b = self.buffer_percent;
        if !(0.0..=100.0).contains(&b) {
            return bad("buffer", b.to_string(), "0 to 100");
        }
        Ok(())
    }
}

/// Envoy's adaptive concurrency gradient controller.
///
/// A proxy in front of a service limits the requests it has outstanding
/// to the service, and learns the limit from their latency:
///
/// - every `concurrency_update_interval` it takes a percentile of the
///   latencies answered since the last update (the *sample RTT*) and sets
///   `limit ← limit × g + √(limit × g)`, where the gradient `g = (minRTT ×
///   (1 + buffer)) / sampleRTT`, clamped to `[0.5, 2]`, and the limit to
///   `[min_concurrency, max_concurrency_limit]`;
/// - every `interval` (plus up to `jitter` of it, drawn at random) it pins
///   the limit to `min_concurrency` until `request_count` requests sent
///   since then have answered, and takes their percentile as the new
///   *minRTT* — the latency of the service when it is not queueing. Five
///   updates in a row at the minimum start such a window at once (the
///   minRTT is then likely stale);
/// - a request over the limit is answered at once with a 503.
///
/// The logic follows Envoy's `GradientController`
/// (`source/extensions/filters/http/adaptive_concurrency/controller/`);
/// the defaults are its own, and the two intervals Envoy requires default
/// to its documentation's example (100 ms, 60 s). Two differences: the
/// percentile is the exact nearest rank of the samples, where Envoy reads
/// it from a log-linear histogram of two significant digits, and timers
/// due at the same instant run the sample update before the minRTT window.
///
/// # State and time
///
/// A controller is single-owner state (`&mut self`), driven by the
/// caller's clock in nanoseconds: a proxy keeps one per worker, or one
/// behind whatever its owner serialises on; a simulator calls
/// [`advance`](GradientController::advance) at
/// [`next_deadline`](GradientController::next_deadline). Its memory is the
/// latency samples of one update interval (or one minRTT window).
///
/// # Example
///
/// ```
/// use drainstorm_balancer::{ConcurrencyParams, GradientController};
///
/// let mut c = GradientController::new(ConcurrencyParams::default(), 0, 7)?;
/// // It starts by measuring the minRTT at the minimum concurrency.
/// assert!(c.in_min_rtt_window());
/// assert_eq!(c.limit(), 3);
/// assert!(c.try_forward() && c.try_forward() && c.try_forward());
/// assert!(!c.try_forward(), "a fourth request is over the limit");
/// // 50 answers of 10 ms end the window.
/// for i in 0..50u64 {
///     if i >= 3 {
///         assert!(c.try_forward());
///     }
///     c.record(i * 10_000_000, (i + 1) * 10_000_000);
/// }
/// assert_eq!(c.min_rtt(), Some(10_000_000));
/// assert!(!c.in_min_rtt_window());
/// # Ok::<(), drainstorm_balancer::BalancerError>(())
/// ```
#[derive(Clone, Debug)]
pub struct GradientController {
    params: ConcurrencyParams,
    limit: u32,
    /// The limit to restore when the minRTT window ends; 0 outside one.
    deferred: u32,
    outstanding: u32,
    samples: Vec<u64>,
    min_rtt: Option<u64>,
    sample_rtt: Option<u64>,
    /// When the last minRTT window started: answers to requests sent
    /// before it are not sampled.
    epoch: u64,
    /// Updates in a row that left the limit at the minimum.
    at_minimum: u32,
    update_at: Option<u64>,
    window_at: Option<u64>,
    rng: u64,
    blocked: u64,
}

impl GradientController {
    /// A controller started at `now`: it opens a minRTT window at once
    /// (unless the minRTT is fixed), and its first update is one interval
    /// later. `seed` drives the windows' jitter.
    pub fn new(params: ConcurrencyParams, now: u64, seed: u64) -> Result<Self, BalancerError> {
        params.check()?;
        let mut c = Self {
            params,
            limit: params.min_concurrency,
            deferred: 0,
            outstanding: 0,
            samples: Vec::new(),
            min_rtt: params.fixed_min_rtt_ns,
            sample_rtt: None,
            epoch: 0,
            at_minimum: 0,
            update_at: Some(now.saturating_add(params.concurrency_update_interval_ns)),
            window_at: None,
            rng: seed,
            blocked: 0,
        };
        if params.fixed_min_rtt_ns.is_none() {
            c.enter_window(now);
        }
        Ok(c)
    }

    /// The parameters.
    pub fn params(&self) -> &ConcurrencyParams {
        &self.params
    }

    /// The limit in effect.
    #[inline]
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Requests forwarded and not yet answered or cancelled.
    #[inline]
    pub fn outstanding(&self) -> u32 {
        self.outstanding
    }

    /// The minRTT in use (`None` until the first window ends).
    pub fn min_rtt(&self) -> Option<u64> {
        self.min_rtt
    }

    /// The sample RTT of the last update that had samples.
    pub fn sample_rtt(&self) -> Option<u64> {
        self.sample_rtt
    }

    /// Whether a minRTT window is open (the limit pinned to the minimum).
    #[inline]
    pub fn in_min_rtt_window(&self) -> bool {
        self.deferred > 0
    }

    /// Requests refused over the limit so far (Envoy's `rq_blocked`).
    pub fn blocked(&self) -> u64 {
        self.blocked
    }

    /// Whether a new request may go on: if so it is outstanding until
    /// [`record`](Self::record) or [`cancel`](Self::cancel); if not, the
    /// caller answers it with a 503.
    #[inline]
    pub fn try_forward(&mut self) -> bool {
        if self.outstanding < self.limit {
            self.outstanding += 1;
            true
        } else {
            self.blocked += 1;
            false
        }
    }

    /// A forwarded request sent at `sent_at` was answered at `now` (with
    /// any status): its latency is a sample, unless it was sent before the
    /// last minRTT window opened. The window closes on its
    /// `request_count`-th sample.
    pub fn record(&mut self, sent_at: u64, now: u64) {
        debug_assert!(self.outstanding > 0, "record without try_forward");
        self.outstanding = self.outstanding.saturating_sub(1);
        if sent_at < self.epoch {
            return;
        }
        self.samples.push(now.saturating_sub(sent_at));
        if self.in_min_rtt_window() && self.samples.len() >= self.params.request_count as usize {
            self.close_window(now);
        }
    }

    /// A forwarded request ended without an answer (its client went away).
    pub fn cancel(&mut self) {
        debug_assert!(self.outstanding > 0, "cancel without try_forward");
        self.outstanding = self.outstanding.saturating_sub(1);
    }

    /// When a timer is next due, if any is armed (none is while a minRTT
    /// window waits for its answers).
    pub fn next_deadline(&self) -> Option<u64> {
        match (self.update_at, self.window_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs every timer due at or before `now`, each at its own time.
    pub fn advance(&mut self, now: u64) {
        loop {
            let update = self.update_at.filter(|&t| t <= now);
            let window = self.window_at.filter(|&t| t <= now);
            match (update, window) {
                (Some(u), w) if w.is_none_or(|w| u <= w) => self.on_update(u),
                (_, Some(w)) => {
                    self.window_at = None;
                    self.enter_window(w);
                }
                _ => return,
            }
        }
    }

    /// The update timer fires at `t`.
    fn on_update(&mut self, t: u64) {
        self.update_at = None;
        if self.in_min_rtt_window() {
            // Re-armed when the window closes.
            return;
        }
        self.update_at = Some(t.saturating_add(self.params.concurrency_update_interval_ns));
        if self.samples.is_empty() {
            return;
        }
        let sample = self.take_percentile();
        self.sample_rtt = Some(sample);
        let limit = self.new_limit(sample);
        self.set_limit(limit, t);
    }

    /// The limit the gradient gives from a sample RTT.
    fn new_limit(&self, sample: u64) -> u32 {
        let min_rtt = self.min_rtt.unwrap_or(0) as f64;
        let buffered = min_rtt + min_rtt * self.params.buffer_percent / 100.0;
        let gradient = if sample == 0 {
            2.0
        } else {
            (buffered / sample as f64).clamp(0.5, 2.0)
        };
        let limit = f64::from(self.limit) * gradient;
        let raised = (limit + limit.sqrt()) as u32;
        raised.clamp(
            self.params.min_concurrency,
            self.params.max_concurrency_limit,
        )
    }

    /// Sets the limit at `t`; five updates in a row at the minimum outside
    /// a window arm a window at once.
    fn set_limit(&mut self, limit: u32, t: u64) {
        let min = self.params.min_concurrency;
        let old = std::mem::replace(&mut self.limit, limit);
        if !self.in_min_rtt_window() && old == min && limit == min {
            self.at_minimum += 1;
        } else {
            self.at_minimum = 0;
        }
        if self.at_minimum >= 5 && self.params.fixed_min_rtt_ns.is_none() {
            self.window_at = Some(t);
        }
    }

    /// Opens a minRTT window at `t`.
    fn enter_window(&mut self, t: u64) {
        if self.in_min_rtt_window() {
            return;
        }
        self.deferred = self.limit;
        self.set_limit(self.params.min_concurrency, t);
        self.samples.clear();
        self.epoch = t;
    }

    /// Closes the minRTT window at `now` with its samples' percentile, and
    /// arms both timers.
    fn close_window(&mut self, now: u64) {
        self.min_rtt = Some(self.take_percentile());
        self.set_limit(self.deferred, now);
        self.deferred = 0;
        self.window_at = Some(now.saturating_add(self.jittered_interval()));
        self.update_at = Some(now.saturating_add(self.params.concurrency_update_interval_ns));
    }

    /// The minRTT interval put off by up to `jitter` percent of it.
    fn jittered_interval(&mut self) -> u64 {
        let interval = self.params.min_rtt_interval_ns;
        let range = (interval as f64 * self.params.jitter_percent / 100.0).ceil() as u64;
        if range == 0 {
            return interval;
        }
        let r = reduce(next_random(&mut self.rng), range as usize) as u64;
        interval.saturating_add(r)
    }

    /// The samples' percentile (nearest rank), clearing them.
    fn take_percentile(&mut self) -> u64 {
        let n = self.samples.len();
        let rank = (self.params.sample_aggregate_percentile / 100.0 * n as f64).ceil() as usize;
        let i = rank.clamp(1, n) - 1;
        let (_, &mut v, _) = self.samples.select_nth_unstable(i);
        self.samples.clear();
        v
    }
}

#[cfg(test)]
#[path = "concurrency_tests.rs"]
mod tests;
