//! Concurrency limits at the client: Envoy's circuit-breaker thresholds.
//!
//! Budgets and breakers decide *whether* to retry; they do not bound how
//! much a client holds at once. A real client does have such bounds — a
//! connection pool, a proxy's resource limits — and they decide whether a
//! storm can drain: a client that may hold any number of requests and
//! retries at once keeps feeding an overloaded system, one that holds at
//! most a few fails the excess fast and lets the queues empty. Envoy's
//! cluster circuit breakers ("Circuit breaking", Envoy architecture
//! overview; `envoy.config.cluster.v3.CircuitBreakers.Thresholds`) are the
//! model:
//!
//! - `max_requests`: requests outstanding at once (from admission to their
//!   end, backoff included). Envoy's default is 1024.
//! - `max_pending_requests`: attempts waiting for a connection — here, for
//!   a site load balancer to accept them (its accept backlog), or, when the
//!   site is a network round trip away, from their send until the client
//!   hears that the site took them. Default 1024.
//! - `max_retries`: retries outstanding at once, from the decision to retry
//!   until that retry attempt's outcome. Default 3.
//! - `retry_budget` (Envoy's `Thresholds.RetryBudget`), in place of
//!   `max_retries`: retries outstanding at once may be `budget_percent` of
//!   the requests and pending attempts outstanding, and never fewer than
//!   `min_retry_concurrency`. Defaults 20 % and 3. A fixed `max_retries`
//!   is either too tight for a busy client or too loose for a quiet one;
//!   the budget follows the client's own load.
//! - `adaptive`: a limit on attempts in flight that each instance learns
//!   from its round trips (Netflix concurrency-limits' Vegas, Gradient2 or
//!   AIMD; see [`AdaptiveLimit`]).
//!
//! A request that meets a full limit is not queued: it fails at once
//! (Envoy answers 503 with `x-envoy-overloaded`), and the simulator counts
//! it as an *overflow*.
//!
//! ```
//! use drainstorm_retry::{ClientLimits, LimitsConfig};
//!
//! let mut limits = ClientLimits::new(LimitsConfig { max_retries: Some(1), ..LimitsConfig::default() });
//! assert!(limits.try_retry());
//! assert!(!limits.try_retry()); // a second concurrent retry overflows
//! limits.retry_done();
//! assert!(limits.try_retry());
//! ```

use super::adaptive::{AdaptiveLimit, AdaptiveLimiter};
use super::time::SimDuration;

/// The thresholds (`None`: no limit).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct LimitsConfig {
    /// Requests outstanding at once (≥ 1).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub max_requests: Option<u32>,
    /// Attempts waiting to be accepted at once (≥ 1).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub max_pending_requests: Option<u32>,
    /// Retries outstanding at once (≥ 0: 0 forbids retrying).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub max_retries: Option<u32>,
    /// Retries outstanding at once as a share of the requests and pending
    /// attempts outstanding; replaces `max_retries` (set one of them).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub retry_budget: Option<RetryBudgetLimit>,
    /// An adaptive limit on attempts in flight (Netflix's Vegas, Gradient2
    /// or AIMD; see [`AdaptiveLimit`]), each instance learning its own.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub adaptive: Option<AdaptiveLimit>,
}

impl LimitsConfig {
    /// Envoy's defaults: 1024 requests, 1024 pending, 3 retries.
    pub const ENVOY: Self = Self {
        max_requests: Some(1024),
        max_pending_requests: Some(1024),
        max_retries: Some(3),
        retry_budget: None,
        adaptive: None,
    };

    /// Envoy's defaults with its retry budget in place of `max_retries`:
    /// 1024 requests, 1024 pending, retries up to 20 % of those
    /// outstanding and at least 3.
    pub const ENVOY_RETRY_BUDGET: Self = Self {
        max_retries: None,
        retry_budget: Some(RetryBudgetLimit::ENVOY),
        ..Self::ENVOY
    };

    /// The retries that may be outstanding at once while `outstanding`
    /// requests and pending attempts are (`None`: no limit).
    #[inline]
    pub fn retry_limit(&self, outstanding: u32) -> Option<u32> {
        match &self.retry_budget {
            Some(b) => Some(b.max_retries(outstanding)),
            None => self.max_retries,
        }
    }

    /// Whether no threshold is set.
    pub fn is_unlimited(&self) -> bool {
        *self == Self::default()
    }
}

