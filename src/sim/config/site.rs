//! A site's settings: its load balancer (balancer, admission, accept rate
//! and scaling) and its backend groups with their service times.

use serde::{Deserialize, Serialize};

use crate::balancer::{BalancerKind, KindParams};
use crate::sim::error::SimError;
use crate::time::SimDuration;

use super::MAX_RATE;
use super::autoscaling::Autoscaling;
use super::concurrency::AdaptiveConcurrency;
use super::discipline::QueueDiscipline;
use super::orca::Orca;
use super::outlier::OutlierDetection;
use super::validate::{check_params, finite_in};

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
    /// bounded-load ε, least-request choices and bias, Peak-EWMA decay and
    /// default latency); unset fields keep their defaults.
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
    /// Eject backends that answer with errors in a row (Envoy's outlier
    /// detection). `None`: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    /// Weigh backends by what they report: their answers, errors and
    /// utilisation (gRPC's weighted round robin over ORCA reports).
    /// `None`: the configured weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orca: Option<Orca>,
    /// Whether the site runs only as many of its backends as its load
    /// needs, adding them with a boot lag (a target-tracking autoscaler).
    /// `None`: every backend is in service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    /// Limit the attempts forwarded to the backends and not yet answered,
    /// learning the limit from their latency (Envoy's adaptive
    /// concurrency filter). `None`: no such limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive_concurrency: Option<AdaptiveConcurrency>,
    /// The network round trip between the clients and the site's load
    /// balancer: an attempt reaches the site half of it after it is sent,
    /// and the answer comes back the other half after the site gives it.
    /// Clients' timeouts and latencies include it, the router's health
    /// probes cross it too, and so does a client's cancellation (with
    /// `cancel_on_timeout`): it reaches the site half of it after the
    /// client gives up. The site answers every attempt, not knowing
    /// whether its client still waits; the router's load-aware balancer
    /// counts what its clients wait on
    /// ([`RouterConfig::balancer`](super::RouterConfig::balancer)). At most
    /// 10 s; default 0 (no network).
    #[serde(default, skip_serializing_if = "SimDuration::is_zero")]
    pub rtt: SimDuration,
    /// Groups of identical backends.
    pub backends: Vec<BackendGroup>,
}

/// The longest round trip a site may be away from its clients.
const MAX_RTT: SimDuration = SimDuration::from_secs(10);

pub(super) fn default_site_balancer() -> BalancerKind {
    BalancerKind::LeastConn
}

