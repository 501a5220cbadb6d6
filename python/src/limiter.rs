//! Adaptive concurrency limits: Netflix's Vegas, Gradient2 and AIMD, for a
//! Python client that measures its own round trips.

use pyo3::prelude::*;

use drainstorm::retry::{AdaptiveLimit, SimDuration};

use crate::DrainstormError;

/// One client's adaptive limit on attempts in flight. Built from the keys
/// of a profile's `limits.adaptive` table as JSON (`algorithm` and its
/// parameters); `seed` drives Vegas's probe jitter.
#[pyclass(module = "drainstorm._drainstorm")]
pub struct AdaptiveLimiter {
    inner: drainstorm::retry::AdaptiveLimiter,
}

#[pymethods]
impl AdaptiveLimiter {
    #[new]
    #[pyo3(signature = (config_json, *, seed=0))]
    fn new(config_json: &str, seed: u64) -> PyResult<Self> {
        let config: AdaptiveLimit = serde_json::from_str(config_json)
            .map_err(|e| DrainstormError::new_err(format!("limits.adaptive: {e}")))?;
        config.validate().map_err(|e| {
            DrainstormError::new_err(format!(
                "`{}`: {} is out of range: allowed {}",
                e.name, e.value, e.allowed
            ))
        })?;
        Ok(Self {
            inner: drainstorm::retry::AdaptiveLimiter::new(config, seed),
        })
    }

    /// The attempts in flight with this one, or `None` if the limit is
    /// full (the attempt should not be sent).
    fn try_acquire(&mut self) -> Option<u32> {
        self.inner.try_acquire()
    }

    /// An attempt ended after `rtt` seconds; `in_flight` is what
    /// `try_acquire` returned for it, `dropped` whether it timed out or was
    /// refused.
    #[pyo3(signature = (rtt, in_flight, *, dropped=false))]
    fn complete(&mut self, rtt: f64, in_flight: u32, dropped: bool) -> PyResult<()> {
        if !(rtt.is_finite() && rtt >= 0.0) {
            return Err(DrainstormError::new_err(format!(
                "rtt = {rtt}: a duration in seconds, ≥ 0"
            )));
        }
        if self.inner.in_flight() == 0 {
            return Err(DrainstormError::new_err(
                "complete() without an attempt in flight",
            ));
        }
        let rtt = SimDuration((rtt * 1e9).round() as u64);
        self.inner.complete(rtt, in_flight, dropped);
        Ok(())
    }

    /// An attempt ended with nothing to learn from.
    fn ignore(&mut self) -> PyResult<()> {
        if self.inner.in_flight() == 0 {
            return Err(DrainstormError::new_err(
                "ignore() without an attempt in flight",
            ));
        }
        self.inner.ignore();
        Ok(())
    }

    /// The current limit.
    #[getter]
    fn limit(&self) -> u32 {
        self.inner.limit()
    }

    /// Attempts in flight.
    #[getter]
    fn in_flight(&self) -> u32 {
        self.inner.in_flight()
    }
}
