//! Backend autoscaling at a site: backends join only after their boot lag,
//! leave only after the stabilisation window, and stay within [min, pool].

use drainstorm::sim::{
    Autoscaling, BackendGroup, CurvePoint, ServiceTime, SimConfig, Simulation, SiteConfig, Summary,
    Workload,
};
use drainstorm::time::{SimDuration, SimTime};
use proptest::prelude::*;

/// One site with a pool of 40 backends of 10 ms (100 requests/s each), 5
/// in service at first, under `rate` requests/s until `until_s` and a
/// tenth of it after; the autoscaler measures every 5 s and boots in 20 s.
fn scenario(rate: f64, until_s: u64, autoscaling: Option<Autoscaling>) -> SimConfig {
    let service = ServiceTime::Exponential {
        mean: SimDuration::from_millis(10),
    };
    let mut c = SimConfig::example();
    c.duration = SimDuration::from_secs(240);
    c.sites = vec![SiteConfig {
        autoscaling,
        ..SiteConfig::new(
            "only",
            vec![BackendGroup {
                queue: 50,
                ..BackendGroup::new(40, service)
            }],
        )
    }];
    let at = |s: u64| SimTime::from_millis(1000 * s);
    c.clients[0].workload = Workload::Open {
        rate,
        curve: vec![
            CurvePoint {
                at: at(until_s),
                factor: 1.0,
            },
            CurvePoint {
                at: at(until_s + 1),
                factor: 0.1,
            },
        ],
    };
    c
}

fn scaler() -> Autoscaling {
    let mut a = Autoscaling::new(5, 0.6);
    a.interval = SimDuration::from_secs(5);
    a.lag = SimDuration::from_secs(20);
    a.stabilization = SimDuration::from_secs(30);
    a
}

/// Runs `c`, sampling (backends in service, booting) every second.
fn trace(c: SimConfig) -> (Vec<(u32, u32)>, Summary) {
    let initial = c.sites[0].autoscaling.map_or(40, |a| a.initial);
    let mut sim = Simulation::new(c).unwrap();
    let mut samples = Vec::new();
    for t in 1..=240 {
        sim.run_until(SimTime::from_millis(1000 * t));
        let site = &sim.sites()[0];
        samples.push((site.in_service, site.booting));
    }
    sim.run();
    // The recorder's rows (sites.csv's `in_service`) say the same at each
    // interval's end: row i closes just before second i + 1's events (the
    // autoscaler's all fall on whole seconds), sample i just after them.
    let rows: Vec<u32> = sim
        .recorder()
        .site_series(0)
        .map(|x| x.in_service)
        .collect();
    let seen: Vec<u32> = samples.iter().map(|s| s.0).collect();
    assert_eq!(rows[0], initial);
    assert_eq!(rows[1..], seen[..seen.len() - 1]);
    (samples, sim.summary())
}

#[test]
fn backends_join_after_their_lag_and_cut_the_loss() {
    // 1500 requests/s against 5 × 100 in service: the first measurement
    // (5 s) wants ceil(5 × ~1 / 0.6) = 9, booting until 25 s.
    let (samples, scaled) = trace(scenario(1500.0, 120, Some(scaler())));
    assert_eq!(samples[0], (5, 0));
    assert_eq!(samples[23].0, 5, "joined before its 20 s boot: {samples:?}");
    assert!(samples[10].1 > 0, "nothing booting at 11 s: {samples:?}");
    assert!(samples[26].0 > 5, "nothing joined by 27 s: {samples:?}");
    // It gets to what the load needs: 1500 / (100 × 0.6) = 25 or more.
    let most = samples.iter().map(|s| s.0).max().unwrap();
    assert!((25..=40).contains(&most), "{most}");
    let mut fixed = scaler();
    fixed.interval = SimDuration::from_secs(10_000);
    let (_, unscaled) = trace(scenario(1500.0, 120, Some(fixed)));
    assert!(
        scaled.lost * 2.0 < unscaled.lost,
        "{} lost scaled, {} with 5 backends",
        scaled.lost,
        unscaled.lost
    );
}

