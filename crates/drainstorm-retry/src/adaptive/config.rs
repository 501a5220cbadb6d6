//! The adaptive limits' parameters: which algorithm, its settings with
//! Netflix's defaults, their validation and their one-line description.

use crate::error::{RetryConfigError, check_range};
use crate::time::SimDuration;

/// Which adaptive limit, with its parameters (Netflix's defaults through
/// [`Default`] and the constructors).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "algorithm", rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum AdaptiveLimit {
    /// TCP Vegas: queue estimated from the least round trip seen.
    Vegas(VegasLimit),
    /// Netflix's Gradient2: a long average of round trips against the
    /// latest.
    Gradient2(Gradient2Limit),
    /// Additive increase, multiplicative decrease on drops.
    Aimd(AimdLimit),
}

/// [`AdaptiveLimit::Vegas`]'s parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct VegasLimit {
    /// The limit before any sample (1 ..= `max_limit`). Default 20.
    pub initial_limit: u32,
    /// The highest limit (≥ 1). Default 1000.
    pub max_limit: u32,
    /// Weight of a new estimate against the old, in (0, 1]. Default 1.
    pub smoothing: f64,
    /// Samples between probes of the no-load round trip, as a multiple of
    /// the limit (≥ 1). Default 30.
    pub probe_multiplier: u32,
}

impl Default for VegasLimit {
    fn default() -> Self {
        Self {
            initial_limit: 20,
            max_limit: 1000,
            smoothing: 1.0,
            probe_multiplier: 30,
        }
    }
}

/// [`AdaptiveLimit::Gradient2`]'s parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct Gradient2Limit {
    /// The limit before any sample (`min_limit` ..= `max_limit`). Default 20.
    pub initial_limit: u32,
    /// The lowest limit (≥ 1). Default 20.
    pub min_limit: u32,
    /// The highest limit (≥ `min_limit`). Default 200.
    pub max_limit: u32,
    /// Weight of a new estimate against the old, in (0, 1]. Default 0.2.
    pub smoothing: f64,
    /// Attempts added to the scaled limit, so that it can grow (≥ 0).
    /// Default 4.
    pub queue_size: f64,
    /// Samples the long round-trip average spans (≥ 1). Default 600.
    pub long_window: u32,
    /// How much longer than the long average a round trip may be before
    /// the limit falls (≥ 1). Default 1.5.
    pub rtt_tolerance: f64,
}

impl Default for Gradient2Limit {
    fn default() -> Self {
        Self {
            initial_limit: 20,
            min_limit: 20,
            max_limit: 200,
            smoothing: 0.2,
            queue_size: 4.0,
            long_window: 600,
            rtt_tolerance: 1.5,
        }
    }
}

/// [`AdaptiveLimit::Aimd`]'s parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct AimdLimit {
    /// The limit before any sample (`min_limit` ..= `max_limit`). Default 20.
    pub initial_limit: u32,
    /// The lowest limit (≥ 1). Default 20.
    pub min_limit: u32,
    /// The highest limit (≥ `min_limit`). Default 200.
    pub max_limit: u32,
    /// The share of the limit kept on a drop, in [0.5, 1). Default 0.9.
    pub backoff_ratio: f64,
    /// A round trip longer than this counts as a drop. Default 5 s.
    pub timeout: SimDuration,
}

impl Default for AimdLimit {
    fn default() -> Self {
        Self {
            initial_limit: 20,
            min_limit: 20,
            max_limit: 200,
            backoff_ratio: 0.9,
            timeout: SimDuration::from_secs(5),
        }
    }
}

impl AdaptiveLimit {
    /// Vegas with Netflix's defaults.
    pub fn vegas() -> Self {
        Self::Vegas(VegasLimit::default())
    }

    /// Gradient2 with Netflix's defaults.
    pub fn gradient2() -> Self {
        Self::Gradient2(Gradient2Limit::default())
    }

    /// AIMD with Netflix's defaults.
    pub fn aimd() -> Self {
        Self::Aimd(AimdLimit::default())
    }

