//! Invariants of the retry models (proptest), statistical checks of the
//! jitter formulas, the presets' documented defaults, and bad input.

use drainstorm::retry::{
    Backoff, BreakerConfig, BreakerState, BreakerWindow, Budget, BudgetConfig, CircuitBreaker,
    Decision, GiveUp, Jitter, Outcome, Policy, PolicyConfig, Pushback, RatioBudget,
    RetryConfigError, RetryPolicy, RetryQuota, SimDuration, SimTime, ThrottleConfig, TokenBucket,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

fn rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn delays_stay_within_their_formula(
        base in 1u64..1_000_000_000, mult in 1.0f64..10.0, cap_factor in 1u64..1000,
        jitter in jitter(), seed: u64, attempts in prop::collection::vec(0u32..2_000_000, 1..40)
    ) {
        let cap = base.saturating_mul(cap_factor);
        let b = Backoff::exponential(SimDuration(base), mult, SimDuration(cap), jitter).unwrap();
        let mut r = rng(seed);
        let mut prev = SimDuration::ZERO;
        for n in attempts {
            let v = b.ceiling(n).0;
            prop_assert!(v <= cap);
            let d = b.delay(n, prev, &mut r).0;
            prop_assert!(d <= cap);
            match jitter {
                Jitter::None => prop_assert_eq!(d, v),
                Jitter::Full => prop_assert!(d <= v),
                Jitter::Equal => prop_assert!(d >= v / 2 && d <= v),
                Jitter::Decorrelated => {
                    let p = prev.0.max(base);
                    prop_assert!(d >= base.min(cap) && d <= cap.min(p.saturating_mul(3)));
                }
            }
            prev = SimDuration(d);
        }
    }

    #[test]
    fn unjittered_delays_grow_to_the_cap(base in 1u64..1_000_000, mult in 1.01f64..4.0, cap_factor in 1u64..10_000) {
        let cap = base * cap_factor;
        let b = Backoff::exponential(SimDuration(base), mult, SimDuration(cap), Jitter::None).unwrap();
        let mut last = 0;
        for n in 0..2000 {
            let v = b.ceiling(n).0;
            prop_assert!(v >= last);
            last = v;
        }
        prop_assert_eq!(last, cap);
        prop_assert_eq!(b.ceiling(1_000_000).0, cap);
        prop_assert_eq!(b.ceiling(u32::MAX).0, cap);
    }

    #[test]
    fn attempts_and_deadline_are_respected(
        max_attempts in 1u32..10, deadline_ms in 1u64..5000, seed: u64,
        outcomes in prop::collection::vec(prop_oneof![Just(0u8), Just(1), Just(2)], 1..30)
    ) {
        let ms = SimDuration::from_millis;
        let mut config = PolicyConfig::new(Backoff::exponential(ms(10), 2.0, ms(1000), Jitter::Full).unwrap(), max_attempts);
        config.deadline = Some(ms(deadline_ms));
        let mut policy = Policy::new(config).unwrap();
        let mut r = rng(seed);
        let mut now = SimTime::ZERO;
        let mut req = policy.begin(now);
        let mut sent = 1;
        for o in outcomes {
            let outcome = match o { 0 => Outcome::Timeout, 1 => Outcome::Failure(Pushback::None), _ => Outcome::Success };
            match policy.on_outcome(now, &mut req, outcome, &mut r) {
                Decision::Retry(d) => {
                    now = now + d;
                    sent += 1;
                    prop_assert!(now < req.started + ms(deadline_ms), "retry starts past the deadline");
                }
                Decision::Done => { prop_assert_eq!(outcome, Outcome::Success); break }
                Decision::GiveUp(_) => break,
            }
        }
        prop_assert!(sent <= max_attempts);
    }

    #[test]
    fn token_bucket_stays_in_range(max in 1.0f64..1000.0, ratio in 0.001f64..1.0, events in prop::collection::vec(0u8..3, 0..500)) {
        let mut b = Budget::TokenBucket(TokenBucket::new(max, ratio).unwrap());
        for e in events {
            match e {
                0 => b.on_outcome(true, 0),
                1 => b.on_outcome(false, 0),
                _ => {
                    let allowed = b.try_retry(SimTime::ZERO, false).is_some();
                    let Budget::TokenBucket(t) = &b else { unreachable!() };
                    prop_assert_eq!(allowed, t.tokens() > max / 2.0);
                }
            }
            let Budget::TokenBucket(t) = &b else { unreachable!() };
            prop_assert!(t.tokens() >= 0.0 && t.tokens() <= max);
        }
    }

    #[test]
    fn ratio_budget_bounds_retries(
        min_per_sec in 0.0f64..20.0, percent in 0.0f64..1.0,
        events in prop::collection::vec((any::<bool>(), 0u64..9_000), 0..2000)
    ) {
        // All events inside one ttl (10 s): retries ≤ percent·requests + reserve.
        let mut b = Budget::Ratio(RatioBudget::new(SimDuration::from_secs(10), min_per_sec, percent).unwrap());
        let (mut requests, mut retries) = (0u64, 0u64);
        let mut times: Vec<(bool, u64)> = events;
        times.sort_by_key(|e| e.1);
        for (is_request, ms) in times {
            let now = SimTime(ms * 1_000_000);
            if is_request { b.on_request(now); requests += 1; }
            else if b.try_retry(now, false).is_some() { retries += 1; }
        }
        prop_assert!(retries as f64 <= percent * requests as f64 + min_per_sec * 10.0 + 1e-9);
    }

    #[test]
    fn half_open_admits_at_most_k_probes(k in 1u32..10, tries in 1u32..50) {
        let mut b = CircuitBreaker::new(BreakerConfig {
            window: BreakerWindow::Count(10), failure_ratio: 0.5, min_samples: 4,
            cool_down: SimDuration::from_secs(1), half_open_probes: k,
        }).unwrap();
        let mut now = SimTime::ZERO;
        for _ in 0..4 { prop_assert!(b.allow(now)); b.record(now, false); }
        let opened = matches!(b.state(), BreakerState::Open { .. });
        prop_assert!(opened);
        prop_assert!(!b.allow(now));
        now = now + SimDuration::from_secs(1);
        let admitted = (0..tries).filter(|_| b.allow(now)).count() as u32;
        prop_assert_eq!(admitted, k.min(tries));
    }
}

