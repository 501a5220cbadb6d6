//! The balancers: build, pick, count requests in flight, update.

use pyo3::prelude::*;

use drainstorm::balancer::{Backend, BackendId, BalancerKind, KindParams};

use crate::DrainstormError;

/// A balancer over backends `0..len(weights)` (backend `i` has weight
/// `weights[i]`; 0 drains it). Lock-free: safe to share between threads.
#[pyclass(module = "drainstorm._drainstorm", subclass)]
pub struct Balancer {
    inner: Box<dyn drainstorm::balancer::Balancer>,
    kind: BalancerKind,
}

fn backends(weights: &[u32]) -> Vec<Backend> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| Backend::new(i as u32, w))
        .collect()
}

#[pymethods]
impl Balancer {
    /// `kind` is a balancer's name (`smooth-wrr`, `least-conn`, `p2c`,
    /// `ring`, `maglev`, `bounded-load`, `least-request`, `peak-ewma`); `seed` feeds
    /// the kinds that randomise; the parameters are those of a profile's
    /// `balancer_params`.
    #[new]
    #[pyo3(signature = (kind, weights, *, seed=0, points_per_weight=None, table_size=None, epsilon=None, choice_count=None, active_request_bias=None, decay_ms=None, default_rtt_ms=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        kind: &str,
        weights: Vec<u32>,
        seed: u64,
        points_per_weight: Option<u32>,
        table_size: Option<u32>,
        epsilon: Option<f64>,
        choice_count: Option<u32>,
        active_request_bias: Option<f64>,
        decay_ms: Option<f64>,
        default_rtt_ms: Option<f64>,
    ) -> PyResult<Self> {
        let kind: BalancerKind = kind
            .parse()
            .map_err(|e| DrainstormError::new_err(format!("{e}")))?;
        let params = KindParams {
            points_per_weight,
            table_size,
            epsilon,
            choice_count,
            active_request_bias,
            decay_ms,
            default_rtt_ms,
        };
        let inner = kind
            .build_with(&backends(&weights), seed, &params)
            .map_err(|e| DrainstormError::new_err(e.to_string()))?;
        Ok(Self { inner, kind })
    }

    /// The balancer's name.
    #[getter]
    fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// The backend for a request with `key` (hashing kinds route by it),
    /// or `None` when every backend is drained.
    #[pyo3(signature = (key=0))]
    fn pick(&self, key: u64) -> Option<u32> {
        self.inner.pick(key).map(|b| b.0)
    }

    /// One pick per key: a list of backends (`-1` for none).
    fn pick_many(&self, py: Python<'_>, keys: Vec<u64>) -> Vec<i64> {
        py.detach(|| {
            keys.iter()
                .map(|&k| self.inner.pick(k).map_or(-1, |b| i64::from(b.0)))
                .collect()
        })
    }

    /// `pick_many` over keys packed as little-endian `u64`s (a NumPy
    /// array's bytes), answering little-endian `i64`s: no Python object
    /// per key.
    fn pick_many_packed<'py>(
        &self,
        py: Python<'py>,
        keys: &[u8],
    ) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
        if !keys.len().is_multiple_of(8) {
            return Err(DrainstormError::new_err(format!(
                "pick_many_packed: {} bytes is not a whole number of 8-byte keys",
                keys.len()
            )));
        }
        let out: Vec<u8> = py.detach(|| {
            keys.chunks_exact(8)
                .flat_map(|c| {
                    let k = u64::from_le_bytes(c.try_into().expect("8 bytes"));
                    self.inner
                        .pick(k)
                        .map_or(-1, |b| i64::from(b.0))
                        .to_le_bytes()
                })
                .collect()
        });
        Ok(pyo3::types::PyBytes::new(py, &out))
    }

    /// Counts a request in flight on `backend`; `False` if it is unknown.
    fn start(&self, backend: u32) -> bool {
        self.inner.start(BackendId(backend))
    }

    /// Counts a request on `backend` finished.
    fn finish(&self, backend: u32) -> bool {
        self.inner.finish(BackendId(backend))
    }

    /// Counts a request on `backend` finished after `latency` seconds, at
    /// `now` seconds on your clock: `peak-ewma` learns from it, the other
    /// kinds count it as `finish` does.
    fn finish_observed(&self, backend: u32, latency: f64, now: f64) -> PyResult<bool> {
        let ns = |name: &str, s: f64| {
            if s.is_finite() && (0.0..=1.8e10).contains(&s) {
                Ok((s * 1e9) as u64)
            } else {
                Err(DrainstormError::new_err(format!(
                    "finish_observed: {name} = {s} is not allowed: allowed 0 to 1.8e10 seconds"
                )))
            }
        };
        Ok(self
            .inner
            .finish_observed(BackendId(backend), ns("latency", latency)?, ns("now", now)?))
    }

    /// Counts a request in flight on `backend` until the returned guard is
    /// finished (`guard.finish()`, or leaving its `with` block).
    fn begin(&self, backend: u32) -> PyResult<InFlight> {
        match self.inner.begin(BackendId(backend)) {
            Some(g) => Ok(InFlight { guard: Some(g) }),
            None => Err(DrainstormError::new_err(format!(
                "begin({backend}): no such backend"
            ))),
        }
    }

    /// Requests in flight on `backend`, as counted.
    fn in_flight(&self, backend: u32) -> Option<u64> {
        self.inner.in_flight(BackendId(backend))
    }

    /// Replaces the backends' weights (the same backends `0..n`, or more,
    /// or fewer); picks in progress see the old set or the new one.
    fn update(&self, weights: Vec<u32>) -> PyResult<()> {
        self.inner
            .update(&backends(&weights))
            .map_err(|e| DrainstormError::new_err(e.to_string()))
    }

    /// The backends' weights, by id.
    fn weights(&self) -> Vec<u32> {
        self.inner.backends().iter().map(|b| b.weight).collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "<{} over {} backends>",
            self.kind.name(),
            self.inner.backends().len()
        )
    }
}

