//! What the bundled incident profiles claim, held against their runs: the
//! drain is what starts the storm (without it the night is absorbed), the
//! naive client's storm outlives the fix, a retry budget or a ramped drain
//! keeps it small, and the verdicts follow. The profiles run at their
//! bundled size (900 requests/s at the peak): the test profile optimises.

use drainstorm::profile::{Profile, Run};
use drainstorm::sim::{Action, Recovery, Simulation, Summary, Verdict};

fn run_of(profile: &Profile, balancer: &str, policy: &str) -> Run {
    profile
        .runs()
        .into_iter()
        .find(|r| r.balancer == balancer && r.policy == policy)
        .expect("the profile compares it")
}

fn summary(run: Run) -> Summary {
    let mut sim = Simulation::new(run.config).unwrap();
    sim.run();
    sim.summary()
}

fn bundled(name: &str) -> Profile {
    Profile::bundled(name).unwrap().unwrap()
}

#[test]
fn the_abrupt_drain_starts_a_storm_that_a_budget_avoids() {
    let p = bundled("cheyenne-2026");
    let naive = summary(run_of(&p, "least-conn", "immediate"));
    assert!(naive.lost > 0.15, "{naive:?}");
    assert!(naive.peak_amplification > 3.0);
    assert!(matches!(
        naive.verdict,
        Verdict::Collapsed | Verdict::Metastable
    ));
    let budget = summary(run_of(&p, "least-conn", "backoff-budget"));
    assert!(budget.lost < 0.03, "{budget:?}");
    // Each client instance's budget lets its first retries through, so
    // the worst interval still sees retries, but over the night they are
    // a few in a hundred requests where immediate retries double the load.
    assert!(
        budget.peak_amplification < naive.peak_amplification,
        "{budget:?}"
    );
    assert!(budget.amplification < 1.05, "{budget:?}");
    assert!(naive.amplification > 1.5, "{naive:?}");
    assert_eq!(budget.recovery, Recovery::BeforeTriggerEnd, "{budget:?}");
}

#[test]
fn the_naive_storm_outlives_the_fix() {
    // The fix provisions the remaining load balancers for the traffic they
    // carry, yet the retries keep them overloaded: recovery comes an hour
    // or more later, as the evening load falls.
    let p = bundled("cheyenne-2026");
    for balancer in ["least-conn", "p2c", "smooth-wrr"] {
        let s = summary(run_of(&p, balancer, "immediate"));
        let after = s.recovery.seconds().unwrap_or(f64::INFINITY);
        assert!(after > 2700.0, "{balancer}: {s:?}");
        if balancer == "p2c" {
            assert_eq!(s.verdict, Verdict::Metastable, "{s:?}");
        }
    }
}

#[test]
fn without_the_drain_the_night_is_absorbed() {
    // The control that makes the verdict above mean something: the same
    // night, the same clients, no drain.
    let p = bundled("cheyenne-2026");
    let mut run = run_of(&p, "least-conn", "immediate");
    run.config
        .timeline
        .retain(|t| !matches!(t.action, Action::Drain { .. }));
    let s = summary(run);
    assert_eq!(s.verdict, Verdict::Absorbed, "{s:?}");
}

#[test]
fn a_ramped_drain_is_absorbed_where_the_abrupt_one_storms() {
    // The 30-minute ramp itself is absorbed, even with immediate retries:
    // without the 21:45 load-balancing change the night loses under 1 %.
    let p = bundled("ramped-drain");
    let mut run = run_of(&p, "least-conn", "immediate");
    run.config
        .timeline
        .retain(|t| !matches!(t.action, Action::SetSiteWeight { .. }));
    let s = summary(run);
    assert_eq!(s.verdict, Verdict::Absorbed, "{s:?}");
    assert!(s.lost < 0.01, "{s:?}");
    // The change doubles Chicago's share beyond what its load balancer was
    // provisioned for at 21:14: a storm of its own, and the only one of
    // the night, short because the load is falling.
    let s = summary(run_of(&p, "least-conn", "immediate"));
    let change = 285.0 * 60.0;
    assert!(!s.collapses.is_empty(), "{s:?}");
    for c in &s.collapses {
        assert!(c.start.as_secs_f64() >= change, "{s:?}");
        assert!(c.end.as_secs_f64() < change + 1800.0, "{s:?}");
    }
    assert!(s.lost < 0.05, "{s:?}");
}

#[test]
fn the_incident_profiles_run_in_real_time() {
    for name in ["cheyenne-2026", "ramped-drain"] {
        let p = bundled(name);
        assert_eq!(p.time_scale, None, "{name} compresses time");
        assert_eq!(p.clock_start_seconds(), Some(17 * 3600));
        assert!(p.scenario.duration.as_secs_f64() >= 12.0 * 3600.0);
    }
}