/// Draws `n` delays of retry 3 (v = 800 ms).
fn sample(jitter: Jitter, n: usize) -> (f64, Vec<f64>) {
    let ms = SimDuration::from_millis;
    let b = Backoff::exponential(ms(100), 2.0, ms(20_000), jitter).unwrap();
    let v = b.ceiling(3).0 as f64;
    let mut r = rng(42);
    let xs = (0..n)
        .map(|_| b.delay(3, SimDuration::ZERO, &mut r).0 as f64)
        .collect();
    (v, xs)
}

const N: usize = 200_000;

#[test]
fn full_jitter_mean_is_half_the_ceiling() {
    let (v, xs) = sample(Jitter::Full, N);
    let mean = xs.iter().sum::<f64>() / N as f64;
    // U(0, v): sd v/√12; allow 5 standard errors.
    let tol = 5.0 * v / 12f64.sqrt() / (N as f64).sqrt();
    assert!(
        (mean - v / 2.0).abs() < tol,
        "mean {mean}, want {} ± {tol}",
        v / 2.0
    );
}

#[test]
fn equal_jitter_mean_is_three_quarters() {
    let (v, xs) = sample(Jitter::Equal, N);
    let mean = xs.iter().sum::<f64>() / N as f64;
    // v/2 + U(0, v/2): sd (v/2)/√12.
    let tol = 5.0 * (v / 2.0) / 12f64.sqrt() / (N as f64).sqrt();
    assert!(
        (mean - 0.75 * v).abs() < tol,
        "mean {mean}, want {} ± {tol}",
        0.75 * v
    );
}

#[test]
fn full_jitter_is_uniform_kolmogorov_smirnov() {
    let (v, mut xs) = sample(Jitter::Full, N);
    xs.sort_by(f64::total_cmp);
    let n = N as f64;
    let d = xs
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = x / v;
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max);
    // Critical value at α = 0.001: 1.95/√n.
    assert!(d < 1.95 / n.sqrt(), "KS statistic {d}");
}

