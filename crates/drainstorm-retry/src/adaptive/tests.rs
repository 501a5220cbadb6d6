//! The adaptive limits against Netflix's formulas and defaults.

use super::*;

fn ms(n: u64) -> SimDuration {
    SimDuration::from_millis(n)
}

#[test]
fn log10_root_is_netflix_table() {
    assert_eq!(log10_root(0), 1.0);
    assert_eq!(log10_root(99), 1.0);
    assert_eq!(log10_root(100), 2.0);
    assert_eq!(log10_root(999), 2.0);
    assert_eq!(log10_root(1000), 3.0);
}

#[test]
fn acquire_stops_at_the_limit() {
    let mut l = AdaptiveLimiter::new(AdaptiveLimit::aimd(), 1);
    let held: Vec<u32> = (0..25).filter_map(|_| l.try_acquire()).collect();
    assert_eq!(held, (1..=20).collect::<Vec<_>>());
    l.ignore();
    assert_eq!(l.try_acquire(), Some(20));
}

#[test]
fn vegas_grows_without_queueing_and_shrinks_with_it() {
    let mut l = AdaptiveLimiter::new(AdaptiveLimit::vegas(), 3);
    // The first sample sets rtt_noload; later equal ones see no queue.
    for _ in 0..5 {
        let at = l.try_acquire().unwrap();
        l.complete(ms(10), at.max(l.limit()), false);
    }
    // 20 + 4 × 6 (log10 20 rounds up to 1)
    assert_eq!(l.limit(), 44);
    // Round trips 4× the no-load one: queue = 0.75 × limit > 6 → −1.
    let at = l.try_acquire().unwrap();
    l.complete(ms(40), at.max(l.limit()), false);
    assert_eq!(l.limit(), 43);
    // A drop takes log10 off whatever the queue.
    let at = l.try_acquire().unwrap();
    l.complete(ms(10), at.max(l.limit()), true);
    assert_eq!(l.limit(), 42);
}

#[test]
fn vegas_probes_the_no_load_rtt() {
    let v = VegasLimit {
        probe_multiplier: 1,
        ..VegasLimit::default()
    };
    let mut l = AdaptiveLimiter::new(AdaptiveLimit::Vegas(v), 9);
    l.complete_fresh(ms(10));
    // Within 20 samples (multiplier 1 × limit 20 × jitter < 1) a probe
    // takes the then-current round trip as the new no-load one.
    for _ in 0..20 {
        l.complete_fresh(ms(50));
    }
    assert_eq!(l.rtt_noload, ms(50).as_nanos());
}

impl AdaptiveLimiter {
    /// One attempt with the limit's worth in flight.
    fn complete_fresh(&mut self, rtt: SimDuration) {
        let at = self.try_acquire().unwrap();
        self.complete(rtt, at.max(self.limit()), false);
    }
}

#[test]
fn gradient2_falls_when_round_trips_grow_and_holds_when_idle() {
    let g = Gradient2Limit {
        initial_limit: 100,
        min_limit: 10,
        ..Gradient2Limit::default()
    };
    let mut l = AdaptiveLimiter::new(AdaptiveLimit::Gradient2(g), 0);
    for _ in 0..50 {
        l.complete_fresh(ms(10));
    }
    // No queueing: gradient 1, so the limit grows by queue_size × smoothing.
    let grown = l.limit();
    assert!(grown > 100, "{grown}");
    for _ in 0..50 {
        l.complete_fresh(ms(100));
    }
    assert!(l.limit() < grown / 2, "{} vs {grown}", l.limit());
    // App-limited: one in flight out of the limit changes nothing.
    let before = l.limit;
    let at = l.try_acquire().unwrap();
    l.complete(ms(1000), at, false);
    assert_eq!(l.limit, before);
}

#[test]
fn gradient2_long_average_is_netflix_exp_avg() {
    let mut l = AdaptiveLimiter::new(AdaptiveLimit::gradient2(), 0);
    for i in 1..=10 {
        l.long_average(600, f64::from(i));
    }
    assert_eq!(l.long_rtt, 5.5);
    let f = 2.0 / 601.0;
    assert_eq!(l.long_average(600, 100.0), 5.5 * (1.0 - f) + 100.0 * f);
}

#[test]
fn aimd_backs_off_on_drops_and_slow_answers() {
    let a = AimdLimit {
        min_limit: 1,
        ..AimdLimit::default()
    };
    let mut l = AdaptiveLimiter::new(AdaptiveLimit::Aimd(a), 0);
    l.complete_fresh(ms(10));
    assert_eq!(l.limit(), 21);
    let at = l.try_acquire().unwrap();
    l.complete(ms(10), at, true);
    assert_eq!(l.limit(), 18); // ⌊21 × 0.9⌋
    l.complete_fresh(ms(6000));
    assert_eq!(l.limit(), 16);
}

#[test]
fn validate_names_the_key() {
    let bad = [
        (
            AdaptiveLimit::Gradient2(Gradient2Limit {
                min_limit: 50,
                ..Gradient2Limit::default()
            }),
            "limits.adaptive.initial_limit",
        ),
        (
            AdaptiveLimit::Aimd(AimdLimit {
                backoff_ratio: 1.0,
                ..AimdLimit::default()
            }),
            "limits.adaptive.backoff_ratio",
        ),
        (
            AdaptiveLimit::Vegas(VegasLimit {
                smoothing: 0.0,
                ..VegasLimit::default()
            }),
            "limits.adaptive.smoothing",
        ),
        (
            AdaptiveLimit::Gradient2(Gradient2Limit {
                max_limit: 10,
                ..Gradient2Limit::default()
            }),
            "limits.adaptive.max_limit",
        ),
    ];
    for (config, name) in bad {
        assert_eq!(config.validate().unwrap_err().name, name, "{config:?}");
    }
    for ok in [
        AdaptiveLimit::vegas(),
        AdaptiveLimit::gradient2(),
        AdaptiveLimit::aimd(),
    ] {
        ok.validate().unwrap();
    }
}

#[test]
fn a_policy_describes_its_adaptive_limit() {
    let mut p = crate::PolicyConfig::new(crate::Backoff::Immediate, 2);
    p.limits.adaptive = Some(AdaptiveLimit::vegas());
    let text = p.to_string();
    assert!(
        text.contains("an adaptive Vegas limit on attempts in flight (from 20, up to 1000,"),
        "{text}"
    );
}
