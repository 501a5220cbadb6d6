//! The load balancers' backlogs' accepts, in order.
//!
//! An attempt a load balancer admits beyond its accept rate waits in its
//! backlog until the rate limiter lets it through: an `Accepted` event
//! at the limiter's theoretical arrival time. That time only grows (but
//! for a reset), so a site's accepts are due in the order they are
//! scheduled, and they wait in the site's `accepts` with only the first
//! in the event queue. At the incident's ten-fold size the backlogs held
//! tens of thousands of accepts up to seconds ahead, beyond the queue's
//! wheel: pushed into the far heap, whose pops took 11 % of a run's
//! cycles (`perf record` on `drainstorm run cheyenne-2026 --scale 10`).
//! Each accept keeps the sequence number it was scheduled with, so events
//! run in the same order as when each went into the queue.

use super::*;
use crate::sim::queue::Entry;

impl Simulation {
    /// Schedules site `s`'s load balancer to accept backlog place `p` at
    /// `time`: into the queue if it is the site's first, else behind the
    /// others (or, earlier than the last after a reset, into the queue on
    /// its own). Its sequence number is taken now.
    pub(super) fn schedule_accept(&mut self, s: SiteId, time: u64, p: BacklogPlace) {
        let ev = Ev::Accepted(p);
        let seq = self.order.own(|| ev.process());
        let lane = &mut self.sites[s].accepts;
        #[cfg(test)]
        if tests::IN_QUEUE.get() {
            return self.push_seq(time, seq, ev);
        }
        match lane.back() {
            None => {
                lane.push_back((time, seq, p));
                self.push_seq(time, seq, ev);
            }
            Some(&(last, ..)) if last <= time => lane.push_back((time, seq, p)),
            // After a reset, earlier than a dropped accept: on its own.
            Some(_) => {
                #[cfg(test)]
                tests::ALONE.set(tests::ALONE.get() + 1);
                self.push_seq(time, seq, ev)
            }
        }
    }

    /// Place `p`'s accept runs: if it was the first of its site's, the
    /// next goes into the event queue, with the time and sequence number
    /// it was scheduled with.
    #[inline]
    pub(super) fn next_accept(&mut self, p: BacklogPlace) {
        let s = self.accepting[p].site;
        let lane = &mut self.sites[s].accepts;
        if lane.front().is_none_or(|&(_, _, first)| first != p) {
            return;
        }
        lane.pop_front();
        if let Some(&(time, seq, next)) = lane.front() {
            #[cfg(test)]
            tests::PROMOTED.set(tests::PROMOTED.get() + 1);
            self.queue.push(Entry {
                time,
                seq,
                ev: Ev::Accepted(next),
            });
            // Its place was filled seconds ago and is read when it runs,
            // from memory at the ten-fold size: fetched now, the whole
            // x10 run took 12 % less time (BENCHMARKS.md).
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
                let place: *const Accepting = &self.accepting[next];
                // SAFETY: a prefetch reads nothing and cannot fault; SSE is
                // in every x86_64 target.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(place.cast()) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::order::tests::{recorded, stormy};
    use super::*;
    use crate::time::SimDuration;
    use std::cell::Cell;

    thread_local! {
        /// Every accept into the queue, as before the backlogs' lanes.
        pub(super) static IN_QUEUE: Cell<bool> = const { Cell::new(false) };
        /// Accepts that went into the queue from behind another.
        pub(super) static PROMOTED: Cell<u64> = const { Cell::new(0) };
        /// Accepts earlier than the last of their site's (after a reset).
        pub(super) static ALONE: Cell<u64> = const { Cell::new(0) };
    }

    fn run(c: &SimConfig, in_queue: bool) -> String {
        IN_QUEUE.set(in_queue);
        let mut sim = Simulation::new(c.clone()).unwrap();
        sim.run();
        IN_QUEUE.set(false);
        recorded(&sim)
    }

    #[test]
    fn a_run_is_the_same_with_every_accept_in_the_queue() {
        let mut resets = 0;
        for hedged in [false, true] {
            for network in [true, false] {
                let mut c = stormy(hedged);
                if !network {
                    for s in &mut c.sites {
                        s.rtt = SimDuration::ZERO;
                    }
                }
                PROMOTED.set(0);
                ALONE.set(0);
                let lanes = run(&c, false);
                let (promoted, alone) = (PROMOTED.get(), ALONE.get());
                assert!(promoted > 1000, "{hedged} {network}: {promoted}");
                resets += alone;
                assert!(lanes == run(&c, true), "{hedged} {network}");
            }
        }
        assert!(resets > 0, "no accept after a reset came before another");
    }
}
