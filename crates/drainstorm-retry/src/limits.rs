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
//!   a site load balancer to accept them (its accept backlog). Default 1024.
//! - `max_retries`: retries outstanding at once, from the decision to retry
//!   until that retry attempt's outcome. Default 3.
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

/// The thresholds (`None`: no limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
}

impl LimitsConfig {
    /// Envoy's defaults: 1024 requests, 1024 pending, 3 retries.
    pub const ENVOY: Self = Self {
        max_requests: Some(1024),
        max_pending_requests: Some(1024),
        max_retries: Some(3),
    };

    /// Whether no threshold is set.
    pub fn is_unlimited(&self) -> bool {
        *self == Self::default()
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
        Self {
            config,
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

    /// Counts a retry, or returns `false` if `max_retries` are outstanding.
    pub fn try_retry(&mut self) -> bool {
        take(&mut self.retries, self.config.max_retries)
    }

    /// A retry counted by [`try_retry`](Self::try_retry) has its outcome.
    pub fn retry_done(&mut self) {
        debug_assert!(self.retries > 0);
        self.retries = self.retries.saturating_sub(1);
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
        });
        assert!(!l.try_retry(), "0 forbids retries");
        assert!(l.try_pend() && !l.try_pend());
        assert!(l.try_request() && l.try_request() && !l.try_request());
        l.request_done();
        l.pend_done();
        assert!(l.try_request() && l.try_pend());
    }
}
