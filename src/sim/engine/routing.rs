//! The router: which site an attempt goes to (a balancer over the sites,
//! or DNS-like answers each client instance caches for a TTL), health
//! checks with their fall and rise counts, the panic threshold, site slow
//! start, the site weights that drains and ramps move, and their way to
//! the clients' answers (at once, or `router.propagation` later).
//!
//! Owns [`Router`] and its view of each site, [`Member`]: the weights,
//! health and probes of a site. Of those, the site's side reads only
//! which probe the router still awaits ([`Router::awaits`]), to tell
//! whether a probe's answer is heard. The router's methods return what
//! changed; the engine's
//! (`route`, `on_probe`, `set_weight`, …) sequence them with the events
//! they schedule. Handles `Probe`, `ProbeTimeout`, `Ramp`, `SlowStart`
//! and `Publish`.

use super::*;
use crate::balancer::Backend;
use crate::sim::config::{RouterMode, SimConfig};
use crate::sim::random::{draw, mix};

/// A site weight moving linearly from `from` to `to`.
pub(super) struct Ramp {
    pub(super) from: u32,
    pub(super) to: u32,
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) step: u64,
}

/// A site as the router sees it.
pub(super) struct Member {
    /// The site's identity for a hashing router balancer: its name, hashed.
    pub(super) hash_key: u64,
    /// The weight a restore returns to.
    pub(super) base_weight: u32,
    /// The router weight drains and ramps set.
    pub(super) weight: u32,
    /// The weight last published (0 while unhealthy, out of panic).
    pub(super) published: u32,
    pub(super) healthy: bool,
    /// Probes failed and answered in a row.
    pub(super) fails: u32,
    pub(super) oks: u32,
    pub(super) ramp: Option<Ramp>,
    /// Bumped by every new weight, so that a stale ramp step is dropped.
    pub(super) ramp_token: u32,
    pub(super) slow_start_since: Option<u64>,
    pub(super) probe_seq: u32,
    /// The probe awaited, if any.
    pub(super) probe_pending: Option<u32>,
}

/// The router: its balancer over the sites, the draws of its DNS-like
/// modes, its health checks, and its view of every site.
pub(super) struct Router {
    pub(super) balancer: Box<dyn Balancer>,
    pub(super) picker: Box<dyn Picker>,
    /// Whether `picker` counts attempts in flight at the sites, from
    /// their placement at a backend to its release (the `balancer` mode,
    /// with a balancer that reads them, and no network).
    pub(super) tracks_load: bool,
    /// Over a network, instead: whether `picker` counts the attempts its
    /// clients wait on, from the send to the answer heard, the timeout or
    /// the abandon, and learns the round trips of the answers heard —
    /// what the clients' side can see.
    pub(super) tracks_sent: bool,
    pub(super) mode: RouterMode,
    /// The sites' published weights, for the DNS-like modes.
    pub(super) site_draw: WeightedSites,
    /// The zones' splits, in zone-aware routing.
    pub(super) zones: Option<zones::Zones>,
    pub(super) health: Option<HealthCheckConfig>,
    /// How long a client instance keeps a DNS answer (0: none).
    pub(super) dns_ttl: u64,
    /// The slow-start window of sites (and of backends) coming back.
    pub(super) slow_start: u64,
    pub(super) panic_threshold: f64,
    pub(super) panicking: bool,
    /// Per site.
    pub(super) members: TiVec<SiteId, Member>,
    /// How long published weights take to reach the clients' answers
    /// (0: at once).
    pub(super) propagation: u64,
    /// Weights published but not yet in the clients' answers, oldest
    /// first: each is applied by an [`Ev::Publish`] `propagation` after
    /// it was published: the changes of the last `propagation`.
    pub(super) on_their_way: VecDeque<Vec<u32>>,
}

