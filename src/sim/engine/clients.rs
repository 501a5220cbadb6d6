//! Clients and their requests: arrivals, a request's attempts, attempt
//! deadlines, outcomes, backoff and retries, closed-loop think time.
//!
//! Owns [`Clients`]: every [`Group`] (a client group, in `group.rs`: its
//! retry policy, limits, arrival source, timeout lane and DNS cache),
//! every [`Request`] in progress, and the tokens in `Clients::live` that
//! tell a live attempt from a stale event. Handles `Arrival`, `Think`, `Timeout` and `Retry`.
//! An attempt leaves here through the router ([`route`](Simulation::route))
//! to a site's load balancer ([`admit_at_site`](Simulation::admit_at_site))
//! and comes back as an [`Outcome`].

use super::*;
use crate::retry::{Decision, Outcome, Pushback, RequestState, SimDuration, SimTime};
use crate::sim::random::{LazySplitMix, SplitMix, draw, unit_open};

/// A request's attempt token and whether its client waits on the attempt,
/// as one word: `token | WAITING`. Tokens are even; every attempt and the
/// freeing of the slot move to the next one, so events and jobs that carry
/// an older token are stale. Kept apart from [`Request`], in
/// `Clients::live`, so that the many staleness checks (most attempt
/// deadlines come up after their attempt ended) read a small dense array
/// rather than a cold request.
pub(super) const WAITING: u32 = 1;

/// One cache line each (57 bytes of fields): a request is read cold when
/// its attempt completes, and a request that straddled two lines cost two
/// misses (3–8 % of the simulator's throughput, measured).
#[repr(align(64))]
pub(super) struct Request {
    pub(super) group: GroupId,
    /// The current attempt's job, or `NONE`.
    pub(super) job: JobId,
    /// The closed-loop client, or `NONE`.
    pub(super) client: u32,
    /// The group's instance the request belongs to.
    pub(super) instance: u32,
    pub(super) id: RequestId,
    pub(super) key: u64,
    pub(super) state: RequestState,
    /// Whether the request holds one of its group's concurrent retries.
    pub(super) retrying: bool,
}

/// The client groups and their requests in progress: each request slot's
/// record, token and adaptive-limit hold (and, while some group hedges,
/// its hedge), with the free slots.
pub(super) struct Clients {
    pub(super) groups: TiVec<GroupId, Group>,
    pub(super) requests: TiVec<RequestSlot, Request>,
    /// Per request: its token, `| WAITING` while its client waits on the
    /// current attempt.
    pub(super) live: TiVec<RequestSlot, u32>,
    /// Per request, in groups with an adaptive concurrency limit: when its
    /// current attempt was sent and the attempts its instance had in
    /// flight with it (0: the attempt holds no place in the limit).
    pub(super) held: TiVec<RequestSlot, (u64, u32)>,
    /// Whether any group has an adaptive limit (`held` is used only then).
    pub(super) adaptive_limits: bool,
    /// Per request slot, while `hedging`: hedged requests' attempts and
    /// legs, and which slots are legs.
    pub(super) hedges: TiVec<RequestSlot, super::hedging::HedgeSlot>,
    /// Whether, over a network, the end of a client's wait on an attempt
    /// is reported ([`Simulation::wait_over`]): the router counts the
    /// attempts sent, or some group counts its attempts pending.
    pub(super) far_waits: bool,
    /// Whether any group hedges (or may, after a `set-retry`).
    pub(super) hedging: bool,
    /// Slots that are legs of hedged requests now.
    pub(super) legs_live: usize,
    pub(super) free_requests: Vec<RequestSlot>,
}

impl Clients {
    /// Groups `groups`, with no request yet.
    pub(super) fn new(groups: Vec<Group>) -> Self {
        Self {
            adaptive_limits: groups.iter().any(|g| g.adaptive),
            hedging: groups.iter().any(|g| g.hedge.is_some()),
            far_waits: false,
            groups: groups.into(),
            requests: TiVec::new(),
            live: TiVec::new(),
            held: TiVec::new(),
            hedges: TiVec::new(),
            legs_live: 0,
            free_requests: Vec::new(),
        }
    }

