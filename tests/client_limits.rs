//! Client concurrency limits (Envoy's circuit-breaker thresholds): never
//! more held than allowed, and the excess fails fast.

use drainstorm::retry::{
    Backoff, ClientLimits, LimitsConfig, PolicyConfig, RetryBudgetLimit, SimDuration,
};
use drainstorm::sim::{RetrySpec, SimConfig, Simulation, Workload};
use proptest::prelude::*;

/// `example()` overloaded `factor` times over, with immediate retries under
/// `limits`, as one client instance (so the group's load is the one
/// instance's; `tests/instances.rs` has a limit per instance).
fn overloaded(factor: f64, limits: LimitsConfig, seed: u64) -> SimConfig {
    let mut c = SimConfig::example();
    c.seed = seed;
    c.clients[0].instances = Some(1);
    c.duration = SimDuration::from_secs(4);
    // Two sites of 4 × 10 ms backends: 800 requests/s.
    c.clients[0].workload = Workload::Open {
        rate: 800.0 * factor,
        curve: Vec::new(),
    };
    c.clients[0].retry = RetrySpec::Config(Box::new(PolicyConfig {
        attempt_timeout: Some(SimDuration::from_millis(50)),
        limits,
        ..PolicyConfig::new(Backoff::Immediate, 4)
    }));
    for s in &mut c.sites {
        // A slow accept with a backlog, so that attempts also wait there.
        s.max_new_per_sec = Some(300.0);
        s.accept_backlog = 200;
    }
    c
}

/// Steps `c` event by event and returns the most (requests, retries) the
/// group held at once, and the run's summary overflows.
fn peaks(c: SimConfig) -> (usize, usize, u64) {
    let mut sim = Simulation::new(c).unwrap();
    let (mut requests, mut retries) = (0, 0);
    while sim.step().is_some() {
        let (q, r) = sim.client_load(0);
        requests = requests.max(q);
        retries = retries.max(r);
    }
    sim.finish();
    (requests, retries, sim.summary().overflows)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(debug_assertions) { 6 } else { 24 }))]

    /// With a cap of k concurrent retries, never more than k retries are
    /// outstanding, whatever the load and the seed.
    #[test]
    fn never_more_retries_than_the_cap(
        k in 0u32..5,
        factor in 0.8f64..3.0,
        seed in any::<u64>(),
    ) {
        let limits = LimitsConfig { max_retries: Some(k), ..LimitsConfig::default() };
        let (_, retries, _) = peaks(overloaded(factor, limits, seed));
        prop_assert!(retries <= k as usize, "{retries} retries outstanding, cap {k}");
    }

    /// With a cap of n concurrent requests, never more than n are held.
    #[test]
    fn never_more_requests_than_the_cap(
        n in 1u32..60,
        factor in 0.8f64..3.0,
        seed in any::<u64>(),
    ) {
        let limits = LimitsConfig { max_requests: Some(n), ..LimitsConfig::default() };
        let (requests, _, _) = peaks(overloaded(factor, limits, seed));
        prop_assert!(requests <= n as usize, "{requests} requests held, cap {n}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(debug_assertions) { 64 } else { 256 }))]

    /// Envoy's retry budget, driven by any sequence of requests, pending
    /// attempts and retries starting and ending: a retry is let through
    /// exactly when fewer retries are out than the budget allows for the
    /// requests and pending attempts out at that moment.
    #[test]
    fn a_retry_budget_admits_exactly_what_it_allows(
        percent in 0.0f64..=100.0,
        min in 0u32..6,
        ops in proptest::collection::vec(0u8..6, 0..400),
    ) {
        let budget = RetryBudgetLimit { budget_percent: percent, min_retry_concurrency: min };
        let mut l = ClientLimits::new(LimitsConfig {
            retry_budget: Some(budget),
            ..LimitsConfig::default()
        });
        for op in ops {
            match op {
                0 => prop_assert!(l.try_request()),
                1 if l.requests() > 0 => l.request_done(),
                2 => prop_assert!(l.try_pend()),
                3 if l.pending() > 0 => l.pend_done(),
                4 => {
                    let allowed = budget.max_retries(l.requests() + l.pending());
                    let before = l.retries();
                    prop_assert_eq!(l.try_retry(), before < allowed);
                    prop_assert!(l.retries() <= allowed.max(before));
                }
                5 if l.retries() > 0 => l.retry_done(),
                _ => {}
            }
        }
    }

    /// In a run, the client under a retry budget never holds more retries
    /// at once than the budget allows for the most requests and pending
    /// attempts it has held (each retry was let through under the budget
    /// of its moment, and the budget grows with what is held).
    #[test]
    fn a_run_never_holds_more_retries_than_its_budget(
        percent in 0.0f64..=40.0,
        min in 0u32..5,
        factor in 0.8f64..3.0,
        seed in any::<u64>(),
    ) {
        let budget = RetryBudgetLimit { budget_percent: percent, min_retry_concurrency: min };
        let limits = LimitsConfig { retry_budget: Some(budget), ..LimitsConfig::default() };
        let mut sim = Simulation::new(overloaded(factor, limits, seed)).unwrap();
        let (mut held, mut peak) = (0, 0);
        while sim.step().is_some() {
            let l = sim.client_limits(0, 0).expect("a limited group counts");
            held = held.max(l.requests() + l.pending());
            peak = peak.max(l.retries());
            prop_assert!(
                l.retries() <= budget.max_retries(held),
                "{} retries, at most {held} held, {percent} %, min {min}",
                l.retries()
            );
            // The engine's own count of retries agrees with the counter's.
            prop_assert_eq!(sim.client_load(0).1, l.retries() as usize);
        }
        prop_assert!(sim.client_limits(0, 1).is_none());
    }
}

#[test]
fn a_retry_budget_follows_the_load_where_a_fixed_cap_does_not() {
    // Overloaded, the clients hold many requests: Envoy's 20 % lets more
    // retries through than its fixed 3, and far fewer than no limit.
    let (requests, fixed, _) = peaks(overloaded(2.5, LimitsConfig::ENVOY, 1));
    let (budget_requests, budget, overflows) =
        peaks(overloaded(2.5, LimitsConfig::ENVOY_RETRY_BUDGET, 1));
    let (_, free, _) = peaks(overloaded(2.5, LimitsConfig::default(), 1));
    assert!(
        fixed <= 3 && requests > 20,
        "{fixed} retries, {requests} requests"
    );
    assert!(budget > 3, "{budget} retries under the budget");
    assert!(
        budget < free,
        "{budget} retries under the budget, {free} without"
    );
    assert!(budget as u32 <= RetryBudgetLimit::ENVOY.max_retries(2 * budget_requests as u32));
    assert!(overflows > 0);
}

#[test]
fn a_retry_budget_and_a_retry_cap_together_are_refused() {
    let config = PolicyConfig {
        limits: LimitsConfig {
            max_retries: Some(3),
            ..LimitsConfig::ENVOY_RETRY_BUDGET
        },
        ..PolicyConfig::new(Backoff::Immediate, 4)
    };
    let err = drainstorm::retry::Policy::new(config)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("limits.max_retries") && err.contains("retry_budget"),
        "{err}"
    );
    let config = PolicyConfig {
        limits: LimitsConfig {
            retry_budget: Some(RetryBudgetLimit {
                budget_percent: 101.0,
                min_retry_concurrency: 3,
            }),
            ..LimitsConfig::default()
        },
        ..PolicyConfig::new(Backoff::Immediate, 4)
    };
    let err = drainstorm::retry::Policy::new(config)
        .unwrap_err()
        .to_string();
    assert!(err.contains("budget_percent = 101"), "{err}");
}

