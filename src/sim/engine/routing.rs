//! The router: which site an attempt goes to (a balancer over the sites,
//! or DNS-like answers each client instance caches for a TTL), health
//! checks with their fall and rise counts, the panic threshold, site slow
//! start, and the site weights that drains and ramps move.
//!
//! Handles `Probe`, `ProbeTimeout`, `Ramp` and `SlowStart`. The router's
//! balancer and its picker live in `Simulation`; what it publishes is each
//! site's `published` weight.

use super::*;
use crate::balancer::Backend;
use crate::sim::config::RouterMode;
use crate::sim::random::{draw, mix};

/// A site weight moving linearly from `from` to `to`.
pub(super) struct Ramp {
    pub(super) from: u32,
    pub(super) to: u32,
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) step: u64,
}

/// The router's members: every site at its published weight.
/// The key a site's probe `seq` hashes by.
fn probe_key(s: u32, seq: u32) -> u64 {
    mix(u64::from(s) << 32 | u64::from(seq))
}

pub(super) fn router_members(sites: &[Site]) -> Vec<Backend> {
    sites
        .iter()
        .enumerate()
        .map(|(i, s)| Backend::new(i as u32, s.published).with_hash_key(s.hash_key))
        .collect()
}

impl Simulation {
    /// Picks a site for attempt `attempt` of request `id` (group `g`,
    /// `key`, from client instance `instance`).
    #[inline]
    pub(super) fn route(
        &mut self,
        g: u32,
        key: u64,
        instance: u32,
        id: RequestId,
        attempt: u32,
    ) -> Option<u32> {
        if self.dns_ttl == 0 {
            return self.fresh_site(g, key, instance, id, attempt);
        }
        let b = instance as usize;
        let (site, expires) = self.groups[g as usize].dns[b];
        if site != NONE
            && expires > self.now
            && (self.router_mode != RouterMode::Sticky || self.site_draw.in_rotation(site))
        {
            return Some(site);
        }
        let site = self.fresh_site(g, key, instance, id, attempt)?;
        self.groups[g as usize].dns[b] = (site, self.now + self.dns_ttl);
        Some(site)
    }

    /// A site drawn afresh for the attempt, by the router's mode.
    #[inline(always)]
    fn fresh_site(
        &mut self,
        g: u32,
        key: u64,
        instance: u32,
        id: RequestId,
        attempt: u32,
    ) -> Option<u32> {
        match self.router_mode {
            RouterMode::Balancer => self.router_picker.pick(key).map(|id| id.0),
            RouterMode::WeightedRandom | RouterMode::Sticky => {
                self.site_draw
                    .pick(draw(self.seeds.router, id.draws(), u64::from(attempt)))
            }
            RouterMode::ZoneAware => self.zone_route(g, instance, id, attempt),
        }
    }

    pub(super) fn on_probe(&mut self, s: u32) {
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
        let deadline = self.now + h.timeout.0;
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
        if !immediate || self.now + self.jobs[j as usize].service > deadline {
            self.push(deadline, Ev::ProbeTimeout(s, seq));
        }
    }

    /// Probe `seq` of site `s` reaches the site over the network: the
    /// load balancer admits it and places it, or holds it in its backlog,
    /// or turns it away (the failure travels back).
    pub(super) fn on_probe_arrive(&mut self, s: u32, seq: u32) -> Option<Reply> {
        // A failure is heard only by the probe still awaited.
        let failed =
            (self.sites[s as usize].probe_pending == Some(seq)).then_some(Reply::Probe(s, false));
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
    fn hold_probe(&mut self, s: u32, seq: u32, delay: u64) {
        let p = self.hold_accepting(Accepting {
            site: s,
            owner: s,
            token: seq,
            instance: 0,
            probe: true,
            key: probe_key(s, seq),
            id: RequestId::probe(s),
            attempt: u64::from(seq),
            dropped: false,
        });
        self.push(self.now + delay, Ev::Accepted(p));
    }

    /// Places site `s`'s admitted probe `seq` at a backend: its job and
    /// whether it is in service at once, or `None` (the site lets go of
    /// it) if no backend takes it.
    fn place_probe(&mut self, s: u32, seq: u32) -> Option<(u32, bool)> {
        let (key, id) = (probe_key(s, seq), RequestId::probe(s));
        let Some((j, immediate)) = self.place(s, key, (s, seq), (id, u64::from(seq))) else {
            self.unhold(s);
            return None;
        };
        self.jobs[j as usize].flags |= PROBE;
        Some((j, immediate))
    }

    pub(super) fn probe_result(&mut self, s: u32, ok: bool) {
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
    pub(super) fn refresh_router(&mut self) {
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
            self.refresh_zones();
            self.router
                .update(&router_members(&self.sites))
                .expect("site ids are unique and fewer than the limit");
        }
    }

    pub(super) fn on_slow_start(&mut self, s: u32) {
        if self.sites[s as usize].slow_start_since.is_none() {
            return;
        }
        self.refresh_router();
        if self.sites[s as usize].slow_start_since.is_some() {
            self.push(self.now + (self.slow_start / 10).max(1), Ev::SlowStart(s));
        }
    }

    pub(super) fn set_weight(&mut self, s: u32, to: u32, ramp: u64) {
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

    pub(super) fn on_ramp(&mut self, s: u32, token: u32) {
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
}
