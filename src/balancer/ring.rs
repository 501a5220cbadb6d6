//! Consistent hashing on a ring with virtual nodes.
//!
//! Each active backend owns `points_per_weight × weight` points on a 64-bit
//! ring (Karger et al., "Consistent hashing and random trees", STOC 1997);
//! a key belongs to the first point at or after its hash, wrapping around.
//! The default of 160 points per unit of weight is ketama's (libmemcached,
//! 2007: 40 MD5 digests × 4 points) and nginx's `hash … consistent`.
//!
//! Point *r* of backend *id* sits at `mix64(id << 32 | r)`. [`mix64`] is a
//! bijection, so no two points ever collide, and a backend's points do not
//! depend on the other members: removing a backend moves exactly the keys
//! it owned, and adding it back restores the original mapping.
//!
//! # Lookup cost
//!
//! A plain binary search over 400 000 points (1024 backends) costs about 19
//! dependent cache misses. The ring keeps a bucket index on the top bits of
//! the hash (about one point per bucket), so a lookup is one index read and
//! a binary search over a few points. Building sorts by the same buckets
//! (a counting sort, then a small sort per bucket): O(points).
//!
//! # Very large weights
//!
//! At most [`MAX_POINTS`] points are placed. When `points_per_weight × ΣW`
//! is larger, every backend gets `max(1, ⌊requested · MAX_POINTS / total⌋)`
//! points; shares stay proportional within rounding, but a membership change
//! may then move a few keys between surviving backends too.
//!
//! [`mix64`]: super::mix64

use super::hash::mix64;
use super::members::Members;
use super::pool::sealed;
use super::{Backend, BackendId, BalancerError, Cursor, Pool};

/// The largest number of points on one ring: 2^22 (48 MiB of points).
pub const MAX_POINTS: u64 = 1 << 22;

/// Parameters of a [`Ring`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingParams {
    /// Points per unit of weight (1..=65536). Default 160, as ketama.
    pub points_per_weight: u32,
}

impl Default for RingParams {
    fn default() -> Self {
        Self {
            points_per_weight: 160,
        }
    }
}

impl RingParams {
    pub(crate) fn check(&self) -> Result<(), BalancerError> {
        if !(1..=65536).contains(&self.points_per_weight) {
            return Err(BalancerError::InvalidParameter {
                name: "points_per_weight",
                value: self.points_per_weight.to_string(),
                allowed: "1 to 65536",
            });
        }
        Ok(())
    }
}

/// The sorted ring with its bucket index (see the [module docs](self)).
#[derive(Debug)]
pub struct RingTable {
    hashes: Box<[u64]>,
    owners: Box<[u32]>,
    /// `index[b]` is the first point whose top bits are ≥ `b`; one extra
    /// entry at the end equals the number of points.
    index: Box<[u32]>,
    shift: u32,
}

/// Consistent hashing on a ring with virtual nodes.
pub type Ring = Pool<RingTable>;

impl Pool<RingTable> {
    /// Builds a ring with 160 points per unit of weight.
    pub fn new(backends: &[Backend]) -> Result<Self, BalancerError> {
        Self::with_params(backends, RingParams::default(), 0)
    }
}

impl RingTable {
    pub(crate) fn build_with(members: &Members, points_per_weight: u32) -> Self {
        let active = members.active();
        let requested: Vec<u64> = active
            .iter()
            .map(|&i| u64::from(points_per_weight) * u64::from(members.weight(i as usize)))
            .collect();
        let total: u128 = requested.iter().map(|&r| u128::from(r)).sum();
        let counts: Vec<u64> = if total <= u128::from(MAX_POINTS) {
            requested
        } else {
            requested
                .iter()
                .map(|&r| ((u128::from(r) * u128::from(MAX_POINTS) / total) as u64).max(1))
                .collect()
        };
        let n_points: u64 = counts.iter().sum();
        let bits = (63 - n_points.max(2).leading_zeros()).clamp(1, 20);
        let shift = 64 - bits;
        let buckets = 1usize << bits;

        // Counting sort by bucket, then a small sort inside each bucket.
        let point = |member: u32, r: u64| mix64(u64::from(members.id(member as usize).0) << 32 | r);
        let mut index = vec![0u32; buckets + 1];
        for (&m, &c) in active.iter().zip(&counts) {
            for r in 0..c {
                index[(point(m, r) >> shift) as usize + 1] += 1;
            }
        }
        for b in 0..buckets {
            index[b + 1] += index[b];
        }
        let mut fill: Vec<u32> = index[..buckets].to_vec();
        let mut entries = vec![(0u64, 0u32); n_points as usize];
        for (&m, &c) in active.iter().zip(&counts) {
            for r in 0..c {
                let h = point(m, r);
                let b = (h >> shift) as usize;
                entries[fill[b] as usize] = (h, m);
                fill[b] += 1;
            }
        }
        for b in 0..buckets {
            entries[index[b] as usize..index[b + 1] as usize].sort_unstable();
        }
        Self {
            hashes: entries.iter().map(|e| e.0).collect(),
            owners: entries.iter().map(|e| e.1).collect(),
            index: index.into(),
            shift,
        }
    }

    /// The number of points on the ring.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether the ring has no points (every backend drained).
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The position of the first point at or after `hash` (wrapping).
    #[inline]
    pub(crate) fn position(&self, hash: u64) -> usize {
        let b = (hash >> self.shift) as usize;
        let lo = self.index[b] as usize;
        let hi = self.index[b + 1] as usize;
        let p = lo + self.hashes[lo..hi].partition_point(|&x| x < hash);
        if p == self.hashes.len() { 0 } else { p }
    }

    /// The member owning point `p`.
    #[inline]
    pub(crate) fn owner(&self, p: usize) -> usize {
        self.owners[p] as usize
    }
}

impl sealed::Strategy for RingTable {
    type Params = RingParams;
    const NAME: &'static str = "ring";

    fn validate(params: &RingParams) -> Result<(), BalancerError> {
        params.check()
    }

    fn build(members: &Members, params: &RingParams) -> Self {
        Self::build_with(members, params.points_per_weight)
    }

    #[inline]
    fn pick(&self, members: &Members, key: u64, _: &mut Cursor) -> Option<BackendId> {
        if self.hashes.is_empty() {
            return None;
        }
        Some(members.id(self.owner(self.position(mix64(key)))))
    }
}
