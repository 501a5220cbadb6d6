//! Backend-reported weights at a site's load balancer (ORCA).

use serde::{Deserialize, Serialize};

use crate::balancer::{BalancerError, OrcaParams};
use crate::sim::error::SimError;
use crate::time::SimDuration;

/// gRPC's weighted round robin weights from backends' load reports (gRFC
/// A58), at a site's load balancer (`orca` in a site's table): every
/// `update_period` each backend reports what it answered, its errors and
/// its utilisation (the share of its slots busy, from the work it finished
/// in the period), and the site's balancer weighs it by `qps /
/// (utilisation + eps / qps × error_utilization_penalty)` — capacity as
/// measured, whatever the configured weights say. Weights wait out a
/// `blackout_period` after a backend's first report and lapse after
/// `weight_expiration_period` without one. Defaults are gRPC's: 1 s, 10 s,
/// 3 minutes, 1. The weights go to the site's balancer scaled to at most
/// 100, replacing the configured ones once any backend has one (a backend
/// drained, ejected or standing by stays at 0). See [`OrcaWeights`](crate::balancer::OrcaWeights).
///
/// ```
/// use drainstorm::sim::Orca;
///
/// let o: Orca = toml::from_str("blackout_period = \"30s\"").unwrap();
/// assert_eq!(o.update_period.as_secs_f64(), 1.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Orca {
    /// Time between reports and weight updates (gRPC's
    /// `weight_update_period`; above 0, default 1 s).
    #[serde(default = "default_update")]
    pub update_period: SimDuration,
    /// How long after its first report a backend's weight is used (default
    /// 10 s).
    #[serde(default = "default_blackout")]
    pub blackout_period: SimDuration,
    /// How long a report stays valid (above 0; default 3 minutes).
    #[serde(default = "default_expiration")]
    pub weight_expiration_period: SimDuration,
    /// Utilisation charged per error per request (≥ 0; default 1).
    #[serde(default = "default_penalty")]
    pub error_utilization_penalty: f64,
}

fn default_update() -> SimDuration {
    SimDuration::from_secs(1)
}

fn default_blackout() -> SimDuration {
    SimDuration(OrcaParams::default().blackout_period_ns)
}

fn default_expiration() -> SimDuration {
    SimDuration(OrcaParams::default().weight_expiration_period_ns)
}

fn default_penalty() -> f64 {
    OrcaParams::default().error_utilization_penalty
}

impl Default for Orca {
    fn default() -> Self {
        Self {
            update_period: default_update(),
            blackout_period: default_blackout(),
            weight_expiration_period: default_expiration(),
            error_utilization_penalty: default_penalty(),
        }
    }
}

impl Orca {
    /// The kernel's parameters.
    pub fn params(&self) -> OrcaParams {
        OrcaParams {
            blackout_period_ns: self.blackout_period.0,
            weight_expiration_period_ns: self.weight_expiration_period.0,
            error_utilization_penalty: self.error_utilization_penalty,
        }
    }

    /// Checks the ranges, naming the key under `path`.
    pub(crate) fn validate(&self, path: &str) -> Result<(), SimError> {
        if self.update_period == SimDuration::ZERO {
            return Err(SimError::invalid(
                format!("{path}.update_period"),
                self.update_period,
                "above 0",
            ));
        }
        match self.params().check() {
            Ok(()) => Ok(()),
            Err(BalancerError::InvalidParameter { name, allowed, .. }) => {
                let value = match name {
                    "weight_expiration_period" => self.weight_expiration_period.to_string(),
                    _ => self.error_utilization_penalty.to_string(),
                };
                Err(SimError::invalid(format!("{path}.{name}"), value, allowed))
            }
            Err(e) => Err(SimError::invalid(path, "a table", e.to_string())),
        }
    }
}
