//! A client group as `instances` independent clients: each instance has
//! its own budget and its own limits, requests spread over the instances,
//! and the assignment is the same for every balancer.

use drainstorm::balancer::BalancerKind;
use drainstorm::retry::{Backoff, BudgetConfig, LimitsConfig, PolicyConfig, SimDuration};
use drainstorm::sim::{RetrySpec, SimConfig, Simulation, Workload};
use proptest::prelude::*;

/// `example()` with every attempt failing at once, retried at once under
/// gRPC's token bucket (10 tokens, a retry while more than 5 are left).
fn always_failing(instances: u32) -> SimConfig {
    let mut c = SimConfig::example();
    c.duration = SimDuration::from_secs(2);
    for s in &mut c.sites {
        s.backends[0].fail_probability = 1.0;
    }
    c.clients[0].instances = Some(instances);
    c.clients[0].retry = RetrySpec::Config(Box::new(PolicyConfig {
        budget: Some(BudgetConfig::TokenBucket {
            max_tokens: 10.0,
            token_ratio: 0.1,
        }),
        ..PolicyConfig::new(Backoff::Immediate, 10)
    }));
    c
}

#[test]
fn each_instance_spends_its_own_budget() {
    // Nothing ever succeeds, so no token comes back: each bucket allows
    // exactly four retries (10 → 6 tokens) over the whole run, and the
    // group's retries are four per instance.
    for n in [1, 7, 50] {
        let mut sim = Simulation::new(always_failing(n)).unwrap();
        sim.run();
        let s = sim.summary();
        assert!(s.offered > 10 * u64::from(n), "{} requests", s.offered);
        assert_eq!(s.attempts - s.offered, 4 * u64::from(n), "{n} instances");
    }
}

/// `example()` overloaded, each instance capped at `cap` requests.
fn capped(instances: u32, cap: u32, seed: u64) -> SimConfig {
    let mut c = SimConfig::example();
    c.seed = seed;
    c.duration = SimDuration::from_secs(3);
    c.clients[0].workload = Workload::Open {
        rate: 2000.0,
        curve: Vec::new(),
    };
    c.clients[0].instances = Some(instances);
    c.clients[0].retry = RetrySpec::Config(Box::new(PolicyConfig {
        attempt_timeout: Some(SimDuration::from_millis(50)),
        limits: LimitsConfig {
            max_requests: Some(cap),
            ..LimitsConfig::default()
        },
        ..PolicyConfig::new(Backoff::Immediate, 4)
    }));
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(debug_assertions) { 6 } else { 24 }))]

    /// Every instance keeps to its own cap, and together they hold more
    /// than one instance could.
    #[test]
    fn each_instance_keeps_its_own_limit(n in 2u32..12, cap in 1u32..6, seed: u64) {
        let mut sim = Simulation::new(capped(n, cap, seed)).unwrap();
        let mut most_in_group = 0;
        while sim.step().is_some() {
            let load = sim.instance_load(0);
            prop_assert_eq!(load.len(), n as usize);
            for (i, &(requests, _)) in load.iter().enumerate() {
                prop_assert!(requests <= cap as usize, "instance {} holds {}, cap {}", i, requests, cap);
            }
            most_in_group = most_in_group.max(load.iter().map(|l| l.0).sum::<usize>());
        }
        prop_assert!(most_in_group > cap as usize, "the group held {most_in_group}");
    }
}

#[test]
fn closed_loop_clients_belong_to_instances_in_blocks() {
    // Ten clients in two instances of five, each instance capped at three
    // requests: at most six requests at once, never more than three from
    // one instance.
    let mut c = capped(2, 3, 9);
    c.clients[0].workload = Workload::Closed {
        clients: 10,
        think: SimDuration::from_millis(1),
    };
    let mut sim = Simulation::new(c).unwrap();
    let mut most = [0, 0];
    while sim.step().is_some() {
        for (i, l) in sim.instance_load(0).into_iter().enumerate() {
            most[i] = most[i].max(l.0);
        }
    }
    assert_eq!(most, [3, 3]);
}

#[test]
fn requests_come_from_the_same_instances_whatever_the_balancer() {
    // The assignment is a draw from the request's id (common random
    // numbers): two balancers see the same spread. Without limits or a
    // budget the instance changes nothing, so two runs that differ only in
    // `instances` give the same bytes too.
    let run = |kind: BalancerKind, instances: Option<u32>| {
        let mut c = SimConfig::example();
        c.duration = SimDuration::from_secs(5);
        c.clients[0].instances = instances;
        c.clients[0].retry = RetrySpec::Preset("naive".into());
        for s in &mut c.sites {
            s.balancer = kind;
        }
        let mut sim = Simulation::new(c).unwrap();
        let mut spread = vec![0usize; sim.instance_load(0).len()];
        while sim.step().is_some() {
            for (i, l) in sim.instance_load(0).into_iter().enumerate() {
                spread[i] += l.0;
            }
        }
        sim.finish();
        (spread, sim.summary())
    };
    let (a, _) = run(BalancerKind::LeastConn, Some(16));
    let (b, _) = run(BalancerKind::Maglev, Some(16));
    assert!(a.iter().all(|&x| x > 0), "{a:?}");
    // Different balancers finish requests at different times, so the
    // counts differ; the instances each hold a comparable share.
    let (lo, hi) = (a.iter().min().unwrap(), a.iter().max().unwrap());
    assert!(*hi < 3 * lo, "{a:?}");
    assert!(b.iter().all(|&x| x > 0), "{b:?}");
    let (_, one) = run(BalancerKind::LeastConn, Some(1));
    let (_, many) = run(BalancerKind::LeastConn, Some(16));
    let (spread, default) = run(BalancerKind::LeastConn, None);
    assert_eq!(one, many);
    assert_eq!(one, default);
    assert_eq!(spread.len(), 500, "one instance per request a second");
}

#[test]
fn bad_instance_counts_name_the_key() {
    for n in [0, (1 << 24) + 1] {
        let mut c = SimConfig::example();
        c.clients[0].instances = Some(n);
        let e = Simulation::new(c).unwrap_err().to_string();
        assert!(e.contains("clients[0].instances"), "{e}");
    }
}
