//! `cargo bench --bench plan [-- ROUNDS]`: what planning costs, against
//! what it replaces.
//!
//! - `plan headroom` on the bundled incident profile (every combination,
//!   the defaults: a P ≥ 0.95 claim at 95 % confidence, 59 seeds for the
//!   search, 59 fresh ones for the check, a local curve on 20) at a tenth
//!   of its size (`DRAINSTORM_BENCH_SCALE`) against one run of the same profile's
//!   comparison, alternated for ROUNDS rounds (default 3; this VM's speed
//!   drifts, so each plan is compared with the run beside it), medians;
//! - the same plan with `--full-runs`, once;
//! - a 2-key sweep of 10 × 10 points × 4 seeds for one combination: wall
//!   time and attempts per second across the pool's threads.

use std::time::Instant;

use drainstorm::plan::{Axis, HeadroomPlan, HeadroomSettings, Judging, Sweep};
use drainstorm::profile::{DEFAULT, Profile};
use drainstorm::report::Comparison;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3);
    let mut profile = Profile::bundled(DEFAULT).expect("bundled").expect("valid");
    // A ratio (plan ÷ one run), so a tenth of the bundled size by default —
    // the size the figures in BENCHMARKS.md were measured at, and a tenth
    // of the time; DRAINSTORM_BENCH_SCALE=1 times the bundled size.
    profile.scale = std::env::var("DRAINSTORM_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.1);
    let threads = rayon::current_num_threads();
    println!(
        "plan/{} at scale {}: {threads} threads, {rounds} rounds",
        profile.name, profile.scale
    );
    let (mut run_s, mut plan_s, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    for round in 0..rounds {
        let t = Instant::now();
        let c = Comparison::run(profile.clone()).expect("runs");
        let one = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let plan =
            HeadroomPlan::run(&profile, &HeadroomSettings::default(), &|_| {}).expect("plan");
        let p = t.elapsed().as_secs_f64();
        println!(
            "  round {round}: one run ({} simulations) {one:.1} s; plan headroom {p:.1} s = {:.1}×; {} runs, {:.1} run-equivalents",
            c.runs.len(),
            p / one,
            plan.runs(),
            plan.simulated_s() / profile.scenario.duration.as_secs_f64()
        );
        run_s.push(one);
        plan_s.push(p);
        ratios.push(p / one);
        last = Some(plan);
    }
    println!(
        "plan headroom: median {:.1} s against one run's {:.1} s: median ratio {:.1}× (goal ≤ 10×; a claim at the defaults rests on at least 59 + 59 runs per combination)",
        median(plan_s),
        median(run_s),
        median(ratios)
    );
    if let Some(plan) = last {
        let search = HeadroomSettings::default().search;
        let plain = plan.answers.len() as f64
            * (6.0 * f64::from(search.seeds) + f64::from(search.fresh_seeds));
        println!(
            "  {} runs where plain bisection (6 points × {} seeds and {} fresh ones, every run to its end) would make {plain:.0}",
            plan.runs(),
            search.seeds,
            search.fresh_seeds
        );
    }

    let full = HeadroomSettings {
        judging: Judging::FullRuns,
        ..HeadroomSettings::default()
    };
    let t = Instant::now();
    let plan = HeadroomPlan::run(&profile, &full, &|_| {}).expect("plan");
    println!(
        "plan headroom --full-runs: {:.1} s, {} runs, {:.1} run-equivalents",
        t.elapsed().as_secs_f64(),
        plan.runs(),
        plan.simulated_s() / profile.scenario.duration.as_secs_f64()
    );

    let mut one = profile.clone();
    one.compare.balancers.truncate(1);
    one.compare.policies.truncate(1);
    let axes: Vec<Axis> = [
        "clients[0].workload.rate=600..1050:10", // times the scale
        "timeline[0].ramp=0s..45m:10",
    ]
    .iter()
    .map(|a| a.parse().expect("axis"))
    .collect();
    let sweep = Sweep::new(&one, axes, 4).expect("sweep");
    let jobs: Vec<usize> = (0..sweep.runs()).collect();
    let t = Instant::now();
    let rows = sweep.run_jobs(&jobs, &|_| {}).expect("sweep runs");
    let wall = t.elapsed().as_secs_f64();
    let attempts: u64 = rows.iter().map(|r| r.attempts).sum();
    println!(
        "sweep 10 × 10 × 4 ({} + {}): {} runs in {wall:.1} s on {threads} threads, {:.2} M attempts/s",
        one.compare.balancers[0].name(),
        one.compare.policies[0],
        rows.len(),
        attempts as f64 / wall / 1e6
    );
}
