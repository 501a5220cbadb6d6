//! A policy in a sentence, and where each preset comes from: what `show`,
//! reports and the README say of a policy so that a reader sees what a
//! comparison compared (a policy without an attempt timeout never times
//! out, and can look better than it would with one).

use std::fmt;

use super::{Backoff, BreakerWindow, BudgetConfig, Jitter, PolicyConfig};

impl fmt::Display for PolicyConfig {
    /// `4 attempts; backoff 100ms ×2 up to 1s, full jitter; no attempt
    /// timeout; no deadline; retry budget: token bucket of 10, 0.1 per
    /// success; pushback honoured`.
    ///
    /// ```
    /// use drainstorm_retry::Policy;
    ///
    /// let grpc = Policy::grpc().config().to_string();
    /// assert!(grpc.starts_with("4 attempts; backoff 100ms ×2 up to 1s, full jitter; no attempt timeout"), "{grpc}");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.max_attempts {
            1 => f.write_str("1 attempt (no retries)")?,
            u32::MAX => f.write_str("attempts without limit")?,
            n => write!(f, "{n} attempts")?,
        }
        if let Some(h) = self.hedging
            && h.delay == super::SimDuration::ZERO
        {
            f.write_str("; hedged: every attempt at once, the first success wins")?;
        } else if let Some(h) = self.hedging {
            write!(
                f,
                "; hedged: one more every {} while none has answered, the first success wins",
                h.delay
            )?;
        } else if self.max_attempts > 1 {
            match &self.backoff {
                Backoff::Immediate => f.write_str("; retries at once")?,
                Backoff::Constant(d) => write!(f, "; retries after {d}")?,
                Backoff::Schedule(ds) => {
                    let list: Vec<String> = ds.iter().map(|d| d.to_string()).collect();
                    write!(f, "; retries after {} (the last repeats)", list.join(", "))?
                }
                Backoff::Exponential(e) => {
                    let jitter = match e.jitter() {
                        Jitter::None => "no jitter",
                        Jitter::Full => "full jitter",
                        Jitter::Equal => "equal jitter",
                        Jitter::Decorrelated => "decorrelated jitter",
                    };
                    write!(
                        f,
                        "; backoff {} ×{} up to {}, {jitter}",
                        e.base(),
                        e.multiplier(),
                        e.cap()
                    )?
                }
            }
        }
        match self.attempt_timeout {
            Some(t) => write!(f, "; {t} per attempt")?,
            None => f.write_str("; no attempt timeout")?,
        }
        match self.deadline {
            Some(d) => write!(f, "; {d} deadline")?,
            None => f.write_str("; no deadline")?,
        }
        match self.budget {
            Some(BudgetConfig::TokenBucket {
                max_tokens,
                token_ratio,
            }) => write!(
                f,
                "; retry budget: token bucket of {max_tokens}, {token_ratio} per success"
            )?,
            Some(BudgetConfig::Quota {
                capacity,
                retry_cost,
                timeout_cost,
                success_increment,
            }) => write!(
                f,
                "; retry quota of {capacity}, {retry_cost} a retry ({timeout_cost} after a timeout), {success_increment} back per first-try success"
            )?,
            Some(BudgetConfig::Ratio {
                ttl,
                min_per_sec,
                percent,
            }) => write!(
                f,
                "; retry budget: {}% of requests over {ttl}, at least {min_per_sec}/s",
                percent * 100.0
            )?,
            None => {}
        }
        if let Some(b) = &self.breaker {
            let window = match b.window {
                BreakerWindow::Count(n) => format!("the last {n} outcomes"),
                BreakerWindow::Time(t) => format!("the last {t}"),
            };
            write!(
                f,
                "; circuit breaker at {}% failures over {window}",
                b.failure_ratio * 100.0
            )?;
        }
        if let Some(t) = &self.throttle {
            write!(f, "; adaptive throttling (K = {}, over {})", t.k, t.window)?;
        }
        if !self.limits.is_unlimited() {
            let l = &self.limits;
            let part = |v: Option<u32>| v.map_or("∞".to_owned(), |n| n.to_string());
            write!(
                f,
                "; limits {} requests, {} pending, ",
                part(l.max_requests),
                part(l.max_pending_requests),
            )?;
            match &l.retry_budget {
                Some(b) => write!(
                    f,
                    "retries up to {}% of those outstanding (at least {})",
                    b.budget_percent, b.min_retry_concurrency
                )?,
                None => write!(f, "{} retries", part(l.max_retries))?,
            }
            if let Some(a) = &l.adaptive {
                write!(f, ", and {a}")?;
            }
        }
        if self.honour_pushback {
            f.write_str("; pushback honoured")?;
        }
        Ok(())
    }
}

/// Where preset `name` comes from ([`Policy::preset_named`]), or `None`.
///
/// [`Policy::preset_named`]: super::Policy::preset_named
pub fn preset_source(name: &str) -> Option<&'static str> {
    Some(match name {
        "grpc" => "gRFC A6 \"gRPC Retry Design\", its example service config",
        "aws-standard" => "AWS SDKs' standard retry mode (AWS SDKs and Tools Reference Guide)",
        "aws-standard-2026" => {
            "AWS SDKs' standard retry mode as updated in 2026 (AWS_NEW_RETRIES_2026), for transient errors"
        }
        "envoy" => "Envoy's route RetryPolicy and cluster circuit-breaker defaults",
        "envoy-retry-budget" => {
            "Envoy's route RetryPolicy and cluster circuit breakers with their RetryBudget defaults"
        }
        "finagle" => "Finagle's default RetryBudget, RequeueFilter's cap",
        "naive" => "a client with three immediate retries and nothing else",
        "smtp-mta" => "Postfix's queue defaults (postconf(5)) for a 451 4.3.2",
        _ => return None,
    })
}