#[test]
fn presets_match_their_sources() {
    let ms = SimDuration::from_millis;
    let aws = Policy::aws_standard();
    let c = aws.config();
    assert_eq!(c.max_attempts, 3);
    assert_eq!(
        c.backoff,
        Backoff::exponential(ms(100), 2.0, ms(20_000), Jitter::Full).unwrap()
    );
    assert_eq!(
        c.budget,
        Some(BudgetConfig::Quota {
            capacity: 500,
            retry_cost: 5,
            timeout_cost: 10,
            success_increment: 1
        })
    );
    // The 2026 update: base 50 ms, every transient retry 14 tokens.
    let aws = Policy::aws_standard_2026();
    let c = aws.config();
    assert_eq!(c.max_attempts, 3);
    assert_eq!(
        c.backoff,
        Backoff::exponential(ms(50), 2.0, ms(20_000), Jitter::Full).unwrap()
    );
    assert_eq!(
        c.budget,
        Some(BudgetConfig::Quota {
            capacity: 500,
            retry_cost: 14,
            timeout_cost: 14,
            success_increment: 1
        })
    );
    assert!(!c.honour_pushback);
    let envoy = Policy::envoy();
    assert_eq!(envoy.config().max_attempts, 2);
    assert_eq!(
        envoy.config().backoff,
        Backoff::exponential(ms(25), 2.0, ms(250), Jitter::Full).unwrap()
    );
    let grpc = Policy::grpc();
    assert_eq!(grpc.config().max_attempts, 4);
    assert_eq!(
        grpc.config().budget,
        Some(BudgetConfig::TokenBucket {
            max_tokens: 10.0,
            token_ratio: 0.1
        })
    );
    let finagle = Policy::finagle();
    assert_eq!(
        finagle.config().budget,
        Some(BudgetConfig::Ratio {
            ttl: SimDuration::from_secs(10),
            min_per_sec: 10.0,
            percent: 0.2
        })
    );
    let naive = Policy::naive();
    assert_eq!(
        (naive.config().max_attempts, &naive.config().backoff),
        (4, &Backoff::Immediate)
    );
    let smtp = Policy::smtp_mta();
    assert_eq!(
        smtp.config().backoff.ceiling(0),
        SimDuration::from_secs(300)
    );
    assert_eq!(
        smtp.config().backoff.ceiling(99),
        SimDuration::from_secs(4000)
    );
    assert_eq!(
        smtp.config().deadline,
        Some(SimDuration::from_secs(432_000))
    );
}

#[test]
fn aws_quota_drains_and_refunds() {
    let mut q = Budget::Quota(RetryQuota::new(500, 5, 10, 1).unwrap());
    let mut granted = 0;
    while q.try_retry(SimTime::ZERO, true).is_some() {
        granted += 1;
    }
    assert_eq!(granted, 50, "500 tokens / 10 per timeout retry");
    q.on_outcome(true, 10);
    assert_eq!(q.try_retry(SimTime::ZERO, true), Some(10));
}

#[test]
fn pushback_is_honoured_or_stops() {
    let mut config = PolicyConfig::new(Backoff::Constant(SimDuration::from_millis(5)), 5);
    config.honour_pushback = true;
    let mut p = Policy::new(config).unwrap();
    let mut r = rng(1);
    let mut req = p.begin(SimTime::ZERO);
    let after = Outcome::Failure(Pushback::RetryAfter(SimDuration::from_secs(7)));
    assert_eq!(
        p.on_outcome(SimTime::ZERO, &mut req, after, &mut r),
        Decision::Retry(SimDuration::from_secs(7))
    );
    let stop = Outcome::Failure(Pushback::Stop);
    assert_eq!(
        p.on_outcome(SimTime::ZERO, &mut req, stop, &mut r),
        Decision::GiveUp(GiveUp::Pushback)
    );
}

