//! The network between the clients and the sites: each site's round trip
//! ([`SiteConfig::rtt`](crate::sim::SiteConfig::rtt)), half of it on the
//! way out and the rest on the way back.
//!
//! An attempt is routed when its client sends it, then travels as an
//! `Arrive` event to its site, where the load balancer admits it as it
//! would an attempt sent there directly. Whatever the site answers (a
//! backend's answer, a rejection, a refusal) travels back as an `Answer`
//! event naming its attempt,
//! and the client hears it only if it still waits on that attempt. The
//! site answers every attempt: it never reads whether the client waits.
//! What the client does not hear but a backend served is wasted work,
//! counted when the answer arrives; a backend's error counts as one when
//! heard. The site's own observers (outlier detection, reported load)
//! see every answer its backends give. The client's deadline runs from
//! the send, so an attempt can time out on the way, at the site, or on
//! the way back.
//!
//! A client whose policy sets limits counts an attempt as pending (its
//! `max_pending_requests`, and the retry budget's base) from its send
//! until it hears that the site took it — placed it at a backend, or
//! accepted it from its load balancer's backlog — as a client counts a
//! connection being opened: the site sends that word back as a `Taken`
//! event. Without a network the client counts only the attempts waiting
//! in a backlog, whose acceptance it knows at once.
//!
//! Only when some site has a round trip: with none, [`Network::new`]
//! returns `None` and attempts take the direct path, unchanged. The
//! router's health probes cross the network the same way (`ProbeArrive`,
//! `ProbeAnswer`), their timeout running from the send.
//!
//! A cancellation (a client's timeout when timeouts cancel, a hedge's
//! losers) travels too, as a `Cancel` event on the way out to the site
//! of the attempt it names: it arrives after the attempt (a lane keeps
//! the order of its pushes), and finds it where the site holds it — in
//! its load balancer's backlog or at a backend (`held.rs`) — or finds
//! nothing if the site is done with it. Until it arrives the site works
//! on, and what it finishes is wasted. The site never reads whether the
//! client still waits, to decide what to cancel or what to answer (the
//! operator's `set-cancel-on-timeout` action, which reaches every server,
//! still cancels the work already abandoned at once).

use std::collections::VecDeque;

use super::held::AtSites;
use super::site::Accepting;
use super::{
    Ev, Held, JobId, NONE, Owner, Reply, RequestSlot, Simulation, SiteId, Slots, TiVec,
    TransitPlace, WAITING,
};
use crate::balancer::BackendId;
use crate::retry::SimTime;
use crate::sim::config::SiteConfig;
use crate::sim::queue::order_key;

/// Most lanes a network keeps (distances beyond go through the queue):
/// every event scans each lane's front.
pub(super) const MAX_LANES: usize = 8;

/// An attempt the router does not count.
const NOT_COUNTED: u64 = u64::MAX;

/// Events a fixed delay ahead, in the order pushed: (time, sequence,
/// event).
type Lane = VecDeque<(u64, u64, Ev)>;

/// The network's state: each site's two halves of its round trip, the
/// attempts on their way to a site, the site each request slot's
/// current attempt went to, and where the sites hold the attempts.
pub(super) struct Network {
    /// Attempts on their way: what the load balancer will hold, owned by
    /// their (request slot, token) until they arrive.
    transit: Slots<TransitPlace, Accepting<(RequestSlot, u32)>>,
    /// Per request slot: the site of its current attempt (`NONE` before
    /// its first).
    via: TiVec<RequestSlot, SiteId>,
    /// Per request slot, while the router counts its current attempt
    /// ([`Router::tracks_sent`](super::routing::Router::tracks_sent)): when
    /// it was sent; `NOT_COUNTED` otherwise.
    sent: TiVec<RequestSlot, u64>,
    /// Per request slot: whether its client counts its current attempt
    /// as pending (until it hears that its site took it, or stops
    /// waiting on it).
    pending_at_client: TiVec<RequestSlot, bool>,
    /// Where the sites hold the attempts that arrived, for the
    /// cancellations that follow them.
    pub(super) at: AtSites,
    /// Per site: ns from a client to the site.
    out: TiVec<SiteId, u64>,
    /// Per site: ns from the site back to a client.
    back: TiVec<SiteId, u64>,
    /// One lane per distinct non-zero delay of the sites' halves (the
    /// first [`MAX_LANES`]; the queue takes the others): the
    /// events pushed that far ahead, in the order pushed. A fixed delay
    /// from a clock that never goes back keeps a lane sorted by (time,
    /// sequence), so its front is its earliest and a push and a pop cost
    /// a `VecDeque`'s rather than the queue's.
    lanes: Vec<(u64, Lane)>,
    /// The earliest lane front: its [`order_key`] (`u128::MAX` if every
    /// lane is empty) and its lane. Kept as lanes change, so that the
    /// event loop reads one value per event rather than every lane's
    /// front.
    first: (u128, usize),
    /// Per site: the lane of its way out and of its way back (`NONE`: the
    /// queue's).
    lane_out: TiVec<SiteId, u32>,
    lane_back: TiVec<SiteId, u32>,
}

