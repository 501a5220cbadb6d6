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

/// Jitter applied to an exponential backoff (`"none"`, `"full"`,
/// `"equal"`, `"decorrelated"` in a profile).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
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

/// How many retry ceilings an [`Exponential`] precomputes.
const CEILINGS: usize = 32;

/// `min(cap, base·multiplier^n)` with jitter: build with
/// [`Backoff::exponential`].
///
/// The ceilings of the first 32 retries are computed once, at construction,
/// so a decision is a table read rather than a `powi` (which cost 10 ns per
/// decision here); later retries are the cap, or computed when a multiplier
/// close to 1 has not reached the cap by then.
#[derive(Clone, Debug, PartialEq)]
pub struct Exponential {
    base: SimDuration,
    multiplier: f64,
    cap: SimDuration,
    jitter: Jitter,
    ceilings: [u64; CEILINGS],
}

impl Exponential {
    /// Ceiling of the first retry (> 0).
    pub fn base(&self) -> SimDuration {
        self.base
    }

    /// Growth per retry (≥ 1, finite).
    pub fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// Largest ceiling (≥ base).
    pub fn cap(&self) -> SimDuration {
        self.cap
    }

    /// Jitter applied to the ceiling.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// `min(cap, base·multiplier^n)`, in `f64` so that no `n` overflows.
    fn compute(&self, n: u32) -> u64 {
        let v = self.base.0 as f64 * self.multiplier.powi(n.min(i32::MAX as u32) as i32);
        if v < self.cap.0 as f64 {
            v as u64
        } else {
            self.cap.0
        }
    }

    #[inline]
    fn ceiling(&self, n: u32) -> u64 {
        match self.ceilings.get(n as usize) {
            Some(&v) => v,
            None if self.ceilings[CEILINGS - 1] == self.cap.0 => self.cap.0,
            None => self.compute(n),
        }
    }
}

/// A backoff schedule: the delay before each retry.
// The exponential variant keeps its ceilings inline: one per policy, read
// on every decision, never moved on a hot path.
///
/// In a profile: `{ kind = "exponential", base = "100ms", multiplier = 2.0,
/// cap = "20s", jitter = "full" }`, `{ kind = "constant", delay = "1s" }`,
/// `{ kind = "immediate" }` or `{ kind = "schedule", delays = ["1m", "5m"] }`.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(try_from = "repr::BackoffRepr", into = "repr::BackoffRepr")
)]
pub enum Backoff {
    /// `min(cap, base·multiplier^n)` with jitter.
    Exponential(Exponential),
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
    /// use drainstorm_retry::{Backoff, Jitter, SimDuration};
    ///
    /// let ms = SimDuration::from_millis;
    /// let b = Backoff::exponential(ms(100), 2.0, ms(20_000), Jitter::None)?;
    /// assert_eq!(b.ceiling(0), ms(100));
    /// assert_eq!(b.ceiling(3), ms(800));
    /// assert_eq!(b.ceiling(1_000_000), ms(20_000));
    /// # Ok::<(), drainstorm_retry::RetryConfigError>(())
    /// ```
    pub fn exponential(
        base: SimDuration,
        multiplier: f64,
        cap: SimDuration,
        jitter: Jitter,
    ) -> Result<Self, RetryConfigError> {
        if base.0 == 0 {
            return Err(RetryConfigError::new(
                "base",
                base,
                "above 0 (use an immediate backoff for no delay)",
            ));
        }
        check_range(
            "multiplier",
            multiplier,
            1.0,
            1e6,
            "a finite number from 1 to 10^6",
        )?;
        if cap < base {
            return Err(RetryConfigError::new("cap", cap, "at least base"));
        }
        let mut e = Exponential {
            base,
            multiplier,
            cap,
            jitter,
            ceilings: [0; CEILINGS],
        };
        for n in 0..CEILINGS {
            e.ceilings[n] = e.compute(n as u32);
        }
        Ok(Self::Exponential(e))
    }

    /// Checks the parameters: an exponential backoff is checked when built;
    /// a schedule must not be empty.
    pub fn validate(&self) -> Result<(), RetryConfigError> {
        match self {
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
    #[inline]
    pub fn ceiling(&self, n: u32) -> SimDuration {
        match self {
            Self::Exponential(e) => SimDuration(e.ceiling(n)),
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
        let Self::Exponential(e) = self else {
            return self.ceiling(n);
        };
        SimDuration(match e.jitter {
            Jitter::None => e.ceiling(n),
            Jitter::Full => between(0, e.ceiling(n), rng),
            Jitter::Equal => {
                let v = e.ceiling(n);
                let half = v / 2;
                half + between(0, v - half, rng)
            }
            Jitter::Decorrelated => {
                let base = e.base.0;
                let hi = prev.0.max(base).saturating_mul(3);
                between(base, hi, rng).min(e.cap.0)
            }
        })
    }
}

/// The serialized form of a [`Backoff`], validated on the way in.
#[cfg(feature = "serde")]
mod repr {
    use super::{Backoff, Jitter, RetryConfigError, SimDuration};

    /// The serialized form of a [`Backoff`]: validated on the way in.
    #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
    #[cfg_attr(
        feature = "serde",
        serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)
    )]
    pub(super) enum BackoffRepr {
        Exponential {
            base: SimDuration,
            #[cfg_attr(feature = "serde", serde(default = "default_multiplier"))]
            multiplier: f64,
            cap: SimDuration,
            #[cfg_attr(feature = "serde", serde(default = "default_jitter"))]
            jitter: Jitter,
        },
        Constant {
            delay: SimDuration,
        },
        // A struct variant, not a unit one: serde applies
        // `deny_unknown_fields` only to fields it reads, so `{ kind =
        // "immediate", delay = "1s" }` would pass silently as a unit variant.
        Immediate {},
        Schedule {
            delays: Vec<SimDuration>,
        },
    }

    fn default_multiplier() -> f64 {
        2.0
    }

    fn default_jitter() -> Jitter {
        Jitter::Full
    }

    impl TryFrom<BackoffRepr> for Backoff {
        type Error = RetryConfigError;

        fn try_from(r: BackoffRepr) -> Result<Self, RetryConfigError> {
            let b = match r {
                BackoffRepr::Exponential {
                    base,
                    multiplier,
                    cap,
                    jitter,
                } => return Backoff::exponential(base, multiplier, cap, jitter),
                BackoffRepr::Constant { delay } => Backoff::Constant(delay),
                BackoffRepr::Immediate {} => Backoff::Immediate,
                BackoffRepr::Schedule { delays } => Backoff::Schedule(delays),
            };
            b.validate()?;
            Ok(b)
        }
    }

    impl From<Backoff> for BackoffRepr {
        fn from(b: Backoff) -> Self {
            match b {
                Backoff::Exponential(e) => BackoffRepr::Exponential {
                    base: e.base,
                    multiplier: e.multiplier,
                    cap: e.cap,
                    jitter: e.jitter,
                },
                Backoff::Constant(delay) => BackoffRepr::Constant { delay },
                Backoff::Immediate => BackoffRepr::Immediate {},
                Backoff::Schedule(delays) => BackoffRepr::Schedule { delays },
            }
        }
    }
}
