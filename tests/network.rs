//! The network between clients and sites (a site's `rtt`): an attempt
//! reaches its site half a round trip after it is sent and its answer
//! comes back after the other half; clients' latencies and deadlines
//! include both, while the site's own counts see only the time the
//! attempt spends there.

use drainstorm::balancer::BalancerKind;
use drainstorm::retry::{Backoff, LimitsConfig, PolicyConfig};
use drainstorm::sim::{
    BackendGroup, CurvePoint, HealthCheckConfig, RetrySpec, RouterMode, ServiceTime, SimConfig,
    Simulation, SiteConfig, Summary, Workload,
};
use drainstorm::time::{SimDuration, SimTime};
use proptest::prelude::*;

fn ms(v: u64) -> SimDuration {
    SimDuration::from_millis(v)
}

/// A site per entry of `rtts`, of 20 backends serving 10 ms each
/// (always), that many milliseconds away, offered `rate` requests/s for
/// 15 s of a 20 s run (so every request has ended by its end) by a policy
/// of `attempts` attempts with no backoff and `timeout` ms per attempt.
fn net(rtts: &[u64], rate: f64, attempts: u32, timeout: Option<u64>) -> SimConfig {
    let mut c = SimConfig::example();
    c.duration = SimDuration::from_secs(20);
    c.router.health_check = None;
    c.router.mode = RouterMode::WeightedRandom;
    c.sites = rtts
        .iter()
        .enumerate()
        .map(|(i, &rtt)| SiteConfig {
            rtt: ms(rtt),
            ..SiteConfig::new(
                &format!("s{i}"),
                vec![BackendGroup::new(
                    20,
                    ServiceTime::Deterministic { value: ms(10) },
                )],
            )
        })
        .collect();
    c.clients[0].workload = Workload::Open {
        rate,
        curve: vec![
            CurvePoint {
                at: SimTime::ZERO,
                factor: 1.0,
            },
            CurvePoint {
                at: SimTime::from_secs(15),
                factor: 0.0,
            },
        ],
    };
    c.clients[0].retry = RetrySpec::Config(Box::new(PolicyConfig {
        attempt_timeout: timeout.map(ms),
        ..PolicyConfig::new(Backoff::Immediate, attempts)
    }));
    c
}

fn run(c: SimConfig) -> Summary {
    let mut sim = Simulation::new(c).unwrap();
    sim.run();
    sim.summary()
}

#[test]
fn a_round_trip_adds_to_every_latency_and_nothing_at_the_site() {
    // 100 requests/s on 20 slots of 10 ms: 5 % busy, almost no wait.
    let near = Simulation::new(net(&[0], 100.0, 1, None)).map(|mut s| {
        s.run();
        s
    });
    let far = Simulation::new(net(&[40], 100.0, 1, None)).map(|mut s| {
        s.run();
        s
    });
    let (near, far) = (near.unwrap(), far.unwrap());
    let (a, b) = (near.summary(), far.summary());
    assert_eq!(a.lost, 0.0);
    assert_eq!(b.lost, 0.0);
    // Every latency moves by the round trip, to the histogram's precision.
    for (x, y) in [(a.p50, b.p50), (a.p99, b.p99), (a.max, b.max)] {
        assert!((y - x - 0.040).abs() < 0.001, "{x} → {y}");
    }
    // The site holds an attempt only while it is there: the same time in
    // flight with or without the trip.
    let in_flight = |s: &Simulation| {
        s.recorder()
            .site_series(0)
            .map(|i| i.mean_in_flight)
            .sum::<f64>()
    };
    let (x, y) = (in_flight(&near), in_flight(&far));
    assert!((x - y).abs() < 0.05 * x, "{x} against {y}");
}