/// What working out the published weights came to.
pub(super) struct Reweighed {
    /// The sites whose slow start began (their first step is the
    /// caller's to schedule).
    pub(super) slow: Vec<SiteId>,
    /// Whether the weights changed and travel to the clients: an
    /// [`Ev::Publish`] is the caller's to schedule, `propagation` on.
    pub(super) travel: bool,
}

/// What a step of a site's weight ramp came to.
pub(super) enum RampStep {
    /// The ramp was replaced or stopped.
    Stale,
    /// The weight moved; the next step is due then.
    Next(u64),
    /// The weight reached its target.
    Done,
}

impl Router {
    /// The router of `config`'s sites, its balancer seeded with `seed`.
    pub(super) fn build(config: &SimConfig, seed: u64) -> Result<Self, SimError> {
        let members: TiVec<SiteId, Member> = config
            .sites
            .iter()
            .map(|s| {
                let weight = s.router_weight();
                Member {
                    hash_key: crate::balancer::key_of(s.name.as_bytes()),
                    base_weight: weight,
                    weight,
                    published: weight,
                    healthy: true,
                    fails: 0,
                    oks: 0,
                    ramp: None,
                    ramp_token: 0,
                    slow_start_since: None,
                    probe_seq: 0,
                    probe_pending: None,
                }
            })
            .collect();
        let r = &config.router;
        let balancer = r
            .balancer
            .build(
                &listing(&members.raw, members.iter().map(|m| m.published)),
                seed,
            )
            .map_err(|source| SimError::Balancer {
                site: "router".into(),
                source,
            })?;
        let mut site_draw = WeightedSites::default();
        site_draw.set(members.iter().map(|m| m.published));
        let zones = (r.mode == RouterMode::ZoneAware).then(|| {
            let base: Vec<u32> = config.sites.iter().map(|s| s.router_weight()).collect();
            let published: Vec<u32> = members.iter().map(|m| m.published).collect();
            zones::Zones::new(&base, &published)
        });
        Ok(Self {
            picker: balancer.local_picker(),
            balancer,
            tracks_load: r.mode == RouterMode::Balancer && r.balancer.tracks_load(),
            tracks_sent: false,
            mode: r.mode,
            site_draw,
            zones,
            health: r.health_check.clone(),
            dns_ttl: r.dns_ttl.0,
            slow_start: r.slow_start.0,
            panic_threshold: r.panic_threshold,
            panicking: false,
            members,
            propagation: r.propagation.0,
            on_their_way: VecDeque::new(),
        })
    }

    /// Starts site `s`'s next probe: its sequence, now awaited.
    pub(super) fn next_probe(&mut self, s: SiteId) -> u32 {
        let m = &mut self.members[s];
        m.probe_seq = m.probe_seq.wrapping_add(1);
        m.probe_pending = Some(m.probe_seq);
        m.probe_seq
    }

    /// Whether site `s` still awaits its probe `seq`.
    #[inline]
    pub(super) fn awaits(&self, s: SiteId, seq: u32) -> bool {
        self.members[s].probe_pending == Some(seq)
    }

    /// Site `s`'s probe was answered (`ok`) or not: counts it against the
    /// health check's fall and rise. Returns whether the site's health
    /// changed (its weights must be published again).
    pub(super) fn heard(&mut self, s: SiteId, ok: bool) -> bool {
        let Some(h) = &self.health else {
            return false;
        };
        let (fall, rise) = (h.fall, h.rise);
        let m = &mut self.members[s];
        m.probe_pending = None;
        let changed = if ok {
            m.oks += 1;
            m.fails = 0;
            !m.healthy && m.oks >= rise
        } else {
            m.fails += 1;
            m.oks = 0;
            m.healthy && m.fails >= fall
        };
        if changed {
            m.healthy = ok;
        }
        changed
    }

    /// Health checks stop: every site is healthy again, no probe awaited.
    /// Returns whether they were running.
    pub(super) fn stop_health_checks(&mut self) -> bool {
        if self.health.take().is_none() {
            return false;
        }
        for m in &mut self.members {
            m.healthy = true;
            m.fails = 0;
            m.oks = 0;
            m.probe_pending = None;
        }
        true
    }

