//! Envoy's adaptive concurrency filter at a site: under overload it keeps
//! the backends' queues short by refusing what is over the limit it
//! learns; where the limit is never reached it changes nothing; and every
//! attempt it lets on is accounted for exactly once.

use drainstorm::retry::{Backoff, PolicyConfig};
use drainstorm::sim::{
    AdaptiveConcurrency, BackendGroup, QueueDiscipline, RetrySpec, ServiceTime, SimConfig,
    Simulation, SiteConfig, Summary, Workload,
};
use drainstorm::time::{SimDuration, SimTime};
use proptest::prelude::*;

/// One site of ten backends of 20 ms (500 requests/s in all), each with
/// a queue of 40, offered `rate` requests/s for a minute.
fn site(rate: f64, filter: Option<AdaptiveConcurrency>) -> SimConfig {
    let service = ServiceTime::Exponential {
        mean: SimDuration::from_millis(20),
    };
    let mut c = SimConfig::example();
    c.duration = SimDuration::from_secs(60);
    c.router.health_check = None;
    c.sites = vec![SiteConfig {
        adaptive_concurrency: filter,
        ..SiteConfig::new(
            "only",
            vec![BackendGroup {
                queue: 40,
                ..BackendGroup::new(10, service)
            }],
        )
    }];
    c.clients[0].workload = Workload::open(rate);
    c
}

/// Envoy's defaults, with one change.
fn filter(change: impl FnOnce(&mut AdaptiveConcurrency)) -> AdaptiveConcurrency {
    let mut a = AdaptiveConcurrency::default();
    change(&mut a);
    a
}

fn run(c: SimConfig) -> (Summary, Simulation) {
    let mut sim = Simulation::new(c).unwrap();
    sim.run();
    (sim.summary(), sim)
}

#[test]
fn overload_is_refused_at_the_door_instead_of_queued() {
    // 800 requests/s against 500: without the filter every queue fills
    // and answers take most of a second.
    let (plain, _) = run(site(800.0, None));
    let (filtered, sim) = run(site(800.0, Some(AdaptiveConcurrency::default())));
    assert!(plain.p50 > 0.5, "{}", plain.p50);
    assert!(plain.queue_rejects > 0);
    assert!(filtered.p99 < 0.25, "p99 {} with the filter", filtered.p99);
    assert!(filtered.lb_rejects > 0);
    assert_eq!(filtered.queue_rejects, 0, "the limit keeps queues short");
    // It serves about what the backends can: within 15 % of the plain run.
    assert!(
        filtered.successes as f64 > 0.85 * plain.successes as f64,
        "{} served with the filter, {} without",
        filtered.successes,
        plain.successes
    );
    let limit = sim.sites()[0].concurrency_limit.unwrap();
    assert!((3..100).contains(&limit), "limit {limit}");
}

#[test]
fn the_limit_follows_the_backends_capacity() {
    // Twice the backends' speed, about twice the concurrency at the same
    // latency: the learned limit grows with it.
    let limit_at = |speed: f64| {
        let mut c = site(1600.0, Some(AdaptiveConcurrency::default()));
        c.sites[0].backends[0].speed = speed;
        let mut sim = Simulation::new(c).unwrap();
        let mut limits = Vec::new();
        for s in (10..60).step_by(5) {
            sim.run_until(SimTime::from_secs(s));
            limits.push(sim.sites()[0].concurrency_limit.unwrap());
        }
        limits.sort_unstable();
        limits[limits.len() / 2]
    };
    let (slow, fast) = (limit_at(1.0), limit_at(3.0));
    assert!(fast > slow, "median limit {fast} at 3× speed, {slow} at 1×");
}

#[test]
fn an_unreached_limit_changes_nothing() {
    let wide = filter(|a| a.min_concurrency = 1000);
    let (plain, _) = run(site(450.0, None));
    let (filtered, sim) = run(site(450.0, Some(wide)));
    assert_eq!(sim.sites()[0].concurrency_limit, Some(1000));
    assert_eq!(format!("{plain:?}"), format!("{filtered:?}"));
}

#[test]
fn a_fixed_min_rtt_skips_the_measurement_windows() {
    // The windows pin the limit to 3 while 50 answers come back: at a
    // load the backends carry, they are most of what the filter refuses.
    let fixed = filter(|a| a.fixed_value = Some(SimDuration::from_millis(14)));
    let (measured, _) = run(site(300.0, Some(AdaptiveConcurrency::default())));
    let (given, _) = run(site(300.0, Some(fixed)));
    assert!(
        given.lb_rejects * 2 < measured.lb_rejects,
        "{} refused with a fixed minRTT, {} measuring it",
        given.lb_rejects,
        measured.lb_rejects
    );
}

#[test]
fn bad_settings_are_refused_by_key() {
    let bad = filter(|a| a.max_concurrency_limit = 2);
    let Err(e) = Simulation::new(site(100.0, Some(bad))) else {
        panic!("a maximum under the minimum was accepted");
    };
    let text = e.to_string();
    assert!(
        text.contains("sites[0].adaptive_concurrency.max_concurrency_limit"),
        "{text}"
    );
    let bad = filter(|a| a.concurrency_update_interval = SimDuration::ZERO);
    let Err(e) = Simulation::new(site(100.0, Some(bad))) else {
        panic!("a zero interval was accepted");
    };
    assert!(
        e.to_string()
            .contains("sites[0].adaptive_concurrency.concurrency_update_interval"),
        "{e}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Every attempt the filter lets on is outstanding until it is
    /// answered or cancelled, once: at any moment the filter's count is
    /// the site's live jobs (no probes here), whatever the queue
    /// discipline, the backlog, or whether timeouts cancel.
    #[test]
    fn every_forwarded_attempt_ends_once(
        rate in 100.0..1500.0f64,
        codel in any::<bool>(),
        cancel in any::<bool>(),
        backlog in any::<bool>(),
        seed in 0u64..1000,
    ) {
        let mut c = site(rate, Some(filter(|a| a.interval = SimDuration::from_secs(5))));
        c.seed = seed;
        c.duration = SimDuration::from_secs(12);
        // Attempts of 60 ms at most, three of them: timeouts are common
        // (one service time in twenty is over 60 ms).
        c.clients[0].retry = RetrySpec::Config(Box::new(PolicyConfig {
            attempt_timeout: Some(SimDuration::from_millis(60)),
            ..PolicyConfig::new(Backoff::Immediate, 3)
        }));
        c.cancel_on_timeout = cancel;
        if codel {
            c.sites[0].backends[0].discipline = QueueDiscipline::Codel {
                target: SimDuration::from_millis(20),
                interval: SimDuration::from_millis(100),
                adaptive_lifo: true,
            };
        }
        if backlog {
            c.sites[0].max_new_per_sec = Some(600.0);
            c.sites[0].accept_backlog = 50;
        }
        let mut sim = Simulation::new(c).unwrap();
        for ms in (250..12_000).step_by(250) {
            sim.run_until(SimTime::from_millis(ms));
            let v = &sim.sites()[0];
            prop_assert_eq!(v.concurrency_outstanding, v.busy + v.queued, "at {} ms", ms);
            prop_assert!(v.concurrency_limit.unwrap() >= 3);
        }
        let t = sim.recorder().totals();
        prop_assert!(!cancel || t.cancelled > 0, "no attempt was cancelled");
    }
}
