//! Backends: slots, the FIFO queue, jobs in service, service-time draws,
//! failures, and the release of a job's hold on its site and balancers.
//!
//! Owns the [`Pool`]: every [`BackendState`] and every [`Job`] (one per
//! attempt or probe placed at a backend, live until its service ends even
//! if its client gave up). Handles `Complete`.

use std::collections::VecDeque;

use rand_distr::{Distribution, Exp1};

use super::*;
use crate::balancer::BackendId;
use crate::sim::config::{BackendGroup, QueueDiscipline, ServiceTime};
use crate::sim::random::{SplitMix, draw, mix, unit_open};

/// A job's flags: in service (else queued).
pub(super) const IN_SERVICE: u8 = 2;
/// A job's flags: cancelled (its client timed out and cancels).
pub(super) const CANCELLED: u8 = 4;
/// A job's flags: let on by its site's concurrency filter, which hears
/// how it ends.
pub(super) const LIMITED: u8 = 8;

/// One cache line each, like [`Request`]: a job is read cold when its
/// service starts or ends.
#[repr(align(64))]
pub(super) struct Job {
    /// The attempt or the probe it serves.
    pub(super) owner: Owner,
    pub(super) backend: PoolIndex,
    pub(super) flags: u8,
    pub(super) admitted: u64,
    pub(super) started: u64,
    pub(super) service: u64,
    /// Until when it may wait in the queue (`u64::MAX` in a FIFO queue).
    pub(super) expires: u64,
    /// Its attempt's identity for the backend's draws: the request's
    /// counter (`RequestId::draws`) and the attempt's number. The job
    /// carries them so that a backend decides its answer from what it
    /// was sent, without reading the request's state on the clients'
    /// side.
    pub(super) draws: u64,
    pub(super) attempt: u32,
}

const _: () = assert!(std::mem::size_of::<Job>() == 64);

/// A backend: its slots, queue and service.
pub(super) struct BackendState {
    pub(super) site: SiteId,
    pub(super) slots: u32,
    pub(super) busy: u32,
    pub(super) queue: VecDeque<JobId>,
    pub(super) queue_cap: u32,
    /// Cancelled jobs still in `queue`.
    pub(super) cancelled_in_queue: u32,
    pub(super) service: ServiceTime,
    pub(super) speed: f64,
    pub(super) fail_probability: f64,
    /// Weight in effect (ramping during slow start).
    pub(super) weight: u32,
    /// The weight configured or last set.
    pub(super) target: u32,
    /// Since when the backend is in slow start.
    pub(super) slow_since: Option<u64>,
    /// Its identity for the hashing balancers
    /// ([`SiteConfig::backend_hash_keys`](crate::sim::SiteConfig::backend_hash_keys)).
    pub(super) hash_key: u64,
    /// The order its queue is served in, and which jobs it sheds.
    pub(super) discipline: QueueDiscipline,
    /// When its queue last held no live job (controlled delay only).
    pub(super) last_empty: u64,
    /// Taken out of its balancer by outlier detection.
    pub(super) ejected: bool,
    /// Its site detects outliers: its answers go to `answers`.
    pub(super) watched: bool,
    /// Out of its balancer, standing by for its site's autoscaler.
    pub(super) standby: bool,
    /// Its site weighs backends by their load reports: it counts what it
    /// serves for the next one.
    pub(super) reports: bool,
    /// Since its last report: service time finished (ns), answers, errors.
    pub(super) served_ns: u64,
    pub(super) answered: u32,
    pub(super) errors: u32,
    /// Its weight from its reports (0: none yet; the configured one holds).
    pub(super) orca_weight: u32,
}

