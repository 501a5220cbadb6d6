//! The timeline: what each [`Action`] does to the model when it comes up
//! (an `Action` event) or when a host injects it.

use super::*;
use crate::balancer::BackendId;
use crate::retry::Population;
use crate::sim::arrivals::RateCurve;
use crate::sim::config::Action;

impl Simulation {
    pub(super) fn apply(&mut self, action: Action) {
        let site_of = |sim: &Self, name: &str| {
            SiteId::from(sim.config.site_index(name).expect("actions are validated"))
        };
        match action {
            Action::Drain { site, ramp } => {
                let s = site_of(self, &site);
                self.stop_paced(s);
                self.set_weight(s, 0, ramp.0);
            }
            Action::PacedDrain {
                site,
                step,
                every,
                window,
                max_utilisation,
                max_reject_rate,
                max_timeout_rate,
                back_off,
            } => {
                let s = site_of(self, &site);
                self.start_paced(
                    s,
                    step,
                    every.0,
                    window.0,
                    max_utilisation,
                    max_reject_rate,
                    max_timeout_rate,
                    back_off,
                );
            }
            Action::Restore {
                site,
                ramp,
                cold_factor,
                cold_for,
            } => {
                let s = site_of(self, &site);
                self.stop_paced(s);
                let to = self.router.members[s].base_weight;
                if cold_factor > 1.0 && cold_for.0 > 0 {
                    self.sites[s].cold_factor = cold_factor;
                    self.sites[s].cold_until = self.now + cold_for.0;
                }
                self.set_weight(s, to, ramp.0);
            }
            Action::SetSiteWeight { site, weight, ramp } => {
                let s = site_of(self, &site);
                self.stop_paced(s);
                self.router.members[s].base_weight = weight;
                self.set_weight(s, weight, ramp.0);
            }
            Action::SetBackendWeights { site, weights } => {
                let s = site_of(self, &site);
                let (first, n) = self.sites[s].backends_from(0);
                let (now, slow_start) = (self.now, self.pool.slow_start);
                let mut ramping = false;
                for (b, &w) in self.pool.span_mut(first, n).iter_mut().zip(&weights) {
                    b.target = w;
                    if slow_start > 0 && b.weight == 0 && w > 0 {
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
                    self.push(now + (slow_start / 10).max(1), Ev::BackendSlowStart(s));
                }
            }
            Action::SetBalancer {
                site,
                balancer,
                params,
            } => {
                let s = site_of(self, &site);
                self.set_balancer(s, balancer, &params);
                self.give_keys_if_needed();
            }
            Action::SetBackendFailure {
                site,
                backends,
                fail_probability,
            } => {
                let s = site_of(self, &site);
                let site = &self.sites[s];
                let list = backends.unwrap_or_else(|| (0..site.backends).collect());
                for i in list {
                    self.pool.backends[site.backend(BackendId(i))].fail_probability =
                        fail_probability;
                }
            }
            Action::SetAcceptRate {
                site,
                max_new_per_sec,
            } => {
                let s = site_of(self, &site);
                let site = &mut self.sites[s];
                site.set_rate(max_new_per_sec);
                site.rate_floor = max_new_per_sec;
                if let Some(sc) = site.scaling.as_mut() {
                    sc.max_per_sec = sc.max_per_sec.max(max_new_per_sec);
                }
            }
            Action::SetLoad { group, rate, curve } => {
                let g = GroupId::from(self.config.group_index(&group).expect("validated"));
                let now = self.now;
                let grp = &mut self.clients.groups[g];
                if let Some(src) = grp.source.as_mut() {
                    src.set_curve(now, RateCurve::new(rate, &curve));
                    self.schedule_next_arrival(g);
                }
            }
            Action::ResetLoadBalancer { site } => {
                let s = site_of(self, &site);
                self.reset_load_balancer(s);
            }
            Action::SetCancelOnTimeout { cancel } => {
                self.cancel = cancel;
                if cancel {
                    self.cancel_abandoned();
                }
            }
            Action::StopHealthChecks => {
                if self.router.stop_health_checks() {
                    self.refresh_router();
                }
            }
            Action::FlushDns => {
                for g in &mut self.clients.groups {
                    for answer in &mut g.dns {
                        answer.1 = 0;
                    }
                }
            }
            Action::SetRetry { group, retry } => {
                let g = GroupId::from(self.config.group_index(&group).expect("validated"));
                let config = retry.resolve().expect("validated");
                let instances = self.clients.groups[g].instances;
                self.clients.groups[g].hedge =
                    config.hedging.map(|h| (config.max_attempts, h.delay.0));
                if self.clients.groups[g].hedge.is_some() && !self.clients.hedging {
                    self.clients.hedging = true;
                    self.clients
                        .hedges
                        .resize(self.clients.requests.len(), Default::default());
                }
                self.clients.groups[g].policy = GroupPolicy::Builtin(Box::new(
                    Population::new(config, instances).expect("validated"),
                ));
            }
        }
    }
}

impl Simulation {
    /// `reset-load-balancer`: the site's accept rate back to the one last
    /// configured, the limiter without debt, and every attempt waiting in
    /// its backlog rejected now (its `Accepted` event then finds it gone).
    fn reset_load_balancer(&mut self, s: SiteId) {
        let now = self.now;
        let site = &mut self.sites[s];
        // The rate last configured (the profile's, or the latest
        // `set-accept-rate`): scaling's drift from it is undone, the
        // operator's configuration kept.
        let configured = site.rate_floor;
        site.set_rate(configured);
        site.demand = 0;
        site.tat = now;
        for p in self.accepting.live() {
            let a = &self.accepting[p];
            if a.dropped || a.site != s {
                continue;
            }
            self.accepting[p].dropped = true;
            let reply = self.drop_accepting(p);
            self.deliver(reply);
        }
    }

    /// Cancels every attempt at a backend whose client no longer waits for
    /// it (`set-cancel-on-timeout` turning cancellation on).
    fn cancel_abandoned(&mut self) {
        for j in self.pool.jobs.live() {
            let job = &self.pool.jobs[j];
            if job.flags & CANCELLED != 0 || matches!(job.owner, Owner::Probe(..)) {
                continue;
            }
            if !self.waits(job.owner) {
                self.cancel_job(j);
            }
        }
    }
}
