//! A site load balancer's passive outlier detection.

use serde::{Deserialize, Serialize};

use crate::balancer::{BalancerError, FailurePercentageParams, OutlierParams, SuccessRateParams};
use crate::sim::error::SimError;
use crate::time::SimDuration;

/// Envoy's outlier detection at a site's load balancer
/// (`outlier_detection` in a site's table). Defaults are Envoy's
/// (`config.cluster.v3.OutlierDetection`); the keys keep Envoy's names.
///
/// - Consecutive errors: a backend that answers `consecutive_errors`
///   errors in a row — a failure, a request its controlled-delay queue
///   shed, a refusal from a full queue — is taken out of the balancer
///   (with a chance of `enforcing_consecutive_errors` percent).
/// - Every `interval`, a sweep: among the backends with at least
///   `success_rate_request_volume` answers in the interval (if at least
///   `success_rate_minimum_hosts` have), those whose success rate is under
///   the mean less `success_rate_stdev_factor / 1000` standard deviations
///   are taken out (chance `enforcing_success_rate`); likewise those with
///   `failure_percentage_threshold` percent or more errors
///   (`failure_percentage_minimum_hosts`,
///   `failure_percentage_request_volume`; chance
///   `enforcing_failure_percentage`, 0 by default as in Envoy: off). A
///   backend that is in at a sweep has its multiplier lowered by one.
///
/// A backend taken out stays out for `base_ejection` times its multiplier
/// (the times it has been ejected, less the sweeps it was in since), at
/// most `max_ejection`, unless `max_ejection_percent` of the site's
/// backends (at least one) are out already. Defaults: 5 errors, 30 s,
/// 300 s, 10 %, a 10 s interval, success rate over 100 answers and 5
/// hosts at 1.9 deviations. See
/// [`OutlierDetector`](crate::balancer::OutlierDetector).
///
/// ```
/// use drainstorm::sim::OutlierDetection;
///
/// let od: OutlierDetection = toml::from_str("consecutive_errors = 3").unwrap();
/// assert_eq!(od.consecutive_errors, 3);
/// assert_eq!(od.max_ejection_percent, 10);
/// assert_eq!(od.success_rate_stdev_factor, 1900);
/// assert_eq!(od.enforcing_failure_percentage, 0);
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
    /// The chance, in percent, that consecutive errors eject (default 100).
    #[serde(default = "default_enforcing")]
    pub enforcing_consecutive_errors: u32,
    /// Time between sweeps (default 10 s).
    #[serde(default = "default_interval")]
    pub interval: SimDuration,
    /// Backends with enough answers needed for success-rate detection
    /// (default 5).
    #[serde(default = "default_sr_hosts")]
    pub success_rate_minimum_hosts: u32,
    /// Answers in an interval a backend needs to be judged by success rate
    /// (default 100).
    #[serde(default = "default_sr_volume")]
    pub success_rate_request_volume: u32,
    /// Standard deviations under the mean, in thousandths, that eject
    /// (default 1900).
    #[serde(default = "default_sr_factor")]
    pub success_rate_stdev_factor: u32,
    /// The chance, in percent, that a low success rate ejects (default 100;
    /// 0 turns success-rate detection off).
    #[serde(default = "default_enforcing")]
    pub enforcing_success_rate: u32,
    /// The share of errors, in percent, that ejects (default 85).
    #[serde(default = "default_fp_threshold")]
    pub failure_percentage_threshold: u32,
    /// Backends with enough answers needed for failure-percentage
    /// detection (default 5).
    #[serde(default = "default_fp_hosts")]
    pub failure_percentage_minimum_hosts: u32,
    /// Answers in an interval a backend needs to be judged by its failure
    /// percentage (default 50).
    #[serde(default = "default_fp_volume")]
    pub failure_percentage_request_volume: u32,
    /// The chance, in percent, that a high failure percentage ejects
    /// (default 0: off).
    #[serde(default)]
    pub enforcing_failure_percentage: u32,
}

fn default_enforcing() -> u32 {
    100
}

fn default_interval() -> SimDuration {
    SimDuration(OutlierParams::default().interval_ns)
}

fn default_sr_hosts() -> u32 {
    SuccessRateParams::default().minimum_hosts
}

fn default_sr_volume() -> u32 {
    SuccessRateParams::default().request_volume
}

fn default_sr_factor() -> u32 {
    SuccessRateParams::default().stdev_factor
}

fn default_fp_threshold() -> u32 {
    FailurePercentageParams::default().threshold
}

fn default_fp_hosts() -> u32 {
    FailurePercentageParams::default().minimum_hosts
}

fn default_fp_volume() -> u32 {
    FailurePercentageParams::default().request_volume
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
            enforcing_consecutive_errors: default_enforcing(),
            interval: default_interval(),
            success_rate_minimum_hosts: default_sr_hosts(),
            success_rate_request_volume: default_sr_volume(),
            success_rate_stdev_factor: default_sr_factor(),
            enforcing_success_rate: default_enforcing(),
            failure_percentage_threshold: default_fp_threshold(),
            failure_percentage_minimum_hosts: default_fp_hosts(),
            failure_percentage_request_volume: default_fp_volume(),
            enforcing_failure_percentage: 0,
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
            enforcing_consecutive_errors: self.enforcing_consecutive_errors,
            interval_ns: self.interval.0,
            success_rate: SuccessRateParams {
                minimum_hosts: self.success_rate_minimum_hosts,
                request_volume: self.success_rate_request_volume,
                stdev_factor: self.success_rate_stdev_factor,
                enforcing: self.enforcing_success_rate,
            },
            failure_percentage: FailurePercentageParams {
                threshold: self.failure_percentage_threshold,
                minimum_hosts: self.failure_percentage_minimum_hosts,
                request_volume: self.failure_percentage_request_volume,
                enforcing: self.enforcing_failure_percentage,
            },
        }
    }

    /// Checks the ranges, naming the key under `path`.
    pub(crate) fn validate(&self, path: &str) -> Result<(), SimError> {
        match self.params().check() {
            Ok(()) => Ok(()),
            Err(BalancerError::InvalidParameter { name, allowed, .. }) => {
                let value = match name {
                    "base_ejection" => self.base_ejection.to_string(),
                    "max_ejection" => self.max_ejection.to_string(),
                    "interval" => self.interval.to_string(),
                    "consecutive_errors" => self.consecutive_errors.to_string(),
                    "max_ejection_percent" => self.max_ejection_percent.to_string(),
                    "enforcing_consecutive_errors" => self.enforcing_consecutive_errors.to_string(),
                    "enforcing_success_rate" => self.enforcing_success_rate.to_string(),
                    "success_rate_minimum_hosts" => self.success_rate_minimum_hosts.to_string(),
                    "success_rate_request_volume" => self.success_rate_request_volume.to_string(),
                    "failure_percentage_threshold" => self.failure_percentage_threshold.to_string(),
                    "failure_percentage_minimum_hosts" => {
                        self.failure_percentage_minimum_hosts.to_string()
                    }
                    "failure_percentage_request_volume" => {
                        self.failure_percentage_request_volume.to_string()
                    }
                    _ => self.enforcing_failure_percentage.to_string(),
                };
                Err(SimError::invalid(format!("{path}.{name}"), value, allowed))
            }
            Err(e) => Err(SimError::invalid(path, "a table", e.to_string())),
        }
    }
}
