//! The discrete-event engine: the event loop and the host's API.
//!
//! A [`Simulation`] is the event loop over the model's parts, each of
//! which keeps its state (flat arrays and counters) in a struct of its
//! own; the loop holds the clock, the event queue, the recorder and the
//! actions. Each part's behaviour has one home:
//!
//! | file | owns | handles |
//! |---|---|---|
//! | `mod.rs` | the clock, the event queue and lanes, the host's API | |
//! | `event_loop.rs` | the events, scheduling, the next event in (time, sequence) order, interval closing, delivery of replies | dispatch |
//! | `clients.rs` | `Clients`: client groups, requests, tokens, retries | `Arrival`, `Think`, `Timeout`, `Retry` |
//! | `group.rs` | `Group`: one client group's policy, limits, arrivals, lanes and DNS caches | |
//! | `routing.rs` | `Router`: site choice, health checks, panic, site weights and their way to the clients' answers | `Probe`, `ProbeTimeout`, `ProbeArrive`, `Ramp`, `SlowStart`, `Publish` |
//! | `site.rs` | `Site` (one per site): a load balancer's admission, backlog, scaling, its balancer | `Accepted`, `Scale`, `BackendSlowStart` |
//! | `backends.rs` | `Pool`: backends, their slots and queues, jobs, service times | `Complete` |
//! | `network.rs` | `Network`: each site's round trip, attempts, probes, answers and cancellations on their way | `Arrive`, `Answer`, `ProbeAnswer`, `Cancel` |
//! | `held.rs` | `AtSites` (kept by the network): where the sites hold each attempt, for the cancellations that follow it | |
//! | `timeline.rs` | what an action does | `Action` |
//! | `paced.rs` | the paced drain's controller | `Paced` |
//! | `build.rs` | construction from a [`SimConfig`] | |
//! | `ids.rs` | the identities: `RequestId`, an `Owner`, and an index type per array (`SiteId`, `GroupId`, `RequestSlot`, `JobId`, `PoolIndex`, `BacklogPlace`, `TransitPlace`), each indexing only the `TiVec`s keyed by it | |
//! | `accepts.rs` | the backlogs' accepts in order, only each site's first in the queue | |
//! | `order.rs` | `Order`: the events' sequence numbers, and so their order at one instant (per logical process when every site is some distance away) | |
//! | `slots.rs` | `Slots`: a store whose freed places are reused (the jobs, the backlog places, the attempts on their way) | |
//! | `parts.rs` | whose part (a site, a client instance, the router) each event is, and a window's events per thread under a finer split | |
//! | `windows.rs` | a split run's schedule on one thread, window by window, each side in turn ([`Simulation::run_in_windows`]) | |
//!
//! An attempt flows clients → routing → site → backends: a request sends
//! an attempt, the router picks a site, the site's load balancer admits
//! it and picks a backend, the backend serves it. Calls go only that way
//! (and from the actions in `timeline.rs` and `paced.rs`, which steer
//! every part): what an attempt or a probe came to travels back up as a
//! returned [`Reply`] that the event loop delivers to the request's retry
//! policy or to the router's health check, then sequences what follows
//! (a backend starts its next job after its reply is delivered).
//! `tests/structure.rs` checks these rules: no call back up, each part's
//! state in its own struct (not in `Simulation`), and no import circle in
//! `sim/`.

use std::collections::VecDeque;
use typed_index_collections::TiVec;

mod accepts;
mod autoscale;
mod backends;
mod build;
mod clients;
mod codel;
mod concurrency;
mod event_loop;
mod group;
mod hedging;
mod held;
mod ids;
mod network;
mod orca;
mod order;
mod outlier;
mod paced;
mod parts;
mod routing;
mod site;
mod slots;
mod timeline;
mod windows;
mod zones;

use super::queue::{EventQueue, order_key};
use super::recorder::{Recorder, RowSink, SiteInterval};
use super::router::WeightedSites;
use super::summary::Summary;
use crate::balancer::{Balancer, Picker};
use crate::sim::config::Action;
use crate::sim::config::{HealthCheckConfig, RouterMode, SimConfig};
use crate::sim::error::SimError;
use crate::time::SimTime;

use self::backends::*;
pub use self::build::SimulationBuilder;
use self::clients::*;
use self::concurrency::Forward;
use self::event_loop::{Ev, Reply};
use self::group::*;
use self::held::Held;
use self::ids::{
    BacklogPlace, GroupId, JobId, Owner, PoolIndex, RequestId, RequestSlot, SiteId, TransitPlace,
};
use self::network::Answer;
use self::order::Process;
use self::routing::*;
pub use self::site::SiteView;
use self::site::*;
use self::slots::Slots;
pub use self::windows::Windows;