#[test]
fn a_deadline_counts_the_trip_both_ways() {
    // 10 ms of service: a 45 ms timeout is enough at 30 ms of round trip,
    // and never at 40.
    let ok = run(net(&[30], 50.0, 1, Some(45)));
    assert_eq!(ok.timeouts, 0);
    assert_eq!(ok.lost, 0.0);
    let late = run(net(&[40], 50.0, 1, Some(45)));
    assert_eq!(late.successes, 0);
    assert_eq!(late.timeouts, late.attempts);
    // The backends served every attempt, and no client heard: wasted.
    assert_eq!(late.wasted, late.attempts);
    // Timed out on the way out (before the site): served all the same.
    let lost_on_the_way = run(net(&[200], 50.0, 1, Some(45)));
    assert_eq!(lost_on_the_way.successes, 0);
    assert_eq!(lost_on_the_way.wasted, lost_on_the_way.attempts);
}

/// Attempts wasted and errors heard over a run of `c`.
fn wasted_and_errors(c: SimConfig) -> (u64, u64, u64) {
    let mut sim = Simulation::new(c).unwrap();
    sim.run();
    let errors = sim.recorder().series().iter().map(|i| i.errors).sum();
    let s = sim.summary();
    (s.attempts, s.wasted, errors)
}

#[test]
fn the_client_decides_what_it_hears_when_the_answer_arrives() {
    // Every backend answers with an error, 10 ms after the attempt
    // arrives. 100 ms away, an attempt reaches its site at 50 ms and its
    // error is back at 110: a 150 ms timeout hears it; an 80 ms timeout
    // gives up while the answer is on its way back, after the site
    // answered. The site cannot know: its backend's work is wasted, and
    // the error, which no client heard, is not counted as one.
    let failing = |timeout| {
        let mut c = net(&[100], 50.0, 1, Some(timeout));
        c.sites[0].backends[0].fail_probability = 1.0;
        c
    };
    let (attempts, wasted, errors) = wasted_and_errors(failing(150));
    assert!(attempts > 200, "{attempts}");
    assert_eq!((wasted, errors), (0, attempts));
    let (attempts, wasted, errors) = wasted_and_errors(failing(80));
    assert_eq!((wasted, errors), (attempts, 0));
    // A success no one hears is wasted the same way.
    let (attempts, wasted, _) = wasted_and_errors(net(&[100], 50.0, 1, Some(80)));
    assert_eq!(wasted, attempts);
    // Without a network an error is heard at once, and counted.
    let mut near = failing(80);
    near.sites[0].rtt = SimDuration::ZERO;
    let (attempts, wasted, errors) = wasted_and_errors(near);
    assert_eq!((wasted, errors), (0, attempts));
}

/// Attempts each site admitted over a run of `c`.
fn admitted_per_site(c: SimConfig) -> Vec<u64> {
    let mut sim = Simulation::new(c).unwrap();
    sim.run();
    (0..sim.sites().len())
        .map(|s| sim.recorder().site_series(s).map(|r| r.admitted).sum())
        .collect()
}

#[test]
fn a_routers_balancer_counts_what_its_clients_wait_on() {
    // Two sites of the same 20 slots of 10 ms, one near and one 200 ms
    // away, behind the router's least-connections balancer. The router is
    // on the clients' side: it counts an attempt from its send to its
    // answer, so one at the far site counts for 210 ms against 10 at the
    // near one, and the near site takes most of the load. Counted only
    // while at a backend, as without a network, the two would split it
    // evenly.
    let routed = |rtts: &[u64], balancer| {
        let mut c = net(rtts, 400.0, 1, None);
        c.router.mode = RouterMode::Balancer;
        c.router.balancer = balancer;
        admitted_per_site(c)
    };
    let near_far = routed(&[0, 200], BalancerKind::LeastConn);
    assert!(near_far[0] > 5 * near_far[1], "{near_far:?}");
    // Without a network the split is even; a balancer that does not count
    // splits evenly over a network too.
    let even = routed(&[0, 0], BalancerKind::LeastConn);
    let wrr = routed(&[0, 200], BalancerKind::SmoothWrr);
    for split in [even, wrr] {
        let ratio = split[0] as f64 / split[1] as f64;
        assert!((0.9..1.1).contains(&ratio), "{split:?}");
    }
}

