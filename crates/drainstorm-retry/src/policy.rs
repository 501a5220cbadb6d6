//! Composing backoff, limits, budget, breaker and throttling into one
//! client policy (the presets named after real clients: `presets.rs`).

use rand::RngCore;

use super::backoff::Backoff;
use super::breaker::{BreakerConfig, CircuitBreaker};
use super::budget::{Budget, RatioBudget, RetryQuota, TokenBucket};
use super::client::{Client, attempt_deadline};
use super::error::{RetryConfigError, check_range};
use super::hedging::HedgingConfig;
use super::limits::LimitsConfig;
use super::throttle::AdaptiveThrottle;
use super::{SimDuration, SimTime};

/// What the server (or the network) said about an attempt that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushback {
    /// Nothing: the client decides.
    None,
    /// Retry no sooner than this (HTTP `Retry-After`, gRPC
    /// `grpc-retry-pushback-ms`).
    RetryAfter(SimDuration),
    /// Do not retry (gRPC's negative pushback).
    Stop,
}

/// How an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The backend served it in time.
    Success,
    /// Refused or failed (a `503`, a `451 4.3.2`, a connection reset).
    Failure(Pushback),
    /// No answer within the per-attempt timeout.
    Timeout,
}

/// Why a request stopped without success.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GiveUp {
    /// Every allowed attempt was used.
    Attempts,
    /// The next attempt would start past the overall deadline.
    Deadline,
    /// The retry budget is spent.
    Budget,
    /// The server said not to retry.
    Pushback,
}

impl GiveUp {
    /// Its name in files and bindings: `attempts`, `deadline`, `budget`,
    /// `pushback`.
    pub fn name(self) -> &'static str {
        match self {
            GiveUp::Attempts => "attempts",
            GiveUp::Deadline => "deadline",
            GiveUp::Budget => "budget",
            GiveUp::Pushback => "pushback",
        }
    }
}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The request succeeded.
    Done,
    /// Send another attempt after this delay.
    Retry(SimDuration),
    /// Stop; the request failed.
    GiveUp(GiveUp),
}

/// Why an attempt was refused before it was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// The circuit breaker is open (or out of half-open probes).
    BreakerOpen,
    /// Adaptive throttling refused it.
    Throttled,
}

impl Refusal {
    /// Its name in files and bindings: `breaker-open`, `throttled`.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::BreakerOpen => "breaker-open",
            Refusal::Throttled => "throttled",
        }
    }
}

/// The per-request state a policy keeps between attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestState {
    /// When the first attempt was sent.
    pub started: SimTime,
    /// Attempts sent or scheduled so far (the first included).
    pub attempts: u32,
    /// The previous backoff delay (decorrelated jitter's state).
    pub prev_delay: SimDuration,
    /// What the pending retry withdrew from a quota budget.
    pub charged: u32,
}

impl RequestState {
    /// A request whose first attempt is sent at `now`.
    pub fn new(now: SimTime) -> Self {
        Self {
            started: now,
            attempts: 1,
            prev_delay: SimDuration::ZERO,
            charged: 0,
        }
    }
}

/// A client retry policy: what a simulator (or a real client) asks before
/// each attempt and after each outcome.
///
/// Implementations must be pure functions of their state, the arguments and
/// the caller's generator: no clock, no global RNG.
pub trait RetryPolicy: Send {
    /// May an attempt (first or retry) be sent at `now`?
    fn admit(&mut self, now: SimTime, rng: &mut dyn RngCore) -> Result<(), Refusal>;
    /// Starts a request whose first attempt is sent at `now`.
    fn begin(&mut self, now: SimTime) -> RequestState;
    /// Records an attempt's outcome at `now` and decides what comes next.
    fn on_outcome(
        &mut self,
        now: SimTime,
        request: &mut RequestState,
        outcome: Outcome,
        rng: &mut dyn RngCore,
    ) -> Decision;
    /// When the attempt sent at `now` times out: the per-attempt timeout,
    /// cut short by the request's deadline. `None` if neither is set.
    fn attempt_deadline(&self, now: SimTime, request: &RequestState) -> Option<SimTime>;
}