impl BackendState {
    /// A backend of group `group` at site `site`, idle, known to the
    /// hashing balancers as `hash_key`.
    pub(super) fn new(site: SiteId, group: &BackendGroup, hash_key: u64) -> Self {
        Self {
            site,
            slots: group.slots,
            busy: 0,
            queue: VecDeque::new(),
            queue_cap: group.queue,
            cancelled_in_queue: 0,
            service: group.service,
            speed: group.speed,
            fail_probability: group.fail_probability,
            weight: group.weight,
            target: group.weight,
            slow_since: None,
            hash_key,
            discipline: group.discipline,
            last_empty: 0,
            ejected: false,
            watched: false,
            standby: false,
            reports: false,
            served_ns: 0,
            answered: 0,
            errors: 0,
            orca_weight: 0,
        }
    }
}

/// Every site's backends (site by site, in configuration order) and the
/// jobs they hold, with what they have to say that the event loop hands
/// on.
pub(super) struct Pool {
    pub(super) backends: TiVec<PoolIndex, BackendState>,
    /// Jobs, live and free: a job's index is its identity while it lives.
    pub(super) jobs: Slots<JobId, Job>,
    /// Replies to queued jobs a backend gave up on (controlled delay),
    /// delivered by a `Shed` event at the same instant, once the event
    /// that shed them is done.
    pub(super) shed: Vec<Reply>,
    /// Answers of backends whose sites detect outliers, for the event loop
    /// to hand to them: (backend, whether it was not an error).
    pub(super) answers: Vec<(PoolIndex, bool)>,
    /// Whether any backend reports its load (some site weighs its
    /// backends by their reports).
    pub(super) reporting: bool,
    /// How long a backend that joins ramps its weight up, in ns (the
    /// router's `slow_start`, which sites and backends share; 0: none).
    pub(super) slow_start: u64,
}

impl Pool {
    /// A pool of `backends`, holding no job, whose joining backends ramp
    /// up over `slow_start` ns.
    pub(super) fn new(backends: TiVec<PoolIndex, BackendState>, slow_start: u64) -> Self {
        Self {
            reporting: backends.iter().any(|b| b.reports),
            slow_start,
            backends,
            jobs: Slots::default(),
            shed: Vec::new(),
            answers: Vec::new(),
        }
    }

    /// The `n` backends from place `first` on: a site's backends.
    #[inline]
    pub(super) fn span(&self, first: PoolIndex, n: u32) -> &[BackendState] {
        &self.backends.raw[first.index()..first.index() + n as usize]
    }

    /// The `n` backends from place `first` on, to change.
    #[inline]
    pub(super) fn span_mut(&mut self, first: PoolIndex, n: u32) -> &mut [BackendState] {
        &mut self.backends.raw[first.index()..first.index() + n as usize]
    }

    /// Job `j` is over: its place is free.
    #[inline]
    pub(super) fn free(&mut self, j: JobId) {
        self.jobs.free(j);
    }
}

impl Simulation {
    /// Places a job at a site: picks a backend, then a slot or a queue
    /// place. Returns the job and whether it went straight into service,
    /// or `None` if the backend (or the balancer) refused.
    /// The service demand is drawn from the picked backend's distribution
    /// with the counter (`id`, `attempt`), so it does not depend on which
    /// balancer sent it there.
    pub(super) fn place(
        &mut self,
        s: SiteId,
        key: u64,
        owner: Owner,
        (id, attempt): (RequestId, u64),
    ) -> Option<(JobId, bool)> {
        let now = self.now;
        let local = self.sites[s].picker.pick(key)?;
        let b = self.sites[s].backend(local);
        let backend = &self.pool.backends[b];
        let immediate = backend.busy < backend.slots;
        if !immediate
            && backend.queue.len() as u32 - backend.cancelled_in_queue >= backend.queue_cap
            // Under controlled delay, expired jobs hold no place.
            && !self.make_room(b)
        {
            if self.pool.backends[b].watched {
                self.pool.answers.push((b, false));
            }
            return None;
        }
        let service = self.service_draw(self.pool.backends[b].service, id, attempt);
        let site = &mut self.sites[s];
        let pool = &mut self.pool;
        let backend = &mut pool.backends[b];
        let cold = now < site.cold_until;
        // Most backends run at speed 1 outside a cold start: skip the
        // float round trip (which gives any `service` below 2^53 ns back
        // exactly).
        let service = if backend.speed == 1.0 && !cold {
            service
        } else {
            (service as f64 / backend.speed * if cold { site.cold_factor } else { 1.0 }) as u64
        };
        site.touch(now);
        if site.tracks_load {
            site.picker.start(local);
        }
        if self.router.tracks_load {
            self.router.picker.start(BackendId::from(s));
        }
        let job = Job {
            owner,
            backend: b,
            flags: if immediate { IN_SERVICE } else { 0 },
            admitted: now,
            started: now,
            service,
            expires: u64::MAX,
            draws: id.draws(),
            attempt: attempt as u32,
        };
        // The backend stays borrowed across the job's hold (a second
        // lookup cost 9 instructions a placement, cachegrind).
        let j = pool.jobs.hold(job);
        if immediate {
            backend.busy += 1;
            site.busy += 1;
            self.push(now + service, Ev::Complete(j));
        } else {
            backend.queue.push_back(j);
            site.queued += 1;
            if !backend.discipline.is_fifo() {
                self.codel_enqueued(b, j);
            }
        }
        Some((j, immediate))
    }

