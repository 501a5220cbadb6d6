//! What a run will cost before it starts: requests, attempts and simulated
//! time, so that a command can say what it is about to do and refuse a
//! profile that asks for far more than it meant to.

use std::fmt;

use super::arrivals::RateCurve;
use super::config::Action;
use super::config::{SimConfig, Workload};
use crate::retry::{ClientLimits, Population};

/// The work of one or more runs, estimated from the configuration alone.
///
/// ```
/// use drainstorm::sim::{SimConfig, WorkEstimate};
///
/// let config = SimConfig::example();
/// let one = WorkEstimate::of(&config);
/// assert!(one.requests > 0.0);
/// let ten = one.times(10);
/// assert_eq!(ten.runs, 10);
/// assert_eq!(ten.requests, 10.0 * one.requests);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct WorkEstimate {
    /// Runs counted.
    pub runs: u64,
    /// Requests the clients send, over all runs (open loop: the integral of
    /// the load curve; closed loop: at most one per think time per client,
    /// and no more than the backends can serve).
    pub requests: f64,
    /// Simulated seconds, over all runs.
    pub simulated_seconds: f64,
    /// Requests that may be in flight at once in the largest run: each
    /// open-loop group's peak rate times the longest a request can live
    /// (its timeouts, backoff ceilings and deadline; a concurrency limit
    /// caps it), closed-loop clients, and every place at the servers.
    pub peak_in_flight: f64,
    /// Bytes the client instances' own state takes in the largest run:
    /// each instance's budget, breaker and throttle
    /// ([`Population::bytes_per_client`](crate::retry::Population::bytes_per_client)),
    /// its concurrency limits' counters and its DNS answer.
    pub client_bytes: f64,
}

impl WorkEstimate {
    /// No work: what [`plus`](Self::plus) starts from.
    pub const ZERO: Self = Self {
        runs: 0,
        requests: 0.0,
        simulated_seconds: 0.0,
        peak_in_flight: 0.0,
        client_bytes: 0.0,
    };

    /// Requests above which a command asks for confirmation (`--yes`):
    /// about an hour of one core at the engine's speed, 3 million attempts
    /// a second, at amplification 1.
    pub const CONFIRM_ABOVE: f64 = 1e10;

    /// Memory above which a command asks for confirmation (`--yes`): 4 GiB
    /// of requests in flight in one run.
    pub const MEMORY_CONFIRM_ABOVE: f64 = 4.0 * (1u64 << 30) as f64;

    /// Bytes the engine holds per request in flight, measured: 50 s of
    /// requests parked in a 60 s backoff, 2.5 × 10^6 vs 10^7 of them, take
    /// 558 vs 1 551 MB peak RSS (132 bytes each, rounded up).
    pub const BYTES_PER_REQUEST: f64 = 150.0;

