//! A client group: its retry policy (the built-in one called directly,
//! plugged-in ones through their trait objects), its instances' limits,
//! its arrival source, its lanes of arrivals and attempt deadlines, its
//! key sampler and its instances' DNS caches — built from its
//! [`ClientGroup`] configuration. Part of the clients (`clients.rs`),
//! which hold every group.

use std::collections::VecDeque;

use super::*;
use crate::retry::{
    ClientLimits, Decision, Outcome, Population, Refusal, RequestState, RetryPolicy, SimTime,
};
use crate::sim::arrivals::{ArrivalSource, KeySampler, RateCurve};
use crate::sim::config::{ClientGroup, Workload};
use crate::sim::random::{draw, of_group};

/// A group's retry policy: the built-in one, a state per instance, is
/// called directly (and its calls inlined); plugged-in ones through their
/// trait objects, one per instance or one for the whole group.
pub(super) enum GroupPolicy {
    Builtin(Box<Population>),
    Custom(Vec<Box<dyn RetryPolicy>>),
}

impl GroupPolicy {
    /// The plugged-in policy of `instance`.
    #[inline]
    fn custom(v: &mut [Box<dyn RetryPolicy>], instance: u32) -> &mut dyn RetryPolicy {
        let k = if v.len() == 1 { 0 } else { instance as usize };
        &mut *v[k]
    }

    #[inline]
    pub(super) fn admit(
        &mut self,
        instance: u32,
        now: SimTime,
        rng: &mut dyn rand::RngCore,
    ) -> Result<(), Refusal> {
        match self {
            Self::Builtin(p) => p.admit(instance as usize, now, rng),
            Self::Custom(v) => Self::custom(v, instance).admit(now, rng),
        }
    }

    #[inline]
    pub(super) fn begin(&mut self, instance: u32, now: SimTime) -> RequestState {
        match self {
            Self::Builtin(p) => p.begin(instance as usize, now),
            Self::Custom(v) => Self::custom(v, instance).begin(now),
        }
    }

    #[inline]
    pub(super) fn on_outcome(
        &mut self,
        instance: u32,
        now: SimTime,
        request: &mut RequestState,
        outcome: Outcome,
        rng: &mut dyn rand::RngCore,
    ) -> Decision {
        match self {
            Self::Builtin(p) => p.on_outcome(instance as usize, now, request, outcome, rng),
            Self::Custom(v) => Self::custom(v, instance).on_outcome(now, request, outcome, rng),
        }
    }

    /// Every instance's deadline is the same function of the request.
    #[inline]
    pub(super) fn attempt_deadline(&self, now: SimTime, request: &RequestState) -> Option<SimTime> {
        match self {
            Self::Builtin(p) => p.attempt_deadline(now, request),
            Self::Custom(v) => v[0].attempt_deadline(now, request),
        }
    }
}

/// A client group: its policy, limits, arrivals and lanes.
pub(super) struct Group {
    pub(super) policy: GroupPolicy,
    /// Independent client instances (see `ClientGroup::instances`).
    pub(super) instances: u32,
    /// Closed-loop clients (0 for an open-loop group): client `c` is
    /// instance `c × instances / clients`.
    pub(super) clients: u32,
    /// Each instance's concurrency limits and what it holds against them;
    /// one shared entry when the policy sets no limit (an unlimited
    /// counter never refuses, so sharing it changes nothing).
    pub(super) limits: Vec<ClientLimits>,
    /// Whether its policy sets any limit (its instances' counts are then
    /// read: over a network, its attempts are counted pending from their
    /// send until the client hears that the site took them).
    pub(super) limited: bool,
    /// Whether the limits include an adaptive one (attempts then record
    /// when they were sent, for its round trips).
    pub(super) adaptive: bool,
    /// Its policy's hedging: (most attempts, delay in ns); `None`: it
    /// retries instead.
    pub(super) hedge: Option<(u32, u64)>,
    pub(super) source: Option<ArrivalSource>,
    /// The next arrival's (time, sequence): arrivals are a lane of their
    /// own, outside the queue.
    pub(super) next_arrival: Option<(u64, u64)>,
    /// Attempt deadlines in non-decreasing time order: (time, sequence,
    /// request, token). Most are stale by the time they come up (the
    /// attempt ended); skipping one costs a pop, not a queue operation.
    pub(super) timeouts: VecDeque<(u64, u64, RequestSlot, u32)>,
    pub(super) think: u64,
    pub(super) keys: KeySampler,
    pub(super) next_seq: u64,
    /// Each instance's DNS cache: (site, expiry); empty without a TTL.
    pub(super) dns: Vec<(SiteId, u64)>,
}

