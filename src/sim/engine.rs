//! The discrete-event engine.

use std::collections::VecDeque;

use rand_distr::{Distribution, Exp1};

use super::action::{Action, TimedAction};
use super::arrivals::{ArrivalSource, KeySampler, RateCurve};
use super::config::{HealthCheckConfig, RouterMode, ServiceTime, SimConfig, Workload};
use super::error::SimError;
use super::queue::{EventQueue, order_key};
use super::random::{LazySplitMix, SplitMix, Stream, draw, mix, stream_seed, unit_open};
use super::recorder::{Recorder, RowSink, SiteInterval};
use super::router::WeightedSites;
use super::summary::Summary;
use crate::balancer::{Backend, BackendId, Balancer, BalancerKind, KindParams, Picker};
use crate::retry::{
    ClientLimits, Decision, Outcome, Policy, Pushback, Refusal, RequestState, RetryPolicy, SimTime,
};

const NONE: u32 = u32::MAX;
/// Burst a load balancer's accept rate tolerates: 100 ms of early
/// arrivals.
const BURST_NS: u64 = 100_000_000;

/// Period of load-balancer scaling decisions, ns.
const SCALE_TICK: u64 = 1_000_000_000;

/// What happens at an instant. Kept at 12 bytes so a heap entry is 32.
#[derive(Clone, Copy, Debug)]
enum Ev {
    /// The next open-loop arrival of a group.
    Arrival(u32),
    /// A closed-loop client ends its think time.
    Think(u32, u32),
    /// A job's service ends.
    Complete(u32),
    /// An attempt's deadline: (request, attempt token).
    Timeout(u32, u32),
    /// A backoff ends: (request, token).
    Retry(u32, u32),
    /// The router probes a site.
    Probe(u32),
    /// A probe's deadline: (site, probe sequence).
    ProbeTimeout(u32, u32),
    /// A scheduled action (index into `actions`).
    Action(u32),
    /// A weight ramp's next step: (site, ramp token).
    Ramp(u32, u32),
    /// A slow-start step of a site.
    SlowStart(u32),
    /// A slow-start step of the backends of a site.
    BackendSlowStart(u32),
    /// A site's load balancer accepts an attempt from its backlog (index
    /// into `accepting`).
    Accepted(u32),
    /// Load balancers that scale adjust their accept rate (every second).
    Scale,
}

type Entry = super::queue::Entry<Ev>;

/// A request's attempt token and whether its client waits on the attempt,
/// as one word: `token | WAITING`. Tokens are even; every attempt and the
/// freeing of the slot move to the next one, so events and jobs that carry
/// an older token are stale. Kept apart from [`Request`], in
/// `Simulation::live`, so that the many staleness checks (most attempt
/// deadlines come up after their attempt ended) read a small dense array
/// rather than a cold request.
const WAITING: u32 = 1;

/// One cache line each (53 bytes of fields): a request is read cold when
/// its attempt completes, and a request that straddled two lines cost two
/// misses (3–8 % of the simulator's throughput, measured).
#[repr(align(64))]
struct Request {
    group: u32,
    /// The current attempt's job, or `NONE`.
    job: u32,
    /// The closed-loop client, or `NONE`.
    client: u32,
    id: u64,
    key: u64,
    state: RequestState,
    /// Whether the request holds one of its group's concurrent retries.
    retrying: bool,
}

const PROBE: u8 = 1;
const IN_SERVICE: u8 = 2;
const CANCELLED: u8 = 4;

/// One cache line each, like [`Request`]: a job is read cold when its
/// service starts or ends.
#[repr(align(64))]
struct Job {
    /// The request (or, for probes, the site).
    owner: u32,
    /// The owner's token when sent (for probes, the probe sequence).
    token: u32,
    backend: u32,
    flags: u8,
    admitted: u64,
    started: u64,
    service: u64,
}

/// An attempt (or probe) waiting in a load balancer's accept backlog.
struct Accepting {
    site: u32,
    owner: u32,
    token: u32,
    probe: bool,
    key: u64,
    id: u64,
    attempt: u64,
}

struct BackendState {
    site: u32,
    slots: u32,
    busy: u32,
    queue: VecDeque<u32>,
    queue_cap: u32,
    /// Cancelled jobs still in `queue`.
    cancelled_in_queue: u32,
    service: ServiceTime,
    speed: f64,
    fail_probability: f64,
    /// Weight in effect (ramping during slow start).
    weight: u32,
    /// The weight configured or last set.
    target: u32,
    /// Since when the backend is in slow start.
    slow_since: Option<u64>,
    /// Its identity for the hashing balancers
    /// ([`SiteConfig::backend_hash_keys`](super::SiteConfig::backend_hash_keys)).
    hash_key: u64,
}

struct Ramp {
    from: u32,
    to: u32,
    start: u64,
    end: u64,
    step: u64,
}

struct Site {
    name: String,
    /// The site's identity for a hashing router balancer: its name, hashed.
    hash_key: u64,
    lb: Box<dyn Balancer>,
    picker: Box<dyn Picker>,
    /// Whether `lb` reads in-flight counts (always, for a plugged-in one).
    tracks_load: bool,
    /// Whether `lb` reads request keys (always, for a plugged-in one).
    hashes: bool,
    first_backend: u32,
    backends: u32,
    slots: u64,
    max_in_flight: u32,
    /// Theoretical arrival time of the accept-rate limiter (GCRA), ns.
    tat: u64,
    /// The current accept rate, new attempts per second; 0: unlimited.
    rate_cap: f64,
    /// Attempts the accept backlog may hold beyond the rate.
    backlog: u32,
    /// The lowest accept rate (`max_new_per_sec`).
    rate_floor: f64,
    scaling: Option<super::config::LbScaling>,
    /// New attempts offered since the last scaling tick.
    demand: u64,
    in_flight: u32,
    busy: u32,
    queued: u32,
    last: u64,
    area_in_flight: u128,
    area_busy: u128,
    area_queue: u128,
    admitted: u64,
    rejected: u64,
    /// The weight a restore returns to.
    base_weight: u32,
    /// The router weight drains and ramps set.
    weight: u32,
    /// The weight last published to the router.
    published: u32,
    healthy: bool,
    fails: u32,
    oks: u32,
    ramp: Option<Ramp>,
    ramp_token: u32,
    slow_start_since: Option<u64>,
    cold_until: u64,
    cold_factor: f64,
    probe_seq: u32,
    probe_pending: Option<u32>,
}

impl Site {
    #[inline]
    fn touch(&mut self, now: u64) {
        let dt = u128::from(now - self.last);
        if dt != 0 {
            self.area_in_flight += u128::from(self.in_flight) * dt;
            self.area_busy += u128::from(self.busy) * dt;
            self.area_queue += u128::from(self.queued) * dt;
            self.last = now;
        }
    }
}

/// A group's retry policy: the built-in one is called directly (and its
/// calls inlined), a plugged-in one through its trait object.
enum GroupPolicy {
    Builtin(Box<Policy>),
    Custom(Box<dyn RetryPolicy>),
}