    /// A request slot holding `req`: a free one, or a new one. Always
    /// inlined: as a call it cost 1.3 % of the simulator benchmark's
    /// instructions.
    #[inline(always)]
    pub(super) fn hold(&mut self, req: Request) -> RequestSlot {
        match self.free_requests.pop() {
            Some(r) => {
                self.requests[r] = req;
                r
            }
            None => {
                let r = self.requests.push_and_get_key(req);
                self.live.push(0);
                self.held.push((0, 0));
                if self.hedging {
                    self.hedges.push(Default::default());
                }
                r
            }
        }
    }

    /// The request slots held now, legs of hedged requests included, in
    /// order (O(slots)).
    pub(super) fn held(&self) -> Vec<RequestSlot> {
        slots::held(self.requests.len(), &self.free_requests)
    }

    /// Requests in progress (a hedged request's legs are not requests).
    pub(super) fn in_progress(&self) -> usize {
        self.requests.len() - self.free_requests.len() - self.legs_live
    }
}

impl Simulation {
    /// The instance of group `g` that request `id` (of closed-loop
    /// `client`, or `NONE`) comes from: a pure function of (seed, id), so
    /// every balancer sees the same requests from the same instances.
    #[inline]
    pub(super) fn instance_of(&self, g: GroupId, id: RequestId, client: u32) -> u32 {
        let group = &self.clients.groups[g];
        let n = group.instances;
        if n == 1 {
            0
        } else if client != NONE {
            (u64::from(client) * u64::from(n) / u64::from(group.clients)) as u32
        } else {
            ((u128::from(draw(self.seeds.instance, id.draws(), 0)) * u128::from(n)) >> 64) as u32
        }
    }

    /// Takes group `g`'s next arrival out of its source into its lane.
    #[inline]
    pub(super) fn schedule_next_arrival(&mut self, g: GroupId) {
        let end = self.end;
        let group = &mut self.clients.groups[g];
        group.next_arrival = None;
        if let Some(t) = group.source.as_mut().and_then(|s| s.pop(end)) {
            let seq = self.order.own(|| Process::Clients);
            self.clients.groups[g].next_arrival = Some((t, seq));
        }
    }

    pub(super) fn on_arrival(&mut self, g: GroupId) {
        self.schedule_next_arrival(g);
        self.start_request(g, NONE);
    }

    /// The key of request `id`: a pure function of (seed, id), so it is
    /// the same whenever it is drawn.
    pub(super) fn key_of(&self, id: RequestId) -> u64 {
        self.clients.groups[id.group()]
            .keys
            .sample(&mut SplitMix(draw(self.seeds.keys, id.draws(), 0)))
    }

    /// Draws keys once a balancer that reads them arrives mid-run:
    /// requests under way (and attempts in a backlog) were given key 0.
    pub(super) fn give_keys_if_needed(&mut self) {
        if self.keys_needed || !self.wants_keys() {
            return;
        }
        self.keys_needed = true;
        for r in 0..self.clients.requests.len() {
            let r = RequestSlot::from(r);
            self.clients.requests[r].key = self.key_of(self.clients.requests[r].id);
        }
        let mut backlogs = std::mem::take(&mut self.accepting);
        for a in backlogs.all_mut() {
            if let Owner::Attempt(..) = a.owner {
                a.key = self.key_of(a.id);
            }
        }
        self.accepting = backlogs;
        if let Some(mut net) = self.network.take() {
            for a in net.transit_mut() {
                a.key = self.key_of(a.id);
            }
            self.network = Some(net);
        }
    }

    pub(super) fn start_request(&mut self, g: GroupId, client: u32) {
        let now = SimTime(self.now);
        self.recorder.current.offered += 1;
        let id = RequestId::new(g, self.clients.groups[g].next_seq);
        let key = if self.keys_needed { self.key_of(id) } else { 0 };
        let instance = self.instance_of(g, id, client);
        let group = &mut self.clients.groups[g];
        group.next_seq += 1;
        let mut rng = LazySplitMix::new(self.seeds.backoff, id.draws(), 0);
        if group.policy.admit(instance, now, &mut rng).is_err() {
            self.recorder.current.refused += 1;
            self.recorder.ended(1);
            self.client_done(g, client, id);
            return;
        }
        if !group.limits(instance).try_request() {
            self.recorder.overflow(0);
            self.client_done(g, client, id);
            return;
        }
        let state = group.policy.begin(instance, now);
        let hedge = group.hedge;
        let r = self.clients.hold(Request {
            group: g,
            job: JobId::NONE,
            client,
            instance,
            id,
            key,
            state,
            retrying: false,
        });
        match hedge {
            Some(hedge) if self.clients.hedging => self.hedge_begin(r, hedge),
            _ => self.send_attempt(r),
        }
    }

