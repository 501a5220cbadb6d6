//! Size as one key: `SimConfig::scaled` multiplies every extensive
//! quantity and leaves every intensive one alone; the profile's `scale`
//! key and `--scale` run, show, sweep and plan a profile at another size.

use drainstorm::balancer::BalancerKind;
use drainstorm::profile::Profile;
use drainstorm::retry::{LimitsConfig, PolicyConfig, SimDuration, SimTime};
use drainstorm::sim::{
    Action, CurvePoint, KeyDist, LbScaling, RetrySpec, SimConfig, Simulation, TimedAction, Workload,
};
use proptest::prelude::*;

/// `example()` with every extensive key set: two backend groups, site
/// weights, limits, scaling, a closed-loop group, keys and one action of
/// every kind that carries a quantity.
fn everything() -> SimConfig {
    let mut c = SimConfig::example();
    let s = &mut c.sites[0];
    s.weight = Some(3);
    s.max_new_per_sec = Some(250.0);
    s.accept_backlog = 40;
    s.scaling = Some(LbScaling {
        max_per_sec: 400.0,
        headroom: 1.2,
        growth: 0.01,
    });
    let mut second = s.backends[0].clone();
    second.count = 2;
    second.slots = 3;
    s.backends.push(second);
    c.clients[0].instances = Some(50);
    c.clients[0].keys = KeyDist::Zipf {
        count: 1000,
        exponent: 0.9,
    };
    c.clients[0].retry = RetrySpec::Config(Box::new(PolicyConfig {
        limits: LimitsConfig {
            max_requests: Some(7),
            ..LimitsConfig::default()
        },
        ..drainstorm::retry::Policy::grpc().config().clone()
    }));
    let mut closed = c.clients[0].clone();
    closed.name = "batch".into();
    closed.instances = None;
    closed.workload = Workload::Closed {
        clients: 30,
        think: SimDuration::from_millis(100),
    };
    c.clients.push(closed);
    let at = |s: u64| SimTime(s * 1_000_000_000);
    let east = || "east".to_string();
    c.timeline = vec![
        TimedAction {
            at: at(5),
            action: Action::SetAcceptRate {
                site: east(),
                max_new_per_sec: 300.0,
            },
        },
        TimedAction {
            at: at(6),
            action: Action::SetLoad {
                group: "web".into(),
                rate: 600.0,
                curve: vec![CurvePoint {
                    at: at(6),
                    factor: 1.5,
                }],
            },
        },
        TimedAction {
            at: at(7),
            action: Action::SetSiteWeight {
                site: east(),
                weight: 5,
                ramp: SimDuration::ZERO,
            },
        },
        TimedAction {
            at: at(8),
            // Four backends of one group, two of the other.
            action: Action::SetBackendWeights {
                site: east(),
                weights: vec![1, 2, 3, 4, 0, 9],
            },
        },
        TimedAction {
            at: at(9),
            action: Action::SetBackendFailure {
                site: east(),
                backends: Some(vec![1, 5]),
                fail_probability: 0.5,
            },
        },
    ];
    c.validate().unwrap();
    c
}