    /// Works out the weights to publish at `now` (drains, health, panic,
    /// slow start) and publishes them if they changed: into the clients'
    /// answers at once, or on their way to them.
    pub(super) fn reweigh(&mut self, now: u64) -> Reweighed {
        let weighted = self.members.iter().filter(|m| m.weight > 0).count();
        let healthy = self
            .members
            .iter()
            .filter(|m| m.weight > 0 && m.healthy)
            .count();
        self.panicking = self.panic_threshold > 0.0
            && weighted > 0
            && (healthy as f64) < self.panic_threshold * weighted as f64;
        let mut changed = false;
        let mut slow = Vec::new();
        for (i, m) in self.members.iter_mut_enumerated() {
            let mut w = if m.healthy || self.panicking {
                m.weight
            } else {
                0
            };
            if w > 0 && m.published == 0 && self.slow_start > 0 && m.slow_start_since.is_none() {
                m.slow_start_since = Some(now);
                slow.push(i);
            }
            if let Some(since) = m.slow_start_since {
                let frac = (now - since) as f64 / self.slow_start as f64;
                if frac >= 1.0 || w == 0 {
                    m.slow_start_since = None;
                } else {
                    w = ((w as f64 * frac) as u32).max(1);
                }
            }
            if w != m.published {
                m.published = w;
                changed = true;
            }
        }
        let published = || self.members.iter().map(|m| m.published).collect::<Vec<_>>();
        let travel = changed && self.propagation > 0;
        if travel {
            self.on_their_way.push_back(published());
        } else if changed {
            self.answer_by(&published());
        }
        Reweighed { slow, travel }
    }

    /// The oldest weights on their way reach the clients' answers.
    pub(super) fn arrived(&mut self) {
        let weights = self
            .on_their_way
            .pop_front()
            .expect("a publication is on its way for each Publish");
        self.answer_by(&weights);
    }

    /// The clients' answers follow `weights`, one per site: the DNS-like
    /// modes' draws, the zones' splits, the router's balancer.
    fn answer_by(&mut self, weights: &[u32]) {
        self.site_draw.set(weights.iter().copied());
        if let Some(z) = self.zones.as_mut() {
            z.refresh(weights);
        }
        self.balancer
            .update(&listing(&self.members.raw, weights.iter().copied()))
            .expect("site ids are unique and fewer than the limit");
    }

    /// The period of a site's slow-start steps.
    pub(super) fn slow_start_step(&self) -> u64 {
        (self.slow_start / 10).max(1)
    }

    /// Sets site `s`'s weight to `to` at `now`, at once or over `ramp`.
    /// Returns the ramp's first step (its time and token), or `None` if
    /// the weight is set (the caller publishes it).
    pub(super) fn set_weight(
        &mut self,
        s: SiteId,
        to: u32,
        ramp: u64,
        now: u64,
    ) -> Option<(u64, u32)> {
        let m = &mut self.members[s];
        m.ramp_token = m.ramp_token.wrapping_add(1);
        if ramp == 0 || m.weight == to {
            m.ramp = None;
            m.weight = to;
            return None;
        }
        let step = (ramp / 100).max(100_000_000).min(ramp);
        m.ramp = Some(Ramp {
            from: m.weight,
            to,
            start: now,
            end: now + ramp,
            step,
        });
        Some((now + step, m.ramp_token))
    }

    /// Stops site `s`'s ramp where it is; returns its weight.
    pub(super) fn stop_ramp(&mut self, s: SiteId) -> u32 {
        let m = &mut self.members[s];
        m.ramp_token = m.ramp_token.wrapping_add(1);
        m.ramp = None;
        m.weight
    }

