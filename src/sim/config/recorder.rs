//! The recorder's settings and the verdict rule's thresholds.

use serde::{Deserialize, Serialize};

use crate::sim::error::SimError;
use crate::time::{SimDuration, SimTime};

use super::MAX_INTERVALS;
use super::validate::finite_in;

/// Recorder, summary and verdict settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecorderConfig {
    /// Length of one series interval.
    #[serde(default = "default_interval")]
    pub interval: SimDuration,
    /// An interval is *collapsed* when goodput is below this fraction of
    /// the offered load.
    #[serde(default = "default_collapse_ratio")]
    pub collapse_ratio: f64,
    /// A collapse counts when it lasts at least this long.
    #[serde(default = "default_collapse_min")]
    pub collapse_min: SimDuration,
    /// The end of the trigger (e.g. when the drained site is restored);
    /// `None`: when the last timeline action is done (its time plus its
    /// ramp), if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_end: Option<SimTime>,
    /// A run not yet *recovered* this long after the trigger ended is
    /// *metastable* (see [`verdict`](crate::sim::verdict)).
    #[serde(default = "default_metastable_after")]
    pub metastable_after: SimDuration,
    /// Recovered: goodput at least this fraction of the offered load over
    /// a [`recovery_window`](Self::recovery_window), in (0, 1]. Default
    /// 0.95.
    #[serde(default = "default_recovered_fraction")]
    pub recovered_fraction: f64,
    /// Recovered: amplification (attempts ÷ offered requests) at most this
    /// over a [`recovery_window`](Self::recovery_window), in [1, 100].
    /// Default 1.1.
    #[serde(default = "default_recovered_amplification")]
    pub recovered_amplification: f64,
    /// The window over which recovery is judged (at least one interval).
    /// `None`: 10 s, or one interval if that is longer (see
    /// [`window`](Self::window)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_window: Option<SimDuration>,
    /// Lost goodput (fraction of offered requests that never succeeded)
    /// above which a run without collapse is *degraded* rather than
    /// *absorbed*.
    #[serde(default = "default_degraded_loss")]
    pub degraded_loss: f64,
    /// The first part of the run, left out of the verdict and of every
    /// figure of the summary (its totals, mean and percentiles); the
    /// series still shows it. Whole intervals are left out: those that
    /// start before it ends. Below `duration`.
    #[serde(default)]
    pub warm_up: SimDuration,
}

pub(super) fn default_interval() -> SimDuration {
    SimDuration::from_secs(1)
}
pub(super) fn default_collapse_ratio() -> f64 {
    0.5
}
pub(super) fn default_collapse_min() -> SimDuration {
    SimDuration::from_secs(5)
}
pub(super) fn default_metastable_after() -> SimDuration {
    SimDuration::from_secs(60)
}
pub(super) fn default_degraded_loss() -> f64 {
    0.01
}
pub(super) fn default_recovered_fraction() -> f64 {
    0.95
}
pub(super) fn default_recovered_amplification() -> f64 {
    1.1
}

impl RecorderConfig {
    /// The window over which recovery is judged: `recovery_window`, or
    /// 10 s, or one interval if that is longer.
    pub fn window(&self) -> SimDuration {
        self.recovery_window
            .unwrap_or(SimDuration::from_secs(10).max(self.interval))
    }

    /// The verdict rule in one sentence, with this configuration's
    /// thresholds: what reports print under their tables.
    ///
    /// ```
    /// use drainstorm::sim::RecorderConfig;
    ///
    /// let rule = RecorderConfig::default().rule();
    /// assert!(rule.contains("the first 10s window with goodput ≥ 95% of offered"), "{rule}");
    /// assert!(rule.contains("not recovered 1m after"), "{rule}");
    /// ```
    pub fn rule(&self) -> String {
        format!(
            "recovered: from the trigger's end, the first {} window with goodput ≥ {}% of offered and amplification ≤ {}; \
             metastable: not recovered {} after the trigger's end; \
             collapsed: goodput < {}% of offered for ≥ {}; \
             degraded: more than {}% of requests lost",
            self.window(),
            self.recovered_fraction * 100.0,
            self.recovered_amplification,
            self.metastable_after,
            self.collapse_ratio * 100.0,
            self.collapse_min,
            self.degraded_loss * 100.0,
        )
    }
}

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            interval: default_interval(),
            collapse_ratio: default_collapse_ratio(),
            collapse_min: default_collapse_min(),
            trigger_end: None,
            metastable_after: default_metastable_after(),
            degraded_loss: default_degraded_loss(),
            recovered_fraction: default_recovered_fraction(),
            recovered_amplification: default_recovered_amplification(),
            recovery_window: None,
            warm_up: SimDuration::ZERO,
        }
    }
}

impl RecorderConfig {
    /// Checks the recorder's settings for a run of `duration`; errors
    /// name the key under `recorder`.
    pub(crate) fn validate(&self, duration: SimDuration) -> Result<(), SimError> {
        if self.interval < SimDuration::from_millis(1) {
            return Err(SimError::invalid(
                "recorder.interval",
                self.interval,
                "at least 1ms",
            ));
        }
        if duration.0 / self.interval.0 >= MAX_INTERVALS {
            return Err(SimError::invalid(
                "recorder.interval",
                self.interval,
                format!(
                    "long enough that duration / interval < {MAX_INTERVALS} (the series would not fit in memory)"
                ),
            ));
        }
        if self.warm_up >= duration {
            return Err(SimError::invalid(
                "recorder.warm_up",
                self.warm_up,
                format!(
                    "below the duration ({duration}): nothing after the warm-up would be measured"
                ),
            ));
        }
        finite_in(
            "recorder.collapse_ratio",
            self.collapse_ratio,
            0.0,
            1.0,
            "in [0, 1]",
        )?;
        if !(self.recovered_fraction > 0.0 && self.recovered_fraction <= 1.0) {
            return Err(SimError::invalid(
                "recorder.recovered_fraction",
                self.recovered_fraction,
                "in (0, 1]",
            ));
        }
        finite_in(
            "recorder.recovered_amplification",
            self.recovered_amplification,
            1.0,
            100.0,
            "in [1, 100]",
        )?;
        if let Some(w) = self.recovery_window
            && w < self.interval
        {
            return Err(SimError::invalid(
                "recorder.recovery_window",
                w,
                format!("at least one interval ({})", self.interval),
            ));
        }
        finite_in(
            "recorder.degraded_loss",
            self.degraded_loss,
            0.0,
            1.0,
            "in [0, 1]",
        )
    }
}
