//! A sweep: every point of a grid of overrides × every balancer × policy
//! of the profile × the same seeds at every point (common random numbers),
//! each run judged by the verdict rule.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::axis::Axis;
use crate::profile::{Override, Profile, ProfileError, Run};
use crate::sim::{
    Interval, Recovery, RowSink, SimConfig, SimError, Simulation, SiteInterval, Summary, Verdict,
    WorkEstimate,
};

/// Most runs a sweep may plan without the caller's confirmation (`--yes`).
pub const CONFIRM_RUNS_ABOVE: u64 = 1_000_000;

/// One point of the grid: a value for each axis, and the profile with
/// them applied.
#[derive(Clone, Debug)]
pub struct Point {
    /// The axes' values at this point, in axis order.
    pub values: Vec<String>,
    /// The profile with the point's overrides (and the sweep's seeds).
    pub profile: Profile,
}

/// A grid of overrides on a profile: its points × the profile's
/// comparison (balancers × policies × seeds).
///
/// ```
/// use drainstorm::plan::{Axis, Sweep};
/// use drainstorm::profile::Profile;
///
/// let mut base = Profile::bundled("mm1").unwrap()?;
/// base.scenario.duration = drainstorm::retry::SimDuration::from_secs(20);
/// let axis: Axis = "clients[0].workload.rate=40..80:2".parse()?;
/// let sweep = Sweep::new(&base, vec![axis], 2)?;
/// assert_eq!(sweep.runs(), 2 * 2);
/// let rows = sweep.run_jobs(&(0..sweep.runs()).collect::<Vec<_>>(), &|_| {}).unwrap();
/// // Common random numbers: the seeds are the same at every point.
/// assert_eq!(rows[0].seed, rows[2].seed);
/// assert!(rows[3].offered > rows[1].offered);
/// # Ok::<(), drainstorm::profile::ProfileError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Sweep {
    /// The profile every point starts from.
    pub base: Profile,
    /// The varied keys, the first varying slowest.
    pub axes: Vec<Axis>,
    /// Seeds per combination and point.
    pub seeds: u32,
    points: Vec<Point>,
    runs_per_point: usize,
}

impl Sweep {
    /// How many runs a sweep of `base` over `axes` with `seeds` seeds would
    /// make, without building it (to refuse a huge one first).
    pub fn planned_runs(base: &Profile, axes: &[Axis], seeds: u32) -> u64 {
        let points: u64 = axes.iter().map(|a| a.values.len() as u64).product();
        let combos =
            base.compare.balancers.len().max(1) as u64 * base.compare.policies.len().max(1) as u64;
        points * combos * u64::from(seeds)
    }

    /// Builds the grid, checking every point as a profile; an error names
    /// the `--vary` value at fault.
    pub fn new(base: &Profile, axes: Vec<Axis>, seeds: u32) -> Result<Sweep, ProfileError> {
        if seeds == 0 || seeds > 1000 {
            return Err(ProfileError {
                file: "--seeds".into(),
                position: None,
                key: None,
                message: format!("{seeds} is out of range: allowed 1 to 1000"),
            });
        }
        for (i, a) in axes.iter().enumerate() {
            let root = a.key.split(['.', '[']).next().unwrap_or_default();
            if root == "compare" {
                return Err(ProfileError {
                    file: format!("--vary {a}"),
                    position: None,
                    key: Some(a.key.clone()),
                    message: "`compare` cannot be varied: it decides the runs at every point \
                              (narrow the comparison with --only, choose its seeds with --seeds)"
                        .into(),
                });
            }
            if let Some(b) = axes[..i].iter().find(|b| b.key == a.key) {
                return Err(ProfileError {
                    file: format!("--vary {a}"),
                    position: None,
                    key: Some(a.key.clone()),
                    message: format!("the key is varied twice (also by --vary {b})"),
                });
            }
        }
        let mut base = base.clone();
        base.compare.seeds = seeds;
        let mut points = Vec::new();
        let n: usize = axes.iter().map(|a| a.values.len()).product();
        for p in 0..n {
            let mut rest = p;
            let mut picks = vec![0; axes.len()];
            for (k, a) in axes.iter().enumerate().rev() {
                picks[k] = rest % a.values.len();
                rest /= a.values.len();
            }
            let overrides: Vec<Override> = axes.iter().zip(&picks).map(|(a, &i)| a.at(i)).collect();
            let profile = base.with_overrides(&overrides).map_err(|mut e| {
                // Name the axis as written, and the value at fault.
                if let Some((a, o)) = axes
                    .iter()
                    .zip(&overrides)
                    .find(|(_, o)| e.file == o.to_string())
                {
                    e.file = format!("--vary {} (at {})", a.spec, o.value);
                }
                e
            })?;
            points.push(Point {
                values: axes
                    .iter()
                    .zip(&picks)
                    .map(|(a, &i)| a.values[i].clone())
                    .collect(),
                profile,
            });
        }
        let runs_per_point = base.runs().len();
        // Every point makes the same runs (the job numbering rests on it):
        // only `compare` could change them, and it is refused above.
        Ok(Sweep {
            base,
            axes,
            seeds,
            points,
            runs_per_point,
        })
    }

