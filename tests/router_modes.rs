//! The router's DNS-like modes: weighted random answers, and answers kept
//! for a TTL.

use drainstorm::retry::{SimDuration, SimTime};
use drainstorm::sim::{Action, RouterMode, SimConfig, SimError, Simulation, TimedAction, Workload};

/// `example()`'s two sites at weights 1 and 3, 400 requests/s, no limits
/// that would reject anything.
fn config(mode: RouterMode, ttl_secs: u64, seconds: u64) -> SimConfig {
    let mut c = SimConfig::example();
    c.duration = SimDuration::from_secs(seconds);
    c.sites[0].weight = Some(1);
    c.sites[1].weight = Some(3);
    for s in &mut c.sites {
        s.max_in_flight = None;
        s.backends[0].count = 16;
    }
    c.clients[0].workload = Workload::Open {
        rate: 400.0,
        curve: Vec::new(),
    };
    c.router.mode = mode;
    c.router.dns_ttl = SimDuration::from_secs(ttl_secs);
    c
}

/// Attempts each site admitted, per interval.
fn admitted(sim: &Simulation, site: usize) -> Vec<u64> {
    sim.recorder()
        .site_series(site)
        .map(|r| r.admitted)
        .collect()
}

fn run(c: SimConfig) -> Simulation {
    let mut sim = Simulation::new(c).unwrap();
    sim.run();
    sim
}

/// Variance ÷ mean of per-second counts: 1 for Poisson arrivals.
fn dispersion(xs: &[u64]) -> f64 {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<u64>() as f64 / n;
    let var = xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0);
    var / mean
}

#[test]
fn weighted_random_shares_follow_the_site_weights() {
    let sim = run(config(RouterMode::WeightedRandom, 0, 200));
    let east: u64 = admitted(&sim, 0).iter().sum();
    let west: u64 = admitted(&sim, 1).iter().sum();
    let share = east as f64 / (east + west) as f64;
    assert!((share - 0.25).abs() < 0.01, "east's share {share}");
}

#[test]
fn weighted_random_arrivals_are_as_bursty_as_the_clients() {
    // A Poisson stream split at random stays Poisson at each site
    // (dispersion 1); split by a smooth rotation it is smoother than the
    // clients that send it.
    let random = run(config(RouterMode::WeightedRandom, 0, 300));
    let d = dispersion(&admitted(&random, 0));
    assert!((0.75..1.3).contains(&d), "weighted-random: {d}");
    let smooth = run(config(RouterMode::Balancer, 0, 300));
    let d = dispersion(&admitted(&smooth, 0));
    assert!(d < 0.6, "smooth-wrr: {d}");
}

#[test]
fn sticky_answers_last_one_ttl() {
    // One client instance: every request shares one cached answer, so each
    // 10 s TTL sends all traffic to one site; at most one switch per TTL.
    let mut c = config(RouterMode::Sticky, 10, 200);
    c.clients[0].instances = Some(1);
    let sim = run(c);
    let (east, west) = (admitted(&sim, 0), admitted(&sim, 1));
    let mixed = east
        .iter()
        .zip(&west)
        .filter(|(e, w)| **e > 0 && **w > 0)
        .count();
    assert!(mixed <= 20, "{mixed} seconds saw both sites");
    let switches = east
        .iter()
        .zip(&west)
        .map(|(e, _)| *e > 0)
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] != w[1])
        .count();
    assert!(switches <= 40, "{switches}");
    // And the draws still follow the weights, over many TTLs.
    let share = east.iter().sum::<u64>() as f64
        / (east.iter().sum::<u64>() + west.iter().sum::<u64>()) as f64;
    assert!((0.1..0.4).contains(&share), "{share}");
}

#[test]
fn sticky_closed_loop_clients_keep_their_own_site() {
    // One client with a TTL longer than the run: it never changes site.
    let mut c = config(RouterMode::Sticky, 1000, 60);
    c.clients[0].workload = Workload::Closed {
        clients: 1,
        think: SimDuration::from_millis(10),
    };
    let sim = run(c);
    let (east, west): (u64, u64) = (
        admitted(&sim, 0).iter().sum(),
        admitted(&sim, 1).iter().sum(),
    );
    assert!(east + west > 1000);
    assert!(east == 0 || west == 0, "east {east}, west {west}");
}

