//! The cascade: drains, load balancers that scale with lag, health checks,
//! DNS TTL, panic threshold, slow start, and determinism across threads.

use drainstorm::balancer::BalancerKind;
use drainstorm::retry::{Backoff, BudgetConfig, Jitter, PolicyConfig, SimDuration, SimTime};
use drainstorm::sim::{
    Action, BackendGroup, ClientGroup, HealthCheckConfig, KeyDist, LbScaling, RecorderConfig,
    Recovery, RetrySpec, RouterConfig, ServiceTime, SimConfig, Simulation, SiteConfig, Summary,
    TimedAction, Verdict, Workload, run_batch,
};

fn ms(n: u64) -> SimDuration {
    SimDuration::from_millis(n)
}

fn at(secs: u64) -> SimTime {
    SimTime(secs * 1_000_000_000)
}

/// Three attempts after the first, at once, 250 ms timeout: the client
/// that turns a slow load balancer into a storm.
fn immediate_retries() -> PolicyConfig {
    PolicyConfig {
        attempt_timeout: Some(ms(250)),
        ..PolicyConfig::new(Backoff::Immediate, 4)
    }
}

/// Full-jitter exponential backoff and gRPC's token-bucket retry budget.
fn backoff_and_budget() -> PolicyConfig {
    PolicyConfig {
        attempt_timeout: Some(ms(250)),
        budget: Some(BudgetConfig::TokenBucket {
            max_tokens: 10.0,
            token_ratio: 0.1,
        }),
        ..PolicyConfig::new(
            Backoff::exponential(ms(50), 2.0, ms(2000), Jitter::Full).unwrap(),
            4,
        )
    }
}

/// Four sites of 8 backends × 2 slots (20 ms mean service: 800/s each)
/// at 70 % load (2240/s). Each load balancer accepts 1.2 × the traffic it
/// sees, with a backlog of 1000 connections, and scales by at most 1 % a
/// second up to 900/s. `dc1` is drained at 60 s (over `ramp`) and
/// restored at 180 s; the run lasts 300 s. Health checks every 2 s, 500 ms
/// timeout, 3 failures eject, 2 successes return.
fn drain(retry: PolicyConfig, ramp: SimDuration) -> SimConfig {
    let site = |i: usize| SiteConfig {
        balancer: BalancerKind::LeastConn,
        max_new_per_sec: Some(672.0),
        accept_backlog: 1000,
        scaling: Some(LbScaling {
            max_per_sec: 900.0,
            headroom: 1.2,
            growth: 0.01,
        }),
        ..SiteConfig::new(
            &format!("dc{}", i + 1),
            vec![BackendGroup {
                slots: 2,
                queue: 40,
                ..BackendGroup::new(8, ServiceTime::Exponential { mean: ms(20) })
            }],
        )
    };
    SimConfig {
        seed: 1,
        duration: SimDuration::from_secs(300),
        sites: (0..4).map(site).collect(),
        clients: vec![ClientGroup {
            name: "users".into(),
            workload: Workload::Open {
                rate: 2240.0,
                curve: Vec::new(),
            },
            keys: KeyDist::default(),
            retry: RetrySpec::Config(Box::new(retry)),
            instances: None,
        }],
        router: RouterConfig {
            health_check: Some(HealthCheckConfig {
                interval: SimDuration::from_secs(2),
                timeout: ms(500),
                fall: 3,
                rise: 2,
            }),
            ..RouterConfig::default()
        },
        cancel_on_timeout: false,
        recorder: RecorderConfig::default(),
        timeline: vec![
            TimedAction {
                at: at(60),
                action: Action::Drain {
                    site: "dc1".into(),
                    ramp,
                },
            },
            TimedAction {
                at: at(180),
                action: Action::Restore {
                    site: "dc1".into(),
                    ramp: SimDuration::ZERO,
                    cold_factor: 1.0,
                    cold_for: SimDuration::ZERO,
                },
            },
        ],
    }
}

fn run(config: SimConfig) -> (Summary, Simulation) {
    let mut sim = Simulation::new(config).unwrap();
    sim.run();
    (sim.summary(), sim)
}

/// Sites other than `dc1` that health checks ejected at some point.
fn ejected_others(sim: &Simulation) -> usize {
    let r = sim.recorder();
    (1..4)
        .filter(|&s| r.site_series(s).any(|row| !row.healthy))
        .count()
}