impl GroupPolicy {
    #[inline]
    fn admit(&mut self, now: SimTime, rng: &mut dyn rand::RngCore) -> Result<(), Refusal> {
        match self {
            Self::Builtin(p) => p.admit(now, rng),
            Self::Custom(p) => p.admit(now, rng),
        }
    }

    #[inline]
    fn begin(&mut self, now: SimTime) -> RequestState {
        match self {
            Self::Builtin(p) => p.begin(now),
            Self::Custom(p) => p.begin(now),
        }
    }

    #[inline]
    fn on_outcome(
        &mut self,
        now: SimTime,
        request: &mut RequestState,
        outcome: Outcome,
        rng: &mut dyn rand::RngCore,
    ) -> Decision {
        match self {
            Self::Builtin(p) => p.on_outcome(now, request, outcome, rng),
            Self::Custom(p) => p.on_outcome(now, request, outcome, rng),
        }
    }

    #[inline]
    fn attempt_deadline(&self, now: SimTime, request: &RequestState) -> Option<SimTime> {
        match self {
            Self::Builtin(p) => p.attempt_deadline(now, request),
            Self::Custom(p) => p.attempt_deadline(now, request),
        }
    }
}

struct Group {
    policy: GroupPolicy,
    /// The group's concurrency limits and what it holds against them.
    limits: ClientLimits,
    source: Option<ArrivalSource>,
    /// The next arrival's (time, sequence): arrivals are a lane of their
    /// own, outside the heap.
    next_arrival: Option<(u64, u64)>,
    /// Attempt deadlines in non-decreasing time order: (time, sequence,
    /// request, token). Most are stale by the time they come up (the
    /// attempt ended); skipping one costs a pop, not a heap operation.
    timeouts: VecDeque<(u64, u64, u32, u32)>,
    think: u64,
    keys: KeySampler,
    next_seq: u64,
    /// DNS cache per key bucket: (site, expiry).
    dns: Vec<(u32, u64)>,
}

/// Everything about a site a host may want to look at.
#[derive(Clone, Debug, PartialEq)]
pub struct SiteView {
    /// The site's name.
    pub name: String,
    /// The name of the balancer its load balancer uses.
    pub balancer: &'static str,
    /// Router weight set by drains, ramps and weight changes.
    pub weight: u32,
    /// Router weight in effect (0 when ejected by health checks).
    pub effective_weight: u32,
    /// Whether health checks consider it healthy.
    pub healthy: bool,
    /// Attempts held by its load balancer.
    pub in_flight: u32,
    /// Busy slots.
    pub busy: u32,
    /// Queued attempts.
    pub queued: u32,
}

/// Builds a [`Simulation`], optionally with your own balancers and retry
/// policies in place of the configured ones.
pub struct SimulationBuilder {
    config: SimConfig,
    balancers: Vec<(String, Box<dyn Balancer>)>,
    policies: Vec<(String, Box<dyn RetryPolicy>)>,
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
    /// one.
    pub fn policy(mut self, group: &str, policy: Box<dyn RetryPolicy>) -> Self {
        self.policies.push((group.to_owned(), policy));
        self
    }

    /// Validates the configuration and builds the simulation.
    pub fn build(self) -> Result<Simulation, SimError> {
        Simulation::build(self)
    }
}

struct Seeds {
    service: u64,
    failure: u64,
    backoff: u64,
    think: u64,
    keys: u64,
    probe: u64,
    router: u64,
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
    heap: EventQueue<Ev>,
    sites: Vec<Site>,
    backends: Vec<BackendState>,
    groups: Vec<Group>,
    requests: Vec<Request>,
    /// Per request: its token, `| WAITING` while its client waits on the
    /// current attempt.
    live: Vec<u32>,
    free_requests: Vec<u32>,
    jobs: Vec<Job>,
    free_jobs: Vec<u32>,
    accepting: Vec<Accepting>,
    free_accepting: Vec<u32>,
    router: Box<dyn Balancer>,
    router_picker: Box<dyn Picker>,
    router_tracks_load: bool,
    router_mode: RouterMode,
    /// The sites' published router weights, for the DNS-like modes.
    site_draw: WeightedSites,
    /// Whether any balancer (or the router's DNS cache) reads request
    /// keys; if none does, requests carry key 0 and no key is drawn.
    keys_needed: bool,
    recorder: Recorder,
    /// Where a streaming run's rows go.
    sink: Option<Box<dyn RowSink>>,
    actions: Vec<Action>,
    seeds: Seeds,
    next_boundary: u64,
    interval: u64,
    health: Option<HealthCheckConfig>,
    dns_ttl: u64,
    slow_start: u64,
    panic_threshold: f64,
    panicking: bool,
    cancel: bool,
    finished: bool,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("now", &self.now())
            .field("end", &self.end)
            .field("pending_events", &self.heap.len())
            .finish_non_exhaustive()
    }
}

fn site_backends(backends: &[BackendState], first: u32, n: u32) -> Vec<Backend> {
    (0..n)
        .map(|i| {
            let b = &backends[(first + i) as usize];
            Backend::new(i, b.weight).with_hash_key(b.hash_key)
        })
        .collect()
}