/// No request, job, client or site.
const NONE: u32 = u32::MAX;

impl Simulation {
    /// Whether `owner` still waits: the request on that very attempt, or
    /// the router on that very probe.
    #[inline]
    fn waits(&self, owner: Owner) -> bool {
        match owner {
            Owner::Attempt(r, token) => self.clients.live[r] == token | WAITING,
            Owner::Probe(s, seq) => self.router.awaits(s, seq),
        }
    }

    /// Whether a site answers `owner` (and counts what it does not answer):
    /// without a network, only if `owner` still waits, since its answer
    /// would be heard at once; over one, always, for the site cannot know
    /// (its answer is heard, or not, when it reaches the client:
    /// [`Simulation::hear`]).
    #[inline]
    fn answers(&self, owner: Owner) -> bool {
        self.network.is_some() || self.waits(owner)
    }

    /// Whether any balancer (the router's or a site's) reads request keys:
    /// a question about the whole model, asked when it is built and when
    /// an action changes a balancer.
    fn wants_keys(&self) -> bool {
        (self.router.mode == RouterMode::Balancer && self.config.router.balancer.hashes_keys())
            || self.sites.iter().any(|s| s.hashes)
    }
}

/// The seed of each purpose's random stream.
struct Seeds {
    service: u64,
    failure: u64,
    backoff: u64,
    think: u64,
    keys: u64,
    probe: u64,
    router: u64,
    instance: u64,
}

impl Seeds {
    /// Each purpose's stream in the run seeded `seed`.
    fn new(seed: u64) -> Self {
        use crate::sim::random::{Stream, stream_seed};
        Self {
            service: stream_seed(seed, Stream::Service),
            failure: stream_seed(seed, Stream::Failure),
            backoff: stream_seed(seed, Stream::Backoff),
            think: stream_seed(seed, Stream::Think),
            keys: stream_seed(seed, Stream::Keys),
            probe: stream_seed(seed, Stream::Probe),
            router: stream_seed(seed, Stream::Router),
            instance: stream_seed(seed, Stream::Instance),
        }
    }
}

/// A discrete-event simulation of clients, a router, sites and backends.
///
/// Time is simulated nanoseconds ([`SimTime`]). Events run in (time,
/// insertion) order, so events at the same instant run first-in first-out
/// and a run is a pure function of its configuration and seed. See the
/// [module documentation](super) for the model.
pub struct Simulation {
    config: SimConfig,
    now: u64,
    end: u64,
    /// The events' sequence numbers: their order at one instant.
    order: order::Order,
    queue: EventQueue<Ev>,
    /// Events scheduled for the instant they were scheduled at (a retry
    /// without backoff, above all): a FIFO lane of (time, sequence, event)
    /// beside the queue, in the queue's order, that costs a push and a
    /// pop instead of a sorted insert into the wheel's hot slot.
    at_once: VecDeque<(u64, u64, Ev)>,
    sites: TiVec<SiteId, Site>,
    /// Every site's backends and the jobs they hold.
    pool: Pool,
    /// The client groups and their requests in progress.
    clients: Clients,
    /// The network between clients and sites, if any site has a round
    /// trip.
    network: Option<Box<network::Network>>,
    accepting: Slots<BacklogPlace, Accepting>,
    /// Where attempts go: the router and its view of every site.
    router: Router,
    /// Whether any balancer (the router's or a site's) reads request keys;
    /// if none does, requests carry key 0 and no key is drawn.
    keys_needed: bool,
    recorder: Recorder,
    /// Where a streaming run's rows go.
    sink: Option<Box<dyn RowSink>>,
    actions: Vec<Action>,
    /// The running paced drain, if any.
    paced: Option<Box<paced::Paced>>,
    seeds: Seeds,
    next_boundary: u64,
    interval: u64,
    cancel: bool,
    finished: bool,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("now", &self.now())
            .field("end", &self.end)
            .field("pending_events", &self.pending_events())
            .finish_non_exhaustive()
    }
}

impl Simulation {
    /// Validates `config` and builds the simulation with the configured
    /// balancers and policies.
    ///
    /// ```
    /// use drainstorm::sim::{SimConfig, Simulation};
    ///
    /// let config = SimConfig::example();
    /// let mut sim = Simulation::new(config)?;
    /// sim.run();
    /// assert!(sim.summary().offered > 0);
    /// # Ok::<(), drainstorm::sim::SimError>(())
    /// ```
    pub fn new(config: SimConfig) -> Result<Self, SimError> {
        Self::builder(config).build()
    }