/// Everything a [`Policy`] can combine; each part optional.
///
/// Serde reads it with `backoff` and `max_attempts` required and every
/// other part optional (absent: off).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct PolicyConfig {
    /// Delays between attempts.
    pub backoff: Backoff,
    /// Attempts per request, the first included (≥ 1).
    pub max_attempts: u32,
    /// Per-attempt timeout.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub attempt_timeout: Option<SimDuration>,
    /// Overall deadline from the first attempt; no retry starts past it.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub deadline: Option<SimDuration>,
    /// Whether a server's `RetryAfter` replaces the backoff delay.
    #[cfg_attr(feature = "serde", serde(default))]
    pub honour_pushback: bool,
    /// Retry budget.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub budget: Option<BudgetConfig>,
    /// Circuit breaker.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub breaker: Option<BreakerConfig>,
    /// Client-side adaptive throttling.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub throttle: Option<ThrottleConfig>,
    /// Concurrency limits (Envoy's circuit-breaker thresholds). The policy
    /// does not enforce them: whoever sends the requests does, with a
    /// [`ClientLimits`](super::ClientLimits) (the simulator keeps one per
    /// client group).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "LimitsConfig::is_unlimited")
    )]
    pub limits: LimitsConfig,
    /// Hedged attempts instead of retries (gRPC's hedging policy): up to
    /// `max_attempts` in flight, one more each `delay` while none has
    /// answered. The simulator runs them; the policy's backoff is not
    /// used. See [`Hedge`](super::Hedge).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub hedging: Option<HedgingConfig>,
}

impl PolicyConfig {
    /// A policy with this backoff and attempt limit and nothing else: no
    /// timeouts, no pushback, no budget, breaker or throttling. Add parts
    /// with struct update syntax.
    ///
    /// ```
    /// use drainstorm_retry::{Backoff, PolicyConfig, SimDuration};
    ///
    /// let config = PolicyConfig {
    ///     deadline: Some(SimDuration::from_secs(30)),
    ///     ..PolicyConfig::new(Backoff::Immediate, 3)
    /// };
    /// assert_eq!(config.max_attempts, 3);
    /// ```
    pub fn new(backoff: Backoff, max_attempts: u32) -> Self {
        Self {
            backoff,
            max_attempts,
            attempt_timeout: None,
            deadline: None,
            honour_pushback: false,
            budget: None,
            breaker: None,
            throttle: None,
            limits: LimitsConfig::default(),
            hedging: None,
        }
    }
}

/// Parameters of client-side adaptive throttling (Google SRE book).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct ThrottleConfig {
    /// Accepts multiplier `K` (> 1; 2 in the book).
    pub k: f64,
    /// Sliding window over which requests and accepts are counted.
    pub window: SimDuration,
}

/// Parameters of a retry budget (`{ kind = "token-bucket", max_tokens = 10,
/// token_ratio = 0.1 }`, `{ kind = "quota", ... }` or `{ kind = "ratio",
/// ttl = "10s", min_per_sec = 10, percent = 0.2 }` in a profile).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum BudgetConfig {
    /// gRPC retry throttling: (max_tokens, token_ratio).
    TokenBucket {
        /// Bucket size.
        max_tokens: f64,
        /// Earned per success.
        token_ratio: f64,
    },
    /// AWS standard-mode quota.
    Quota {
        /// Tokens in a full quota.
        capacity: u32,
        /// Cost of a retry.
        retry_cost: u32,
        /// Cost of a retry after a timeout.
        timeout_cost: u32,
        /// Earned by a first-try success.
        success_increment: u32,
    },
    /// Finagle ratio budget.
    Ratio {
        /// Window.
        ttl: SimDuration,
        /// Reserve, retries per second.
        min_per_sec: f64,
        /// Fraction of requests that may be retried.
        percent: f64,
    },
}

impl BudgetConfig {
    fn build(&self) -> Result<Budget, RetryConfigError> {
        Ok(match *self {
            Self::TokenBucket {
                max_tokens,
                token_ratio,
            } => Budget::TokenBucket(TokenBucket::new(max_tokens, token_ratio)?),
            Self::Quota {
                capacity,
                retry_cost,
                timeout_cost,
                success_increment,
            } => Budget::Quota(RetryQuota::new(
                capacity,
                retry_cost,
                timeout_cost,
                success_increment,
            )?),
            Self::Ratio {
                ttl,
                min_per_sec,
                percent,
            } => Budget::Ratio(RatioBudget::new(ttl, min_per_sec, percent)?),
        })
    }
}

/// The standard composed policy (see [`PolicyConfig`]).
///
/// ```
/// use drainstorm_retry::{Decision, Outcome, Policy, Pushback, RetryPolicy, SimTime};
/// use rand::SeedableRng;
///
/// let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
/// let mut policy = Policy::aws_standard();
/// let now = SimTime::ZERO;
/// assert!(policy.admit(now, &mut rng).is_ok());
/// let mut request = policy.begin(now);
/// let failed = Outcome::Failure(Pushback::None);
/// match policy.on_outcome(now, &mut request, failed, &mut rng) {
///     Decision::Retry(delay) => assert!(delay.as_nanos() <= 100_000_000),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Policy {
    pub(super) config: PolicyConfig,
    budget: Option<Budget>,
    breaker: Option<CircuitBreaker>,
    throttle: Option<AdaptiveThrottle>,
}

