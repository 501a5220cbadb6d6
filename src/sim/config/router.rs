//! The router's settings: how a request picks a site, health checks.

use serde::{Deserialize, Serialize};

use crate::balancer::BalancerKind;
use crate::sim::error::SimError;
use crate::time::SimDuration;

use super::validate::finite_in;

/// The global routing layer (DNS / location service): how a request picks
/// a site.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    /// How the router answers: a balancer over the sites, or DNS-like
    /// weighted random answers (see [`RouterMode`]).
    #[serde(default)]
    pub mode: RouterMode,
    /// The balancer over sites in mode `balancer`; weights are the sites'
    /// `weight`. A balancer that reads load counts each site's attempts
    /// at its backends; once some site has an
    /// [`rtt`](super::SiteConfig::rtt), the router is on the clients'
    /// side of the network and counts instead the attempts its clients
    /// wait on, from the send to the answer heard (whose round trip a
    /// latency-aware balancer learns), the timeout or the abandon.
    #[serde(default = "default_router_balancer")]
    pub balancer: BalancerKind,
    /// How long a client instance keeps a site answer (each instance has
    /// its own cache, [`ClientGroup::instances`](super::ClientGroup::instances)):
    /// in mode `balancer` zero means every attempt asks the router; in
    /// mode `sticky` it must be above zero; not allowed in mode
    /// `weighted-random`.
    #[serde(default)]
    pub dns_ttl: SimDuration,
    /// Replaced by `clients[].instances`: each client instance keeps its
    /// own answer. A profile that still sets it is refused with a message
    /// that says so; leave it `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_buckets: Option<u32>,
    /// Active health checks of the sites; `None`: sites are never ejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckConfig>,
    /// Envoy's panic threshold: when fewer than this fraction of the sites
    /// with weight are healthy, route to all of them as if healthy. `0`
    /// disables it.
    #[serde(default)]
    pub panic_threshold: f64,
    /// A site whose router weight rises from 0 (restore, health checks
    /// returning it) or a backend whose weight rises from 0
    /// (`set-backend-weights`) ramps its weight up linearly over this
    /// window, in ten steps, as Envoy's `slow_start_window`. Zero: at once.
    #[serde(default)]
    pub slow_start: SimDuration,
    /// How long a change of the site weights the router publishes (a
    /// drain or a ramp's step, health checks ejecting or returning a
    /// site, the panic threshold, slow start) takes to reach the clients'
    /// answers: an authoritative DNS server's propagation, or a control
    /// plane's push. Until then attempts are routed by the weights
    /// published before; the report's router weights are the router's
    /// own, at once. Zero (the default): at once. At most 1 h.
    #[serde(default, skip_serializing_if = "SimDuration::is_zero")]
    pub propagation: SimDuration,
}

/// How the global router answers (see the [`router`](crate::sim::router)
/// module for the model).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RouterMode {
    /// The router's `balancer` picks a site for each attempt (or for each
    /// client instance once per `dns_ttl`): the smooth answers of a global
    /// load balancer.
    #[default]
    Balancer,
    /// A fresh weighted random draw for every attempt: DNS answers that
    /// resolvers and clients pick from at random, with no caching.
    WeightedRandom,
    /// Each client instance keeps its weighted random draw for `dns_ttl`,
    /// then draws again: DNS with a TTL.
    Sticky,
    /// Each client instance lives in a site's zone (drawn by the sites'
    /// configured weights) and every attempt stays in it while the zone
    /// holds at least its clients' share of the healthy capacity;
    /// otherwise the shortfall spills to the other zones by their room
    /// beyond their own clients' share (Envoy's zone-aware routing).
    ZoneAware,
}

impl RouterMode {
    /// The mode's name, as written in a profile.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Balancer => "balancer",
            Self::WeightedRandom => "weighted-random",
            Self::Sticky => "sticky",
            Self::ZoneAware => "zone-aware",
        }
    }
}