/// `net`, with every attempt's job taking `service_ms` at a backend,
/// timeouts cancelling.
fn cancelling(rtt: u64, timeout: u64, service_ms: u64) -> Simulation {
    let mut c = net(&[rtt], 20.0, 1, Some(timeout));
    c.sites[0].backends[0].service = ServiceTime::Deterministic {
        value: ms(service_ms),
    };
    c.cancel_on_timeout = true;
    Simulation::new(c).unwrap()
}

#[test]
fn a_cancellation_travels_to_the_site() {
    // 200 ms away, a 45 ms timeout: the attempt reaches its site at
    // 100 ms and is served by 110; its cancellation, sent at 45 ms,
    // arrives at 145 — too late: the work is done, and wasted.
    let mut late = cancelling(200, 45, 10);
    late.run();
    let s = late.summary();
    assert!(s.attempts > 100, "{}", s.attempts);
    assert_eq!(s.wasted, s.attempts);
    assert_eq!(late.recorder().totals().completions, s.attempts);
    assert_eq!(late.recorder().totals().cancelled, 0);
    // 40 ms away, a 100 ms timeout, 500 ms of service: the attempt is at
    // its backend from 20 ms; the cancellation arrives at 120 and stops
    // it there. Nothing completes, nothing is wasted.
    let mut in_time = cancelling(40, 100, 500);
    in_time.run();
    let s = in_time.summary();
    assert_eq!(in_time.recorder().totals().completions, 0);
    assert_eq!(in_time.recorder().totals().cancelled, s.attempts);
    assert_eq!(s.wasted, 0);
    assert_eq!(s.timeouts, s.attempts);
    // The backend worked 100 ms of each attempt, from its arrival to its
    // cancellation's: 20 attempts a second over 20 slots.
    let mut probe = cancelling(40, 100, 500);
    probe.run_until(SimTime::from_secs(5));
    let busy: u32 = probe.sites().iter().map(|v| v.busy).sum();
    assert!(
        busy <= 6,
        "{busy} slots busy: the cancellations stop the work"
    );
    // Without a round trip the cancellation is at once, at the timeout.
    let mut near = cancelling(0, 100, 500);
    near.run();
    assert_eq!(near.recorder().totals().cancelled, near.summary().attempts);
}

#[test]
fn a_cancellation_finds_its_attempt_in_the_backlog() {
    // The site accepts 5 attempts a second and holds 100 in its backlog:
    // at 20 a second, attempts wait there for seconds, longer than their
    // 300 ms timeout. Their cancellations, 20 ms behind, drop them from
    // the backlog: most never reach a backend.
    let mut c = net(&[40], 20.0, 1, Some(300));
    c.sites[0].max_new_per_sec = Some(5.0);
    c.sites[0].accept_backlog = 100;
    c.cancel_on_timeout = true;
    let mut sim = Simulation::new(c).unwrap();
    sim.run();
    let s = sim.summary();
    let t = sim.recorder().totals();
    assert!(
        t.cancelled > s.attempts / 2,
        "{} of {}",
        t.cancelled,
        s.attempts
    );
    assert!(
        t.completions < s.attempts / 2,
        "{} of {}",
        t.completions,
        s.attempts
    );
    // Every attempt ended at the site: none is still held.
    assert!(sim.sites().iter().all(|v| v.in_flight == 0));
}

#[test]
fn each_site_has_its_own_distance() {
    // Two sites, one near and one 100 ms away, drawn at random: half the
    // requests take 10 ms, half 110 ms.
    let s = run(net(&[0, 100], 100.0, 1, None));
    assert_eq!(s.lost, 0.0);
    assert!(s.p50 < 0.012 || s.p50 > 0.108, "{}", s.p50);
    assert!((s.p99 - 0.110).abs() < 0.002, "{}", s.p99);
    assert!((s.mean_latency - 0.060).abs() < 0.005, "{}", s.mean_latency);
}

#[test]
fn a_round_trip_of_zero_changes_nothing() {
    // A zero round trip beside one that is not zero takes the network's
    // path; all zero is the direct path. Both give the same latencies.
    let direct = run(net(&[0, 0], 300.0, 3, Some(100)));
    let mut c = net(&[0, 0], 300.0, 3, Some(100));
    c.sites[1].rtt = SimDuration::from_nanos(0);
    assert_eq!(run(c), direct);
}