    pub(super) fn service_draw(&self, b_service: ServiceTime, id: RequestId, attempt: u64) -> u64 {
        let bits = draw(self.seeds.service, id.draws(), attempt);
        match b_service {
            ServiceTime::Deterministic { value } => value.0,
            ServiceTime::Exponential { mean } => {
                // Ziggurat: one table step for 98.9 % of draws, no `ln`.
                let e: f64 = Exp1.sample(&mut SplitMix(bits));
                (e * mean.0 as f64) as u64
            }
            ServiceTime::LogNormal { mean, sigma } => {
                let u1 = unit_open(bits);
                let u2 = unit_open(mix(bits ^ 0x2545_f491_4f6c_dd1d));
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let mu = (mean.0 as f64).ln() - sigma * sigma / 2.0;
                (mu + sigma * z).exp().min(1e18) as u64
            }
        }
    }

    /// Releases a job's hold on its site and balancer, telling both how
    /// long the backend held it (what latency-aware balancers learn from;
    /// the others count a finish).
    pub(super) fn release(&mut self, j: JobId) {
        let job = &self.pool.jobs[j];
        let b = job.backend;
        let latency = self.now - job.admitted;
        let s = self.pool.backends[b].site;
        let site = &mut self.sites[s];
        site.touch(self.now);
        site.in_flight -= 1;
        if site.tracks_load {
            site.picker
                .finish_observed(site.local(b), latency, self.now);
        }
        if self.router.tracks_load {
            self.router
                .picker
                .finish_observed(BackendId::from(s), latency, self.now);
        }
    }

    pub(super) fn cancel_job(&mut self, j: JobId) {
        let flags = self.pool.jobs[j].flags;
        if flags & CANCELLED != 0 {
            return;
        }
        self.release(j);
        self.recorder.totals.cancelled += 1;
        self.pool.jobs[j].flags |= CANCELLED;
        self.forget_held(self.pool.jobs[j].owner);
        let b = self.pool.jobs[j].backend;
        let s = self.pool.backends[b].site;
        if flags & LIMITED != 0 {
            self.concurrency_cancelled(s);
        }
        if flags & IN_SERVICE != 0 {
            self.pool.backends[b].busy -= 1;
            self.sites[s].busy -= 1;
            self.start_next(b);
        } else {
            let backend = &mut self.pool.backends[b];
            backend.cancelled_in_queue += 1;
            backend.note_if_empty(self.now);
            self.sites[s].queued -= 1;
        }
    }

    /// Starts the next live job of backend `b`'s queue, if a slot is free.
    pub(super) fn start_next(&mut self, b: PoolIndex) {
        if !self.pool.backends[b].discipline.is_fifo() {
            return self.start_next_codel(b);
        }
        loop {
            let backend = &mut self.pool.backends[b];
            if backend.busy >= backend.slots {
                return;
            }
            let Some(j) = backend.queue.pop_front() else {
                return;
            };
            let job = &mut self.pool.jobs[j];
            if job.flags & CANCELLED != 0 {
                backend.cancelled_in_queue -= 1;
                self.pool.free(j);
                continue;
            }
            self.serve_queued(b, j);
        }
    }

