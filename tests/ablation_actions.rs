//! The actions `explain` applies at a trigger's end, each on a scenario
//! where it visibly changes the model: `reset-load-balancer`,
//! `set-cancel-on-timeout`, `stop-health-checks`, `flush-dns`.

use drainstorm::balancer::BalancerKind;
use drainstorm::retry::{Backoff, PolicyConfig, SimDuration, SimTime};
use drainstorm::sim::{
    Action, BackendGroup, ClientGroup, HealthCheckConfig, KeyDist, RetrySpec, ServiceTime,
    SimConfig, Simulation, SiteConfig, Workload,
};

fn ms(n: u64) -> SimDuration {
    SimDuration::from_millis(n)
}

fn secs(n: u64) -> SimTime {
    SimTime(n * 1_000_000_000)
}

fn site(name: &str, count: u32, queue: u32) -> SiteConfig {
    SiteConfig {
        balancer: BalancerKind::LeastConn,
        ..SiteConfig::new(
            name,
            vec![BackendGroup {
                queue,
                ..BackendGroup::new(count, ServiceTime::Exponential { mean: ms(10) })
            }],
        )
    }
}

/// One site (or more) under `rate` requests a second, one attempt each
/// with a 100 ms timeout: nothing retries, so what the actions change is
/// seen alone.
fn scenario(sites: Vec<SiteConfig>, rate: f64) -> SimConfig {
    SimConfig {
        seed: 7,
        duration: SimDuration::from_secs(60),
        sites,
        clients: vec![ClientGroup {
            name: "users".into(),
            workload: Workload::Open {
                rate,
                curve: Vec::new(),
            },
            keys: KeyDist::default(),
            retry: RetrySpec::Config(Box::new(PolicyConfig {
                attempt_timeout: Some(ms(100)),
                ..PolicyConfig::new(Backoff::Immediate, 1)
            })),
            instances: None,
        }],
        ..SimConfig::example()
    }
}

#[test]
fn a_load_balancer_reset_undoes_what_scaling_did() {
    // A load balancer set to 20 a second that scales by half a second up
    // to 1 000 under 200 a second: it grows far above 20; a reset brings
    // it back to the 20 last configured.
    let mut lb = site("east", 8, 16);
    lb.max_new_per_sec = Some(50.0);
    lb.accept_backlog = 2000;
    lb.scaling = Some(drainstorm::sim::LbScaling {
        max_per_sec: 1000.0,
        headroom: 1.5,
        growth: 0.5,
    });
    let mut sim = Simulation::new(scenario(vec![lb], 200.0)).unwrap();
    sim.inject(Action::SetAcceptRate {
        site: "east".into(),
        max_new_per_sec: 20.0,
    })
    .unwrap();
    sim.run_until(secs(10));
    let rate = |sim: &Simulation| sim.recorder().site_series(0).last().unwrap().accept_rate;
    assert!(rate(&sim) > 100.0, "scaled to {}", rate(&sim));
    sim.inject(Action::ResetLoadBalancer {
        site: "east".into(),
    })
    .unwrap();
    sim.run_until(secs(11));
    assert_eq!(rate(&sim), 20.0);
}

#[test]
fn a_load_balancer_reset_empties_its_backlog_and_keeps_its_configured_rate() {
    // A load balancer accepting 50 attempts a second, with room for 2 000
    // waiting, under 200 a second: its backlog fills.
    let mut lb = site("east", 8, 16);
    lb.max_new_per_sec = Some(50.0);
    lb.accept_backlog = 2000;
    let mut sim = Simulation::new(scenario(vec![lb], 200.0)).unwrap();
    sim.inject(Action::SetAcceptRate {
        site: "east".into(),
        max_new_per_sec: 20.0,
    })
    .unwrap();
    sim.run_until(secs(10));
    let before = sim.sites()[0].in_flight;
    assert!(before > 1000, "the backlog holds {before}");
    assert_eq!(sim.summary().lb_rejects, 0, "the backlog is not full yet");
    sim.inject(Action::ResetLoadBalancer {
        site: "east".into(),
    })
    .unwrap();
    let after = sim.sites()[0].in_flight;
    assert!(after < 10, "{before} held before the reset, {after} after");
    // Each attempt dropped from the backlog is a rejection (and the
    // emptied backlog has room for the next 13 s of excess).
    sim.run_until(secs(12) + SimDuration::from_millis(500));
    assert!(
        sim.summary().lb_rejects >= u64::from(before - after - 1),
        "{} rejections for {before} dropped",
        sim.summary().lb_rejects
    );
    // The 20/s set by hand stays: a reset clears what the load balancer
    // accumulated, not the operator's configuration.
    sim.run_until(secs(30));
    let last = sim
        .recorder()
        .site_series(0)
        .last()
        .expect("intervals closed")
        .clone();
    assert_eq!(last.accept_rate, 20.0);
    // The run goes on and ends: the dropped attempts' events find nothing.
    sim.run();
    assert!(sim.summary().offered > 0);
}

