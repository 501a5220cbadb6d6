//! Sweeps and plans from Python: one shard of a sweep as a journal (so a
//! `concurrent.futures` executor can run shards anywhere), the merge of
//! journals into the files the command line writes, and plans as JSON.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use drainstorm::plan::{
    Axis, Capacity, DrainPlan, DrainSettings, HeadroomPlan, HeadroomSettings, Judging,
    SearchSettings, Sweep,
};
use drainstorm::profile::Profile;
use drainstorm::report::sweep::{Journal, JournalHeader, merge, sweep_csv, sweep_table};

use crate::{DrainstormError, load, profile_error};

/// The profile with its comparison narrowed to `balancers` and `policies`
/// (if given); the caller checks it ([`Profile::checked`]) once it has
/// made its own changes.
pub(crate) fn narrowed(
    profile: &str,
    set: &[String],
    balancers: Option<Vec<String>>,
    policies: Option<Vec<String>>,
) -> PyResult<Profile> {
    let mut p = load(profile, set)?;
    if let Some(b) = balancers {
        p.compare.balancers = b
            .iter()
            .map(|name| {
                name.parse()
                    .map_err(|e| DrainstormError::new_err(format!("balancers: {e}")))
            })
            .collect::<PyResult<_>>()?;
    }
    if let Some(pol) = policies {
        p.compare.policies = pol;
    }
    Ok(p)
}

/// A worker pool of `threads` threads (`None` or 0: one per core).
pub(crate) fn pool(threads: Option<usize>) -> PyResult<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start threads: {e}")))
}