    /// A builder, to plug in your own balancers or retry policies.
    pub fn builder(config: SimConfig) -> SimulationBuilder {
        SimulationBuilder {
            config,
            balancers: Vec::new(),
            policies: Vec::new(),
        }
    }

    /// The current simulated time: that of the last event processed (or
    /// the instant `run_until` stopped at).
    pub fn now(&self) -> SimTime {
        SimTime(self.now)
    }

    /// When [`run`](Self::run) stops: the configured duration.
    pub fn end(&self) -> SimTime {
        SimTime(self.end)
    }

    /// The configuration the simulation was built from.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Processes the next event if it lies at or before the end; returns
    /// its time, or `None` when nothing is left to do before the end.
    pub fn step(&mut self) -> Option<SimTime> {
        let (time, ev) = self.next_event(self.end)?;
        self.advance(time);
        self.dispatch(ev);
        Some(SimTime(time))
    }

    /// Processes every event at or before `t` (capped at the end), then
    /// moves the clock to `t`.
    pub fn run_until(&mut self, t: SimTime) {
        let t = t.0.min(self.end);
        while let Some((time, ev)) = self.next_event(t) {
            self.advance(time);
            self.dispatch(ev);
        }
        if t > self.now {
            self.advance(t);
        }
    }

    /// Runs to the configured end and closes the last interval.
    pub fn run(&mut self) {
        self.run_until(SimTime(self.end));
        self.finish();
    }