impl Network {
    /// Whether a run over `sites` is two logical processes (`order.rs`):
    /// every site some distance away, both ways.
    pub(super) fn splits(sites: &[SiteConfig]) -> bool {
        sites.iter().all(|s| s.rtt.as_nanos() >= 2)
    }

    /// The network of `sites`, or `None` if no site has a round trip.
    pub(super) fn new(sites: &[SiteConfig]) -> Option<Box<Self>> {
        if sites.iter().all(|s| s.rtt.is_zero()) {
            return None;
        }
        // A split run's messages each way are counted by their sender:
        // a lane carries one way only, to stay in order.
        let split = Self::splits(sites);
        // Per site: ns from a client to the site, and back.
        let (out, back): (TiVec<SiteId, u64>, TiVec<SiteId, u64>) = sites
            .iter()
            .map(|s| {
                let rtt = s.rtt.as_nanos();
                (rtt / 2, rtt - rtt / 2)
            })
            .unzip();
        let mut lanes: Vec<(u64, Lane)> = Vec::new();
        // Per lane: the way it carries (out: `true`), if only one.
        let mut ways: Vec<bool> = Vec::new();
        let mut lane_of = |delay: u64, out: bool| -> u32 {
            if delay == 0 {
                return NONE;
            }
            let found =
                (0..lanes.len()).find(|&l| lanes[l].0 == delay && (!split || ways[l] == out));
            match found {
                Some(l) => l as u32,
                None if lanes.len() < MAX_LANES => {
                    lanes.push((delay, VecDeque::new()));
                    ways.push(out);
                    lanes.len() as u32 - 1
                }
                None => NONE,
            }
        };
        let lane_out = out.iter().map(|&d| lane_of(d, true)).collect();
        let lane_back = back.iter().map(|&d| lane_of(d, false)).collect();
        Some(Box::new(Self {
            out,
            back,
            transit: Slots::default(),
            via: TiVec::new(),
            sent: TiVec::new(),
            pending_at_client: TiVec::new(),
            at: AtSites::default(),
            lanes,
            first: (u128::MAX, 0),
            lane_out,
            lane_back,
        }))
    }

    /// The shortest way, out or back, of any site (ns): the longest a
    /// split run's window can last (`windows.rs`).
    pub(super) fn lookahead(&self) -> u64 {
        let ways = self.out.iter().chain(self.back.iter());
        ways.copied().min().unwrap_or(0)
    }

    /// The site attempt `p`, on its way, is heading for.
    pub(super) fn heading(&self, p: TransitPlace) -> SiteId {
        self.transit[p].site
    }

    /// The site request slot `r`'s current attempt went to.
    pub(super) fn via(&self, r: RequestSlot) -> SiteId {
        self.via[r]
    }

    /// The earliest lane, with its front's key, if it comes before
    /// `best` (an [`order_key`]).
    #[inline]
    pub(super) fn earliest(&self, best: u128) -> Option<(usize, u128)> {
        (self.first.0 < best).then_some((self.first.1, self.first.0))
    }

    /// Takes the front event of lane `l`, the earliest.
    #[inline]
    pub(super) fn pop(&mut self, l: usize) -> Ev {
        let ev = self.lanes[l].1.pop_front().expect("a front").2;
        self.first = (u128::MAX, 0);
        for (l, (_, lane)) in self.lanes.iter().enumerate() {
            if let Some(&(t, seq, _)) = lane.front()
                && order_key(t, seq) < self.first.0
            {
                self.first = (order_key(t, seq), l);
            }
        }
        ev
    }

