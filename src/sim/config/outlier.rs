//! A site load balancer's passive outlier detection.

use serde::{Deserialize, Serialize};

use crate::balancer::{BalancerError, OutlierParams};
use crate::sim::error::SimError;
use crate::time::SimDuration;

/// Envoy's consecutive-errors outlier detection at a site's load
/// balancer (`outlier_detection` in a site's table): a backend that
/// answers `consecutive_errors` errors in a row — a failure, a request
/// its controlled-delay queue shed, a refusal from a full queue — is
/// taken out of the balancer for `base_ejection` times the number of
/// times it has been ejected (at most `max_ejection`), unless
/// `max_ejection_percent` of the site's backends (at least one) are out
/// already. Defaults are Envoy's (`config.cluster.v3.OutlierDetection`):
/// 5 errors, 30 s, 300 s, 10 %. See
/// [`OutlierDetector`](crate::balancer::OutlierDetector).
///
/// ```
/// use drainstorm::sim::OutlierDetection;
///
/// let od: OutlierDetection = toml::from_str("consecutive_errors = 3").unwrap();
/// assert_eq!(od.consecutive_errors, 3);
/// assert_eq!(od.max_ejection_percent, 10);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OutlierDetection {
    /// Errors in a row that eject a backend (default 5).
    #[serde(default = "default_consecutive")]
    pub consecutive_errors: u32,
    /// A first ejection's length; the k-th lasts k times as long (default
    /// 30 s).
    #[serde(default = "default_base")]
    pub base_ejection: SimDuration,
    /// The longest ejection (default 300 s).
    #[serde(default = "default_max")]
    pub max_ejection: SimDuration,
    /// The most backends out at once, in percent of the site's (default
    /// 10; one may always be out).
    #[serde(default = "default_percent")]
    pub max_ejection_percent: u32,
}

fn default_consecutive() -> u32 {
    OutlierParams::default().consecutive_errors
}

fn default_base() -> SimDuration {
    SimDuration(OutlierParams::default().base_ejection_ns)
}

fn default_max() -> SimDuration {
    SimDuration(OutlierParams::default().max_ejection_ns)
}

fn default_percent() -> u32 {
    OutlierParams::default().max_ejection_percent
}

impl Default for OutlierDetection {
    fn default() -> Self {
        Self {
            consecutive_errors: default_consecutive(),
            base_ejection: default_base(),
            max_ejection: default_max(),
            max_ejection_percent: default_percent(),
        }
    }
}

impl OutlierDetection {
    /// The kernel's parameters.
    pub fn params(&self) -> OutlierParams {
        OutlierParams {
            consecutive_errors: self.consecutive_errors,
            base_ejection_ns: self.base_ejection.0,
            max_ejection_ns: self.max_ejection.0,
            max_ejection_percent: self.max_ejection_percent,
        }
    }

    /// Checks the ranges, naming the key under `path`.
    pub(crate) fn validate(&self, path: &str) -> Result<(), SimError> {
        match self.params().check() {
            Ok(()) => Ok(()),
            Err(BalancerError::InvalidParameter { name, allowed, .. }) => {
                let value = match name {
                    "consecutive_errors" => self.consecutive_errors.to_string(),
                    "base_ejection" => self.base_ejection.to_string(),
                    "max_ejection" => self.max_ejection.to_string(),
                    _ => self.max_ejection_percent.to_string(),
                };
                Err(SimError::invalid(format!("{path}.{name}"), value, allowed))
            }
            Err(e) => Err(SimError::invalid(path, "a table", e.to_string())),
        }
    }
}
