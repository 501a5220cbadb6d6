//! The simulator's configuration: plain data, serde-readable, validated by
//! [`SimConfig::validate`] (which [`Simulation::new`](super::Simulation::new)
//! calls).

use serde::{Deserialize, Serialize};

use super::action::TimedAction;
use super::error::SimError;
use crate::balancer::{Backend, BalancerKind, KindParams};
use crate::retry::{Policy, PolicyConfig, SimDuration, SimTime};

/// Largest number of sites.
pub const MAX_SITES: usize = 1024;
/// Largest number of backends over all sites.
pub const MAX_BACKENDS_TOTAL: u64 = 1 << 20;
/// Largest number of slots plus queue places over all backends: the bound
/// on attempts held by servers, hence on the simulator's memory.
pub const MAX_SERVER_PLACES: u64 = 1 << 26;
/// Largest open-loop rate a group may reach, in requests per simulated
/// second.
pub const MAX_RATE: f64 = 1e8;
/// Largest number of closed-loop clients in a group.
pub const MAX_CLIENTS: u32 = 1 << 24;
/// Largest number of recorder intervals in one run.
pub const MAX_INTERVALS: u64 = 1 << 22;

/// Everything a [`Simulation`](super::Simulation) is built from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Seed of every random stream of the run.
    #[serde(default)]
    pub seed: u64,
    /// Simulated time [`Simulation::run`](super::Simulation::run) stops at.
    pub duration: SimDuration,
    /// The sites (datacenters) and what runs in them.
    pub sites: Vec<SiteConfig>,
    /// Who sends requests.
    pub clients: Vec<ClientGroup>,
    /// How requests choose a site.
    #[serde(default)]
    pub router: RouterConfig,
    /// Whether a client's timeout cancels its attempt at the server (drops
    /// it from the queue, or aborts it in service). Off by default: real
    /// servers keep working on abandoned requests, which is what lets a
    /// storm outlive its trigger.
    #[serde(default)]
    pub cancel_on_timeout: bool,
    /// Recorder and verdict settings.
    #[serde(default)]
    pub recorder: RecorderConfig,
    /// Scheduled changes (drains, restores, weight changes…), in time order.
    #[serde(default)]
    pub timeline: Vec<TimedAction>,
}

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
    /// `weight`.
    #[serde(default = "default_router_balancer")]
    pub balancer: BalancerKind,
    /// How long a client keeps a site answer: per key bucket in mode
    /// `balancer` (zero: every attempt asks the router), per client or key
    /// bucket in mode `sticky` (above zero), not allowed in mode
    /// `weighted-random`.
    #[serde(default)]
    pub dns_ttl: SimDuration,
    /// Key buckets per open-loop client group that cache an answer
    /// independently (a resolver's population each).
    #[serde(default = "default_ttl_buckets")]
    pub ttl_buckets: u32,
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
}

/// How the global router answers (see the [`router`](super::router)
/// module for the model).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouterMode {
    /// The router's `balancer` picks a site for each attempt (or for each
    /// key bucket once per `dns_ttl`): the smooth answers of a global load
    /// balancer.
    #[default]
    Balancer,
    /// A fresh weighted random draw for every attempt: DNS answers that
    /// resolvers and clients pick from at random, with no caching.
    WeightedRandom,
    /// Each closed-loop client, or each key bucket of an open-loop group,
    /// keeps its weighted random draw for `dns_ttl`, then draws again: DNS
    /// with a TTL.
    Sticky,
}

impl RouterMode {
    /// The mode's name, as written in a profile.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Balancer => "balancer",
            Self::WeightedRandom => "weighted-random",
            Self::Sticky => "sticky",
        }
    }
}

fn default_router_balancer() -> BalancerKind {
    BalancerKind::SmoothWrr
}

