//! The planning library on a small real profile: the headroom search's
//! claims hold when checked run by run, and its answers do not depend on
//! the number of threads.

use drainstorm::plan::{
    Capacity, HeadroomPlan, HeadroomSettings, Judging, Outcome, SearchSettings, Target, judge,
    scale_capacity,
};
use drainstorm::profile::Profile;

/// Two sites; one is drained for good at 10 s while the load is at its
/// peak, so the other must carry all of it.
const PROFILE: &str = r#"
name = "small-drain"
seed = 11
duration = "40s"

[compare]
balancers = ["least-conn", "maglev"]
policies = ["hasty"]

[policies.hasty]
max_attempts = 3
attempt_timeout = "100ms"
backoff = { kind = "immediate" }

[recorder]
interval = "1s"
collapse_min = "2s"
recovery_window = "3s"
metastable_after = "15s"

[[sites]]
name = "east"
max_new_per_sec = 300
accept_backlog = 50
backends = [{ count = 3, slots = 1, queue = 20, service = { dist = "exponential", mean = "10ms" } }]

[[sites]]
name = "west"
max_new_per_sec = 300
accept_backlog = 50
backends = [{ count = 3, slots = 1, queue = 20, service = { dist = "exponential", mean = "10ms" } }]

[[clients]]
name = "web"
retry = "hasty"
workload = { kind = "open", rate = 380 }

[[timeline]]
at = "10s"
action = "drain"
site = "east"
"#;

fn settings(judging: Judging) -> HeadroomSettings {
    HeadroomSettings {
        capacity: Capacity::Both,
        search: SearchSettings {
            seeds: 4,
            fresh_seeds: 4,
            curve_seeds: 4,
            tolerance: 0.05,
            ..SearchSettings::default()
        },
        judging,
        target: Target::Absorbed,
    }
}

#[test]
fn every_answer_holds_when_its_runs_are_checked_one_by_one() {
    let profile = Profile::from_toml(PROFILE, "small.toml").unwrap();
    let s = settings(Judging::FullRuns);
    let plan = HeadroomPlan::run(&profile, &s, &|_| {}).unwrap();
    assert_eq!(plan.answers.len(), 2);
    let runs = {
        let mut p = profile.clone();
        p.compare.seeds = 1;
        p.runs()
    };
    for (a, run) in plan.answers.iter().zip(&runs) {
        let Outcome::Found {
            factor,
            unsafe_below,
            success,
            seeds,
            fresh,
        } = a.search.outcome
        else {
            panic!("{} + {}: {:?}", a.balancer, a.policy, a.search.outcome);
        };
        assert!(
            unsafe_below < factor
                && (a.search.rejected.is_empty()
                    == (factor - unsafe_below <= 0.05 * factor + 1e-9))
        );
        assert_eq!((success, seeds), (4, 4));
        // Four of four only shows P ≥ 0.47 at 95 %, and says so.
        assert!((fresh.lower - 0.05f64.powf(0.25)).abs() < 1e-9, "{fresh:?}");
        // Judged again from scratch: every seed is absorbed at the factor,
        // the fresh ones too, and some seed is not at the factor found
        // unsafe.
        let verdicts_from = |f: f64, first: u64, n: u64| -> Vec<bool> {
            (0..n)
                .map(|k| {
                    let mut c = scale_capacity(&run.config, f, Capacity::Both);
                    c.seed = first + k;
                    judge(c, Judging::FullRuns, Target::Absorbed)
                        .unwrap()
                        .success
                })
                .collect()
        };
        let verdicts = |f: f64| verdicts_from(f, profile.scenario.seed, 4);
        assert!(
            verdicts(factor).iter().all(|&a| a),
            "{}: {factor}",
            a.balancer
        );
        assert_eq!(
            fresh.first_seed,
            profile.scenario.seed + 4 + 4 * a.search.rejected.len() as u64
        );
        assert!(
            verdicts_from(factor, fresh.first_seed, 4)
                .iter()
                .all(|&a| a),
            "{}: fresh at {factor}",
            a.balancer
        );
        // The local curve holds the answer with its four seeds.
        assert!(
            a.search
                .curve
                .iter()
                .any(|p| p.factor == factor && p.success == 4)
        );
        assert!(
            verdicts(unsafe_below).iter().any(|&a| !a),
            "{}: {unsafe_below}",
            a.balancer
        );
        // The answer needs more capacity than the profile has: the drain
        // overloads the one site left (380/s offered, 300/s accepted).
        assert!(factor > 1.0, "{}: {factor}", a.balancer);
        assert!(a.search.runs >= 4, "{}", a.search.runs);
    }
}

#[test]
fn a_plan_is_the_same_on_one_thread_and_on_two() {
    let profile = Profile::from_toml(PROFILE, "small.toml").unwrap();
    let s = settings(Judging::UntilRecovered);
    let plan = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| HeadroomPlan::run(&profile, &s, &|_| {}).unwrap())
    };
    assert_eq!(plan(1), plan(2));
}