impl Policy {
    /// Validates `config` and builds the policy.
    pub fn new(config: PolicyConfig) -> Result<Self, RetryConfigError> {
        config.backoff.validate()?;
        if config.max_attempts == 0 {
            return Err(RetryConfigError::new(
                "max_attempts",
                0,
                "at least 1 (the first try counts)",
            ));
        }
        for (name, limit) in [
            ("limits.max_requests", config.limits.max_requests),
            (
                "limits.max_pending_requests",
                config.limits.max_pending_requests,
            ),
        ] {
            if limit == Some(0) {
                return Err(RetryConfigError::new(name, 0, "at least 1, or unset"));
            }
        }
        if let Some(a) = &config.limits.adaptive {
            a.validate()?;
        }
        if let Some(b) = &config.limits.retry_budget {
            check_range(
                "limits.retry_budget.budget_percent",
                b.budget_percent,
                0.0,
                100.0,
                "from 0 to 100 (a percentage)",
            )?;
            if let Some(m) = config.limits.max_retries {
                return Err(RetryConfigError::new(
                    "limits.max_retries",
                    m,
                    "unset when limits.retry_budget is set (the budget replaces it, as in Envoy)",
                ));
            }
        }
        for (name, d) in [
            ("attempt_timeout", config.attempt_timeout),
            ("deadline", config.deadline),
        ] {
            if d == Some(SimDuration::ZERO) {
                return Err(RetryConfigError::new(name, "0", "above 0, or unset"));
            }
        }
        if let Some(h) = &config.hedging {
            h.validate(config.max_attempts)?;
            let with = [
                ("budget", config.budget.is_some()),
                ("breaker", config.breaker.is_some()),
                ("throttle", config.throttle.is_some()),
                ("limits.adaptive", config.limits.adaptive.is_some()),
            ];
            if let Some((name, _)) = with.iter().find(|(_, set)| *set) {
                return Err(RetryConfigError::new(
                    name,
                    "a table",
                    "unset with hedging (how they count hedged attempts is not modelled)",
                ));
            }
        }
        let budget = config
            .budget
            .as_ref()
            .map(BudgetConfig::build)
            .transpose()?;
        let breaker = config.breaker.map(CircuitBreaker::new).transpose()?;
        let throttle = config
            .throttle
            .map(|t| AdaptiveThrottle::new(t.k, t.window))
            .transpose()?;
        Ok(Self {
            config,
            budget,
            breaker,
            throttle,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// The budget's current state, if any.
    pub fn budget(&self) -> Option<&Budget> {
        self.budget.as_ref()
    }

    /// The breaker's current state, if any.
    pub fn breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_ref()
    }
}

impl Policy {
    #[inline]
    fn client(&mut self) -> Client<'_> {
        Client {
            budget: self.budget.as_mut().map(Budget::as_mut),
            breaker: self.breaker.as_mut(),
            throttle: self.throttle.as_mut(),
        }
    }

    /// The parts [`Population`](super::Population) copies for each client.
    pub(super) fn into_parts(
        self,
    ) -> (
        PolicyConfig,
        Option<Budget>,
        Option<CircuitBreaker>,
        Option<AdaptiveThrottle>,
    ) {
        (self.config, self.budget, self.breaker, self.throttle)
    }
}

impl RetryPolicy for Policy {
    #[inline]
    fn admit(&mut self, now: SimTime, rng: &mut dyn RngCore) -> Result<(), Refusal> {
        self.client().admit(now, rng)
    }

    #[inline]
    fn begin(&mut self, now: SimTime) -> RequestState {
        self.client().begin(now)
    }

    #[inline]
    fn on_outcome(
        &mut self,
        now: SimTime,
        request: &mut RequestState,
        outcome: Outcome,
        rng: &mut dyn RngCore,
    ) -> Decision {
        let Policy {
            config,
            budget,
            breaker,
            throttle,
        } = self;
        Client {
            budget: budget.as_mut().map(Budget::as_mut),
            breaker: breaker.as_mut(),
            throttle: throttle.as_mut(),
        }
        .on_outcome(config, now, request, outcome, rng)
    }

    #[inline]
    fn attempt_deadline(&self, now: SimTime, request: &RequestState) -> Option<SimTime> {
        attempt_deadline(&self.config, now, request)
    }
}
