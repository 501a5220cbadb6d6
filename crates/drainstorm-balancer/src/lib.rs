//! Lock-free load balancers: smooth weighted round-robin, least connections,
//! power of two choices (by count or by Peak-EWMA latency), weighted least
//! request, and three kinds of consistent hashing.
//!
//! Every balancer is a [`Pool`] of one [`Strategy`] over a backend set that
//! any thread may replace at any time ([`Balancer::update`]). Picks never
//! block: the backend set lives in an immutable snapshot published
//! atomically, and a per-thread [`Handle`] caches it so that a pick costs a
//! single `Acquire` load beyond the strategy's own work. The publication
//! protocol and its memory-ordering argument are in [`pool`](self::Pool).
//!
//! | balancer | pick cost | guarantee | source |
//! |---|---|---|---|
//! | [`SmoothWrr`] | O(1): one table read | per cursor, after *t* picks each backend has within 1 of *t·w/W*; exactly *w* per cycle of *W* | nginx smooth WRR |
//! | [`LeastConn`] | O(n) scan | the least in-flight/weight; ties rotate | HAProxy `leastconn` |
//! | [`PowerOfTwo`] | O(1) | the less loaded of two distinct random backends | Mitzenmacher 2001 |
//! | [`PeakEwma`] | O(1) | the lower of two random backends' latency estimate × (in flight + 1); latency from [`Picker::finish_observed`] | Finagle, linkerd, tower |
//! | [`LeastRequest`] | O(k) equal weights, O(n) unequal | the least loaded of *k* random backends; unequal weights shared as w/(a+1)^bias | Envoy `LEAST_REQUEST` |
//! | [`Ring`] | O(log n) (bucketed binary search) | a key moves only when its owner leaves | Karger et al. 1997, ketama |
//! | [`Maglev`] | O(1): one table read | near-perfect balance; little disruption | Eisenbud et al., NSDI 2016 |
//! | [`BoundedLoad`] | O(1) expected | no backend above ⌈(1+ε)·mean⌉ in flight | Mirrokni, Thorup, Zadimoghaddam, SODA 2018 |
//!
//! [`OutlierDetector`] says which backends to eject for answering with
//! errors (Envoy's consecutive-errors outlier detection), to apply as
//! weights of 0.
//!
//! Which backends each of many clients connects to is subsetting:
//! [`deterministic_subset`] (the SRE book's: balanced, reshuffled by any
//! change) and [`random_subset`] (gRPC A68's rendezvous hashing: stable,
//! balanced in expectation). Build each client's balancer over its subset.
//!
//! ```
//! use drainstorm_balancer::{Backend, BackendId, Balancer, SmoothWrr};
//!
//! let lb = SmoothWrr::new(&[
//!     Backend::new(0, 5),
//!     Backend::new(1, 1),
//!     Backend::new(2, 1),
//! ])?;
//! let mut handle = lb.handle(); // one per thread
//! let picks: Vec<u32> = (0..7).map(|_| handle.pick(0).unwrap().0).collect();
//! assert_eq!(picks, [0, 0, 1, 0, 2, 0, 0]); // a a b a c a a
//!
//! // Drain backend 0: once `update` returns, no pick returns it.
//! lb.update(&[Backend::new(0, 0), Backend::new(1, 1), Backend::new(2, 1)])?;
//! assert!((0..100).all(|_| handle.pick(0) != Some(BackendId(0))));
//! # Ok::<(), drainstorm_balancer::BalancerError>(())
//! ```

mod bounded;
mod concurrency;
mod error;
mod hash;
mod kind;
mod least_conn;
mod least_request;
mod local;
mod local_counts;
mod maglev;
mod members;
mod orca;
mod outlier;
mod p2c;
mod peak_ewma;
mod pool;
mod ring;
mod smooth_wrr;
mod subset;
mod sync;
mod total;
mod zone;