    /// The work of one run of `config`.
    pub fn of(config: &SimConfig) -> Self {
        let end = config.duration.0;
        let capacity: f64 = config
            .sites
            .iter()
            .flat_map(|s| &s.backends)
            .map(|b| {
                let mean = b.service.mean().as_secs_f64().max(1e-9);
                f64::from(b.count) * f64::from(b.slots) * b.speed / mean
            })
            .sum();
        let mut requests = 0.0;
        let places: f64 = config
            .sites
            .iter()
            .map(|s| {
                let servers: f64 = s
                    .backends
                    .iter()
                    .map(|b| f64::from(b.count) * (f64::from(b.slots) + f64::from(b.queue)))
                    .sum();
                servers + f64::from(s.accept_backlog)
            })
            .sum();
        let mut in_flight = places;
        let mut client_bytes = 0.0;
        let seconds = end as f64 / 1e9;
        for g in &config.clients {
            // No request outlives the run.
            let lifetime = lifetime(config, g).min(seconds);
            let instances = f64::from(g.instance_count());
            let policy = g.retry.resolve();
            // Each instance holds up to its own limit.
            let cap = policy
                .as_ref()
                .and_then(|p| p.limits.max_requests)
                .map_or(f64::INFINITY, |m| f64::from(m) * instances);
            if let Some(p) = policy {
                let limits = if p.limits.is_unlimited() {
                    0
                } else {
                    std::mem::size_of::<ClientLimits>()
                };
                let state = Population::new(p, 1).map_or(0, |p| p.bytes_per_client());
                // Each instance's DNS answer: (site, expiry).
                let dns = if config.router.dns_ttl.0 > 0 {
                    std::mem::size_of::<(u32, u64)>()
                } else {
                    0
                };
                client_bytes += instances * (state + limits + dns) as f64;
            }
            let group_in_flight = match &g.workload {
                Workload::Open { rate, curve } => {
                    let mut peak = RateCurve::new(*rate, curve).peak();
                    for t in &config.timeline {
                        if let Action::SetLoad { group, rate, curve } = &t.action
                            && *group == g.name
                        {
                            peak = peak.max(RateCurve::new(*rate, curve).peak());
                        }
                    }
                    (peak * lifetime).min(cap)
                }
                Workload::Closed { clients, .. } => f64::from(*clients),
            };
            let before = requests;
            requests += requests_of(config, g, 0, end, capacity);
            // Nor can more be in flight than are sent.
            in_flight += group_in_flight.min(requests - before);
        }
        Self {
            runs: 1,
            requests,
            simulated_seconds: end as f64 / 1e9,
            peak_in_flight: in_flight,
            client_bytes,
        }
    }

    /// The memory the largest run's requests in flight and client
    /// instances may take, bytes.
    pub fn memory_bytes(&self) -> f64 {
        self.peak_in_flight * Self::BYTES_PER_REQUEST + self.client_bytes
    }

    /// The work of `n` runs like this one.
    pub fn times(self, n: u64) -> Self {
        Self {
            runs: self.runs * n,
            requests: self.requests * n as f64,
            simulated_seconds: self.simulated_seconds * n as f64,
            peak_in_flight: self.peak_in_flight,
            client_bytes: self.client_bytes,
        }
    }

    /// Adds another estimate's work.
    pub fn plus(self, other: Self) -> Self {
        Self {
            runs: self.runs + other.runs,
            requests: self.requests + other.requests,
            simulated_seconds: self.simulated_seconds + other.simulated_seconds,
            peak_in_flight: self.peak_in_flight.max(other.peak_in_flight),
            client_bytes: self.client_bytes.max(other.client_bytes),
        }
    }

    /// Whether a command should ask before starting it.
    pub fn needs_confirmation(&self) -> bool {
        self.requests > Self::CONFIRM_ABOVE || self.memory_bytes() > Self::MEMORY_CONFIRM_ABOVE
    }
}

impl fmt::Display for WorkEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} run{}, about {} requests ({} attempts at amplification 1), {} simulated seconds, at most {} requests in flight per run (about {}",
            self.runs,
            if self.runs == 1 { "" } else { "s" },
            short(self.requests),
            short(self.requests),
            short(self.simulated_seconds),
            short(self.peak_in_flight),
            megabytes(self.memory_bytes())
        )?;
        if self.client_bytes >= 1e6 {
            write!(
                f,
                ", {} of it the client instances'",
                megabytes(self.client_bytes)
            )?;
        }
        f.write_str(")")
    }
}

