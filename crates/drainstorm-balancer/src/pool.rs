//! Snapshot publication shared by every balancer: [`Pool`] and [`Handle`].

#[cfg(not(loom))]
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use super::members::{Counts, Members, Slab, Total};
use super::total::TotalRef;
use super::{Backend, BackendId, Balancer, BalancerError, InFlight, Picker};
use crate::sync::{AtomicU64, Ordering, SnapshotCell, UpdateLock, fence};

pub(crate) mod sealed {
    use super::{BackendId, BalancerError, Counts, Cursor, Members};

    /// What a balancing strategy provides to a [`Pool`](super::Pool).
    pub trait Strategy: Sized + Send + Sync + 'static {
        /// Construction parameters (table size, ε, points per weight, …).
        type Params: Clone + Send + Sync + std::fmt::Debug + 'static;
        /// The name used in reports and profiles.
        const NAME: &'static str;
        /// Whether picks read the balancer-wide in-flight total
        /// ([`Members::total_in_flight`]), which then every start and
        /// finish keeps up to date.
        const KEEPS_TOTAL: bool = false;
        /// Checks parameters once, at construction.
        fn validate(params: &Self::Params) -> Result<(), BalancerError>;
        /// Precomputes whatever the strategy needs from one member list.
        fn build(members: &Members, params: &Self::Params) -> Self;
        /// The same as [`build`](Self::build), given the strategy built
        /// for the previous member list (which a strategy may reuse).
        fn rebuild(
            members: &Members,
            params: &Self::Params,
            old_members: &Members,
            old: &Self,
        ) -> Self {
            let _ = (old_members, old);
            Self::build(members, params)
        }
        /// Returns the backend to use, or `None` if no member is active.
        fn pick<C: Counts>(
            &self,
            members: &Members,
            counts: &C,
            key: u64,
            cursor: &mut Cursor,
        ) -> Option<BackendId>;
        /// Whether the strategy learns from latencies ([`observe`](Self::observe)).
        const OBSERVES: bool = false;
        /// Learns that member `index` answered after `latency_ns`, at
        /// `now_ns` on the caller's clock (latency-aware strategies).
        fn observe(&self, members: &Members, index: usize, latency_ns: u64, now_ns: u64) {
            let _ = (members, index, latency_ns, now_ns);
        }
    }
}

/// A balancing strategy usable in a [`Pool`] (sealed: implemented by the
/// strategies of this module).
pub trait Strategy: sealed::Strategy {}
impl<S: sealed::Strategy> Strategy for S {}

/// Per-caller pick state: a position that restarts at 0 with every new
/// snapshot, and a random stream that does not.
#[derive(Clone, Debug)]
pub struct Cursor {
    /// Strategy-defined position (a table index, a scan offset). May be out
    /// of range when it comes from the shared ticket under loom; strategies
    /// reduce it.
    pub(crate) index: usize,
    /// SplitMix64 state for randomised strategies.
    pub(crate) rng: u64,
}

/// One published state of a pool.
pub struct Snapshot<S> {
    pub(super) members: Members,
    pub(super) strategy: S,
    /// Under loom, the cursor of [`Pool::pick`] callers, restarted with
    /// each snapshot (loom runs its threads on one OS thread, so the
    /// per-thread views of normal builds would be one view).
    #[cfg(loom)]
    ticket: CachePadded<AtomicU64>,
}

/// A thread's view of a pool for the shared path ([`Pool::pick`] and the
/// [`Balancer`] methods): what a [`Handle`] keeps, without a reference to
/// the pool, which owns the views.
struct View<S> {
    snapshot: Arc<Snapshot<S>>,
    generation: u64,
    cursor: Cursor,
}

