//! The single-owner pick path: [`LocalHandle`], a handle that keeps its own
//! in-flight counts in plain integers.

use std::fmt;

use super::local_counts::LocalCounts;
use super::{BackendId, Handle, Picker, Pool, Strategy};

/// A [`Handle`] whose in-flight counts are its own: plain integers instead
/// of the pool's shared atomic words, for one owner that reports every
/// start and finish through it — a simulator's single-threaded event loop,
/// or a proxy worker that owns a backend set outright.
///
/// It runs the same strategy code as a [`Handle`] (each strategy is
/// generic over where counts live and monomorphised for both), follows the
/// pool's updates the same way, and numbers its random stream as the
/// handle it wraps; so given the same starts and finishes it makes the
/// same picks as a handle over a pool that nobody else touches (the
/// property test `local_and_shared_counts_pick_alike` holds them to it).
/// What it saves is the atomic read-modify-write on every start and
/// finish. Its counts are invisible to the pool and to other handles:
/// [`Balancer::in_flight`](super::Balancer::in_flight) does not see them.
///
/// ```
/// use drainstorm_balancer::{Backend, LeastConn};
///
/// let lb = LeastConn::new(&[Backend::new(0, 1), Backend::new(1, 1)])?;
/// let mut local = lb.local_handle();
/// let a = local.pick(0).unwrap();
/// local.start(a);
/// // The other backend is now the least loaded.
/// assert_ne!(local.pick(0), Some(a));
/// # Ok::<(), drainstorm_balancer::BalancerError>(())
/// ```
pub struct LocalHandle<S: Strategy> {
    handle: Handle<S>,
    counts: LocalCounts,
    /// The snapshot generation `counts` is laid out for.
    laid_out: Option<u64>,
}

impl<S: Strategy> fmt::Debug for LocalHandle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalHandle")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl<S: Strategy> Pool<S> {
    /// A handle with its own in-flight counts (see [`LocalHandle`]). It
    /// takes the next handle number, as [`handle`](Pool::handle) does.
    pub fn local_handle(&self) -> LocalHandle<S> {
        LocalHandle {
            handle: self.handle(),
            counts: LocalCounts::default(),
            laid_out: None,
        }
    }
}

impl<S: Strategy> LocalHandle<S> {
    /// Follows the pool to its current snapshot, laying the counts out
    /// again when it changed.
    #[inline]
    fn sync(&mut self) {
        self.handle.current();
        if self.laid_out != Some(self.handle.generation) {
            self.lay_out();
        }
    }

    #[cold]
    #[inline(never)]
    fn lay_out(&mut self) {
        let members = &self.handle.snapshot.members;
        self.counts.lay_out(members);
        self.laid_out = Some(self.handle.generation);
    }

    /// Picks a backend for `key` (ignored by strategies that do not hash).
    /// `None` only when every backend is drained.
    #[inline]
    pub fn pick(&mut self, key: u64) -> Option<BackendId> {
        self.sync();
        let snap = &*self.handle.snapshot;
        snap.strategy
            .pick(&snap.members, &self.counts, key, &mut self.handle.cursor)
    }

    /// Records a request started on `id`; `false` if `id` is not a member
    /// or its count is at 2^32 − 1.
    #[inline]
    pub fn start(&mut self, id: BackendId) -> bool {
        self.sync();
        let members = &self.handle.snapshot.members;
        match members.index_of(id) {
            Some(i) => self.counts.start(members, i),
            None => false,
        }
    }

    /// Records a request finished on `id`; `false` if `id` is not a member
    /// or has nothing in flight.
    #[inline]
    pub fn finish(&mut self, id: BackendId) -> bool {
        self.sync();
        let members = &self.handle.snapshot.members;
        match members.index_of(id) {
            Some(i) => self.counts.finish(members, i),
            None => false,
        }
    }

    /// Records a request finished on `id` that took `latency_ns`, at
    /// `now_ns` on the caller's clock (see [`Handle::finish_observed`]):
    /// the count is this handle's, the latency state the pool's.
    #[inline]
    pub fn finish_observed(&mut self, id: BackendId, latency_ns: u64, now_ns: u64) -> bool {
        self.sync();
        let snap = &*self.handle.snapshot;
        let members = &snap.members;
        match members.index_of(id) {
            Some(i) => {
                if S::OBSERVES {
                    snap.strategy.observe(members, i, latency_ns, now_ns);
                }
                self.counts.finish(members, i)
            }
            None => false,
        }
    }

    /// Requests in flight on `id` by this handle's count, or `None` if it
    /// is not a member.
    pub fn in_flight(&mut self, id: BackendId) -> Option<u64> {
        self.sync();
        let members = &self.handle.snapshot.members;
        let i = members.index_of(id)?;
        Some(super::members::Counts::load(&self.counts, members, i))
    }
}

impl<S: Strategy> Picker for LocalHandle<S> {
    #[inline]
    fn pick(&mut self, key: u64) -> Option<BackendId> {
        LocalHandle::pick(self, key)
    }

    fn start(&mut self, id: BackendId) -> bool {
        LocalHandle::start(self, id)
    }

    fn finish(&mut self, id: BackendId) -> bool {
        LocalHandle::finish(self, id)
    }

    fn finish_observed(&mut self, id: BackendId, latency_ns: u64, now_ns: u64) -> bool {
        LocalHandle::finish_observed(self, id, latency_ns, now_ns)
    }
}
