//! The simulator against queueing theory: M/M/1, M/M/c (Erlang C), M/D/1,
//! Little's law, the supermarket model, and exact retry accounting.
//!
//! Runs are longer in release builds (`cargo test --release`) than in debug
//! ones; the tolerances hold for both.

use drainstorm::balancer::BalancerKind;
use drainstorm::retry::{Backoff, PolicyConfig, SimDuration, SimTime};
use drainstorm::sim::{
    BackendGroup, ClientGroup, CurvePoint, KeyDist, RecorderConfig, RetrySpec, RouterConfig,
    ServiceTime, SimConfig, Simulation, SiteConfig, Summary, Totals, Workload,
};

/// Requests per fidelity run.
const REQUESTS: f64 = if cfg!(debug_assertions) { 4.0e6 } else { 1.0e7 };

/// Service times are in milliseconds: 1 "unit" of queueing theory = 1 ms.
const UNIT: u64 = 1_000_000;

fn single_site(
    backends: Vec<BackendGroup>,
    balancer: BalancerKind,
    rate_per_unit: f64,
    requests: f64,
    retry: PolicyConfig,
) -> SimConfig {
    let rate = rate_per_unit * 1e9 / UNIT as f64;
    let duration = SimDuration::from_nanos((requests / rate * 1e9) as u64);
    SimConfig {
        seed: 20260122,
        duration,
        sites: vec![SiteConfig {
            balancer,
            ..SiteConfig::new("only", backends)
        }],
        clients: vec![ClientGroup {
            name: "poisson".into(),
            workload: Workload::Open {
                rate,
                curve: Vec::new(),
            },
            keys: KeyDist::default(),
            retry: RetrySpec::Config(Box::new(retry)),
            instances: None,
        }],
        router: RouterConfig::default(),
        cancel_on_timeout: false,
        recorder: RecorderConfig {
            interval: SimDuration::from_secs(1),
            // Start measuring once the queue has reached its steady state.
            warm_up: SimDuration::from_nanos(duration.0 / 100),
            ..RecorderConfig::default()
        },
        timeline: Vec::new(),
    }
}

fn server(count: u32, slots: u32, service: ServiceTime) -> BackendGroup {
    BackendGroup {
        slots,
        queue: 1 << 16,
        ..BackendGroup::new(count, service)
    }
}

fn exponential() -> ServiceTime {
    ServiceTime::Exponential {
        mean: SimDuration::from_nanos(UNIT),
    }
}

fn no_retries() -> PolicyConfig {
    PolicyConfig::new(Backoff::Immediate, 1)
}

fn run(config: SimConfig) -> (Summary, Totals) {
    let mut sim = Simulation::new(config).expect("valid configuration");
    sim.run();
    (sim.summary(), sim.recorder().totals().clone())
}

fn units(ns: f64) -> f64 {
    ns / UNIT as f64
}

fn assert_within(what: &str, measured: f64, expected: f64, tolerance: f64) {
    let error = (measured - expected).abs() / expected;
    eprintln!(
        "{what}: expected {expected:.4}, measured {measured:.4} ({:+.2}%)",
        100.0 * (measured - expected) / expected
    );
    assert!(
        error <= tolerance,
        "{what}: measured {measured:.4}, expected {expected:.4} within {:.0}% (off by {:.2}%)",
        tolerance * 100.0,
        error * 100.0
    );
}

/// Erlang C: the probability that an arrival waits in an M/M/c queue with
/// offered load `a = λ/μ`.
fn erlang_c(c: u32, a: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 0.0;
    for k in 0..c {
        if k > 0 {
            term *= a / k as f64;
        }
        sum += term;
    }
    let top = term * a / c as f64 * (c as f64 / (c as f64 - a));
    top / (sum + top)
}

fn mean_wait(t: &Totals) -> f64 {
    units(t.server_wait_ns as f64 / t.completions as f64)
}

#[test]
fn mm1_mean_sojourn_matches_one_over_mu_minus_lambda() {
    let (lambda, mu) = (0.8, 1.0);
    let config = single_site(
        vec![server(1, 1, exponential())],
        BalancerKind::SmoothWrr,
        lambda,
        REQUESTS,
        no_retries(),
    );
    let (s, _) = run(config);
    assert!(
        s.successes as f64 >= REQUESTS * 0.95,
        "{} requests",
        s.successes
    );
    assert_within(
        "M/M/1 mean sojourn",
        units(s.mean_latency * 1e9),
        1.0 / (mu - lambda),
        0.02,
    );
}

#[test]
fn mmc_mean_wait_matches_erlang_c() {
    // The pair: c = 3, λ = 0.2, μ = 0.1 → Wq = 4.444 (in 1/μ = 10
    // units, service mean 10).
    let ten = ServiceTime::Exponential {
        mean: SimDuration::from_nanos(10 * UNIT),
    };
    let config = single_site(
        vec![server(1, 3, ten)],
        BalancerKind::SmoothWrr,
        0.2,
        REQUESTS,
        no_retries(),
    );
    let (_, t) = run(config);
    let c = erlang_c(3, 2.0);
    assert!((c - 4.0 / 9.0).abs() < 1e-12);
    let expected = c / (3.0 * 0.1 - 0.2);
    assert!((expected - 4.444).abs() < 1e-3);
    assert_within("M/M/3 mean wait", mean_wait(&t), expected, 0.02);

    // A second pair, from the formula: c = 8, ρ = 0.85, μ = 1.
    let (c, rho) = (8u32, 0.85);
    let lambda = rho * c as f64;
    let config = single_site(
        vec![server(1, c, exponential())],
        BalancerKind::SmoothWrr,
        lambda,
        REQUESTS,
        no_retries(),
    );
    let (_, t) = run(config);
    let expected = erlang_c(c, lambda) / (c as f64 - lambda);
    assert_within("M/M/8 mean wait at ρ = 0.85", mean_wait(&t), expected, 0.02);
}