struct Shared<S: Strategy> {
    cell: SnapshotCell<Snapshot<S>>,
    generation: CachePadded<AtomicU64>,
    /// Serialises updates and owns the counter slab's allocation state.
    slab: UpdateLock<Slab>,
    params: S::Params,
    total: Total,
    seed: u64,
    handles_made: AtomicU64,
    /// Each calling thread's view, made at its first call.
    #[cfg(not(loom))]
    /// (Padded: `ThreadLocal` stores neighbouring threads' entries side
    /// by side, and a pick writes its cursor.)
    views: thread_local::ThreadLocal<CachePadded<RefCell<View<S>>>>,
}

impl<S: Strategy> Shared<S> {
    /// A new view, numbered as the next handle.
    fn view(&self) -> View<S> {
        let k = self.handles_made.fetch_add(1, Ordering::Relaxed);
        let generation = self.generation.load(Ordering::Acquire);
        View {
            snapshot: self.cell.load_full(),
            generation,
            cursor: Cursor {
                index: 0,
                rng: super::hash::mix64(self.seed ^ super::hash::mix64(k + 1)),
            },
        }
    }

    /// Calls `f` with the current snapshot and this thread's cursor: the
    /// thread's view, brought up to date as a [`Handle`] is (a `Relaxed`
    /// load of the generation; on a change, an `Acquire` fence and a
    /// reload), so a call writes nothing another thread reads.
    ///
    /// The fast path is the lookup, the borrow and the load: making the
    /// view and refreshing it are out of line, so that a pick through the
    /// shared path saves no more registers than the strategy needs.
    #[cfg(not(loom))]
    #[inline]
    fn with_view<R>(&self, f: impl FnOnce(&Snapshot<S>, &mut Cursor) -> R) -> R {
        let cell = match self.views.get() {
            Some(cell) => cell,
            None => self.first_view(),
        };
        let mut view = cell.borrow_mut();
        let generation = self.generation.load(Ordering::Relaxed);
        if generation != view.generation {
            self.refresh(&mut view, generation);
        }
        let View {
            snapshot, cursor, ..
        } = &mut *view;
        f(snapshot, cursor)
    }

    /// This thread's first call: its view, made.
    #[cfg(not(loom))]
    #[cold]
    #[inline(never)]
    fn first_view(&self) -> &CachePadded<RefCell<View<S>>> {
        self.views
            .get_or(|| CachePadded::new(RefCell::new(self.view())))
    }

    /// The pool changed since this thread's last call: its view, reloaded.
    #[cfg(not(loom))]
    #[cold]
    #[inline(never)]
    fn refresh(&self, view: &mut View<S>, generation: u64) {
        view.snapshot = Handle::reload(self);
        view.generation = generation;
        view.cursor.index = 0;
    }

    /// Calls `f` with the current snapshot (through this thread's view).
    #[inline]
    fn with_snapshot<R>(&self, f: impl FnOnce(&Snapshot<S>) -> R) -> R {
        #[cfg(not(loom))]
        {
            self.with_view(|snap, _| f(snap))
        }
        #[cfg(loom)]
        {
            self.cell.with(f)
        }
    }

    /// Under loom: the current snapshot, and a cursor from its ticket.
    #[cfg(loom)]
    fn with_view<R>(&self, f: impl FnOnce(&Snapshot<S>, &mut Cursor) -> R) -> R {
        self.cell.with(|snap| {
            let ticket = snap.ticket.fetch_add(1, Ordering::Relaxed);
            let mut cursor = Cursor {
                index: ticket as usize,
                rng: self.seed ^ super::hash::mix64(ticket),
            };
            f(snap, &mut cursor)
        })
    }
}

impl<S: Strategy> Drop for Shared<S> {
    /// Gives the total back (the slab gives back its chunks).
    fn drop(&mut self) {
        if let Some(total) = self.total {
            total.release();
        }
    }
}