#[test]
fn an_abrupt_drain_with_immediate_retries_is_metastable() {
    let (s, sim) = run(drain(immediate_retries(), SimDuration::ZERO));
    assert!(ejected_others(&sim) >= 1, "another site must be ejected");
    assert_eq!(s.trigger_end, Some(at(180)));
    assert_eq!(s.verdict, Verdict::Metastable, "{s:?}");
    assert_eq!(s.recovery, Recovery::Never, "never recovers");
    assert!(
        s.amplification > 2.0,
        "retries amplify: {}",
        s.amplification
    );
    assert!(s.wasted > s.successes / 10, "abandoned work is served");
}

#[test]
fn backoff_and_a_budget_recover_by_the_restore() {
    // The load balancers are still too slow to scale, so goodput may
    // collapse for a while after the drain, but the budgets (one per
    // client instance) keep retries from feeding it: the bound is that
    // every collapse is over within seconds of the restore, 120 s after
    // the drain, when the capacity it lacked comes back.
    let (s, _) = run(drain(backoff_and_budget(), SimDuration::ZERO));
    assert!(
        matches!(
            s.verdict,
            Verdict::Absorbed | Verdict::Degraded | Verdict::Collapsed
        ),
        "{s:?}"
    );
    // Recovered (95 % goodput, amplification ≤ 1.1 over 10 s) within a
    // few seconds of the restore, not minutes.
    assert!(
        s.recovery == Recovery::BeforeTriggerEnd || s.recovery.seconds().is_some_and(|x| x <= 5.0),
        "{s:?}"
    );
    assert!(s.collapses.iter().all(|c| c.end <= at(185)), "{s:?}");
    assert!(s.amplification < 1.05, "{}", s.amplification);
}

#[test]
fn a_ramped_drain_absorbs_what_the_abrupt_one_did_not() {
    // The same clients, the same site, drained over two minutes: the load
    // balancers scale as the traffic moves.
    let (s, sim) = run(drain(immediate_retries(), SimDuration::from_secs(120)));
    assert_eq!(s.verdict, Verdict::Absorbed, "{s:?}");
    assert_eq!(ejected_others(&sim), 0);
    assert!(s.lost < 0.001);
}

/// Two sites behind a router whose clients cache its answer for 10 s.
fn ttl_config() -> SimConfig {
    let mut c = SimConfig::example();
    c.duration = SimDuration::from_secs(60);
    c.router.dns_ttl = SimDuration::from_secs(10);
    c.clients[0].instances = Some(256);
    c
}

fn admitted(sim: &Simulation, site: usize) -> Vec<u64> {
    sim.recorder()
        .site_series(site)
        .map(|r| r.admitted)
        .collect()
}

#[test]
fn after_a_drain_new_requests_leave_within_one_ttl() {
    let mut c = ttl_config();
    // Every bucket's answer was cached within the first half second and
    // is renewed within half a second of expiring, so at 25 s each cached
    // answer is about 5 s old.
    c.timeline.push(TimedAction {
        at: at(25),
        action: Action::Drain {
            site: "east".into(),
            ramp: SimDuration::ZERO,
        },
    });
    let (_, sim) = run(c);
    let east = admitted(&sim, 0);
    assert!(east[..25].iter().all(|&n| n > 100), "{east:?}");
    // Not before: cached answers still send requests until they expire.
    assert!(east[25..29].iter().all(|&n| n > 100), "{east:?}");
    // Not after: every cached answer has expired one TTL after the drain.
    assert!(east[35..].iter().all(|&n| n == 0), "{east:?}");
}

#[test]
fn after_an_ejection_new_requests_leave_within_the_check_delay_plus_one_ttl() {
    let mut c = ttl_config();
    c.router.health_check = Some(HealthCheckConfig {
        interval: SimDuration::from_secs(1),
        timeout: ms(200),
        fall: 3,
        rise: 2,
    });
    c.timeline.push(TimedAction {
        at: at(20),
        action: Action::SetBackendFailure {
            site: "east".into(),
            backends: None,
            fail_probability: 1.0,
        },
    });
    let (_, sim) = run(c);
    let healthy: Vec<bool> = sim.recorder().site_series(0).map(|r| r.healthy).collect();
    let ejected = healthy.iter().position(|h| !h).expect("east is ejected");
    // Three failed probes, one a second, after the failure at 20 s.
    assert!(
        (22..=23).contains(&ejected),
        "ejected in interval {ejected}"
    );
    let east = admitted(&sim, 0);
    assert!(east[ejected + 7] > 0, "{east:?}");
    assert!(east[ejected + 11..].iter().all(|&n| n == 0), "{east:?}");
}