fn default_ttl_buckets() -> u32 {
    64
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            balancer: default_router_balancer(),
            mode: RouterMode::Balancer,
            dns_ttl: SimDuration::ZERO,
            ttl_buckets: default_ttl_buckets(),
            health_check: None,
            panic_threshold: 0.0,
            slow_start: SimDuration::ZERO,
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

fn default_fall() -> u32 {
    3
}

fn default_rise() -> u32 {
    2
}

/// One site: its load balancer and its backends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// Unique name, used by timeline actions and reports.
    pub name: String,
    /// Weight in the router (its share of traffic); 0 starts drained.
    /// Default: the site's total backend slots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// The balancer the site's load balancer picks backends with.
    #[serde(default = "default_site_balancer")]
    pub balancer: BalancerKind,
    /// Parameters of the balancer (ring points, Maglev table size,
    /// bounded-load ε); unset fields keep their defaults.
    #[serde(default)]
    pub balancer_params: KindParams,
    /// Most attempts the load balancer holds at once (proxied and not yet
    /// answered); over it, it rejects at once. `None`: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
    /// Most new attempts the load balancer accepts per second (with
    /// 100 ms of burst). `None`: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_new_per_sec: Option<f64>,
    /// Attempts that may wait in the load balancer's accept backlog when
    /// they come faster than `max_new_per_sec`; beyond it they are
    /// rejected. Waiting counts against the client's timeout, and an
    /// accepted attempt is forwarded even if its client has given up:
    /// a load balancer that accepts "not in a timely manner".
    #[serde(default)]
    pub accept_backlog: u32,
    /// Whether the accept rate (`max_new_per_sec`) follows demand, as a
    /// cloud load balancer scales its capacity: with lag. `None`: fixed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<LbScaling>,
    /// Groups of identical backends.
    pub backends: Vec<BackendGroup>,
}

fn default_site_balancer() -> BalancerKind {
    BalancerKind::LeastConn
}

impl SiteConfig {
    /// The router weight: `weight`, or the site's total slots.
    pub fn router_weight(&self) -> u32 {
        self.weight.unwrap_or_else(|| {
            let slots: u64 = self
                .backends
                .iter()
                .map(|b| u64::from(b.count) * u64::from(b.slots))
                .sum();
            slots.clamp(1, u64::from(u32::MAX)) as u32
        })
    }

    /// Backends in the site.
    pub fn backend_count(&self) -> u64 {
        self.backends.iter().map(|b| u64::from(b.count)).sum()
    }

    /// The hash key of each backend, in the site's order: what the
    /// hashing balancers (ring, Maglev, bounded load) place it by.
    ///
    /// A backend's identity is `site/position` (its position in the site,
    /// from 0) or, in a named group, `name-j` (its index in the group),
    /// hashed with [`key_of`](crate::balancer::key_of). Identities differ
    /// between sites, so two sites with the same number of backends get
    /// independent layouts: a hot key's retry sent to another site lands
    /// on a backend chosen afresh, as with real proxies that hash their
    /// backends' addresses.
    ///
    /// ```
    /// use drainstorm::sim::SimConfig;
    ///
    /// let config = SimConfig::example();
    /// let (east, west) = (&config.sites[0], &config.sites[1]);
    /// assert_ne!(east.backend_hash_keys()[0], west.backend_hash_keys()[0]);
    /// ```
    pub fn backend_hash_keys(&self) -> Vec<u64> {
        let mut keys = Vec::new();
        for g in &self.backends {
            for j in 0..g.count {
                let identity = match &g.name {
                    Some(name) => format!("{name}-{j}"),
                    None => format!("{}/{}", self.name, keys.len()),
                };
                keys.push(crate::balancer::key_of(identity.as_bytes()));
            }
        }
        keys
    }
}

/// How a site load balancer's accept rate follows demand.
///
/// Once per second the load balancer sets a target of `headroom` × the new
/// attempts it was offered in the last second (admitted or not), clamped
/// to [`max_new_per_sec`](SiteConfig::max_new_per_sec), `max_per_sec`],
/// and moves its accept rate toward the target by at most `growth` × the
/// current rate. A sudden shift of traffic therefore meets a load balancer
/// sized for the old traffic for a while: the reason a drain is ramped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LbScaling {
    /// Largest accept rate, new attempts per second.
    pub max_per_sec: f64,
    /// Capacity kept above the observed demand (≥ 1).
    #[serde(default = "default_headroom")]
    pub headroom: f64,
    /// Largest change per second, as a fraction of the current rate
    /// (0, 10].
    #[serde(default = "default_growth")]
    pub growth: f64,
}

