//! Building a simulation: validation, the per-purpose random streams,
//! sites and their balancers, the router, client groups, and the first
//! events (arrivals, closed-loop clients, probes, scaling, the timeline).

use std::collections::VecDeque;

use super::*;
use crate::balancer::Balancer;
use crate::retry::RetryPolicy;
use crate::sim::config::TimedAction;
use crate::sim::config::{SimConfig, Workload};
use crate::sim::error::SimError;
use crate::sim::random::{Stream, draw, mix, of_group, stream_seed, unit_open};

/// Builds a [`Simulation`], optionally with your own balancers and retry
/// policies in place of the configured ones.
pub struct SimulationBuilder {
    pub(super) config: SimConfig,
    pub(super) balancers: Vec<(String, Box<dyn Balancer>)>,
    pub(super) policies: Vec<(String, PolicySource)>,
}

impl SimulationBuilder {
    /// Uses `balancer` for site `site` instead of the configured kind. The
    /// simulator replaces its backend set with the site's backends (ids
    /// `0..n` in configuration order) before the run.
    pub fn balancer(mut self, site: &str, balancer: Box<dyn Balancer>) -> Self {
        self.balancers.push((site.to_owned(), balancer));
        self
    }

    /// Uses `policy` for client group `group` instead of the configured
    /// one: one policy, and so one state, for all of the group's
    /// instances. See [`client_policies`](Self::client_policies) for a
    /// state per instance.
    pub fn policy(mut self, group: &str, policy: Box<dyn RetryPolicy>) -> Self {
        self.policies
            .push((group.to_owned(), PolicySource::Shared(policy)));
        self
    }

    /// Uses a policy of your own per instance of client group `group`:
    /// `make(i)` builds instance `i`'s, for `i` in `0..instances`, when the
    /// simulation is built.
    ///
    /// ```
    /// use drainstorm::retry::{Policy, RetryPolicy};
    /// use drainstorm::sim::{SimConfig, Simulation};
    ///
    /// let mut config = SimConfig::example();
    /// config.clients[0].instances = Some(100);
    /// let mut sim = Simulation::builder(config)
    ///     .client_policies("web", |_| Box::new(Policy::grpc()) as Box<dyn RetryPolicy>)
    ///     .build()?;
    /// sim.run();
    /// assert!(sim.summary().offered > 0);
    /// # Ok::<(), drainstorm::sim::SimError>(())
    /// ```
    pub fn client_policies(
        mut self,
        group: &str,
        make: impl FnMut(u32) -> Box<dyn RetryPolicy> + 'static,
    ) -> Self {
        self.policies
            .push((group.to_owned(), PolicySource::PerInstance(Box::new(make))));
        self
    }

    /// Validates the configuration and builds the simulation.
    pub fn build(self) -> Result<Simulation, SimError> {
        Simulation::build(self)
    }
}

