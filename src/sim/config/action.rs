//! Changes to a running simulation: the scenario timeline, and what a host
//! injects through [`Simulation::inject`](crate::sim::Simulation::inject).

use serde::{Deserialize, Serialize};

use super::{CurvePoint, RetrySpec, SimConfig, validate_curve};
use crate::balancer::{BalancerKind, KindParams};
use crate::retry::{Policy, SimDuration, SimTime};
use crate::sim::error::SimError;

/// An [`Action`] at a simulated time.
///
/// In a profile: `{ at = "10m", action = "drain", site = "dc-east" }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimedAction {
    /// When it applies.
    pub at: SimTime,
    /// What changes.
    #[serde(flatten)]
    pub action: Action,
}

impl TimedAction {
    /// `action` at `at`.
    pub fn new(at: SimTime, action: Action) -> Self {
        Self { at, action }
    }
}

/// A change to the scenario. Sites and groups are named as in the
/// configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Action {
    /// Take a site out of rotation: its router weight goes to 0, at once or
    /// linearly over `ramp`. Its load balancer keeps serving what clients
    /// still send it (cached DNS answers, requests in flight).
    Drain {
        /// The site.
        site: String,
        /// Ramp duration; zero: abrupt.
        #[serde(default)]
        ramp: SimDuration,
    },
    /// Drain a site step by step while the other sites stay healthy, as
    /// Facebook's Maelstrom paces drains by health feedback: every
    /// `every`, if the sites still in rotation are within every limit set
    /// over the last `window` — their busiest site's backend utilisation,
    /// their load balancers' rejection rate, the clients' attempt timeout
    /// rate — the site's router weight goes down by `step` of its weight;
    /// otherwise it holds (or, with `back_off`, goes back up a step). It
    /// ends when the weight reaches 0; a `drain`, `restore` or
    /// `set-site-weight` of the site stops it. Signals are read from whole
    /// recorder intervals.
    ///
    /// In a profile: `{ at = "45m", action = "paced-drain", site = "cys",
    /// step = 0.1, every = "1m", max_utilisation = 0.85 }`.
    PacedDrain {
        /// The site.
        site: String,
        /// The share of the site's weight removed per step, in (0, 1].
        #[serde(default = "tenth")]
        step: f64,
        /// Time between steps.
        #[serde(default = "minute")]
        every: SimDuration,
        /// The span the health signals are read over; zero: `every`.
        #[serde(default)]
        window: SimDuration,
        /// Most backend utilisation of any site still in rotation, in
        /// (0, 1].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_utilisation: Option<f64>,
        /// Most share of attempts the sites still in rotation reject (load
        /// balancer and backend queue), in [0, 1].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_reject_rate: Option<f64>,
        /// Most share of attempts that time out, in [0, 1].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_timeout_rate: Option<f64>,
        /// Over a limit, give back a step of weight instead of holding.
        #[serde(default)]
        back_off: bool,
    },
    /// Put a site back at its configured weight, at once or over `ramp`
    /// (the router's slow start applies when `ramp` is zero).
    Restore {
        /// The site.
        site: String,
        /// Ramp duration; zero: abrupt.
        #[serde(default)]
        ramp: SimDuration,
        /// Service times are multiplied by this factor for `cold_for` after
        /// the restore (cold caches); 1 means no penalty.
        #[serde(default = "unit")]
        cold_factor: f64,
        /// How long the cold-start penalty lasts.
        #[serde(default)]
        cold_for: SimDuration,
    },
    /// Set a site's router weight (and the weight a later restore returns
    /// to), at once or over `ramp`.
    SetSiteWeight {
        /// The site.
        site: String,
        /// The new weight.
        weight: u32,
        /// Ramp duration; zero: at once.
        #[serde(default)]
        ramp: SimDuration,
    },
    /// Set the weights of a site's backends in its balancer, in the order
    /// the configuration lists them (0 drains a backend).
    SetBackendWeights {
        /// The site.
        site: String,
        /// One weight per backend.
        weights: Vec<u32>,
    },
    /// Replace a site's balancer, or its parameters (in-flight counts
    /// carry over).
    SetBalancer {
        /// The site.
        site: String,
        /// The new balancer.
        balancer: BalancerKind,
        /// Its parameters; unset fields keep their defaults.
        #[serde(default)]
        params: KindParams,
    },
    /// Make backends of a site fail a fraction of what they serve (1: every
    /// request; 0: recover). `backends` lists indices in configuration
    /// order; absent: every backend of the site.
    SetBackendFailure {
        /// The site.
        site: String,
        /// Which backends; absent: all.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backends: Option<Vec<u32>>,
        /// Failure probability in [0, 1].
        fail_probability: f64,
    },
    /// Set a site's load-balancer accept rate (`max_new_per_sec`) from now
    /// on, as an operator scaling its load balancers by hand: the rate
    /// becomes this value at once and is the new floor of its scaling
    /// (whose ceiling rises to it if lower).
    SetAcceptRate {
        /// The site.
        site: String,
        /// New attempts per second, in [0.001, 1e8].
        max_new_per_sec: f64,
    },
    /// Replace an open-loop group's rate and load curve from now on.
    SetLoad {
        /// The client group.
        group: String,
        /// Requests per second at factor 1.
        rate: f64,
        /// The new curve (absolute times); empty: constant.
        #[serde(default)]
        curve: Vec<CurvePoint>,
    },
    /// Replace a group's retry policy (budgets and breakers start afresh;
    /// requests in flight finish under the new policy, except that a
    /// hedged request keeps its own hedging).
    SetRetry {
        /// The client group.
        group: String,
        /// The new policy.
        retry: RetrySpec,
    },
    /// Restart a site's load balancer with its configuration: what it
    /// accumulated is cleared — its accept backlog emptied (each attempt
    /// waiting there is rejected at once: its client sees a failure, as
    /// from a reset connection), its rate limiter without debt, and its
    /// accept rate back from wherever scaling moved it to the rate last
    /// configured (the profile's `max_new_per_sec`, or the latest
    /// `set-accept-rate`: an operator's fix stays).
    ResetLoadBalancer {
        /// The site.
        site: String,
    },
    /// Turn cancellation of abandoned work on or off from now on (the
    /// profile's `cancel_on_timeout`). Turning it on also cancels, at once,
    /// every attempt whose client has already stopped waiting for it —
    /// queued or in service at a backend — as a server that learns to drop
    /// work nobody waits for.
    SetCancelOnTimeout {
        /// Whether a client's timeout cancels its attempt.
        cancel: bool,
    },
    /// Stop the router's active health checks: every ejected site returns
    /// to rotation at the weight its drains and ramps set (through slow
    /// start), and no site is ejected again. Without health checks in the
    /// profile it changes nothing.
    StopHealthChecks,
    /// Every client instance's cached DNS answer expires now: the next
    /// attempt of each asks the router afresh. Without a `dns_ttl` it
    /// changes nothing.
    FlushDns,
}