    /// Puts `ev` at the back of lane `l`, at `time` with sequence number
    /// `seq` (after the lane's every event).
    #[inline]
    fn push_back(&mut self, l: usize, (time, seq): (u64, u64), ev: Ev) {
        let lane = &mut self.lanes[l].1;
        debug_assert!(
            lane.back()
                .is_none_or(|b| order_key(b.0, b.1) < order_key(time, seq)),
            "a lane stays in order: {ev:?}"
        );
        lane.push_back((time, seq, ev));
        // Only a lane that was empty has a new front.
        if lane.len() == 1 && order_key(time, seq) < self.first.0 {
            self.first = (order_key(time, seq), l);
        }
    }

    /// Events waiting in the lanes.
    pub(super) fn pending(&self) -> usize {
        self.lanes.iter().map(|(_, lane)| lane.len()).sum()
    }

    /// Puts `a` on its way from request slot `r`; returns its place.
    fn depart(&mut self, r: RequestSlot, a: Accepting<(RequestSlot, u32)>) -> TransitPlace {
        if self.via.len() <= r.index() {
            self.via.resize(r.index() + 1, SiteId::NONE);
            self.sent.resize(r.index() + 1, NOT_COUNTED);
            self.pending_at_client.resize(r.index() + 1, false);
        }
        self.via[r] = a.site;
        self.transit.hold(a)
    }

    /// Whether request slot `r`'s client counted its current attempt as
    /// pending; it no longer does.
    pub(super) fn take_pending(&mut self, r: RequestSlot) -> bool {
        self.pending_at_client
            .get_mut(r)
            .is_some_and(std::mem::take)
    }

    /// Takes attempt `p` off the network at its site.
    fn arrive(&mut self, p: TransitPlace) -> Accepting<(RequestSlot, u32)> {
        self.transit.free(p);
        self.transit[p]
    }

    /// The attempts on their way (for keys drawn mid-run): every slot,
    /// free ones included.
    pub(super) fn transit_mut(
        &mut self,
    ) -> impl Iterator<Item = &mut Accepting<(RequestSlot, u32)>> {
        self.transit.all_mut()
    }
}

/// What a site answered an attempt: what its client hears if it still
/// waits on that attempt when the answer reaches it, and what was spent
/// for nothing if not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Answer {
    /// A backend served it.
    Success,
    /// A backend served it with an error.
    Error,
    /// A backend's queue shed it with an error, without serving it.
    Shed,
    /// The load balancer turned it away, or no backend could take it.
    Refused,
}

impl Answer {
    /// Whether a backend's work went into it.
    pub(super) fn served(self) -> bool {
        matches!(self, Answer::Success | Answer::Error)
    }
}

impl Simulation {
    /// Sends request `r`'s attempt (token `token`) over the network to
    /// site `s`, with its deadline counted from now; `pending`: its client
    /// counts it as pending (and has counted it).
    pub(super) fn send_over(&mut self, r: RequestSlot, s: SiteId, token: u32, pending: bool) {
        let g = self.clients.requests[r].group;
        let deadline = self.clients.groups[g]
            .policy
            .attempt_deadline(SimTime(self.now), &self.clients.requests[r].state)
            .map(|d| d.0);
        let net = self.network.as_deref_mut().expect("a network");
        let (out, lane) = (net.out[s], net.lane_out[s]);
        let req = &mut self.clients.requests[r];
        req.job = JobId::NONE;
        let a = Accepting {
            site: s,
            owner: (r, token),
            instance: req.instance,
            key: req.key,
            id: req.id,
            attempt: u64::from(req.state.attempts),
            dropped: false,
            pending,
        };
        let p = net.depart(r, a);
        net.pending_at_client[r] = pending;
        if self.router.tracks_sent {
            // The slot's attempt before it was done with (`router_done`)
            // when its client stopped waiting on it.
            debug_assert_eq!(net.sent[r], NOT_COUNTED);
            net.sent[r] = self.now;
            self.router.picker.start(BackendId::from(s));
        }
        self.clients.live[r] |= WAITING;
        if let Some(d) = deadline {
            self.push_timeout(g, d, r, token);
        }
        self.push_far(out, lane, Ev::Arrive(p));
    }