fn default_headroom() -> f64 {
    1.5
}

fn default_growth() -> f64 {
    0.05
}

/// `count` identical backends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendGroup {
    /// The group's name, from which its backends' identities are derived
    /// (backend *j* of the group is `name-j`; see
    /// [`SiteConfig::backend_hash_keys`]). `None`: the site's name and the
    /// backend's position in the site. Give two sites' groups the same
    /// name to model one backend pool behind both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How many (≥ 1).
    #[serde(default = "one")]
    pub count: u32,
    /// Requests each serves at once (≥ 1).
    #[serde(default = "one")]
    pub slots: u32,
    /// Requests each queues beyond its slots (FIFO); over it, it rejects.
    #[serde(default)]
    pub queue: u32,
    /// Service time of one request at speed 1.
    pub service: ServiceTime,
    /// Service rate multiplier (> 0): service time is divided by it.
    #[serde(default = "unit")]
    pub speed: f64,
    /// Weight in the site's balancer (0: drained).
    #[serde(default = "one")]
    pub weight: u32,
    /// Probability that a served request fails (answers an error after its
    /// service time), in [0, 1].
    #[serde(default)]
    pub fail_probability: f64,
}

fn one() -> u32 {
    1
}

fn unit() -> f64 {
    1.0
}

/// A service-time distribution.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ServiceTime {
    /// Exponential with this mean (memoryless: an M/M/c server).
    Exponential {
        /// Mean.
        mean: SimDuration,
    },
    /// Always this long (an M/D/c server).
    Deterministic {
        /// The service time.
        value: SimDuration,
    },
    /// Log-normal with this mean and shape σ (the standard deviation of the
    /// logarithm): the long tail of real services.
    LogNormal {
        /// Mean.
        mean: SimDuration,
        /// σ of ln(service time), in [0, 4].
        sigma: f64,
    },
}

impl ServiceTime {
    /// The mean service time.
    pub fn mean(&self) -> SimDuration {
        match *self {
            Self::Exponential { mean } | Self::LogNormal { mean, .. } => mean,
            Self::Deterministic { value } => value,
        }
    }
}

/// A population of clients sharing a workload, a key distribution and a
/// retry policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientGroup {
    /// Unique name.
    pub name: String,
    /// How requests arrive.
    pub workload: Workload,
    /// Request keys (what hashing balancers route by).
    #[serde(default)]
    pub keys: KeyDist,
    /// The group's retry policy.
    pub retry: RetrySpec,
}

/// A retry policy: a preset by name, or explicit parameters.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RetrySpec {
    /// One of [`Policy::PRESETS`].
    Preset(String),
    /// Explicit parameters.
    Config(Box<PolicyConfig>),
}

impl<'de> Deserialize<'de> for RetrySpec {
    /// A string is a policy's name; a table, its parameters (whose errors
    /// name the parameter, as an untagged enum's would not).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Spec;
        impl<'de> serde::de::Visitor<'de> for Spec {
            type Value = RetrySpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a policy's name (a preset or a [policies] table) or a policy table")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RetrySpec, E> {
                Ok(RetrySpec::Preset(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RetrySpec, A::Error> {
                PolicyConfig::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|c| RetrySpec::Config(Box::new(c)))
            }
        }
        d.deserialize_any(Spec)
    }
}

impl RetrySpec {
    /// The resolved parameters, or `None` for an unknown preset.
    pub fn resolve(&self) -> Option<PolicyConfig> {
        match self {
            Self::Preset(name) => Policy::preset_named(name).map(|p| p.config().clone()),
            Self::Config(c) => Some((**c).clone()),
        }
    }
}

/// How a group's requests arrive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Workload {
    /// Poisson arrivals at `rate` per second, times the load curve: open
    /// loop, so arrivals do not slow down when the service does.
    Open {
        /// Requests per second at factor 1.
        rate: f64,
        /// Piecewise-linear factor over time; empty: constant 1.
        #[serde(default)]
        curve: Vec<CurvePoint>,
    },
    /// `clients` clients, each waiting an exponential think time between
    /// the end of one request and the start of the next: closed loop.
    Closed {
        /// Number of clients.
        clients: u32,
        /// Mean think time.
        think: SimDuration,
    },
}

