//! Retry budgets: how a client population limits its own retries.
//!
//! Retries are what turn an overload into a storm: every failed attempt
//! adds another, so offered load grows just when capacity shrank. A budget
//! caps retries as a share of the traffic, so that amplification stays
//! bounded whatever the failure rate. Three budgets from real clients:
//!
//! - [`TokenBucket`]: gRPC retry throttling (gRFC A6, "gRPC Retry Design",
//!   §"Throttling Retry Attempts and Hedged RPCs"): a failure costs 1
//!   token, a success earns `token_ratio`; retries are allowed only while
//!   tokens > `max_tokens / 2`.
//! - [`RetryQuota`]: AWS SDKs' standard retry mode: a quota of 500 tokens,
//!   a retry costs 5 (10 after a timeout), a successful retry refunds its
//!   cost and a first-try success adds 1.
//! - [`RatioBudget`]: Finagle's `RetryBudget` (as tower's `TpsBudget`):
//!   over a sliding `ttl`, retries may be `percent` of requests plus a
//!   reserve of `min_per_sec · ttl`.
//!
//! Budgets are charged when a retry is *scheduled*, not when it fires:
//! retries waiting in backoff already count, which closes the overshoot
//! Envoy issue #30205 describes (a burst of failures all scheduling
//! retries before any of them was counted).

use super::error::{RetryConfigError, check_range};
use super::window::Window;
use super::{SimDuration, SimTime};

/// gRPC's token-bucket retry throttle.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenBucket {
    max_tokens: f64,
    token_ratio: f64,
    tokens: f64,
}

impl TokenBucket {
    /// A full bucket. gRFC A6 limits `max_tokens` to (0, 1000] and
    /// `token_ratio` to (0, 1] (stored with 3 decimals there).
    pub fn new(max_tokens: f64, token_ratio: f64) -> Result<Self, RetryConfigError> {
        if !(max_tokens.is_finite() && max_tokens > 0.0 && max_tokens <= 1000.0) {
            return Err(RetryConfigError::new(
                "max_tokens",
                max_tokens,
                "above 0 and at most 1000",
            ));
        }
        if !(token_ratio.is_finite() && token_ratio > 0.0 && token_ratio <= 1.0) {
            return Err(RetryConfigError::new(
                "token_ratio",
                token_ratio,
                "above 0 and at most 1",
            ));
        }
        Ok(Self {
            max_tokens,
            token_ratio,
            tokens: max_tokens,
        })
    }

    /// Tokens left.
    pub fn tokens(&self) -> f64 {
        self.tokens
    }

    /// The bucket's size.
    pub fn max_tokens(&self) -> f64 {
        self.max_tokens
    }

    /// Earned per success.
    pub fn token_ratio(&self) -> f64 {
        self.token_ratio
    }

    fn on_success(&mut self) {
        self.tokens = (self.tokens + self.token_ratio).min(self.max_tokens);
    }

    fn on_failure(&mut self) {
        self.tokens = (self.tokens - 1.0).max(0.0);
    }

    fn allows(&self) -> bool {
        self.tokens > self.max_tokens / 2.0
    }
}

/// The AWS SDKs' standard-mode retry quota.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryQuota {
    capacity: u32,
    retry_cost: u32,
    timeout_cost: u32,
    success_increment: u32,
    available: u32,
}

impl RetryQuota {
    /// A full quota. Costs must not exceed the capacity.
    pub fn new(
        capacity: u32,
        retry_cost: u32,
        timeout_cost: u32,
        success_increment: u32,
    ) -> Result<Self, RetryConfigError> {
        if capacity == 0 {
            return Err(RetryConfigError::new("capacity", capacity, "at least 1"));
        }
        if retry_cost == 0 || retry_cost > capacity {
            return Err(RetryConfigError::new(
                "retry_cost",
                retry_cost,
                "from 1 to capacity",
            ));
        }
        if timeout_cost == 0 || timeout_cost > capacity {
            return Err(RetryConfigError::new(
                "timeout_cost",
                timeout_cost,
                "from 1 to capacity",
            ));
        }
        Ok(Self {
            capacity,
            retry_cost,
            timeout_cost,
            success_increment,
            available: capacity,
        })
    }

    /// Tokens left.
    pub fn available(&self) -> u32 {
        self.available
    }

    /// (capacity, retry cost, timeout cost, first-try success increment).
    pub fn parameters(&self) -> (u32, u32, u32, u32) {
        (
            self.capacity,
            self.retry_cost,
            self.timeout_cost,
            self.success_increment,
        )
    }

    fn refund(&mut self, n: u32) {
        self.available = self.available.saturating_add(n).min(self.capacity);
    }

    fn withdraw(&mut self, timeout: bool) -> Option<u32> {
        let cost = if timeout {
            self.timeout_cost
        } else {
            self.retry_cost
        };
        (self.available >= cost).then(|| {
            self.available -= cost;
            cost
        })
    }
}

