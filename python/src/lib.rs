//! `drainstorm._drainstorm`: the native half of the `drainstorm` Python
//! package. The Python half (`drainstorm/__init__.py`) turns what these
//! functions return into dictionaries and pandas DataFrames; everything
//! that simulates runs here, with the GIL released.

use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use drainstorm::profile::{Override, Profile, ProfileError};

/// The allocator the command line uses, for the extension's own
/// allocations: with the system allocator a run of the incident profile
/// from Python took a median 1.107 × the command line's (3 rounds,
/// python/benches/bench.py); with this one, 1.035 × (5 rounds).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod balancers;
mod limiter;
mod planning;
mod policy;
mod simulation;

create_exception!(
    _drainstorm,
    DrainstormError,
    PyValueError,
    "Bad input: a profile, an override or an argument, with the message the command line prints (file, line, column, key)."
);

/// A located profile error as a Python exception (`file`, `line`,
/// `column` and `key` attributes beside the message).
pub(crate) fn profile_error(e: ProfileError) -> PyErr {
    let err = DrainstormError::new_err(e.to_string());
    Python::attach(|py| {
        let v = err.value(py);
        let _ = v.setattr("file", e.file.clone());
        let _ = v.setattr("line", e.position.map(|p| p.0));
        let _ = v.setattr("column", e.position.map(|p| p.1));
        let _ = v.setattr("key", e.key.clone());
    });
    err
}

/// Loads a profile: a bundled name, a path, or TOML text; then applies
/// `set` overrides in order.
pub(crate) fn load(profile: &str, set: &[String]) -> PyResult<Profile> {
    let p = if profile.contains('\n') || profile.contains('=') {
        Profile::from_toml(profile, "<string>").map_err(profile_error)?
    } else if profile.contains('/') || profile.ends_with(".toml") {
        let bytes = std::fs::read(profile)
            .map_err(|e| DrainstormError::new_err(format!("{profile}: cannot read: {e}")))?;
        Profile::from_slice(&bytes, profile).map_err(profile_error)?
    } else {
        match Profile::bundled(profile) {
            Some(p) => p.map_err(profile_error)?,
            None => {
                return Err(DrainstormError::new_err(format!(
                    "{profile}: no bundled profile of that name (bundled: {}); a file is named by a path, TOML text is passed as a string",
                    drainstorm::profile::BUNDLED.map(|(n, _)| n).join(", ")
                )));
            }
        }
    };
    let overrides = set
        .iter()
        .map(|s| s.parse::<Override>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(profile_error)?;
    p.with_overrides(&overrides).map_err(profile_error)
}

/// Runs a profile's comparison: returns (summary JSON, series CSV, sites
/// CSV, timeline CSV), as the command line writes them.
#[pyfunction]
#[pyo3(signature = (profile, *, seed=None, set=None, balancers=None, policies=None, seeds=None, threads=None))]
#[allow(clippy::too_many_arguments)]
fn run(
    py: Python<'_>,
    profile: &str,
    seed: Option<u64>,
    set: Option<Vec<String>>,
    balancers: Option<Vec<String>>,
    policies: Option<Vec<String>>,
    seeds: Option<u32>,
    threads: Option<usize>,
) -> PyResult<(String, String, String, String)> {
    let mut p = planning::narrowed(profile, &set.unwrap_or_default(), balancers, policies)?;
    if let Some(s) = seed {
        p.scenario.seed = s;
    }
    if let Some(n) = seeds {
        p.compare.seeds = n;
    }
    // The changed comparison is checked as a file would be.
    let p = p.checked().map_err(profile_error)?;
    let pool = planning::pool(threads)?;
    let comparison = py
        .detach(|| pool.install(|| drainstorm::report::Comparison::run(p)))
        .map_err(|e| PyRuntimeError::new_err(format!("a run failed: {e}")))?;
    Ok((
        comparison.json(),
        comparison.series_csv(),
        comparison.sites_csv(),
        comparison.timeline_csv(),
    ))
}

/// `drainstorm explain`: why each combination went as it did. Returns
/// (explain.json, explain.csv), as the command line writes them.
#[pyfunction]
#[pyo3(signature = (profile, *, set=None, balancers=None, policies=None, seeds=None, threads=None))]
fn explain(
    py: Python<'_>,
    profile: &str,
    set: Option<Vec<String>>,
    balancers: Option<Vec<String>>,
    policies: Option<Vec<String>>,
    seeds: Option<u32>,
    threads: Option<usize>,
) -> PyResult<(String, String)> {
    let mut p = planning::narrowed(profile, &set.unwrap_or_default(), balancers, policies)?;
    if let Some(n) = seeds {
        p.compare.seeds = n;
    }
    let p = p.checked().map_err(profile_error)?;
    let pool = planning::pool(threads)?;
    let seeds = p.compare.seeds;
    let plan = py
        .detach(|| pool.install(|| drainstorm::plan::ExplainPlan::run(&p, seeds, &|_| {})))
        .map_err(|e| PyRuntimeError::new_err(format!("a run failed: {e}")))?;
    Ok((
        drainstorm::report::why::json(&p, &plan),
        drainstorm::report::why::csv(&p, &plan),
    ))
}

/// The bundled profiles' names.
#[pyfunction]
fn bundled() -> Vec<&'static str> {
    drainstorm::profile::BUNDLED
        .iter()
        .map(|(n, _)| *n)
        .collect()
}

/// A profile with every default filled in, at its size, as TOML
/// (`drainstorm show`): a profile at another scale is printed scaled, its
/// notes as comments.
#[pyfunction]
#[pyo3(signature = (profile, *, set=None))]
fn show(profile: &str, set: Option<Vec<String>>) -> PyResult<String> {
    let p = load(profile, &set.unwrap_or_default())?;
    let mut out: String = p
        .scale_notes()
        .iter()
        .chain(&p.preset_notes())
        .map(|n| format!("# {n}\n"))
        .collect();
    out += &p.scaled().to_toml();
    Ok(out)
}

/// The module.
#[pymodule]
fn _drainstorm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DrainstormError", m.py().get_type::<DrainstormError>())?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(bundled, m)?)?;
    m.add_function(wrap_pyfunction!(show, m)?)?;
    m.add_function(wrap_pyfunction!(explain, m)?)?;
    m.add_function(wrap_pyfunction!(planning::sweep_shard, m)?)?;
    m.add_function(wrap_pyfunction!(planning::sweep_merge, m)?)?;
    m.add_function(wrap_pyfunction!(planning::combinations, m)?)?;
    m.add_function(wrap_pyfunction!(planning::plan_json, m)?)?;
    m.add_function(wrap_pyfunction!(planning::size_json, m)?)?;
    m.add_function(wrap_pyfunction!(balancers::deterministic_subset, m)?)?;
    m.add_function(wrap_pyfunction!(balancers::random_subset, m)?)?;
    m.add_function(wrap_pyfunction!(balancers::zone_split, m)?)?;
    m.add_class::<simulation::Simulation>()?;
    m.add_class::<balancers::Balancer>()?;
    m.add_class::<balancers::InFlight>()?;
    m.add_class::<policy::Policy>()?;
    m.add_class::<policy::Request>()?;
    m.add_class::<policy::Hedge>()?;
    m.add_class::<limiter::AdaptiveLimiter>()?;
    m.add_class::<limiter::ConcurrencyFilter>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
