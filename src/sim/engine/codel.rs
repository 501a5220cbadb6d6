//! Controlled delay and adaptive LIFO at a backend's queue
//! ([`QueueDiscipline::Codel`]): each queued job gets a deadline when it
//! joins — the `interval`, or only the `target` while the queue stands —
//! and a job past it is shed (answered with an error without service);
//! while the queue stands, the newest job is served first.
//!
//! A job is shed when the backend next looks at its queue: when a slot
//! frees, or when a new job finds the queue full. Its client learns of
//! it then, which is at most one service time after its deadline on a
//! busy backend. FIFO backends never come here (`start_next` and `place`
//! test the discipline first, `place` only once a queue is full or
//! joined), so their runs are what they were. The replies of shed jobs
//! are delivered by an event of their own at the same instant
//! (`Ev::Shed`), so the event loop checks nothing for them on other
//! events.

use super::backends::{CANCELLED, LIMITED};
use super::*;
use crate::sim::config::QueueDiscipline;

impl BackendState {
    /// Queued jobs its clients have not cancelled.
    #[inline]
    fn live_queued(&self) -> u32 {
        self.queue.len() as u32 - self.cancelled_in_queue
    }

    /// Records that the queue holds no live job now, if so.
    #[inline]
    pub(super) fn note_if_empty(&mut self, now: u64) {
        if self.live_queued() == 0 {
            self.last_empty = now;
        }
    }

    /// The deadline of a job that just joined the queue at `now`:
    /// `interval` from now, or `target` if the queue has not been empty
    /// in the last `interval` (a standing queue).
    fn queue_deadline(&mut self, now: u64) -> u64 {
        match self.discipline {
            QueueDiscipline::Codel {
                target, interval, ..
            } => {
                if self.live_queued() == 1 {
                    // It was empty until this job came.
                    self.last_empty = now;
                }
                let standing = now - self.last_empty > interval.0;
                now.saturating_add(if standing { target.0 } else { interval.0 })
            }
            _ => u64::MAX,
        }
    }

    /// Whether the queue is standing: not empty at any time in the last
    /// `interval`, and LIFO is on.
    fn serves_newest(&self, now: u64) -> bool {
        match self.discipline {
            QueueDiscipline::Codel {
                interval,
                adaptive_lifo,
                ..
            } => adaptive_lifo && now - self.last_empty > interval.0,
            _ => false,
        }
    }
}

impl Simulation {
    /// Job `j` just joined backend `b`'s queue: its deadline.
    #[cold]
    #[inline(never)]
    pub(super) fn codel_enqueued(&mut self, b: PoolIndex, j: JobId) {
        let now = self.now;
        self.pool.jobs[j].expires = self.pool.backends[b].queue_deadline(now);
    }

    /// Whether backend `b`'s full queue has room once its expired jobs
    /// are shed (never for a FIFO queue).
    #[cold]
    #[inline(never)]
    pub(super) fn make_room(&mut self, b: PoolIndex) -> bool {
        if self.pool.backends[b].discipline.is_fifo() {
            return false;
        }
        self.shed_expired(b);
        let backend = &self.pool.backends[b];
        backend.live_queued() < backend.queue_cap
    }

    /// Drops the cancelled and expired jobs at the head of backend `b`'s
    /// queue (its oldest), shedding the expired ones.
    #[cold]
    #[inline(never)]
    pub(super) fn shed_expired(&mut self, b: PoolIndex) {
        let now = self.now;
        while let Some(&j) = self.pool.backends[b].queue.front() {
            let job = &self.pool.jobs[j];
            if job.flags & CANCELLED != 0 {
                let backend = &mut self.pool.backends[b];
                backend.queue.pop_front();
                backend.cancelled_in_queue -= 1;
                self.pool.free(j);
            } else if now > job.expires {
                self.pool.backends[b].queue.pop_front();
                self.shed_job(j);
            } else {
                break;
            }
        }
        self.pool.backends[b].note_if_empty(now);
    }

    /// `start_next` for a backend under controlled delay: sheds what
    /// expired, then fills its free slots from the queue's head, or from
    /// its tail while the queue stands and LIFO is on.
    #[cold]
    #[inline(never)]
    pub(super) fn start_next_codel(&mut self, b: PoolIndex) {
        let now = self.now;
        self.shed_expired(b);
        loop {
            let backend = &mut self.pool.backends[b];
            if backend.busy >= backend.slots {
                return;
            }
            let next = if backend.serves_newest(now) {
                backend.queue.pop_back()
            } else {
                backend.queue.pop_front()
            };
            let Some(j) = next else {
                return;
            };
            let job = &mut self.pool.jobs[j];
            if job.flags & CANCELLED != 0 {
                backend.cancelled_in_queue -= 1;
                self.pool.free(j);
                continue;
            }
            if now > job.expires {
                self.shed_job(j);
                self.pool.backends[b].note_if_empty(now);
                continue;
            }
            self.serve_queued(b, j);
            self.pool.backends[b].note_if_empty(now);
        }
    }

    /// Job `j`, just taken out of its queue, is answered with an error
    /// without service: its holds are released, and the attempt's client
    /// (or the probe's router), if it still waits, hears of it once the
    /// current event is done.
    #[cold]
    #[inline(never)]
    fn shed_job(&mut self, j: JobId) {
        let job = &self.pool.jobs[j];
        let (owner, b) = (job.owner, job.backend);
        let probe = matches!(owner, Owner::Probe(..));
        if job.flags & LIMITED != 0 {
            // Shed with an error: an answer, for the site's filter.
            let (s, sent) = (self.pool.backends[b].site, job.admitted);
            self.concurrency_answered(s, sent);
        }
        self.release(j);
        self.forget_held(owner);
        let s = self.pool.backends[b].site;
        self.sites[s].queued -= 1;
        self.pool.free(j);
        if !probe && self.pool.backends[b].watched {
            self.pool.answers.push((b, false));
        }
        if !self.answers(owner) {
            return;
        }
        if self.pool.shed.is_empty() {
            self.push(self.now, Ev::Shed);
        }
        self.pool.shed.push(Reply::to(owner, s, Answer::Shed));
    }
}
