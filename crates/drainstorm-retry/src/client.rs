//! One client's retry rules, written once over the stateful parts a
//! [`Policy`](super::Policy) (its only client) or a
//! [`Population`](super::Population) (one of many) lends it: admission,
//! the start of a request, and what an attempt's outcome decides.

use rand::RngCore;

use super::SimTime;
use super::breaker::CircuitBreaker;
use super::budget::BudgetMut;
use super::policy::{Decision, GiveUp, Outcome, PolicyConfig, Pushback, Refusal, RequestState};
use super::throttle::AdaptiveThrottle;

/// One client's stateful parts, borrowed from a [`Policy`](super::Policy) (its only
/// client) or a [`Population`](super::Population) (one of many): the rules
/// below are written once, over this.
pub(super) struct Client<'a> {
    pub(super) budget: Option<BudgetMut<'a>>,
    pub(super) breaker: Option<&'a mut CircuitBreaker>,
    pub(super) throttle: Option<&'a mut AdaptiveThrottle>,
}

impl Client<'_> {
    #[inline]
    pub(super) fn admit(self, now: SimTime, rng: &mut dyn RngCore) -> Result<(), Refusal> {
        if let Some(b) = self.breaker
            && !b.allow(now)
        {
            return Err(Refusal::BreakerOpen);
        }
        if let Some(t) = self.throttle
            && !t.admit(now, rng)
        {
            return Err(Refusal::Throttled);
        }
        Ok(())
    }

    #[inline]
    pub(super) fn begin(self, now: SimTime) -> RequestState {
        if let Some(mut b) = self.budget {
            b.on_request(now);
        }
        RequestState::new(now)
    }

    #[inline]
    pub(super) fn on_outcome(
        self,
        config: &PolicyConfig,
        now: SimTime,
        request: &mut RequestState,
        outcome: Outcome,
        rng: &mut dyn RngCore,
    ) -> Decision {
        let Client {
            mut budget,
            breaker,
            throttle,
        } = self;
        let success = outcome == Outcome::Success;
        if let Some(b) = breaker {
            b.record(now, success);
        }
        if success && let Some(t) = throttle {
            t.accepted(now);
        }
        if let Some(b) = &mut budget {
            b.on_outcome(success, request.charged);
        }
        request.charged = 0;
        let pushback = match outcome {
            Outcome::Success => return Decision::Done,
            Outcome::Failure(p) => p,
            Outcome::Timeout => Pushback::None,
        };
        if pushback == Pushback::Stop {
            return Decision::GiveUp(GiveUp::Pushback);
        }
        if request.attempts >= config.max_attempts {
            return Decision::GiveUp(GiveUp::Attempts);
        }
        let mut delay = config
            .backoff
            .delay(request.attempts - 1, request.prev_delay, rng);
        if let (true, Pushback::RetryAfter(d)) = (config.honour_pushback, pushback) {
            delay = d;
        }
        if let Some(deadline) = config.deadline
            && now + delay >= request.started + deadline
        {
            return Decision::GiveUp(GiveUp::Deadline);
        }
        if let Some(b) = &mut budget {
            match b.try_retry(now, outcome == Outcome::Timeout) {
                Some(cost) => request.charged = cost,
                None => return Decision::GiveUp(GiveUp::Budget),
            }
        }
        request.prev_delay = delay;
        request.attempts += 1;
        Decision::Retry(delay)
    }
}

/// When the attempt sent at `now` times out under `config`.
#[inline]
pub(super) fn attempt_deadline(
    config: &PolicyConfig,
    now: SimTime,
    request: &RequestState,
) -> Option<SimTime> {
    let per_attempt = config.attempt_timeout.map(|t| now + t);
    let overall = config.deadline.map(|d| request.started + d);
    match (per_attempt, overall) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