/// The longest a request of group `g` can live, s: its attempts' timeouts
/// and the backoff ceilings between them, within its deadline (plus the
/// last attempt), under any policy the timeline gives the group.
fn lifetime(config: &SimConfig, g: &super::config::ClientGroup) -> f64 {
    let mut specs = vec![&g.retry];
    for t in &config.timeline {
        if let Action::SetRetry { group, retry } = &t.action
            && *group == g.name
        {
            specs.push(retry);
        }
    }
    specs
        .into_iter()
        .filter_map(|s| s.resolve())
        .map(|p| {
            let attempts = u64::from(p.max_attempts.max(1));
            let timeout = p.attempt_timeout.map_or(0.0, |t| t.as_secs_f64());
            // The ceilings grow to a cap within a few dozen retries.
            let exact = attempts.saturating_sub(1).min(64);
            let mut backoff: f64 = (0..exact as u32)
                .map(|n| p.backoff.ceiling(n).as_secs_f64())
                .sum();
            let rest = attempts.saturating_sub(1) - exact;
            backoff += rest as f64 * p.backoff.ceiling(64).as_secs_f64();
            let life = attempts as f64 * timeout + backoff;
            match p.deadline {
                Some(d) => life.min(d.as_secs_f64() + timeout),
                None => life,
            }
        })
        .fold(0.0, f64::max)
}

/// Bytes as people read them: `12 MB`, `1.3 GB`.
fn megabytes(bytes: f64) -> String {
    if bytes < 1e9 {
        format!("{:.0} MB", (bytes / 1e6).ceil())
    } else {
        format!("{:.1} GB", bytes / 1e9)
    }
}

/// A count as people read it: `12`, `3.4 thousand`, `5.1 million`, `2.0e12`.
fn short(x: f64) -> String {
    if x < 10.0 {
        format!("{}", (x * 1000.0).round() / 1000.0)
    } else if x < 1e3 {
        format!("{x:.0}")
    } else if x < 1e6 {
        format!("{:.1} thousand", x / 1e3)
    } else if x < 1e9 {
        format!("{:.1} million", x / 1e6)
    } else if x < 1e12 {
        format!("{:.1} billion", x / 1e9)
    } else {
        format!("{x:.1e}")
    }
}

/// The requests group `g` offers over [`from`, `to`) ns: open loop, ∫ rate
/// dt with the curve in effect (a `set-load` replaces it); closed loop, at
/// most one per think time per client, and at most `capacity` a second.
fn requests_of(
    config: &SimConfig,
    g: &super::config::ClientGroup,
    from: u64,
    to: u64,
    capacity: f64,
) -> f64 {
    match &g.workload {
        Workload::Open { rate, curve } => {
            let mut current = RateCurve::new(*rate, curve);
            let mut start = 0;
            let mut total = 0.0;
            for t in &config.timeline {
                if let Action::SetLoad { group, rate, curve } = &t.action
                    && *group == g.name
                    && t.at.0 < to
                {
                    total += integral(&current, start.max(from), t.at.0.max(from));
                    current = RateCurve::new(*rate, curve);
                    start = t.at.0;
                }
            }
            total + integral(&current, start.max(from), to)
        }
        Workload::Closed { clients, think } => {
            let per_client = 1.0 / think.as_secs_f64().max(1e-9);
            let rate = (f64::from(*clients) * per_client).min(capacity);
            rate * to.saturating_sub(from) as f64 / 1e9
        }
    }
}

/// An upper bound on the requests `config` offers from `from` ns to its
/// end: the expected count plus five standard deviations of its Poisson
/// noise and 5 %. A plan judging a run early uses it to know that the
/// losses so far already decide the run's verdict.
///
/// ```
/// use drainstorm::sim::{SimConfig, offered_after_bound};
///
/// let c = SimConfig::example(); // 500 requests/s for 30 s
/// let rest = offered_after_bound(&c, 20_000_000_000); // the last 10 s: 5 000 expected
/// assert!(rest > 5_000.0 && rest < 5_700.0);
/// ```
pub fn offered_after_bound(config: &SimConfig, from: u64) -> f64 {
    let expected: f64 = config
        .clients
        .iter()
        .map(|g| requests_of(config, g, from, config.duration.0, f64::INFINITY))
        .sum();
    expected * 1.05 + 5.0 * expected.sqrt() + 10.0
}

