//! Adaptive concurrency limits: Netflix's Vegas, Gradient2 and AIMD for a
//! Python client that measures its own round trips, and Envoy's gradient
//! controller for a Python server.

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

/// Seconds on the caller's clock as the kernel's nanoseconds.
fn nanos(what: &str, seconds: f64) -> PyResult<u64> {
    if !(seconds.is_finite() && (0.0..1.8e10).contains(&seconds)) {
        return Err(DrainstormError::new_err(format!(
            "{what} = {seconds}: a time in seconds, ≥ 0"
        )));
    }
    Ok((seconds * 1e9).round() as u64)
}

/// Envoy's adaptive concurrency filter (its gradient controller), for a
/// Python proxy or server that measures its own requests. Built from the
/// keys of a site's `adaptive_concurrency` table as JSON; times are
/// seconds on the caller's clock, starting at `now`.
#[pyclass(module = "drainstorm._drainstorm")]
pub struct ConcurrencyFilter {
    inner: drainstorm::balancer::GradientController,
}

#[pymethods]
impl ConcurrencyFilter {
    #[new]
    #[pyo3(signature = (config_json, *, now=0.0, seed=0))]
    fn new(config_json: &str, now: f64, seed: u64) -> PyResult<Self> {
        let config: drainstorm::sim::AdaptiveConcurrency = serde_json::from_str(config_json)
            .map_err(|e| DrainstormError::new_err(format!("adaptive_concurrency: {e}")))?;
        let inner = drainstorm::balancer::GradientController::new(
            config.params(),
            nanos("now", now)?,
            seed,
        )
        .map_err(|e| DrainstormError::new_err(format!("adaptive_concurrency: {e}")))?;
        Ok(Self { inner })
    }

    /// Whether a new request may go on (if not, answer it with a 503).
    fn try_forward(&mut self) -> bool {
        self.inner.try_forward()
    }

    /// A request let on at `sent_at` was answered at `now`.
    fn record(&mut self, sent_at: f64, now: f64) -> PyResult<()> {
        let (sent_at, now) = (nanos("sent_at", sent_at)?, nanos("now", now)?);
        if sent_at > now {
            return Err(DrainstormError::new_err("record(): sent_at is after now"));
        }
        if self.inner.outstanding() == 0 {
            return Err(DrainstormError::new_err(
                "record() without a request outstanding",
            ));
        }
        self.inner.record(sent_at, now);
        Ok(())
    }

    /// A request let on ended without an answer.
    fn cancel(&mut self) -> PyResult<()> {
        if self.inner.outstanding() == 0 {
            return Err(DrainstormError::new_err(
                "cancel() without a request outstanding",
            ));
        }
        self.inner.cancel();
        Ok(())
    }

    /// Runs the timers due by `now`.
    fn advance(&mut self, now: f64) -> PyResult<()> {
        self.inner.advance(nanos("now", now)?);
        Ok(())
    }

    /// When a timer is next due (seconds), if any is armed.
    #[getter]
    fn next_deadline(&self) -> Option<f64> {
        self.inner.next_deadline().map(|t| t as f64 / 1e9)
    }

    /// The limit in effect.
    #[getter]
    fn limit(&self) -> u32 {
        self.inner.limit()
    }

    /// Requests let on and not yet answered or cancelled.
    #[getter]
    fn outstanding(&self) -> u32 {
        self.inner.outstanding()
    }

    /// The minRTT in use (seconds), once measured.
    #[getter]
    fn min_rtt(&self) -> Option<f64> {
        self.inner.min_rtt().map(|t| t as f64 / 1e9)
    }

    /// Whether a minRTT window is open (the limit pinned to its minimum).
    #[getter]
    fn in_min_rtt_window(&self) -> bool {
        self.inner.in_min_rtt_window()
    }
}