    /// Job `j`, just taken out of backend `b`'s queue, goes into service.
    /// Always inlined: a call here cost 13 instructions a queued job
    /// (cachegrind, the sim bench).
    #[inline(always)]
    pub(super) fn serve_queued(&mut self, b: PoolIndex, j: JobId) {
        let now = self.now;
        let job = &mut self.pool.jobs[j];
        job.flags |= IN_SERVICE;
        job.started = now;
        let service = job.service;
        let backend = &mut self.pool.backends[b];
        backend.busy += 1;
        let site = &mut self.sites[backend.site];
        site.touch(now);
        site.queued -= 1;
        site.busy += 1;
        self.push(now + service, Ev::Complete(j));
    }

    /// A job's service ends: the backend lets go of it and says what the
    /// attempt (or probe) came to, if anyone still waits for it. Returns
    /// that reply and the backend, whose next job the event loop starts
    /// once the reply is delivered; `None` for a cancelled job.
    pub(super) fn on_complete(&mut self, j: JobId) -> Option<(Option<Reply>, PoolIndex)> {
        let job = &self.pool.jobs[j];
        if job.flags & CANCELLED != 0 {
            self.pool.free(j);
            return None;
        }
        let (owner, b) = (job.owner, job.backend);
        let (limited, sent) = (job.flags & LIMITED != 0, job.admitted);
        let totals = &mut self.recorder.totals;
        totals.completions += 1;
        totals.server_sojourn_ns += u128::from(self.now - job.admitted);
        totals.server_wait_ns += u128::from(job.started - job.admitted);
        if self.pool.reporting
            && matches!(owner, Owner::Attempt(..))
            && self.pool.backends[b].reports
        {
            let service = self.pool.jobs[j].service;
            let bk = &mut self.pool.backends[b];
            bk.served_ns += service;
            bk.answered += 1;
        }
        self.release(j);
        self.forget_held(owner);
        let s = self.pool.backends[b].site;
        if limited {
            self.concurrency_answered(s, sent);
        }
        self.pool.backends[b].busy -= 1;
        self.sites[s].busy -= 1;
        self.pool.free(j);
        let fail_p = self.pool.backends[b].fail_probability;
        if !self.answers(owner) {
            if let Owner::Attempt(..) = owner {
                self.recorder.current.wasted += 1;
            }
            return Some((None, b));
        }
        let reply = match owner {
            Owner::Probe(site, seq) => {
                let ok = fail_p == 0.0
                    || unit_open(draw(self.seeds.probe, site.index() as u64, u64::from(seq)))
                        > fail_p;
                Reply::Probe(site, seq, ok)
            }
            Owner::Attempt(r, token) => self.attempt_answer(r, token, j, b, fail_p),
        };
        Some((Some(reply), b))
    }

    /// What backend `b` answers request `r`'s attempt `token`, job `j`:
    /// an error with probability `fail_p`, else a success (an error
    /// counts as one when its client hears it).
    #[inline(always)]
    fn attempt_answer(
        &mut self,
        r: RequestSlot,
        token: u32,
        j: JobId,
        b: PoolIndex,
        fail_p: f64,
    ) -> Reply {
        let job = &self.pool.jobs[j];
        let failed = fail_p > 0.0
            && unit_open(draw(self.seeds.failure, job.draws, u64::from(job.attempt))) <= fail_p;
        let backend = &mut self.pool.backends[b];
        let s = backend.site;
        if backend.watched {
            self.pool.answers.push((b, !failed));
        }
        if self.pool.reporting && failed && backend.reports {
            backend.errors += 1;
        }
        if failed {
            Reply::Attempt(r, token, s, Answer::Error)
        } else {
            Reply::Attempt(r, token, s, Answer::Success)
        }
    }
}
