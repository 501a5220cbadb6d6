use super::*;

const MS: u64 = 1_000_000;

/// A controller whose first minRTT window closed with a minRTT of `rtt`,
/// and the time it closed.
fn measured(params: ConcurrencyParams, rtt: u64) -> (GradientController, u64) {
    let mut c = GradientController::new(params, 0, 1).unwrap();
    let mut t = 0;
    for _ in 0..params.request_count {
        assert!(c.try_forward());
        c.record(t, t + rtt);
        t += rtt;
    }
    assert!(!c.in_min_rtt_window());
    assert_eq!(c.min_rtt(), Some(rtt));
    (c, t)
}

/// One update interval whose answers all took `rtt`, ending with the
/// update: returns the new limit.
fn interval(c: &mut GradientController, t: &mut u64, rtt: u64, answers: u32) -> u32 {
    let due = c.next_deadline().unwrap();
    for _ in 0..answers {
        if c.try_forward() {
            c.record(due - rtt, due);
        }
    }
    *t = due;
    c.advance(due);
    c.limit()
}

#[test]
fn the_gradient_follows_envoys_formula() {
    let p = ConcurrencyParams::default();
    let (mut c, mut t) = measured(p, 100 * MS);
    assert_eq!(c.limit(), 3, "the window restores the limit it deferred");
    // minRTT × 1.25 / 125 ms = 1: 3 + √3 = 4.73 → 4.
    assert_eq!(interval(&mut c, &mut t, 125 * MS, 3), 4);
    // Gradient 2 (clamped from 2.5): 8 + √8 = 10.8 → 10.
    assert_eq!(interval(&mut c, &mut t, 50 * MS, 4), 10);
    // Gradient 0.5 (clamped from 0.125): 5 + √5 = 7.2 → 7.
    assert_eq!(interval(&mut c, &mut t, 1000 * MS, 10), 7);
    assert_eq!(c.sample_rtt(), Some(1000 * MS));
    // An interval without answers leaves the limit alone.
    assert_eq!(interval(&mut c, &mut t, 1000 * MS, 0), 7);
}

#[test]
fn the_limit_stays_within_its_bounds() {
    let p = ConcurrencyParams {
        max_concurrency_limit: 20,
        ..ConcurrencyParams::default()
    };
    let (mut c, mut t) = measured(p, 10 * MS);
    for _ in 0..10 {
        interval(&mut c, &mut t, MS, 30);
    }
    assert_eq!(c.limit(), 20);
    for _ in 0..6 {
        interval(&mut c, &mut t, 1000 * MS, 30);
    }
    assert_eq!(c.limit(), 3, "never under min_concurrency");
}

#[test]
fn the_percentile_is_the_nearest_rank() {
    let p = ConcurrencyParams {
        sample_aggregate_percentile: 90.0,
        request_count: 10,
        ..ConcurrencyParams::default()
    };
    let mut c = GradientController::new(p, 0, 1).unwrap();
    c.outstanding = 10;
    for ms in [7u64, 1, 9, 3, 10, 2, 8, 4, 6, 5] {
        c.record(0, ms * MS);
    }
    assert_eq!(c.min_rtt(), Some(9 * MS), "the 9th of 10 at p90");
}

#[test]
fn a_full_limit_blocks_and_answers_free_places() {
    let (mut c, _) = measured(ConcurrencyParams::default(), 10 * MS);
    assert_eq!(c.limit(), 3);
    assert!(c.try_forward() && c.try_forward() && c.try_forward());
    assert!(!c.try_forward());
    assert_eq!(c.blocked(), 1);
    c.cancel();
    assert_eq!(c.outstanding(), 2);
    assert!(c.try_forward());
}

