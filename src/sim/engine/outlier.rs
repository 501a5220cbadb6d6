//! A site load balancer's outlier detection: the backends' answers in,
//! ejections out (as weights of 0 published to the site's balancer).
//!
//! The backends do not call up into their sites: they leave each answer
//! in `answers` (only at sites that detect outliers), and the event loop
//! hands them over after the event that produced them.

use super::Simulation;

impl Simulation {
    /// Hands the backends' answers to their sites' outlier detection: an
    /// error, a shed request or a refusal from a full queue counts against
    /// a backend, a served request for it. When that ejects a backend, or
    /// an ejection's time is up, the site's balancer gets the weights in
    /// effect.
    #[cold]
    pub(super) fn detect_outliers(&mut self) {
        let now = self.now;
        let mut answers = std::mem::take(&mut self.answers);
        for &(b, ok) in &answers {
            let s = self.backends[b as usize].site;
            let site = &mut self.sites[s as usize];
            let Some(od) = site.outliers.as_mut() else {
                continue;
            };
            let first = site.first_backend;
            let released = od.release(now);
            let ejected = od.record((b - first) as usize, ok, now);
            if !(released || ejected) {
                continue;
            }
            for i in 0..site.backends {
                self.backends[(first + i) as usize].ejected = od.is_ejected(i as usize);
            }
            site.ejections += u64::from(ejected);
            self.publish_backends(s);
        }
        answers.clear();
        if self.answers.is_empty() {
            self.answers = answers;
        }
    }
}
