//! Hedged requests (a policy's `hedging`, gRPC's hedging policy): a
//! request sends an attempt, another each `delay` while none has
//! answered, the next at once when one fails, up to `max_attempts`; the
//! first success wins and the others are cancelled.
//!
//! Each attempt of a hedged request is a *leg*: a request slot of its own
//! (its own token, job and deadline), so the attempt path —
//! [`send_attempt`](Simulation::send_attempt), timeouts, the sites and
//! backends — runs unchanged, several at once for one request. The
//! request's own slot holds no attempt: it keeps the [`Hedge`], its legs
//! and the delay's timer (`Ev::Hedge`, stale once its token moves on).
//! A leg's outcome comes here instead of to the retry policy. A losing
//! leg's job is cancelled at its backend when timeouts cancel
//! (`cancel_on_timeout`: the servers stop work their client gave up on);
//! otherwise it runs on, and its answer is wasted work.

use super::clients::{Request, WAITING};
use super::{Ev, JobId, NONE, RequestSlot, Simulation};
use crate::retry::{Hedge, HedgeStep, MAX_HEDGED_ATTEMPTS, Outcome, RequestState, SimTime};

/// A request slot's hedging state.
#[derive(Clone, Copy, Debug)]
pub(super) struct HedgeSlot {
    /// For a hedged request: its attempts.
    hedge: Hedge,
    /// For a hedged request: its legs out (`NONE` in free places).
    legs: [RequestSlot; MAX_HEDGED_ATTEMPTS as usize],
    /// For a hedged request: its policy's delay (ns), kept with it so a
    /// `set-retry` mid-request does not change it.
    delay: u64,
    /// For a leg: its request; `NONE` for any other slot.
    pub(super) parent: RequestSlot,
}

impl Default for HedgeSlot {
    fn default() -> Self {
        Self {
            hedge: Hedge::default(),
            legs: [RequestSlot::NONE; MAX_HEDGED_ATTEMPTS as usize],
            delay: 0,
            parent: RequestSlot::NONE,
        }
    }
}

impl Simulation {
    /// Whether slot `r` is a hedged request's leg.
    #[inline]
    pub(super) fn is_leg(&self, r: RequestSlot) -> bool {
        self.clients.hedging && self.clients.hedges[r].parent != RequestSlot::NONE
    }

    /// Starts hedged request `r` (of a group whose policy hedges up to
    /// `max` attempts, `delay` ns apart): its first leg.
    #[cold]
    #[inline(never)]
    pub(super) fn hedge_begin(&mut self, r: RequestSlot, (max, delay): (u32, u64)) {
        self.clients.hedges[r] = HedgeSlot {
            hedge: Hedge::new(max),
            delay,
            ..HedgeSlot::default()
        };
        self.send_leg(r);
    }

    /// Sends request `r`'s next attempt as a new leg, and arms the delay's
    /// timer if another may follow.
    fn send_leg(&mut self, r: RequestSlot) {
        let req = &self.clients.requests[r];
        let g = req.group;
        let n = self.clients.hedges[r].hedge.attempts() + 1;
        let leg = Request {
            group: g,
            job: JobId::NONE,
            client: NONE,
            instance: req.instance,
            id: req.id,
            key: req.key,
            state: RequestState {
                attempts: n,
                ..req.state
            },
            retrying: false,
        };
        let l = self.clients.hold(leg);
        self.clients.hedges[l].parent = r;
        self.clients.legs_live += 1;
        let slot = &mut self.clients.hedges[r];
        let free = slot
            .legs
            .iter()
            .position(|&x| x == RequestSlot::NONE)
            .expect("a place per attempt");
        slot.legs[free] = l;
        slot.hedge.sent();
        let (more, delay) = (slot.hedge.may_send(), slot.delay);
        // A new token: the previous timer is stale.
        let token = self.next_token(r);
        if more {
            self.push(self.now + delay, Ev::Hedge(r, token));
        }
        self.send_attempt(l);
    }

    /// Request `r`'s delay passed with no answer: its next leg.
    pub(super) fn on_hedge(&mut self, r: RequestSlot, token: u32) {
        if self.clients.live[r] != token || !self.clients.hedges[r].hedge.may_send() {
            return;
        }
        self.send_leg(r);
    }

    /// Leg `l`'s attempt ended with `outcome`: the leg is freed, and its
    /// request wins, sends its next leg, waits, or loses.
    #[cold]
    #[inline(never)]
    pub(super) fn leg_outcome(&mut self, l: RequestSlot, outcome: Outcome) {
        let r = self.clients.hedges[l].parent;
        self.free_leg(l);
        let slot = &mut self.clients.hedges[r];
        if let Some(k) = slot.legs.iter().position(|&x| x == l) {
            slot.legs[k] = RequestSlot::NONE;
        }
        let step = slot.hedge.on_outcome(matches!(outcome, Outcome::Success));
        let attempts = slot.hedge.attempts();
        match step {
            HedgeStep::Won => {
                let started = self.clients.requests[r].state.started;
                let latency = SimTime(self.now).since(started);
                self.recorder.success(latency, attempts);
                self.cancel_legs(r);
                self.free_request(r);
            }
            HedgeStep::Send => self.send_leg(r),
            HedgeStep::Wait => {}
            HedgeStep::Lost => {
                self.recorder.failure(attempts);
                self.free_request(r);
            }
        }
    }

    /// Request `r` won: its other legs are abandoned, their jobs
    /// cancelled at their backends if timeouts cancel.
    fn cancel_legs(&mut self, r: RequestSlot) {
        let legs = std::mem::replace(
            &mut self.clients.hedges[r].legs,
            [RequestSlot::NONE; MAX_HEDGED_ATTEMPTS as usize],
        );
        for l in legs.into_iter().filter(|&l| l != RequestSlot::NONE) {
            let live = self.clients.live[l];
            if self.cancel && live & WAITING != 0 {
                self.cancel_attempt(l, live & !WAITING);
            }
            self.free_leg(l);
        }
    }

    /// Frees leg `l`'s slot: its token moves on, so its attempt's answer
    /// or deadline finds no one waiting.
    fn free_leg(&mut self, l: RequestSlot) {
        if self.clients.far_waits {
            // Its client no longer waits on it.
            self.wait_over(l, false);
        }
        self.next_token(l);
        self.clients.hedges[l].parent = RequestSlot::NONE;
        self.clients.legs_live -= 1;
        self.clients.free_requests.push(l);
    }
}
