//! The simulator's configuration: plain data, serde-readable, validated by
//! [`SimConfig::validate`] (which [`Simulation::new`](super::Simulation::new)
//! calls).
//!
//! One file per part of the model, as in the engine: `router.rs` (how a
//! request picks a site, health checks), `site.rs` (a load balancer and
//! its backends), `clients.rs` (workloads, keys, retry policies),
//! `recorder.rs` (series and the verdict rule). Each part checks its own
//! values beside its type; `validate.rs` checks what only the whole can
//! (unique names, totals, the timeline).

use serde::{Deserialize, Serialize};

use crate::time::{SimDuration, SimTime};

mod action;
mod autoscaling;
mod clients;
mod concurrency;
mod discipline;
mod orca;
mod outlier;
mod recorder;
mod router;
mod site;
mod validate;

pub use self::action::{Action, TimedAction};
pub use self::autoscaling::Autoscaling;
pub(crate) use self::clients::validate_curve;
pub use self::clients::{
    ClientGroup, CurvePoint, DEFAULT_INSTANCES_MAX, KeyDist, RetrySpec, Workload,
};
pub use self::concurrency::AdaptiveConcurrency;
pub use self::discipline::QueueDiscipline;
pub use self::orca::Orca;
pub use self::outlier::OutlierDetection;
pub use self::recorder::RecorderConfig;
pub use self::router::{HealthCheckConfig, RouterConfig, RouterMode};
pub use self::site::{BackendGroup, LbScaling, ServiceTime, SiteConfig};
pub(crate) use self::validate::check_params;

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
    /// How requests choose a site.
    #[serde(default)]
    pub router: RouterConfig,
    /// Whether a client's timeout cancels its attempt at the server (drops
    /// it from the queue, or aborts it in service). Off by default: real
    /// servers keep working on abandoned requests, which is what lets a
    /// storm outlive its trigger. The cancellation is at once, or, for a
    /// site with an `rtt`, half the round trip after the timeout.
    #[serde(default)]
    pub cancel_on_timeout: bool,
    /// Recorder and verdict settings.
    #[serde(default)]
    pub recorder: RecorderConfig,
    /// The sites (datacenters) and what runs in them.
    pub sites: Vec<SiteConfig>,
    /// Who sends requests.
    pub clients: Vec<ClientGroup>,
    /// Scheduled changes (drains, restores, weight changes…), in time order.
    #[serde(default)]
    pub timeline: Vec<TimedAction>,
}

impl SimConfig {
    /// A small scenario for examples and tests: two sites of four
    /// single-slot backends (exponential service, mean 10 ms) under 500
    /// requests per second with the `envoy` retry preset, for 30 simulated
    /// seconds.
    pub fn example() -> SimConfig {
        let service = ServiceTime::Exponential {
            mean: SimDuration::from_millis(10),
        };
        let site = |name: &str| SiteConfig {
            max_in_flight: Some(64),
            ..SiteConfig::new(
                name,
                vec![BackendGroup {
                    queue: 16,
                    ..BackendGroup::new(4, service)
                }],
            )
        };
        SimConfig {
            seed: 1,
            ..SimConfig::new(
                SimDuration::from_secs(30),
                vec![site("east"), site("west")],
                vec![ClientGroup::new(
                    "web",
                    Workload::open(500.0),
                    RetrySpec::Preset("envoy".into()),
                )],
            )
        }
    }

    /// A scenario of `duration` with these sites and clients and every
    /// other key as a profile leaves it: seed 0, the default router and
    /// recorder, work kept after a client's timeout, no timeline.
    pub fn new(duration: SimDuration, sites: Vec<SiteConfig>, clients: Vec<ClientGroup>) -> Self {
        SimConfig {
            seed: 0,
            duration,
            router: RouterConfig::default(),
            cancel_on_timeout: false,
            recorder: RecorderConfig::default(),
            sites,
            clients,
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
    /// when the last timeline action is done (a weight ramp ends at its
    /// time plus its ramp), else `None`.
    ///
    /// ```
    /// use drainstorm::retry::{SimDuration, SimTime};
    /// use drainstorm::sim::{Action, SimConfig, TimedAction};
    ///
    /// let mut c = SimConfig::example();
    /// let site = c.sites[0].name.clone();
    /// c.timeline = vec![TimedAction {
    ///     at: SimTime(10_000_000_000),
    ///     action: Action::Drain { site, ramp: SimDuration::from_secs(30) },
    /// }];
    /// assert_eq!(c.trigger_end(), Some(SimTime(40_000_000_000)));
    /// ```
    pub fn trigger_end(&self) -> Option<SimTime> {
        self.recorder.trigger_end.or_else(|| {
            self.timeline
                .iter()
                .map(|t| match &t.action {
                    Action::Drain { ramp, .. }
                    | Action::Restore { ramp, .. }
                    | Action::SetSiteWeight { ramp, .. } => SimTime(t.at.0.saturating_add(ramp.0)),
                    _ => t.at,
                })
                .max()
        })
    }
}