#[test]
fn every_extensive_quantity_is_multiplied_and_every_intensive_one_kept() {
    let c = everything();
    let big = c.scaled(3.0).unwrap();
    assert!(big.rounded.is_empty(), "{:?}", big.rounded);
    let b = &big.config;
    b.validate().unwrap();
    let (s, t) = (&c.sites[0], &b.sites[0]);
    assert_eq!(t.weight, Some(9));
    assert_eq!(t.max_in_flight, Some(192));
    assert_eq!(t.max_new_per_sec, Some(750.0));
    assert_eq!(t.accept_backlog, 120);
    assert_eq!(t.scaling.as_ref().unwrap().max_per_sec, 1200.0);
    assert_eq!(t.scaling.as_ref().unwrap().growth, 0.01);
    assert_eq!(t.scaling.as_ref().unwrap().headroom, 1.2);
    assert_eq!(
        t.backends.iter().map(|g| g.count).collect::<Vec<_>>(),
        [12, 6]
    );
    for (g, h) in s.backends.iter().zip(&t.backends) {
        assert_eq!(
            (g.slots, g.queue, g.service, g.speed),
            (h.slots, h.queue, h.service, h.speed)
        );
        assert_eq!(
            (g.weight, g.fail_probability),
            (h.weight, h.fail_probability)
        );
    }
    // The second site has no weight of its own: its default (its slots)
    // follows its backends, so the shares do not move.
    assert_eq!(b.sites[1].router_weight(), 3 * c.sites[1].router_weight());
    let (web, batch) = (&b.clients[0], &b.clients[1]);
    assert_eq!(
        web.workload,
        Workload::Open {
            rate: 1500.0,
            curve: Vec::new()
        }
    );
    assert_eq!(web.instances, Some(150));
    assert_eq!(
        web.keys,
        KeyDist::Zipf {
            count: 3000,
            exponent: 0.9
        }
    );
    assert_eq!(web.retry, c.clients[0].retry, "a policy is per instance");
    assert!(
        matches!(batch.workload, Workload::Closed { clients: 90, think } if think.as_nanos() == 100_000_000)
    );
    assert_eq!(
        batch.instance_count(),
        90,
        "the default follows the clients"
    );
    assert_eq!(b.router, c.router);
    assert_eq!(b.recorder, c.recorder);
    assert_eq!(b.duration, c.duration);
    let actions: Vec<&Action> = b.timeline.iter().map(|t| &t.action).collect();
    assert!(
        matches!(actions[0], Action::SetAcceptRate { max_new_per_sec, .. } if *max_new_per_sec == 900.0)
    );
    assert!(
        matches!(actions[1], Action::SetLoad { rate, curve, .. } if *rate == 1800.0 && curve[0].factor == 1.5)
    );
    assert!(matches!(
        actions[2],
        Action::SetSiteWeight { weight: 15, .. }
    ));
    // Each backend's weight goes to its three copies.
    let Action::SetBackendWeights { weights, .. } = actions[3] else {
        panic!()
    };
    assert_eq!(
        weights,
        &[1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 0, 0, 0, 9, 9, 9]
    );
    // Backend 1 (group 0) and backend 5 (group 1's second) fail, and so
    // do their copies.
    let Action::SetBackendFailure {
        backends: Some(list),
        ..
    } = actions[4]
    else {
        panic!()
    };
    assert_eq!(list, &[3, 4, 5, 15, 16, 17]);
    assert_eq!(
        b.timeline.iter().map(|t| t.at).collect::<Vec<_>>(),
        c.timeline.iter().map(|t| t.at).collect::<Vec<_>>()
    );
}