    /// The work of the whole sweep: every point's comparison, as `run`
    /// estimates it (the points may vary the load).
    pub fn estimate(&self) -> WorkEstimate {
        self.points
            .iter()
            .fold(WorkEstimate::ZERO, |w, p| w.plus(p.profile.estimate()))
    }

    /// The grid's points, the last axis varying fastest.
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Runs in the whole sweep: points × balancers × policies × seeds.
    pub fn runs(&self) -> usize {
        self.points.len() * self.runs_per_point
    }

    /// Runs per point: balancers × policies × seeds.
    pub fn runs_per_point(&self) -> usize {
        self.runs_per_point
    }

    /// Run `job` of the sweep: (its point, the run). Jobs are numbered
    /// point by point, then in the profile's report order (balancers, then
    /// policies, then seeds).
    pub fn job(&self, job: usize) -> (usize, Run) {
        let point = job / self.runs_per_point;
        let run = self.points[point]
            .profile
            .runs()
            .swap_remove(job % self.runs_per_point);
        (point, run)
    }

    /// The jobs of shard `k` of `n` (1-based): every `n`-th job from job
    /// `k − 1`, so each shard has points from the whole grid.
    pub fn shard(&self, k: usize, n: usize) -> Vec<usize> {
        (k.saturating_sub(1)..self.runs())
            .step_by(n.max(1))
            .collect()
    }

    /// Runs `jobs` in parallel on rayon's current pool, calling `done` with
    /// each row as its run finishes (from any thread); rows come back in
    /// the order of `jobs`.
    pub fn run_jobs(
        &self,
        jobs: &[usize],
        done: &(dyn Fn(&SweepRow) + Sync),
    ) -> Result<Vec<SweepRow>, SimError> {
        jobs.par_iter()
            .with_max_len(1)
            .map(|&job| {
                let row = self.run_job(job)?;
                done(&row);
                Ok(row)
            })
            .collect()
    }

    /// Runs `job` (on this thread) and returns its row. Runs are
    /// deterministic: the same job gives the same row, byte for byte.
    pub fn run_job(&self, job: usize) -> Result<SweepRow, SimError> {
        let (point, run) = self.job(job);
        let summary = run_summary(run.config.clone())?;
        Ok(SweepRow::new(
            job,
            point,
            self.points[point].values.clone(),
            &run,
            &summary,
        ))
    }
}

/// Runs one simulation to its end, keeping no series (memory stays what
/// is in flight), and returns its summary.
pub fn run_summary(config: SimConfig) -> Result<Summary, SimError> {
    struct Discard;
    impl RowSink for Discard {
        fn row(&mut self, _: &Interval, _: &[SiteInterval]) {}
    }
    let mut sim = Simulation::new(config)?;
    sim.stream_rows(Box::new(Discard), 1)?;
    sim.run();
    Ok(sim.summary())
}

/// One finished run of a sweep: where it stands in the grid and what it
/// measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepRow {
    /// The run's number in the sweep ([`Sweep::job`]).
    pub job: usize,
    /// Its point in the grid.
    pub point: usize,
    /// The axes' values at that point.
    pub values: Vec<String>,
    /// The balancer's name, or `configured`.
    pub balancer: String,
    /// The retry policy's name, or `configured`.
    pub policy: String,
    /// The seed.
    pub seed: u64,
    /// The verdict.
    pub verdict: Verdict,
    /// When it recovered from the trigger.
    pub recovery: Recovery,
    /// Time spent collapsed, s.
    pub collapsed_s: f64,
    /// Fraction of offered requests that did not succeed.
    pub lost: f64,
    /// Attempts ÷ offered requests.
    pub amplification: f64,
    /// Largest per-interval amplification.
    pub peak_amplification: f64,
    /// 99th percentile latency of successes, s.
    pub p99_s: f64,
    /// Requests offered.
    pub offered: u64,
    /// Attempts sent.
    pub attempts: u64,
}

impl SweepRow {
    fn new(job: usize, point: usize, values: Vec<String>, run: &Run, s: &Summary) -> SweepRow {
        SweepRow {
            job,
            point,
            values,
            balancer: run.balancer.clone(),
            policy: run.policy.clone(),
            seed: run.seed,
            verdict: s.verdict,
            recovery: s.recovery,
            collapsed_s: s.collapsed_seconds,
            lost: s.lost,
            amplification: s.amplification,
            peak_amplification: s.peak_amplification,
            p99_s: s.p99,
            offered: s.offered,
            attempts: s.attempts,
        }
    }
}