#[test]
fn health_probes_cross_the_network_too() {
    // Probes every second with a 300 ms timeout: a site 400 ms away never
    // answers one in time, and the router takes it out of rotation; at
    // 200 ms it stays in.
    let probed = |rtt: u64| {
        let mut c = net(&[0, rtt], 100.0, 1, None);
        c.router.health_check = Some(HealthCheckConfig::new(ms(1000), ms(300)));
        let mut sim = Simulation::new(c).unwrap();
        sim.run();
        let t = sim.recorder().totals().clone();
        let far = sim.sites()[1].healthy;
        let admitted = |s| -> f64 {
            sim.recorder()
                .site_series(s)
                .map(|i| i.admitted as f64)
                .sum()
        };
        (t.probes, t.probe_failures, far, admitted(1) / admitted(0))
    };
    let (probes, failures, healthy, share) = probed(400);
    // Twenty probes a site; every one of the far site's fails but the
    // last, still awaited at the end.
    assert_eq!(probes, 40);
    assert_eq!(failures, 19);
    assert!(!healthy);
    // Only what was sent before it fell (three failed probes) reached it:
    // a quarter of what the near site took (under a load that falls from
    // its peak at the start to nothing at 15 s).
    assert!(share < 0.3, "{share}");
    let (probes, failures, healthy, share) = probed(200);
    assert_eq!(failures, 0, "of {probes}");
    assert!(healthy);
    assert!(share > 0.8, "{share}");
}

/// [`net`] with one client instance whose `max_pending_requests` is
/// `pending`, `rate` requests/s of one attempt each (no timeout), and one
/// site `rtt` ms away (100 backends of `service_ms` each, no backlog).
fn pending_limited(rtt: u64, pending: u32, service_ms: u64, rate: f64) -> SimConfig {
    let mut c = net(&[rtt], rate, 1, None);
    c.sites[0].backends = vec![BackendGroup::new(
        100,
        ServiceTime::Deterministic {
            value: ms(service_ms),
        },
    )];
    c.clients[0].instances = Some(1);
    if let RetrySpec::Config(p) = &mut c.clients[0].retry {
        p.limits = LimitsConfig {
            max_pending_requests: Some(pending),
            ..LimitsConfig::default()
        };
    }
    c
}

#[test]
fn a_client_counts_an_attempt_pending_until_it_hears_its_site_took_it() {
    // Attempts to a site 200 ms away, which takes each at once, at a rate
    // falling from 1 000/s to 0 over 15 s (7 500 in all): each is pending
    // for a round trip. With room for 10, about 10 per round trip go
    // (50/s while the rate is above that) and the rest overflow.
    let far = run(pending_limited(200, 10, 10, 1000.0));
    let offered = far.offered as f64;
    assert!(far.overflows as f64 > 0.9 * offered, "{far:?}");
    let sent = (far.offered - far.overflows) as f64;
    // 15 s at 10 per 200 ms: 750.
    assert!((600.0..=900.0).contains(&sent), "{sent} of {offered}");
    // Without a network nothing waits in a backlog: nothing is pending.
    let near = run(pending_limited(0, 10, 10, 1000.0));
    assert_eq!(near.overflows, 0);
    assert_eq!(near.successes, near.offered);
    // Pending ends when the site's word comes back, not its answer: up to
    // 50 jobs/s of a second each, 10 ms away, are pending half an attempt
    // at a time at most on average, and rarely meet a limit of 5 (counted
    // until the answer, up to 50 would be pending, and most overflow).
    let long = run(pending_limited(10, 5, 1000, 50.0));
    assert!(long.overflows * 100 < long.offered, "{long:?}");
    assert_eq!(long.successes + long.overflows, long.offered);
}

