//! Hedged requests (a policy's `hedging`, gRPC's hedging policy): a
//! hedge cuts the tail a slow backend makes, a failure sends the next
//! attempt at once, losers are cancelled when timeouts cancel, nothing is
//! held once a request ends, and a delay that never passes changes
//! nothing.

use drainstorm::balancer::BalancerKind;
use drainstorm::retry::{Backoff, BudgetConfig, HedgingConfig, PolicyConfig};
use drainstorm::sim::{
    Action, BackendGroup, RetrySpec, ServiceTime, SimConfig, Simulation, SiteConfig, Summary,
    TimedAction, Workload,
};
use drainstorm::time::{SimDuration, SimTime};
use proptest::prelude::*;

fn ms(v: u64) -> SimDuration {
    SimDuration::from_millis(v)
}

/// One site under smooth weighted round robin: eight backends of 20 ms
/// and two ten times slower (a gray failure), offered `rate` requests/s
/// for 40 s by a policy of `attempts` attempts, hedged every `delay` if
/// given.
fn gray(rate: f64, attempts: u32, delay: Option<u64>) -> SimConfig {
    let service = |mean| ServiceTime::Exponential { mean: ms(mean) };
    let mut c = SimConfig::example();
    c.duration = SimDuration::from_secs(40);
    c.router.health_check = None;
    c.sites = vec![SiteConfig {
        balancer: BalancerKind::SmoothWrr,
        ..SiteConfig::new(
            "only",
            vec![
                BackendGroup {
                    queue: 100,
                    ..BackendGroup::new(8, service(20))
                },
                BackendGroup {
                    queue: 100,
                    ..BackendGroup::new(2, service(200))
                },
            ],
        )
    }];
    c.clients[0].workload = Workload::open(rate);
    c.clients[0].retry = RetrySpec::Config(Box::new(PolicyConfig {
        hedging: delay.map(|d| HedgingConfig { delay: ms(d) }),
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
fn a_hedge_cuts_the_tail_of_a_slow_backend() {
    let plain = run(gray(30.0, 2, None));
    let hedged = run(gray(30.0, 2, Some(60)));
    // A fifth of the requests go to a 200 ms backend, 60 % busy: p99
    // near a second.
    assert!(plain.p99 > 0.5, "{}", plain.p99);
    assert!(
        hedged.p99 < plain.p99 / 3.0,
        "p99 {} hedged, {} not",
        hedged.p99,
        plain.p99
    );
    // Hedges are extra attempts, at most one per request here.
    assert!(hedged.amplification > 1.1 && hedged.amplification <= 2.0);
    assert_eq!(hedged.lost, 0.0);
}

#[test]
fn a_delay_that_never_passes_changes_nothing() {
    let plain = run(gray(100.0, 3, None));
    let never = run(gray(100.0, 3, Some(3_600_000)));
    assert_eq!(format!("{plain:?}"), format!("{never:?}"));
}

#[test]
fn a_delay_of_zero_sends_every_attempt_at_once() {
    let s = run(gray(30.0, 3, Some(0)));
    assert_eq!(s.lost, 0.0);
    assert_eq!(s.amplification, 3.0, "three attempts for every request");
}

#[test]
fn a_failure_sends_the_next_attempt_at_once() {
    // Half the answers are errors; three attempts, the next at once on a
    // failure: 1/8 of requests fail, as with three immediate retries.
    let mut c = gray(20.0, 3, Some(3_600_000));
    for g in &mut c.sites[0].backends {
        g.fail_probability = 0.5;
    }
    let s = run(c);
    assert!((0.10..0.15).contains(&s.lost), "{}", s.lost);
    assert!(
        s.amplification > 1.6 && s.amplification < 1.9,
        "{}",
        s.amplification
    );
}

#[test]
fn losers_are_cancelled_when_timeouts_cancel() {
    let mut kept = gray(30.0, 2, Some(60));
    kept.cancel_on_timeout = false;
    let mut cancelled = kept.clone();
    cancelled.cancel_on_timeout = true;
    let mut sim = Simulation::new(kept).unwrap();
    sim.run();
    let wasted = sim.summary().wasted;
    let mut sim = Simulation::new(cancelled).unwrap();
    sim.run();
    assert!(wasted > 0, "losers run on and are answered to no one");
    assert_eq!(sim.summary().wasted, 0);
    assert!(sim.recorder().totals().cancelled > 0);
}

#[test]
fn a_policy_change_leaves_hedges_under_way_to_finish() {
    // Hedging every 60 ms, then a plain policy at 5 s and hedging again at
    // 10 s: hedges under way at each change finish as they began.
    let mut c = gray(30.0, 3, Some(60));
    let plain = RetrySpec::Config(Box::new(PolicyConfig::new(Backoff::Immediate, 3)));
    let hedged = c.clients[0].retry.clone();
    for (at, retry) in [(5, plain), (10, hedged)] {
        c.timeline.push(TimedAction {
            at: SimTime::from_secs(at),
            action: Action::SetRetry {
                group: c.clients[0].name.clone(),
                retry,
            },
        });
    }
    let mut sim = Simulation::new(c).unwrap();
    sim.run();
    let s = sim.summary();
    assert!(s.lost < 0.01, "{}", s.lost);
    assert!(s.amplification > 1.0);
    let (requests, _) = sim.client_load(0);
    assert_eq!(requests, sim.requests_in_progress());
}

#[test]
fn hedging_refuses_what_it_cannot_count() {
    let mut c = gray(10.0, 2, Some(50));
    c.clients[0].retry = RetrySpec::Config(Box::new(PolicyConfig {
        hedging: Some(HedgingConfig { delay: ms(50) }),
        budget: Some(BudgetConfig::TokenBucket {
            max_tokens: 10.0,
            token_ratio: 0.1,
        }),
        ..PolicyConfig::new(Backoff::Immediate, 2)
    }));
    let Err(e) = Simulation::new(c) else {
        panic!("hedging with a budget was accepted");
    };
    assert!(e.to_string().contains("budget"), "{e}");
    let Err(e) = Simulation::new(gray(10.0, 6, Some(50))) else {
        panic!("6 hedged attempts were accepted");
    };
    assert!(e.to_string().contains("max_attempts"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// However the hedges, failures and timeouts fall, a request's legs
    /// never count as requests, a request holds at most its attempts, and
    /// once the clients stop every request and leg has ended.
    #[test]
    fn nothing_is_held_once_requests_end(
        rate in 5.0..150.0f64,
        attempts in 1u32..=5,
        delay in 0u64..200,
        fail in 0.0..0.6f64,
        timeout in prop::option::of(30u64..400),
        cancel in any::<bool>(),
        seed in 0u64..1000,
    ) {
        let mut c = gray(rate, attempts, Some(delay));
        c.seed = seed;
        c.duration = SimDuration::from_secs(40);
        c.cancel_on_timeout = cancel;
        for g in &mut c.sites[0].backends {
            g.fail_probability = fail;
        }
        if let RetrySpec::Config(p) = &mut c.clients[0].retry {
            p.attempt_timeout = timeout.map(ms);
        }
        // The load stops at 6 s; every queue (100 jobs of 200 ms at
        // most) has emptied long before 40 s.
        c.clients[0].workload = Workload::Open {
            rate,
            curve: vec![
                drainstorm::sim::CurvePoint { at: SimTime::ZERO, factor: 1.0 },
                drainstorm::sim::CurvePoint { at: SimTime::from_secs(6), factor: 0.0 },
            ],
        };
        let mut sim = Simulation::new(c).unwrap();
        for t in (500..10_000).step_by(500) {
            sim.run_until(SimTime::from_millis(t));
            let (requests, _) = sim.client_load(0);
            prop_assert_eq!(requests, sim.requests_in_progress());
        }
        sim.run();
        prop_assert_eq!(sim.requests_in_progress(), 0);
        let s = sim.summary();
        prop_assert!(s.amplification <= f64::from(attempts) + 1e-9);
        prop_assert_eq!(s.offered, s.successes + s.failures + s.refused + s.overflows);
    }
}