    /// Closes the interval in progress at the current time (if it has any
    /// length); [`run`](Self::run) does it at the end.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        let partial = self.next_boundary - self.interval;
        if self.now > partial {
            self.close_interval(self.now);
        }
        self.finished = true;
    }

    /// Applies `action` now.
    pub fn inject(&mut self, action: Action) -> Result<(), SimError> {
        action.validate(&self.config)?;
        self.apply(action);
        Ok(())
    }

    /// Applies `action` at `at` (or now, if `at` has passed).
    pub fn schedule(&mut self, at: SimTime, action: Action) -> Result<(), SimError> {
        action.validate(&self.config)?;
        self.push_action(at.0.max(self.now), action);
        Ok(())
    }

    /// Streams the run's series: every interval goes to `sink` as it
    /// closes, and the recorder keeps at most `keep` rows (merging
    /// neighbours when full, see [`Recorder`]), so memory no longer grows
    /// with the run's length. The verdict and totals are still computed
    /// from every interval, with the rule and trigger's end configured
    /// now. Call it before the run starts.
    ///
    /// ```
    /// use drainstorm::sim::{Interval, RowSink, SimConfig, SiteInterval, Simulation};
    ///
    /// struct Count(std::sync::Arc<std::sync::atomic::AtomicUsize>);
    /// impl RowSink for Count {
    ///     fn row(&mut self, _: &Interval, _: &[SiteInterval]) {
    ///         self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ///     }
    /// }
    /// let rows = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    /// let mut sim = Simulation::new(SimConfig::example())?;
    /// sim.stream_rows(Box::new(Count(rows.clone())), 16)?;
    /// sim.run();
    /// assert!(rows.load(std::sync::atomic::Ordering::Relaxed) > 16);
    /// assert!(sim.recorder().series().len() <= 16);
    /// # Ok::<(), drainstorm::sim::SimError>(())
    /// ```
    pub fn stream_rows(&mut self, sink: Box<dyn RowSink>, keep: usize) -> Result<(), SimError> {
        if !self.recorder.series().is_empty() {
            return Err(SimError::invalid(
                "stream_rows",
                "after the first interval",
                "a call before the run starts",
            ));
        }
        let tally = super::tally::Tally::new(
            &self.config.recorder,
            self.config.recorder.interval.0,
            self.config.trigger_end(),
        );
        self.recorder.bound(keep, tally);
        self.sink = Some(sink);
        Ok(())
    }

    /// The recorder: series and histograms so far.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// The summary of the closed intervals.
    pub fn summary(&self) -> Summary {
        Summary::compute(
            &self.recorder,
            &self.config.recorder,
            self.config.trigger_end(),
        )
    }

    /// Ends the simulation and keeps only its recorder.
    pub fn into_recorder(self) -> Recorder {
        self.recorder
    }

    /// The state of every site.
    pub fn sites(&self) -> Vec<SiteView> {
        self.sites
            .iter()
            .zip(&self.router.members)
            .map(|(s, m)| SiteView {
                name: s.name.clone(),
                balancer: s.lb.name(),
                weight: m.weight,
                effective_weight: m.published,
                healthy: m.healthy,
                in_flight: s.in_flight,
                busy: s.busy,
                queued: s.queued,
                ejected: s.outliers.as_ref().map_or(0, |od| od.ejected() as u32),
                ejections: s.ejections,
                in_service: s.autoscaler.as_ref().map_or(s.backends, |a| a.in_service),
                booting: s.autoscaler.as_ref().map_or(0, |a| a.booting()),
                concurrency_limit: s.limit.as_ref().map(|l| l.controller.limit()),
                concurrency_outstanding: s.limit.as_ref().map_or(0, |l| l.controller.outstanding()),
            })
            .collect()
    }

    /// Events waiting: in the queue, and in the arrival and timeout lanes
    /// (stale timeouts included until they come up).
    pub fn pending_events(&self) -> usize {
        self.queue.len()
            + self.at_once.len()
            + self.network.as_deref().map_or(0, |n| n.pending())
            + self
                .clients
                .groups
                .iter()
                .map(|g| g.timeouts.len() + usize::from(g.next_arrival.is_some()))
                .sum::<usize>()
    }

    /// Requests in progress (waiting on an attempt or in backoff).
    pub fn requests_in_progress(&self) -> usize {
        self.clients.in_progress()
    }

    /// What client group `group` holds now, counted by scanning the
    /// requests in progress (O(requests); for tests and hosts that inspect
    /// a run, independent of the counters that enforce the group's
    /// limits): requests in progress, and of them the retries outstanding
    /// (in backoff, or waiting on an attempt after the first).
    pub fn client_load(&self, group: usize) -> (usize, usize) {
        self.instance_load(group)
            .into_iter()
            .fold((0, 0), |(q, r), (a, b)| (q + a, r + b))
    }

    /// The counters that enforce instance `instance` of client group
    /// `group`'s limits ([`LimitsConfig`](crate::retry::LimitsConfig)):
    /// requests, pending attempts and retries it holds now, and its
    /// adaptive limit with the attempts in flight against it
    /// ([`ClientLimits::adaptive`](crate::retry::ClientLimits::adaptive)).
    /// `None` if the group's policy sets no limit (nothing is counted then) or there is
    /// no such instance.
    pub fn client_limits(
        &self,
        group: usize,
        instance: u32,
    ) -> Option<&crate::retry::ClientLimits> {
        let g = self.clients.groups.get(GroupId::from(group))?;
        // A limited group has an entry per instance.
        if g.limits.first()?.config().is_unlimited() {
            return None;
        }
        g.limits.get(instance as usize)
    }

    /// What each instance of client group `group` holds now, as
    /// [`client_load`](Self::client_load) counts it: one (requests,
    /// retries) pair per instance (O(requests + instances)).
    pub fn instance_load(&self, group: usize) -> Vec<(usize, usize)> {
        let group = GroupId::from(group);
        let mut load = vec![(0, 0); self.clients.groups[group].instances as usize];
        for r in self.clients.held() {
            let req = &self.clients.requests[r];
            if req.group != group || self.is_leg(r) {
                continue;
            }
            let l = &mut load[req.instance as usize];
            l.0 += 1;
            if self.clients.live[r] & WAITING == 0 || req.state.attempts >= 2 {
                l.1 += 1;
            }
        }
        load
    }

    /// The weights in effect of a site's backends, in configuration order
    /// (lower than configured while a backend is in slow start).
    pub fn backend_weights(&self, site: usize) -> Vec<u32> {
        let (first, n) = self.sites[SiteId::from(site)].backends_from(0);
        self.pool.span(first, n).iter().map(|b| b.weight).collect()
    }
}

/// An open-loop load of `rate` requests/s falling to none at `secs` s
/// (the engine's tests: every request has ended well before the end).
#[cfg(test)]
fn fading(rate: f64, secs: u64) -> crate::sim::config::Workload {
    use crate::sim::config::CurvePoint;
    crate::sim::config::Workload::Open {
        rate,
        curve: vec![
            CurvePoint {
                at: SimTime::ZERO,
                factor: 1.0,
            },
            CurvePoint {
                at: SimTime::from_secs(secs),
                factor: 0.0,
            },
        ],
    }
}