/// Envoy's retry budget (`config.cluster.v3.CircuitBreakers.Thresholds.RetryBudget`):
/// concurrent retries limited to a share of the concurrent requests.
///
/// ```
/// use drainstorm_retry::RetryBudgetLimit;
///
/// let envoy = RetryBudgetLimit::ENVOY; // 20 %, at least 3
/// assert_eq!(envoy.max_retries(0), 3);
/// assert_eq!(envoy.max_retries(100), 20);
/// assert_eq!(envoy.max_retries(104), 20); // rounded down, as Envoy does
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct RetryBudgetLimit {
    /// Retries outstanding as a percentage of the requests and pending
    /// attempts outstanding, in [0, 100]. Envoy's default: 20.
    pub budget_percent: f64,
    /// The fewest retries the budget allows at once, however few requests
    /// are outstanding. Envoy's default: 3.
    pub min_retry_concurrency: u32,
}

impl RetryBudgetLimit {
    /// Envoy's defaults: 20 %, at least 3.
    pub const ENVOY: Self = Self {
        budget_percent: 20.0,
        min_retry_concurrency: 3,
    };

    /// The retries allowed at once while `outstanding` requests and
    /// pending attempts are: `budget_percent` of them rounded down, and
    /// at least `min_retry_concurrency`.
    #[inline]
    pub fn max_retries(&self, outstanding: u32) -> u32 {
        // Multiplied first: the product of a whole or half percentage and
        // a u32 is exact in a double, so the quotient rounds down exactly
        // where the share is whole. The result is at most `outstanding`,
        // and the conversion truncates, as Envoy's does.
        let share = (self.budget_percent * f64::from(outstanding) / 100.0) as u32;
        share.max(self.min_retry_concurrency)
    }
}

impl Default for RetryBudgetLimit {
    fn default() -> Self {
        Self::ENVOY
    }
}

/// The counters of one client (or client group) against its thresholds.
/// Each `try_` call that returns `true` must be matched by its `_done`
/// call.
#[derive(Clone, Debug, Default)]
pub struct ClientLimits {
    config: LimitsConfig,
    requests: u32,
    pending: u32,
    retries: u32,
    adaptive: Option<AdaptiveLimiter>,
}

fn take(count: &mut u32, max: Option<u32>) -> bool {
    if max.is_some_and(|m| *count >= m) {
        return false;
    }
    *count += 1;
    true
}

impl ClientLimits {
    /// Counters at zero under `config`.
    pub fn new(config: LimitsConfig) -> Self {
        Self::seeded(config, 0)
    }

    /// Counters at zero under `config`; `seed` drives the adaptive
    /// limit's random draws (Vegas's probe jitter), so that instances
    /// built from different seeds do not probe in step.
    pub fn seeded(config: LimitsConfig, seed: u64) -> Self {
        Self {
            config,
            adaptive: config.adaptive.map(|a| AdaptiveLimiter::new(a, seed)),
            ..Self::default()
        }
    }

    /// The thresholds.
    pub fn config(&self) -> &LimitsConfig {
        &self.config
    }

    /// Counts a new request, or returns `false` if `max_requests` are
    /// outstanding.
    pub fn try_request(&mut self) -> bool {
        take(&mut self.requests, self.config.max_requests)
    }

    /// A request counted by [`try_request`](Self::try_request) ended.
    pub fn request_done(&mut self) {
        debug_assert!(self.requests > 0);
        self.requests = self.requests.saturating_sub(1);
    }

    /// Counts an attempt that must wait to be accepted, or returns `false`
    /// if `max_pending_requests` already wait.
    pub fn try_pend(&mut self) -> bool {
        take(&mut self.pending, self.config.max_pending_requests)
    }

    /// A waiting attempt was accepted.
    pub fn pend_done(&mut self) {
        debug_assert!(self.pending > 0);
        self.pending = self.pending.saturating_sub(1);
    }

    /// Counts a retry, or returns `false` if `max_retries` are outstanding
    /// (with a retry budget: as many as it allows for the requests and
    /// pending attempts outstanding now).
    pub fn try_retry(&mut self) -> bool {
        let limit = self
            .config
            .retry_limit(self.requests.saturating_add(self.pending));
        take(&mut self.retries, limit)
    }

    /// A retry counted by [`try_retry`](Self::try_retry) has its outcome.
    pub fn retry_done(&mut self) {
        debug_assert!(self.retries > 0);
        self.retries = self.retries.saturating_sub(1);
    }