/// Three sites; two answer half their requests with errors, so their
/// health checks fail and they are ejected. The healthy one cannot carry
/// everything.
fn half_broken(panic_threshold: f64) -> SimConfig {
    let mut c = SimConfig::example();
    c.duration = SimDuration::from_secs(60);
    c.sites.push(c.sites[0].clone());
    c.sites[2].name = "north".into();
    for s in &mut c.sites {
        s.max_in_flight = None;
        s.backends[0].queue = 4;
    }
    c.sites[1].backends[0].fail_probability = 0.5;
    c.sites[2].backends[0].fail_probability = 0.5;
    c.clients[0].workload = Workload::Open {
        rate: 600.0,
        curve: Vec::new(),
    };
    c.clients[0].retry = RetrySpec::Preset("naive".into());
    c.router.health_check = Some(HealthCheckConfig {
        interval: SimDuration::from_secs(1),
        timeout: ms(200),
        fall: 1,
        rise: 10,
    });
    c.router.panic_threshold = panic_threshold;
    c
}

#[test]
fn the_panic_threshold_keeps_traffic_on_unhealthy_sites_that_still_serve() {
    let (without, _) = run(half_broken(0.0));
    let (with, sim) = run(half_broken(0.5));
    // Documented direction: with one site of three healthy (33 % < 50 %)
    // the router routes to all three, whose half-successes (and retries)
    // beat one overloaded site.
    assert!(
        with.lost < without.lost / 2.0,
        "panic {:.3} vs none {:.3}",
        with.lost,
        without.lost
    );
    let west = admitted(&sim, 1);
    assert!(west[30..].iter().all(|&n| n > 0), "{west:?}");
}

/// East is drained, then restored cold (service three times slower for
/// 30 s), with or without a slow-start window.
fn cold_restore(slow_start: SimDuration) -> SimConfig {
    let mut c = SimConfig::example();
    c.duration = SimDuration::from_secs(90);
    c.clients[0].workload = Workload::Open {
        rate: 300.0,
        curve: Vec::new(),
    };
    c.clients[0].retry = RetrySpec::Config(Box::new(PolicyConfig {
        attempt_timeout: Some(ms(500)),
        ..PolicyConfig::new(Backoff::Constant(ms(10)), 3)
    }));
    for s in &mut c.sites {
        s.max_in_flight = None;
        s.backends[0].queue = 100;
    }
    c.router.slow_start = slow_start;
    c.timeline = vec![
        TimedAction {
            at: at(10),
            action: Action::Drain {
                site: "east".into(),
                ramp: SimDuration::ZERO,
            },
        },
        TimedAction {
            at: at(30),
            action: Action::Restore {
                site: "east".into(),
                ramp: SimDuration::ZERO,
                cold_factor: 3.0,
                cold_for: SimDuration::from_secs(30),
            },
        },
    ];
    c
}

#[test]
fn slow_start_spares_a_cold_site() {
    let (abrupt, a) = run(cold_restore(SimDuration::ZERO));
    let (slow, b) = run(cold_restore(SimDuration::from_secs(40)));
    // Documented direction: the cold site takes a share that grows over
    // the window instead of its full share at once.
    let first = |sim: &Simulation| admitted(sim, 0)[30..35].iter().sum::<u64>();
    assert!(first(&b) < first(&a) / 2, "{} vs {}", first(&b), first(&a));
    assert!(
        slow.timeouts < abrupt.timeouts / 2,
        "timeouts {} vs {}",
        slow.timeouts,
        abrupt.timeouts
    );
}

fn fingerprint(r: &drainstorm::sim::RunResult) -> String {
    format!("{:?}\n{:?}", r.summary, r.recorder.series())
}

#[test]
fn a_batch_is_identical_on_one_and_two_threads() {
    let configs: Vec<SimConfig> = [immediate_retries(), backoff_and_budget()]
        .into_iter()
        .flat_map(|p| {
            [SimDuration::ZERO, SimDuration::from_secs(60)].map(|ramp| {
                let mut c = drain(p.clone(), ramp);
                c.duration = SimDuration::from_secs(100);
                c.timeline[1].at = at(90);
                c
            })
        })
        .collect();
    let on = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                run_batch(&configs)
                    .into_iter()
                    .map(|r| fingerprint(&r.unwrap()))
                    .collect::<Vec<_>>()
            })
    };
    let one = on(1);
    let two = on(2);
    assert_eq!(one.len(), 4);
    for (a, b) in one.iter().zip(&two) {
        assert!(a == b, "batch results differ between 1 and 2 threads");
    }
    assert!(one[0] != one[1], "the runs differ from each other");
}

