//! Backend autoscaling at a site: a target-tracking autoscaler (the
//! Kubernetes Horizontal Pod Autoscaler's rule) that adds backends after a
//! boot lag and removes them after a stabilisation window.

use serde::{Deserialize, Serialize};

use crate::sim::error::SimError;
use crate::time::SimDuration;

use super::validate::finite_in;

/// How a site's backends follow their load (`autoscaling` in a site's
/// table). The site's configured backends are its pool, the most it can
/// run; `initial` of them (the first, in the order the configuration lists
/// them) are in service at the start, the rest stand by outside the
/// balancer.
///
/// Every `interval` the autoscaler measures the busy share of the slots
/// in service over the interval, `u`, and wants, as the HPA does,
/// `ceil(in_service × u / target_utilisation)` backends, within [`min`,
/// pool] — unless `u / target_utilisation` is within `tolerance` of 1.
/// More backends than it has (counting those booting) start booting and
/// join the balancer `lag` later (with the router's `slow_start`, if
/// set); fewer leave at once — backends still booting first, then
/// backends in service, which leave the balancer (their queues are still
/// served) — but only as far as the highest want over the last
/// `stabilization`, so that a dip does not shed capacity a minute before
/// the next peak.
/// Backends leave and join in the configured order, last in first out.
/// Defaults are the HPA's (15 s, a tolerance of 0.1, a 5-minute window)
/// and a 2-minute boot.
///
/// ```
/// use drainstorm::sim::Autoscaling;
///
/// let a: Autoscaling = toml::from_str("initial = 40\ntarget_utilisation = 0.6").unwrap();
/// assert_eq!(a.min, None); // the initial count
/// assert_eq!(a.lag.as_secs_f64(), 120.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Autoscaling {
    /// Backends in service at the start (1 ..= the site's backends).
    pub initial: u32,
    /// The fewest in service (1 ..= `initial`; default `initial`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    /// The busy share of the slots in service to keep, in (0, 1].
    pub target_utilisation: f64,
    /// Time between measurements (above 0; default 15 s).
    #[serde(default = "default_interval")]
    pub interval: SimDuration,
    /// A new backend's boot time, from the decision to its first request
    /// (default 2 min).
    #[serde(default = "default_lag")]
    pub lag: SimDuration,
    /// Departure from the target ignored, as a share of it, in [0, 1)
    /// (default 0.1).
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// How long a want for more backends holds off removing them (default
    /// 5 min).
    #[serde(default = "default_stabilization")]
    pub stabilization: SimDuration,
}

fn default_interval() -> SimDuration {
    SimDuration::from_secs(15)
}

fn default_lag() -> SimDuration {
    SimDuration::from_secs(120)
}

fn default_tolerance() -> f64 {
    0.1
}

fn default_stabilization() -> SimDuration {
    SimDuration::from_secs(300)
}

impl Autoscaling {
    /// `initial` backends in service, tracking `target_utilisation`, with
    /// every other setting at its default.
    pub fn new(initial: u32, target_utilisation: f64) -> Self {
        Self {
            initial,
            min: None,
            target_utilisation,
            interval: default_interval(),
            lag: default_lag(),
            tolerance: default_tolerance(),
            stabilization: default_stabilization(),
        }
    }

    /// The fewest backends in service.
    pub fn min_backends(&self) -> u32 {
        self.min.unwrap_or(self.initial)
    }

    /// Checks the ranges against a pool of `pool` backends, naming the key
    /// under `path`.
    pub(crate) fn validate(&self, path: &str, pool: u64) -> Result<(), SimError> {
        if self.initial == 0 || u64::from(self.initial) > pool {
            return Err(SimError::invalid(
                format!("{path}.initial"),
                self.initial,
                format!("from 1 to the site's {pool} backends"),
            ));
        }
        if let Some(min) = self.min
            && (min == 0 || min > self.initial)
        {
            return Err(SimError::invalid(
                format!("{path}.min"),
                min,
                "from 1 to initial",
            ));
        }
        finite_in(
            &format!("{path}.target_utilisation"),
            self.target_utilisation,
            f64::MIN_POSITIVE,
            1.0,
            "in (0, 1]",
        )?;
        finite_in(
            &format!("{path}.tolerance"),
            self.tolerance,
            0.0,
            1.0 - f64::EPSILON,
            "in [0, 1)",
        )?;
        if self.interval == SimDuration::ZERO {
            return Err(SimError::invalid(
                format!("{path}.interval"),
                self.interval,
                "above 0",
            ));
        }
        Ok(())
    }
}