    /// Counts an attempt about to be sent against the adaptive limit:
    /// `Some(n)` with `n` the attempts in flight with it (0 without an
    /// adaptive limit), or `None` if the limit is full. Match a `Some(n)`
    /// with `n > 0` by [`attempt_done`](Self::attempt_done) or
    /// [`attempt_ignored`](Self::attempt_ignored).
    #[inline]
    pub fn try_attempt(&mut self) -> Option<u32> {
        match &mut self.adaptive {
            Some(a) => a.try_acquire(),
            None => Some(0),
        }
    }

    /// An attempt counted by [`try_attempt`](Self::try_attempt) ended
    /// after `rtt`; `dropped`: it failed for a reason that signals
    /// overload.
    #[inline]
    pub fn attempt_done(&mut self, rtt: SimDuration, in_flight: u32, dropped: bool) {
        if let Some(a) = &mut self.adaptive {
            a.complete(rtt, in_flight, dropped);
        }
    }

    /// An attempt counted by [`try_attempt`](Self::try_attempt) ended with
    /// nothing to learn from (the request was abandoned before it).
    #[inline]
    pub fn attempt_ignored(&mut self) {
        if let Some(a) = &mut self.adaptive {
            a.ignore();
        }
    }

    /// The adaptive limit, if the thresholds set one.
    pub fn adaptive(&self) -> Option<&AdaptiveLimiter> {
        self.adaptive.as_ref()
    }

    /// Requests outstanding.
    pub fn requests(&self) -> u32 {
        self.requests
    }

    /// Attempts waiting to be accepted.
    pub fn pending(&self) -> u32 {
        self.pending
    }

    /// Retries outstanding.
    pub fn retries(&self) -> u32 {
        self.retries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_takes_everything() {
        let mut l = ClientLimits::new(LimitsConfig::default());
        assert!((0..10_000).all(|_| l.try_request() && l.try_pend() && l.try_retry()));
        assert_eq!(
            (l.requests(), l.pending(), l.retries()),
            (10_000, 10_000, 10_000)
        );
    }

    #[test]
    fn each_threshold_is_separate() {
        let mut l = ClientLimits::new(LimitsConfig {
            max_requests: Some(2),
            max_pending_requests: Some(1),
            max_retries: Some(0),
            retry_budget: None,
            adaptive: None,
        });
        assert!(!l.try_retry(), "0 forbids retries");
        assert!(l.try_pend() && !l.try_pend());
        assert!(l.try_request() && l.try_request() && !l.try_request());
        l.request_done();
        l.pend_done();
        assert!(l.try_request() && l.try_pend());
    }

    #[test]
    fn a_retry_budget_follows_the_requests_outstanding() {
        let mut l = ClientLimits::new(LimitsConfig::ENVOY_RETRY_BUDGET);
        // Nothing outstanding: the minimum, 3.
        assert!((0..3).all(|_| l.try_retry()) && !l.try_retry());
        (0..3).for_each(|_| l.retry_done());
        // 50 requests and 10 pending: 20 % of 60 = 12.
        assert!((0..50).all(|_| l.try_request()) && (0..10).all(|_| l.try_pend()));
        assert!((0..12).all(|_| l.try_retry()) && !l.try_retry());
        // Requests end: the retries already out stay, no new one starts.
        (0..40).for_each(|_| l.request_done());
        assert_eq!(l.retries(), 12);
        assert!(!l.try_retry());
        (0..12).for_each(|_| l.retry_done());
        // 10 + 10 outstanding: 4.
        assert!((0..4).all(|_| l.try_retry()) && !l.try_retry());
    }

    #[test]
    fn the_budget_rounds_down_and_never_goes_below_its_minimum() {
        // Percentages whose double is exact, against integer arithmetic.
        for percent in [0.0, 0.5, 12.5, 20.0, 37.5, 99.5, 100.0] {
            let halves = (percent * 2.0) as u64;
            for min in [0, 1, 3, 50] {
                let b = RetryBudgetLimit {
                    budget_percent: percent,
                    min_retry_concurrency: min,
                };
                for n in (0..5_000).chain([u32::MAX - 1, u32::MAX]) {
                    let share = (u64::from(n) * halves / 200) as u32;
                    assert_eq!(
                        b.max_retries(n),
                        share.max(min),
                        "{percent} % of {n}, min {min}"
                    );
                }
            }
        }
    }
}