#[test]
fn a_fraction_rounds_counts_up_and_says_which() {
    let c = everything();
    let s = c.scaled(0.3).unwrap();
    s.config.validate().unwrap();
    assert_eq!(s.config.sites[0].backends[0].count, 2); // 4 × 0.3 = 1.2
    assert_eq!(s.config.sites[0].backends[1].count, 1); // 2 × 0.3 = 0.6
    let paths: Vec<&str> = s.rounded.iter().map(|r| r.path.as_str()).collect();
    assert!(paths.contains(&"sites[0].backends[0].count"), "{paths:?}");
    assert!(paths.contains(&"sites[0].max_in_flight"), "{paths:?}"); // 64 × 0.3
    assert!(
        !paths.contains(&"clients[1].workload.clients"),
        "30 × 0.3 is whole"
    );
    let r = s
        .rounded
        .iter()
        .find(|r| r.path == "sites[0].backends[0].count")
        .unwrap();
    assert_eq!((r.from, r.to), (4.0, 2));
    assert!((r.exact - 1.2).abs() < 1e-9);
    // A failure list still names a backend of each group it named.
    let Action::SetBackendFailure {
        backends: Some(list),
        ..
    } = &s.config.timeline[4].action
    else {
        panic!()
    };
    assert!(!list.is_empty());
    for k in [0.0, -1.0, f64::NAN, f64::INFINITY, 2e6] {
        assert!(c.scaled(k).is_err(), "{k}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn whole_factors_multiply_exactly_and_one_is_the_identity(k in 1u32..8, count in 1u32..40, rate in 1.0f64..5000.0) {
        let mut c = SimConfig::example();
        c.sites[0].backends[0].count = count;
        c.clients[0].workload = Workload::Open { rate, curve: Vec::new() };
        prop_assert_eq!(&c.scaled(1.0).unwrap().config, &c);
        let s = c.scaled(f64::from(k)).unwrap();
        prop_assert!(s.rounded.is_empty());
        let before: u64 = c.sites.iter().map(|s| s.backend_count()).sum();
        let after: u64 = s.config.sites.iter().map(|s| s.backend_count()).sum();
        prop_assert_eq!(after, before * u64::from(k));
        prop_assert_eq!(s.config.clients[0].instance_count(), (rate * f64::from(k)).ceil().min(1e6) as u32);
    }
}

#[test]
fn a_larger_system_is_offered_its_load_times_the_factor() {
    let run = |k: f64| {
        let mut c = SimConfig::example();
        c.duration = SimDuration::from_secs(10);
        c.sites
            .iter_mut()
            .for_each(|s| s.balancer = BalancerKind::LeastConn);
        let mut sim = Simulation::new(c.scaled(k).unwrap().config).unwrap();
        sim.run();
        sim.summary()
    };
    let (one, four) = (run(1.0), run(4.0));
    let ratio = four.offered as f64 / one.offered as f64;
    // 5 000 vs 20 000 Poisson arrivals: within 5 %.
    assert!((ratio - 4.0).abs() < 0.2, "{ratio}");
    assert!(four.lost <= 0.01, "{four:?}");
}

const TINY: &str = r#"
name = "tiny"
duration = "5s"
scale = 2

[[sites]]
name = "east"
max_new_per_sec = 500
backends = [{ count = 3, service = { dist = "exponential", mean = "10ms" } }]

[[clients]]
name = "web"
workload = { kind = "open", rate = 100 }
retry = "grpc"
"#;

#[test]
fn the_profile_key_scales_the_runs_and_show_prints_them() {
    let p = Profile::from_toml(TINY, "tiny.toml").unwrap();
    assert_eq!(p.scale, 2.0);
    let run = &p.runs()[0].config;
    assert_eq!(run.sites[0].backends[0].count, 6);
    assert_eq!(run.sites[0].max_new_per_sec, Some(1000.0));
    assert_eq!(run.clients[0].instance_count(), 200);
    // What `show` prints runs the same, at scale 1.
    let shown = p.scaled();
    assert_eq!(shown.scale, 1.0);
    let again = Profile::from_toml(&shown.to_toml(), "shown.toml").unwrap();
    assert_eq!(again.runs()[0].config, *run);
    // And scale 1 is not written.
    assert!(!again.to_toml().contains("scale ="));
    assert!(p.to_toml().contains("scale = 2.0"));
}

#[test]
fn a_bad_scale_is_located_and_a_scale_too_large_names_what_it_breaks() {
    let text = TINY.replace("scale = 2", "scale = -1");
    let e = Profile::from_toml(&text, "tiny.toml").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("scale"));
    assert_eq!(e.position, Some((4, 9)), "{e}");
    let text = TINY.replace("scale = 2", "scale = 50000");
    let e = Profile::from_toml(&text, "tiny.toml").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("scale"), "{e}");
    assert!(
        e.message
            .starts_with("at scale 50000, `sites[0].backends[0].count`: 150000 is not allowed"),
        "{e}"
    );
}
