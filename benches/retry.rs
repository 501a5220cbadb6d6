//! ns per retry decision: each jitter kind alone, a full policy with a
//! budget and a breaker, a client's retry limit (fixed or a budget), and
//! an adaptive concurrency limit's acquire and sample. `cargo bench --bench retry`; figures in the README.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use drainstorm::retry::{
    AdaptiveLimit, AdaptiveLimiter, Backoff, BreakerConfig, BreakerWindow, BudgetConfig,
    ClientLimits, Hedge, HedgeStep, Jitter, LimitsConfig, Outcome, Policy, PolicyConfig, Pushback,
    RetryPolicy, SimDuration, SimTime,
};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

fn backoff(c: &mut Criterion) {
    let ms = SimDuration::from_millis;
    let mut group = c.benchmark_group("retry/backoff");
    for (name, jitter) in [
        ("none", Jitter::None),
        ("full", Jitter::Full),
        ("equal", Jitter::Equal),
        ("decorrelated", Jitter::Decorrelated),
    ] {
        let b = Backoff::exponential(ms(100), 2.0, ms(20_000), jitter).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        group.bench_function(name, |bench| {
            bench.iter_custom(|iters| {
                let mut prev = SimDuration::ZERO;
                let start = Instant::now();
                for i in 0..iters {
                    prev = b.delay((i & 15) as u32, prev, &mut rng);
                    black_box(prev);
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

fn full_policy(c: &mut Criterion) {
    let ms = SimDuration::from_millis;
    let config = PolicyConfig {
        backoff: Backoff::exponential(ms(100), 2.0, ms(20_000), Jitter::Full).unwrap(),
        max_attempts: 4,
        attempt_timeout: Some(ms(500)),
        deadline: Some(ms(10_000)),
        honour_pushback: true,
        budget: Some(BudgetConfig::Ratio {
            ttl: SimDuration::from_secs(10),
            min_per_sec: 10.0,
            percent: 0.2,
        }),
        breaker: Some(BreakerConfig {
            window: BreakerWindow::Count(100),
            failure_ratio: 0.9,
            min_samples: 20,
            cool_down: ms(1000),
            half_open_probes: 3,
        }),
        throttle: None,
        limits: Default::default(),
        hedging: None,
    };
    let mut policy = Policy::new(config.clone()).unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
    // The decision alone: an outcome recorded in the breaker and budget,
    // then the next delay (or giving up) decided.
    c.bench_function("retry/policy-decision", |bench| {
        bench.iter_custom(|iters| {
            let mut request = policy.begin(SimTime::ZERO);
            let start = Instant::now();
            for i in 0..iters {
                let now = SimTime(i * 1000);
                request.attempts = 1 + (i % 3) as u32;
                let outcome = if i % 4 == 3 {
                    Outcome::Success
                } else {
                    Outcome::Failure(Pushback::None)
                };
                black_box(policy.on_outcome(now, &mut request, outcome, &mut rng));
            }
            start.elapsed()
        })
    });
    let mut policy = Policy::new(config).unwrap();
    // A whole attempt's cycle: admission (breaker), a new request (budget
    // deposit) and the decision.
    c.bench_function("retry/policy-attempt-cycle", |bench| {
        bench.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                // One request of 4 outcomes per 4 iterations: 3 failures
                // then a success, 1 µs of simulated time apart.
                let now = SimTime(i * 1000);
                let mut request = policy.begin(now);
                let outcome = if i % 4 == 3 {
                    Outcome::Success
                } else {
                    Outcome::Failure(Pushback::None)
                };
                black_box(policy.admit(now, &mut rng).is_ok());
                black_box(policy.on_outcome(now, &mut request, outcome, &mut rng));
            }
            start.elapsed()
        })
    });
}

/// A client's concurrency limits on a retry: Envoy's fixed `max_retries`
/// against its retry budget (a share of what the client holds, worked out
/// on every retry), with 40 requests held and retries taken and given
/// back in turn.
fn limits(c: &mut Criterion) {
    let mut group = c.benchmark_group("retry/limits");
    for (name, config) in [
        ("max-retries", LimitsConfig::ENVOY),
        ("retry-budget", LimitsConfig::ENVOY_RETRY_BUDGET),
    ] {
        let mut limits = ClientLimits::new(config);
        for _ in 0..40 {
            limits.try_request();
        }
        group.bench_function(name, |bench| {
            bench.iter_custom(|iters| {
                let start = Instant::now();
                for i in 0..iters {
                    if black_box(limits.try_retry()) && i % 4 == 3 {
                        for _ in 0..limits.retries() {
                            limits.retry_done();
                        }
                    }
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

/// One attempt through an adaptive limit: `try_acquire`, then `complete`
/// with a round trip that wanders between 10 and 40 ms (so each algorithm
/// takes its growing and its shrinking branches) and a drop one time in 16,
/// with the limit kept about full.
fn adaptive(c: &mut Criterion) {
    let mut group = c.benchmark_group("retry/adaptive");
    for config in [
        AdaptiveLimit::vegas(),
        AdaptiveLimit::gradient2(),
        AdaptiveLimit::aimd(),
    ] {
        let mut l = AdaptiveLimiter::new(config, 1);
        group.bench_function(config.name(), |bench| {
            bench.iter_custom(|iters| {
                let start = Instant::now();
                for i in 0..iters {
                    let n = l.try_acquire().expect("each attempt is given back");
                    let rtt = 10_000_000 + (i.wrapping_mul(0x9E37_79B9) % 30_000_000);
                    l.complete(SimDuration(rtt), black_box(n.max(l.limit())), i % 16 == 0);
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

/// A hedged request's bookkeeping: three attempts sent (the second after
/// the delay, the third at once after a failure), then a success.
fn hedging(c: &mut Criterion) {
    c.bench_function("retry/hedge-cycle", |bench| {
        bench.iter(|| {
            let mut h = Hedge::new(black_box(3));
            h.sent();
            if h.may_send() {
                h.sent();
            }
            if h.on_outcome(false) == HedgeStep::Send {
                h.sent();
            }
            black_box(h.on_outcome(true))
        })
    });
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1000))
        .sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = backoff, full_policy, limits, adaptive, hedging }
criterion_main!(benches);