    /// Sends site `s`'s health probe `seq` over the network, failed if
    /// not answered by `deadline`.
    pub(super) fn probe_over(&mut self, s: SiteId, seq: u32, deadline: u64) {
        let net = self.network.as_deref().expect("a network");
        let (out, lane) = (net.out[s], net.lane_out[s]);
        self.push(deadline, Ev::ProbeTimeout(s, seq));
        self.push_far(out, lane, Ev::ProbeArrive(s, seq));
    }

    /// Schedules `ev`, a message across the network, `delay` from now, in
    /// lane `lane` (`NONE`: the queue) with a message's sequence number
    /// (`order.rs`): the order of events is the queue's either way.
    #[inline]
    fn push_far(&mut self, delay: u64, lane: u32, ev: Ev) {
        let (time, seq) = (self.now + delay, self.order.message(|| ev.process()));
        if lane == NONE {
            return self.push_seq(time, seq, ev);
        }
        let net = self.network.as_deref_mut().expect("a network");
        debug_assert_eq!(net.lanes[lane as usize].0, delay);
        net.push_back(lane as usize, (time, seq), ev);
    }

    /// Attempt `p` reaches its site: the load balancer admits it (or
    /// turns it away), and places it at a backend or holds it in its
    /// backlog. The site cannot know whether its client still waits (a
    /// cancellation follows the attempt if its client gave up), so it
    /// answers every attempt. Returns that answer, if any yet.
    pub(super) fn on_arrive(&mut self, p: TransitPlace) -> Option<Reply> {
        let a = self.network.as_deref_mut().expect("a network").arrive(p);
        let (r, token) = a.owner;
        let owner = Owner::Attempt(r, token);
        let s = a.site;
        let Some(delay) = self.admit_at_site(s, false) else {
            self.recorder.current.lb_rejects += 1;
            self.sites[s].rejected += 1;
            return Some(Reply::failed(owner, s));
        };
        if delay > 0 {
            let p = self.accepting.hold(a.arrived());
            self.held_at(r, token, Held::Backlog(p));
            self.schedule_accept(s, self.now + delay, p);
            return None;
        }
        match self.forward(s, a.key, (r, token), (a.id, a.attempt)) {
            super::Forward::Placed(j, _) => {
                self.held_at(r, token, Held::Job(j));
                // Its client counts it as pending until it hears this.
                a.pending.then_some(Reply::Taken(r, token, s))
            }
            refused => {
                self.unhold(s);
                self.count_refusal(s, &refused);
                Some(Reply::failed(owner, s))
            }
        }
    }

    /// The router stops counting request `r`'s current attempt, if it
    /// counts it: its client no longer waits on it. `heard`: its answer
    /// reached the client, and the router learns its round trip.
    #[cold]
    #[inline(never)]
    pub(super) fn router_done(&mut self, r: RequestSlot, heard: bool) {
        let net = self.network.as_deref_mut().expect("a network");
        // A slot whose first attempt never left (no site to go to) has
        // no record yet.
        let Some(sent) = net
            .sent
            .get_mut(r)
            .map(|t| std::mem::replace(t, NOT_COUNTED))
        else {
            return;
        };
        if sent == NOT_COUNTED {
            return;
        }
        let site = BackendId::from(net.via[r]);
        let counted = if heard {
            let now = self.now;
            self.router.picker.finish_observed(site, now - sent, now)
        } else {
            self.router.picker.finish(site)
        };
        debug_assert!(counted, "the router counted the attempt");
    }

    /// Puts `ev`, site `s`'s answer to an attempt or a probe (or its word
    /// that it took an attempt), on its way back; `false` if the site is
    /// no distance away (it is there now).
    pub(super) fn back_from(&mut self, s: SiteId, ev: Ev) -> bool {
        let net = self.network.as_deref().expect("a network");
        let (back, lane) = (net.back[s], net.lane_back[s]);
        if back == 0 {
            return false;
        }
        self.push_far(back, lane, ev);
        true
    }

    /// Request `r`'s attempt `token` is cancelled by its client: the
    /// cancellation leaves for the attempt's site (and is there now if
    /// the site is no distance away).
    pub(super) fn cancel_over(&mut self, r: RequestSlot, token: u32) {
        let net = self.network.as_deref().expect("a network");
        let s = net.via[r];
        let (out, lane) = (net.out[s], net.lane_out[s]);
        if out == 0 {
            return self.on_cancel(r, token);
        }
        self.push_far(out, lane, Ev::Cancel(r, token));
    }