/// A point of a load curve: the rate factor at a time. Between points the
/// factor is linear; before the first and after the last it is constant.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurvePoint {
    /// When.
    pub at: SimTime,
    /// Rate factor (≥ 0).
    pub factor: f64,
}

/// The distribution of request keys.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "kebab-case", deny_unknown_fields)]
pub enum KeyDist {
    /// Uniform over `count` keys.
    Uniform {
        /// Number of distinct keys (≥ 1).
        count: u64,
    },
    /// Zipf over `count` keys with this exponent: a few hot keys.
    Zipf {
        /// Number of distinct keys (≥ 1).
        count: u64,
        /// Exponent s (> 0; 1 is classic Zipf).
        exponent: f64,
    },
}

impl Default for KeyDist {
    fn default() -> Self {
        Self::Uniform { count: 1 << 32 }
    }
}

/// Recorder, summary and verdict settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecorderConfig {
    /// Length of one series interval.
    #[serde(default = "default_interval")]
    pub interval: SimDuration,
    /// An interval is *collapsed* when goodput is below this fraction of
    /// the offered load.
    #[serde(default = "default_collapse_ratio")]
    pub collapse_ratio: f64,
    /// A collapse counts when it lasts at least this long.
    #[serde(default = "default_collapse_min")]
    pub collapse_min: SimDuration,
    /// The end of the trigger (e.g. when the drained site is restored);
    /// `None`: the last timeline action, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_end: Option<SimTime>,
    /// A run not yet *recovered* this long after the trigger ended is
    /// *metastable* (see [`verdict`](super::verdict)).
    #[serde(default = "default_metastable_after")]
    pub metastable_after: SimDuration,
    /// Recovered: goodput at least this fraction of the offered load over
    /// a [`recovery_window`](Self::recovery_window), in (0, 1]. Default
    /// 0.95.
    #[serde(default = "default_recovered_fraction")]
    pub recovered_fraction: f64,
    /// Recovered: amplification (attempts ÷ offered requests) at most this
    /// over a [`recovery_window`](Self::recovery_window), in [1, 100].
    /// Default 1.1.
    #[serde(default = "default_recovered_amplification")]
    pub recovered_amplification: f64,
    /// The window over which recovery is judged (at least one interval).
    /// `None`: 10 s, or one interval if that is longer (see
    /// [`window`](Self::window)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_window: Option<SimDuration>,
    /// Lost goodput (fraction of offered requests that never succeeded)
    /// above which a run without collapse is *degraded* rather than
    /// *absorbed*.
    #[serde(default = "default_degraded_loss")]
    pub degraded_loss: f64,
    /// Ignore the first part of the run (warm-up) in the verdict and the
    /// summary's percentages.
    #[serde(default)]
    pub warm_up: SimDuration,
}

fn default_interval() -> SimDuration {
    SimDuration::from_secs(1)
}
fn default_collapse_ratio() -> f64 {
    0.5
}
fn default_collapse_min() -> SimDuration {
    SimDuration::from_secs(5)
}
fn default_metastable_after() -> SimDuration {
    SimDuration::from_secs(60)
}
fn default_degraded_loss() -> f64 {
    0.01
}
fn default_recovered_fraction() -> f64 {
    0.95
}
fn default_recovered_amplification() -> f64 {
    1.1
}

impl RecorderConfig {
    /// The window over which recovery is judged: `recovery_window`, or
    /// 10 s, or one interval if that is longer.
    pub fn window(&self) -> SimDuration {
        self.recovery_window
            .unwrap_or(SimDuration::from_secs(10).max(self.interval))
    }