#[test]
fn a_longer_trip_than_allowed_is_a_named_error() {
    let mut c = net(&[0], 10.0, 1, None);
    c.sites[0].rtt = SimDuration::from_secs(11);
    let err = Simulation::new(c).unwrap_err().to_string();
    assert!(err.contains("sites[0].rtt"), "{err}");
    assert!(err.contains("at most 10s"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// However far the sites, the timeouts, the retries, the backlogs, the
    /// pending limits and the health probes, every request ends once the clients stop, and
    /// each one ends once: as a success, a failure (an overflow is one) or
    /// a refusal.
    #[test]
    fn every_request_ends_once(
        // Up to seven sites at distances to the microsecond: up to 14
        // halves of a round trip, more than the engine keeps lanes for.
        rtts in prop::collection::vec(0u64..300_000, 1..8),
        rate in 20.0..3000.0f64,
        attempts in 1u32..=4,
        timeout in prop::option::of(20u64..400),
        cancel in any::<bool>(),
        accept in prop::option::of(50.0..400.0f64),
        backlog in 0u32..50,
        pending in prop::option::of(1u32..10),
        probes in any::<bool>(),
        seed in 0u64..1000,
    ) {
        let mut c = net(&vec![0; rtts.len()], rate, attempts, timeout);
        for (site, rtt) in c.sites.iter_mut().zip(rtts) {
            site.rtt = SimDuration::from_micros(rtt);
        }
        c.seed = seed;
        c.cancel_on_timeout = cancel;
        c.router.health_check = probes.then(|| HealthCheckConfig::new(ms(500), ms(200)));
        for s in &mut c.sites {
            s.max_new_per_sec = accept;
            s.accept_backlog = backlog;
        }
        if let RetrySpec::Config(p) = &mut c.clients[0].retry {
            p.limits = LimitsConfig { max_pending_requests: pending, ..LimitsConfig::default() };
        }
        c.clients[0].workload = Workload::Open {
            rate,
            curve: vec![
                CurvePoint { at: SimTime::ZERO, factor: 1.0 },
                CurvePoint { at: SimTime::from_secs(5), factor: 0.0 },
            ],
        };
        let mut sim = Simulation::new(c).unwrap();
        for t in (500..8_000).step_by(500) {
            sim.run_until(SimTime::from_millis(t));
            let (requests, _) = sim.client_load(0);
            prop_assert_eq!(requests, sim.requests_in_progress());
        }
        sim.run();
        prop_assert_eq!(sim.requests_in_progress(), 0);
        // Every attempt counted pending stopped being so.
        let mut instance = 0;
        while let Some(limits) = sim.client_limits(0, instance) {
            prop_assert_eq!(limits.pending(), 0, "instance {}", instance);
            instance += 1;
        }
        for site in sim.sites() {
            // A probe may be under way at the end.
            prop_assert!(site.in_flight <= u32::from(probes), "{}", site.in_flight);
        }
        let s = sim.summary();
        // Overflows are failures of their own kind.
        prop_assert_eq!(s.offered, s.successes + s.failures + s.refused);
        prop_assert!(s.overflows <= s.failures);
        let t = sim.recorder().totals();
        // Every job a backend finished was heard as a success or an error,
        // or wasted.
        prop_assert!(s.successes + s.wasted <= t.completions);
    }
}

#[test]
fn the_size_line_says_how_far_the_sites_are() {
    use drainstorm::profile::Profile;
    use drainstorm::report::Comparison;
    let line = |rtts: &[u64]| {
        let mut profile = Profile::bundled("ramped-drain").unwrap().unwrap();
        profile.scenario.duration = SimDuration::from_secs(5);
        profile.compare.balancers.truncate(1);
        profile.compare.policies.truncate(1);
        for (site, &rtt) in profile.scenario.sites.iter_mut().zip(rtts) {
            site.rtt = SimDuration::from_micros(rtt);
        }
        Comparison::run(profile).unwrap().size_line()
    };
    assert!(!line(&[0, 0, 0, 0]).contains("round trip"));
    let same = line(&[20_000, 20_000, 20_000, 20_000]);
    assert!(same.contains(", 20 ms round trip to every site."), "{same}");
    let apart = line(&[0, 1_500, 20_000, 70_000]);
    assert!(
        apart.contains(", 0–70 ms round trips to the sites."),
        "{apart}"
    );
}
