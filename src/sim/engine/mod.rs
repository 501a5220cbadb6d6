//! The discrete-event engine: the event loop and the host's API.
//!
//! A [`Simulation`] is the event loop over the model's parts, each of
//! which keeps its state (flat arrays and counters) in a struct of its
//! own; the loop holds the clock, the event queue, the recorder and the
//! actions. Each part's behaviour has one home:
//!
//! | file | owns | handles |
//! |---|---|---|
//! | `mod.rs` | the clock, the event queue and lanes, interval closing, the host's API | dispatch |
//! | `clients.rs` | `Clients`: client groups, requests, tokens, retries | `Arrival`, `Think`, `Timeout`, `Retry` |
//! | `routing.rs` | `Router`: site choice, health checks, panic, site weights | `Probe`, `ProbeTimeout`, `ProbeArrive`, `Ramp`, `SlowStart` |
//! | `site.rs` | `Site` (one per site): a load balancer's admission, backlog, scaling, its balancer | `Accepted`, `Scale`, `BackendSlowStart` |
//! | `backends.rs` | `Pool`: backends, their slots and queues, jobs, service times | `Complete` |
//! | `network.rs` | `Network`: each site's round trip, attempts, probes and answers on their way | `Arrive`, `Answer`, `ProbeAnswer` |
//! | `timeline.rs` | what an action does | `Action` |
//! | `paced.rs` | the paced drain's controller | `Paced` |
//! | `build.rs` | construction from a [`SimConfig`] | |
//! | `ids.rs` | the identities: `RequestId`, an `Owner`, and an index type per array (`SiteId`, `GroupId`, `RequestSlot`, `JobId`, `PoolIndex`, `BacklogPlace`, `TransitPlace`), each indexing only the `TiVec`s keyed by it | |
//! | `slots.rs` | `Slots`: a store whose freed places are reused (the jobs, the backlog places, the attempts on their way) | |
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

mod autoscale;
mod backends;
mod build;
mod clients;
mod codel;
mod concurrency;
mod hedging;
mod ids;
mod network;
mod orca;
mod outlier;
mod paced;
mod routing;
mod site;
mod slots;
mod timeline;
mod zones;

use super::queue::{EventQueue, order_key};
use super::recorder::{Recorder, RowSink, SiteInterval};
use super::router::WeightedSites;
use super::summary::Summary;
use crate::balancer::{Balancer, Picker};
use crate::retry::{Outcome, Pushback};
use crate::sim::config::Action;
use crate::sim::config::{HealthCheckConfig, SimConfig};
use crate::sim::error::SimError;
use crate::time::SimTime;

use self::backends::*;
pub use self::build::SimulationBuilder;
use self::clients::*;
use self::concurrency::Forward;
use self::ids::{
    BacklogPlace, GroupId, JobId, Owner, PoolIndex, RequestId, RequestSlot, SiteId, TransitPlace,
};
use self::network::Answer;
use self::routing::*;
pub use self::site::SiteView;
use self::site::*;
use self::slots::Slots;

/// No request, job, client or site.
const NONE: u32 = u32::MAX;