    pub(super) fn send_attempt(&mut self, r: RequestSlot) {
        let now = self.now;
        let token = self.next_token(r);
        let req = &self.clients.requests[r];
        let (g, key, id, attempt, instance) =
            (req.group, req.key, req.id, req.state.attempts, req.instance);
        if self.clients.adaptive_limits && self.clients.groups[g].adaptive {
            // The instance's adaptive limit decides whether it is sent.
            let Some(n) = self.clients.groups[g].limits(instance).try_attempt() else {
                self.recorder.overflow(attempt - 1);
                return self.free_request(r);
            };
            self.clients.held[r] = (now, n);
        }
        self.recorder.current.attempts += 1;
        if attempt > 1 {
            self.recorder.current.retries += 1;
        }
        let Some(s) = self.route(g, key, instance, id, attempt) else {
            self.recorder.current.unroutable += 1;
            return self.outcome(r, Outcome::Failure(Pushback::None));
        };
        if self.network.is_some() {
            return self.send_far(r, s, token);
        }
        let Some(delay) = self.admit_at_site(s, false) else {
            self.recorder.current.lb_rejects += 1;
            self.sites[s].rejected += 1;
            return self.outcome(r, Outcome::Failure(Pushback::None));
        };
        let req = &mut self.clients.requests[r];
        req.job = JobId::NONE;
        self.clients.live[r] |= WAITING;
        let deadline = self.clients.groups[g]
            .policy
            .attempt_deadline(SimTime(now), &req.state)
            .map(|d| d.0);
        if delay > 0 {
            if !self.clients.groups[g].limits(instance).try_pend() {
                // No room to wait for the load balancer: fail fast.
                self.unhold(s);
                return self.overflowed(r);
            }
            if let Some(d) = deadline {
                self.push_timeout(g, d, r, token);
            }
            let p = self.accepting.hold(Accepting {
                site: s,
                owner: Owner::Attempt(r, token),
                instance,
                key,
                id,
                attempt: u64::from(attempt),
                dropped: false,
                pending: false,
            });
            self.schedule_accept(s, now + delay, p);
            return;
        }
        let (j, immediate) = match self.forward(s, key, (r, token), (id, u64::from(attempt))) {
            Forward::Placed(j, immediate) => (j, immediate),
            refused => {
                self.unhold(s);
                self.count_refusal(s, &refused);
                return self.outcome(r, Outcome::Failure(Pushback::None));
            }
        };
        self.clients.requests[r].job = j;
        if let Some(d) = deadline
            && (!immediate || now + self.pool.jobs[j].service > d)
        {
            self.push_timeout(g, d, r, token);
        }
    }