/// A lock-free balancer: a strategy `S` over a backend set that can be
/// replaced at any time; [`Handle`] is the fast per-thread path.
///
/// # Design
///
/// A pool publishes an immutable [`Snapshot`] (members, weights and the
/// strategy's precomputed table) through an [`arc_swap::ArcSwap`] and bumps a
/// *generation* counter after each publication. Two ways to pick:
///
/// - [`Pool::pick`] (the [`Balancer`] trait) goes through the calling
///   thread's *view* of the pool: a cached snapshot, its generation and a
///   cursor, kept per pool in thread-local storage (the `thread_local`
///   crate) and brought up to date exactly as a handle is. A pick writes
///   nothing another thread reads, so the shared path scales with threads
///   as handles do (`cargo bench --bench pick -- shared-threads`,
///   BENCHMARKS.md); it costs a handle's pick plus the thread-local lookup.
///   Rotation (smooth round-robin, least-connections ties, p2c's random
///   stream) is per thread. A view keeps the snapshot it last saw until
///   its thread calls again, and the views go with the pool.
/// - A [`Handle`], one per thread, caches the snapshot and its generation and
///   keeps its cursor locally; a pick costs one `Acquire` load of the
///   generation plus the strategy's own work (the handle reloads only when
///   the generation moved). This is how Envoy gives each worker its own load
///   balancer and how HdrHistogram gives each thread its own recorder.
///
/// # Memory ordering
///
/// An update stores the new snapshot, then increments the generation with
/// `Release`. A handle loads the generation `Relaxed`; if it differs from
/// the cached one, it issues an `Acquire` fence and loads the snapshot. The
/// fence after a load that read the `Release` increment synchronises with
/// it, so the snapshot load sees the store that preceded the increment.
/// The fast path (generation unchanged) needs no ordering at all: it reuses
/// a snapshot this handle already acquired. Keeping it `Relaxed` lets the
/// compiler hold the handle's cursor in a register across picks, which
/// measured 4.1 → 1.6 ns per round-robin pick here. Hence:
///
/// 1. *No half-built state*: snapshots are immutable once published and are
///    reached only through the `ArcSwap`, whose load returns a whole `Arc`.
/// 2. *No stale pick after an update returns*: if a pick happens after
///    `update` returned (in the happens-before sense: the caller learnt of the
///    return through any synchronising operation), the generation load
///    happens after the increment, so by write-read coherence — which binds
///    `Relaxed` loads too — it reads the new generation (or a later one),
///    and the snapshot loaded after the fence is the new one or newer. The loom model `pick_after_update`
///    and the stress test in `tests/concurrency.rs` check this.
/// 3. *Never blocking*: picks take no lock. Updates serialise on a mutex of
///    their own so that two concurrent updates cannot both copy the same old
///    in-flight slots and lose one another's new ones.
///
/// Cloning a pool is cheap and yields another reference to the same state.
pub struct Pool<S: Strategy> {
    shared: Arc<Shared<S>>,
}

impl<S: Strategy> Clone for Pool<S> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: Strategy> fmt::Debug for Pool<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("strategy", &S::NAME)
            .field("params", &self.shared.params)
            .field("backends", &self.backends().len())
            .finish()
    }
}

impl<S: Strategy> Pool<S> {
    /// Builds a pool over `backends` with explicit parameters and a seed for
    /// the strategies that randomise (others ignore it).
    pub fn with_params(
        backends: &[Backend],
        params: S::Params,
        seed: u64,
    ) -> Result<Self, BalancerError> {
        S::validate(&params)?;
        let total = S::KEEPS_TOTAL.then(TotalRef::take);
        let mut slab = Slab::default();
        let members = Members::build(backends, None, &mut slab, &total)?;
        let snapshot = Snapshot {
            strategy: S::build(&members, &params),
            members,
            #[cfg(loom)]
            ticket: CachePadded::new(AtomicU64::new(0)),
        };
        Ok(Self {
            shared: Arc::new(Shared {
                cell: SnapshotCell::new(Arc::new(snapshot)),
                generation: CachePadded::new(AtomicU64::new(0)),
                slab: UpdateLock::new(slab),
                params,
                total,
                seed,
                handles_made: AtomicU64::new(0),
                #[cfg(not(loom))]
                views: thread_local::ThreadLocal::new(),
            }),
        })
    }

    /// The parameters this pool was built with.
    pub fn params(&self) -> &S::Params {
        &self.shared.params
    }