fn unit() -> f64 {
    1.0
}

fn tenth() -> f64 {
    0.1
}

fn minute() -> SimDuration {
    SimDuration::from_secs(60)
}

impl Action {
    /// The site the action names, if any.
    pub fn site(&self) -> Option<&str> {
        match self {
            Self::Drain { site, .. }
            | Self::PacedDrain { site, .. }
            | Self::Restore { site, .. }
            | Self::SetSiteWeight { site, .. }
            | Self::SetBackendWeights { site, .. }
            | Self::SetBalancer { site, .. }
            | Self::SetBackendFailure { site, .. }
            | Self::SetAcceptRate { site, .. }
            | Self::ResetLoadBalancer { site } => Some(site),
            Self::SetLoad { .. }
            | Self::SetRetry { .. }
            | Self::SetCancelOnTimeout { .. }
            | Self::StopHealthChecks
            | Self::FlushDns => None,
        }
    }

    /// Checks the action against a configuration: named sites and groups
    /// exist, numbers are in range.
    pub fn validate(&self, config: &SimConfig) -> Result<(), SimError> {
        if let Some(site) = self.site() {
            let Some(i) = config.site_index(site) else {
                let names: Vec<&str> = config.sites.iter().map(|s| s.name.as_str()).collect();
                return Err(SimError::invalid(
                    "site",
                    site,
                    format!("one of the sites: {}", names.join(", ")),
                ));
            };
            let backends = config.sites[i].backend_count();
            match self {
                Self::SetBackendWeights { weights, .. } if weights.len() as u64 != backends => {
                    return Err(SimError::invalid(
                        "weights",
                        format!("{} weights", weights.len()),
                        format!("one weight per backend of `{site}` ({backends})"),
                    ));
                }
                Self::SetBackendFailure {
                    backends: Some(list),
                    fail_probability,
                    ..
                } => {
                    if let Some(b) = list.iter().find(|&&b| u64::from(b) >= backends) {
                        return Err(SimError::invalid(
                            "backends",
                            b,
                            format!("backend indices below {backends}"),
                        ));
                    }
                    check_probability(*fail_probability)?;
                }
                Self::SetBackendFailure {
                    fail_probability, ..
                } => check_probability(*fail_probability)?,
                Self::SetBalancer {
                    balancer, params, ..
                } => super::check_params("params", *balancer, params)?,
                Self::SetAcceptRate {
                    max_new_per_sec, ..
                } if !(max_new_per_sec.is_finite()
                    && (1e-3..=super::MAX_RATE).contains(max_new_per_sec)) =>
                {
                    return Err(SimError::invalid(
                        "max_new_per_sec",
                        max_new_per_sec,
                        "in [0.001, 1e8]",
                    ));
                }
                Self::PacedDrain {
                    step,
                    every,
                    max_utilisation,
                    max_reject_rate,
                    max_timeout_rate,
                    ..
                } => {
                    if !(step.is_finite() && *step > 0.0 && *step <= 1.0) {
                        return Err(SimError::invalid("step", step, "in (0, 1]"));
                    }
                    // Each step is an event with its own checks: a bound on
                    // the pace bounds the events a run holds (under 470 000
                    // over 13 hours).
                    if every.0 < 100_000_000 {
                        return Err(SimError::invalid(
                            "every",
                            every,
                            "at least 100ms (a step at most ten times a second)",
                        ));
                    }
                    if let Some(u) = max_utilisation
                        && !(u.is_finite() && *u > 0.0 && *u <= 1.0)
                    {
                        return Err(SimError::invalid("max_utilisation", u, "in (0, 1]"));
                    }
                    for (name, r) in [
                        ("max_reject_rate", max_reject_rate),
                        ("max_timeout_rate", max_timeout_rate),
                    ] {
                        if let Some(r) = r
                            && !(r.is_finite() && (0.0..=1.0).contains(r))
                        {
                            return Err(SimError::invalid(name, r, "in [0, 1]"));
                        }
                    }
                    if max_utilisation.is_none()
                        && max_reject_rate.is_none()
                        && max_timeout_rate.is_none()
                    {
                        return Err(SimError::invalid(
                            "action",
                            "`paced-drain` without a limit",
                            "at least one of max_utilisation, max_reject_rate, max_timeout_rate (without a limit, write a `drain` with a `ramp`)",
                        ));
                    }
                }
                Self::Restore { cold_factor, .. }
                    if !(cold_factor.is_finite() && (1.0..=1000.0).contains(cold_factor)) =>
                {
                    return Err(SimError::invalid(
                        "cold_factor",
                        cold_factor,
                        "in [1, 1000]",
                    ));
                }
                _ => {}
            }
            return Ok(());
        }
        let (Self::SetLoad { group, .. } | Self::SetRetry { group, .. }) = self else {
            return Ok(());
        };
        let Some(g) = config.group_index(group) else {
            let names: Vec<&str> = config.clients.iter().map(|g| g.name.as_str()).collect();
            return Err(SimError::invalid(
                "group",
                group,
                format!("one of the client groups: {}", names.join(", ")),
            ));
        };
        match self {
            Self::SetLoad { rate, curve, .. } => {
                if !matches!(config.clients[g].workload, super::Workload::Open { .. }) {
                    return Err(SimError::invalid(
                        "group",
                        group,
                        "an open-loop group (closed-loop groups have no rate)",
                    ));
                }
                if !(rate.is_finite() && (0.0..=super::MAX_RATE).contains(rate)) {
                    return Err(SimError::invalid("rate", rate, "in [0, 1e8]"));
                }
                validate_curve("curve", *rate, curve)
            }
            Self::SetRetry { retry, .. } => {
                let config = retry.resolve().ok_or_else(|| {
                    SimError::invalid(
                        "retry",
                        format!("{retry:?}"),
                        format!("a preset ({}) or a table", Policy::PRESETS.join(", ")),
                    )
                })?;
                Policy::new(config).map(|_| ()).map_err(|e| {
                    SimError::invalid(format!("retry.{}", e.name), &e.value, e.allowed)
                })
            }
            _ => Ok(()),
        }
    }
}

fn check_probability(p: f64) -> Result<(), SimError> {
    if p.is_finite() && (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(SimError::invalid("fail_probability", p, "in [0, 1]"))
    }
}
