//! The order of events at one instant: their sequence numbers.
//!
//! The loop takes events in (time, sequence) order. Without a network,
//! or when some site is no distance away, the sequence is one counter:
//! events of one instant run in the order they were scheduled.
//!
//! When every site is some distance away (both halves of its round trip
//! above zero), the model is two logical processes that exchange only
//! messages across the network: the clients' side (the clients, the
//! router and its health checks) and the sites' side (the sites' load
//! balancers and their backends). A message takes at least the shortest
//! half round trip, so within that long neither process can affect the
//! other, and a run split across two threads, each working through a
//! window that long, would give the same result — if each process can
//! tell the order of its own events at one instant without the other.
//! The sequence number then orders an instant's events by:
//!
//! 1. whose they are: the actions' and the paced drain's first (they
//!    steer both sides, and a split run would take them between windows),
//!    then the clients' side's, then the sites' side's;
//! 2. within one process, the messages from the other process before its
//!    own events;
//! 3. the count of events their sender scheduled: each process keeps its
//!    own, so neither needs the other's.
//!
//! This is the order a split run would keep. Against one counter it can
//! change the order of two events of one instant when one of them is an
//! action or a message: a model change for runs whose every site is
//! some distance away. The two processes' events of one instant may run
//! in either order without changing the run (the engine's tests run
//! them the other way round, and compare).

/// A logical process: whose an event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Process {
    /// The actions and the paced drain, which steer both sides.
    Steering = 0,
    /// The clients, the router and its health checks.
    Clients = 1,
    /// The sites' load balancers and their backends.
    Sites = 2,
}

impl Process {
    /// The process a message to `self` comes from.
    fn peer(self) -> Self {
        match self {
            Process::Clients => Process::Sites,
            Process::Sites | Process::Steering => Process::Clients,
        }
    }
}

/// A split run's sequence number, from its top bit down: the process's
/// rank (two bits), whether the event is the process's own rather than a
/// message (`OWN`), and the sender's count.
const OWN: u64 = 1 << 61;
/// Where the rank starts.
const RANK: u32 = 62;

/// The sequence numbers of a run's events.
pub(super) struct Order {
    /// Whether the run is two processes (see the module's doc).
    split: bool,
    /// Per process, the events it scheduled (without a split, the first
    /// counts every event).
    count: [u64; 3],
    /// Per process, its rank at an instant.
    rank: [u64; 3],
}

impl Order {
    /// The order of a run whose sites are each some distance away
    /// (`split`), or not.
    pub(super) fn new(split: bool) -> Self {
        Self {
            split,
            count: [0; 3],
            rank: [0, 1, 2],
        }
    }

    /// Whether the run is two processes.
    pub(super) fn is_split(&self) -> bool {
        self.split
    }

    /// The sequence number of an event a process schedules for itself
    /// (or the steering schedules for it): `to()` says whose it is, asked
    /// only in a split run.
    #[inline(always)]
    pub(super) fn own(&mut self, to: impl FnOnce() -> Process) -> u64 {
        if !self.split {
            self.count[0] += 1;
            return self.count[0];
        }
        let to = to();
        let count = &mut self.count[to as usize];
        *count += 1;
        (self.rank[to as usize] << RANK) | OWN | *count
    }

    /// The sequence number of a message that crosses the network to the
    /// process `to()` names (asked only in a split run): counted by its
    /// sender.
    #[inline]
    pub(super) fn message(&mut self, to: impl FnOnce() -> Process) -> u64 {
        if !self.split {
            self.count[0] += 1;
            return self.count[0];
        }
        let to = to();
        let count = &mut self.count[to.peer() as usize];
        *count += 1;
        (self.rank[to as usize] << RANK) | *count
    }

