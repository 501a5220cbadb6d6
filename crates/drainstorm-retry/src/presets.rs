//! The presets named after real clients: each a [`Policy`] built from the
//! client's documented defaults.

use super::SimDuration;
use super::backoff::{Backoff, Jitter};
use super::limits::LimitsConfig;
use super::policy::{BudgetConfig, Policy, PolicyConfig};

impl Policy {
    /// The names [`Policy::preset_named`] accepts, in the order reports
    /// list them.
    pub const PRESETS: [&'static str; 8] = [
        "grpc",
        "aws-standard",
        "aws-standard-2026",
        "envoy",
        "envoy-retry-budget",
        "finagle",
        "naive",
        "smtp-mta",
    ];

    /// A preset by name (see [`Policy::PRESETS`]), or `None`.
    ///
    /// ```
    /// use drainstorm_retry::Policy;
    ///
    /// assert_eq!(Policy::preset_named("envoy").unwrap().config().max_attempts, 2);
    /// assert!(Policy::preset_named("carrier-pigeon").is_none());
    /// ```
    pub fn preset_named(name: &str) -> Option<Self> {
        Some(match name {
            "grpc" => Self::grpc(),
            "aws-standard" => Self::aws_standard(),
            "aws-standard-2026" => Self::aws_standard_2026(),
            "envoy" => Self::envoy(),
            "envoy-retry-budget" => Self::envoy_retry_budget(),
            "finagle" => Self::finagle(),
            "naive" => Self::naive(),
            "smtp-mta" => Self::smtp_mta(),
            _ => return None,
        })
    }

    fn preset(config: PolicyConfig) -> Self {
        Self::new(config).expect("presets are valid")
    }

    /// gRPC retry policy, with the example service config of gRFC A6
    /// ("gRPC Retry Design"): 4 attempts, initial backoff 0.1 s, multiplier
    /// 2, max backoff 1 s, delays `U(0, current_backoff)` (full jitter), and
    /// retry throttling with 10 tokens and a token ratio of 0.1.
    pub fn grpc() -> Self {
        Self::preset(PolicyConfig {
            honour_pushback: true,
            budget: Some(BudgetConfig::TokenBucket {
                max_tokens: 10.0,
                token_ratio: 0.1,
            }),
            ..PolicyConfig::new(exp(ms(100), 2.0, ms(1000), Jitter::Full), 4)
        })
    }

    /// AWS SDKs' standard retry mode ("Retry behavior", AWS SDKs and Tools
    /// Reference Guide): 3 attempts, base 100 ms doubling with full jitter,
    /// cap 20 s, a 500-token quota; a retry costs 5 tokens, 10 after a
    /// timeout; a successful retry refunds its cost, a first-try success
    /// adds 1.
    pub fn aws_standard() -> Self {
        Self::preset(PolicyConfig {
            budget: Some(BudgetConfig::Quota {
                capacity: 500,
                retry_cost: 5,
                timeout_cost: 10,
                success_increment: 1,
            }),
            ..PolicyConfig::new(exp(ms(100), 2.0, ms(20_000), Jitter::Full), 3)
        })
    }

    /// The AWS SDKs' standard retry mode as updated in 2026 (opt-in with
    /// `AWS_NEW_RETRIES_2026=true`, the default from November 2026; "Retry
    /// behavior", AWS SDKs and Tools Reference Guide, and the announcement
    /// "Announcing updated retry behavior for AWS SDKs and Tools", AWS
    /// Developer Tools Blog), for the errors this model's servers return:
    /// 3 attempts, base 50 ms doubling with full jitter under a 20 s cap
    /// (applied before the jitter), a 500-token quota from which any
    /// transient retry takes 14 tokens (timeouts no longer cost more), a
    /// successful retry refunding its cost and a first-try success adding 1.
    ///
    /// Two parts of the update do not apply here: throttling errors
    /// (`ThrottlingException`, HTTP 429) take a 1 s base delay and cost 5
    /// tokens, and an `x-amz-retry-after` header is honoured between the
    /// computed delay and 5 s above it; the simulated servers answer with
    /// neither (an overloaded load balancer's refusal is a `503`, a
    /// transient error to the SDKs).
    ///
    /// ```
    /// use drainstorm_retry::{BudgetConfig, Policy};
    ///
    /// let aws = Policy::aws_standard_2026();
    /// assert_eq!(aws.config().max_attempts, 3);
    /// assert!(matches!(
    ///     aws.config().budget,
    ///     Some(BudgetConfig::Quota { capacity: 500, retry_cost: 14, timeout_cost: 14, .. })
    /// ));
    /// ```
    pub fn aws_standard_2026() -> Self {
        Self::preset(PolicyConfig {
            budget: Some(BudgetConfig::Quota {
                capacity: 500,
                retry_cost: 14,
                timeout_cost: 14,
                success_increment: 1,
            }),
            ..PolicyConfig::new(exp(ms(50), 2.0, ms(20_000), Jitter::Full), 3)
        })
    }

