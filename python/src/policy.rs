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

    /// The policy's hedging delay (seconds), if it hedges instead of
    /// retrying.
    #[getter]
    fn hedging_delay(&self) -> Option<f64> {
        self.inner.config().hedging.map(|h| h.delay.as_secs_f64())
    }

    /// A new hedged request's attempts, bounded by the policy's
    /// `max_attempts` (an error if the policy does not hedge).
    fn hedge(&self) -> PyResult<Hedge> {
        if self.inner.config().hedging.is_none() {
            return Err(DrainstormError::new_err(
                "hedge(): the policy has no `hedging` table",
            ));
        }
        Ok(Hedge {
            inner: drainstorm::retry::Hedge::new(self.inner.config().max_attempts),
        })
    }
}

/// One hedged request's attempts (gRPC's hedging policy): send one, then
/// another each hedging delay while `may_send`, the next at once when
/// `on_outcome` says `"send"`; `"won"` ends it (cancel the others),
/// `"lost"` fails it.
#[pyclass(module = "drainstorm._drainstorm")]
pub struct Hedge {
    inner: drainstorm::retry::Hedge,
}

fn step_name(step: drainstorm::retry::HedgeStep) -> &'static str {
    use drainstorm::retry::HedgeStep;
    match step {
        HedgeStep::Won => "won",
        HedgeStep::Send => "send",
        HedgeStep::Wait => "wait",
        HedgeStep::Lost => "lost",
    }
}

#[pymethods]
impl Hedge {
    #[new]
    fn new(max_attempts: u32) -> PyResult<Self> {
        if !(1..=drainstorm::retry::MAX_HEDGED_ATTEMPTS).contains(&max_attempts) {
            return Err(DrainstormError::new_err(format!(
                "max_attempts = {max_attempts}: allowed 1 to 5 (gRPC's cap)"
            )));
        }
        Ok(Self {
            inner: drainstorm::retry::Hedge::new(max_attempts),
        })
    }

    /// Whether another attempt may be sent now.
    #[getter]
    fn may_send(&self) -> bool {
        self.inner.may_send()
    }

    /// Records an attempt sent.
    fn sent(&mut self) -> PyResult<()> {
        if !self.inner.may_send() {
            return Err(DrainstormError::new_err(
                "sent(): no attempt may be sent (over, or none left)",
            ));
        }
        self.inner.sent();
        Ok(())
    }

    /// An attempt ended: `"won"`, `"send"`, `"wait"` or `"lost"`.
    fn on_outcome(&mut self, success: bool) -> PyResult<&'static str> {
        if self.inner.outstanding() == 0 || self.inner.is_over() {
            return Err(DrainstormError::new_err("on_outcome(): no attempt is out"));
        }
        Ok(step_name(self.inner.on_outcome(success)))
    }

    /// No more attempts may be sent: `"lost"` if none is out, else
    /// `"wait"`.
    fn stop(&mut self) -> &'static str {
        step_name(self.inner.stop())
    }

    /// Attempts sent so far.
    #[getter]
    fn attempts(&self) -> u32 {
        self.inner.attempts()
    }

    /// Attempts sent and not yet ended.
    #[getter]
    fn outstanding(&self) -> u32 {
        self.inner.outstanding()
    }
}