/// What happens at an instant. Kept at 12 bytes so a queue entry is 32.
#[derive(Clone, Copy, Debug)]
enum Ev {
    /// The next open-loop arrival of a group.
    Arrival(GroupId),
    /// A closed-loop client ends its think time.
    Think(GroupId, u32),
    /// A job's service ends.
    Complete(JobId),
    /// An attempt's deadline: (request, attempt token).
    Timeout(RequestSlot, u32),
    /// A backoff ends: (request, token).
    Retry(RequestSlot, u32),
    /// The router probes a site.
    Probe(SiteId),
    /// A probe's deadline: (site, probe sequence).
    ProbeTimeout(SiteId, u32),
    /// A scheduled action (index into `actions`).
    Action(u32),
    /// A weight ramp's next step: (site, ramp token).
    Ramp(SiteId, u32),
    /// A slow-start step of a site.
    SlowStart(SiteId),
    /// A slow-start step of the backends of a site.
    BackendSlowStart(SiteId),
    /// A site's load balancer accepts an attempt from its backlog (index
    /// into `accepting`).
    Accepted(BacklogPlace),
    /// A paced drain's next step (its token).
    Paced(u32),
    /// Replies to jobs a backend shed wait in `shed` for delivery.
    Shed,
    /// Load balancers that scale adjust their accept rate (every second).
    Scale,
    /// A site's outlier detection brings back the backends whose
    /// ejection is over (site).
    OutlierRelease(SiteId),
    /// A site's outlier detection sweeps its interval's answers (site).
    OutlierSweep(SiteId),
    /// A site's autoscaler measures its interval (site).
    Autoscale(SiteId),
    /// Backends a site's autoscaler started have booted (site).
    BackendsBooted(SiteId),
    /// A site's backends report their load, and its balancer is reweighed
    /// (site).
    OrcaUpdate(SiteId),
    /// A site's adaptive concurrency timers (site).
    Concurrency(SiteId),
    /// A hedged request's delay passed: (request, token).
    Hedge(RequestSlot, u32),
    /// An attempt reaches its site over the network (index into the
    /// network's attempts on their way).
    Arrive(TransitPlace),
    /// A site's answer reaches its client over the network: (answer,
    /// request, attempt token).
    Answer(Answer, RequestSlot, u32),
    /// A health probe reaches its site over the network: (site, probe
    /// sequence).
    ProbeArrive(SiteId, u32),
    /// A site's answer to a probe reaches the router over the network:
    /// (answer, site, probe sequence).
    ProbeAnswer(Answer, SiteId, u32),
}

const _: () = assert!(std::mem::size_of::<Ev>() == 12);

type Entry = super::queue::Entry<Ev>;

/// What an attempt or a probe came to, returned by the part that decided
/// it (a backend, a load balancer's backlog) for the event loop to
/// [deliver](Simulation::deliver).
#[derive(Clone, Copy, Debug)]
enum Reply {
    /// Request `.0`'s attempt ended with `.1`.
    Attempt(RequestSlot, Outcome),
    /// Site `.0`'s health probe ended: answered (`true`) or not.
    Probe(SiteId, bool),
    /// Request `.0`'s attempt found its client's limit of attempts pending
    /// at a load balancer full (decided at the site, over the network).
    Overflow(RequestSlot),
}

