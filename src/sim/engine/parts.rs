//! A finer split than a thread per side, counted: whose part of the
//! model each event is, and how a run's windows would fall on threads
//! that each run some of the parts.
//!
//! The parts are each site (its load balancer and its backends), each
//! client instance of each group, and the router with its health checks.
//! Within a window no part can reach another (every message crosses the
//! network), except through what the clients share:
//!
//! - the weights the router publishes, which every instance reads when it
//!   picks a site. With `router.propagation` at least the window they
//!   are messages too: a publication reaches the clients' answers
//!   (`Ev::Publish`) that long after it is made, so each thread could
//!   keep its own copy of the answers and apply each publication at its
//!   instant, as it delivers the network's messages;
//! - in mode `balancer`, the router's balancer, whose state every pick
//!   moves: each instance would need its own, as each proxy keeps its
//!   own (a model change);
//! - an open-loop group's arrivals, one stream whose requests go to its
//!   instances at once: each thread could draw the whole stream and keep
//!   its own instances' requests, or each instance draw its own (a model
//!   change of the random numbers);
//! - a closed-loop group's request numbers, counted over the whole group
//!   as its clients' think times end, which seed the requests' draws;
//! - the clients' side's one count of the events it schedules, which
//!   orders the events of one instant (`order.rs`): counts of each part's
//!   own would change that order in runs over a network (a model change).
//!
//! The counts here say what such a split could gain; an arrival counts
//! at the instance its request goes to.

use super::*;

impl Simulation {
    /// Where each client group's instances start among the parts, and
    /// after the last group the router: the sites come first, then each
    /// group's instances in order.
    pub(super) fn part_starts(&self) -> Vec<usize> {
        let mut starts = vec![self.sites.len()];
        for g in &self.clients.groups {
            starts.push(starts[starts.len() - 1] + g.instances as usize);
        }
        starts
    }

    /// How many parts a finer split has: the sites, the client instances
    /// and the router.
    pub(super) fn part_count(&self) -> usize {
        self.part_starts()[self.clients.groups.len()] + 1
    }

    /// The part event `ev`, about to run, belongs to, given the
    /// [`part_starts`](Self::part_starts) (see the module's doc for the
    /// order).
    pub(super) fn part_of(&self, ev: Ev, starts: &[usize]) -> usize {
        let instance = |g: GroupId, i: u32| starts[g.index()] + i as usize;
        let request = |r: RequestSlot| {
            let req = &self.clients.requests[r];
            instance(req.group, req.instance)
        };
        let next = |g: GroupId, client: u32| {
            let id = RequestId::new(g, self.clients.groups[g].next_seq);
            instance(g, self.instance_of(g, id, client))
        };
        let site = |s: SiteId| s.index();
        match ev {
            Ev::Arrival(g) => next(g, NONE),
            Ev::Think(g, c) => next(g, c),
            Ev::Timeout(r, _)
            | Ev::Retry(r, _)
            | Ev::Hedge(r, _)
            | Ev::Answer(_, r, _)
            | Ev::Taken(r, _) => request(r),
            Ev::Probe(..)
            | Ev::ProbeTimeout(..)
            | Ev::ProbeAnswer(..)
            | Ev::Ramp(..)
            | Ev::SlowStart(..)
            | Ev::Action(..)
            | Ev::Paced(..)
            | Ev::Publish => starts[starts.len() - 1],
            Ev::Complete(j) => site(self.pool.backends[self.pool.jobs[j].backend].site),
            Ev::Accepted(p) => site(self.accepting[p].site),
            Ev::Arrive(p) => site(self.network.as_deref().expect("a network").heading(p)),
            Ev::Cancel(r, _) => site(self.network.as_deref().expect("a network").via(r)),
            // The shed replies of one instant, nearly always of one site;
            // the once-a-second scaling tick of every site, counted at the
            // first.
            Ev::Shed => match self.pool.shed.first() {
                Some(Reply::Attempt(_, _, s, _) | Reply::Probe(s, ..) | Reply::Taken(_, _, s)) => {
                    site(*s)
                }
                None => 0,
            },
            Ev::Scale => 0,
            Ev::BackendSlowStart(s)
            | Ev::OutlierRelease(s)
            | Ev::OutlierSweep(s)
            | Ev::Autoscale(s)
            | Ev::BackendsBooted(s)
            | Ev::OrcaUpdate(s)
            | Ev::Concurrency(s)
            | Ev::ProbeArrive(s, _) => site(s),
        }
    }
}

/// A window's events per thread, for each split a run in windows counts.
pub(super) struct Threads<'a> {
    /// Per split, the thread of each part.
    splits: &'a [Vec<usize>],
    /// Per split, each thread's events in the window so far.
    window: Vec<Vec<u64>>,
    /// Per part, its events over the run.
    pub(super) parts: Vec<u64>,
    /// Per split, the sum over windows of its busiest thread's events.
    pub(super) busiest: Vec<u64>,
}

impl<'a> Threads<'a> {
    /// Counts for `parts` parts, over `splits`.
    pub(super) fn new(parts: usize, splits: &'a [Vec<usize>]) -> Self {
        Self {
            splits,
            window: splits
                .iter()
                .map(|s| vec![0; s.iter().max().map_or(0, |&t| t + 1)])
                .collect(),
            parts: vec![0; parts],
            busiest: vec![0; splits.len()],
        }
    }

    /// An event of `part` ran.
    pub(super) fn ran(&mut self, part: usize) {
        self.parts[part] += 1;
        for (split, window) in self.splits.iter().zip(&mut self.window) {
            window[split[part]] += 1;
        }
    }

    /// The window ended: each split's busiest thread is what it waited
    /// for.
    pub(super) fn close(&mut self) {
        for (window, busiest) in self.window.iter_mut().zip(&mut self.busiest) {
            *busiest += window.iter().max().copied().unwrap_or(0);
            window.fill(0);
        }
    }
}