#[test]
fn turning_cancellation_on_drops_the_work_nobody_waits_for() {
    // 150 requests a second at one backend that serves 100: its queue of
    // 400 fills with attempts whose 100 ms timeout passed long ago.
    let run = |cancel_at: Option<u64>| {
        let mut sim = Simulation::new(scenario(vec![site("east", 1, 400)], 150.0)).unwrap();
        if let Some(t) = cancel_at {
            sim.schedule(secs(t), Action::SetCancelOnTimeout { cancel: true })
                .unwrap();
        }
        sim.run_until(secs(20));
        let queued = sim.sites()[0].queued;
        sim.run_until(secs(20) + SimDuration::from_millis(1));
        (
            queued,
            sim.sites()[0].queued,
            sim.recorder().totals().clone(),
        )
    };
    let (kept, _, keep) = run(None);
    assert!(kept > 300, "abandoned work fills the queue: {kept}");
    let (_, cancelled, cut) = run(Some(20));
    assert!(
        cancelled < 20,
        "after the action only attempts whose clients wait remain: {cancelled} of {kept}"
    );
    assert!(
        cut.cancelled > 300 + keep.cancelled,
        "{} cancelled",
        cut.cancelled
    );
    // From then on timeouts cancel too: the queue never fills again.
    let mut sim = Simulation::new(scenario(vec![site("east", 1, 400)], 150.0)).unwrap();
    sim.schedule(secs(20), Action::SetCancelOnTimeout { cancel: true })
        .unwrap();
    sim.run_until(secs(50));
    assert!(sim.sites()[0].queued < 50, "{}", sim.sites()[0].queued);
    // And off again: abandoned work piles up once more.
    sim.inject(Action::SetCancelOnTimeout { cancel: false })
        .unwrap();
    sim.run();
    assert!(sim.sites()[0].queued > 300, "{}", sim.sites()[0].queued);
}

#[test]
fn stopping_health_checks_returns_ejected_sites() {
    // `west` fails everything it serves: its probes fail and the router
    // ejects it.
    let mut west = site("west", 8, 16);
    west.backends[0].fail_probability = 1.0;
    let mut c = scenario(vec![site("east", 8, 16), west], 300.0);
    c.router.health_check = Some(HealthCheckConfig {
        interval: SimDuration::from_secs(1),
        timeout: ms(200),
        fall: 2,
        rise: 2,
    });
    let mut sim = Simulation::new(c).unwrap();
    sim.run_until(secs(15));
    let west = &sim.sites()[1];
    assert!(!west.healthy && west.effective_weight == 0, "{west:?}");
    sim.inject(Action::StopHealthChecks).unwrap();
    let west = &sim.sites()[1];
    assert!(west.healthy && west.effective_weight > 0, "{west:?}");
    // No probe ejects it again.
    sim.run();
    let west = &sim.sites()[1];
    assert!(west.healthy && west.effective_weight > 0, "{west:?}");
}

#[test]
fn flushing_dns_moves_clients_off_a_drained_site() {
    // Answers cached for an hour: a drained site keeps its clients until
    // their caches are flushed.
    let mut c = scenario(vec![site("east", 8, 16), site("west", 8, 16)], 200.0);
    c.router.dns_ttl = SimDuration::from_secs(3600);
    c.clients[0].instances = Some(50);
    let admitted_west = |sim: &Simulation| -> u64 {
        sim.recorder()
            .site_series(1)
            .map(|s| s.admitted)
            .sum::<u64>()
    };
    let mut sim = Simulation::new(c).unwrap();
    sim.run_until(secs(5));
    sim.inject(Action::Drain {
        site: "west".into(),
        ramp: SimDuration::ZERO,
    })
    .unwrap();
    sim.run_until(secs(20));
    let a = admitted_west(&sim);
    sim.run_until(secs(30));
    let still = admitted_west(&sim) - a;
    assert!(still > 500, "cached answers still send to west: {still}");
    sim.inject(Action::FlushDns).unwrap();
    sim.run_until(secs(31));
    let b = admitted_west(&sim);
    sim.run_until(secs(50));
    assert_eq!(admitted_west(&sim), b, "after the flush nobody asks west");
}

#[test]
fn the_actions_read_from_a_profile() {
    let text = r#"
        [[timeline]]
        at = "1s"
        action = "reset-load-balancer"
        site = "east"
        [[timeline]]
        at = "2s"
        action = "set-cancel-on-timeout"
        cancel = true
        [[timeline]]
        at = "3s"
        action = "stop-health-checks"
        [[timeline]]
        at = "3s"
        action = "flush-dns"
    "#;
    #[derive(serde::Deserialize)]
    struct T {
        timeline: Vec<drainstorm::sim::TimedAction>,
    }
    let t: T = toml::from_str(text).unwrap();
    let actions: Vec<Action> = t.timeline.into_iter().map(|t| t.action).collect();
    assert_eq!(
        actions,
        [
            Action::ResetLoadBalancer {
                site: "east".into()
            },
            Action::SetCancelOnTimeout { cancel: true },
            Action::StopHealthChecks,
            Action::FlushDns,
        ]
    );
    let mut c = SimConfig::example();
    c.timeline = actions
        .into_iter()
        .enumerate()
        .map(|(i, action)| drainstorm::sim::TimedAction {
            at: secs(i as u64 + 1),
            action,
        })
        .collect();
    let mut sim = Simulation::new(c).unwrap();
    sim.run();
    assert!(sim.summary().successes > 0);
}