/// Runs shard `k` of `n` of a sweep and returns its journal (JSON lines:
/// the header, then one row per run, in job order).
#[pyfunction]
#[pyo3(signature = (profile, vary, *, seeds=None, set=None, balancers=None, policies=None, shard=(1, 1), threads=None))]
#[allow(clippy::too_many_arguments)]
pub fn sweep_shard(
    py: Python<'_>,
    profile: &str,
    vary: Vec<String>,
    seeds: Option<u32>,
    set: Option<Vec<String>>,
    balancers: Option<Vec<String>>,
    policies: Option<Vec<String>>,
    shard: (usize, usize),
    threads: Option<usize>,
) -> PyResult<String> {
    let p = narrowed(profile, &set.unwrap_or_default(), balancers, policies)?
        .checked()
        .map_err(profile_error)?;
    if vary.is_empty() {
        return Err(DrainstormError::new_err(
            "vary: at least one KEY=LO..HI:STEPS or KEY=a,b,c",
        ));
    }
    let axes = vary
        .iter()
        .map(|v| v.parse::<Axis>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(profile_error)?;
    let seeds = seeds.unwrap_or(p.compare.seeds);
    let planned = Sweep::planned_runs(&p, &axes, seeds);
    if planned > drainstorm::plan::CONFIRM_RUNS_ABOVE {
        return Err(DrainstormError::new_err(format!(
            "{planned} runs planned, above {}: narrow the sweep",
            drainstorm::plan::CONFIRM_RUNS_ABOVE
        )));
    }
    let sweep = Sweep::new(&p, axes, seeds).map_err(profile_error)?;
    let (k, n) = shard;
    if n == 0 || k == 0 || k > n {
        return Err(DrainstormError::new_err(format!(
            "shard ({k}, {n}): allowed K from 1 to N"
        )));
    }
    let header = JournalHeader::of(&sweep, k, n);
    let jobs: Vec<usize> = header.jobs().collect();
    let pool = pool(threads)?;
    let rows = py
        .detach(|| pool.install(|| sweep.run_jobs(&jobs, &|_| {})))
        .map_err(|e| PyRuntimeError::new_err(format!("a run failed: {e}")))?;
    let mut text = Journal::header_line(&header);
    let identity = header.identity();
    for r in &rows {
        text.push_str(&Journal::row_line(&identity, r));
    }
    Ok(text)
}

/// Merges the journals of every shard: (`sweep.csv`, `map.html`, the
/// table), byte for byte what one sweep run whole writes.
#[pyfunction]
pub fn sweep_merge(parts: Vec<String>) -> PyResult<(String, String, String)> {
    let journals = parts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            Journal::parse(text.as_bytes(), &format!("part {}", i + 1))
                .map(|j| (format!("part {}", i + 1), j))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(DrainstormError::new_err)?;
    let (header, rows) = merge(&journals).map_err(DrainstormError::new_err)?;
    Ok((
        sweep_csv(&header, &rows),
        drainstorm::report::sweep_map(&header, &rows),
        sweep_table(&header, &rows),
    ))
}

/// Every (balancer, policy) of a profile's comparison, in its order.
#[pyfunction]
#[pyo3(signature = (profile, *, set=None, balancers=None, policies=None))]
pub fn combinations(
    profile: &str,
    set: Option<Vec<String>>,
    balancers: Option<Vec<String>>,
    policies: Option<Vec<String>>,
) -> PyResult<Vec<(String, String)>> {
    let mut p = narrowed(profile, &set.unwrap_or_default(), balancers, policies)?
        .checked()
        .map_err(profile_error)?;
    p.compare.seeds = 1;
    Ok(p.runs()
        .into_iter()
        .map(|r| (r.balancer, r.policy))
        .collect())
}

/// A plan (`question`: `headroom` or `drain`) as JSON, as `drainstorm
/// plan QUESTION --json` prints it.
#[pyfunction]
#[pyo3(signature = (profile, question, *, set=None, balancers=None, policies=None, target="absorbed", probability=0.95, confidence=0.95, seeds=None, fresh_seeds=None, curve_seeds=None, tolerance=None, capacity="both", min_value=None, max_value=None, full_runs=false, threads=None))]
#[allow(clippy::too_many_arguments)]
pub fn plan_json(
    py: Python<'_>,
    profile: &str,
    question: &str,
    set: Option<Vec<String>>,
    balancers: Option<Vec<String>>,
    policies: Option<Vec<String>>,
    target: &str,
    probability: f64,
    confidence: f64,
    seeds: Option<u32>,
    fresh_seeds: Option<u32>,
    curve_seeds: Option<u32>,
    tolerance: Option<f64>,
    capacity: &str,
    min_value: Option<f64>,
    max_value: Option<f64>,
    full_runs: bool,
    threads: Option<usize>,
) -> PyResult<String> {
    let p = narrowed(profile, &set.unwrap_or_default(), balancers, policies)?
        .checked()
        .map_err(profile_error)?;
    let target: drainstorm::plan::Target = target
        .parse()
        .map_err(|e| DrainstormError::new_err(format!("target={e}")))?;
    for (name, x) in [("probability", probability), ("confidence", confidence)] {
        if !(x > 0.0 && x < 1.0) {
            return Err(DrainstormError::new_err(format!(
                "{name}={x}: allowed (0, 1)"
            )));
        }
    }
    let seeds = seeds.unwrap_or_else(|| SearchSettings::seeds_for(probability, confidence));
    let fresh_seeds = fresh_seeds.unwrap_or(seeds);
    for (name, n) in [("seeds", seeds), ("fresh_seeds", fresh_seeds)] {
        if n == 0 || n > 1000 {
            return Err(DrainstormError::new_err(format!(
                "{name}={n}: allowed 1 to 1000"
            )));
        }
    }
    let curve_seeds = curve_seeds.unwrap_or(seeds.min(20));
    if curve_seeds > seeds {
        return Err(DrainstormError::new_err(format!(
            "curve_seeds={curve_seeds}: allowed 0 to seeds ({seeds})"
        )));
    }
    let claim = SearchSettings {
        target: probability,
        confidence,
        seeds,
        fresh_seeds,
        curve_seeds,
        ..SearchSettings::default()
    };
    let judging = if full_runs {
        Judging::FullRuns
    } else {
        Judging::UntilRecovered
    };
    let pool = pool(threads)?;
    let failed = |e: drainstorm::sim::SimError| DrainstormError::new_err(e.to_string());
    let json = match question {
        "headroom" => {
            let mut s = HeadroomSettings {
                judging,
                target,
                ..HeadroomSettings::default()
            };
            s.capacity = match capacity {
                "both" => Capacity::Both,
                "backends" => Capacity::Backends,
                "lb" => Capacity::LoadBalancers,
                other => {
                    return Err(DrainstormError::new_err(format!(
                        "capacity=`{other}`: allowed both, backends, lb"
                    )));
                }
            };
            s.search = asked(s.search, &claim, tolerance, min_value, max_value)?;
            let plan = py
                .detach(|| pool.install(|| HeadroomPlan::run(&p, &s, &|_| {})))
                .map_err(failed)?;
            serde_json::to_string(&plan)
        }
        "drain" => {
            let mut s = DrainSettings {
                judging,
                target,
                ..DrainSettings::default()
            };
            s.search = asked(s.search, &claim, tolerance, min_value, max_value)?;
            let plan = py
                .detach(|| pool.install(|| DrainPlan::run(&p, &s, &|_| {})))
                .map_err(failed)?;
            serde_json::to_string(&plan)
        }
        other => {
            return Err(DrainstormError::new_err(format!(
                "question `{other}`: allowed headroom, drain"
            )));
        }
    };
    json.map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// `plan size` as JSON, as `drainstorm plan size --json` prints it.
#[pyfunction]
#[pyo3(signature = (profile, *, set=None, balancers=None, policies=None, sizes=None, seeds=3, tolerance=0.1, threads=None))]
#[allow(clippy::too_many_arguments)]
pub fn size_json(
    py: Python<'_>,
    profile: &str,
    set: Option<Vec<String>>,
    balancers: Option<Vec<String>>,
    policies: Option<Vec<String>>,
    sizes: Option<Vec<f64>>,
    seeds: u32,
    tolerance: f64,
    threads: Option<usize>,
) -> PyResult<String> {
    let p = narrowed(profile, &set.unwrap_or_default(), balancers, policies)?
        .checked()
        .map_err(profile_error)?;
    let settings = drainstorm::plan::SizeSettings {
        sizes: sizes.unwrap_or_else(|| drainstorm::plan::SizeSettings::default().sizes),
        seeds,
        tolerance,
    };
    if settings.sizes.is_empty()
        || settings.sizes.iter().any(|k| !(k.is_finite() && *k > 0.0))
        || settings.sizes.windows(2).any(|w| w[1] <= w[0])
    {
        return Err(DrainstormError::new_err(format!(
            "sizes={:?}: allowed increasing factors above 0",
            settings.sizes
        )));
    }
    if seeds == 0 || seeds > 1000 {
        return Err(DrainstormError::new_err(format!(
            "seeds={seeds}: allowed 1 to 1000"
        )));
    }
    if !(tolerance > 0.0 && tolerance <= 1.0) {
        return Err(DrainstormError::new_err(format!(
            "tolerance={tolerance}: allowed (0, 1]"
        )));
    }
    let pool = pool(threads)?;
    let plan = py
        .detach(|| pool.install(|| drainstorm::plan::SizePlan::run(&p, &settings, &|_| {})))
        .map_err(|e| DrainstormError::new_err(e.to_string()))?;
    serde_json::to_string(&plan).map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// `search` with what the caller asked for (`None`: the question's
/// default), checked.
fn asked(
    mut search: SearchSettings,
    claim: &SearchSettings,
    tolerance: Option<f64>,
    min_value: Option<f64>,
    max_value: Option<f64>,
) -> PyResult<SearchSettings> {
    search.target = claim.target;
    search.confidence = claim.confidence;
    search.seeds = claim.seeds;
    search.fresh_seeds = claim.fresh_seeds;
    search.curve_seeds = claim.curve_seeds;
    search.tolerance = tolerance.unwrap_or(search.tolerance);
    search.min_factor = min_value.unwrap_or(search.min_factor);
    search.max_factor = max_value.unwrap_or(search.max_factor);
    check_range(&search)?;
    Ok(search)
}

fn check_range(s: &SearchSettings) -> PyResult<()> {
    if !(s.tolerance >= 0.001 && s.tolerance <= 0.5) {
        return Err(DrainstormError::new_err(format!(
            "tolerance={}: allowed [0.001, 0.5]",
            s.tolerance
        )));
    }
    if !(s.min_factor > 0.0 && s.max_factor > s.min_factor && s.max_factor.is_finite()) {
        return Err(DrainstormError::new_err(format!(
            "min_value={}, max_value={}: allowed 0 < min < max",
            s.min_factor, s.max_factor
        )));
    }
    Ok(())
}