#[test]
fn unlimited_clients_hold_more_than_the_caps_would_allow() {
    // The caps above are exercised: without them the same runs hold many
    // more retries and requests at once.
    let (requests, retries, overflows) = peaks(overloaded(2.5, LimitsConfig::default(), 1));
    assert!(
        retries > 20 && requests > 60,
        "{requests} requests, {retries} retries"
    );
    assert_eq!(overflows, 0);
}

#[test]
fn the_excess_fails_fast_and_is_counted() {
    let run = |limits| {
        let mut sim = Simulation::new(overloaded(2.5, limits, 1)).unwrap();
        sim.run();
        sim.summary()
    };
    let free = run(LimitsConfig::default());
    let envoy = run(LimitsConfig::ENVOY);
    assert!(envoy.overflows > 0);
    assert!(envoy.overflows <= envoy.failures);
    assert!(
        envoy.amplification < free.amplification,
        "{} vs {}",
        envoy.amplification,
        free.amplification
    );
    let pending = run(LimitsConfig {
        max_pending_requests: Some(5),
        ..LimitsConfig::default()
    });
    assert!(pending.overflows > 0);
    // Overflow counts appear in the series too.
    let mut sim = Simulation::new(overloaded(2.5, LimitsConfig::ENVOY, 1)).unwrap();
    sim.run();
    let series: u64 = sim.recorder().series().iter().map(|r| r.overflows).sum();
    assert_eq!(series, sim.summary().overflows);
}

#[test]
fn envoys_preset_carries_envoys_thresholds() {
    let p = drainstorm::retry::Policy::envoy();
    assert_eq!(p.config().limits, LimitsConfig::ENVOY);
    assert_eq!(LimitsConfig::ENVOY.max_retries, Some(3));
    assert!(
        drainstorm::retry::Policy::grpc()
            .config()
            .limits
            .is_unlimited()
    );
}

#[test]
fn a_zero_request_cap_is_an_error() {
    let mut c = overloaded(1.0, LimitsConfig::default(), 1);
    c.clients[0].retry = RetrySpec::Config(Box::new(PolicyConfig {
        limits: LimitsConfig {
            max_requests: Some(0),
            ..LimitsConfig::default()
        },
        ..PolicyConfig::new(Backoff::Immediate, 4)
    }));
    let err = Simulation::new(c).unwrap_err();
    assert!(err.to_string().contains("limits.max_requests"), "{err}");
}
