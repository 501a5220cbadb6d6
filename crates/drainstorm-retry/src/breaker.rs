//! A client-side circuit breaker.

use super::error::{RetryConfigError, check_range};
use super::window::Window;
use super::{SimDuration, SimTime};

/// What the breaker's failure ratio is computed over (`{ count = 100 }` or
/// `{ time = "10s" }` in a profile).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum BreakerWindow {
    /// The last `n` outcomes (1 to 10^6).
    Count(u32),
    /// The outcomes of the last span of time (at least 10 ns).
    Time(SimDuration),
}

/// Circuit-breaker parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct BreakerConfig {
    /// The sliding window.
    pub window: BreakerWindow,
    /// Failure ratio that opens the breaker, in (0, 1].
    pub failure_ratio: f64,
    /// Outcomes needed in the window before it may open (≥ 1).
    pub min_samples: u32,
    /// Time spent open before probing.
    pub cool_down: SimDuration,
    /// Attempts let through while half-open (≥ 1).
    pub half_open_probes: u32,
}

/// The breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Attempts pass; outcomes are counted.
    Closed,
    /// Attempts are refused until the given time.
    Open {
        /// When probing may start.
        until: SimTime,
    },
    /// Probing: `admitted` of the allowed probes have been let through.
    HalfOpen {
        /// Probes let through so far.
        admitted: u32,
    },
}

#[derive(Clone, Debug)]
enum Outcomes {
    /// A ring of the last `failed.len()` outcomes (`true` = failure).
    Count {
        failed: Box<[bool]>,
        next: usize,
        len: usize,
        failures: u64,
    },
    Time(Window),
}

/// A circuit breaker.
///
/// Closed, it counts outcomes over a sliding window (the last `N` outcomes,
/// or the last `T` of time). When at least `min_samples` are in the window
/// and the failure ratio reaches `failure_ratio`, it opens: every attempt is
/// refused locally for `cool_down`. Then it is half-open: at most
/// `half_open_probes` attempts go through; the first success closes it
/// (with an empty window), a failure opens it again. Outcomes that arrive
/// while open (from attempts sent before it opened) are ignored. This is
/// the shape of Hystrix, resilience4j and Polly breakers.
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: BreakerState,
    outcomes: Outcomes,
    /// `failure_ratio` in millionths, rounded up: the ratio test is then
    /// integer arithmetic and opens at the configured ratio or within 10⁻⁶
    /// above it.
    ratio_ppm: u64,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Result<Self, RetryConfigError> {
        let outcomes = match config.window {
            BreakerWindow::Count(n) if (1..=1_000_000).contains(&n) => Outcomes::Count {
                failed: vec![false; n as usize].into(),
                next: 0,
                len: 0,
                failures: 0,
            },
            BreakerWindow::Count(n) => {
                return Err(RetryConfigError::new(
                    "window.count",
                    n,
                    "from 1 to 1000000 outcomes",
                ));
            }
            BreakerWindow::Time(t) if t.0 >= 10 => Outcomes::Time(Window::new(t)),
            BreakerWindow::Time(t) => {
                return Err(RetryConfigError::new("window.time", t, "at least 10 ns"));
            }
        };
        check_range(
            "failure_ratio",
            config.failure_ratio,
            f64::MIN_POSITIVE,
            1.0,
            "above 0 and at most 1",
        )?;
        if config.min_samples == 0 {
            return Err(RetryConfigError::new("min_samples", 0, "at least 1"));
        }
        if config.half_open_probes == 0 {
            return Err(RetryConfigError::new("half_open_probes", 0, "at least 1"));
        }
        Ok(Self {
            config,
            state: BreakerState::Closed,
            outcomes,
            ratio_ppm: (config.failure_ratio * 1e6).ceil() as u64,
        })
    }

    /// The current state (as of the last call).
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// The parameters.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// Whether an attempt may be sent at `now` (counts a half-open probe).
    #[inline]
    pub fn allow(&mut self, now: SimTime) -> bool {
        if let BreakerState::Open { until } = self.state {
            if now < until {
                return false;
            }
            self.state = BreakerState::HalfOpen { admitted: 0 };
        }
        match &mut self.state {
            BreakerState::HalfOpen { admitted } => {
                if *admitted < self.config.half_open_probes {
                    *admitted += 1;
                    true
                } else {
                    false
                }
            }
            _ => true,
        }
    }

    /// Records an attempt's outcome at `now`.
    #[inline]
    pub fn record(&mut self, now: SimTime, success: bool) {
        match self.state {
            BreakerState::Open { .. } => {}
            BreakerState::HalfOpen { .. } => {
                if success {
                    self.state = BreakerState::Closed;
                    self.clear();
                } else {
                    self.open(now);
                }
            }
            BreakerState::Closed => {
                let (samples, failures) = self.push(now, success);
                if samples >= u64::from(self.config.min_samples)
                    && u128::from(failures) * 1_000_000
                        >= u128::from(self.ratio_ppm) * u128::from(samples)
                {
                    self.open(now);
                }
            }
        }
    }

    fn open(&mut self, now: SimTime) {
        self.state = BreakerState::Open {
            until: now + self.config.cool_down,
        };
        self.clear();
    }

    fn clear(&mut self) {
        match &mut self.outcomes {
            Outcomes::Count {
                failed,
                len,
                failures,
                ..
            } => {
                failed.fill(false);
                *len = 0;
                *failures = 0;
            }
            Outcomes::Time(w) => w.clear(),
        }
    }

    /// Adds an outcome; returns (samples, failures) in the window.
    #[inline]
    fn push(&mut self, now: SimTime, success: bool) -> (u64, u64) {
        match &mut self.outcomes {
            Outcomes::Count {
                failed,
                next,
                len,
                failures,
            } => {
                // The slot overwritten holds the oldest outcome (or an unused
                // `false` while the ring fills).
                let slot = &mut failed[*next];
                *failures = *failures - u64::from(*slot) + u64::from(!success);
                *slot = !success;
                *next = if *next + 1 == failed.len() {
                    0
                } else {
                    *next + 1
                };
                *len = (*len + 1).min(failed.len());
                (*len as u64, *failures)
            }
            Outcomes::Time(w) => {
                w.add(now, usize::from(!success), 1);
                let [ok, failed] = w.sums(now);
                (ok + failed, failed)
            }
        }
    }
}
