//! Server-side adaptive concurrency at a site's load balancer (Envoy's
//! gradient controller).

use serde::{Deserialize, Serialize};

use crate::balancer::{BalancerError, ConcurrencyParams};
use crate::sim::error::SimError;
use crate::time::SimDuration;

/// Envoy's adaptive concurrency filter at a site's load balancer
/// (`adaptive_concurrency` in a site's table): the site limits the attempts
/// it has forwarded to its backends and not yet seen answered, and learns
/// the limit from their latency. An attempt over the limit is answered at
/// once with an error, as Envoy's 503, and counts as a load-balancer
/// rejection (`lb_rejects`). See [`GradientController`] for the algorithm.
///
/// The keys are Envoy's (`gradient_controller_config`, flattened), and so
/// are the defaults; Envoy requires the two intervals, which default here
/// to its documentation's example, 100 ms and 60 s.
///
/// The latency is measured from the moment the site forwards an attempt
/// to a backend (after its accept backlog) until the backend answers:
/// queueing and service. Every answer is a sample, errors and requests
/// shed by a backend's queue included, and so is a refusal from a full
/// backend queue (with a latency of 0, as Envoy's router answers it
/// locally); an attempt whose client cancels it is not. Health probes do
/// not pass the filter.
///
/// [`GradientController`]: crate::balancer::GradientController
///
/// ```
/// use drainstorm::sim::AdaptiveConcurrency;
///
/// let a: AdaptiveConcurrency = toml::from_str(r#"interval = "30s""#).unwrap();
/// assert_eq!(a.concurrency_update_interval.as_secs_f64(), 0.1);
/// assert_eq!(a.min_concurrency, 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AdaptiveConcurrency {
    /// The percentile of an interval's latencies that stands for them
    /// (above 0, at most 100; default 50).
    #[serde(default = "default_percentile")]
    pub sample_aggregate_percentile: f64,
    /// The highest limit (at least `min_concurrency`; default 1000).
    #[serde(default = "default_max")]
    pub max_concurrency_limit: u32,
    /// Time between limit updates (above 0; default 100 ms).
    #[serde(default = "default_update")]
    pub concurrency_update_interval: SimDuration,
    /// Time between minRTT measurements (above 0; default 60 s).
    #[serde(default = "default_interval")]
    pub interval: SimDuration,
    /// A minRTT to use instead of measuring it (above 0; default none).
    #[serde(default)]
    pub fixed_value: Option<SimDuration>,
    /// Answers a minRTT measurement waits for (at least 1; default 50).
    #[serde(default = "default_request_count")]
    pub request_count: u32,
    /// The most a measurement's start is put off, in percent of `interval`
    /// (0 to 100; default 15).
    #[serde(default = "default_jitter")]
    pub jitter: f64,
    /// The limit while the minRTT is measured, and the lowest limit (at
    /// least 1; default 3).
    #[serde(default = "default_min_concurrency")]
    pub min_concurrency: u32,
    /// Percent added to the minRTT before it is compared (0 to 100;
    /// default 25).
    #[serde(default = "default_buffer")]
    pub buffer: f64,
}

fn default_percentile() -> f64 {
    ConcurrencyParams::default().sample_aggregate_percentile
}

fn default_max() -> u32 {
    ConcurrencyParams::default().max_concurrency_limit
}

fn default_update() -> SimDuration {
    SimDuration(ConcurrencyParams::default().concurrency_update_interval_ns)
}

fn default_interval() -> SimDuration {
    SimDuration(ConcurrencyParams::default().min_rtt_interval_ns)
}

fn default_request_count() -> u32 {
    ConcurrencyParams::default().request_count
}

fn default_jitter() -> f64 {
    ConcurrencyParams::default().jitter_percent
}

fn default_min_concurrency() -> u32 {
    ConcurrencyParams::default().min_concurrency
}

fn default_buffer() -> f64 {
    ConcurrencyParams::default().buffer_percent
}

impl Default for AdaptiveConcurrency {
    fn default() -> Self {
        Self {
            sample_aggregate_percentile: default_percentile(),
            max_concurrency_limit: default_max(),
            concurrency_update_interval: default_update(),
            interval: default_interval(),
            fixed_value: None,
            request_count: default_request_count(),
            jitter: default_jitter(),
            min_concurrency: default_min_concurrency(),
            buffer: default_buffer(),
        }
    }
}

impl AdaptiveConcurrency {
    /// The kernel's parameters.
    pub fn params(&self) -> ConcurrencyParams {
        ConcurrencyParams {
            sample_aggregate_percentile: self.sample_aggregate_percentile,
            max_concurrency_limit: self.max_concurrency_limit,
            concurrency_update_interval_ns: self.concurrency_update_interval.0,
            min_rtt_interval_ns: self.interval.0,
            fixed_min_rtt_ns: self.fixed_value.map(|d| d.0),
            request_count: self.request_count,
            jitter_percent: self.jitter,
            min_concurrency: self.min_concurrency,
            buffer_percent: self.buffer,
        }
    }

    /// Checks the ranges, naming the key under `path`.
    pub(crate) fn validate(&self, path: &str) -> Result<(), SimError> {
        match self.params().check() {
            Ok(()) => Ok(()),
            Err(BalancerError::InvalidParameter {
                name,
                value,
                allowed,
            }) => {
                let value = match name {
                    "concurrency_update_interval" => self.concurrency_update_interval.to_string(),
                    "interval" => self.interval.to_string(),
                    "fixed_value" => "0s".to_string(),
                    _ => value,
                };
                let allowed = match name {
                    "max_concurrency_limit" => {
                        format!("at least min_concurrency ({})", self.min_concurrency)
                    }
                    _ => allowed.to_string(),
                };
                Err(SimError::invalid(format!("{path}.{name}"), value, allowed))
            }
            Err(e) => Err(SimError::invalid(path, "a table", e.to_string())),
        }
    }
}