#[test]
fn md1_mean_wait_matches_pollaczek_khinchine() {
    let (rho, mu) = (0.8, 1.0);
    let config = single_site(
        vec![server(
            1,
            1,
            ServiceTime::Deterministic {
                value: SimDuration::from_nanos(UNIT),
            },
        )],
        BalancerKind::SmoothWrr,
        rho,
        REQUESTS,
        no_retries(),
    );
    let (_, t) = run(config);
    assert_within(
        "M/D/1 mean wait",
        mean_wait(&t),
        rho / (2.0 * mu * (1.0 - rho)),
        0.02,
    );
}

#[test]
fn littles_law_holds_on_the_recorder() {
    let config = single_site(
        vec![server(4, 2, exponential())],
        BalancerKind::LeastConn,
        7.0,
        REQUESTS / 2.0,
        no_retries(),
    );
    let duration = config.duration.0 as f64;
    let (_, t) = run(config);
    let in_system = t.in_system_area as f64 / duration;
    let throughput = t.completions as f64 / duration;
    let sojourn = t.server_sojourn_ns as f64 / t.completions as f64;
    assert_within("Little's law L = λW", throughput * sojourn, in_system, 0.02);
}

/// Mitzenmacher's supermarket model: n → ∞ mean sojourn with d choices is
/// Σ_{i≥1} λ^((d^i − d)/(d − 1)); 2.614 for d = 2 at λ = 0.9, and the M/M/1
/// value 1/(1 − λ) = 10 for one random choice.
#[test]
fn power_of_two_choices_matches_the_supermarket_model() {
    let lambda: f64 = 0.9;
    let two: f64 = (1..20).map(|i| lambda.powi((1 << i) - 2)).sum();
    assert!((two - 2.614).abs() < 1e-3, "{two}");
    let supermarket = |balancer| {
        let config = single_site(
            vec![server(100, 1, exponential())],
            balancer,
            lambda * 100.0,
            REQUESTS,
            no_retries(),
        );
        run(config).0.mean_latency * 1e9 / UNIT as f64
    };
    assert_within(
        "P2C mean sojourn",
        supermarket(BalancerKind::PowerOfTwo),
        two,
        0.05,
    );
    // Maglev with uniformly random keys sends each request to a uniformly
    // random backend: the one-choice case.
    assert_within(
        "random mean sojourn",
        supermarket(BalancerKind::Maglev),
        10.0,
        0.05,
    );
}

/// Arrivals for `secs` seconds, then none, and time enough for every
/// request to finish.
fn burst(retry: PolicyConfig, fail_probability: f64) -> SimConfig {
    let mut config = SimConfig::example();
    config.duration = SimDuration::from_secs(60);
    for site in &mut config.sites {
        site.backends[0].fail_probability = fail_probability;
    }
    config.clients[0].workload = Workload::Open {
        rate: 300.0,
        curve: vec![
            CurvePoint {
                at: SimTime(0),
                factor: 1.0,
            },
            CurvePoint {
                at: SimTime(10_000_000_000),
                factor: 1.0,
            },
            CurvePoint {
                at: SimTime(10_000_000_001),
                factor: 0.0,
            },
        ],
    };
    config.clients[0].retry = RetrySpec::Config(Box::new(retry));
    config
}

#[test]
fn amplification_is_exactly_max_attempts_when_every_attempt_fails() {
    for max_attempts in [1, 2, 4, 7, 8, 9, 12] {
        let retry = PolicyConfig::new(
            Backoff::Constant(SimDuration::from_millis(20)),
            max_attempts,
        );
        let mut sim = Simulation::new(burst(retry, 1.0)).expect("valid configuration");
        sim.run();
        let s = sim.summary();
        assert!(s.offered > 2000);
        assert_eq!(s.successes, 0);
        assert_eq!(s.failures, s.offered);
        assert_eq!(s.attempts, s.offered * u64::from(max_attempts));
        assert_eq!(s.amplification, f64::from(max_attempts));
        // The histogram of attempts per request has every request at
        // exactly `max_attempts`.
        let h = sim.recorder().attempts_per_request();
        assert_eq!(h.len(), s.failures);
        assert_eq!(
            (h.min(), h.max()),
            (max_attempts.into(), max_attempts.into())
        );
    }
}

#[test]
fn amplification_is_exactly_one_without_failures() {
    let retry = PolicyConfig::new(Backoff::Immediate, 5);
    let mut sim = Simulation::new(burst(retry, 0.0)).expect("valid configuration");
    sim.run();
    let s = sim.summary();
    assert!(s.offered > 2000);
    assert_eq!(s.successes, s.offered);
    assert_eq!(s.attempts, s.offered);
    assert_eq!(s.amplification, 1.0);
    let h = sim.recorder().attempts_per_request();
    assert_eq!((h.len(), h.min(), h.max()), (s.successes, 1, 1));
    assert_eq!(s.verdict, drainstorm::sim::Verdict::Absorbed);
}
