//! A site's adaptive concurrency filter (Envoy's gradient controller,
//! [`AdaptiveConcurrency`](crate::sim::AdaptiveConcurrency)): attempts in,
//! a forward or a refusal out; the answers' latencies in, the limit out.
//!
//! The filter sits where the site forwards an attempt to a backend
//! ([`Simulation::forward`]). A job it let on carries the `LIMITED` flag,
//! and each such job ends in the filter exactly once: answered (served,
//! failed or shed — a sample) or cancelled by its client (no sample). The
//! controller's timers are one event per site, `Ev::Concurrency`, kept at
//! or before its next deadline; an event that finds nothing due only
//! schedules the next.

use super::backends::LIMITED;
use super::{Ev, JobId, Owner, RequestSlot, Simulation, SiteId};
use crate::balancer::GradientController;

/// A site's controller and its pending event.
pub(super) struct SiteLimit {
    pub(super) controller: GradientController,
    /// When the site's `Concurrency` event fires (`u64::MAX`: none pending).
    event_at: u64,
}

impl SiteLimit {
    pub(super) fn new(controller: GradientController) -> Self {
        Self {
            controller,
            event_at: u64::MAX,
        }
    }
}

/// What became of an attempt the site tried to forward.
pub(super) enum Forward {
    /// Placed at a backend as job `.0`, in service at once if `.1`.
    Placed(JobId, bool),
    /// Over the site's concurrency limit: refused before any backend.
    Limited,
    /// Refused by the balancer or a full backend queue.
    Refused,
}

impl Simulation {
    /// Forwards an attempt (never a probe) at site `s` through its
    /// concurrency filter, if it has one, to a backend. Always inlined:
    /// as a call it cost 3 % of the simulator benchmark's instructions.
    #[inline(always)]
    pub(super) fn forward(
        &mut self,
        s: SiteId,
        key: u64,
        (r, token): (RequestSlot, u32),
        draws: (super::RequestId, u64),
    ) -> Forward {
        let limited = self.sites[s].limit.is_some();
        if limited && !self.concurrency_admits(s) {
            return Forward::Limited;
        }
        match self.place(s, key, Owner::Attempt(r, token), draws) {
            Some((j, immediate)) => {
                if limited {
                    self.pool.jobs[j].flags |= LIMITED;
                }
                Forward::Placed(j, immediate)
            }
            None => {
                if limited {
                    // Envoy's router answers at once: a sample of 0.
                    self.concurrency_answered(s, self.now);
                }
                Forward::Refused
            }
        }
    }

    /// Counts an attempt site `s` did not forward: a load-balancer
    /// rejection if its filter refused it, else a queue's.
    pub(super) fn count_refusal(&mut self, s: SiteId, refused: &Forward) {
        if matches!(refused, Forward::Limited) {
            self.recorder.current.lb_rejects += 1;
        } else {
            self.recorder.current.queue_rejects += 1;
        }
        self.sites[s].rejected += 1;
    }

    #[cold]
    #[inline(never)]
    fn concurrency_admits(&mut self, s: SiteId) -> bool {
        let limit = self.sites[s].limit.as_mut().expect("limited");
        limit.controller.try_forward()
    }

    /// An attempt site `s` forwarded at `sent_at` was answered now.
    #[cold]
    #[inline(never)]
    pub(super) fn concurrency_answered(&mut self, s: SiteId, sent_at: u64) {
        let now = self.now;
        if let Some(limit) = self.sites[s].limit.as_mut() {
            limit.controller.record(sent_at, now);
            self.schedule_concurrency(s);
        }
    }

    /// An attempt site `s` forwarded was cancelled by its client.
    #[cold]
    #[inline(never)]
    pub(super) fn concurrency_cancelled(&mut self, s: SiteId) {
        if let Some(limit) = self.sites[s].limit.as_mut() {
            limit.controller.cancel();
        }
    }

    /// Makes sure site `s`'s event fires by its controller's next deadline.
    pub(super) fn schedule_concurrency(&mut self, s: SiteId) {
        let Some(limit) = self.sites[s].limit.as_mut() else {
            return;
        };
        if let Some(due) = limit.controller.next_deadline()
            && due < limit.event_at
        {
            limit.event_at = due;
            self.push(due, Ev::Concurrency(s));
        }
    }

    /// Site `s`'s concurrency event: runs the timers due, if this is the
    /// pending event, and schedules the next.
    pub(super) fn on_concurrency(&mut self, s: SiteId) {
        let now = self.now;
        let Some(limit) = self.sites[s].limit.as_mut() else {
            return;
        };
        if limit.event_at != now {
            // Superseded by an earlier event, which rescheduled.
            return;
        }
        limit.event_at = u64::MAX;
        limit.controller.advance(now);
        self.schedule_concurrency(s);
    }
}