#[test]
fn breaker_opens_cools_down_and_closes_on_a_probe_success() {
    let mut b = CircuitBreaker::new(BreakerConfig {
        window: BreakerWindow::Time(SimDuration::from_secs(10)),
        failure_ratio: 0.5,
        min_samples: 10,
        cool_down: SimDuration::from_secs(5),
        half_open_probes: 1,
    })
    .unwrap();
    let t = SimTime(1_000_000_000);
    for i in 0..10 {
        b.record(t, i % 2 == 0);
    }
    assert!(
        matches!(b.state(), BreakerState::Open { .. }),
        "5 of 10 failed"
    );
    assert!(!b.allow(t + SimDuration::from_secs(4)));
    assert!(b.allow(t + SimDuration::from_secs(5)));
    assert!(!b.allow(t + SimDuration::from_secs(5)), "one probe only");
    b.record(t + SimDuration::from_secs(6), true);
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn adaptive_throttle_rejects_when_the_backend_does() {
    let mut config = PolicyConfig::new(Backoff::Immediate, 1);
    config.throttle = Some(ThrottleConfig {
        k: 2.0,
        window: SimDuration::from_secs(120),
    });
    let mut p = Policy::new(config).unwrap();
    let mut r = rng(3);
    let mut refused = 0;
    for i in 0..10_000u64 {
        let now = SimTime(i * 1_000_000);
        if p.admit(now, &mut r).is_err() {
            refused += 1;
            continue;
        }
        let mut req = p.begin(now);
        // The backend accepts one request in four.
        let outcome = if i % 4 == 0 {
            Outcome::Success
        } else {
            Outcome::Failure(Pushback::None)
        };
        p.on_outcome(now, &mut req, outcome, &mut r);
    }
    // With one send in four accepted, the refusal probability tends to
    // (requests − 2·requests·(1−p)/4) / requests, i.e. p = 1/3 at the fixed
    // point: a third or more of all requests are refused locally.
    assert!(refused > 2_500, "refused {refused}");
}

#[test]
fn bad_input_names_the_parameter() {
    let ms = SimDuration::from_millis;
    let name = |e: RetryConfigError| e.name;
    assert_eq!(
        name(Backoff::exponential(ms(0), 2.0, ms(10), Jitter::Full).unwrap_err()),
        "base"
    );
    for m in [0.5, f64::NAN, f64::INFINITY, -2.0] {
        assert_eq!(
            name(Backoff::exponential(ms(1), m, ms(10), Jitter::Full).unwrap_err()),
            "multiplier"
        );
    }
    assert_eq!(
        name(Backoff::exponential(ms(10), 2.0, ms(1), Jitter::Full).unwrap_err()),
        "cap"
    );
    assert_eq!(
        name(Policy::new(PolicyConfig::new(Backoff::Schedule(vec![]), 3)).unwrap_err()),
        "schedule"
    );
    assert_eq!(
        name(Policy::new(PolicyConfig::new(Backoff::Immediate, 0)).unwrap_err()),
        "max_attempts"
    );
    assert_eq!(
        name(TokenBucket::new(f64::NAN, 0.1).unwrap_err()),
        "max_tokens"
    );
    assert_eq!(
        name(TokenBucket::new(10.0, -0.1).unwrap_err()),
        "token_ratio"
    );
    assert_eq!(
        name(RatioBudget::new(SimDuration::from_secs(10), -1.0, 0.2).unwrap_err()),
        "min_per_sec"
    );
    assert_eq!(
        name(RatioBudget::new(SimDuration::from_secs(10), 1.0, f64::NAN).unwrap_err()),
        "percent"
    );
    assert_eq!(
        name(RetryQuota::new(500, 0, 10, 1).unwrap_err()),
        "retry_cost"
    );
    let err = Backoff::exponential(ms(1), 0.5, ms(10), Jitter::Full).unwrap_err();
    assert!(err.to_string().contains("multiplier = 0.5"), "{err}");
}

#[test]
fn retry_accounting_matches_max_attempts() {
    let mut p = Policy::naive();
    let mut r = rng(5);
    let mut req = p.begin(SimTime::ZERO);
    let mut n = 1;
    loop {
        match p.on_outcome(SimTime::ZERO, &mut req, Outcome::Timeout, &mut r) {
            Decision::Retry(d) => {
                assert_eq!(d, SimDuration::ZERO);
                n += 1;
            }
            Decision::GiveUp(why) => {
                assert_eq!(why, GiveUp::Attempts);
                break;
            }
            Decision::Done => unreachable!(),
        }
    }
    assert_eq!(n, 4);
}
