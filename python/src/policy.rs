//! Retry policies: admission, the decision after each attempt, delays.

use pyo3::prelude::*;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use drainstorm::retry::{Decision, Outcome, PolicyConfig, Pushback, RetryPolicy, SimTime};

use crate::DrainstormError;

fn at(now: f64) -> PyResult<SimTime> {
    if now.is_finite() && now >= 0.0 {
        Ok(SimTime((now * 1e9).round() as u64))
    } else {
        Err(DrainstormError::new_err(format!(
            "{now}: a time in seconds, ≥ 0"
        )))
    }
}

/// A client retry policy: a preset by name or a configuration (JSON text,
/// the keys of a profile's `[policies.NAME]` table), with its own random
/// generator seeded by `seed`. Times are seconds on the caller's clock.
#[pyclass(module = "drainstorm._drainstorm")]
pub struct Policy {
    inner: drainstorm::retry::Policy,
    rng: Xoshiro256PlusPlus,
}

/// One request's state between attempts.
#[pyclass(module = "drainstorm._drainstorm")]
#[derive(Clone)]
pub struct Request {
    state: drainstorm::retry::RequestState,
}

#[pymethods]
impl Request {
    /// Attempts sent so far.
    #[getter]
    fn attempts(&self) -> u32 {
        self.state.attempts
    }
}

#[pymethods]
impl Policy {
    /// `preset` (`grpc`, `aws-standard`, `aws-standard-2026`, `envoy`,
    /// `envoy-retry-budget`, `finagle`, `naive`, `smtp-mta`) or
    /// `config_json`.
    #[new]
    #[pyo3(signature = (*, preset=None, config_json=None, seed=0))]
    fn new(preset: Option<&str>, config_json: Option<&str>, seed: u64) -> PyResult<Self> {
        let inner = match (preset, config_json) {
            (Some(name), None) => {
                drainstorm::retry::Policy::preset_named(name).ok_or_else(|| {
                    DrainstormError::new_err(format!(
                        "no preset named `{name}` (presets: {})",
                        drainstorm::retry::Policy::PRESETS.join(", ")
                    ))
                })?
            }
            (None, Some(text)) => {
                let config: PolicyConfig = serde_json::from_str(text)
                    .map_err(|e| DrainstormError::new_err(format!("policy: {e}")))?;
                drainstorm::retry::Policy::new(config).map_err(|e| {
                    DrainstormError::new_err(format!(
                        "policy: `{}`: {} is out of range: allowed {}",
                        e.name, e.value, e.allowed
                    ))
                })?
            }
            _ => {
                return Err(DrainstormError::new_err(
                    "give a preset or a configuration, not both",
                ));
            }
        };
        Ok(Self {
            inner,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        })
    }

    /// Whether an attempt may go at `now`: `None`, or why not
    /// (`breaker-open`, `throttled`).
    fn admit(&mut self, now: f64) -> PyResult<Option<&'static str>> {
        Ok(match self.inner.admit(at(now)?, &mut self.rng) {
            Ok(()) => None,
            Err(why) => Some(why.name()),
        })
    }

    /// Starts a request whose first attempt goes at `now`.
    fn begin(&mut self, now: f64) -> PyResult<Request> {
        Ok(Request {
            state: self.inner.begin(at(now)?),
        })
    }

    /// The per-attempt deadline of `request`'s current attempt, seconds,
    /// if the policy sets one.
    fn attempt_deadline(&self, now: f64, request: &Request) -> PyResult<Option<f64>> {
        Ok(self
            .inner
            .attempt_deadline(at(now)?, &request.state)
            .map(|t| t.as_secs_f64()))
    }

    /// What follows an attempt's `outcome` (`success`, `failure`,
    /// `timeout`): `("done", None)`, `("retry", delay_seconds)` or
    /// `("give-up", reason)`.
    fn on_outcome(
        &mut self,
        now: f64,
        request: &mut Request,
        outcome: &str,
    ) -> PyResult<(&'static str, Option<Py<PyAny>>)> {
        let outcome = match outcome {
            "success" => Outcome::Success,
            "failure" => Outcome::Failure(Pushback::None),
            "timeout" => Outcome::Timeout,
            other => {
                return Err(DrainstormError::new_err(format!(
                    "outcome `{other}`: allowed success, failure, timeout"
                )));
            }
        };
        let d = self
            .inner
            .on_outcome(at(now)?, &mut request.state, outcome, &mut self.rng);
        Python::attach(|py| {
            Ok(match d {
                Decision::Done => ("done", None),
                Decision::Retry(delay) => (
                    "retry",
                    Some(delay.as_secs_f64().into_pyobject(py)?.into_any().unbind()),
                ),
                Decision::GiveUp(why) => (
                    "give-up",
                    Some(why.name().into_pyobject(py)?.into_any().unbind()),
                ),
            })
        })
    }
}
