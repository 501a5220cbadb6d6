//! A population's clients are independent: each one, driven inside the
//! population, decides exactly as its own `Policy` driven alone, whatever
//! the other clients do between its calls.

use drainstorm::retry::{
    Backoff, BreakerConfig, BreakerWindow, BudgetConfig, Decision, Jitter, Outcome, Policy,
    PolicyConfig, Population, Pushback, Refusal, RetryPolicy, SimDuration, SimTime, ThrottleConfig,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

fn ms(n: u64) -> SimDuration {
    SimDuration::from_millis(n)
}

fn budget() -> impl Strategy<Value = Option<BudgetConfig>> {
    prop_oneof![
        Just(None),
        (1.0f64..20.0, 0.01f64..1.0).prop_map(|(max_tokens, token_ratio)| Some(
            BudgetConfig::TokenBucket {
                max_tokens,
                token_ratio
            }
        )),
        (20u32..100, 1u32..10, 1u32..20, 0u32..3).prop_map(|(capacity, r, t, s)| Some(
            BudgetConfig::Quota {
                capacity,
                retry_cost: r,
                timeout_cost: t,
                success_increment: s
            }
        )),
        (1u64..20, 0.0f64..2.0, 0.0f64..0.5).prop_map(|(ttl, min_per_sec, percent)| Some(
            BudgetConfig::Ratio {
                ttl: SimDuration::from_secs(ttl),
                min_per_sec,
                percent
            }
        )),
    ]
}

fn breaker() -> impl Strategy<Value = Option<BreakerConfig>> {
    let window = prop_oneof![
        (1u32..20).prop_map(BreakerWindow::Count),
        (100u64..5000).prop_map(|t| BreakerWindow::Time(ms(t))),
    ];
    prop_oneof![
        Just(None),
        (window, 0.1f64..1.0, 1u32..6, 1u64..2000, 1u32..3).prop_map(
            |(window, failure_ratio, min_samples, cool, half_open_probes)| Some(BreakerConfig {
                window,
                failure_ratio,
                min_samples,
                cool_down: ms(cool),
                half_open_probes,
            })
        ),
    ]
}

fn config() -> impl Strategy<Value = PolicyConfig> {
    (
        budget(),
        breaker(),
        prop::option::of((1.1f64..4.0, 100u64..10_000)),
        1u32..6,
    )
        .prop_map(|(budget, breaker, throttle, max_attempts)| PolicyConfig {
            budget,
            breaker,
            throttle: throttle.map(|(k, w)| ThrottleConfig { k, window: ms(w) }),
            attempt_timeout: Some(ms(200)),
            ..PolicyConfig::new(
                Backoff::exponential(ms(10), 2.0, ms(1000), Jitter::Full).unwrap(),
                max_attempts,
            )
        })
}

/// What a client's call gave, for comparing two drivers.
#[derive(Debug, PartialEq)]
enum Step {
    Refused(Refusal),
    Decided(Decision),
}

/// One request of client `c`: admission, then an outcome per attempt
/// until the policy stops retrying (a retry is admitted first, as the
/// simulator does). Returns what each call gave and the latest time.
fn request(
    mut admit: impl FnMut(SimTime, &mut Xoshiro256PlusPlus) -> Result<(), Refusal>,
    mut outcome: impl FnMut(
        SimTime,
        &mut drainstorm::retry::RequestState,
        Outcome,
        &mut Xoshiro256PlusPlus,
    ) -> Decision,
    begin: impl FnOnce(SimTime) -> drainstorm::retry::RequestState,
    mut now: SimTime,
    outcomes: &[u8],
    seed: u64,
) -> (Vec<Step>, SimTime) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut steps = Vec::new();
    if let Err(r) = admit(now, &mut rng) {
        steps.push(Step::Refused(r));
        return (steps, now);
    }
    let mut state = begin(now);
    for &o in outcomes {
        let o = match o {
            0 => Outcome::Success,
            1 => Outcome::Timeout,
            _ => Outcome::Failure(Pushback::None),
        };
        let d = outcome(now, &mut state, o, &mut rng);
        steps.push(Step::Decided(d));
        let Decision::Retry(delay) = d else { break };
        now = now + delay;
        if let Err(r) = admit(now, &mut rng) {
            steps.push(Step::Refused(r));
            break;
        }
    }
    (steps, now)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn each_client_decides_as_its_own_policy_alone(
        config in config(),
        n in 1u32..6,
        ops in prop::collection::vec(
            (0u32..6, 0u64..400, prop::collection::vec(0u8..3, 1..6)), 1..120),
    ) {
        let mut population = Population::new(config.clone(), n).unwrap();
        let mut alone: Vec<Policy> = (0..n).map(|_| Policy::new(config.clone()).unwrap()).collect();
        // A clock per client: each client's calls come in time order, and
        // the clients' clocks interleave.
        let mut clock = vec![SimTime::ZERO; n as usize];
        for (k, (c, dt, outcomes)) in ops.into_iter().enumerate() {
            let c = (c % n) as usize;
            let start = clock[c] + ms(dt);
            let seed = k as u64;
            let (inside, end) = {
                let p = std::cell::RefCell::new(&mut population);
                request(
                    |t, r| p.borrow_mut().admit(c, t, r),
                    |t, s, o, r| p.borrow_mut().on_outcome(c, t, s, o, r),
                    |t| p.borrow_mut().begin(c, t),
                    start, &outcomes, seed,
                )
            };
            let (by_itself, _) = {
                let p = std::cell::RefCell::new(&mut alone[c]);
                request(
                    |t, r| p.borrow_mut().admit(t, r),
                    |t, s, o, r| p.borrow_mut().on_outcome(t, s, o, r),
                    |t| p.borrow_mut().begin(t),
                    start, &outcomes, seed,
                )
            };
            prop_assert_eq!(&inside, &by_itself, "client {} at op {}", c, k);
            clock[c] = end;
            prop_assert_eq!(population.breaker(c).map(|b| b.state()), alone[c].breaker().map(|b| b.state()));
        }
    }
}