impl Simulation {
    pub(super) fn build(b: SimulationBuilder) -> Result<Self, SimError> {
        let SimulationBuilder {
            config,
            mut balancers,
            mut policies,
        } = b;
        config.validate()?;
        for (name, _) in &balancers {
            if config.site_index(name).is_none() {
                return Err(SimError::invalid("balancer override", name, "a site name"));
            }
        }
        for (name, _) in &policies {
            if config.group_index(name).is_none() {
                return Err(SimError::invalid("policy override", name, "a group name"));
            }
        }
        let seed = config.seed;
        let seeds = Seeds::new(seed);
        let balancer_seed = stream_seed(seed, Stream::Balancer);

        let mut backends = Vec::new();
        let mut sites = Vec::with_capacity(config.sites.len());
        for (i, s) in config.sites.iter().enumerate() {
            let first = PoolIndex::from(backends.len());
            let mut hash_keys = s.backend_hash_keys().into_iter();
            let in_service = s.autoscaling.map_or(u32::MAX, |a| a.initial);
            for g in &s.backends {
                for _ in 0..g.count {
                    let key = hash_keys.next().expect("one key per backend");
                    let mut backend = BackendState::new(SiteId::from(i), g, key);
                    backend.watched = s.outlier_detection.is_some();
                    backend.reports = s.orca.is_some();
                    backend.standby = (backends.len() - first.index()) as u32 >= in_service;
                    backends.push(backend);
                }
            }
            let plugged = balancers
                .iter()
                .position(|(name, _)| *name == s.name)
                .map(|k| balancers.swap_remove(k).1);
            let seed = mix(balancer_seed ^ i as u64);
            sites.push(Site::build(s, &backends, first, plugged, seed)?);
        }
        let router = Router::build(&config, mix(balancer_seed ^ 0xdead_beef))?;

        let arrivals_seed = stream_seed(seed, Stream::Arrivals);
        let limits_seed = stream_seed(seed, Stream::Limits);
        let mut groups = Vec::with_capacity(config.clients.len());
        for (i, g) in config.clients.iter().enumerate() {
            let custom = policies
                .iter()
                .position(|(name, _)| *name == g.name)
                .map(|k| policies.swap_remove(k).1);
            let dns = config.router.dns_ttl > crate::time::SimDuration::ZERO;
            let seeds = (arrivals_seed, limits_seed);
            groups.push(Group::build(i, g, custom, seeds, dns));
        }

        let interval = config.recorder.interval.0;
        let mut sim = Simulation {
            now: 0,
            end: config.duration.0,
            order: order::Order::new(network::Network::splits(&config.sites)),
            queue: EventQueue::with_slot_shift(slot_shift(
                config.clients.iter().map(|g| g.peak_rate()).sum(),
            )),
            at_once: VecDeque::new(),
            recorder: Recorder::new(
                config.recorder.interval,
                sites.len(),
                config.recorder.warm_up,
            ),
            sink: None,
            sites: sites.into(),
            pool: Pool::new(backends.into(), config.router.slow_start.0),
            clients: Clients::new(groups),
            network: network::Network::new(&config.sites),
            accepting: Slots::default(),
            router,
            keys_needed: false,
            actions: Vec::new(),
            paced: None,
            seeds,
            next_boundary: interval,
            interval,
            cancel: config.cancel_on_timeout,
            finished: false,
            config,
        };
        sim.keys_needed = sim.wants_keys();
        if sim.network.is_some() {
            // The router is on the clients' side of the network.
            sim.router.tracks_sent = sim.router.tracks_load;
            sim.router.tracks_load = false;
            sim.clients.far_waits =
                sim.router.tracks_sent || sim.clients.groups.iter().any(|g| g.limited);
        }
        sim.count_zone_clients();
        sim.schedule_first_events();
        Ok(sim)
    }
}

impl Simulation {
    /// The first events: each group's first arrival (or its closed-loop
    /// clients' first think times), the router's first probes, the first
    /// scaling tick and the timeline's actions.
    fn schedule_first_events(&mut self) {
        for g in 0..self.clients.groups.len() {
            let group = GroupId::from(g);
            self.schedule_next_arrival(group);
            if let Workload::Closed { clients, think } = self.config.clients[g].workload {
                for c in 0..clients {
                    let u = unit_open(draw(self.seeds.think, of_group(g as u64, u64::from(c)), 0));
                    let at = (-u.ln() * think.0 as f64) as u64;
                    self.push(at, Ev::Think(group, c));
                }
            }
        }
        if let Some(h) = self.router.health.clone() {
            let n = self.sites.len() as u64;
            for s in 0..n {
                let site = SiteId::from(s as usize);
                self.push(h.interval.0 * (s + 1) / n, Ev::Probe(site));
            }
        }
        for s in self.sites.keys() {
            if let Some(od) = &self.sites[s].outliers {
                self.push(od.params().interval_ns, Ev::OutlierSweep(s));
            }
            if let Some((_, period)) = &self.sites[s].orca {
                self.push(*period, Ev::OrcaUpdate(s));
            }
            self.schedule_concurrency(s);
            if let Some(a) = &self.sites[s].autoscaler {
                self.push(a.config.interval.0, Ev::Autoscale(s));
            }
        }
        if self.sites.iter().any(|s| s.scaling.is_some()) {
            self.push(SCALE_TICK, Ev::Scale);
        }
        for TimedAction { at, action } in self.config.timeline.clone() {
            self.push_action(at.0, action);
        }
    }
}

/// The event queue's slot width for a run whose clients send up to
/// `requests_per_s` at their peak: about 48 queue events a slot at two
/// events a request (a completion, and a retry or an accept delay), where
/// a slot's sort and its hot inserts stay short and slot changes are
/// rare. 2^20 ns at the simulator benchmark's 12 000 requests a second,
/// 2^24 ns at the incident's 900.
fn slot_shift(requests_per_s: f64) -> u32 {
    let ns_per_event = 1e9 / (2.0 * requests_per_s.max(1e-3));
    let shift = (48.0 * ns_per_event).log2().floor();
    shift.clamp(14.0, 30.0) as u32
}

#[cfg(test)]
mod tests {
    #[test]
    fn slots_hold_a_few_dozen_events_at_the_peak() {
        use super::slot_shift;
        assert_eq!(slot_shift(12_160.0), 20);
        assert_eq!(slot_shift(900.0), 24);
        assert_eq!(slot_shift(0.0), 30);
        assert_eq!(slot_shift(1e9), 14);
    }
}
