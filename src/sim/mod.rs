//! The discrete-event simulator: clients with retry policies send requests
//! through a global router and per-site load balancers to backends.
//!
//! # Model
//!
//! - **Time** is simulated nanoseconds ([`SimTime`](crate::time::SimTime)).
//!   Events run in (time, insertion sequence) order: events at the same
//!   instant run first-in first-out. No wall clock is read.
//! - **Clients** come in groups ([`ClientGroup`]): open-loop Poisson
//!   arrivals following a piecewise-linear load curve, or closed-loop
//!   clients with an exponential think time. Each request carries a key
//!   (uniform or Zipf) and follows its group's [`RetryPolicy`]: admission
//!   (breaker, throttling), per-attempt timeout and deadline, backoff and
//!   budget.
//! - **Instances**: a group is `instances` independent clients
//!   ([`ClientGroup::instances`]), each with its own retry state (budget,
//!   breaker, throttle: a [`Population`](crate::retry::Population)) and
//!   its own concurrency limits. An open-loop request comes from an
//!   instance drawn from its id; closed-loop clients belong to instances
//!   in blocks.
//! - **Client limits**: each instance may cap the requests, the attempts
//!   waiting to be accepted, and the retries it holds at once (Envoy's
//!   circuit-breaker thresholds, [`LimitsConfig`](crate::retry::LimitsConfig));
//!   the excess fails fast and is counted as an overflow.
//! - **The router** ([`RouterConfig`]) picks a site per attempt with a
//!   [`Balancer`] over the sites (weights: the sites' `weight`), or answers
//!   like DNS ([`RouterMode`], see [`router`]): a weighted random draw per
//!   attempt, or one kept per client instance for a TTL. Health checks
//!   eject and return sites; a panic threshold and slow start are optional.
//! - **A site's load balancer** admits an attempt if it holds fewer than
//!   `max_in_flight` and its rate limit allows, and otherwise rejects it at
//!   once. It picks a backend with the site's [`Balancer`] (hashing
//!   balancers place each backend by an identity unique across the
//!   topology, [`SiteConfig::backend_hash_keys`]) and reports
//!   starts and finishes to it, so load-aware balancers see real in-flight
//!   counts (queued and in service).
//! - **A backend** serves `slots` attempts at once, queues up to `queue`
//!   more in FIFO order and rejects beyond that. Service times come from
//!   [`ServiceTime`], divided by the backend's speed.
//! - **Timeouts do not cancel work** unless `cancel_on_timeout` is set: an
//!   attempt the client gave up on keeps its queue place and slot until
//!   served, and is counted as wasted. That is what lets a storm outlive
//!   its trigger.
//!
//! # What is not modelled
//!
//! No network latency or loss between clients, router and sites; no
//! connection set-up; no client connection pools beyond the three limits
//! above; no server-side load shedding or priorities; backends do not
//! autoscale (only a load balancer's accept rate does). To trust a
//! verdict, calibrate from the real system: backend capacity and service
//! times, the load balancers' accept rate, backlog and scaling, the load
//! curve, the clients' retry policy and limits, health checks and the DNS
//! TTL. The verdicts themselves are defined in [`verdict`].
//!
//! # Randomness and determinism
//!
//! Every draw comes from a stream seeded by (run seed, purpose). Arrivals
//! are drawn per (group, one-second window), so they are identical for any
//! balancer and any number of threads. A request's key, service demand,
//! failure coin and backoff jitter are hashes of (stream, request id,
//! attempt): the same request has the same key and asks the same work of
//! whichever backend it reaches (common random numbers). Keys are drawn
//! only when a balancer hashes them; otherwise requests carry key 0. A run is a pure function of
//! ([`SimConfig`], seed).
//!
//! # Cost
//!
//! One event-queue push and pop (a timing wheel for the next second, a
//! heap beyond) per attempt in service, per retry and per backlog wait;
//! arrivals and attempt deadlines wait in lanes of their own (an attempt
//! that starts at once and ends before its deadline schedules none). Memory is bounded by what is in
//! flight plus one row per recorder interval.
//!
//! [`Balancer`]: crate::balancer::Balancer
//! [`RetryPolicy`]: crate::retry::RetryPolicy

mod arrivals;
mod batch;
mod config;
mod engine;
mod error;
mod estimate;
mod heap;
mod interval;
mod lint;
mod queue;
mod random;
mod recorder;
pub mod router;
pub mod scale;
mod summary;
mod tally;
pub mod verdict;
mod zipf;

pub use self::batch::{RunResult, run_batch, run_batch_streaming, run_batch_with};
pub use self::config::{
    Action, AdaptiveConcurrency, Autoscaling, BackendGroup, ClientGroup, CurvePoint,
    DEFAULT_INSTANCES_MAX, HealthCheckConfig, KeyDist, LbScaling, MAX_BACKENDS_TOTAL, MAX_CLIENTS,
    MAX_INTERVALS, MAX_RATE, MAX_SERVER_PLACES, MAX_SITES, Orca, OutlierDetection, QueueDiscipline,
    RecorderConfig, RetrySpec, RouterConfig, RouterMode, ServiceTime, SimConfig, SiteConfig,
    TimedAction, Workload,
};
pub use self::engine::{Simulation, SimulationBuilder, SiteView, Windows};
pub use self::error::SimError;
pub use self::estimate::{WorkEstimate, offered_after_bound};
pub use self::lint::SimWarning;
pub use self::recorder::{Interval, Recorder, RowSink, SiteInterval, Totals};
pub use self::scale::{MAX_SCALE, Rounded, Scaled};
pub use self::summary::Summary;
pub use self::tally::judge;
pub use self::verdict::{CollapsePeriod, Judgement, Recovery, Verdict};