    /// The verdict rule in one sentence, with this configuration's
    /// thresholds: what reports print under their tables.
    ///
    /// ```
    /// use drainstorm::sim::RecorderConfig;
    ///
    /// let rule = RecorderConfig::default().rule();
    /// assert!(rule.contains("the first 10s window with goodput ≥ 95% of offered"), "{rule}");
    /// assert!(rule.contains("not recovered 1m after"), "{rule}");
    /// ```
    pub fn rule(&self) -> String {
        format!(
            "recovered: from the trigger's end, the first {} window with goodput ≥ {}% of offered and amplification ≤ {}; \
             metastable: not recovered {} after the trigger's end; \
             collapsed: goodput < {}% of offered for ≥ {}; \
             degraded: more than {}% of requests lost",
            self.window(),
            self.recovered_fraction * 100.0,
            self.recovered_amplification,
            self.metastable_after,
            self.collapse_ratio * 100.0,
            self.collapse_min,
            self.degraded_loss * 100.0,
        )
    }
}

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            interval: default_interval(),
            collapse_ratio: default_collapse_ratio(),
            collapse_min: default_collapse_min(),
            trigger_end: None,
            metastable_after: default_metastable_after(),
            degraded_loss: default_degraded_loss(),
            recovered_fraction: default_recovered_fraction(),
            recovered_amplification: default_recovered_amplification(),
            recovery_window: None,
            warm_up: SimDuration::ZERO,
        }
    }
}

fn finite_in(path: &str, v: f64, lo: f64, hi: f64, allowed: &str) -> Result<(), SimError> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(SimError::invalid(path, v, allowed))
    }
}

