//! Hedged requests: gRPC's hedging policy (gRFC A6).
//!
//! Instead of waiting for an attempt to fail before trying again, a
//! hedging client sends the first attempt, and another each
//! `hedging_delay` while none has answered (all at once for a delay of
//! 0), up to `max_attempts` in all.
//! The first success wins and the others are cancelled; a failure sends
//! the next attempt at once (gRPC's non-fatal status codes: here every
//! failure, refusal and timeout is non-fatal); the request fails when
//! every attempt it may send has failed. gRPC caps `max_attempts` at 5.
//!
//! [`Hedge`] is the state machine of one request; the caller sends the
//! attempts, runs the delay's timer and cancels the losers.

use super::{RetryConfigError, SimDuration};

/// gRPC's most attempts of a hedged request.
pub const MAX_HEDGED_ATTEMPTS: u32 = 5;

/// A policy's `hedging` table: the delay between hedged attempts. The
/// policy's `max_attempts` bounds them (at most [`MAX_HEDGED_ATTEMPTS`]),
/// and its backoff is not used.
///
/// ```
/// use drainstorm_retry::{HedgingConfig, SimDuration};
///
/// let h = HedgingConfig { delay: SimDuration::from_millis(50) };
/// assert!(h.validate(3).is_ok());
/// assert!(h.validate(6).is_err(), "gRPC allows at most 5 attempts");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct HedgingConfig {
    /// Time after an attempt is sent before the next is, while none has
    /// answered (gRPC's `hedgingDelay`, required as in gRPC; 0 sends
    /// every attempt at once).
    pub delay: SimDuration,
}

impl HedgingConfig {
    /// Checks `max_attempts` against gRPC's cap (which gRPC applies
    /// silently; here a larger count is an error).
    pub fn validate(&self, max_attempts: u32) -> Result<(), RetryConfigError> {
        if max_attempts > MAX_HEDGED_ATTEMPTS {
            return Err(RetryConfigError::new(
                "max_attempts",
                max_attempts,
                "at most 5 with hedging (gRPC's cap)",
            ));
        }
        Ok(())
    }
}

/// What a hedged request does next, after an attempt's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HedgeStep {
    /// An attempt succeeded: the request is done; cancel the others.
    Won,
    /// Send the next attempt now.
    Send,
    /// Wait for the attempts still out (or the delay's timer).
    Wait,
    /// Every attempt failed and no more may be sent: the request failed.
    Lost,
}

/// One hedged request's attempts: how many were sent, how many are out.
///
/// ```
/// use drainstorm_retry::{Hedge, HedgeStep};
///
/// let mut h = Hedge::new(3);
/// h.sent(); // the first attempt
/// assert!(h.may_send(), "the delay passes without an answer");
/// h.sent();
/// assert_eq!(h.on_outcome(false), HedgeStep::Send, "a failure sends the third at once");
/// h.sent();
/// assert!(!h.may_send());
/// assert_eq!(h.on_outcome(true), HedgeStep::Won);
/// assert_eq!(h.outstanding(), 1, "one attempt to cancel");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hedge {
    max: u32,
    sent: u32,
    outstanding: u32,
    over: bool,
}

impl Hedge {
    /// A request that may send up to `max_attempts` attempts (at least 1).
    pub fn new(max_attempts: u32) -> Self {
        Self {
            max: max_attempts.max(1),
            sent: 0,
            outstanding: 0,
            over: false,
        }
    }

    /// Whether another attempt may be sent now: the request is not over
    /// and has attempts left.
    pub fn may_send(&self) -> bool {
        !self.over && self.sent < self.max
    }

    /// Records an attempt sent (only when [`may_send`](Self::may_send)).
    pub fn sent(&mut self) {
        debug_assert!(self.may_send());
        self.sent += 1;
        self.outstanding += 1;
    }

    /// No more attempts may be sent (a limit or a throttle refused one):
    /// returns [`HedgeStep::Lost`] if none is out, else `Wait`.
    pub fn stop(&mut self) -> HedgeStep {
        self.max = self.sent;
        if self.outstanding == 0 {
            self.over = true;
            HedgeStep::Lost
        } else {
            HedgeStep::Wait
        }
    }

    /// An attempt ended, successfully or not.
    pub fn on_outcome(&mut self, success: bool) -> HedgeStep {
        debug_assert!(self.outstanding > 0 && !self.over);
        self.outstanding = self.outstanding.saturating_sub(1);
        if success {
            self.over = true;
            HedgeStep::Won
        } else if self.sent < self.max {
            HedgeStep::Send
        } else if self.outstanding == 0 {
            self.over = true;
            HedgeStep::Lost
        } else {
            HedgeStep::Wait
        }
    }

    /// Attempts sent so far.
    pub fn attempts(&self) -> u32 {
        self.sent
    }

    /// Attempts sent and not yet ended.
    pub fn outstanding(&self) -> u32 {
        self.outstanding
    }

    /// Whether the request is over (won or lost).
    pub fn is_over(&self) -> bool {
        self.over
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_failure_loses_and_a_success_wins() {
        let mut h = Hedge::new(2);
        h.sent();
        h.sent();
        assert!(!h.may_send());
        assert_eq!(h.on_outcome(false), HedgeStep::Wait);
        assert_eq!(h.on_outcome(false), HedgeStep::Lost);
        assert!(h.is_over() && !h.may_send());
        let mut h = Hedge::new(5);
        h.sent();
        assert_eq!(h.on_outcome(true), HedgeStep::Won);
        assert!(!h.may_send(), "nothing is sent after a win");
        assert_eq!(h.attempts(), 1);
    }

    #[test]
    fn a_stop_ends_the_request_once_nothing_is_out() {
        let mut h = Hedge::new(4);
        h.sent();
        assert_eq!(h.stop(), HedgeStep::Wait);
        assert!(!h.may_send());
        assert_eq!(h.on_outcome(false), HedgeStep::Lost);
        let mut h = Hedge::new(4);
        h.sent();
        assert_eq!(h.on_outcome(false), HedgeStep::Send);
        assert_eq!(h.stop(), HedgeStep::Lost);
    }

    #[test]
    fn the_cap_is_checked() {
        let zero = HedgingConfig {
            delay: SimDuration::ZERO,
        };
        assert!(zero.validate(2).is_ok(), "0: every attempt at once");
        let ok = HedgingConfig {
            delay: SimDuration::from_millis(10),
        };
        assert_eq!(ok.validate(6).unwrap_err().name, "max_attempts");
        assert!(ok.validate(5).is_ok());
    }
}