impl SiteConfig {
    /// A site named `name` with these backends and every other key as a
    /// profile leaves it: the router weight from its slots, least-conn, no
    /// in-flight or accept-rate limit, no backlog, no scaling.
    ///
    /// ```
    /// use drainstorm::sim::{BackendGroup, ServiceTime, SiteConfig};
    /// use drainstorm::time::SimDuration;
    ///
    /// let service = ServiceTime::Exponential { mean: SimDuration::from_millis(10) };
    /// let east = SiteConfig {
    ///     max_new_per_sec: Some(300.0),
    ///     ..SiteConfig::new("east", vec![BackendGroup::new(4, service)])
    /// };
    /// assert_eq!(east.router_weight(), 4);
    /// ```
    pub fn new(name: &str, backends: Vec<BackendGroup>) -> Self {
        Self {
            name: name.to_owned(),
            weight: None,
            balancer: default_site_balancer(),
            balancer_params: KindParams::default(),
            max_in_flight: None,
            max_new_per_sec: None,
            accept_backlog: 0,
            scaling: None,
            outlier_detection: None,
            orca: None,
            autoscaling: None,
            adaptive_concurrency: None,
            rtt: SimDuration::ZERO,
            backends,
        }
    }

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

pub(super) fn default_headroom() -> f64 {
    1.5
}

pub(super) fn default_growth() -> f64 {
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
    /// Requests each queues beyond its slots; over it, it rejects.
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
    /// The order queued requests are served in, and which are shed
    /// (default: FIFO, none).
    #[serde(default, skip_serializing_if = "QueueDiscipline::is_fifo")]
    pub discipline: QueueDiscipline,
}

impl BackendGroup {
    /// `count` backends with this service time and every other key as a
    /// profile leaves it: one slot each, no queue, speed 1, weight 1, no
    /// failures, named after the site.
    ///
    /// ```
    /// use drainstorm::sim::{BackendGroup, ServiceTime};
    /// use drainstorm::time::SimDuration;
    ///
    /// let mean = SimDuration::from_millis(10);
    /// let group = BackendGroup { queue: 20, ..BackendGroup::new(4, ServiceTime::Exponential { mean }) };
    /// assert_eq!((group.count, group.slots, group.weight), (4, 1, 1));
    /// ```
    pub fn new(count: u32, service: ServiceTime) -> Self {
        Self {
            name: None,
            count,
            slots: one(),
            queue: 0,
            service,
            speed: unit(),
            weight: one(),
            fail_probability: 0.0,
            discipline: QueueDiscipline::Fifo,
        }
    }
}

impl LbScaling {
    /// Scaling up to `max_per_sec` with the format's headroom (1.2) and
    /// growth (5 % a second).
    pub fn new(max_per_sec: f64) -> Self {
        Self {
            max_per_sec,
            headroom: default_headroom(),
            growth: default_growth(),
        }
    }
}

pub(super) fn one() -> u32 {
    1
}

pub(super) fn unit() -> f64 {
    1.0
}

/// A service-time distribution.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
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

impl SiteConfig {
    /// Checks the site's own settings and each of its backend groups;
    /// errors name the key under `path` (e.g. `sites[1]`). Limits across
    /// sites (names, totals) are [`SimConfig::validate`]'s.
    pub(crate) fn validate(&self, path: &str) -> Result<(), SimError> {
        if self.name.is_empty() {
            return Err(SimError::invalid(format!("{path}.name"), "\"\"", "a name"));
        }
        check_params(
            &format!("{path}.balancer_params"),
            self.balancer,
            &self.balancer_params,
        )?;
        if self.max_in_flight == Some(0) {
            return Err(SimError::invalid(
                format!("{path}.max_in_flight"),
                0,
                "at least 1, or absent for no limit",
            ));
        }
        if let Some(rate) = self.max_new_per_sec {
            finite_in(
                &format!("{path}.max_new_per_sec"),
                rate,
                1e-3,
                MAX_RATE,
                "in [0.001, 1e8], or absent for no limit",
            )?;
        }
        if let Some(sc) = &self.scaling {
            let Some(base) = self.max_new_per_sec else {
                return Err(SimError::invalid(
                    format!("{path}.scaling"),
                    "a table",
                    "only with max_new_per_sec set (the rate it starts from and never goes below)",
                ));
            };
            sc.validate(&format!("{path}.scaling"), base)?;
        }
        if let Some(od) = &self.outlier_detection {
            od.validate(&format!("{path}.outlier_detection"))?;
        }
        if let Some(o) = &self.orca {
            o.validate(&format!("{path}.orca"))?;
        }
        if let Some(a) = &self.adaptive_concurrency {
            a.validate(&format!("{path}.adaptive_concurrency"))?;
        }
        if let Some(a) = &self.autoscaling {
            a.validate(&format!("{path}.autoscaling"), self.backend_count())?;
        }
        if self.rtt > MAX_RTT {
            return Err(SimError::invalid(
                format!("{path}.rtt"),
                self.rtt,
                format!("at most {MAX_RTT}"),
            ));
        }
        if self.backends.is_empty() {
            return Err(SimError::invalid(
                format!("{path}.backends"),
                "[]",
                "at least one backend group",
            ));
        }
        let mut backends: u64 = 0;
        for (j, b) in self.backends.iter().enumerate() {
            let q = format!("{path}.backends[{j}]");
            b.validate(&q)?;
            if let Some(name) = &b.name
                && self.backends[..j]
                    .iter()
                    .any(|o| o.name.as_ref() == Some(name))
            {
                return Err(SimError::invalid(
                    format!("{q}.name"),
                    name,
                    "a name no other backend group of the site has",
                ));
            }
            backends += u64::from(b.count);
            if backends > crate::balancer::MAX_BACKENDS as u64 {
                return Err(SimError::invalid(
                    format!("{q}.count"),
                    b.count,
                    format!(
                        "small enough that the site has at most {} backends (a balancer's limit)",
                        crate::balancer::MAX_BACKENDS
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl LbScaling {
    /// Checks the scaling settings of a load balancer whose configured
    /// accept rate is `base`; errors name the key under `path`.
    pub(crate) fn validate(&self, path: &str, base: f64) -> Result<(), SimError> {
        finite_in(
            &format!("{path}.max_per_sec"),
            self.max_per_sec,
            base,
            MAX_RATE,
            "at least max_new_per_sec and at most 1e8",
        )?;
        finite_in(
            &format!("{path}.headroom"),
            self.headroom,
            1.0,
            100.0,
            "in [1, 100]",
        )?;
        finite_in(
            &format!("{path}.growth"),
            self.growth,
            1e-6,
            10.0,
            "in (0, 10]",
        )
    }
}

impl BackendGroup {
    /// Checks one backend group; errors name the key under `path` (e.g.
    /// `sites[1].backends[0]`).
    pub(crate) fn validate(&self, path: &str) -> Result<(), SimError> {
        if self.name.as_deref() == Some("") {
            return Err(SimError::invalid(format!("{path}.name"), "\"\"", "a name"));
        }
        if self.count == 0 {
            return Err(SimError::invalid(format!("{path}.count"), 0, "at least 1"));
        }
        if self.slots == 0 {
            return Err(SimError::invalid(format!("{path}.slots"), 0, "at least 1"));
        }
        finite_in(
            &format!("{path}.speed"),
            self.speed,
            1e-6,
            1e6,
            "in [1e-6, 1e6]",
        )?;
        finite_in(
            &format!("{path}.fail_probability"),
            self.fail_probability,
            0.0,
            1.0,
            "in [0, 1]",
        )?;
        self.discipline.validate(&format!("{path}.discipline"))?;
        self.service.validate(&format!("{path}.service"))
    }
}

impl ServiceTime {
    /// Checks the distribution's parameters; errors name the key under
    /// `path`.
    pub(crate) fn validate(&self, path: &str) -> Result<(), SimError> {
        let mean = self.mean();
        if mean == SimDuration::ZERO || mean > SimDuration::from_secs(24 * 3600) {
            return Err(SimError::invalid(
                format!("{path}.mean"),
                mean,
                "above 0 and at most 24h",
            ));
        }
        if let ServiceTime::LogNormal { sigma, .. } = self {
            finite_in(&format!("{path}.sigma"), *sigma, 0.0, 4.0, "in [0, 4]")?;
        }
        Ok(())
    }
}