#[test]
fn backends_leave_only_after_the_stabilisation_window() {
    // The load falls to a tenth at 101 s; the window is 30 s, so the want
    // measured at 100 s holds the backends until 130 s.
    let (samples, _) = trace(scenario(1500.0, 100, Some(scaler())));
    let at_peak = samples[99].0;
    assert!(at_peak >= 25, "{samples:?}");
    assert!(
        samples[100..129].iter().all(|s| s.0 == at_peak),
        "left inside the window: {samples:?}"
    );
    // By 140 s the measurement at 135 s has taken the surplus out, down
    // to what a tenth of the load wants but never under min (5).
    let after = samples[139].0;
    assert!(
        (5..at_peak).contains(&after),
        "{after} of {at_peak}: {samples:?}"
    );
}

#[test]
fn a_pool_smaller_than_initial_is_refused_by_key() {
    let mut a = scaler();
    a.initial = 41;
    let Err(e) = Simulation::new(scenario(100.0, 10, Some(a))) else {
        panic!("an initial count above the pool was accepted");
    };
    let e = e.to_string();
    assert!(e.contains("sites[0].autoscaling.initial"), "{e}");
    let mut a = scaler();
    a.target_utilisation = 1.5;
    let Err(e) = Simulation::new(scenario(100.0, 10, Some(a))) else {
        panic!("a target of 1.5 was accepted");
    };
    assert!(e.to_string().contains("target_utilisation"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(debug_assertions) { 3 } else { 12 }))]

    /// Whatever the load, the target and the timings, the backends in
    /// service stay within [min, pool], with those booting never taking
    /// them past the pool.
    #[test]
    fn in_service_stays_within_min_and_the_pool(
        rate in 50.0f64..5000.0,
        until in 10u64..200,
        initial in 1u32..40,
        min_share in 0.0f64..1.0,
        target in 0.1f64..1.0,
        interval in 1u64..30,
        lag in 0u64..60,
        window in 0u64..120,
    ) {
        let mut a = Autoscaling::new(initial, target);
        let min = ((f64::from(initial) * min_share) as u32).max(1);
        a.min = Some(min);
        a.interval = SimDuration::from_secs(interval);
        a.lag = SimDuration::from_secs(lag);
        a.stabilization = SimDuration::from_secs(window);
        let mut c = scenario(rate, until, Some(a));
        c.duration = SimDuration::from_secs(240);
        let (samples, _) = trace(c);
        for (in_service, booting) in samples {
            prop_assert!(in_service >= min && in_service <= 40, "{in_service}");
            prop_assert!(in_service + booting <= 40);
        }
    }
}

#[test]
fn initial_and_min_scale_with_the_pool() {
    use drainstorm::plan::{Capacity, scale_capacity};
    let mut a = scaler();
    a.min = Some(3);
    let c = scenario(1500.0, 100, Some(a));
    // A plan's capacity factor under 1 shrinks the pool below the initial
    // count unless the autoscaler shrinks with it.
    for (factor, pool, initial, min) in [(0.5, 20, 3, 2), (0.1, 4, 1, 1), (2.0, 80, 10, 6)] {
        let smaller = scale_capacity(&c, factor, Capacity::Backends);
        let site = &smaller.sites[0];
        assert_eq!(site.backend_count(), pool);
        let got = site.autoscaling.unwrap();
        assert_eq!((got.initial, got.min), (initial, Some(min)), "× {factor}");
        smaller.validate().unwrap();
        Simulation::new(smaller).unwrap();
    }
    // So does a profile run at another size.
    let big = c.scaled(3.0).unwrap().config;
    let got = big.sites[0].autoscaling.unwrap();
    assert_eq!(
        (big.sites[0].backend_count(), got.initial, got.min),
        (120, 15, Some(9))
    );
}
