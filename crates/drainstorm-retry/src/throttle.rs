//! Client-side adaptive throttling.

use rand::RngCore;

use super::error::{RetryConfigError, check_range};
use super::random::unit;
use super::window::Window;
use super::{SimDuration, SimTime};

/// Adaptive throttling state.
///
/// From *Site Reliability Engineering* (Beyer et al., O'Reilly 2016),
/// chapter 21, "Handling Overload": each client tracks, over a sliding
/// window (two minutes in Google's deployment), the `requests` it tried
/// and the `accepts` the backend took. It then refuses new requests locally
/// with probability `max(0, (requests − K·accepts) / (requests + 1))`. With
/// `K = 2` a backend that accepts half the traffic sees the offered load
/// come down to about twice what it accepts, instead of every rejected
/// request coming straight back.
#[derive(Clone, Debug)]
pub struct AdaptiveThrottle {
    k: f64,
    span: SimDuration,
    /// Counter 0: requests; counter 1: accepts.
    window: Window,
}

impl AdaptiveThrottle {
    /// `k` ≥ 1 (the book uses 2; lower is more aggressive), `window` ≥ 10 ns.
    pub fn new(k: f64, window: SimDuration) -> Result<Self, RetryConfigError> {
        check_range(
            "k",
            k,
            1.0,
            1e6,
            "a finite number from 1 to 10^6 (the SRE book uses 2)",
        )?;
        if window.0 < 10 {
            return Err(RetryConfigError::new("window", window, "at least 10 ns"));
        }
        Ok(Self {
            k,
            span: window,
            window: Window::new(window),
        })
    }

    /// (K, window).
    pub fn parameters(&self) -> (f64, SimDuration) {
        (self.k, self.span)
    }

    /// The probability of refusing a request at `now`.
    pub fn reject_probability(&mut self, now: SimTime) -> f64 {
        let [requests, accepts] = self.window.sums(now);
        ((requests as f64 - self.k * accepts as f64) / (requests as f64 + 1.0)).max(0.0)
    }

    /// Counts a request and decides whether to send it (`true`) or refuse it
    /// locally.
    pub fn admit(&mut self, now: SimTime, rng: &mut (impl RngCore + ?Sized)) -> bool {
        let p = self.reject_probability(now);
        self.window.add(now, 0, 1);
        p == 0.0 || unit(rng) >= p
    }

    /// Counts a request the backend accepted.
    pub fn accepted(&mut self, now: SimTime) {
        self.window.add(now, 1, 1);
    }
}