    pub(super) fn outcome(&mut self, r: RequestSlot, outcome: Outcome) {
        let now = SimTime(self.now);
        self.clients.live[r] &= !WAITING;
        if self.is_leg(r) {
            return self.leg_outcome(r, outcome);
        }
        let req = &mut self.clients.requests[r];
        let (g, instance) = (req.group, req.instance);
        if self.clients.adaptive_limits && self.clients.groups[g].adaptive {
            let (sent, n) = std::mem::take(&mut self.clients.held[r]);
            if n > 0 {
                // A timeout or a refusal is a drop; an answer is a sample.
                let dropped = !matches!(outcome, Outcome::Success);
                let rtt = SimDuration(now.0 - sent);
                let limits = self.clients.groups[g].limits(instance);
                limits.attempt_done(rtt, n, dropped);
            }
        }
        let req = &mut self.clients.requests[r];
        if req.retrying {
            // The outcome of a retry attempt: the retry is over.
            req.retrying = false;
            self.clients.groups[g].limits(instance).retry_done();
        }
        let mut rng = LazySplitMix::new(
            self.seeds.backoff,
            req.id.draws(),
            u64::from(req.state.attempts),
        );
        let decision = self.clients.groups[g].policy.on_outcome(
            instance,
            now,
            &mut req.state,
            outcome,
            &mut rng,
        );
        match decision {
            Decision::Done => {
                let latency = now.since(req.state.started);
                let attempts = req.state.attempts;
                self.recorder.success(latency, attempts);
                self.free_request(r);
            }
            Decision::Retry(d) => {
                if !self.clients.groups[g].limits(instance).try_retry() {
                    let attempts = req.state.attempts;
                    self.recorder.overflow(attempts);
                    return self.free_request(r);
                }
                req.retrying = true;
                let token = self.clients.live[r];
                self.push(self.now + d.0, Ev::Retry(r, token));
            }
            Decision::GiveUp(_) => {
                let attempts = req.state.attempts;
                self.recorder.failure(attempts);
                self.free_request(r);
            }
        }
    }

    /// Request `r`'s attempt found no room among its instance's attempts
    /// pending (waiting in a load balancer's backlog, or over a network
    /// not yet known to be taken): a hedge's leg fails, a request ends as
    /// an overflow.
    pub(super) fn overflowed(&mut self, r: RequestSlot) {
        if self.is_leg(r) {
            return self.outcome(r, Outcome::Failure(Pushback::None));
        }
        let attempts = self.clients.requests[r].state.attempts;
        self.recorder.overflow(attempts);
        self.free_request(r);
    }

    /// Moves request `r` to its next token, not waiting, and returns it.
    #[inline]
    pub(super) fn next_token(&mut self, r: RequestSlot) -> u32 {
        let live = &mut self.clients.live[r];
        *live = (*live & !WAITING).wrapping_add(2);
        *live
    }

    pub(super) fn free_request(&mut self, r: RequestSlot) {
        self.next_token(r);
        let req = &mut self.clients.requests[r];
        let (g, client, id) = (req.group, req.client, req.id);
        let limits = self.clients.groups[g].limits(req.instance);
        if self.clients.adaptive_limits && std::mem::take(&mut self.clients.held[r].1) > 0 {
            limits.attempt_ignored();
        }
        if std::mem::take(&mut req.retrying) {
            limits.retry_done();
        }
        limits.request_done();
        self.clients.free_requests.push(r);
        self.client_done(g, client, id);
    }

    /// A closed-loop client thinks, then sends its next request (an
    /// open-loop request, `client == NONE`, has no client). The test is
    /// inlined, the think out of line: as a call for every request it
    /// cost 0.6 % of the simulator benchmark's instructions (0.4 % of
    /// the incident's).
    #[inline(always)]
    pub(super) fn client_done(&mut self, g: GroupId, client: u32, id: RequestId) {
        if client != NONE {
            self.client_thinks(g, client, id);
        }
    }

    #[inline(never)]
    fn client_thinks(&mut self, g: GroupId, client: u32, id: RequestId) {
        let think = self.clients.groups[g].think as f64;
        let u = unit_open(draw(self.seeds.think, id.draws(), 1));
        let at = self.now + (-u.ln() * think) as u64;
        self.push(at, Ev::Think(g, client));
    }

    pub(super) fn on_retry(&mut self, r: RequestSlot, token: u32) {
        if self.clients.live[r] != token {
            return;
        }
        let req = &self.clients.requests[r];
        let (g, instance) = (req.group, req.instance);
        let mut rng = LazySplitMix::new(
            self.seeds.backoff,
            req.id.draws(),
            u64::from(req.state.attempts) | 1 << 32,
        );
        if self.clients.groups[g]
            .policy
            .admit(instance, SimTime(self.now), &mut rng)
            .is_err()
        {
            self.recorder.current.refused += 1;
            let attempts = self.clients.requests[r].state.attempts - 1;
            self.recorder.ended(attempts);
            self.free_request(r);
            return;
        }
        self.send_attempt(r);
    }