    /// A per-thread handle: the fast pick path. Handles are numbered in the
    /// order they are made; handle *k* draws its random stream from
    /// `(seed, k)`, so a program that makes its handles in a fixed order is
    /// reproducible.
    pub fn handle(&self) -> Handle<S> {
        let View {
            snapshot,
            generation,
            cursor,
        } = self.shared.view();
        Handle {
            snapshot,
            shared: Arc::clone(&self.shared),
            generation,
            cursor,
        }
    }

    /// Picks through this thread's view of the pool (see
    /// [`Balancer::pick`]).
    #[inline]
    pub fn pick(&self, key: u64) -> Option<BackendId> {
        self.shared.with_view(|snap, cursor| {
            snap.strategy
                .pick(&snap.members, &snap.members, key, cursor)
        })
    }

    /// Replaces the backend set (see [`Balancer::update`]).
    pub fn update(&self, backends: &[Backend]) -> Result<(), BalancerError> {
        let mut slab = self.shared.slab.lock();
        let old = self.shared.cell.load_full();
        let members = Members::build(backends, Some(&old.members), &mut slab, &self.shared.total)?;
        let snapshot = Snapshot {
            strategy: S::rebuild(&members, &self.shared.params, &old.members, &old.strategy),
            members,
            #[cfg(loom)]
            ticket: CachePadded::new(AtomicU64::new(0)),
        };
        let new = Arc::new(snapshot);
        self.shared.cell.store(Arc::clone(&new));
        self.shared.generation.fetch_add(1, Ordering::Release);
        for slot in old.members.removed_in(&new.members) {
            slab.retire(slot, self.shared.total);
        }
        Ok(())
    }

    /// Calls `f` with the current members and the index of `id` among them.
    fn with_member<R>(&self, id: BackendId, f: impl FnOnce(&Members, usize) -> R) -> Option<R> {
        self.shared.with_snapshot(|snap| {
            let members = &snap.members;
            members.index_of(id).map(|i| f(members, i))
        })
    }

    /// The current backend set, drained members included.
    pub fn backends(&self) -> Vec<Backend> {
        self.shared
            .cell
            .with(|snap| snap.members.backends().to_vec())
    }

    /// The sum of in-flight counts over current members.
    pub fn total_in_flight(&self) -> u64 {
        self.shared.cell.with(|snap| snap.members.total_in_flight())
    }
}

impl<S: Strategy> Balancer for Pool<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }

    #[inline]
    fn pick(&self, key: u64) -> Option<BackendId> {
        Pool::pick(self, key)
    }

    fn picker(&self) -> Box<dyn Picker> {
        Box::new(self.handle())
    }

    fn local_picker(&self) -> Box<dyn Picker> {
        Box::new(self.local_handle())
    }

    fn start(&self, id: BackendId) -> bool {
        self.with_member(id, |m, i| m.counter(i).start(m.total()))
            .unwrap_or(false)
    }

    fn finish(&self, id: BackendId) -> bool {
        self.with_member(id, |m, i| m.counter(i).finish(m.total()))
            .unwrap_or(false)
    }

    fn finish_observed(&self, id: BackendId, latency_ns: u64, now_ns: u64) -> bool {
        self.shared
            .with_snapshot(|snap| {
                let members = &snap.members;
                members.index_of(id).map(|i| {
                    if S::OBSERVES {
                        snap.strategy.observe(members, i, latency_ns, now_ns);
                    }
                    members.counter(i).finish(members.total())
                })
            })
            .unwrap_or(false)
    }

    fn begin(&self, id: BackendId) -> Option<InFlight> {
        self.with_member(id, |m, i| InFlight::new(m.owned_counter(i), m.total()))
    }

    fn in_flight(&self, id: BackendId) -> Option<u64> {
        self.with_member(id, |m, i| m.counter(i).load())
    }

    fn update(&self, backends: &[Backend]) -> Result<(), BalancerError> {
        Pool::update(self, backends)
    }

    fn backends(&self) -> Vec<Backend> {
        Pool::backends(self)
    }
}