pub use self::bounded::{BoundedLoad, BoundedParams, BoundedRing};
pub use self::concurrency::{ConcurrencyParams, GradientController};
pub use self::error::BalancerError;
pub use self::hash::{key_of, mix64};
pub use self::kind::{BalancerKind, KindParams, UnknownBalancer};
pub use self::least_conn::{LeastConn, LeastConnScan};
pub use self::least_request::{LeastRequest, LeastRequestParams, LeastRequestPicks, MAX_CHOICES};
pub use self::local::LocalHandle;
pub use self::maglev::{Maglev, MaglevParams, MaglevTable};
pub use self::orca::{OrcaParams, OrcaWeights};
pub use self::outlier::{
    FailurePercentageParams, OutlierDetector, OutlierParams, SuccessRateParams,
};
pub use self::p2c::{PowerOfTwo, TwoChoices};
pub use self::peak_ewma::{PeakEwma, PeakEwmaParams, PeakEwmaPicks, peak_ewma_update};
pub use self::pool::{Cursor, Handle, Pool, Snapshot, Strategy};
pub use self::ring::{Ring, RingParams, RingTable};
pub use self::smooth_wrr::{SmoothWrr, WrrTable};
pub use self::subset::{deterministic_subset, random_subset};
pub use self::zone::zone_split;

use self::members::OwnedCounter;

/// The largest number of backends one balancer accepts.
pub const MAX_BACKENDS: usize = 1 << 16;

/// Identifies a backend. Ids are the caller's: any `u32`, unique per set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BackendId(pub u32);

/// One member of a backend set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backend {
    /// The backend's id.
    pub id: BackendId,
    /// Relative capacity; 0 means drained (never picked, still a member, so
    /// its in-flight count is kept).
    pub weight: u32,
    /// The site or zone the backend lives in (informational for the
    /// balancers; reports group by it).
    pub zone: u32,
    /// What the hashing balancers (ring, Maglev, bounded load) hash to place
    /// the backend: its identity. Defaults to the id. Set it to a hash of
    /// something that names the backend everywhere — its address or host
    /// name, see [`key_of`] — so that two balancers over different backend
    /// sets (two sites, two proxies numbering their backends from 0) lay
    /// their backends out independently, as Envoy's `hash_key` and nginx's
    /// server address do. Backends with the same id and hash key are the
    /// same backend across updates.
    pub hash_key: u64,
}

impl Backend {
    /// A backend in zone 0 whose hash key is its id.
    pub const fn new(id: u32, weight: u32) -> Self {
        Self {
            id: BackendId(id),
            weight,
            zone: 0,
            hash_key: id as u64,
        }
    }

    /// The same backend with another hash key (see [`hash_key`](Self::hash_key)).
    ///
    /// ```
    /// use drainstorm_balancer::{key_of, Backend, Balancer, Maglev};
    ///
    /// // Two sites number their backends 0..8; hashing their addresses
    /// // gives each site its own layout.
    /// let site = |name: &str| -> Vec<Backend> {
    ///     (0..8)
    ///         .map(|i| Backend::new(i, 1).with_hash_key(key_of(format!("{name}-{i}").as_bytes())))
    ///         .collect()
    /// };
    /// let (east, west) = (Maglev::new(&site("east"))?, Maglev::new(&site("west"))?);
    /// let same = (0..1000u64).filter(|&k| east.pick(k) == west.pick(k)).count();
    /// assert!(same < 250); // about 1/8 by chance, not all of them
    /// # Ok::<(), drainstorm_balancer::BalancerError>(())
    /// ```
    pub const fn with_hash_key(mut self, hash_key: u64) -> Self {
        self.hash_key = hash_key;
        self
    }

    /// The same backend in `zone`.
    pub const fn in_zone(mut self, zone: u32) -> Self {
        self.zone = zone;
        self
    }
}

/// A load balancer shared across threads: what a proxy or a simulator calls.
///
/// All methods take `&self` and are lock-free except [`update`](Self::update),
/// which serialises with other updates (never with picks).
pub trait Balancer: Send + Sync {
    /// The strategy's name (`"smooth-wrr"`, `"maglev"`, …).
    fn name(&self) -> &'static str;

    /// Picks a backend for `key`. Strategies that do not hash ignore the
    /// key. `None` only when every backend is drained. The built-in
    /// balancers keep a view per calling thread (see [`Pool`]), so picks
    /// from many threads share no written state and rotate per thread; a
    /// [`picker`](Self::picker) held by the thread saves the thread-local
    /// lookup.
    fn pick(&self, key: u64) -> Option<BackendId>;

