//! Consistent hashing on a ring with virtual nodes.
//!
//! Each active backend owns `points_per_weight × weight` points on a 64-bit
//! ring (Karger et al., "Consistent hashing and random trees", STOC 1997);
//! a key belongs to the first point at or after its hash, wrapping around.
//! The default of 160 points per unit of weight is ketama's (libmemcached,
//! 2007: 40 MD5 digests × 4 points) and nginx's `hash … consistent`.
//!
//! Point *r* of backend *id* sits at the top 48 bits of
//! `mix64(id << 32 | r)` ([`mix64`] is a bijection); two points at the same
//! position are ordered by their backends' ids. A backend's points do not
//! depend on the other members, so removing a backend moves exactly the
//! keys it owned, and adding it back restores the original mapping.
//!
//! # Lookup cost
//!
//! A plain binary search over 400 000 points (1024 backends) costs about 19
//! dependent cache misses. The ring keeps a bucket index on the top bits of
//! the hash (about one point per bucket), so a lookup is one index read and
//! a binary search over a few points. A point is one `u64` (position and
//! owner), so the lookup touches one cache line of points. Building is a
//! radix sort on the bucket bits (two cache-friendly passes at most) and an
//! insertion pass: O(points).
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

/// The largest number of points on one ring: 2^22 (32 MiB of points).
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
    /// Sorted points: the top 48 bits of a point's hash, then in the low
    /// 16 bits its owner's rank by id (which breaks ties by id).
    points: Box<[u64]>,
    /// Member index of each rank.
    ranked: Box<[u32]>,
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

const OWNER_BITS: u32 = 16;
const OWNER_MASK: u64 = (1 << OWNER_BITS) - 1;

/// Radix passes sort by at most this many bits each (2048 output streams,
/// few enough to stay in cache); two passes sort by the top 22 bits.
const RADIX_BITS: u32 = 11;

impl RingTable {
    pub(crate) fn build_with(members: &Members, points_per_weight: u32) -> Self {
        let mut ranked: Vec<u32> = members.active().to_vec();
        ranked.sort_unstable_by_key(|&i| members.id(i as usize));
        let requested: Vec<u64> = ranked
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

        let mut points = Vec::with_capacity(n_points as usize);
        for (rank, (&m, &c)) in ranked.iter().zip(&counts).enumerate() {
            let id = u64::from(members.id(m as usize).0) << 32;
            points.extend((0..c).map(|r| mix64(id | r) & !OWNER_MASK | rank as u64));
        }
        // LSD radix sort on the top `2·RADIX_BITS` bits, in passes that each
        // read sequentially and write to at most 2048 streams. Points are
        // then sorted by bucket and all but a few thousand pairs sorted
        // overall; an insertion pass, whose branch is almost never taken,
        // finishes them.
        let mut scratch = vec![0u64; points.len()];
        let mut low = 64 - (2 * RADIX_BITS).max(bits);
        while low < 64 {
            let width = (64 - low).min(RADIX_BITS);
            let digit = |p: u64| ((p >> low) & ((1 << width) - 1)) as usize;
            let mut starts = vec![0usize; (1 << width) + 1];
            for &p in &points {
                starts[digit(p) + 1] += 1;
            }
            for d in 0..1 << width {
                starts[d + 1] += starts[d];
            }
            for &p in &points {
                let d = digit(p);
                scratch[starts[d]] = p;
                starts[d] += 1;
            }
            std::mem::swap(&mut points, &mut scratch);
            low += width;
        }
        for i in 1..points.len() {
            let p = points[i];
            let mut j = i;
            while j > 0 && points[j - 1] > p {
                points[j] = points[j - 1];
                j -= 1;
            }
            points[j] = p;
        }
        // The index is the prefix sum of the bucket sizes (counted in sorted
        // order, so the counters are written sequentially): no branch per
        // bucket.
        let mut index = vec![0u32; (1 << bits) + 1];
        for &p in &points {
            index[(p >> shift) as usize + 1] += 1;
        }
        for b in 1..index.len() {
            index[b] += index[b - 1];
        }
        Self {
            points: points.into(),
            ranked: ranked.into(),
            index: index.into(),
            shift,
        }
    }

    /// The number of points on the ring.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether the ring has no points (every backend drained).
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The position of the first point at or after `hash` (wrapping).
    #[inline]
    pub(crate) fn position(&self, hash: u64) -> usize {
        let b = (hash >> self.shift) as usize;
        let lo = self.index[b] as usize;
        let hi = self.index[b + 1] as usize;
        let key = hash & !OWNER_MASK;
        let p = lo + self.points[lo..hi].partition_point(|&x| x < key);
        if p == self.points.len() { 0 } else { p }
    }

    /// The member owning point `p`.
    #[inline]
    pub(crate) fn owner(&self, p: usize) -> usize {
        self.ranked[(self.points[p] & OWNER_MASK) as usize] as usize
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
        if self.points.is_empty() {
            return None;
        }
        Some(members.id(self.owner(self.position(mix64(key)))))
    }
}