/// A request counted in flight until finished.
#[pyclass(module = "drainstorm._drainstorm")]
pub struct InFlight {
    guard: Option<drainstorm::balancer::InFlight>,
}

#[pymethods]
impl InFlight {
    /// Finishes the request (again: nothing).
    fn finish(&mut self) {
        self.guard = None;
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&mut self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.guard = None;
        false
    }
}

fn members(ids: &[u32]) -> Vec<Backend> {
    ids.iter().map(|&id| Backend::new(id, 1)).collect()
}

/// The `size` backends (of the ids `backends`) that client number `client`
/// connects to, by the SRE book's deterministic subsetting: each round of
/// `len(backends) // size` clients covers every backend once.
#[pyfunction]
#[pyo3(signature = (backends, client, size, *, seed=0))]
pub fn deterministic_subset(backends: Vec<u32>, client: u64, size: usize, seed: u64) -> Vec<u32> {
    drainstorm::balancer::deterministic_subset(&members(&backends), client, size, seed)
        .into_iter()
        .map(|id| id.0)
        .collect()
}

/// The `size` backends (of the ids `backends`) a client with seed
/// `client_seed` connects to, by gRPC A68's random subsetting: stable when
/// backends come and go.
#[pyfunction]
pub fn random_subset(backends: Vec<u32>, client_seed: u64, size: usize) -> Vec<u32> {
    drainstorm::balancer::random_subset(&members(&backends), client_seed, size)
        .into_iter()
        .map(|id| id.0)
        .collect()
}

/// The share of zone `local`'s traffic each zone receives under Envoy's
/// zone-aware routing, from each zone's healthy capacity and its clients'
/// traffic: all of it at home while the zone holds its clients' share,
/// else the shortfall spilled by the other zones' room.
#[pyfunction]
pub fn zone_split(local: usize, healthy: Vec<f64>, clients: Vec<f64>) -> PyResult<Vec<f64>> {
    if healthy.len() != clients.len() || local >= healthy.len() {
        return Err(crate::DrainstormError::new_err(format!(
            "zone_split: local = {local} of {} zones with {} client shares: allowed one share per zone and local below the zone count",
            healthy.len(),
            clients.len()
        )));
    }
    Ok(drainstorm::balancer::zone_split(local, &healthy, &clients))
}