#[test]
fn a_sticky_answer_for_a_drained_site_is_dropped() {
    let mut c = config(RouterMode::Sticky, 1000, 60);
    c.clients[0].instances = Some(1);
    let probe = run(c.clone());
    let chosen = if admitted(&probe, 0).iter().sum::<u64>() > 0 {
        "east"
    } else {
        "west"
    };
    c.timeline.push(TimedAction {
        at: SimTime(20_000_000_000),
        action: Action::Drain {
            site: chosen.into(),
            ramp: SimDuration::ZERO,
        },
    });
    let sim = run(c);
    let s = if chosen == "east" { 0 } else { 1 };
    let after: u64 = admitted(&sim, s)[21..].iter().sum();
    assert_eq!(after, 0, "the drained site kept traffic");
    assert_eq!(
        sim.recorder()
            .series()
            .iter()
            .map(|r| r.unroutable)
            .sum::<u64>(),
        0
    );
    assert!(sim.summary().lost < 0.001);
}

#[test]
fn the_modes_are_deterministic() {
    for mode in [RouterMode::WeightedRandom, RouterMode::Sticky] {
        let ttl = if mode == RouterMode::Sticky { 5 } else { 0 };
        let a = run(config(mode, ttl, 30));
        let b = run(config(mode, ttl, 30));
        assert_eq!(a.recorder().series(), b.recorder().series(), "{mode:?}");
    }
}

#[test]
fn a_ttl_must_fit_the_mode() {
    let err = |c: SimConfig| match Simulation::new(c) {
        Err(SimError::Invalid { path, .. }) => path,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        err(config(RouterMode::WeightedRandom, 5, 10)),
        "router.dns_ttl"
    );
    assert_eq!(err(config(RouterMode::Sticky, 0, 10)), "router.dns_ttl");
}

/// East's attempts admitted per second when it is drained at once at
/// 20 s and the router's weights take `propagation` seconds to reach the
/// clients' answers; and the router's own weight for it in each second.
fn drained_east(mode: RouterMode, propagation: u64) -> (Vec<u64>, Vec<u32>) {
    let mut c = config(mode, 0, 40);
    c.router.propagation = SimDuration::from_secs(propagation);
    c.timeline.push(TimedAction {
        at: SimTime::from_secs(20),
        action: Action::Drain {
            site: "east".into(),
            ramp: SimDuration::ZERO,
        },
    });
    let sim = run(c);
    let weight = sim.recorder().site_series(0).map(|r| r.weight).collect();
    (admitted(&sim, 0), weight)
}

#[test]
fn a_drain_reaches_the_answers_a_propagation_later() {
    for mode in [
        RouterMode::Balancer,
        RouterMode::WeightedRandom,
        RouterMode::ZoneAware,
    ] {
        let (at_once, _) = drained_east(mode, 0);
        assert!(at_once[19] > 50, "{mode:?}: {at_once:?}");
        assert_eq!(at_once[20..].iter().sum::<u64>(), 0, "{mode:?}");
        let (later, weight) = drained_east(mode, 5);
        // The router drained east at 20 s and says so at once; its
        // clients kept sending there for 5 s more.
        assert!(weight[..20].iter().all(|&w| w > 0), "{mode:?}: {weight:?}");
        assert!(weight[20..].iter().all(|&w| w == 0), "{mode:?}: {weight:?}");
        assert!(later[20..25].iter().all(|&n| n > 50), "{mode:?}: {later:?}");
        assert_eq!(later[25..].iter().sum::<u64>(), 0, "{mode:?}: {later:?}");
        assert_eq!(later[..20], at_once[..20], "{mode:?}: before the drain");
    }
}

#[test]
fn a_sticky_answer_is_dropped_when_the_drain_reaches_it() {
    let mut c = config(RouterMode::Sticky, 1000, 40);
    c.clients[0].instances = Some(1);
    c.router.propagation = SimDuration::from_secs(5);
    let probe = run(c.clone());
    let s = usize::from(admitted(&probe, 0).iter().sum::<u64>() == 0);
    c.timeline.push(TimedAction {
        at: SimTime::from_secs(20),
        action: Action::Drain {
            site: ["east", "west"][s].into(),
            ramp: SimDuration::ZERO,
        },
    });
    let sim = run(c);
    let chosen = admitted(&sim, s);
    assert!(chosen[20..25].iter().all(|&n| n > 300), "{chosen:?}");
    assert_eq!(chosen[25..].iter().sum::<u64>(), 0, "{chosen:?}");
    assert!(admitted(&sim, 1 - s)[25..].iter().all(|&n| n > 300));
}

#[test]
fn a_propagation_is_at_most_an_hour() {
    let mut c = config(RouterMode::WeightedRandom, 0, 10);
    c.router.propagation = SimDuration::from_secs(3601);
    match Simulation::new(c.clone()) {
        Err(SimError::Invalid { path, allowed, .. }) => {
            assert_eq!(path, "router.propagation");
            assert!(allowed.contains("in [0s, 1h]"), "{allowed}");
        }
        other => panic!("{other:?}"),
    }
    c.router.propagation = SimDuration::from_secs(3600);
    assert!(Simulation::new(c).is_ok());
}
