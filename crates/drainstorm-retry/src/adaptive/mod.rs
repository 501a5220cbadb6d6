//! Adaptive concurrency limits at the client: Netflix concurrency-limits'
//! Vegas, Gradient2 and AIMD.
//!
//! A fixed `max_requests` is either too tight for a busy client or too
//! loose for an overloaded server. An adaptive limit learns it instead:
//! the client measures each attempt's round trip and moves the number of
//! attempts it lets out at once, up while round trips stay short, down
//! when they grow (queueing) or attempts are dropped. An attempt that finds
//! the limit full is not sent: it fails at once, as Netflix's
//! `SimpleLimiter` refuses it, and the simulator counts it as an
//! *overflow*.
//!
//! The algorithms and their defaults are those of
//! [Netflix/concurrency-limits](https://github.com/Netflix/concurrency-limits)
//! (`VegasLimit`, `Gradient2Limit`, `AIMDLimit`):
//!
//! - **Vegas** (TCP Vegas): the round trip with no load, `rtt_noload`, is
//!   the least seen; the queue is estimated as
//!   `limit × (1 − rtt_noload / rtt)`. With `l = max(1, ⌊log10 limit⌋)`,
//!   the limit grows by `6l` while the queue is at most `l`, by `l` while
//!   it is under `3l`, and shrinks by `l` when it is over `6l` or an
//!   attempt was dropped. Every `probe_multiplier × limit` samples (times
//!   a jitter in [0.5, 1)) the next round trip replaces `rtt_noload`, so
//!   that a server that became slower for good is learnt.
//! - **Gradient2**: a long average of round trips (exponential, over
//!   `long_window` samples after ten samples of plain mean) against the
//!   latest round trip; the gradient `rtt_tolerance × long / short`,
//!   clamped to [0.5, 1], scales the limit, and `queue_size` is added:
//!   `limit ← limit × gradient + queue_size`, smoothed by `smoothing`.
//!   Drops are not a signal (as in Netflix's code). When the long average
//!   is more than twice the latest, it is cut by 5 % a sample, so that
//!   the limit comes back soon after an overload.
//! - **AIMD**: the limit drops to `backoff_ratio` of itself on a drop or a
//!   round trip over `timeout`, and grows by one otherwise.
//!
//! All three leave the limit alone while fewer than half of it are in
//! flight (the client, not the server, is the bottleneck), and keep it
//! within their minimum and maximum. Netflix's Vegas draws its probe jitter
//! from a thread-local random source; here it comes from a generator
//! seeded per limiter, so runs repeat.
//!
//! ```
//! use drainstorm_retry::{AdaptiveLimit, AdaptiveLimiter, Gradient2Limit, SimDuration};
//!
//! let g = Gradient2Limit { initial_limit: 100, min_limit: 10, ..Gradient2Limit::default() };
//! let mut l = AdaptiveLimiter::new(AdaptiveLimit::Gradient2(g), 7);
//! // A client that keeps its limit full: round trips of 10 ms, then 100 ms.
//! let mut send = |l: &mut AdaptiveLimiter, ms| {
//!     let n = l.try_acquire().expect("room under the limit");
//!     l.complete(SimDuration::from_millis(ms), n.max(l.limit()), false);
//! };
//! for _ in 0..50 {
//!     send(&mut l, 10);
//! }
//! let before = l.limit();
//! assert!(before > 100); // no queueing: it grows by queue_size × smoothing
//! for _ in 0..50 {
//!     send(&mut l, 100);
//! }
//! assert!(l.limit() < before / 2); // queueing: it falls by up to half
//! ```

mod config;

pub use self::config::{AdaptiveLimit, AimdLimit, Gradient2Limit, VegasLimit};

use super::time::SimDuration;

/// SplitMix64's step: Vegas's probe jitter needs a few well-spread draws
/// and no more.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Netflix's `Log10RootIntFunction`: `max(1, ⌊log10 n⌋)`.
#[inline]
fn log10_root(n: u32) -> f64 {
    f64::from(n.checked_ilog10().unwrap_or(0).max(1))
}

/// One client's adaptive limit and the attempts it holds against it.
///
/// Each [`try_acquire`](Self::try_acquire) that returns `Some` must be
/// matched by one [`complete`](Self::complete) (a measured round trip) or
/// [`ignore`](Self::ignore) (an attempt that ended without a measurement).
#[derive(Clone, Debug)]
pub struct AdaptiveLimiter {
    config: AdaptiveLimit,
    /// The estimated limit, fractional as in Netflix's code.
    limit: f64,
    in_flight: u32,
    /// Vegas: the least round trip (ns; 0 before the first sample).
    rtt_noload: u64,
    /// Vegas: samples since the last probe, and this probe's jitter.
    probe_count: u64,
    probe_jitter: f64,
    /// Vegas: the jitter's generator state.
    rng: u64,
    /// Gradient2: the long round-trip average (ns) and its sample count
    /// while warming up.
    long_rtt: f64,
    long_count: u32,
}