    pub(super) fn on_timeout(&mut self, r: RequestSlot, token: u32) {
        if self.clients.live[r] != token | WAITING {
            return;
        }
        self.recorder.current.timeouts += 1;
        if self.clients.far_waits {
            self.wait_over(r, false);
        }
        if self.cancel {
            self.cancel_attempt(r, token);
        }
        self.outcome(r, Outcome::Timeout);
    }

    /// An answer to request `r`'s attempt `token` reaches its client:
    /// heard if the client still waits on that very attempt. An answer
    /// a backend served that no one hears was wasted work; a backend's
    /// error (served or shed) counts as one when heard.
    pub(super) fn hear(&mut self, r: RequestSlot, token: u32, answer: Answer) {
        if self.clients.live[r] != token | WAITING {
            if answer.served() {
                self.recorder.current.wasted += 1;
            }
            return;
        }
        if self.clients.far_waits {
            self.wait_over(r, true);
        }
        self.on_answer(r, answer);
    }

    /// Sends request `r`'s attempt `token` over the network to site `s`,
    /// unless its instance counts its attempts pending and has no room for
    /// another (it then fails fast, as an overflow). Out of line, so that
    /// the direct path pays only a test.
    #[cold]
    #[inline(never)]
    fn send_far(&mut self, r: RequestSlot, s: SiteId, token: u32) {
        let (g, instance) = (
            self.clients.requests[r].group,
            self.clients.requests[r].instance,
        );
        let pending = self.clients.groups[g].limited;
        if pending && !self.clients.groups[g].limits(instance).try_pend() {
            self.clients.live[r] |= WAITING;
            return self.overflowed(r);
        }
        self.send_over(r, s, token, pending);
    }

    /// Word that site took request `r`'s attempt `token` (placed it at a
    /// backend, or accepted it from its backlog) reaches its client: if
    /// the client still waits on that attempt, it no longer counts it as
    /// pending. (If it stopped waiting first, it stopped counting then.)
    pub(super) fn hear_taken(&mut self, r: RequestSlot, token: u32) {
        if self.clients.live[r] == token | WAITING {
            self.pend_over(r);
        }
    }

    /// Over a network, request `r`'s client stops waiting on its current
    /// attempt: it heard the answer (`heard`), timed out, or abandoned it
    /// (a hedge's loser). The router stops counting it, and its instance
    /// stops counting it as pending if it still did. Called only when
    /// `far_waits`; out of line, off the direct path.
    #[cold]
    #[inline(never)]
    pub(super) fn wait_over(&mut self, r: RequestSlot, heard: bool) {
        if self.router.tracks_sent {
            self.router_done(r, heard);
        }
        self.pend_over(r);
    }

    /// Request `r`'s instance no longer counts its current attempt as
    /// pending, if it did (over a network).
    fn pend_over(&mut self, r: RequestSlot) {
        let net = self.network.as_deref_mut().expect("a network");
        if net.take_pending(r) {
            let req = &self.clients.requests[r];
            self.clients.groups[req.group]
                .limits(req.instance)
                .pend_done();
        }
    }

    /// Request `r`'s client hears `answer` to the attempt it waits on, over
    /// a network ([`hear`](Self::hear)) or at once: the retry policy
    /// learns its outcome, and a backend's error (served or shed) counts
    /// as one.
    #[inline(always)]
    pub(super) fn on_answer(&mut self, r: RequestSlot, answer: Answer) {
        match answer {
            Answer::Success => self.outcome(r, Outcome::Success),
            Answer::Error | Answer::Shed => {
                self.recorder.current.errors += 1;
                self.outcome(r, Outcome::Failure(Pushback::None));
            }
            Answer::Refused => self.outcome(r, Outcome::Failure(Pushback::None)),
        }
    }

    /// Request `r`'s client cancels its attempt `token`: over a network
    /// the client cannot know where the attempt is, and its cancellation
    /// travels to the attempt's site; otherwise the attempt's job, if it
    /// has one, is cancelled at once.
    pub(super) fn cancel_attempt(&mut self, r: RequestSlot, token: u32) {
        if self.network.is_some() {
            self.cancel_over(r, token);
        } else if self.clients.requests[r].job != JobId::NONE {
            self.cancel_job(self.clients.requests[r].job);
        }
    }
}