pub(super) fn default_router_balancer() -> BalancerKind {
    BalancerKind::SmoothWrr
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            balancer: default_router_balancer(),
            mode: RouterMode::Balancer,
            dns_ttl: SimDuration::ZERO,
            ttl_buckets: None,
            health_check: None,
            panic_threshold: 0.0,
            slow_start: SimDuration::ZERO,
            propagation: SimDuration::ZERO,
        }
    }
}

/// Active health checking of sites by the router.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// Time between probes of one site.
    pub interval: SimDuration,
    /// A probe not answered within this fails.
    pub timeout: SimDuration,
    /// Consecutive failures that eject a site from rotation.
    #[serde(default = "default_fall")]
    pub fall: u32,
    /// Consecutive successes that return it.
    #[serde(default = "default_rise")]
    pub rise: u32,
}

impl HealthCheckConfig {
    /// A probe every `interval`, failing after `timeout`, with the
    /// format's fall (3) and rise (2).
    pub fn new(interval: SimDuration, timeout: SimDuration) -> Self {
        Self {
            interval,
            timeout,
            fall: default_fall(),
            rise: default_rise(),
        }
    }
}

pub(super) fn default_fall() -> u32 {
    3
}

pub(super) fn default_rise() -> u32 {
    2
}

impl RouterConfig {
    /// Checks the router's settings; errors name the key under `router`.
    pub(crate) fn validate(&self) -> Result<(), SimError> {
        match self.mode {
            RouterMode::WeightedRandom if self.dns_ttl > SimDuration::ZERO => {
                return Err(SimError::invalid(
                    "router.dns_ttl",
                    self.dns_ttl,
                    "0s with mode \"weighted-random\" (every attempt draws afresh; mode \"sticky\" keeps answers for a TTL)",
                ));
            }
            RouterMode::ZoneAware if self.dns_ttl > SimDuration::ZERO => {
                return Err(SimError::invalid(
                    "router.dns_ttl",
                    self.dns_ttl,
                    "0s with mode \"zone-aware\" (every attempt is routed afresh)",
                ));
            }
            RouterMode::Sticky if self.dns_ttl == SimDuration::ZERO => {
                return Err(SimError::invalid(
                    "router.dns_ttl",
                    self.dns_ttl,
                    "above 0s with mode \"sticky\" (how long a client keeps its answer)",
                ));
            }
            _ => {}
        }
        if let Some(n) = self.ttl_buckets {
            return Err(SimError::invalid(
                "router.ttl_buckets",
                n,
                format!(
                    "no `ttl_buckets` at all: it was replaced by `clients[].instances`, each client instance keeping its own DNS answer (write `instances = {n}` in each client group for {n} caches)"
                ),
            ));
        }
        if self.propagation > SimDuration::from_secs(3600) {
            return Err(SimError::invalid(
                "router.propagation",
                self.propagation,
                "in [0s, 1h] (how long a change of the router's weights takes to reach the clients)",
            ));
        }
        finite_in(
            "router.panic_threshold",
            self.panic_threshold,
            0.0,
            1.0,
            "in [0, 1]",
        )?;
        match &self.health_check {
            Some(h) => h.validate("router.health_check"),
            None => Ok(()),
        }
    }
}

impl HealthCheckConfig {
    /// Checks the probes' settings; errors name the key under `path`.
    pub(crate) fn validate(&self, path: &str) -> Result<(), SimError> {
        if self.interval < SimDuration::from_millis(1) {
            return Err(SimError::invalid(
                format!("{path}.interval"),
                self.interval,
                "at least 1ms",
            ));
        }
        if self.timeout == SimDuration::ZERO {
            return Err(SimError::invalid(
                format!("{path}.timeout"),
                "0s",
                "above 0",
            ));
        }
        for (name, v) in [("fall", self.fall), ("rise", self.rise)] {
            if v == 0 || v > 1000 {
                return Err(SimError::invalid(
                    format!("{path}.{name}"),
                    v,
                    "in [1, 1000]",
                ));
            }
        }
        Ok(())
    }
}
