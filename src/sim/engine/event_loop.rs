//! The event loop: what happens at an instant ([`Ev`]), what a part
//! returns for the loop to deliver ([`Reply`]), and the loop's own
//! machinery — scheduling (the queue, the lane of events at now, the
//! groups' timeout lanes), choosing the next event over the queue and
//! every lane in (time, sequence) order, closing intervals, dispatching
//! an event to the part that handles it, and delivering what it came to.
//!
//! The host's API that drives it ([`Simulation::step`],
//! [`Simulation::run_until`]) is in `mod.rs`.

use super::*;

/// What happens at an instant. Kept at 12 bytes so a queue entry is 32.
#[derive(Clone, Copy, Debug)]
pub(super) enum Ev {
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
    /// request, the attempt's token).
    Answer(Answer, RequestSlot, u32),
    /// A health probe reaches its site over the network: (site, probe
    /// sequence).
    ProbeArrive(SiteId, u32),
    /// A site's answer to a probe reaches the router over the network:
    /// (site, probe sequence, answered).
    ProbeAnswer(SiteId, u32, bool),
    /// A client's cancellation of its attempt reaches the attempt's site
    /// over the network: (request, attempt token).
    Cancel(RequestSlot, u32),
    /// The oldest of the router's published weights on their way reach
    /// the clients' answers (`router.propagation` after they changed).
    Publish,
    /// A site's word that it took an attempt (placed it at a backend, or
    /// accepted it from its backlog) reaches its client over the network:
    /// (request, attempt token).
    Taken(RequestSlot, u32),
}

const _: () = assert!(std::mem::size_of::<Ev>() == 12);

impl Ev {
    /// Whose event it is, in a run split into processes (`order.rs`).
    pub(super) fn process(self) -> Process {
        match self {
            Ev::Arrival(..)
            | Ev::Think(..)
            | Ev::Timeout(..)
            | Ev::Retry(..)
            | Ev::Probe(..)
            | Ev::ProbeTimeout(..)
            | Ev::Ramp(..)
            | Ev::SlowStart(..)
            | Ev::Hedge(..)
            | Ev::Answer(..)
            | Ev::ProbeAnswer(..)
            | Ev::Taken(..)
            | Ev::Publish => Process::Clients,
            Ev::Complete(..)
            | Ev::Accepted(..)
            | Ev::BackendSlowStart(..)
            | Ev::Shed
            | Ev::Scale
            | Ev::OutlierRelease(..)
            | Ev::OutlierSweep(..)
            | Ev::Autoscale(..)
            | Ev::BackendsBooted(..)
            | Ev::OrcaUpdate(..)
            | Ev::Concurrency(..)
            | Ev::Arrive(..)
            | Ev::ProbeArrive(..)
            | Ev::Cancel(..) => Process::Sites,
            Ev::Action(..) | Ev::Paced(..) => Process::Steering,
        }
    }
}

type Entry = crate::sim::queue::Entry<Ev>;

/// What an attempt or a probe came to, returned by the part that decided
/// it (a backend, a load balancer's backlog) for the event loop to
/// [deliver](Simulation::deliver). It names the attempt (or probe) it
/// answers and the site that answered, so that over a network it can
/// travel back and be heard — or not — by its client, without the site
/// reading whether the client still waits.
#[derive(Clone, Copy, Debug)]
pub(super) enum Reply {
    /// Site `.2` answered request `.0`'s attempt with token `.1`: `.3`.
    Attempt(RequestSlot, u32, SiteId, Answer),
    /// Site `.0` answered its health probe `.1`: answered (`true`) or not.
    Probe(SiteId, u32, bool),
    /// Over a network, site `.2` took request `.0`'s attempt with token
    /// `.1` (placed it at a backend, or accepted it from its backlog),
    /// which its client counts as pending until it hears so.
    Taken(RequestSlot, u32, SiteId),
}

impl Reply {
    /// Site `s`'s answer `answer` to `owner` (a probe hears only whether
    /// it succeeded).
    pub(super) fn to(owner: Owner, s: SiteId, answer: Answer) -> Self {
        match owner {
            Owner::Attempt(r, token) => Reply::Attempt(r, token, s, answer),
            Owner::Probe(s, seq) => Reply::Probe(s, seq, matches!(answer, Answer::Success)),
        }
    }

    /// The failure `owner` sees when site `s`'s load balancer or one of
    /// its backends turns it away.
    pub(super) fn failed(owner: Owner, s: SiteId) -> Self {
        Reply::to(owner, s, Answer::Refused)
    }
}

impl Simulation {
    #[inline]
    pub(super) fn push(&mut self, time: u64, ev: Ev) {
        let seq = self.order.own(|| ev.process());
        self.push_seq(time, seq, ev);
    }

    /// Schedules `ev` at `time` with sequence number `seq`.
    #[inline]
    pub(super) fn push_seq(&mut self, time: u64, seq: u64, ev: Ev) {
        // Every pending event is at or after now, so a lane of events at
        // now, pushed in sequence order, stays sorted: `next_event` takes
        // its front in (time, sequence) order with the others'.
        if time == self.now {
            debug_assert!(
                self.at_once.back().is_none_or(|b| b.1 < seq),
                "an instant's events are scheduled in their order: {ev:?}"
            );
            self.at_once.push_back((time, seq, ev));
            return;
        }
        self.queue.push(Entry { time, seq, ev });
    }

