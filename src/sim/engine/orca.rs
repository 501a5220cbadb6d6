//! A site's backend-reported weights (ORCA): every update period each
//! backend reports what it served, and the site's balancer is reweighed.
//!
//! Backends count their own work as they finish it (service time, answers,
//! errors); the event loop's `OrcaUpdate` reads and resets the counts, as
//! an out-of-band ORCA stream would report them.

use super::{Ev, Simulation, SiteId};

/// The largest weight a report gives: weights are scaled to 1 ..= this.
const MAX_WEIGHT: u32 = 100;

impl Simulation {
    /// Site `s`'s backends report the last period; its balancer gets the
    /// weights in effect, and the next report is scheduled.
    pub(super) fn on_orca_update(&mut self, s: SiteId) {
        let now = self.now;
        let site = &mut self.sites[s];
        let (first, n) = site.backends_from(0);
        let Some((weights, period)) = site.orca.as_mut() else {
            return;
        };
        let secs = *period as f64 / 1e9;
        for (i, b) in self.pool.span_mut(first, n).iter_mut().enumerate() {
            let qps = f64::from(b.answered) / secs;
            let eps = f64::from(b.errors) / secs;
            let utilization = b.served_ns as f64 / (f64::from(b.slots) * *period as f64);
            weights.report(i, qps, eps, utilization, now);
            (b.served_ns, b.answered, b.errors) = (0, 0, 0);
        }
        // Until some backend has a weight, the configured ones hold.
        let table = if (0..n as usize).any(|i| weights.weight(i, now).is_some()) {
            weights.weights(now, MAX_WEIGHT)
        } else {
            vec![0; n as usize]
        };
        let next = now + *period;
        let mut changed = false;
        for (b, w) in self.pool.span_mut(first, n).iter_mut().zip(table) {
            changed |= b.orca_weight != w;
            b.orca_weight = w;
        }
        if changed {
            self.publish_backends(s);
        }
        self.push(next, Ev::OrcaUpdate(s));
    }
}