impl Reply {
    /// The failure `owner` sees when a load balancer or a backend turns
    /// it away.
    fn failed(owner: Owner) -> Self {
        match owner {
            Owner::Attempt(r, _) => Reply::Attempt(r, Outcome::Failure(Pushback::None)),
            Owner::Probe(s, _) => Reply::Probe(s, false),
        }
    }
}

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
    seq: u64,
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

    #[inline]
    fn push(&mut self, time: u64, ev: Ev) {
        self.seq += 1;
        // Every pending event is at or after now, so a lane of events at
        // now, pushed in sequence order, stays sorted: `next_event` takes
        // its front in (time, sequence) order with the others'.
        if time == self.now {
            self.at_once.push_back((time, self.seq, ev));
            return;
        }
        self.queue.push(Entry {
            time,
            seq: self.seq,
            ev,
        });
    }

    /// Schedules an attempt deadline: in the group's lane when it keeps
    /// the lane in time order (the common case: now + a fixed timeout),
    /// else in the queue.
    #[inline]
    fn push_timeout(&mut self, g: GroupId, time: u64, r: RequestSlot, token: u32) {
        self.seq += 1;
        let lane = &mut self.clients.groups[g].timeouts;
        if lane.back().is_none_or(|b| b.0 <= time) {
            lane.push_back((time, self.seq, r, token));
        } else {
            self.queue.push(Entry {
                time,
                seq: self.seq,
                ev: Ev::Timeout(r, token),
            });
        }
    }

    /// Removes and returns the earliest event at or before `limit`, over
    /// the queue and every group's lanes, in (time, sequence) order. Stale
    /// lane timeouts are dropped when they reach the front and would come
    /// first. Always inlined: out of line it returned its event through
    /// memory, and its call cost 2.4 % of the simulator benchmark's
    /// instructions (3.5 % of the incident's).
    #[inline(always)]
    fn next_event(&mut self, limit: u64) -> Option<(u64, Ev)> {
        const HEAP: usize = usize::MAX;
        const AT_ONCE: usize = usize::MAX - 1;
        // The network's lanes, counted down from here (at most
        // `network::MAX_LANES`).
        const LANES: usize = usize::MAX - 2;
        const LANES_END: usize = LANES - network::MAX_LANES;
        // Nothing pending is the maximum key.
        let mut best = self.queue.peek_key();
        let mut source = (HEAP, false);
        if let Some(&(t, seq, _)) = self.at_once.front()
            && order_key(t, seq) < best
        {
            best = order_key(t, seq);
            source = (AT_ONCE, false);
        }
        if let Some(net) = self.network.as_deref()
            && let Some((l, key)) = net.earliest(best)
        {
            best = key;
            source = (LANES - l, false);
        }
        for (g, group) in self.clients.groups.iter_mut().enumerate() {
            if let Some((t, seq)) = group.next_arrival
                && order_key(t, seq) < best
            {
                best = order_key(t, seq);
                source = (g, false);
            }
            // Only a front that would come first needs its request read:
            // a stale one is dropped, a live one taken.
            while let Some(&(t, seq, r, token)) = group.timeouts.front()
                && order_key(t, seq) < best
            {
                if self.clients.live[r] == token | WAITING {
                    best = order_key(t, seq);
                    source = (g, true);
                    break;
                }
                group.timeouts.pop_front();
            }
        }
        let time = (best >> 64) as u64;
        if best == u128::MAX || time > limit {
            return None;
        }
        Some(match source {
            (HEAP, _) => (time, self.queue.pop().expect("peeked").ev),
            (AT_ONCE, _) => (time, self.at_once.pop_front().expect("peeked").2),
            (l, _) if l > LANES_END => {
                let net = self.network.as_deref_mut().expect("a lane");
                (time, net.pop(LANES - l))
            }
            (g, false) => {
                let g = GroupId::from(g);
                self.clients.groups[g].next_arrival = None;
                (time, Ev::Arrival(g))
            }
            (g, true) => {
                let lane = &mut self.clients.groups[GroupId::from(g)].timeouts;
                let (_, _, r, token) = lane.pop_front().expect("peeked");
                (time, Ev::Timeout(r, token))
            }
        })
    }

    fn push_action(&mut self, at: u64, action: Action) {
        let idx = self.actions.len() as u32;
        self.actions.push(action);
        self.push(at, Ev::Action(idx));
    }

    #[inline]
    fn advance(&mut self, t: u64) {
        while t >= self.next_boundary {
            let b = self.next_boundary;
            self.close_interval(b);
        }
        self.now = t;
    }

    fn close_interval(&mut self, at: u64) {
        let len = (at - (self.next_boundary - self.interval)) as f64;
        let mut area = 0u128;
        let rows: Vec<SiteInterval> = self
            .sites
            .iter_mut()
            .zip(&self.router.members)
            .map(|(s, m)| {
                s.touch(at);
                area += s.area_in_flight;
                let row = SiteInterval {
                    admitted: s.admitted,
                    rejected: s.rejected,
                    utilisation: s.area_busy as f64 / (s.slots as f64 * len),
                    mean_queue: s.area_queue as f64 / len,
                    mean_in_flight: s.area_in_flight as f64 / len,
                    weight: m.published,
                    healthy: m.healthy,
                    accept_rate: s.rate_cap,
                    in_service: s.autoscaler.as_ref().map_or(s.backends, |a| a.in_service),
                };
                s.area_busy = 0;
                s.area_queue = 0;
                s.area_in_flight = 0;
                s.admitted = 0;
                s.rejected = 0;
                row
            })
            .collect();
        self.recorder.totals.in_system_area += area;
        if self.paced.is_some() {
            let current = self.recorder.current();
            let (attempts, timeouts) = (current.attempts, current.timeouts);
            self.observe_paced(&rows, attempts, timeouts);
        }
        self.recorder
            .close(SimTime(at), rows, self.sink.as_deref_mut());
        self.next_boundary = at + self.interval;
    }

    /// Hands what an attempt or a probe came to up to the part that waits
    /// for it: the backends and the sites return replies rather than call
    /// back up into the clients or the router.
    ///
    /// Over a network, an answer travels back first. Always
    /// inlined: as a call it cost 0.7 % of the simulator benchmark's
    /// instructions.
    #[inline(always)]
    fn deliver(&mut self, reply: Option<Reply>) {
        match reply {
            Some(Reply::Attempt(r, outcome)) if self.network.is_none() => self.outcome(r, outcome),
            Some(Reply::Probe(s, ok)) if self.network.is_none() => self.probe_result(s, ok),
            Some(reply) => self.deliver_far(reply),
            None => {}
        }
    }

    /// Delivers an attempt's or a probe's answer over the network: it
    /// travels back unless its site is no distance away. Out of line, so that the
    /// direct path pays only a test (inlined, this path cost 1.2 % of
    /// the simulator benchmark's instructions without a network).
    #[cold]
    #[inline(never)]
    fn deliver_far(&mut self, reply: Reply) {
        match reply {
            Reply::Attempt(r, outcome) => {
                let answer = match outcome {
                    Outcome::Success => Answer::Success,
                    _ => Answer::Failure,
                };
                if !self.send_back(r, answer) {
                    self.outcome(r, outcome);
                }
            }
            Reply::Overflow(r) => {
                if !self.send_back(r, Answer::Overflow) {
                    self.overflowed(r);
                }
            }
            Reply::Probe(s, ok) => {
                if !self.send_probe_back(s, ok) {
                    self.probe_result(s, ok);
                }
            }
        }
    }

    fn dispatch(&mut self, ev: Ev) {
        self.recorder.totals.events += 1;
        match ev {
            Ev::Arrival(g) => self.on_arrival(g),
            Ev::Think(g, c) => self.start_request(g, c),
            Ev::Complete(j) => {
                if let Some((reply, b)) = self.on_complete(j) {
                    self.deliver(reply);
                    self.start_next(b);
                }
            }
            Ev::Timeout(r, token) => self.on_timeout(r, token),
            Ev::Retry(r, token) => self.on_retry(r, token),
            Ev::Probe(s) => self.on_probe(s),
            Ev::ProbeTimeout(s, seq) => {
                if self.router.awaits(s, seq) {
                    self.probe_result(s, false);
                }
            }
            Ev::Action(i) => {
                let action = self.actions[i as usize].clone();
                self.apply(action);
            }
            Ev::Ramp(s, token) => self.on_ramp(s, token),
            Ev::SlowStart(s) => self.on_slow_start(s),
            Ev::Scale => self.on_scale(),
            Ev::Accepted(p) => {
                let reply = self.on_accepted(p);
                self.deliver(reply);
            }
            Ev::BackendSlowStart(s) => self.on_backend_slow_start(s),
            Ev::Paced(token) => self.on_paced(token),
            Ev::Shed => self.deliver_shed(),
            Ev::OutlierRelease(s) => self.release_outliers(s),
            Ev::OutlierSweep(s) => self.sweep_outliers(s),
            Ev::Autoscale(s) => self.on_autoscale(s),
            Ev::BackendsBooted(s) => self.on_backends_booted(s),
            Ev::OrcaUpdate(s) => self.on_orca_update(s),
            Ev::Concurrency(s) => self.on_concurrency(s),
            Ev::Hedge(r, token) => self.on_hedge(r, token),
            Ev::Arrive(p) => {
                let reply = self.on_arrive(p);
                self.deliver(reply);
            }
            Ev::Answer(answer, r, token) => match self.answer_outcome(r, token, answer) {
                Some(Reply::Attempt(r, outcome)) => self.outcome(r, outcome),
                Some(Reply::Overflow(r)) => self.overflowed(r),
                _ => {}
            },
            Ev::ProbeArrive(s, seq) => {
                let reply = self.on_probe_arrive(s, seq);
                self.deliver(reply);
            }
            Ev::ProbeAnswer(answer, s, seq) => {
                if self.router.awaits(s, seq) {
                    self.probe_result(s, matches!(answer, Answer::Success));
                }
            }
        }
        if !self.pool.answers.is_empty() {
            self.detect_outliers();
        }
    }

    /// Delivers the replies of shed jobs, in the order they were shed
    /// (delivering one may shed more: they wait for the next `Shed`).
    #[cold]
    fn deliver_shed(&mut self) {
        let mut replies = std::mem::take(&mut self.pool.shed);
        for &reply in &replies {
            self.deliver(Some(reply));
        }
        if self.pool.shed.is_empty() {
            replies.clear();
            self.pool.shed = replies;
        }
    }

    /// The weights in effect of a site's backends, in configuration order
    /// (lower than configured while a backend is in slow start).
    pub fn backend_weights(&self, site: usize) -> Vec<u32> {
        let (first, n) = self.sites[SiteId::from(site)].backends_from(0);
        self.pool.span(first, n).iter().map(|b| b.weight).collect()
    }
}