#[test]
fn a_shared_budget_and_independent_ones_differ() {
    // The difference the population exists for: fifty failures spread
    // over four clients spend four budgets; taken by one client, one.
    let grpc = Policy::grpc().config().clone();
    let mut many = Population::new(grpc.clone(), 10).unwrap();
    let mut one = Population::new(grpc, 1).unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    let failed = Outcome::Failure(Pushback::None);
    let mut retries = (0, 0);
    for k in 0..50 {
        let t = SimTime::ZERO;
        let mut r = many.begin(k % 4, t);
        retries.0 += matches!(
            many.on_outcome(k % 4, t, &mut r, failed, &mut rng),
            Decision::Retry(_)
        ) as u32;
        let mut r = one.begin(0, t);
        retries.1 += matches!(
            one.on_outcome(0, t, &mut r, failed, &mut rng),
            Decision::Retry(_)
        ) as u32;
    }
    // A bucket of 10 tokens, a failure costs one and a retry needs more
    // than 5 left: each client retries its first four failures. Four
    // clients allow 4 × 4; one shared bucket allows 4 in all.
    assert_eq!(retries, (16, 4));
}

#[test]
fn bad_sizes_and_configs_are_refused() {
    let naive = Policy::naive().config().clone();
    let e = Population::new(naive.clone(), 0).unwrap_err();
    assert_eq!(e.name, "clients");
    assert!(Population::new(naive.clone(), (1 << 24) + 1).is_err());
    let bad = PolicyConfig {
        max_attempts: 0,
        ..naive
    };
    assert_eq!(Population::new(bad, 4).unwrap_err().name, "max_attempts");
}

#[test]
#[should_panic(expected = "client 4 of 4")]
fn a_client_out_of_range_panics_like_an_index() {
    let mut p = Population::new(Policy::naive().config().clone(), 4).unwrap();
    p.begin(4, SimTime::ZERO);
}

#[test]
fn memory_per_client_is_what_its_parts_take() {
    let cfg = |budget, breaker| PolicyConfig {
        budget,
        breaker,
        ..Policy::naive().config().clone()
    };
    let bucket = Some(BudgetConfig::TokenBucket {
        max_tokens: 10.0,
        token_ratio: 0.1,
    });
    let b = |window| {
        Some(BreakerConfig {
            window,
            failure_ratio: 0.5,
            min_samples: 5,
            cool_down: ms(1000),
            half_open_probes: 1,
        })
    };
    let per = |c| Population::new(c, 1).unwrap().bytes_per_client();
    assert_eq!(per(cfg(None, None)), 0);
    let token = per(cfg(bucket, None));
    assert!(token > 0 && token <= 24, "{token}");
    // A count window keeps one outcome per slot.
    let count = per(cfg(None, b(BreakerWindow::Count(100))));
    let count_1000 = per(cfg(None, b(BreakerWindow::Count(1000))));
    assert_eq!(count_1000 - count, 900);
    // A million clients with gRPC's budget fit in tens of megabytes.
    assert!(token * 1_000_000 < 64 << 20);
}