#[test]
fn windows_recur_with_jitter_and_pin_the_limit() {
    let p = ConcurrencyParams::default();
    let (mut c, mut t) = measured(p, 10 * MS);
    let closed = t;
    let window = c.window_at.unwrap();
    let (lo, hi) = (
        closed + p.min_rtt_interval_ns,
        closed + p.min_rtt_interval_ns * 115 / 100,
    );
    assert!((lo..hi).contains(&window), "{window} not in {lo}..{hi}");
    // Grow the limit, then reach the window.
    while c.next_deadline().unwrap() < window {
        interval(&mut c, &mut t, 5 * MS, 8);
    }
    let grown = c.limit();
    assert!(grown > 3);
    c.advance(window);
    assert!(c.in_min_rtt_window());
    assert_eq!(c.limit(), 3);
    // The update timer still fires in the window, and is not re-armed.
    let update = c.next_deadline().unwrap();
    c.advance(update);
    assert_eq!(c.limit(), 3);
    assert_eq!(c.next_deadline(), None, "no timer while the window waits");
    // Answers to requests sent before the window are not its samples.
    c.outstanding = 110;
    for _ in 0..60 {
        c.record(window - 1, window + 50 * MS);
    }
    assert!(c.in_min_rtt_window());
    for i in 0..p.request_count {
        c.record(window, window + 20 * MS + u64::from(i));
    }
    assert!(!c.in_min_rtt_window());
    assert_eq!(c.limit(), grown, "the deferred limit is back");
    assert_eq!(c.min_rtt(), Some(20 * MS + 24));
    // Jitter comes from the seed: another seed, another start.
    let mut other = GradientController::new(p, 0, 2).unwrap();
    other.outstanding = 50;
    for _ in 0..50 {
        other.record(0, 10 * MS);
    }
    let mut again = GradientController::new(p, 0, 1).unwrap();
    again.outstanding = 50;
    for _ in 0..50 {
        again.record(0, 10 * MS);
    }
    let mut first = GradientController::new(p, 0, 1).unwrap();
    first.outstanding = 50;
    for _ in 0..50 {
        first.record(0, 10 * MS);
    }
    assert_eq!(first.window_at, again.window_at);
    assert_ne!(first.window_at, other.window_at);
}

#[test]
fn five_updates_at_the_minimum_reopen_the_window() {
    let p = ConcurrencyParams::default();
    let (mut c, mut t) = measured(p, 10 * MS);
    for k in 1..=4 {
        interval(&mut c, &mut t, 500 * MS, 3);
        assert_eq!(c.limit(), 3);
        assert!(!c.in_min_rtt_window(), "after {k} updates");
    }
    interval(&mut c, &mut t, 500 * MS, 3);
    assert!(c.in_min_rtt_window(), "the fifth update at the minimum");
}

#[test]
fn a_fixed_min_rtt_never_opens_a_window() {
    let p = ConcurrencyParams {
        fixed_min_rtt_ns: Some(10 * MS),
        ..ConcurrencyParams::default()
    };
    let mut c = GradientController::new(p, 10_000 * MS, 1).unwrap();
    assert!(!c.in_min_rtt_window());
    let mut t = 0;
    for _ in 0..20 {
        interval(&mut c, &mut t, 1000 * MS, 3);
        assert!(!c.in_min_rtt_window());
    }
    assert_eq!(c.window_at, None);
    interval(&mut c, &mut t, MS, 3);
    assert_eq!(c.limit(), 8, "3 × 2 + √6");
}

#[test]
fn bad_parameters_are_named() {
    let cases: [(&str, ConcurrencyParams); 8] = [
        (
            "sample_aggregate_percentile",
            ConcurrencyParams {
                sample_aggregate_percentile: 0.0,
                ..Default::default()
            },
        ),
        (
            "min_concurrency",
            ConcurrencyParams {
                min_concurrency: 0,
                ..Default::default()
            },
        ),
        (
            "max_concurrency_limit",
            ConcurrencyParams {
                max_concurrency_limit: 2,
                ..Default::default()
            },
        ),
        (
            "concurrency_update_interval",
            ConcurrencyParams {
                concurrency_update_interval_ns: 0,
                ..Default::default()
            },
        ),
        (
            "interval",
            ConcurrencyParams {
                min_rtt_interval_ns: 0,
                ..Default::default()
            },
        ),
        (
            "request_count",
            ConcurrencyParams {
                request_count: 0,
                ..Default::default()
            },
        ),
        (
            "jitter",
            ConcurrencyParams {
                jitter_percent: 101.0,
                ..Default::default()
            },
        ),
        (
            "buffer",
            ConcurrencyParams {
                buffer_percent: f64::NAN,
                ..Default::default()
            },
        ),
    ];
    for (name, p) in cases {
        match p.check() {
            Err(BalancerError::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{name}: {other:?}"),
        }
    }
    let fixed = ConcurrencyParams {
        min_rtt_interval_ns: 0,
        fixed_min_rtt_ns: Some(MS),
        ..Default::default()
    };
    assert!(fixed.check().is_ok(), "a fixed minRTT needs no interval");
}