    /// A per-thread picker that caches the current snapshot (see [`Handle`]).
    fn picker(&self) -> Box<dyn Picker>;

    /// A picker that keeps its own in-flight counts (see [`LocalHandle`]),
    /// for a single owner that reports every start and finish through it:
    /// the same picks as [`picker`](Self::picker)'s for the same starts
    /// and finishes, without an atomic read-modify-write on each, but
    /// invisible to the balancer and to other pickers. Defaults to
    /// [`picker`](Self::picker), so a balancer without one stays correct.
    fn local_picker(&self) -> Box<dyn Picker> {
        self.picker()
    }

    /// Records that a request started on `id`. Returns `false` if `id` is not
    /// a member.
    fn start(&self, id: BackendId) -> bool;

    /// Records that a request finished on `id`. Returns `false` if `id` is
    /// not a member or has nothing in flight (the count never goes below 0).
    fn finish(&self, id: BackendId) -> bool;

    /// Records that a request finished on `id` after `latency_ns`
    /// nanoseconds, at `now_ns` on the caller's clock (any monotone
    /// nanosecond count): what latency-aware balancers ([`PeakEwma`])
    /// learn from. The others count it as [`finish`](Self::finish), which
    /// is the default.
    fn finish_observed(&self, id: BackendId, latency_ns: u64, now_ns: u64) -> bool {
        let _ = (latency_ns, now_ns);
        self.finish(id)
    }

    /// Starts a request on `id` and returns a guard that finishes it when
    /// dropped — on the same backend even if an update removed it meanwhile.
    /// `None` if `id` is not a member.
    fn begin(&self, id: BackendId) -> Option<InFlight>;

    /// Requests in flight on `id`, or `None` if it is not a member.
    fn in_flight(&self, id: BackendId) -> Option<u64>;

    /// Replaces the backend set. Members whose id stays keep their in-flight
    /// counts. Once this returns, no pick that starts afterwards returns a
    /// backend it removed or drained. On error nothing changes.
    fn update(&self, backends: &[Backend]) -> Result<(), BalancerError>;

    /// The current backend set, drained members included.
    fn backends(&self) -> Vec<Backend>;
}

/// A per-thread pick path (see [`Handle`]).
pub trait Picker: Send {
    /// Picks a backend for `key`; `None` only when every backend is drained.
    fn pick(&mut self, key: u64) -> Option<BackendId>;
    /// Records a request started on `id`; `false` if not a member.
    fn start(&mut self, id: BackendId) -> bool;
    /// Records a request finished on `id`; `false` if not a member or idle.
    fn finish(&mut self, id: BackendId) -> bool;
    /// Records a request finished on `id` after `latency_ns`, at `now_ns`
    /// on the caller's clock (see [`Balancer::finish_observed`]); defaults
    /// to [`finish`](Self::finish).
    fn finish_observed(&mut self, id: BackendId, latency_ns: u64, now_ns: u64) -> bool {
        let _ = (latency_ns, now_ns);
        self.finish(id)
    }
}

/// A request in flight on one backend; finishes it when dropped.
///
/// ```
/// use drainstorm_balancer::{Backend, Balancer, LeastConn};
///
/// let lb = LeastConn::new(&[Backend::new(7, 1)])?;
/// let id = lb.pick(0).unwrap();
/// {
///     let _guard = lb.begin(id).unwrap();
///     assert_eq!(lb.in_flight(id), Some(1));
/// }
/// assert_eq!(lb.in_flight(id), Some(0));
/// # Ok::<(), drainstorm_balancer::BalancerError>(())
/// ```
#[must_use = "dropping the guard finishes the request at once"]
pub struct InFlight {
    counter: OwnedCounter,
    total: members::Total,
}

impl InFlight {
    fn new(counter: OwnedCounter, total: members::Total) -> Self {
        counter.get().start(total);
        Self { counter, total }
    }
}

impl std::fmt::Debug for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlight").finish_non_exhaustive()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.counter.get().finish(self.total);
    }
}

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