/// Finagle's ratio budget over a sliding window.
#[derive(Clone, Debug)]
pub struct RatioBudget {
    ttl: SimDuration,
    min_per_sec: f64,
    percent: f64,
    /// `percent` in millionths, rounded down, so that the check below is
    /// integer arithmetic and never allows more than `percent` does.
    percent_ppm: u64,
    /// `min_per_sec · ttl` in millionths of a retry, rounded down.
    reserve_ppm: u64,
    /// Counter 0: requests (deposits); counter 1: retries (withdrawals).
    window: Window,
}

impl RatioBudget {
    /// `percent` of requests may be retried within `ttl`, plus
    /// `min_per_sec · ttl` retries regardless.
    pub fn new(ttl: SimDuration, min_per_sec: f64, percent: f64) -> Result<Self, RetryConfigError> {
        if ttl.0 < 1_000_000 || ttl.0 > 60_000_000_000 {
            return Err(RetryConfigError::new(
                "ttl",
                ttl,
                "from 1 ms to 60 s (as Finagle)",
            ));
        }
        check_range("min_per_sec", min_per_sec, 0.0, 1e9, "a finite number ≥ 0")?;
        check_range(
            "percent",
            percent,
            0.0,
            10.0,
            "a fraction from 0 to 10 (0.2 is 20 %)",
        )?;
        Ok(Self {
            ttl,
            min_per_sec,
            percent,
            percent_ppm: (percent * 1e6) as u64,
            reserve_ppm: (min_per_sec * ttl.as_secs_f64() * 1e6) as u64,
            window: Window::new(ttl),
        })
    }

    /// (ttl, min retries per second, fraction of requests).
    pub fn parameters(&self) -> (SimDuration, f64, f64) {
        (self.ttl, self.min_per_sec, self.percent)
    }

    #[inline]
    fn deposit(&mut self, now: SimTime) {
        self.window.add(now, 0, 1);
    }

    #[inline]
    fn withdraw(&mut self, now: SimTime) -> bool {
        let [requests, retries] = self.window.sums(now);
        // (retries + 1) ≤ percent · requests + reserve, in millionths.
        let ok = u128::from(retries + 1) * 1_000_000
            <= u128::from(self.percent_ppm) * u128::from(requests) + u128::from(self.reserve_ppm);
        if ok {
            self.window.add(now, 1, 1);
        }
        ok
    }
}

/// One of the built-in retry budgets.
// The ratio budget keeps its window inline: one budget per client
// population, read on every decision, never moved on a hot path.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Budget {
    /// gRPC retry throttling.
    TokenBucket(TokenBucket),
    /// AWS SDK standard-mode quota.
    Quota(RetryQuota),
    /// Finagle ratio budget.
    Ratio(RatioBudget),
}

impl Budget {
    /// A request's first attempt is being sent.
    #[inline]
    pub fn on_request(&mut self, now: SimTime) {
        self.as_mut().on_request(now);
    }

    /// An attempt ended. `charged` is what this request's pending retry
    /// withdrew (0 for a first attempt); a successful retry refunds it.
    #[inline]
    pub fn on_outcome(&mut self, success: bool, charged: u32) {
        self.as_mut().on_outcome(success, charged);
    }

    /// Asks to schedule one retry now; `Some(cost)` if allowed (the cost is
    /// what a later success refunds), `None` if the budget is spent.
    #[inline]
    pub fn try_retry(&mut self, now: SimTime, after_timeout: bool) -> Option<u32> {
        self.as_mut().try_retry(now, after_timeout)
    }

    #[inline]
    pub(super) fn as_mut(&mut self) -> BudgetMut<'_> {
        match self {
            Self::TokenBucket(t) => BudgetMut::TokenBucket(t),
            Self::Quota(q) => BudgetMut::Quota(q),
            Self::Ratio(r) => BudgetMut::Ratio(r),
        }
    }
}

/// One client's budget, borrowed from wherever it is stored (a [`Budget`]
/// of one client, or a [`Population`](super::Population)'s vector of
/// them): the one place the budgets' rules are written.
pub(super) enum BudgetMut<'a> {
    TokenBucket(&'a mut TokenBucket),
    Quota(&'a mut RetryQuota),
    Ratio(&'a mut RatioBudget),
}

impl BudgetMut<'_> {
    #[inline]
    pub(super) fn on_request(&mut self, now: SimTime) {
        if let Self::Ratio(r) = self {
            r.deposit(now);
        }
    }

    #[inline]
    pub(super) fn on_outcome(&mut self, success: bool, charged: u32) {
        match self {
            Self::TokenBucket(t) if success => t.on_success(),
            Self::TokenBucket(t) => t.on_failure(),
            Self::Quota(q) if success => q.refund(if charged > 0 {
                charged
            } else {
                q.success_increment
            }),
            _ => {}
        }
    }

    #[inline]
    pub(super) fn try_retry(&mut self, now: SimTime, after_timeout: bool) -> Option<u32> {
        match self {
            Self::TokenBucket(t) => t.allows().then_some(0),
            Self::Quota(q) => q.withdraw(after_timeout),
            Self::Ratio(r) => r.withdraw(now).then_some(0),
        }
    }
}