impl SimConfig {
    /// Checks every value against its allowed range and every reference
    /// against what exists. The error names the key path (e.g.
    /// `sites[1].backends[0].slots`), the value and what is allowed.
    pub fn validate(&self) -> Result<(), SimError> {
        if self.duration == SimDuration::ZERO {
            return Err(SimError::invalid("duration", "0s", "above 0"));
        }
        let r = &self.recorder;
        if r.interval < SimDuration::from_millis(1) {
            return Err(SimError::invalid(
                "recorder.interval",
                r.interval,
                "at least 1ms",
            ));
        }
        if self.duration.0 / r.interval.0 >= MAX_INTERVALS {
            return Err(SimError::invalid(
                "recorder.interval",
                r.interval,
                format!(
                    "long enough that duration / interval < {MAX_INTERVALS} (the series would not fit in memory)"
                ),
            ));
        }
        finite_in(
            "recorder.collapse_ratio",
            r.collapse_ratio,
            0.0,
            1.0,
            "in [0, 1]",
        )?;
        if !(r.recovered_fraction > 0.0 && r.recovered_fraction <= 1.0) {
            return Err(SimError::invalid(
                "recorder.recovered_fraction",
                r.recovered_fraction,
                "in (0, 1]",
            ));
        }
        finite_in(
            "recorder.recovered_amplification",
            r.recovered_amplification,
            1.0,
            100.0,
            "in [1, 100]",
        )?;
        if let Some(w) = r.recovery_window
            && w < r.interval
        {
            return Err(SimError::invalid(
                "recorder.recovery_window",
                w,
                format!("at least one interval ({})", r.interval),
            ));
        }
        finite_in(
            "recorder.degraded_loss",
            r.degraded_loss,
            0.0,
            1.0,
            "in [0, 1]",
        )?;
        if self.sites.is_empty() {
            return Err(SimError::invalid("sites", "[]", "at least one site"));
        }
        if self.sites.len() > MAX_SITES {
            return Err(SimError::invalid(
                "sites",
                self.sites.len(),
                format!("at most {MAX_SITES} sites"),
            ));
        }
        let mut backends_total = 0u64;
        let mut places_total = 0u64;
        for (i, site) in self.sites.iter().enumerate() {
            let p = format!("sites[{i}]");
            if site.name.is_empty() {
                return Err(SimError::invalid(format!("{p}.name"), "\"\"", "a name"));
            }
            if self.sites[..i].iter().any(|s| s.name == site.name) {
                return Err(SimError::invalid(
                    format!("{p}.name"),
                    &site.name,
                    "a name no other site has",
                ));
            }
            check_params(
                &format!("{p}.balancer_params"),
                site.balancer,
                &site.balancer_params,
            )?;
            if site.max_in_flight == Some(0) {
                return Err(SimError::invalid(
                    format!("{p}.max_in_flight"),
                    0,
                    "at least 1, or absent for no limit",
                ));
            }
            if let Some(rate) = site.max_new_per_sec {
                finite_in(
                    &format!("{p}.max_new_per_sec"),
                    rate,
                    1e-3,
                    MAX_RATE,
                    "in [0.001, 1e8], or absent for no limit",
                )?;
            }
            if let Some(sc) = &site.scaling {
                let Some(base) = site.max_new_per_sec else {
                    return Err(SimError::invalid(
                        format!("{p}.scaling"),
                        "a table",
                        "only with max_new_per_sec set (the rate it starts from and never goes below)",
                    ));
                };
                finite_in(
                    &format!("{p}.scaling.max_per_sec"),
                    sc.max_per_sec,
                    base,
                    MAX_RATE,
                    "at least max_new_per_sec and at most 1e8",
                )?;
                finite_in(
                    &format!("{p}.scaling.headroom"),
                    sc.headroom,
                    1.0,
                    100.0,
                    "in [1, 100]",
                )?;
                finite_in(
                    &format!("{p}.scaling.growth"),
                    sc.growth,
                    1e-6,
                    10.0,
                    "in (0, 10]",
                )?;
            }
            if site.backends.is_empty() {
                return Err(SimError::invalid(
                    format!("{p}.backends"),
                    "[]",
                    "at least one backend group",
                ));
            }
            let mut site_backends: u64 = 0;
            for (j, b) in site.backends.iter().enumerate() {
                let q = format!("{p}.backends[{j}]");
                if let Some(name) = &b.name {
                    if name.is_empty() {
                        return Err(SimError::invalid(format!("{q}.name"), "\"\"", "a name"));
                    }
                    if site.backends[..j]
                        .iter()
                        .any(|o| o.name.as_ref() == Some(name))
                    {
                        return Err(SimError::invalid(
                            format!("{q}.name"),
                            name,
                            "a name no other backend group of the site has",
                        ));
                    }
                }
                if b.count == 0 {
                    return Err(SimError::invalid(format!("{q}.count"), 0, "at least 1"));
                }
                if b.slots == 0 {
                    return Err(SimError::invalid(format!("{q}.slots"), 0, "at least 1"));
                }
                finite_in(&format!("{q}.speed"), b.speed, 1e-6, 1e6, "in [1e-6, 1e6]")?;
                finite_in(
                    &format!("{q}.fail_probability"),
                    b.fail_probability,
                    0.0,
                    1.0,
                    "in [0, 1]",
                )?;
                validate_service(&format!("{q}.service"), &b.service)?;
                site_backends += u64::from(b.count);
                if site_backends > crate::balancer::MAX_BACKENDS as u64 {
                    return Err(SimError::invalid(
                        format!("{q}.count"),
                        b.count,
                        format!(
                            "small enough that the site has at most {} backends (a balancer's limit)",
                            crate::balancer::MAX_BACKENDS
                        ),
                    ));
                }
                backends_total += u64::from(b.count);
                places_total += u64::from(b.count) * (u64::from(b.slots) + u64::from(b.queue));
                if backends_total > MAX_BACKENDS_TOTAL {
                    return Err(SimError::invalid(
                        format!("{q}.count"),
                        b.count,
                        format!(
                            "small enough that all sites together have at most {MAX_BACKENDS_TOTAL} backends (they would not fit in memory)"
                        ),
                    ));
                }
                if places_total > MAX_SERVER_PLACES {
                    return Err(SimError::invalid(
                        format!("{q}.queue"),
                        b.queue,
                        format!(
                            "small enough that count × (slots + queue) over all backends stays at most {MAX_SERVER_PLACES} (it would not fit in memory)"
                        ),
                    ));
                }
            }
        }
        if self.clients.is_empty() {
            return Err(SimError::invalid("clients", "[]", "at least one group"));
        }
        for (i, g) in self.clients.iter().enumerate() {
            let p = format!("clients[{i}]");
            if self.clients[..i].iter().any(|o| o.name == g.name) {
                return Err(SimError::invalid(
                    format!("{p}.name"),
                    &g.name,
                    "a name no other group has",
                ));
            }
            match &g.workload {
                Workload::Open { rate, curve } => {
                    finite_in(
                        &format!("{p}.workload.rate"),
                        *rate,
                        0.0,
                        MAX_RATE,
                        "in [0, 1e8] requests per second",
                    )?;
                    validate_curve(&format!("{p}.workload.curve"), *rate, curve)?;
                }
                Workload::Closed { clients, think } => {
                    if *clients == 0 || *clients > MAX_CLIENTS {
                        return Err(SimError::invalid(
                            format!("{p}.workload.clients"),
                            clients,
                            format!("in [1, {MAX_CLIENTS}]"),
                        ));
                    }
                    if *think == SimDuration::ZERO {
                        return Err(SimError::invalid(
                            format!("{p}.workload.think"),
                            "0s",
                            "above 0",
                        ));
                    }
                }
            }
            match g.keys {
                KeyDist::Uniform { count } | KeyDist::Zipf { count, .. } if count == 0 => {
                    return Err(SimError::invalid(
                        format!("{p}.keys.count"),
                        0,
                        "at least 1",
                    ));
                }
                KeyDist::Zipf { exponent, .. } => finite_in(
                    &format!("{p}.keys.exponent"),
                    exponent,
                    1e-3,
                    100.0,
                    "in [0.001, 100]",
                )?,
                KeyDist::Uniform { .. } => {}
            }
            let config = g.retry.resolve().ok_or_else(|| {
                SimError::invalid(
                    format!("{p}.retry"),
                    format!("{:?}", g.retry),
                    format!("a preset ({}) or a table", Policy::PRESETS.join(", ")),
                )
            })?;
            Policy::new(config).map_err(|e| {
                SimError::invalid(
                    format!("{p}.retry.{}", e.name),
                    &e.value,
                    e.allowed.to_string(),
                )
            })?;
        }
        let rt = &self.router;
        match rt.mode {
            RouterMode::WeightedRandom if rt.dns_ttl > SimDuration::ZERO => {
                return Err(SimError::invalid(
                    "router.dns_ttl",
                    rt.dns_ttl,
                    "0s with mode \"weighted-random\" (every attempt draws afresh; mode \"sticky\" keeps answers for a TTL)",
                ));
            }
            RouterMode::Sticky if rt.dns_ttl == SimDuration::ZERO => {
                return Err(SimError::invalid(
                    "router.dns_ttl",
                    rt.dns_ttl,
                    "above 0s with mode \"sticky\" (how long a client keeps its answer)",
                ));
            }
            _ => {}
        }
        if rt.ttl_buckets == 0 || rt.ttl_buckets > 1 << 16 {
            return Err(SimError::invalid(
                "router.ttl_buckets",
                rt.ttl_buckets,
                "in [1, 65536]",
            ));
        }
        finite_in(
            "router.panic_threshold",
            rt.panic_threshold,
            0.0,
            1.0,
            "in [0, 1]",
        )?;
        if let Some(h) = &rt.health_check {
            if h.interval < SimDuration::from_millis(1) {
                return Err(SimError::invalid(
                    "router.health_check.interval",
                    h.interval,
                    "at least 1ms",
                ));
            }
            if h.timeout == SimDuration::ZERO {
                return Err(SimError::invalid(
                    "router.health_check.timeout",
                    "0s",
                    "above 0",
                ));
            }
            for (name, v) in [("fall", h.fall), ("rise", h.rise)] {
                if v == 0 || v > 1000 {
                    return Err(SimError::invalid(
                        format!("router.health_check.{name}"),
                        v,
                        "in [1, 1000]",
                    ));
                }
            }
        }
        let mut last = SimTime::ZERO;
        for (i, t) in self.timeline.iter().enumerate() {
            if t.at < last {
                return Err(SimError::invalid(
                    format!("timeline[{i}].at"),
                    t.at,
                    format!("at or after the previous action ({last})"),
                ));
            }
            last = t.at;
            t.action
                .validate(self)
                .map_err(|e| e.within(&format!("timeline[{i}]")))?;
        }
        Ok(())
    }

