//! A site's backend autoscaler: measures the busy share of the slots in
//! service every interval, asks for backends by the HPA's rule, boots new
//! ones with a lag and removes surplus ones after a stabilisation window.
//!
//! Backends are in service in the configured order: the first
//! `in_service` of the site's backends are in its balancer, the rest stand
//! by with a weight of 0 (their queues, if any, are still served). Each
//! measurement and each boot's end is an event of its own.

use std::collections::VecDeque;

use super::{Ev, Simulation, SiteId};
use crate::sim::config::Autoscaling;

/// One site's autoscaler.
pub(super) struct Autoscaler {
    pub(super) config: Autoscaling,
    /// Backends in service: the site's first `in_service`.
    pub(super) in_service: u32,
    /// Backends booting: (when each batch joins, how many).
    booting: VecDeque<(u64, u32)>,
    /// The site's busy slot-time (ns) at the last measurement.
    last_busy: u128,
    /// The wants of the stabilisation window: (when, backends wanted).
    wants: VecDeque<(u64, u32)>,
    /// Backends the site has (the most in service).
    pool: u32,
}

impl Autoscaler {
    /// An autoscaler over a site of `pool` backends, with its initial
    /// backends in service.
    pub(super) fn new(config: Autoscaling, pool: u32) -> Self {
        Self {
            config,
            in_service: config.initial.min(pool),
            booting: VecDeque::new(),
            last_busy: 0,
            wants: VecDeque::new(),
            pool,
        }
    }

    /// Backends booting.
    pub(super) fn booting(&self) -> u32 {
        self.booting.iter().map(|b| b.1).sum()
    }

    /// Backends in service or booting.
    fn counted(&self) -> u32 {
        self.in_service + self.booting()
    }

    /// The HPA's want for a measured busy share `u` of the slots in service.
    fn want(&self, u: f64) -> u32 {
        let ratio = u / self.config.target_utilisation;
        let current = self.counted();
        if (ratio - 1.0).abs() <= self.config.tolerance {
            return current;
        }
        let want = (f64::from(self.in_service) * ratio).ceil();
        (want.min(f64::from(self.pool)) as u32).clamp(self.config.min_backends(), self.pool)
    }
}

impl Simulation {
    /// Site `s`'s autoscaler measures the last interval, boots or removes
    /// backends, and schedules its next measurement.
    pub(super) fn on_autoscale(&mut self, s: SiteId) {
        let now = self.now;
        let site = &mut self.sites[s];
        site.touch(now);
        let busy = site.busy_total;
        let (first, _) = site.backends_from(0);
        let Some(a) = site.autoscaler.as_mut() else {
            return;
        };
        let interval = a.config.interval.0;
        let slots: u64 = self
            .pool
            .span(first, a.in_service)
            .iter()
            .map(|b| u64::from(b.slots))
            .sum();
        let used = (busy - a.last_busy) as f64;
        a.last_busy = busy;
        let u = used / (slots.max(1) as f64 * interval as f64);
        let want = a.want(u);
        let window = a.config.stabilization.0;
        a.wants.push_back((now, want));
        while a.wants.front().is_some_and(|&(t, _)| t + window < now) {
            a.wants.pop_front();
        }
        let counted = a.counted();
        let mut removed = false;
        if want > counted {
            let at = now + a.config.lag.0;
            a.booting.push_back((at, want - counted));
            self.push(at, Ev::BackendsBooted(s));
        } else {
            // Remove only what no want of the window still asks for:
            // backends still booting first (the newest), as Kubernetes
            // deletes pods that are not ready first, then backends in
            // service, never under the minimum.
            let keep = a.wants.iter().map(|w| w.1).max().unwrap_or(want);
            let mut surplus = counted.saturating_sub(keep);
            while surplus > 0
                && let Some(last) = a.booting.back_mut()
            {
                let cancel = surplus.min(last.1);
                last.1 -= cancel;
                surplus -= cancel;
                if last.1 == 0 {
                    a.booting.pop_back();
                }
            }
            let floor = a.config.min_backends().min(a.in_service);
            let surplus = surplus.min(a.in_service - floor);
            if surplus > 0 {
                a.in_service -= surplus;
                removed = true;
            }
        }
        if removed {
            self.mark_in_service(s);
        }
        self.push(now + interval, Ev::Autoscale(s));
    }

    /// Backends booting at site `s` whose lag is over join its balancer.
    pub(super) fn on_backends_booted(&mut self, s: SiteId) {
        let now = self.now;
        let Some(a) = self.sites[s].autoscaler.as_mut() else {
            return;
        };
        let mut joined = 0;
        while a.booting.front().is_some_and(|&(t, _)| t <= now) {
            joined += a.booting.pop_front().expect("checked").1;
        }
        if joined == 0 {
            return;
        }
        let before = a.in_service;
        a.in_service = (a.in_service + joined).min(a.pool);
        let after = a.in_service;
        let slow_start = self.pool.slow_start;
        let mut ramping = false;
        let (joining, _) = self.sites[s].backends_from(before);
        for b in self.pool.span_mut(joining, after - before) {
            if slow_start > 0 && b.target > 0 {
                // A new backend ramps up, as a returning one does.
                b.slow_since = Some(now);
                b.weight = 1;
                ramping = true;
            }
        }
        self.mark_in_service(s);
        if ramping {
            self.push(now + (slow_start / 10).max(1), Ev::BackendSlowStart(s));
        }
    }

    /// Marks site `s`'s backends in service or standing by, as its
    /// autoscaler says, and publishes the weights in effect.
    fn mark_in_service(&mut self, s: SiteId) {
        let site = &self.sites[s];
        let Some(a) = site.autoscaler.as_ref() else {
            return;
        };
        let ((first, n), k) = (site.backends_from(0), a.in_service);
        for (i, b) in self.pool.span_mut(first, n).iter_mut().enumerate() {
            b.standby = i as u32 >= k;
        }
        self.publish_backends(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scaler(initial: u32, pool: u32) -> Autoscaler {
        Autoscaler::new(Autoscaling::new(initial, 0.5), pool)
    }

    #[test]
    fn wants_follow_the_hpa_rule() {
        let a = scaler(10, 40);
        // 0.9 busy against 0.5: ceil(10 × 1.8) = 18.
        assert_eq!(a.want(0.9), 18);
        // Within the 10 % tolerance: no change.
        assert_eq!(a.want(0.54), 10);
        // Never under min (the initial 10) nor over the pool.
        assert_eq!(a.want(0.1), 10);
        assert_eq!(a.want(1.0 * 10.0), 40);
    }

    #[test]
    fn booting_backends_count_toward_the_want() {
        let mut a = scaler(10, 40);
        a.booting.push_back((5, 8));
        assert_eq!(a.counted(), 18);
        // At the target exactly, the want is what it has, booting included.
        assert_eq!(a.want(0.5), 18);
    }
}
