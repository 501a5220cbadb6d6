//! Adaptive concurrency limits (Netflix's Vegas, Gradient2 and AIMD) in the
//! simulator: they bind under overload, cost nothing when the client is
//! the bottleneck, and every attempt they admit is given back.

use drainstorm::retry::{
    AdaptiveLimit, AimdLimit, Backoff, Gradient2Limit, LimitsConfig, PolicyConfig, SimDuration,
    SimTime, VegasLimit,
};
use drainstorm::sim::{CurvePoint, RetrySpec, SimConfig, Simulation, Summary, Workload};
use proptest::prelude::*;

/// `example()` (two sites of 4 × 10 ms backends: 800 requests/s) offered
/// `factor` times its capacity for 3 s and nothing after, by two client
/// instances retrying at once with a 50 ms attempt timeout, under `adaptive`.
fn overloaded(factor: f64, adaptive: Option<AdaptiveLimit>, seed: u64) -> SimConfig {
    let mut c = SimConfig::example();
    c.seed = seed;
    c.clients[0].instances = Some(2);
    c.duration = SimDuration::from_secs(6);
    c.clients[0].workload = Workload::Open {
        rate: 800.0 * factor,
        curve: vec![
            CurvePoint {
                at: SimTime(3_000_000_000),
                factor: 1.0,
            },
            CurvePoint {
                at: SimTime(3_001_000_000),
                factor: 0.0,
            },
        ],
    };
    c.clients[0].retry = RetrySpec::Config(Box::new(PolicyConfig {
        attempt_timeout: Some(SimDuration::from_millis(50)),
        limits: LimitsConfig {
            adaptive,
            ..LimitsConfig::default()
        },
        ..PolicyConfig::new(Backoff::Immediate, 4)
    }));
    c
}

/// `c` with slow load balancers that make attempts wait to be accepted,
/// and a cap of 5 waiting per instance: some attempts the adaptive limit
/// let out then fail before they are sent.
fn with_pending_cap(mut c: SimConfig) -> SimConfig {
    for s in &mut c.sites {
        s.max_new_per_sec = Some(300.0);
        s.accept_backlog = 200;
    }
    if let RetrySpec::Config(p) = &mut c.clients[0].retry {
        p.limits.max_pending_requests = Some(5);
    }
    c
}

fn every_algorithm() -> [AdaptiveLimit; 3] {
    [
        AdaptiveLimit::vegas(),
        // Minimums low enough to be reached by two instances' load.
        AdaptiveLimit::Gradient2(Gradient2Limit {
            min_limit: 2,
            ..Gradient2Limit::default()
        }),
        AdaptiveLimit::Aimd(AimdLimit {
            min_limit: 2,
            ..AimdLimit::default()
        }),
    ]
}

/// Runs `c`, stepping, and returns the summary, the lowest limit any
/// instance had, and the attempts still held once the run is over.
fn run(c: SimConfig) -> (Summary, u32, u32) {
    let instances = c.clients[0].instances.unwrap();
    let mut sim = Simulation::new(c).unwrap();
    let mut lowest = u32::MAX;
    while sim.step().is_some() {
        for k in 0..instances {
            if let Some(a) = sim.client_limits(0, k).and_then(|l| l.adaptive()) {
                lowest = lowest.min(a.limit());
            }
        }
    }
    sim.finish();
    let held = (0..instances)
        .filter_map(|k| sim.client_limits(0, k)?.adaptive().map(|a| a.in_flight()))
        .sum();
    (sim.summary(), lowest, held)
}

#[test]
fn each_algorithm_binds_under_overload_and_cuts_the_waste() {
    let (free, _, _) = run(overloaded(2.5, None, 1));
    assert_eq!(free.overflows, 0);
    for a in every_algorithm() {
        let (s, lowest, held) = run(overloaded(2.5, Some(a), 1));
        let name = a.name();
        assert!(s.overflows > 0, "{name}: nothing refused");
        assert!(lowest < 20, "{name}: the limit never fell below 20");
        assert_eq!(held, 0, "{name}: attempts never given back");
        // Fewer attempts sent (refused ones are not) and fewer of them
        // timing out.
        assert!(
            s.attempts < free.attempts,
            "{name}: {} vs {}",
            s.attempts,
            free.attempts
        );
        assert!(
            s.timeouts < free.timeouts,
            "{name}: {} vs {}",
            s.timeouts,
            free.timeouts
        );
    }
}

#[test]
fn attempts_that_fail_before_they_are_sent_give_their_place_back() {
    for a in every_algorithm() {
        let (s, _, held) = run(with_pending_cap(overloaded(2.5, Some(a), 2)));
        assert!(s.overflows > 0);
        assert_eq!(held, 0, "{}", a.name());
    }
}

#[test]
fn a_limit_the_client_never_reaches_changes_nothing() {
    // A tenth of the capacity: each instance holds a few attempts at once,
    // under half of any limit, so none moves and none refuses.
    let (free, _, _) = run(overloaded(0.1, None, 5));
    for a in every_algorithm() {
        let (s, lowest, held) = run(overloaded(0.1, Some(a), 5));
        assert_eq!(format!("{s:?}"), format!("{free:?}"), "{}", a.name());
        assert_eq!(held, 0);
        assert!(lowest >= 2);
    }
}

#[test]
fn a_bad_adaptive_limit_names_its_key() {
    let a = AdaptiveLimit::Vegas(VegasLimit {
        initial_limit: 2000,
        ..VegasLimit::default()
    });
    let Err(err) = Simulation::new(overloaded(1.0, Some(a), 1)) else {
        panic!("an initial limit above the maximum was accepted");
    };
    let err = err.to_string();
    assert!(err.contains("limits.adaptive.initial_limit"), "{err}");
    assert!(err.contains("2000"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(debug_assertions) { 4 } else { 16 }))]

    /// Whatever the load and the seed, every attempt an adaptive limit let
    /// out is given back by the end, and runs repeat.
    #[test]
    fn every_admitted_attempt_is_given_back(
        which in 0usize..3,
        factor in 0.5f64..4.0,
        pending_cap in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let a = every_algorithm()[which];
        let config = || {
            let c = overloaded(factor, Some(a), seed);
            if pending_cap { with_pending_cap(c) } else { c }
        };
        let (s, _, held) = run(config());
        prop_assert_eq!(held, 0);
        let (again, _, _) = run(config());
        prop_assert_eq!(format!("{s:?}"), format!("{again:?}"));
    }
}