/// ∫ rate dt over [from, to) ns, in requests: exact for a piecewise-linear
/// curve (trapezoids between its breakpoints).
fn integral(curve: &RateCurve, from: u64, to: u64) -> f64 {
    if to <= from {
        return 0.0;
    }
    let mut cuts: Vec<u64> = vec![from];
    cuts.extend(
        curve
            .points
            .iter()
            .map(|&(at, _)| at)
            .filter(|&at| at > from && at < to),
    );
    cuts.push(to);
    cuts.windows(2)
        .map(|w| (curve.at(w[0]) + curve.at(w[1])) / 2.0 * (w[1] - w[0]) as f64 / 1e9)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::CurvePoint;
    use crate::time::{SimDuration, SimTime};

    #[test]
    fn an_open_curve_is_integrated_exactly() {
        let mut c = SimConfig::example();
        c.duration = SimDuration::from_secs(100);
        c.timeline.clear();
        c.clients.truncate(1);
        c.clients[0].workload = Workload::Open {
            rate: 10.0,
            curve: vec![
                CurvePoint {
                    at: SimTime(0),
                    factor: 1.0,
                },
                CurvePoint {
                    at: SimTime(50_000_000_000),
                    factor: 3.0,
                },
            ],
        };
        // 0–50 s: mean 20/s; 50–100 s: 30/s.
        assert!((WorkEstimate::of(&c).requests - 2500.0).abs() < 1e-6);
        c.timeline.push(crate::sim::TimedAction {
            at: SimTime(50_000_000_000),
            action: Action::SetLoad {
                group: c.clients[0].name.clone(),
                rate: 2.0,
                curve: Vec::new(),
            },
        });
        assert!((WorkEstimate::of(&c).requests - 1100.0).abs() < 1e-6);
    }

    #[test]
    fn the_documented_maximum_rate_asks_for_confirmation() {
        let mut c = SimConfig::example();
        c.duration = SimDuration::from_secs(3600);
        for g in &mut c.clients {
            g.workload = Workload::Open {
                rate: crate::sim::MAX_RATE,
                curve: Vec::new(),
            };
        }
        let e = WorkEstimate::of(&c);
        assert!(e.needs_confirmation());
        assert!(e.to_string().contains("360.0 billion requests"), "{e}");
        assert!(!WorkEstimate::of(&SimConfig::example()).needs_confirmation());
    }

    #[test]
    fn requests_parked_in_backoff_count_toward_memory() {
        use crate::retry::{Backoff, LimitsConfig, PolicyConfig};
        use crate::sim::RetrySpec;
        // 10^6 requests a second, each waiting 60 s before its retry, for
        // 50 s: 5 × 10^7 in flight at the end, about 7.5 GB.
        let mut c = SimConfig::example();
        c.duration = SimDuration::from_secs(50);
        c.timeline.clear();
        c.clients.truncate(1);
        c.clients[0].workload = Workload::Open {
            rate: 1e6,
            curve: Vec::new(),
        };
        let policy = PolicyConfig::new(Backoff::Constant(SimDuration::from_secs(60)), 2);
        c.clients[0].retry = RetrySpec::Config(Box::new(policy.clone()));
        let e = WorkEstimate::of(&c);
        assert!(e.peak_in_flight >= 5e7 && e.peak_in_flight < 5.1e7, "{e}");
        assert!(e.needs_confirmation(), "{e}");
        // A concurrency limit caps it, per instance: a million instances
        // (the default at this rate) of 1000 each do not bind, ten do.
        let limited = PolicyConfig {
            limits: LimitsConfig {
                max_requests: Some(1000),
                ..LimitsConfig::default()
            },
            ..policy
        };
        c.clients[0].retry = RetrySpec::Config(Box::new(limited));
        let e = WorkEstimate::of(&c);
        assert!(e.peak_in_flight >= 5e7, "{e}");
        c.clients[0].instances = Some(10);
        let e = WorkEstimate::of(&c);
        assert!(e.peak_in_flight < 1e5, "{e}");
        assert!(!e.needs_confirmation(), "{e}");
    }
}
