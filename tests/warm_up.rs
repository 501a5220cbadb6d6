//! The warm-up (`recorder.warm_up`) is left out of every figure of the
//! summary — its totals, its mean and its percentiles alike — and a
//! warm-up as long as the run is refused.

use drainstorm::profile::Profile;
use drainstorm::retry::{SimDuration, SimTime};
use drainstorm::sim::{Action, Simulation, TimedAction};

/// The M/M/1 profile overloaded (ρ = 1.5) for the first 5 s of its 10 s
/// warm-up, then lightly loaded (ρ = 0.1): the queue built in the first
/// seconds (about 2 500 requests) drains within the warm-up, so its slow
/// requests end there and every request after it is fast.
fn overloaded_warm_up() -> drainstorm::sim::SimConfig {
    let mut c = Profile::bundled("mm1").unwrap().unwrap().scenario;
    c.duration = SimDuration::from_secs(400);
    if let drainstorm::sim::Workload::Open { rate, .. } = &mut c.clients[0].workload {
        *rate = 1500.0;
    }
    c.timeline = vec![TimedAction {
        at: SimTime(5_000_000_000),
        action: Action::SetLoad {
            group: c.clients[0].name.clone(),
            rate: 100.0,
            curve: Vec::new(),
        },
    }];
    c
}

#[test]
fn percentiles_leave_out_the_warm_up_as_the_totals_do() {
    let config = overloaded_warm_up();
    let mut sim = Simulation::new(config.clone()).unwrap();
    sim.run();
    let summary = sim.summary();
    let rows = sim.recorder().series();
    let warm_up = config.recorder.warm_up;
    // Every request the summary's histogram holds ended in a row after the
    // warm-up, so its p99 is at most the largest of those rows' p99s (the
    // rows' histograms keep two significant digits: 1 % of slack).
    let after: Vec<_> = rows.iter().filter(|r| r.start.0 >= warm_up.0).collect();
    let largest_p99 = after.iter().map(|r| r.p99_ns).max().unwrap() as f64 / 1e9;
    assert!(
        summary.p99 <= largest_p99 * 1.01,
        "summary p99 {} s, largest p99 of a row after the warm-up {largest_p99} s",
        summary.p99
    );
    // ...while the warm-up's own rows hold far slower requests, which the
    // summary would show if it counted them.
    let warm_p99 = rows
        .iter()
        .filter(|r| r.start.0 < warm_up.0)
        .map(|r| r.p99_ns)
        .max()
        .unwrap() as f64
        / 1e9;
    assert!(
        warm_p99 > 20.0 * summary.p99,
        "{warm_p99} vs {}",
        summary.p99
    );
    assert_eq!(
        summary.offered,
        after.iter().map(|r| r.offered).sum::<u64>(),
        "offered counts the rows after the warm-up"
    );

    // The same run measured from its start: the warm-up's requests are in.
    let mut whole = config;
    whole.recorder.warm_up = SimDuration::ZERO;
    let mut sim = Simulation::new(whole).unwrap();
    sim.run();
    assert!(sim.summary().p99 > 5.0 * summary.p99);
}

#[test]
fn a_warm_up_as_long_as_the_run_is_refused() {
    let mut config = overloaded_warm_up();
    config.duration = SimDuration::from_secs(10);
    let err = Simulation::new(config).unwrap_err().to_string();
    assert!(err.contains("recorder.warm_up"), "{err}");
    assert!(err.contains("below the duration (10s)"), "{err}");
}
