//! How long a client waits before retrying.
//!
//! The exponential kinds follow Marc Brooker, "Exponential Backoff And
//! Jitter", AWS Architecture Blog, 2015. For retry number `n` (0 for the
//! first retry) the ceiling is `v = min(cap, base · multiplier^n)` and:
//!
//! | jitter | delay |
//! |---|---|
//! | none | `v` |
//! | full | `U(0, v)` |
//! | equal | `v/2 + U(0, v/2)` |
//! | decorrelated | `min(cap, U(base, 3·prev))`, `prev` starting at `base` |
//!
//! Jitter applies after the cap, so capped delays stay spread out. The
//! decorrelated kind clamps at the cap instead: once `3·prev` passes the
//! cap, a growing share of delays equal the cap exactly, and clients that
//! retry together re-synchronise there (a known weakness of the formula).
//!
//! `v` is computed in `f64` and compared with the cap before it becomes an
//! integer, so no retry number overflows: `multiplier^(10^6)` is infinite,
//! and the ceiling is the cap.

use rand::RngCore;

use super::SimDuration;
use super::error::{RetryConfigError, check_range};
use super::random::between;

/// Jitter applied to an exponential backoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Jitter {
    /// The ceiling itself: every client waits the same.
    None,
    /// `U(0, v)`: the AWS blog's recommendation.
    Full,
    /// `v/2 + U(0, v/2)`.
    Equal,
    /// `min(cap, U(base, 3·prev))`.
    Decorrelated,
}

/// A backoff schedule: the delay before each retry.
#[derive(Clone, Debug, PartialEq)]
pub enum Backoff {
    /// `min(cap, base·multiplier^n)` with jitter.
    Exponential {
        /// Ceiling of the first retry (> 0).
        base: SimDuration,
        /// Growth per retry (≥ 1, finite).
        multiplier: f64,
        /// Largest ceiling (≥ base).
        cap: SimDuration,
        /// Jitter applied to the ceiling.
        jitter: Jitter,
    },
    /// The same delay before every retry.
    Constant(SimDuration),
    /// Retry at once.
    Immediate,
    /// An explicit list of delays; the last one repeats (the shape of a mail
    /// queue retrying a `451`). Not empty.
    Schedule(Vec<SimDuration>),
}

impl Backoff {
    /// A validated exponential backoff.
    ///
    /// ```
    /// use drainstorm::retry::{Backoff, Jitter, SimDuration};
    ///
    /// let ms = SimDuration::from_millis;
    /// let b = Backoff::exponential(ms(100), 2.0, ms(20_000), Jitter::None)?;
    /// assert_eq!(b.ceiling(0), ms(100));
    /// assert_eq!(b.ceiling(3), ms(800));
    /// assert_eq!(b.ceiling(1_000_000), ms(20_000));
    /// # Ok::<(), drainstorm::retry::RetryConfigError>(())
    /// ```
    pub fn exponential(
        base: SimDuration,
        multiplier: f64,
        cap: SimDuration,
        jitter: Jitter,
    ) -> Result<Self, RetryConfigError> {
        let b = Self::Exponential {
            base,
            multiplier,
            cap,
            jitter,
        };
        b.validate()?;
        Ok(b)
    }

    /// Checks the parameters (see each variant's field docs).
    pub fn validate(&self) -> Result<(), RetryConfigError> {
        match self {
            Self::Exponential {
                base,
                multiplier,
                cap,
                ..
            } => {
                if base.0 == 0 {
                    return Err(RetryConfigError::new(
                        "base",
                        base,
                        "above 0 (use an immediate backoff for no delay)",
                    ));
                }
                check_range(
                    "multiplier",
                    *multiplier,
                    1.0,
                    1e6,
                    "a finite number from 1 to 10^6",
                )?;
                if cap < base {
                    return Err(RetryConfigError::new("cap", cap, "at least base"));
                }
                Ok(())
            }
            Self::Schedule(delays) if delays.is_empty() => Err(RetryConfigError::new(
                "schedule",
                "[]",
                "at least one delay",
            )),
            _ => Ok(()),
        }
    }

    /// The ceiling `v` of retry `n` (the delay itself for the kinds without
    /// jitter).
    pub fn ceiling(&self, n: u32) -> SimDuration {
        match self {
            Self::Exponential {
                base,
                multiplier,
                cap,
                ..
            } => {
                let v = base.0 as f64 * multiplier.powi(n.min(i32::MAX as u32) as i32);
                if v < cap.0 as f64 {
                    SimDuration(v as u64)
                } else {
                    *cap
                }
            }
            Self::Constant(d) => *d,
            Self::Immediate => SimDuration::ZERO,
            Self::Schedule(delays) => delays[(n as usize).min(delays.len() - 1)],
        }
    }

    /// The delay before retry `n` (0 for the first retry). `prev` is the
    /// previous delay of this request (the decorrelated kind's state; pass
    /// [`SimDuration::ZERO`] before the first retry, which counts as `base`).
    #[inline]
    pub fn delay(
        &self,
        n: u32,
        prev: SimDuration,
        rng: &mut (impl RngCore + ?Sized),
    ) -> SimDuration {
        match self {
            Self::Exponential {
                base, cap, jitter, ..
            } => match jitter {
                Jitter::None => self.ceiling(n),
                Jitter::Full => SimDuration(between(0, self.ceiling(n).0, rng)),
                Jitter::Equal => {
                    let v = self.ceiling(n).0;
                    let half = v / 2;
                    SimDuration(half + between(0, v - half, rng))
                }
                Jitter::Decorrelated => {
                    let prev = prev.max(*base).0;
                    let hi = prev.saturating_mul(3).max(base.0);
                    SimDuration(between(base.0, hi, rng).min(cap.0))
                }
            },
            _ => self.ceiling(n),
        }
    }
}