    /// Step `token` of site `s`'s ramp, at `now`.
    pub(super) fn step_ramp(&mut self, s: SiteId, token: u32, now: u64) -> RampStep {
        let m = &mut self.members[s];
        if m.ramp_token != token {
            return RampStep::Stale;
        }
        let Some(r) = &m.ramp else {
            return RampStep::Stale;
        };
        let frac = ((now - r.start) as f64 / (r.end - r.start) as f64).min(1.0);
        let w = r.from as f64 + (r.to as f64 - r.from as f64) * frac;
        m.weight = w.round() as u32;
        if frac >= 1.0 {
            m.weight = r.to;
            m.ramp = None;
            RampStep::Done
        } else {
            RampStep::Next((now + r.step).min(r.end))
        }
    }
}

/// The router balancer's members: every site at its weight in `weights`.
fn listing(members: &[Member], weights: impl IntoIterator<Item = u32>) -> Vec<Backend> {
    members
        .iter()
        .zip(weights)
        .enumerate()
        .map(|(i, (m, w))| Backend::new(i as u32, w).with_hash_key(m.hash_key))
        .collect()
}

/// The key a site's probe `seq` hashes by.
fn probe_key(s: SiteId, seq: u32) -> u64 {
    mix((s.index() as u64) << 32 | u64::from(seq))
}

impl Simulation {
    /// Picks a site for attempt `attempt` of request `id` (group `g`,
    /// `key`, from client instance `instance`).
    #[inline]
    pub(super) fn route(
        &mut self,
        g: GroupId,
        key: u64,
        instance: u32,
        id: RequestId,
        attempt: u32,
    ) -> Option<SiteId> {
        let ttl = self.router.dns_ttl;
        if ttl == 0 {
            return self.fresh_site(g, key, instance, id, attempt);
        }
        let b = instance as usize;
        let (site, expires) = self.clients.groups[g].dns[b];
        if site != SiteId::NONE
            && expires > self.now
            && (self.router.mode != RouterMode::Sticky
                || self.router.site_draw.in_rotation(site.index() as u32))
        {
            return Some(site);
        }
        let site = self.fresh_site(g, key, instance, id, attempt)?;
        self.clients.groups[g].dns[b] = (site, self.now + ttl);
        Some(site)
    }

    /// A site drawn afresh for the attempt, by the router's mode.
    #[inline(always)]
    fn fresh_site(
        &mut self,
        g: GroupId,
        key: u64,
        instance: u32,
        id: RequestId,
        attempt: u32,
    ) -> Option<SiteId> {
        match self.router.mode {
            RouterMode::Balancer => self.router.picker.pick(key).map(SiteId::from),
            RouterMode::WeightedRandom | RouterMode::Sticky => self
                .router
                .site_draw
                .pick(draw(self.seeds.router, id.draws(), u64::from(attempt)))
                .map(SiteId::new),
            RouterMode::ZoneAware => self.zone_route(g, instance, id, attempt),
        }
    }

    pub(super) fn on_probe(&mut self, s: SiteId) {
        let Some(h) = &self.router.health else {
            return;
        };
        let (interval, timeout) = (h.interval.0, h.timeout.0);
        self.push(self.now + interval, Ev::Probe(s));
        if self.router.members[s].probe_pending.is_some() {
            // The previous probe is still unanswered: it failed.
            self.probe_result(s, false);
        }
        let seq = self.router.next_probe(s);
        self.recorder.totals.probes += 1;
        let deadline = self.now + timeout;
        if self.network.is_some() {
            return self.probe_over(s, seq, deadline);
        }
        let Some(delay) = self.admit_at_site(s, true) else {
            return self.probe_result(s, false);
        };
        if delay > 0 {
            self.push(deadline, Ev::ProbeTimeout(s, seq));
            return self.hold_probe(s, seq, delay);
        }
        let Some((j, immediate)) = self.place_probe(s, seq) else {
            return self.probe_result(s, false);
        };
        if !immediate || self.now + self.pool.jobs[j].service > deadline {
            self.push(deadline, Ev::ProbeTimeout(s, seq));
        }
    }