    /// The algorithm's name, as in profiles.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Vegas(_) => "vegas",
            Self::Gradient2(_) => "gradient2",
            Self::Aimd(_) => "aimd",
        }
    }

    /// Checks every parameter; errors name it under `limits.adaptive`.
    pub fn validate(&self) -> Result<(), RetryConfigError> {
        let (initial, min, max) = match *self {
            Self::Vegas(v) => {
                check_range(
                    "limits.adaptive.smoothing",
                    v.smoothing,
                    f64::MIN_POSITIVE,
                    1.0,
                    "above 0, at most 1",
                )?;
                if v.probe_multiplier == 0 {
                    return Err(RetryConfigError::new(
                        "limits.adaptive.probe_multiplier",
                        0,
                        "at least 1",
                    ));
                }
                (v.initial_limit, 1, v.max_limit)
            }
            Self::Gradient2(g) => {
                check_range(
                    "limits.adaptive.smoothing",
                    g.smoothing,
                    f64::MIN_POSITIVE,
                    1.0,
                    "above 0, at most 1",
                )?;
                check_range(
                    "limits.adaptive.queue_size",
                    g.queue_size,
                    0.0,
                    1e6,
                    "from 0 to 1000000",
                )?;
                check_range(
                    "limits.adaptive.rtt_tolerance",
                    g.rtt_tolerance,
                    1.0,
                    100.0,
                    "from 1 to 100",
                )?;
                if g.long_window == 0 {
                    return Err(RetryConfigError::new(
                        "limits.adaptive.long_window",
                        0,
                        "at least 1 sample",
                    ));
                }
                (g.initial_limit, g.min_limit, g.max_limit)
            }
            Self::Aimd(a) => {
                check_range(
                    "limits.adaptive.backoff_ratio",
                    a.backoff_ratio,
                    0.5,
                    1.0 - f64::EPSILON,
                    "at least 0.5, under 1",
                )?;
                if a.timeout == SimDuration::ZERO {
                    return Err(RetryConfigError::new(
                        "limits.adaptive.timeout",
                        "0",
                        "above 0",
                    ));
                }
                (a.initial_limit, a.min_limit, a.max_limit)
            }
        };
        if min == 0 {
            return Err(RetryConfigError::new(
                "limits.adaptive.min_limit",
                0,
                "at least 1",
            ));
        }
        if max < min {
            return Err(RetryConfigError::new(
                "limits.adaptive.max_limit",
                max,
                "at least min_limit (and at least 1)",
            ));
        }
        if initial < min || initial > max {
            return Err(RetryConfigError::new(
                "limits.adaptive.initial_limit",
                initial,
                "from min_limit (1 for vegas) to max_limit",
            ));
        }
        Ok(())
    }

    pub(super) fn initial_limit(&self) -> u32 {
        match self {
            Self::Vegas(v) => v.initial_limit,
            Self::Gradient2(g) => g.initial_limit,
            Self::Aimd(a) => a.initial_limit,
        }
    }
}

impl std::fmt::Display for AdaptiveLimit {
    /// One line for `show`: the algorithm and its parameters.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Vegas(v) => write!(
                f,
                "an adaptive Vegas limit on attempts in flight (from {}, up to {}, smoothing {}, probing every {} × limit samples)",
                v.initial_limit, v.max_limit, v.smoothing, v.probe_multiplier
            ),
            Self::Gradient2(g) => write!(
                f,
                "an adaptive Gradient2 limit on attempts in flight (from {}, within {}..={}, smoothing {}, queue {}, long window {} samples, tolerance {})",
                g.initial_limit,
                g.min_limit,
                g.max_limit,
                g.smoothing,
                g.queue_size,
                g.long_window,
                g.rtt_tolerance
            ),
            Self::Aimd(a) => write!(
                f,
                "an adaptive AIMD limit on attempts in flight (from {}, within {}..={}, × {} on a drop or a round trip over {})",
                a.initial_limit, a.min_limit, a.max_limit, a.backoff_ratio, a.timeout
            ),
        }
    }
}
