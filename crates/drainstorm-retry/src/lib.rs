//! Client retry models: backoff with jitter, attempt limits and deadlines,
//! server pushback, retry budgets, circuit breakers and adaptive throttling.
//!
//! A drain becomes a storm through the clients: each failed attempt is
//! retried, so offered load rises exactly when capacity fell, and work
//! that clients abandoned keeps the servers busy. This module models every
//! common client behaviour so that the simulator can show which ones
//! amplify a drain and which ones damp it.
//!
//! Everything here is a pure function of (policy, state, outcome, the time
//! passed in, the caller's generator): no clock and no global RNG, so any
//! host simulator can drive it. Time is [`SimTime`] / [`SimDuration`],
//! nanoseconds in a `u64`.
//!
//! ```
//! use drainstorm_retry::{Decision, GiveUp, Outcome, Policy, Pushback, RetryPolicy, SimTime};
//! use rand::SeedableRng;
//!
//! let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
//! let mut naive = Policy::naive(); // 3 immediate retries
//! let mut request = naive.begin(SimTime::ZERO);
//! let mut attempts = 1;
//! let failed = Outcome::Failure(Pushback::None);
//! while let Decision::Retry(_) = naive.on_outcome(SimTime::ZERO, &mut request, failed, &mut rng) {
//!     attempts += 1;
//! }
//! assert_eq!(attempts, 4);
//! ```

mod adaptive;
mod backoff;
mod breaker;
mod budget;
mod client;
mod describe;
mod error;
mod hedging;
mod limits;
mod policy;
mod population;
mod presets;
mod random;
mod throttle;
pub mod time;
mod window;

pub use self::adaptive::{AdaptiveLimit, AdaptiveLimiter, AimdLimit, Gradient2Limit, VegasLimit};
pub use self::backoff::{Backoff, Exponential, Jitter};
pub use self::breaker::{BreakerConfig, BreakerState, BreakerWindow, CircuitBreaker};
pub use self::budget::{Budget, RatioBudget, RetryQuota, TokenBucket};
pub use self::describe::preset_source;
pub use self::error::RetryConfigError;
pub use self::hedging::{Hedge, HedgeStep, HedgingConfig, MAX_HEDGED_ATTEMPTS};
pub use self::limits::{ClientLimits, LimitsConfig, RetryBudgetLimit};
pub use self::policy::{
    BudgetConfig, Decision, GiveUp, Outcome, Policy, PolicyConfig, Pushback, Refusal, RequestState,
    RetryPolicy, ThrottleConfig,
};
pub use self::population::{MAX_POPULATION, Population};
pub use self::throttle::AdaptiveThrottle;
pub use self::time::{SimDuration, SimTime, parse_duration};

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