#[test]
fn a_returning_backend_ramps_up_over_the_slow_start_window() {
    let mut c = SimConfig::example();
    c.duration = SimDuration::from_secs(40);
    c.router.slow_start = SimDuration::from_secs(20);
    let mut sim = Simulation::new(c).unwrap();
    sim.inject(Action::SetBackendWeights {
        site: "east".into(),
        weights: vec![0, 10, 10, 10],
    })
    .unwrap();
    assert_eq!(sim.backend_weights(0), [0, 10, 10, 10]);
    sim.run_until(at(10));
    sim.inject(Action::SetBackendWeights {
        site: "east".into(),
        weights: vec![10, 10, 10, 10],
    })
    .unwrap();
    assert_eq!(sim.backend_weights(0)[0], 1, "starts low");
    sim.run_until(at(15));
    assert_eq!(sim.backend_weights(0)[0], 2, "a quarter of the way");
    sim.run_until(at(20));
    assert_eq!(sim.backend_weights(0)[0], 5, "half way");
    sim.run_until(at(31));
    assert_eq!(sim.backend_weights(0), [10, 10, 10, 10]);
    // Without slow start the weight is back at once.
    let mut at_once = Simulation::new(SimConfig::example()).unwrap();
    at_once
        .inject(Action::SetBackendWeights {
            site: "east".into(),
            weights: vec![0, 10, 10, 10],
        })
        .unwrap();
    at_once
        .inject(Action::SetBackendWeights {
            site: "east".into(),
            weights: vec![10, 10, 10, 10],
        })
        .unwrap();
    assert_eq!(at_once.backend_weights(0), [10, 10, 10, 10]);
}

#[test]
fn a_balancer_and_its_parameters_change_mid_run() {
    let mut c = SimConfig::example();
    c.sites[0].balancer = BalancerKind::BoundedLoad;
    c.sites[0].balancer_params.epsilon = Some(0.5);
    c.timeline.push(TimedAction {
        at: at(10),
        action: Action::SetBalancer {
            site: "east".into(),
            balancer: BalancerKind::Maglev,
            params: drainstorm::balancer::KindParams {
                table_size: Some(251),
                ..Default::default()
            },
        },
    });
    let mut sim = Simulation::new(c.clone()).unwrap();
    sim.run_until(at(5));
    assert_eq!(sim.sites()[0].balancer, "bounded-load");
    sim.run();
    assert_eq!(sim.sites()[0].balancer, "maglev");
    assert!(sim.summary().lost < 0.01);
    // Out-of-range parameters are refused with the key.
    c.sites[0].balancer_params.epsilon = Some(-1.0);
    let e = Simulation::new(c).unwrap_err();
    assert_eq!(e.path(), Some("sites[0].balancer_params.epsilon"), "{e}");
}

#[test]
fn provisioning_the_load_balancers_by_hand_ends_the_overload_they_caused() {
    // Each load balancer accepts 1.2 × its share and scales slowly: after
    // dc1's drain the rest cannot accept the traffic. Setting their accept
    // rate by hand at 120 s takes effect at once and becomes the floor.
    let mut c = drain(backoff_and_budget(), SimDuration::ZERO);
    c.timeline.pop(); // dc1 stays out
    for s in ["dc2", "dc3", "dc4"] {
        c.timeline.push(TimedAction {
            at: at(120),
            action: Action::SetAcceptRate {
                site: s.into(),
                max_new_per_sec: 1000.0,
            },
        });
    }
    c.recorder.trigger_end = Some(at(120));
    let (fixed, sim) = run(c.clone());
    let rates: Vec<f64> = sim
        .recorder()
        .site_series(1)
        .map(|r| r.accept_rate)
        .collect();
    let per_second = rates.len() / 300;
    let (before, after) = rates.split_at(120 * per_second);
    assert!(before.iter().all(|&r| r < 900.0), "{rates:?}");
    assert!(after.iter().all(|&r| r == 1000.0), "{rates:?}");
    assert!(
        matches!(fixed.recovery, Recovery::After { .. }),
        "{fixed:?}"
    );

    c.timeline.truncate(1);
    let (unfixed, _) = run(c.clone());
    assert!(unfixed.lost > fixed.lost, "{unfixed:?} vs {fixed:?}");

    // A rate outside [0.001, 1e8] is refused with the key.
    c.timeline.push(TimedAction {
        at: at(120),
        action: Action::SetAcceptRate {
            site: "dc2".into(),
            max_new_per_sec: 0.0,
        },
    });
    let e = Simulation::new(c).unwrap_err();
    assert!(e.to_string().contains("max_new_per_sec"), "{e}");
}