    /// A small scenario for examples and tests: two sites of four
    /// single-slot backends (exponential service, mean 10 ms) under 500
    /// requests per second with the `envoy` retry preset, for 30 simulated
    /// seconds.
    pub fn example() -> SimConfig {
        let site = |name: &str| SiteConfig {
            name: name.into(),
            weight: None,
            balancer: BalancerKind::LeastConn,
            balancer_params: KindParams::default(),
            max_in_flight: Some(64),
            max_new_per_sec: None,
            accept_backlog: 0,
            scaling: None,
            backends: vec![BackendGroup {
                name: None,
                count: 4,
                slots: 1,
                queue: 16,
                service: ServiceTime::Exponential {
                    mean: SimDuration::from_millis(10),
                },
                speed: 1.0,
                weight: 1,
                fail_probability: 0.0,
            }],
        };
        SimConfig {
            seed: 1,
            duration: SimDuration::from_secs(30),
            sites: vec![site("east"), site("west")],
            clients: vec![ClientGroup {
                name: "web".into(),
                workload: Workload::Open {
                    rate: 500.0,
                    curve: Vec::new(),
                },
                keys: KeyDist::default(),
                retry: RetrySpec::Preset("envoy".into()),
            }],
            router: RouterConfig::default(),
            cancel_on_timeout: false,
            recorder: RecorderConfig::default(),
            timeline: Vec::new(),
        }
    }