    /// Envoy's router retry policy defaults (`config.route.v3.RetryPolicy`):
    /// `num_retries` 1, base interval 25 ms, max interval 10 × base =
    /// 250 ms, fully jittered exponential backoff; and the cluster circuit
    /// breakers' default thresholds ([`LimitsConfig::ENVOY`]: 1024
    /// requests, 1024 pending, 3 concurrent retries).
    pub fn envoy() -> Self {
        Self::preset(PolicyConfig {
            honour_pushback: true,
            limits: LimitsConfig::ENVOY,
            ..PolicyConfig::new(exp(ms(25), 2.0, ms(250), Jitter::Full), 2)
        })
    }

    /// [`Policy::envoy`] with the cluster's retry budget in place of its
    /// fixed retry threshold (`CircuitBreakers.Thresholds.RetryBudget` at
    /// its defaults, [`LimitsConfig::ENVOY_RETRY_BUDGET`]): retries
    /// outstanding at once up to 20 % of the requests and pending attempts
    /// outstanding, and at least 3.
    ///
    /// ```
    /// use drainstorm_retry::Policy;
    ///
    /// let p = Policy::preset_named("envoy-retry-budget").unwrap();
    /// let budget = p.config().limits.retry_budget.unwrap();
    /// assert_eq!((budget.budget_percent, budget.min_retry_concurrency), (20.0, 3));
    /// assert_eq!(p.config().limits.max_retries, None);
    /// ```
    pub fn envoy_retry_budget() -> Self {
        Self::preset(PolicyConfig {
            limits: LimitsConfig::ENVOY_RETRY_BUDGET,
            ..Self::envoy().config
        })
    }

    /// Finagle's default `RetryBudget` (ttl 10 s, 10 retries per second
    /// reserve, 20 % of requests) with immediate requeues, capped here at
    /// 25 retries per request like Finagle's `RequeueFilter`.
    pub fn finagle() -> Self {
        Self::preset(PolicyConfig {
            budget: Some(BudgetConfig::Ratio {
                ttl: SimDuration::from_secs(10),
                min_per_sec: 10.0,
                percent: 0.2,
            }),
            ..PolicyConfig::new(Backoff::Immediate, 26)
        })
    }

    /// The client that makes storms: 3 immediate retries, no budget.
    pub fn naive() -> Self {
        Self::preset(PolicyConfig::new(Backoff::Immediate, 4))
    }

    /// A mail server's queue retrying a `451 4.3.2` temporary failure, with
    /// Postfix's defaults (`postconf(5)`): first retry after
    /// `minimal_backoff_time` = 300 s, doubling to `maximal_backoff_time` =
    /// 4000 s, until `maximal_queue_lifetime` = 5 days.
    pub fn smtp_mta() -> Self {
        let s = SimDuration::from_secs;
        Self::preset(PolicyConfig {
            deadline: Some(s(5 * 24 * 3600)),
            ..PolicyConfig::new(
                Backoff::Schedule(vec![s(300), s(600), s(1200), s(2400), s(4000)]),
                u32::MAX,
            )
        })
    }
}

fn ms(n: u64) -> SimDuration {
    SimDuration::from_millis(n)
}

fn exp(base: SimDuration, multiplier: f64, cap: SimDuration, jitter: Jitter) -> Backoff {
    Backoff::exponential(base, multiplier, cap, jitter).expect("presets are valid")
}