    /// Schedules an attempt deadline: in the group's lane when it keeps
    /// the lane in time order (the common case: now + a fixed timeout),
    /// else in the queue.
    #[inline]
    pub(super) fn push_timeout(&mut self, g: GroupId, time: u64, r: RequestSlot, token: u32) {
        let seq = self.order.own(|| Process::Clients);
        let lane = &mut self.clients.groups[g].timeouts;
        if lane.back().is_none_or(|b| b.0 <= time) {
            lane.push_back((time, seq, r, token));
        } else {
            self.queue.push(Entry {
                time,
                seq,
                ev: Ev::Timeout(r, token),
            });
        }
    }

    /// Removes and returns the earliest event at or before `limit`, over
    /// the queue and every lane, in (time, sequence) order.
    #[inline(always)]
    pub(super) fn next_event(&mut self, limit: u64) -> Option<(u64, Ev)> {
        let (key, ev) = self.next_keyed(|key| (key >> 64) as u64 <= limit)?;
        Some(((key >> 64) as u64, ev))
    }

    /// Removes and returns the earliest event, with its [`order_key`],
    /// over the queue and every group's lanes, if `within` its key.
    /// Stale lane timeouts are dropped when they reach the front and
    /// would come first. Always inlined: out of line it returned its
    /// event through memory, and its call cost 2.4 % of the simulator
    /// benchmark's instructions (3.5 % of the incident's). (A limit
    /// passed as a key rather than a test cost 0.4 % more.)
    #[inline(always)]
    pub(super) fn next_keyed(&mut self, within: impl Fn(u128) -> bool) -> Option<(u128, Ev)> {
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
        if best == u128::MAX || !within(best) {
            return None;
        }
        Some(match source {
            (HEAP, _) => (best, self.queue.pop().expect("peeked").ev),
            (AT_ONCE, _) => (best, self.at_once.pop_front().expect("peeked").2),
            (l, _) if l > LANES_END => {
                let net = self.network.as_deref_mut().expect("a lane");
                (best, net.pop(LANES - l))
            }
            (g, false) => {
                let g = GroupId::from(g);
                self.clients.groups[g].next_arrival = None;
                (best, Ev::Arrival(g))
            }
            (g, true) => {
                let lane = &mut self.clients.groups[GroupId::from(g)].timeouts;
                let (_, _, r, token) = lane.pop_front().expect("peeked");
                (best, Ev::Timeout(r, token))
            }
        })
    }

    pub(super) fn push_action(&mut self, at: u64, action: Action) {
        let idx = self.actions.len() as u32;
        self.actions.push(action);
        self.push(at, Ev::Action(idx));
    }

    #[inline]
    pub(super) fn advance(&mut self, t: u64) {
        while t >= self.next_boundary {
            let b = self.next_boundary;
            self.close_interval(b);
        }
        self.now = t;
    }

    pub(super) fn close_interval(&mut self, at: u64) {
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
    /// Without a network the sites reply only to an attempt (or a probe)
    /// still awaited, so the reply is heard at once. Over a network an
    /// answer travels back first. Always inlined: as a call it cost
    /// 0.7 % of the simulator benchmark's instructions.
    #[inline(always)]
    pub(super) fn deliver(&mut self, reply: Option<Reply>) {
        match reply {
            Some(Reply::Attempt(r, _, _, answer)) if self.network.is_none() => {
                self.on_answer(r, answer)
            }
            Some(Reply::Probe(s, _, ok)) if self.network.is_none() => self.probe_result(s, ok),
            Some(reply) => self.deliver_far(reply),
            None => {}
        }
    }

    /// Delivers an attempt's or a probe's answer over the network: it
    /// travels back unless its site is no distance away, and is heard
    /// only if its client (or the router) still waits for it. Out of
    /// line, so that the direct path pays only a test (inlined, this path
    /// cost 1.2 % of the simulator benchmark's instructions without a
    /// network).
    #[cold]
    #[inline(never)]
    fn deliver_far(&mut self, reply: Reply) {
        match reply {
            Reply::Attempt(r, token, s, answer) => {
                if !self.back_from(s, Ev::Answer(answer, r, token)) {
                    self.hear(r, token, answer);
                }
            }
            Reply::Probe(s, seq, ok) => {
                if !self.back_from(s, Ev::ProbeAnswer(s, seq, ok)) {
                    self.hear_probe(s, seq, ok);
                }
            }
            Reply::Taken(r, token, s) => {
                if !self.back_from(s, Ev::Taken(r, token)) {
                    self.hear_taken(r, token);
                }
            }
        }
    }

    pub(super) fn dispatch(&mut self, ev: Ev) {
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
                self.next_accept(p);
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
            Ev::Answer(answer, r, token) => self.hear(r, token, answer),
            Ev::ProbeArrive(s, seq) => {
                let reply = self.on_probe_arrive(s, seq);
                self.deliver(reply);
            }
            Ev::Cancel(r, token) => self.on_cancel(r, token),
            Ev::ProbeAnswer(s, seq, ok) => self.hear_probe(s, seq, ok),
            Ev::Taken(r, token) => self.hear_taken(r, token),
            Ev::Publish => self.router.arrived(),
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
}