impl AdaptiveLimiter {
    /// A limiter at its initial limit, nothing in flight. `seed` drives
    /// Vegas's probe jitter. `config` should be
    /// [validated](AdaptiveLimit::validate).
    pub fn new(config: AdaptiveLimit, seed: u64) -> Self {
        let mut l = Self {
            config,
            limit: f64::from(config.initial_limit().max(1)),
            in_flight: 0,
            rtt_noload: 0,
            probe_count: 0,
            probe_jitter: 1.0,
            rng: seed,
            long_rtt: 0.0,
            long_count: 0,
        };
        l.reset_probe_jitter();
        l
    }

    /// The algorithm and its parameters.
    pub fn config(&self) -> &AdaptiveLimit {
        &self.config
    }

    /// The current limit: attempts allowed in flight at once.
    #[inline]
    pub fn limit(&self) -> u32 {
        self.limit as u32
    }

    /// Attempts in flight.
    #[inline]
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Counts an attempt and returns the attempts in flight with it (to be
    /// passed back to [`complete`](Self::complete)), or `None` if the limit
    /// is full.
    #[inline]
    pub fn try_acquire(&mut self) -> Option<u32> {
        if self.in_flight >= self.limit() {
            return None;
        }
        self.in_flight += 1;
        Some(self.in_flight)
    }

    /// An attempt ended without a sample (Netflix's `onIgnore`).
    #[inline]
    pub fn ignore(&mut self) {
        debug_assert!(self.in_flight > 0);
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// An attempt ended after `rtt`; `in_flight` is what
    /// [`try_acquire`](Self::try_acquire) returned for it, and `dropped`
    /// says whether it failed for a reason that signals overload (a
    /// timeout, a refusal).
    pub fn complete(&mut self, rtt: SimDuration, in_flight: u32, dropped: bool) {
        self.ignore();
        // Netflix requires rtt > 0; an attempt refused at once counts as 1 ns.
        let rtt = rtt.as_nanos().max(1);
        let inflight = f64::from(in_flight);
        let limit = self.limit;
        let next = match self.config {
            AdaptiveLimit::Vegas(v) => match self.vegas(v, rtt, inflight, dropped) {
                Some(next) => {
                    let next = next.clamp(1.0, f64::from(v.max_limit));
                    (1.0 - v.smoothing) * limit + v.smoothing * next
                }
                None => return,
            },
            AdaptiveLimit::Gradient2(g) => {
                let short = rtt as f64;
                let long = self.long_average(g.long_window, short);
                if long / short > 2.0 {
                    self.long_rtt *= 0.95;
                }
                if inflight < limit / 2.0 {
                    return;
                }
                let gradient = (g.rtt_tolerance * long / short).clamp(0.5, 1.0);
                let next = limit * gradient + g.queue_size;
                let next = limit * (1.0 - g.smoothing) + next * g.smoothing;
                next.clamp(f64::from(g.min_limit), f64::from(g.max_limit))
            }
            AdaptiveLimit::Aimd(a) => {
                let current = limit.floor();
                let next = if dropped || rtt > a.timeout.as_nanos() {
                    (current * a.backoff_ratio).floor()
                } else if inflight * 2.0 >= current {
                    current + 1.0
                } else {
                    current
                };
                next.clamp(f64::from(a.min_limit), f64::from(a.max_limit))
            }
        };
        self.limit = next;
    }

    /// Vegas's new limit before smoothing, or `None` to keep it.
    fn vegas(&mut self, v: VegasLimit, rtt: u64, inflight: f64, dropped: bool) -> Option<f64> {
        let limit = self.limit;
        self.probe_count += 1;
        if self.probe_jitter * f64::from(v.probe_multiplier) * limit <= self.probe_count as f64 {
            self.reset_probe_jitter();
            self.probe_count = 0;
            self.rtt_noload = rtt;
            return None;
        }
        if self.rtt_noload == 0 || rtt < self.rtt_noload {
            self.rtt_noload = rtt;
            return None;
        }
        let l = log10_root(limit as u32);
        if dropped {
            return Some(limit - l);
        }
        if inflight * 2.0 < limit {
            return None;
        }
        let queue = (limit * (1.0 - self.rtt_noload as f64 / rtt as f64)).ceil();
        if queue <= l {
            Some(limit + 6.0 * l)
        } else if queue < 3.0 * l {
            Some(limit + l)
        } else if queue > 6.0 * l {
            Some(limit - l)
        } else {
            None
        }
    }

    /// Adds a sample to Gradient2's long average and returns it.
    fn long_average(&mut self, window: u32, sample: f64) -> f64 {
        const WARMUP: u32 = 10;
        if self.long_count < WARMUP {
            self.long_count += 1;
            let n = f64::from(self.long_count);
            self.long_rtt += (sample - self.long_rtt) / n;
        } else {
            let factor = 2.0 / (f64::from(window) + 1.0);
            self.long_rtt = self.long_rtt * (1.0 - factor) + sample * factor;
        }
        self.long_rtt
    }

    fn reset_probe_jitter(&mut self) {
        let u = (splitmix64(&mut self.rng) >> 11) as f64 / (1u64 << 53) as f64;
        self.probe_jitter = 0.5 + 0.5 * u;
    }
}

#[cfg(test)]
mod tests;