    /// The index of the site with this name.
    pub fn site_index(&self, name: &str) -> Option<usize> {
        self.sites.iter().position(|s| s.name == name)
    }

    /// The index of the client group with this name.
    pub fn group_index(&self, name: &str) -> Option<usize> {
        self.clients.iter().position(|g| g.name == name)
    }

    /// When the trigger ends for the verdict: `recorder.trigger_end`, else
    /// the time of the last timeline action, else `None`.
    pub fn trigger_end(&self) -> Option<SimTime> {
        self.recorder
            .trigger_end
            .or_else(|| self.timeline.last().map(|t| t.at))
    }
}

/// Checks balancer parameters by building the kind over one backend.
pub(crate) fn check_params(
    path: &str,
    kind: BalancerKind,
    params: &KindParams,
) -> Result<(), SimError> {
    match kind.build_with(&[Backend::new(0, 1)], 0, params) {
        Ok(_) => Ok(()),
        Err(crate::balancer::BalancerError::InvalidParameter {
            name,
            value,
            allowed,
        }) => Err(SimError::invalid(format!("{path}.{name}"), value, allowed)),
        Err(e) => Err(SimError::invalid(
            path,
            format!("{params:?}"),
            e.to_string(),
        )),
    }
}

pub(crate) fn validate_service(path: &str, s: &ServiceTime) -> Result<(), SimError> {
    let mean = s.mean();
    if mean == SimDuration::ZERO || mean > SimDuration::from_secs(24 * 3600) {
        return Err(SimError::invalid(
            format!("{path}.mean"),
            mean,
            "above 0 and at most 24h",
        ));
    }
    if let ServiceTime::LogNormal { sigma, .. } = s {
        finite_in(&format!("{path}.sigma"), *sigma, 0.0, 4.0, "in [0, 4]")?;
    }
    Ok(())
}

pub(crate) fn validate_curve(path: &str, rate: f64, curve: &[CurvePoint]) -> Result<(), SimError> {
    let mut last = None;
    for (k, pt) in curve.iter().enumerate() {
        finite_in(
            &format!("{path}[{k}].factor"),
            pt.factor,
            0.0,
            MAX_RATE,
            "finite and ≥ 0",
        )?;
        if rate * pt.factor > MAX_RATE {
            return Err(SimError::invalid(
                format!("{path}[{k}].factor"),
                pt.factor,
                format!("small enough that rate × factor ≤ {MAX_RATE}"),
            ));
        }
        if last.is_some_and(|l| pt.at <= l) {
            return Err(SimError::invalid(
                format!("{path}[{k}].at"),
                pt.at,
                "later than the previous point",
            ));
        }
        last = Some(pt.at);
    }
    Ok(())
}
