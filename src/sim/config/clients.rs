//! Client groups: their workload (open or closed loop, load curve), keys
//! and retry policy.

use serde::{Deserialize, Serialize};

use crate::retry::{MAX_POPULATION, Policy, PolicyConfig, SimDuration, SimTime};
use crate::sim::error::SimError;

use super::validate::finite_in;
use super::{MAX_CLIENTS, MAX_RATE};

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
    /// How many independent client instances (processes) the group is:
    /// each has its own retry state (budget, breaker, throttle and the
    /// policy's concurrency limits) and its own DNS cache. An open-loop
    /// request comes from an instance drawn at random (so each instance is
    /// a Poisson stream of `rate / instances`); closed-loop client `c` of
    /// `clients` belongs to instance `c × instances / clients`. Absent:
    /// see [`instance_count`](Self::instance_count). From 1 to 2^24.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<u32>,
}

impl ClientGroup {
    /// Requests per second at the peak: an open-loop group's `rate` times
    /// the largest factor of its curve; a closed-loop group's best case,
    /// one request per client per think time.
    ///
    /// ```
    /// let c = drainstorm::sim::SimConfig::example();
    /// assert_eq!(c.clients[0].peak_rate(), 500.0);
    /// ```
    pub fn peak_rate(&self) -> f64 {
        match &self.workload {
            Workload::Open { rate, curve } => {
                rate * curve
                    .iter()
                    .map(|p| p.factor)
                    .fold(if curve.is_empty() { 1.0 } else { 0.0 }, f64::max)
            }
            Workload::Closed { clients, think } => {
                f64::from(*clients) / think.as_secs_f64().max(1e-3)
            }
        }
    }
}

impl ClientGroup {
    /// A group named `name` with this workload and retry policy, its keys
    /// uniform and its instances the format's default (see
    /// [`instance_count`](Self::instance_count)).
    ///
    /// ```
    /// use drainstorm::sim::{ClientGroup, RetrySpec, Workload};
    ///
    /// let web = ClientGroup::new("web", Workload::open(300.0), RetrySpec::Preset("grpc".into()));
    /// assert_eq!(web.instance_count(), 300);
    /// ```
    pub fn new(name: &str, workload: Workload, retry: RetrySpec) -> Self {
        Self {
            name: name.to_owned(),
            workload,
            keys: KeyDist::default(),
            retry,
            instances: None,
        }
    }
}

impl Workload {
    /// Poisson arrivals at `rate` a second, no load curve.
    pub fn open(rate: f64) -> Self {
        Workload::Open {
            rate,
            curve: Vec::new(),
        }
    }
}

/// The most instances a group gets without setting `instances`.
pub const DEFAULT_INSTANCES_MAX: u32 = 1_000_000;

impl ClientGroup {
    /// The group's instances: [`instances`](Self::instances), else one per
    /// closed-loop client, else one per request a second of an open-loop
    /// group's `rate` (rounded up; from 1 to [`DEFAULT_INSTANCES_MAX`]).
    ///
    /// The default keeps each instance's share of the load the same
    /// whatever the group's size, so that a group ten times larger is ten
    /// times as many clients like these, not clients ten times as busy:
    /// the condition for a model whose answers settle as its size grows.
    /// Set `instances` from what the real population is (how many
    /// processes, each with its own budget and resolver cache).
    ///
    /// ```
    /// use drainstorm::sim::SimConfig;
    ///
    /// let mut c = SimConfig::example(); // 500 requests/s
    /// assert_eq!(c.clients[0].instance_count(), 500);
    /// c.clients[0].instances = Some(4);
    /// assert_eq!(c.clients[0].instance_count(), 4);
    /// ```
    pub fn instance_count(&self) -> u32 {
        self.instances.unwrap_or(match self.workload {
            Workload::Closed { clients, .. } => clients,
            Workload::Open { rate, .. } => {
                let n = rate.ceil();
                if n.is_finite() && n >= 1.0 {
                    n.min(f64::from(DEFAULT_INSTANCES_MAX)) as u32
                } else {
                    1
                }
            }
        })
    }
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
#[non_exhaustive]
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
#[non_exhaustive]
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

impl ClientGroup {
    /// Checks the group's workload, keys, instances and retry policy;
    /// errors name the key under `path` (e.g. `clients[0]`). Unique names
    /// are [`SimConfig::validate`](super::SimConfig::validate)'s.
    pub(crate) fn validate(&self, path: &str) -> Result<(), SimError> {
        match &self.workload {
            Workload::Open { rate, curve } => {
                finite_in(
                    &format!("{path}.workload.rate"),
                    *rate,
                    0.0,
                    MAX_RATE,
                    "in [0, 1e8] requests per second",
                )?;
                validate_curve(&format!("{path}.workload.curve"), *rate, curve)?;
            }
            Workload::Closed { clients, think } => {
                if *clients == 0 || *clients > MAX_CLIENTS {
                    return Err(SimError::invalid(
                        format!("{path}.workload.clients"),
                        clients,
                        format!("in [1, {MAX_CLIENTS}]"),
                    ));
                }
                if *think == SimDuration::ZERO {
                    return Err(SimError::invalid(
                        format!("{path}.workload.think"),
                        "0s",
                        "above 0",
                    ));
                }
            }
        }
        match self.keys {
            KeyDist::Uniform { count } | KeyDist::Zipf { count, .. } if count == 0 => {
                return Err(SimError::invalid(
                    format!("{path}.keys.count"),
                    0,
                    "at least 1",
                ));
            }
            KeyDist::Zipf { exponent, .. } => finite_in(
                &format!("{path}.keys.exponent"),
                exponent,
                1e-3,
                100.0,
                "in [0.001, 100]",
            )?,
            KeyDist::Uniform { .. } => {}
        }
        if let Some(n) = self.instances
            && !(1..=MAX_POPULATION).contains(&n)
        {
            return Err(SimError::invalid(
                format!("{path}.instances"),
                n,
                format!("in [1, {MAX_POPULATION}] independent clients"),
            ));
        }
        let config = self.retry.resolve().ok_or_else(|| {
            SimError::invalid(
                format!("{path}.retry"),
                format!("{:?}", self.retry),
                format!("a preset ({}) or a table", Policy::PRESETS.join(", ")),
            )
        })?;
        Policy::new(config).map_err(|e| {
            SimError::invalid(
                format!("{path}.retry.{}", e.name),
                &e.value,
                e.allowed.to_string(),
            )
        })?;
        Ok(())
    }
}

/// Checks a load curve's points (`path` names it, e.g.
/// `clients[0].workload.curve`) for a workload of `rate` requests per
/// second.
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