/// The router's members: every site at its published weight.
fn router_members(sites: &[Site]) -> Vec<Backend> {
    sites
        .iter()
        .enumerate()
        .map(|(i, s)| Backend::new(i as u32, s.published).with_hash_key(s.hash_key))
        .collect()
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

    fn build(b: SimulationBuilder) -> Result<Self, SimError> {
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
        let seeds = Seeds {
            service: stream_seed(seed, Stream::Service),
            failure: stream_seed(seed, Stream::Failure),
            backoff: stream_seed(seed, Stream::Backoff),
            think: stream_seed(seed, Stream::Think),
            keys: stream_seed(seed, Stream::Keys),
            probe: stream_seed(seed, Stream::Probe),
            router: stream_seed(seed, Stream::Router),
        };
        let balancer_seed = stream_seed(seed, Stream::Balancer);

        let mut backends = Vec::new();
        let mut sites = Vec::with_capacity(config.sites.len());
        for (i, s) in config.sites.iter().enumerate() {
            let first = backends.len() as u32;
            let mut slots = 0u64;
            let mut hash_keys = s.backend_hash_keys().into_iter();
            for g in &s.backends {
                for _ in 0..g.count {
                    backends.push(BackendState {
                        site: i as u32,
                        slots: g.slots,
                        busy: 0,
                        queue: VecDeque::new(),
                        queue_cap: g.queue,
                        cancelled_in_queue: 0,
                        service: g.service,
                        speed: g.speed,
                        fail_probability: g.fail_probability,
                        weight: g.weight,
                        target: g.weight,
                        slow_since: None,
                        hash_key: hash_keys.next().expect("one key per backend"),
                    });
                    slots += u64::from(g.slots);
                }
            }
            let n = backends.len() as u32 - first;
            let members = site_backends(&backends, first, n);
            let wrap = |source| SimError::Balancer {
                site: s.name.clone(),
                source,
            };
            let (lb, tracks_load, hashes) =
                match balancers.iter().position(|(name, _)| *name == s.name) {
                    Some(k) => {
                        let lb = balancers.swap_remove(k).1;
                        lb.update(&members).map_err(wrap)?;
                        (lb, true, true)
                    }
                    None => (
                        s.balancer
                            .build_with(&members, mix(balancer_seed ^ i as u64), &s.balancer_params)
                            .map_err(wrap)?,
                        s.balancer.tracks_load(),
                        s.balancer.hashes_keys(),
                    ),
                };
            let picker = lb.picker();
            let weight = s.router_weight();
            sites.push(Site {
                name: s.name.clone(),
                hash_key: crate::balancer::key_of(s.name.as_bytes()),
                picker,
                lb,
                tracks_load,
                hashes,
                first_backend: first,
                backends: n,
                slots,
                max_in_flight: s.max_in_flight.unwrap_or(u32::MAX),
                tat: 0,
                backlog: s.accept_backlog,
                rate_cap: s.max_new_per_sec.unwrap_or(0.0),
                rate_floor: s.max_new_per_sec.unwrap_or(0.0),
                scaling: s.scaling.clone(),
                demand: 0,
                in_flight: 0,
                busy: 0,
                queued: 0,
                last: 0,
                area_in_flight: 0,
                area_busy: 0,
                area_queue: 0,
                admitted: 0,
                rejected: 0,
                base_weight: weight,
                weight,
                published: weight,
                healthy: true,
                fails: 0,
                oks: 0,
                ramp: None,
                ramp_token: 0,
                slow_start_since: None,
                cold_until: 0,
                cold_factor: 1.0,
                probe_seq: 0,
                probe_pending: None,
            });
        }
        let router_members = router_members(&sites);
        let router = config
            .router
            .balancer
            .build(&router_members, mix(balancer_seed ^ 0xdead_beef))
            .map_err(|source| SimError::Balancer {
                site: "router".into(),
                source,
            })?;
        let router_picker = router.picker();
        let mut site_draw = WeightedSites::default();
        site_draw.set(sites.iter().map(|s| s.published));

        let arrivals_seed = stream_seed(seed, Stream::Arrivals);
        let mut groups = Vec::with_capacity(config.clients.len());
        for (i, g) in config.clients.iter().enumerate() {
            let policy = match policies.iter().position(|(name, _)| *name == g.name) {
                Some(k) => GroupPolicy::Custom(policies.swap_remove(k).1),
                None => GroupPolicy::Builtin(Box::new(
                    Policy::new(g.retry.resolve().expect("validated")).expect("validated"),
                )),
            };
            let keys = KeySampler::new(g.keys);
            let (source, think) = match &g.workload {
                Workload::Open { rate, curve } => (
                    Some(ArrivalSource::new(
                        arrivals_seed,
                        i,
                        RateCurve::new(*rate, curve),
                    )),
                    0,
                ),
                Workload::Closed { think, .. } => (None, think.0),
            };
            // Sticky closed-loop clients each keep their own answer.
            let dns_entries = match (&g.workload, config.router.mode) {
                (Workload::Closed { clients, .. }, RouterMode::Sticky) => *clients as usize,
                _ => config.router.ttl_buckets as usize,
            };
            let limits = ClientLimits::new(g.retry.resolve().expect("validated").limits);
            groups.push(Group {
                policy,
                limits,
                source,
                next_arrival: None,
                timeouts: VecDeque::new(),
                think,
                keys,
                next_seq: 0,
                dns: vec![(NONE, 0); dns_entries],
            });
        }

        let interval = config.recorder.interval.0;
        let mut sim = Simulation {
            now: 0,
            end: config.duration.0,
            seq: 0,
            heap: EventQueue::new(),
            recorder: Recorder::new(config.recorder.interval, sites.len()),
            sink: None,
            sites,
            backends,
            groups,
            requests: Vec::new(),
            live: Vec::new(),
            free_requests: Vec::new(),
            jobs: Vec::new(),
            free_jobs: Vec::new(),
            accepting: Vec::new(),
            free_accepting: Vec::new(),
            router,
            router_picker,
            router_tracks_load: config.router.mode == RouterMode::Balancer
                && config.router.balancer.tracks_load(),
            router_mode: config.router.mode,
            site_draw,
            keys_needed: false,
            actions: Vec::new(),
            seeds,
            next_boundary: interval,
            interval,
            health: config.router.health_check.clone(),
            dns_ttl: config.router.dns_ttl.0,
            slow_start: config.router.slow_start.0,
            panic_threshold: config.router.panic_threshold,
            panicking: false,
            cancel: config.cancel_on_timeout,
            finished: false,
            config,
        };
        sim.keys_needed = sim.wants_keys();
        for g in 0..sim.groups.len() {
            sim.schedule_next_arrival(g as u32);
            if let Workload::Closed { clients, think } = sim.config.clients[g].workload {
                for c in 0..clients {
                    let u = unit_open(draw(sim.seeds.think, (g as u64) << 40 | u64::from(c), 0));
                    let at = (-u.ln() * think.0 as f64) as u64;
                    sim.push(at, Ev::Think(g as u32, c));
                }
            }
        }
        if let Some(h) = sim.health.clone() {
            let n = sim.sites.len() as u64;
            for s in 0..n {
                sim.push(h.interval.0 * (s + 1) / n, Ev::Probe(s as u32));
            }
        }
        if sim.sites.iter().any(|s| s.scaling.is_some()) {
            sim.push(SCALE_TICK, Ev::Scale);
        }
        for TimedAction { at, action } in sim.config.timeline.clone() {
            sim.push_action(at.0, action);
        }
        Ok(sim)
    }

    // ----- the host's API ------------------------------------------------

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
            .map(|s| SiteView {
                name: s.name.clone(),
                balancer: s.lb.name(),
                weight: s.weight,
                effective_weight: s.published,
                healthy: s.healthy,
                in_flight: s.in_flight,
                busy: s.busy,
                queued: s.queued,
            })
            .collect()
    }

    /// Events waiting: in the heap, and in the arrival and timeout lanes
    /// (stale timeouts included until they come up).
    pub fn pending_events(&self) -> usize {
        self.heap.len()
            + self
                .groups
                .iter()
                .map(|g| g.timeouts.len() + usize::from(g.next_arrival.is_some()))
                .sum::<usize>()
    }

    /// Requests in progress (waiting on an attempt or in backoff).
    pub fn requests_in_progress(&self) -> usize {
        self.requests.len() - self.free_requests.len()
    }

    /// What client group `group` holds now, counted by scanning the
    /// requests in progress (O(requests); for tests and hosts that inspect
    /// a run, independent of the counters that enforce the group's
    /// limits): requests in progress, and of them the retries outstanding
    /// (in backoff, or waiting on an attempt after the first).
    pub fn client_load(&self, group: usize) -> (usize, usize) {
        let mut free = vec![false; self.requests.len()];
        for &r in &self.free_requests {
            free[r as usize] = true;
        }
        let mut requests = 0;
        let mut retries = 0;
        for (r, req) in self.requests.iter().enumerate() {
            if free[r] || req.group as usize != group {
                continue;
            }
            requests += 1;
            let waiting = self.live[r] & WAITING != 0;
            if !waiting || req.state.attempts >= 2 {
                retries += 1;
            }
        }
        (requests, retries)
    }

    // ----- the event loop ----------------------------------------------

    #[inline]
    fn push(&mut self, time: u64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Entry {
            time,
            seq: self.seq,
            ev,
        });
    }

    /// Schedules an attempt deadline: in the group's lane when it keeps
    /// the lane in time order (the common case: now + a fixed timeout),
    /// else in the heap.
    #[inline]
    fn push_timeout(&mut self, g: u32, time: u64, r: u32, token: u32) {
        self.seq += 1;
        let lane = &mut self.groups[g as usize].timeouts;
        if lane.back().is_none_or(|b| b.0 <= time) {
            lane.push_back((time, self.seq, r, token));
        } else {
            self.heap.push(Entry {
                time,
                seq: self.seq,
                ev: Ev::Timeout(r, token),
            });
        }
    }

    /// Removes and returns the earliest event at or before `limit`, over
    /// the heap and every group's lanes, in (time, sequence) order. Stale
    /// lane timeouts are dropped when they reach the front and would come
    /// first.
    #[inline]
    fn next_event(&mut self, limit: u64) -> Option<(u64, Ev)> {
        const HEAP: usize = usize::MAX;
        // Nothing pending is the maximum key.
        let mut best = self.heap.peek().map_or(u128::MAX, Entry::key);
        let mut source = (HEAP, false);
        for (g, group) in self.groups.iter_mut().enumerate() {
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
                if self.live[r as usize] == token | WAITING {
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
            (HEAP, _) => (time, self.heap.pop().expect("peeked").ev),
            (g, false) => {
                self.groups[g].next_arrival = None;
                (time, Ev::Arrival(g as u32))
            }
            (g, true) => {
                let (_, _, r, token) = self.groups[g].timeouts.pop_front().expect("peeked");
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
            .map(|s| {
                s.touch(at);
                area += s.area_in_flight;
                let row = SiteInterval {
                    admitted: s.admitted,
                    rejected: s.rejected,
                    utilisation: s.area_busy as f64 / (s.slots as f64 * len),
                    mean_queue: s.area_queue as f64 / len,
                    mean_in_flight: s.area_in_flight as f64 / len,
                    weight: s.published,
                    healthy: s.healthy,
                    accept_rate: s.rate_cap,
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
        self.recorder
            .close(SimTime(at), rows, self.sink.as_deref_mut());
        self.next_boundary = at + self.interval;
    }

    fn dispatch(&mut self, ev: Ev) {
        self.recorder.totals.events += 1;
        match ev {
            Ev::Arrival(g) => self.on_arrival(g),
            Ev::Think(g, c) => self.start_request(g, c),
            Ev::Complete(j) => self.on_complete(j),
            Ev::Timeout(r, token) => self.on_timeout(r, token),
            Ev::Retry(r, token) => self.on_retry(r, token),
            Ev::Probe(s) => self.on_probe(s),
            Ev::ProbeTimeout(s, seq) => {
                if self.sites[s as usize].probe_pending == Some(seq) {
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
            Ev::Accepted(p) => self.on_accepted(p),
            Ev::BackendSlowStart(s) => self.on_backend_slow_start(s),
        }
    }

    /// Takes group `g`'s next arrival out of its source into its lane.
    fn schedule_next_arrival(&mut self, g: u32) {
        let end = self.end;
        let group = &mut self.groups[g as usize];
        group.next_arrival = None;
        if let Some(t) = group.source.as_mut().and_then(|s| s.pop(end)) {
            self.seq += 1;
            self.groups[g as usize].next_arrival = Some((t, self.seq));
        }
    }

    fn on_arrival(&mut self, g: u32) {
        self.schedule_next_arrival(g);
        self.start_request(g, NONE);
    }

    /// Whether any balancer or the router's DNS cache reads request keys.
    fn wants_keys(&self) -> bool {
        self.dns_ttl > 0
            || (self.router_mode == RouterMode::Balancer
                && self.config.router.balancer.hashes_keys())
            || self.sites.iter().any(|s| s.hashes)
    }

    /// The key of request `id`: a pure function of (seed, id), so it is
    /// the same whenever it is drawn.
    fn key_of(&self, id: u64) -> u64 {
        let g = (id >> 40) as usize;
        self.groups[g]
            .keys
            .sample(&mut SplitMix(draw(self.seeds.keys, id, 0)))
    }

    fn start_request(&mut self, g: u32, client: u32) {
        let now = SimTime(self.now);
        self.recorder.current.offered += 1;
        let id = (u64::from(g) << 40) | self.groups[g as usize].next_seq;
        let key = if self.keys_needed { self.key_of(id) } else { 0 };
        let group = &mut self.groups[g as usize];
        group.next_seq += 1;
        let mut rng = LazySplitMix::new(self.seeds.backoff, id, 0);
        if group.policy.admit(now, &mut rng).is_err() {
            self.recorder.current.refused += 1;
            self.recorder.ended(1);
            self.client_done(g, client, id);
            return;
        }
        if !group.limits.try_request() {
            self.recorder.overflow(0);
            self.client_done(g, client, id);
            return;
        }
        let state = group.policy.begin(now);
        let r = match self.free_requests.pop() {
            Some(r) => {
                let q = &mut self.requests[r as usize];
                q.group = g;
                q.job = NONE;
                q.client = client;
                q.id = id;
                q.key = key;
                q.state = state;
                q.retrying = false;
                r
            }
            None => {
                self.requests.push(Request {
                    group: g,
                    job: NONE,
                    client,
                    id,
                    key,
                    state,
                    retrying: false,
                });
                self.live.push(0);
                self.requests.len() as u32 - 1
            }
        };
        self.send_attempt(r);
    }

    /// Picks a site for attempt `attempt` of request `id` (group `g`,
    /// `key`, closed-loop `client` or [`NONE`]).
    #[inline]
    fn route(&mut self, g: u32, key: u64, client: u32, id: u64, attempt: u32) -> Option<u32> {
        let fresh = |sim: &mut Self| match sim.router_mode {
            RouterMode::Balancer => sim.router_picker.pick(key).map(|id| id.0),
            RouterMode::WeightedRandom | RouterMode::Sticky => {
                sim.site_draw
                    .pick(draw(sim.seeds.router, id, u64::from(attempt)))
            }
        };
        if self.dns_ttl == 0 {
            return fresh(self);
        }
        let group = &mut self.groups[g as usize];
        let entries = group.dns.len() as u64;
        let b = if self.router_mode == RouterMode::Sticky && client != NONE {
            client as usize
        } else {
            ((u128::from(key) * u128::from(entries)) >> 64) as usize
        };
        let (site, expires) = group.dns[b];
        if site != NONE
            && expires > self.now
            && (self.router_mode != RouterMode::Sticky || self.site_draw.in_rotation(site))
        {
            return Some(site);
        }
        let site = fresh(self)?;
        self.groups[g as usize].dns[b] = (site, self.now + self.dns_ttl);
        Some(site)
    }

    /// Admission at a site's load balancer: the in-flight cap, then the
    /// accept rate (GCRA with 100 ms of burst, and a backlog whose
    /// attempts wait their turn). Returns the wait before the load
    /// balancer accepts, or `None` if it rejects. An admitted attempt is
    /// held (counted in flight) from now.
    #[inline]
    fn admit_at_site(&mut self, s: u32, probe: bool) -> Option<u64> {
        let now = self.now;
        let site = &mut self.sites[s as usize];
        site.demand += 1;
        if site.in_flight >= site.max_in_flight {
            return None;
        }
        let mut delay = 0;
        if site.rate_cap > 0.0 {
            let period = (1e9 / site.rate_cap) as u64;
            let tat = site.tat.max(now);
            delay = tat.saturating_sub(BURST_NS).saturating_sub(now);
            if delay > u64::from(site.backlog).saturating_mul(period) {
                return None;
            }
            site.tat = tat + period;
        }
        site.touch(now);
        site.in_flight += 1;
        site.admitted += u64::from(!probe);
        Some(delay)
    }

    /// Lets go of an attempt the site held but could not place.
    fn unhold(&mut self, s: u32) {
        let site = &mut self.sites[s as usize];
        site.touch(self.now);
        site.in_flight -= 1;
    }

    /// Places a job at a site: picks a backend, then a slot or a queue
    /// place. Returns the job and whether it went straight into service,
    /// or `None` if the backend (or the balancer) refused.
    /// The service demand is drawn from the picked backend's distribution
    /// with the counter (`id`, `attempt`), so it does not depend on which
    /// balancer sent it there.
    fn place(
        &mut self,
        s: u32,
        key: u64,
        (owner, token): (u32, u32),
        (id, attempt): (u64, u64),
    ) -> Option<(u32, bool)> {
        let now = self.now;
        let local = self.sites[s as usize].picker.pick(key)?;
        let b = self.sites[s as usize].first_backend + local.0;
        let service = self.service_draw(self.backends[b as usize].service, id, attempt);
        let site = &mut self.sites[s as usize];
        let backend = &mut self.backends[b as usize];
        let cold = now < site.cold_until;
        // Most backends run at speed 1 outside a cold start: skip the
        // float round trip (which gives any `service` below 2^53 ns back
        // exactly).
        let service = if backend.speed == 1.0 && !cold {
            service
        } else {
            (service as f64 / backend.speed * if cold { site.cold_factor } else { 1.0 }) as u64
        };
        let immediate = backend.busy < backend.slots;
        if !immediate
            && backend.queue.len() as u32 - backend.cancelled_in_queue >= backend.queue_cap
        {
            return None;
        }
        site.touch(now);
        if site.tracks_load {
            site.picker.start(local);
        }
        if self.router_tracks_load {
            self.router_picker.start(BackendId(s));
        }
        let job = Job {
            owner,
            token,
            backend: b,
            flags: if immediate { IN_SERVICE } else { 0 },
            admitted: now,
            started: now,
            service,
        };
        let j = match self.free_jobs.pop() {
            Some(j) => {
                self.jobs[j as usize] = job;
                j
            }
            None => {
                self.jobs.push(job);
                self.jobs.len() as u32 - 1
            }
        };
        if immediate {
            backend.busy += 1;
            site.busy += 1;
            self.push(now + service, Ev::Complete(j));
        } else {
            backend.queue.push_back(j);
            site.queued += 1;
        }
        Some((j, immediate))
    }

    fn service_draw(&self, b_service: ServiceTime, id: u64, attempt: u64) -> u64 {
        let bits = draw(self.seeds.service, id, attempt);
        match b_service {
            ServiceTime::Deterministic { value } => value.0,
            ServiceTime::Exponential { mean } => {
                // Ziggurat: one table step for 98.9 % of draws, no `ln`.
                let e: f64 = Exp1.sample(&mut SplitMix(bits));
                (e * mean.0 as f64) as u64
            }
            ServiceTime::LogNormal { mean, sigma } => {
                let u1 = unit_open(bits);
                let u2 = unit_open(mix(bits ^ 0x2545_f491_4f6c_dd1d));
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let mu = (mean.0 as f64).ln() - sigma * sigma / 2.0;
                (mu + sigma * z).exp().min(1e18) as u64
            }
        }
    }

    fn send_attempt(&mut self, r: u32) {
        let now = self.now;
        let token = self.next_token(r);
        let req = &self.requests[r as usize];
        let (g, key, id, attempt, client) =
            (req.group, req.key, req.id, req.state.attempts, req.client);
        self.recorder.current.attempts += 1;
        if attempt > 1 {
            self.recorder.current.retries += 1;
        }
        let Some(s) = self.route(g, key, client, id, attempt) else {
            self.recorder.current.unroutable += 1;
            return self.outcome(r, Outcome::Failure(Pushback::None));
        };
        let Some(delay) = self.admit_at_site(s, false) else {
            self.recorder.current.lb_rejects += 1;
            self.sites[s as usize].rejected += 1;
            return self.outcome(r, Outcome::Failure(Pushback::None));
        };
        let req = &mut self.requests[r as usize];
        req.job = NONE;
        self.live[r as usize] |= WAITING;
        let deadline = self.groups[g as usize]
            .policy
            .attempt_deadline(SimTime(now), &req.state)
            .map(|d| d.0);
        if delay > 0 {
            if !self.groups[g as usize].limits.try_pend() {
                // No room to wait for the load balancer: fail fast.
                self.unhold(s);
                let attempts = self.requests[r as usize].state.attempts;
                self.recorder.overflow(attempts);
                return self.free_request(r);
            }
            if let Some(d) = deadline {
                self.push_timeout(g, d, r, token);
            }
            let p = self.hold_accepting(Accepting {
                site: s,
                owner: r,
                token,
                probe: false,
                key,
                id,
                attempt: u64::from(attempt),
            });
            self.push(now + delay, Ev::Accepted(p));
            return;
        }
        let Some((j, immediate)) = self.place(s, key, (r, token), (id, u64::from(attempt))) else {
            self.unhold(s);
            self.recorder.current.queue_rejects += 1;
            self.sites[s as usize].rejected += 1;
            return self.outcome(r, Outcome::Failure(Pushback::None));
        };
        self.requests[r as usize].job = j;
        if let Some(d) = deadline
            && (!immediate || now + self.jobs[j as usize].service > d)
        {
            self.push_timeout(g, d, r, token);
        }
    }

    fn hold_accepting(&mut self, a: Accepting) -> u32 {
        match self.free_accepting.pop() {
            Some(p) => {
                self.accepting[p as usize] = a;
                p
            }
            None => {
                self.accepting.push(a);
                self.accepting.len() as u32 - 1
            }
        }
    }

    /// A load balancer accepts an attempt from its backlog and forwards it
    /// to a backend, whether or not its client still waits (it cannot
    /// know) — unless timeouts cancel.
    fn on_accepted(&mut self, p: u32) {
        self.free_accepting.push(p);
        let a = &self.accepting[p as usize];
        let (s, owner, token, probe, key, id, attempt) =
            (a.site, a.owner, a.token, a.probe, a.key, a.id, a.attempt);
        let waiting = if probe {
            self.sites[owner as usize].probe_pending == Some(token)
        } else {
            // The id names the group even if the request has ended since.
            self.groups[(id >> 40) as usize].limits.pend_done();
            self.live[owner as usize] == token | WAITING
        };
        if self.cancel && !waiting {
            self.unhold(s);
            self.recorder.totals.cancelled += 1;
            return;
        }
        let Some((j, _)) = self.place(s, key, (owner, token), (id, attempt)) else {
            self.unhold(s);
            self.recorder.current.queue_rejects += 1;
            self.sites[s as usize].rejected += 1;
            if waiting {
                if probe {
                    self.probe_result(owner, false);
                } else {
                    self.outcome(owner, Outcome::Failure(Pushback::None));
                }
            }
            return;
        };
        if probe {
            self.jobs[j as usize].flags |= PROBE;
        } else if waiting {
            self.requests[owner as usize].job = j;
        }
    }

    fn outcome(&mut self, r: u32, outcome: Outcome) {
        let now = SimTime(self.now);
        self.live[r as usize] &= !WAITING;
        let req = &mut self.requests[r as usize];
        let g = req.group;
        if req.retrying {
            // The outcome of a retry attempt: the retry is over.
            req.retrying = false;
            self.groups[g as usize].limits.retry_done();
        }
        let mut rng = LazySplitMix::new(self.seeds.backoff, req.id, u64::from(req.state.attempts));
        let decision =
            self.groups[g as usize]
                .policy
                .on_outcome(now, &mut req.state, outcome, &mut rng);
        match decision {
            Decision::Done => {
                let latency = now.since(req.state.started);
                let attempts = req.state.attempts;
                self.recorder.success(latency, attempts);
                self.free_request(r);
            }
            Decision::Retry(d) => {
                if !self.groups[g as usize].limits.try_retry() {
                    let attempts = req.state.attempts;
                    self.recorder.overflow(attempts);
                    return self.free_request(r);
                }
                req.retrying = true;
                let token = self.live[r as usize];
                self.push(self.now + d.0, Ev::Retry(r, token));
            }
            Decision::GiveUp(_) => {
                let attempts = req.state.attempts;
                self.recorder.failure(attempts);
                self.free_request(r);
            }
        }
    }

    /// Moves request `r` to its next token, not waiting, and returns it.
    #[inline]
    fn next_token(&mut self, r: u32) -> u32 {
        let live = &mut self.live[r as usize];
        *live = (*live & !WAITING).wrapping_add(2);
        *live
    }

    fn free_request(&mut self, r: u32) {
        self.next_token(r);
        let req = &mut self.requests[r as usize];
        let (g, client, id) = (req.group, req.client, req.id);
        let limits = &mut self.groups[g as usize].limits;
        if std::mem::take(&mut req.retrying) {
            limits.retry_done();
        }
        limits.request_done();
        self.free_requests.push(r);
        self.client_done(g, client, id);
    }

    /// A closed-loop client thinks, then sends its next request.
    fn client_done(&mut self, g: u32, client: u32, id: u64) {
        if client == NONE {
            return;
        }
        let think = self.groups[g as usize].think as f64;
        let u = unit_open(draw(self.seeds.think, id, 1));
        let at = self.now + (-u.ln() * think) as u64;
        self.push(at, Ev::Think(g, client));
    }

    fn on_retry(&mut self, r: u32, token: u32) {
        if self.live[r as usize] != token {
            return;
        }
        let req = &self.requests[r as usize];
        let g = req.group;
        let mut rng = LazySplitMix::new(
            self.seeds.backoff,
            req.id,
            u64::from(req.state.attempts) | 1 << 32,
        );
        if self.groups[g as usize]
            .policy
            .admit(SimTime(self.now), &mut rng)
            .is_err()
        {
            self.recorder.current.refused += 1;
            let attempts = self.requests[r as usize].state.attempts - 1;
            self.recorder.ended(attempts);
            self.free_request(r);
            return;
        }
        self.send_attempt(r);
    }

    fn on_timeout(&mut self, r: u32, token: u32) {
        if self.live[r as usize] != token | WAITING {
            return;
        }
        let req = &self.requests[r as usize];
        self.recorder.current.timeouts += 1;
        if self.cancel && req.job != NONE {
            let j = req.job;
            self.cancel_job(j);
        }
        self.outcome(r, Outcome::Timeout);
    }

    /// Releases a job's hold on its site and balancer.
    fn release(&mut self, j: u32) {
        let job = &self.jobs[j as usize];
        let b = job.backend;
        let s = self.backends[b as usize].site;
        let site = &mut self.sites[s as usize];
        site.touch(self.now);
        site.in_flight -= 1;
        if site.tracks_load {
            site.picker.finish(BackendId(b - site.first_backend));
        }
        if self.router_tracks_load {
            self.router_picker.finish(BackendId(s));
        }
    }

    fn cancel_job(&mut self, j: u32) {
        let flags = self.jobs[j as usize].flags;
        if flags & CANCELLED != 0 {
            return;
        }
        self.release(j);
        self.recorder.totals.cancelled += 1;
        self.jobs[j as usize].flags |= CANCELLED;
        let b = self.jobs[j as usize].backend;
        let s = self.backends[b as usize].site as usize;
        if flags & IN_SERVICE != 0 {
            self.backends[b as usize].busy -= 1;
            self.sites[s].busy -= 1;
            self.start_next(b);
        } else {
            self.backends[b as usize].cancelled_in_queue += 1;
            self.sites[s].queued -= 1;
        }
    }

    /// Starts the next live job of backend `b`'s queue, if a slot is free.
    fn start_next(&mut self, b: u32) {
        let now = self.now;
        loop {
            let backend = &mut self.backends[b as usize];
            if backend.busy >= backend.slots {
                return;
            }
            let Some(j) = backend.queue.pop_front() else {
                return;
            };
            let job = &mut self.jobs[j as usize];
            if job.flags & CANCELLED != 0 {
                backend.cancelled_in_queue -= 1;
                self.free_jobs.push(j);
                continue;
            }
            job.flags |= IN_SERVICE;
            job.started = now;
            let service = job.service;
            backend.busy += 1;
            let site = &mut self.sites[backend.site as usize];
            site.touch(now);
            site.queued -= 1;
            site.busy += 1;
            self.push(now + service, Ev::Complete(j));
        }
    }

    fn on_complete(&mut self, j: u32) {
        let job = &self.jobs[j as usize];
        if job.flags & CANCELLED != 0 {
            self.free_jobs.push(j);
            return;
        }
        let (owner, token, b) = (job.owner, job.token, job.backend);
        let totals = &mut self.recorder.totals;
        totals.completions += 1;
        totals.server_sojourn_ns += u128::from(self.now - job.admitted);
        totals.server_wait_ns += u128::from(job.started - job.admitted);
        let probe = job.flags & PROBE != 0;
        self.release(j);
        let s = self.backends[b as usize].site as usize;
        self.backends[b as usize].busy -= 1;
        self.sites[s].busy -= 1;
        self.free_jobs.push(j);
        let fail_p = self.backends[b as usize].fail_probability;
        if probe {
            if self.sites[owner as usize].probe_pending == Some(token) {
                let ok = fail_p == 0.0
                    || unit_open(draw(self.seeds.probe, u64::from(owner), u64::from(token)))
                        > fail_p;
                self.probe_result(owner, ok);
            }
        } else if self.live[owner as usize] == token | WAITING {
            let req = &self.requests[owner as usize];
            let failed = fail_p > 0.0
                && unit_open(draw(
                    self.seeds.failure,
                    req.id,
                    u64::from(req.state.attempts),
                )) <= fail_p;
            if failed {
                self.recorder.current.errors += 1;
                self.outcome(owner, Outcome::Failure(Pushback::None));
            } else {
                self.outcome(owner, Outcome::Success);
            }
        } else {
            self.recorder.current.wasted += 1;
        }
        self.start_next(b);
    }

    // ----- health checks, weights, actions -----------------------------

    fn on_probe(&mut self, s: u32) {
        let Some(h) = self.health.clone() else {
            return;
        };
        self.push(self.now + h.interval.0, Ev::Probe(s));
        if self.sites[s as usize].probe_pending.is_some() {
            // The previous probe is still unanswered: it failed.
            self.probe_result(s, false);
        }
        let site = &mut self.sites[s as usize];
        site.probe_seq = site.probe_seq.wrapping_add(1);
        let seq = site.probe_seq;
        site.probe_pending = Some(seq);
        self.recorder.totals.probes += 1;
        let Some(delay) = self.admit_at_site(s, true) else {
            return self.probe_result(s, false);
        };
        let key = mix(u64::from(s) << 32 | u64::from(seq));
        let probe_id = u64::MAX - u64::from(s);
        let deadline = self.now + h.timeout.0;
        if delay > 0 {
            self.push(deadline, Ev::ProbeTimeout(s, seq));
            let p = self.hold_accepting(Accepting {
                site: s,
                owner: s,
                token: seq,
                probe: true,
                key,
                id: probe_id,
                attempt: u64::from(seq),
            });
            self.push(self.now + delay, Ev::Accepted(p));
            return;
        }
        let Some((j, immediate)) = self.place(s, key, (s, seq), (probe_id, u64::from(seq))) else {
            self.unhold(s);
            return self.probe_result(s, false);
        };
        self.jobs[j as usize].flags |= PROBE;
        if !immediate || self.now + self.jobs[j as usize].service > deadline {
            self.push(deadline, Ev::ProbeTimeout(s, seq));
        }
    }

    fn probe_result(&mut self, s: u32, ok: bool) {
        let Some(h) = &self.health else {
            return;
        };
        let (fall, rise) = (h.fall, h.rise);
        let site = &mut self.sites[s as usize];
        site.probe_pending = None;
        if !ok {
            self.recorder.totals.probe_failures += 1;
        }
        let changed = if ok {
            site.oks += 1;
            site.fails = 0;
            !site.healthy && site.oks >= rise
        } else {
            site.fails += 1;
            site.oks = 0;
            site.healthy && site.fails >= fall
        };
        if changed {
            site.healthy = ok;
            self.refresh_router();
        }
    }

    /// Recomputes the router weights (drains, health, panic, slow start)
    /// and publishes them if they changed.
    fn refresh_router(&mut self) {
        let weighted = self.sites.iter().filter(|s| s.weight > 0).count();
        let healthy = self
            .sites
            .iter()
            .filter(|s| s.weight > 0 && s.healthy)
            .count();
        self.panicking = self.panic_threshold > 0.0
            && weighted > 0
            && (healthy as f64) < self.panic_threshold * weighted as f64;
        let now = self.now;
        let mut changed = false;
        for i in 0..self.sites.len() {
            let site = &self.sites[i];
            let mut w = if site.healthy || self.panicking {
                site.weight
            } else {
                0
            };
            if w > 0
                && site.published == 0
                && self.slow_start > 0
                && site.slow_start_since.is_none()
            {
                self.sites[i].slow_start_since = Some(now);
                self.push(now + (self.slow_start / 10).max(1), Ev::SlowStart(i as u32));
            }
            let site = &mut self.sites[i];
            if let Some(since) = site.slow_start_since {
                let frac = (now - since) as f64 / self.slow_start as f64;
                if frac >= 1.0 || w == 0 {
                    site.slow_start_since = None;
                } else {
                    w = ((w as f64 * frac) as u32).max(1);
                }
            }
            if w != site.published {
                site.published = w;
                changed = true;
            }
        }
        if changed {
            self.site_draw.set(self.sites.iter().map(|s| s.published));
            self.router
                .update(&router_members(&self.sites))
                .expect("site ids are unique and fewer than the limit");
        }
    }

    fn on_scale(&mut self) {
        let now = self.now;
        for site in &mut self.sites {
            let Some(sc) = &site.scaling else {
                continue;
            };
            let target = (site.demand as f64 * sc.headroom).clamp(site.rate_floor, sc.max_per_sec);
            let step = site.rate_cap * sc.growth;
            site.rate_cap = if target > site.rate_cap {
                (site.rate_cap + step).min(target)
            } else {
                (site.rate_cap - step).max(target)
            };
            site.demand = 0;
        }
        self.push(now + SCALE_TICK, Ev::Scale);
    }

    fn on_slow_start(&mut self, s: u32) {
        if self.sites[s as usize].slow_start_since.is_none() {
            return;
        }
        self.refresh_router();
        if self.sites[s as usize].slow_start_since.is_some() {
            self.push(self.now + (self.slow_start / 10).max(1), Ev::SlowStart(s));
        }
    }

    fn set_weight(&mut self, s: u32, to: u32, ramp: u64) {
        let now = self.now;
        let site = &mut self.sites[s as usize];
        site.ramp_token = site.ramp_token.wrapping_add(1);
        if ramp == 0 || site.weight == to {
            site.ramp = None;
            site.weight = to;
            self.refresh_router();
            return;
        }
        let step = (ramp / 100).max(100_000_000).min(ramp);
        site.ramp = Some(Ramp {
            from: site.weight,
            to,
            start: now,
            end: now + ramp,
            step,
        });
        let token = site.ramp_token;
        self.push(now + step, Ev::Ramp(s, token));
    }

    fn on_ramp(&mut self, s: u32, token: u32) {
        let now = self.now;
        let site = &mut self.sites[s as usize];
        if site.ramp_token != token {
            return;
        }
        let Some(r) = &site.ramp else {
            return;
        };
        let frac = ((now - r.start) as f64 / (r.end - r.start) as f64).min(1.0);
        let w = r.from as f64 + (r.to as f64 - r.from as f64) * frac;
        site.weight = w.round() as u32;
        let next = (now + r.step).min(r.end);
        if frac >= 1.0 {
            site.weight = r.to;
            site.ramp = None;
        } else {
            self.push(next, Ev::Ramp(s, token));
        }
        self.refresh_router();
    }

    fn apply(&mut self, action: Action) {
        let site_of = |sim: &Self, name: &str| {
            sim.config.site_index(name).expect("actions are validated") as u32
        };
        match action {
            Action::Drain { site, ramp } => {
                let s = site_of(self, &site);
                self.set_weight(s, 0, ramp.0);
            }
            Action::Restore {
                site,
                ramp,
                cold_factor,
                cold_for,
            } => {
                let s = site_of(self, &site);
                let to = self.sites[s as usize].base_weight;
                if cold_factor > 1.0 && cold_for.0 > 0 {
                    self.sites[s as usize].cold_factor = cold_factor;
                    self.sites[s as usize].cold_until = self.now + cold_for.0;
                }
                self.set_weight(s, to, ramp.0);
            }
            Action::SetSiteWeight { site, weight, ramp } => {
                let s = site_of(self, &site);
                self.sites[s as usize].base_weight = weight;
                self.set_weight(s, weight, ramp.0);
            }
            Action::SetBackendWeights { site, weights } => {
                let s = site_of(self, &site);
                let first = self.sites[s as usize].first_backend;
                let now = self.now;
                let mut ramping = false;
                for (i, &w) in weights.iter().enumerate() {
                    let b = &mut self.backends[first as usize + i];
                    b.target = w;
                    if self.slow_start > 0 && b.weight == 0 && w > 0 {
                        // A returning backend ramps up, as Envoy's
                        // slow_start_window.
                        b.slow_since = Some(now);
                        b.weight = 1;
                        ramping = true;
                    } else if b.slow_since.is_none() || w == 0 {
                        b.slow_since = None;
                        b.weight = w;
                    }
                }
                self.publish_backends(s);
                if ramping {
                    self.push(now + (self.slow_start / 10).max(1), Ev::BackendSlowStart(s));
                }
            }
            Action::SetBalancer {
                site,
                balancer,
                params,
            } => {
                let s = site_of(self, &site);
                self.set_balancer(s, balancer, &params);
            }
            Action::SetBackendFailure {
                site,
                backends,
                fail_probability,
            } => {
                let s = site_of(self, &site);
                let (first, n) = (
                    self.sites[s as usize].first_backend,
                    self.sites[s as usize].backends,
                );
                let list = backends.unwrap_or_else(|| (0..n).collect());
                for i in list {
                    self.backends[(first + i) as usize].fail_probability = fail_probability;
                }
            }
            Action::SetAcceptRate {
                site,
                max_new_per_sec,
            } => {
                let s = site_of(self, &site);
                let site = &mut self.sites[s as usize];
                site.rate_cap = max_new_per_sec;
                site.rate_floor = max_new_per_sec;
                if let Some(sc) = site.scaling.as_mut() {
                    sc.max_per_sec = sc.max_per_sec.max(max_new_per_sec);
                }
            }
            Action::SetLoad { group, rate, curve } => {
                let g = self.config.group_index(&group).expect("validated") as u32;
                let now = self.now;
                let grp = &mut self.groups[g as usize];
                if let Some(src) = grp.source.as_mut() {
                    src.set_curve(now, RateCurve::new(rate, &curve));
                    self.schedule_next_arrival(g);
                }
            }
            Action::SetRetry { group, retry } => {
                let g = self.config.group_index(&group).expect("validated");
                let config = retry.resolve().expect("validated");
                self.groups[g].policy =
                    GroupPolicy::Builtin(Box::new(Policy::new(config).expect("validated")));
            }
        }
    }

    /// Publishes a site's backend weights in effect to its balancer.
    fn publish_backends(&mut self, s: u32) {
        let (first, n) = (
            self.sites[s as usize].first_backend,
            self.sites[s as usize].backends,
        );
        let members = site_backends(&self.backends, first, n);
        self.sites[s as usize]
            .lb
            .update(&members)
            .expect("same ids as at build");
    }

    fn on_backend_slow_start(&mut self, s: u32) {
        let now = self.now;
        let (first, n) = (
            self.sites[s as usize].first_backend,
            self.sites[s as usize].backends,
        );
        let mut ramping = false;
        for b in &mut self.backends[first as usize..(first + n) as usize] {
            let Some(since) = b.slow_since else {
                continue;
            };
            let frac = (now - since) as f64 / self.slow_start as f64;
            if frac >= 1.0 {
                b.weight = b.target;
                b.slow_since = None;
            } else {
                b.weight = ((b.target as f64 * frac) as u32).max(1);
                ramping = true;
            }
        }
        self.publish_backends(s);
        if ramping {
            self.push(now + (self.slow_start / 10).max(1), Ev::BackendSlowStart(s));
        }
    }

    /// The weights in effect of a site's backends, in configuration order
    /// (lower than configured while a backend is in slow start).
    pub fn backend_weights(&self, site: usize) -> Vec<u32> {
        let s = &self.sites[site];
        self.backends[s.first_backend as usize..(s.first_backend + s.backends) as usize]
            .iter()
            .map(|b| b.weight)
            .collect()
    }

    fn set_balancer(&mut self, s: u32, kind: BalancerKind, params: &KindParams) {
        let site = &self.sites[s as usize];
        let (first, n) = (site.first_backend, site.backends);
        let members = site_backends(&self.backends, first, n);
        let seed = mix(stream_seed(self.config.seed, Stream::Balancer) ^ u64::from(s) ^ 0x5e7);
        let lb = kind
            .build_with(&members, seed, params)
            .expect("the same backends built a balancer before; parameters are validated");
        let mut picker = lb.picker();
        // Carry the in-flight counts over: every live job at a backend.
        for i in 0..n {
            let b = &self.backends[(first + i) as usize];
            let live = b.busy + b.queue.len() as u32 - b.cancelled_in_queue;
            for _ in 0..live {
                picker.start(BackendId(i));
            }
        }
        let site = &mut self.sites[s as usize];
        site.lb = lb;
        site.picker = picker;
        site.tracks_load = kind.tracks_load();
        site.hashes = kind.hashes_keys();
        if !self.keys_needed && self.wants_keys() {
            // Requests under way were given key 0: give them their keys.
            self.keys_needed = true;
            for r in 0..self.requests.len() {
                self.requests[r].key = self.key_of(self.requests[r].id);
            }
            for p in 0..self.accepting.len() {
                if !self.accepting[p].probe {
                    self.accepting[p].key = self.key_of(self.accepting[p].id);
                }
            }
        }
    }
}