/// Where a plugged-in policy's state lives.
pub(super) enum PolicySource {
    /// One policy for every instance of the group.
    Shared(Box<dyn RetryPolicy>),
    /// A policy per instance, made by the host.
    PerInstance(Box<dyn FnMut(u32) -> Box<dyn RetryPolicy>>),
}

impl Group {
    /// Client group `index` of the configuration, `config`, with its
    /// arrivals drawn from `seeds.0` and its instances' adaptive limits
    /// from `seeds.1`, under `custom` policies (a
    /// host's) or its configured one; `dns`: whether its instances keep
    /// the router's answers (a TTL above zero).
    pub(super) fn build(
        index: usize,
        config: &ClientGroup,
        custom: Option<PolicySource>,
        (arrivals_seed, limits_seed): (u64, u64),
        dns: bool,
    ) -> Self {
        let instances = config.instance_count();
        let resolved = config.retry.resolve().expect("validated");
        // A host's policy replaces the configured one, hedging included.
        let custom_policy = custom.is_some();
        let policy = match custom {
            Some(PolicySource::Shared(p)) => GroupPolicy::Custom(vec![p]),
            Some(PolicySource::PerInstance(mut make)) => {
                GroupPolicy::Custom((0..instances).map(&mut make).collect())
            }
            None => GroupPolicy::Builtin(Box::new(
                Population::new(resolved.clone(), instances).expect("validated"),
            )),
        };
        let (source, think) = match &config.workload {
            Workload::Open { rate, curve } => (
                Some(ArrivalSource::new(
                    arrivals_seed,
                    index,
                    RateCurve::new(*rate, curve),
                )),
                0,
            ),
            Workload::Closed { think, .. } => (None, think.0),
        };
        // Each instance keeps its own answer (when answers are kept).
        let dns_entries = if dns { instances as usize } else { 0 };
        let limits = if resolved.limits.is_unlimited() {
            vec![ClientLimits::new(resolved.limits)]
        } else {
            (0..instances)
                .map(|k| {
                    let seed = draw(limits_seed, of_group(index as u64, u64::from(k)), 0);
                    ClientLimits::seeded(resolved.limits, seed)
                })
                .collect()
        };
        Group {
            policy,
            instances,
            clients: match config.workload {
                Workload::Closed { clients, .. } => clients,
                Workload::Open { .. } => 0,
            },
            limits,
            limited: !resolved.limits.is_unlimited(),
            adaptive: resolved.limits.adaptive.is_some(),
            hedge: match custom_policy {
                true => None,
                false => resolved.hedging.map(|h| (resolved.max_attempts, h.delay.0)),
            },
            source,
            next_arrival: None,
            timeouts: VecDeque::new(),
            think,
            keys: KeySampler::new(config.keys),
            next_seq: 0,
            dns: vec![(SiteId::NONE, 0); dns_entries],
        }
    }

    /// Instance `instance`'s limits.
    #[inline]
    pub(super) fn limits(&mut self, instance: u32) -> &mut ClientLimits {
        let k = if self.limits.len() == 1 {
            0
        } else {
            instance as usize
        };
        &mut self.limits[k]
    }
}