/// A per-thread view of a [`Pool`]: caches the current snapshot and keeps
/// its own cursor, so a pick touches no shared cache line but the
/// generation counter (read-only between updates).
///
/// Guarantees: every pick sees a whole snapshot, and a pick that starts
/// after an update returned sees that update or a later one. Rotation
/// properties (the smooth round-robin bounds, least-connections tie
/// rotation) hold *per handle*; `h` handles together stay within `h`
/// picks of the ideal per-backend count.
pub struct Handle<S: Strategy> {
    shared: Arc<Shared<S>>,
    pub(super) snapshot: Arc<Snapshot<S>>,
    pub(super) generation: u64,
    pub(super) cursor: Cursor,
}

impl<S: Strategy> fmt::Debug for Handle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("strategy", &S::NAME)
            .field("generation", &self.generation)
            .finish()
    }
}

impl<S: Strategy> Handle<S> {
    #[inline]
    pub(super) fn current(&mut self) -> &Snapshot<S> {
        // Relaxed on the fast path; the Acquire fence in `reload` orders the
        // snapshot load after it (see the module docs).
        let generation = self.shared.generation.load(Ordering::Relaxed);
        if generation != self.generation {
            // The slow path takes no pointer to `self`, so the compiler may
            // keep the cursor in a register across a loop of picks.
            self.snapshot = Self::reload(&self.shared);
            self.generation = generation;
            self.cursor.index = 0;
        }
        &self.snapshot
    }

    #[cold]
    #[inline(never)]
    fn reload(shared: &Shared<S>) -> Arc<Snapshot<S>> {
        fence(Ordering::Acquire);
        shared.cell.load_full()
    }

    /// Picks a backend for `key` (ignored by strategies that do not hash).
    /// `None` only when every backend is drained.
    #[inline]
    pub fn pick(&mut self, key: u64) -> Option<BackendId> {
        self.current();
        let snap = &*self.snapshot;
        snap.strategy
            .pick(&snap.members, &snap.members, key, &mut self.cursor)
    }

    /// Records a request started on `id`; `false` if `id` is not a member.
    #[inline]
    pub fn start(&mut self, id: BackendId) -> bool {
        let members = &self.current().members;
        members
            .index_of(id)
            .is_some_and(|i| members.counter(i).start(members.total()))
    }

    /// Records a request finished on `id`; `false` if `id` is not a member
    /// or has nothing in flight.
    #[inline]
    pub fn finish(&mut self, id: BackendId) -> bool {
        let members = &self.current().members;
        members
            .index_of(id)
            .is_some_and(|i| members.counter(i).finish(members.total()))
    }

    /// Records a request finished on `id` that took `latency_ns`, at
    /// `now_ns` on the caller's clock: latency-aware strategies learn from
    /// it, the others count it as [`finish`](Self::finish) does. `false`
    /// if `id` is not a member or has nothing in flight.
    #[inline]
    pub fn finish_observed(&mut self, id: BackendId, latency_ns: u64, now_ns: u64) -> bool {
        let snap = self.current();
        let members = &snap.members;
        members.index_of(id).is_some_and(|i| {
            if S::OBSERVES {
                snap.strategy.observe(members, i, latency_ns, now_ns);
            }
            members.counter(i).finish(members.total())
        })
    }

    /// The pool this handle reads.
    pub fn pool(&self) -> Pool<S> {
        Pool {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: Strategy> Picker for Handle<S> {
    #[inline]
    fn pick(&mut self, key: u64) -> Option<BackendId> {
        Handle::pick(self, key)
    }

    fn start(&mut self, id: BackendId) -> bool {
        Handle::start(self, id)
    }

    fn finish(&mut self, id: BackendId) -> bool {
        Handle::finish(self, id)
    }

    fn finish_observed(&mut self, id: BackendId, latency_ns: u64, now_ns: u64) -> bool {
        Handle::finish_observed(self, id, latency_ns, now_ns)
    }
}
