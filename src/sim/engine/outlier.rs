//! A site load balancer's outlier detection: the backends' answers in,
//! ejections out (as weights of 0 published to the site's balancer).
//!
//! The backends do not call up into their sites: they leave each answer
//! in `answers` (only at sites that detect outliers), and the event loop
//! hands them over after the event that produced them. An ejection's end
//! is an event of its own, so a backend comes back on time even at a site
//! whose every backend is out (and so answers nothing); so is each
//! interval's sweep (success rate, failure percentage, multipliers).

use super::{Ev, Simulation, SiteId};

impl Simulation {
    /// Hands the backends' answers to their sites' outlier detection: an
    /// error, a shed request or a refusal from a full queue counts against
    /// a backend, a served request for it. When that ejects a backend, or
    /// an ejection's time is up, the site's balancer gets the weights in
    /// effect.
    #[cold]
    pub(super) fn detect_outliers(&mut self) {
        let now = self.now;
        let mut answers = std::mem::take(&mut self.pool.answers);
        for &(b, ok) in &answers {
            let s = self.pool.backends[b].site;
            let site = &mut self.sites[s];
            let local = site.local(b).0 as usize;
            let Some(od) = site.outliers.as_mut() else {
                continue;
            };
            let released = od.release(now);
            let ejected = od.record(local, ok, now);
            if ejected {
                site.ejections += 1;
                let until = od.ejected_until(local).expect("just ejected");
                self.push(until, Ev::OutlierRelease(s));
            }
            if released || ejected {
                self.publish_ejections(s);
            }
        }
        answers.clear();
        if self.pool.answers.is_empty() {
            self.pool.answers = answers;
        }
    }

    /// An ejection at site `s` is due to end: brings back every backend
    /// whose time is up.
    pub(super) fn release_outliers(&mut self, s: SiteId) {
        let now = self.now;
        let released = self.sites[s]
            .outliers
            .as_mut()
            .is_some_and(|od| od.release(now));
        if released {
            self.publish_ejections(s);
        }
    }

    /// Site `s`'s interval is over: its detection sweeps the interval's
    /// answers, and the next sweep is scheduled.
    pub(super) fn sweep_outliers(&mut self, s: SiteId) {
        let now = self.now;
        let site = &mut self.sites[s];
        let Some(od) = site.outliers.as_mut() else {
            return;
        };
        let released = od.release(now);
        let ejected = od.sweep(now);
        let interval = od.params().interval_ns;
        let untils: Vec<u64> = ejected
            .iter()
            .filter_map(|&i| od.ejected_until(i))
            .collect();
        site.ejections += ejected.len() as u64;
        for until in untils {
            self.push(until, Ev::OutlierRelease(s));
        }
        if released || !ejected.is_empty() {
            self.publish_ejections(s);
        }
        self.push(now + interval, Ev::OutlierSweep(s));
    }

    /// Marks site `s`'s backends ejected or not, as its detection says,
    /// and publishes the weights in effect to its balancer.
    fn publish_ejections(&mut self, s: SiteId) {
        let site = &self.sites[s];
        let od = site
            .outliers
            .as_ref()
            .expect("a site that detects outliers");
        let (first, n) = site.backends_from(0);
        for (i, b) in self.pool.span_mut(first, n).iter_mut().enumerate() {
            b.ejected = od.is_ejected(i);
        }
        self.publish_backends(s);
    }
}