    /// A cancellation reaches its site: the attempt it names is dropped
    /// from the backlog, or its job cancelled at its backend, wherever the
    /// site still holds it.
    pub(super) fn on_cancel(&mut self, r: RequestSlot, token: u32) {
        let net = self.network.as_deref_mut().expect("a network");
        match net.at.take(r, token) {
            Held::Nowhere => {}
            Held::Job(j) => self.cancel_job(j),
            Held::Backlog(p) => {
                let a = &self.accepting[p];
                if a.dropped {
                    return;
                }
                let s = a.site;
                self.accepting[p].dropped = true;
                self.unhold(s);
                self.recorder.totals.cancelled += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::{Backoff, PolicyConfig};
    use crate::sim::config::{RetrySpec, Workload};
    use crate::sim::{SimConfig, Simulation};
    use crate::time::SimDuration;

    #[test]
    fn the_sites_hold_no_attempt_once_all_have_ended() {
        // Two sites, 10 ms and 120 ms away, under timeouts that cancel and
        // immediate retries: an attempt that timed out on the far site is
        // often still there when its retry is taken at the near one.
        let mut c = SimConfig::example();
        c.sites[0].rtt = SimDuration::from_millis(10);
        c.sites[1].rtt = SimDuration::from_millis(120);
        c.cancel_on_timeout = true;
        c.clients[0].workload = super::super::fading(700.0, 20);
        c.clients[0].retry = RetrySpec::Config(Box::new(PolicyConfig {
            attempt_timeout: Some(SimDuration::from_millis(90)),
            ..PolicyConfig::new(Backoff::Immediate, 4)
        }));
        let mut sim = Simulation::new(c).unwrap();
        let mut most_older = 0;
        for t in (100..20_000).step_by(100) {
            sim.run_until(SimTime::from_millis(t));
            let at = &sim.network.as_ref().expect("a network").at;
            most_older = most_older.max(at.older());
        }
        sim.run();
        assert!(sim.recorder().totals().cancelled > 0);
        assert!(most_older > 0, "the case of an older attempt came up");
        assert_eq!(sim.network.as_ref().expect("a network").at.len(), 0);
    }

    #[test]
    fn the_router_counts_only_what_its_clients_wait_on() {
        // The router's least-connections over two sites 10 ms and 120 ms
        // away; immediate retries under a 90 ms timeout, hedged at 30 ms:
        // answers heard, timeouts and hedges' losers all end a wait.
        let mut c = SimConfig::example();
        c.router.mode = crate::sim::RouterMode::Balancer;
        c.router.balancer = crate::balancer::BalancerKind::LeastConn;
        c.router.dns_ttl = SimDuration::ZERO;
        c.sites[0].rtt = SimDuration::from_millis(10);
        c.sites[1].rtt = SimDuration::from_millis(120);
        c.clients[0].workload = Workload::open(100.0);
        c.clients[0].retry = RetrySpec::Config(Box::new(PolicyConfig {
            attempt_timeout: Some(SimDuration::from_millis(90)),
            hedging: Some(crate::retry::HedgingConfig {
                delay: SimDuration::from_millis(30),
            }),
            ..PolicyConfig::new(Backoff::Immediate, 3)
        }));
        let mut sim = Simulation::new(c).unwrap();
        assert!(sim.router.tracks_sent && !sim.router.tracks_load);
        for t in (250..20_000).step_by(250) {
            sim.run_until(SimTime::from_millis(t));
            // Every attempt the router counts is one a client waits on.
            let net = sim.network.as_ref().expect("a network");
            let counted = net.sent.iter().filter(|&&t| t != NOT_COUNTED).count();
            let waiting = sim
                .clients
                .live
                .iter()
                .filter(|&&l| l & WAITING != 0)
                .count();
            assert_eq!(counted, waiting, "at {t} ms");
        }
        // All three ways came up: answers heard, timeouts, and legs
        // abandoned (more attempts than successes and timeouts).
        let s = sim.summary();
        assert!(s.successes > 1000 && s.timeouts > 50, "{s:?}");
        assert!(s.attempts > s.successes + s.timeouts + 200, "{s:?}");
    }
}