    /// Site `s`'s answer to probe `seq` reaches the router: heard if the
    /// router still awaits that probe.
    pub(super) fn hear_probe(&mut self, s: SiteId, seq: u32, ok: bool) {
        if self.router.awaits(s, seq) {
            self.probe_result(s, ok);
        }
    }

    /// Probe `seq` of site `s` reaches the site over the network: the
    /// load balancer admits it and places it, or holds it in its backlog,
    /// or turns it away (the failure travels back).
    pub(super) fn on_probe_arrive(&mut self, s: SiteId, seq: u32) -> Option<Reply> {
        // Answered whether or not the router still awaits it: it hears
        // the answer, or not, when it arrives.
        let failed = Some(Reply::Probe(s, seq, false));
        let Some(delay) = self.admit_at_site(s, true) else {
            return failed;
        };
        if delay > 0 {
            self.hold_probe(s, seq, delay);
            return None;
        }
        self.place_probe(s, seq).map_or(failed, |_| None)
    }

    /// Holds site `s`'s admitted probe `seq` in its load balancer's
    /// backlog for `delay`.
    fn hold_probe(&mut self, s: SiteId, seq: u32, delay: u64) {
        let p = self.accepting.hold(Accepting {
            site: s,
            owner: Owner::Probe(s, seq),
            instance: 0,
            key: probe_key(s, seq),
            id: RequestId::probe(s),
            attempt: u64::from(seq),
            dropped: false,
            pending: false,
        });
        self.schedule_accept(s, self.now + delay, p);
    }

    /// Places site `s`'s admitted probe `seq` at a backend: its job and
    /// whether it is in service at once, or `None` (the site lets go of
    /// it) if no backend takes it.
    fn place_probe(&mut self, s: SiteId, seq: u32) -> Option<(JobId, bool)> {
        let (key, id) = (probe_key(s, seq), RequestId::probe(s));
        let placed = self.place(s, key, Owner::Probe(s, seq), (id, u64::from(seq)));
        if placed.is_none() {
            self.unhold(s);
        }
        placed
    }

    /// Site `s`'s probe was answered (`ok`) or not.
    pub(super) fn probe_result(&mut self, s: SiteId, ok: bool) {
        if self.router.health.is_some() && !ok {
            self.recorder.totals.probe_failures += 1;
        }
        if self.router.heard(s, ok) {
            self.refresh_router();
        }
    }

    /// Recomputes the router weights (drains, health, panic, slow start)
    /// and publishes them if they changed; schedules the first step of
    /// each slow start that began.
    pub(super) fn refresh_router(&mut self) {
        let Reweighed { slow, travel } = self.router.reweigh(self.now);
        if travel {
            self.push(self.now + self.router.propagation, Ev::Publish);
        }
        let step = self.router.slow_start_step();
        for s in slow {
            self.push(self.now + step, Ev::SlowStart(s));
        }
    }

    pub(super) fn on_slow_start(&mut self, s: SiteId) {
        if self.router.members[s].slow_start_since.is_none() {
            return;
        }
        self.refresh_router();
        if self.router.members[s].slow_start_since.is_some() {
            self.push(self.now + self.router.slow_start_step(), Ev::SlowStart(s));
        }
    }

    pub(super) fn set_weight(&mut self, s: SiteId, to: u32, ramp: u64) {
        match self.router.set_weight(s, to, ramp, self.now) {
            Some((at, token)) => self.push(at, Ev::Ramp(s, token)),
            None => self.refresh_router(),
        }
    }

    pub(super) fn on_ramp(&mut self, s: SiteId, token: u32) {
        match self.router.step_ramp(s, token, self.now) {
            RampStep::Stale => return,
            RampStep::Next(at) => self.push(at, Ev::Ramp(s, token)),
            RampStep::Done => {}
        }
        self.refresh_router();
    }
}

#[cfg(test)]
mod tests;