    /// Runs the sites' side's events of an instant before the clients'
    /// side's: a run must not change (the engine's tests).
    #[cfg(test)]
    pub(super) fn sites_first(&mut self) {
        self.rank = [0, 2, 1];
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::retry::{Backoff, HedgingConfig, LimitsConfig, PolicyConfig};
    use crate::sim::config::{
        Action, BackendGroup, HealthCheckConfig, RetrySpec, ServiceTime, TimedAction,
    };
    use crate::sim::{SimConfig, Simulation};
    use crate::time::{SimDuration, SimTime};

    fn ms(v: u64) -> SimDuration {
        SimDuration::from_millis(v)
    }

    /// Two sites 20 and 40 ms away, of 20 backends serving 30 ms each
    /// behind load balancers that accept 400 attempts/s into a backlog of
    /// 20, probed every second; up to 900 requests/s, retried at once
    /// after 100 ms by 4 client instances under Envoy-like limits (or
    /// hedged every 40 ms), with
    /// cancellation; one site drained over 2 s at 5 s and restored at
    /// 12 s, the other's load balancer reset at 10 s.
    pub(in super::super) fn stormy(hedged: bool) -> SimConfig {
        let mut c = SimConfig::example();
        c.duration = SimDuration::from_secs(25);
        for (site, rtt) in c.sites.iter_mut().zip([20, 40]) {
            site.rtt = ms(rtt);
            site.max_new_per_sec = Some(400.0);
            site.accept_backlog = 20;
            site.backends = vec![BackendGroup {
                queue: 8,
                ..BackendGroup::new(20, ServiceTime::Deterministic { value: ms(30) })
            }];
        }
        c.router.health_check = Some(HealthCheckConfig::new(ms(1000), ms(200)));
        c.cancel_on_timeout = true;
        c.clients[0].instances = Some(4);
        c.clients[0].workload = super::super::fading(900.0, 20);
        c.clients[0].retry = RetrySpec::Config(Box::new(PolicyConfig {
            attempt_timeout: Some(ms(100)),
            limits: LimitsConfig {
                max_pending_requests: Some(30),
                max_retries: (!hedged).then_some(50),
                ..LimitsConfig::default()
            },
            hedging: hedged.then_some(HedgingConfig { delay: ms(40) }),
            ..PolicyConfig::new(Backoff::Immediate, 4)
        }));
        let at = |s: u64, action: Action| TimedAction {
            at: SimTime::from_secs(s),
            action,
        };
        c.timeline = vec![
            at(
                5,
                Action::Drain {
                    site: "east".into(),
                    ramp: SimDuration::from_secs(2),
                },
            ),
            at(
                10,
                Action::ResetLoadBalancer {
                    site: "west".into(),
                },
            ),
            at(
                12,
                Action::Restore {
                    site: "east".into(),
                    ramp: SimDuration::ZERO,
                    cold_factor: 1.0,
                    cold_for: SimDuration::ZERO,
                },
            ),
        ];
        c
    }

    /// What a run recorded, as text to compare.
    fn outputs(mut sim: Simulation) -> String {
        sim.run();
        recorded(&sim)
    }

    /// What `sim` recorded, as text to compare.
    pub(in super::super) fn recorded(sim: &Simulation) -> String {
        let sites: Vec<_> = (0..sim.recorder().sites())
            .map(|s| sim.recorder().site_series(s).cloned().collect::<Vec<_>>())
            .collect();
        format!(
            "{:?}\n{:?}\n{:?}\n{:?}",
            sim.summary(),
            sim.recorder().totals(),
            sim.recorder().series(),
            sites
        )
    }

    #[test]
    fn the_two_sides_events_of_an_instant_run_in_either_order() {
        for hedged in [false, true] {
            let sim = Simulation::new(stormy(hedged)).unwrap();
            assert!(sim.order.is_split());
            let clients_first = outputs(sim);
            let mut sim = Simulation::new(stormy(hedged)).unwrap();
            sim.order.sites_first();
            assert_eq!(outputs(sim), clients_first, "hedged: {hedged}");
        }
    }

    #[test]
    fn without_a_split_one_counter_orders_every_event() {
        let mut order = Order::new(false);
        assert_eq!(order.own(|| Process::Sites), 1);
        assert_eq!(order.message(|| Process::Clients), 2);
        assert_eq!(order.own(|| Process::Steering), 3);
    }

    #[test]
    fn a_split_orders_an_instant_by_process_then_messages_first() {
        let mut order = Order::new(true);
        let site = order.own(|| Process::Sites);
        let to_site = order.message(|| Process::Sites);
        let client = order.own(|| Process::Clients);
        let to_client = order.message(|| Process::Clients);
        let action = order.own(|| Process::Steering);
        let mut all = [site, to_site, client, to_client, action];
        all.sort_unstable();
        assert_eq!(all, [action, to_client, client, to_site, site]);
        // A message is counted by its sender: the one to the site was the
        // clients' side's first event, the one to the client the sites'
        // side's second.
        assert_eq!(to_site & (OWN - 1), 1);
        assert_eq!(to_client & (OWN - 1), 2);
        order.sites_first();
        assert!(order.own(|| Process::Sites) < order.message(|| Process::Clients));
    }
}
