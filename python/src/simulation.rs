//! `Simulation`: one run, stepped by its host (a SimPy model, a notebook).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use drainstorm::profile::Run;
use drainstorm::report::{CsvRows, SERIES_HEADER, SITES_HEADER};
use drainstorm::retry::SimTime;
use drainstorm::sim::{Action, SiteInterval};

use crate::{DrainstormError, load};

/// One simulation of a profile as configured (each site's own balancer,
/// each group's own policy), advanced by its host.
#[pyclass(module = "drainstorm._drainstorm", unsendable)]
pub struct Simulation {
    sim: drainstorm::sim::Simulation,
    run: Run,
}

#[pymethods]
impl Simulation {
    /// Builds the simulation of `profile` (a bundled name, a path or TOML
    /// text), after `set` overrides, with `seed` if given.
    #[new]
    #[pyo3(signature = (profile, *, seed=None, set=None))]
    fn new(profile: &str, seed: Option<u64>, set: Option<Vec<String>>) -> PyResult<Self> {
        let p = load(profile, &set.unwrap_or_default())?;
        let mut config = p.sim_config();
        if let Some(s) = seed {
            config.seed = s;
        }
        let sim = drainstorm::sim::Simulation::new(config.clone())
            .map_err(|e| DrainstormError::new_err(e.to_string()))?;
        Ok(Self {
            run: Run {
                balancer: "configured".into(),
                policy: "configured".into(),
                seed: config.seed,
                config,
            },
            sim,
        })
    }

    /// Simulated time now, seconds.
    #[getter]
    fn now(&self) -> f64 {
        self.sim.now().as_secs_f64()
    }

    /// The run's end, seconds.
    #[getter]
    fn end(&self) -> f64 {
        self.sim.end().as_secs_f64()
    }

    /// Runs every event up to `t` seconds (capped at the end), releasing
    /// the GIL.
    fn run_until(&mut self, py: Python<'_>, t: f64) -> PyResult<()> {
        if !(t.is_finite() && t >= 0.0) {
            return Err(DrainstormError::new_err(format!(
                "run_until({t}): a time in seconds, ≥ 0"
            )));
        }
        let at = SimTime((t * 1e9).round() as u64);
        let sim = &mut self.sim;
        py.detach(|| sim.run_until(at));
        Ok(())
    }

    /// Applies an action now: a TOML inline table or a JSON object, as a
    /// timeline entry without `at` (`{ action = "drain", site = "east" }`).
    fn inject(&mut self, action: &str) -> PyResult<()> {
        let parsed: Action = if action.trim_start().starts_with('{') && action.contains(':') {
            serde_json::from_str(action)
                .map_err(|e| DrainstormError::new_err(format!("inject: {e}")))?
        } else {
            let doc: toml::Table = toml::from_str(&format!("a = {action}"))
                .map_err(|e| DrainstormError::new_err(format!("inject: {}", e.message())))?;
            doc["a"].clone().try_into().map_err(|e: toml::de::Error| {
                DrainstormError::new_err(format!("inject: {}", e.message()))
            })?
        };
        self.sim
            .inject(parsed)
            .map_err(|e| DrainstormError::new_err(format!("inject: {e}")))
    }

    /// The summary of the intervals closed so far, as JSON.
    fn summary_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.sim.summary())
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }

    /// The per-interval series so far, as `series.csv` writes it.
    fn series_csv(&self) -> String {
        let mut w = CsvRows::new(Vec::new());
        for row in self.sim.recorder().series() {
            let _ = w.series(&self.run, row);
        }
        String::from(SERIES_HEADER) + &String::from_utf8_lossy(&w.into_inner().unwrap_or_default())
    }

    /// The per-site series so far, as `sites.csv` writes it.
    fn sites_csv(&self) -> String {
        let r = self.sim.recorder();
        let mut w = CsvRows::new(Vec::new());
        for (i, row) in r.series().iter().enumerate() {
            let sites: Vec<SiteInterval> = (0..r.sites())
                .filter_map(|s| r.site_interval(i, s).cloned())
                .collect();
            let _ = w.sites(&self.run, row, &sites);
        }
        String::from(SITES_HEADER) + &String::from_utf8_lossy(&w.into_inner().unwrap_or_default())
    }
}