#[test]
fn every_claim_of_plan_drain_holds_when_checked_run_by_run() {
    // West can carry east's traffic once its accept rate has grown: how
    // fast east may go is the question. The answer is not monotone in the
    // ramp for every balancer here, which the plan must say, not hide.
    let mut text = PROFILE
        .replace("rate = 380", "rate = 200")
        .replace("duration = \"40s\"", "duration = \"90s\"")
        .replace(
            "name = \"west\"\nmax_new_per_sec = 300",
            "name = \"west\"\nmax_new_per_sec = 150\nscaling = { max_per_sec = 400, headroom = 1.2, growth = 0.05 }",
        );
    let west = text.find("name = \"west\"").unwrap();
    text = format!(
        "{}{}",
        &text[..west],
        text[west..].replacen("count = 3", "count = 5", 1)
    );
    let profile = Profile::from_toml(&text, "ramp.toml").unwrap();
    let settings = drainstorm::plan::DrainSettings {
        search: SearchSettings {
            seeds: 3,
            fresh_seeds: 3,
            curve_seeds: 0,
            tolerance: 0.1,
            min_factor: 0.05,
            max_factor: 1.0,
            ..SearchSettings::default()
        },
        judging: Judging::FullRuns,
        target: Target::Absorbed,
    };
    let plan = drainstorm::plan::DrainPlan::run(&profile, &settings, &|_| {}).unwrap();
    assert_eq!(plan.drained, ["east"]);
    let runs = {
        let mut p = profile.clone();
        p.compare.seeds = 1;
        p.runs()
    };
    for (a, run) in plan.answers.iter().zip(&runs) {
        let absorbed = |minutes: f64, seed: u64| -> bool {
            let mut c = drainstorm::plan::with_drain_ramp(&run.config, minutes);
            c.seed = seed;
            judge(c, Judging::FullRuns, Target::Absorbed)
                .unwrap()
                .success
        };
        let seeds = || (0..3).map(|k| profile.scenario.seed + k);
        match a.search.outcome {
            Outcome::Found {
                factor,
                unsafe_below,
                ..
            } => {
                assert!(
                    seeds().all(|s| absorbed(factor, s)),
                    "{}: {factor} min",
                    a.balancer
                );
                assert!(
                    seeds().any(|s| !absorbed(unsafe_below, s)),
                    "{}",
                    a.balancer
                );
            }
            Outcome::BelowRange { min_factor, fresh } => {
                assert!(seeds().all(|s| absorbed(min_factor, s)), "{}", a.balancer);
                assert!((0..3).all(|k| absorbed(min_factor, fresh.first_seed + k)));
            }
            Outcome::Unconfirmed { factor, fresh } => {
                assert!(seeds().all(|s| absorbed(factor, s)), "{}", a.balancer);
                assert!((0..3).any(|k| !absorbed(factor, fresh.first_seed + k)));
            }
            Outcome::AboveRange { max_factor } => {
                assert!(seeds().any(|s| !absorbed(max_factor, s)), "{}", a.balancer)
            }
            Outcome::NotMonotone {
                seed,
                absorbed_at,
                failed_at,
            } => {
                assert!(absorbed_at < failed_at);
                assert!(
                    absorbed(absorbed_at, seed) && !absorbed(failed_at, seed),
                    "{}",
                    a.balancer
                );
            }
        }
    }
    // An abrupt drain is not absorbed: there is something to plan.
    let abrupt = drainstorm::plan::with_drain_ramp(&runs[0].config, 0.0);
    assert!(
        !judge(abrupt, Judging::FullRuns, Target::Absorbed)
            .unwrap()
            .success
    );
}

#[test]
fn a_size_ladder_runs_every_rung_with_the_same_seeds_and_judges_each_as_its_own_run() {
    use drainstorm::plan::{Convergence, SizePlan, SizeSettings, run_summary};
    let mut profile = Profile::from_toml(PROFILE, "small.toml").unwrap();
    profile.scale = 0.5; // the rungs multiply the profile's own scale
    let settings = SizeSettings {
        sizes: vec![1.0, 2.0, 4.0],
        seeds: 2,
        tolerance: 0.1,
    };
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| SizePlan::run(&profile, &settings, &|_| {}))
            .unwrap()
    };
    let plan = run(1);
    assert_eq!(plan, run(2), "the same answers on any number of threads");
    assert_eq!(plan.answers.len(), 2);
    assert_eq!(plan.runs, 2 * 3 * 2);
    for a in &plan.answers {
        let scales: Vec<f64> = a.rungs.iter().map(|r| r.scale).collect();
        assert_eq!(scales, [0.5, 1.0, 2.0]);
        // Twice the size is offered twice the load, on the same seeds.
        let offered: Vec<f64> = a.rungs.iter().map(|r| r.offered as f64).collect();
        assert!((offered[1] / offered[0] - 2.0).abs() < 0.1, "{offered:?}");
        assert!((offered[2] / offered[1] - 2.0).abs() < 0.1, "{offered:?}");
        // Each rung says what its runs, checked one by one, said.
        let combo = profile
            .runs()
            .into_iter()
            .find(|r| r.balancer == a.balancer)
            .unwrap();
        for r in &a.rungs {
            let mut p = profile.clone();
            p.scale = r.scale;
            let config = p
                .runs()
                .into_iter()
                .find(|x| x.balancer == combo.balancer)
                .unwrap()
                .config;
            let mut total = 0;
            for k in 0..2 {
                let mut c = config.clone();
                c.seed = profile.scenario.seed + k;
                let s = run_summary(c).unwrap();
                total += s.offered;
            }
            assert_eq!(total, r.offered);
            assert_eq!(r.verdicts.total(), 2);
        }
        // And the convergence follows the rule on those rungs.
        let points: Vec<_> = a.rungs.iter().map(|r| (r.verdict, r.recovery_s)).collect();
        let expected = drainstorm::plan::converged_at(&points, 0.1, plan.resolution_s);
        match a.convergence {
            Convergence::At { scale } => {
                assert_eq!(Some(scale), expected.map(|k| a.rungs[k].scale))
            }
            Convergence::NotBy { scale } => {
                assert_eq!(expected, None);
                assert_eq!(scale, 2.0);
            }
        }
    }
}
