//! Consistent hashing on a ring with virtual nodes.

use super::hash::mix64;
use super::members::{Counts, Members};
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

/// The sorted ring with its bucket index.
///
/// Each active backend owns `points_per_weight × weight` points on a 64-bit
/// ring (Karger et al., "Consistent hashing and random trees", STOC 1997);
/// a key belongs to the first point at or after its hash, wrapping around.
/// The default of 160 points per unit of weight is ketama's (libmemcached,
/// 2007: 40 MD5 digests × 4 points) and nginx's `hash … consistent`.
///
/// Point *r* of a backend with hash key *k* (its
/// [`hash_key`](super::Backend::hash_key), by default its id) sits at the
/// top 48 bits of `mix64(k << 32 | r)` when *k* fits 32 bits, and of
/// `mix64(mix64(k) ^ r)` otherwise ([`mix64`] is a bijection, so distinct
/// small keys never share a point); two points at the same position are
/// ordered by their backends' ids. A backend's points do not depend on the
/// other members, so removing a backend moves exactly the keys it owned,
/// and adding it back restores the original mapping.
///
/// # Lookup cost
///
/// A plain binary search over 400 000 points (1024 backends) costs about 19
/// dependent cache misses. The ring keeps a bucket index on the top bits of
/// the hash (one or two points per bucket), so a lookup is one index read
/// and four comparisons, added up without a branch, over the points from
/// the bucket's first (padding past the last point keeps the four in
/// bounds and answers for the wrap). The point found holds its owner's
/// rank; the rank's backend id is one more read. A point is one `u64`
/// (position and owner), so the lookup touches one or two cache lines of
/// points. Building is a radix sort on the bucket bits (two cache-friendly
/// passes at most) and an insertion pass: O(points).
///
/// # Rebuild cost
///
/// An update derives the new ring from the previous one instead of building
/// it afresh: only the points that come or go are hashed and sorted, and one
/// merge pass renumbers the owners of the others. When the number of points
/// keeps the index size, the index is the old one with a running offset.
/// The result equals a fresh build point for point (a property test checks
/// it). At 1024 backends (409 600 points), removing one backend or adding
/// it back costs about 1 ms here against about 10 ms for a fresh build.
///
/// # Very large weights
///
/// At most 2^22 (`MAX_POINTS`) points are placed. When `points_per_weight × ΣW`
/// is larger, every backend gets `max(1, ⌊requested · MAX_POINTS / total⌋)`
/// points; shares stay proportional within rounding, but a membership change
/// may then move a few keys between surviving backends too.
///
/// [`mix64`]: super::mix64
#[derive(Debug)]
pub struct RingTable {
    /// Sorted points: the top 48 bits of a point's hash, then in the low
    /// 16 bits its owner's rank by id (which breaks ties by id).
    points: Box<[u64]>,
    /// Member index of each rank.
    ranked: Box<[u32]>,
    /// Backend id of each rank (what a pick returns, one load away from
    /// its point).
    ids: Box<[BackendId]>,
    /// `index[b]` is the first point whose top bits are ≥ `b`; one extra
    /// entry at the end equals the number of points.
    index: Box<[u32]>,
    shift: u32,
    /// Whether the point counts were scaled to fit [`MAX_POINTS`].
    scaled: bool,
}

/// Bits of the bucket index for `n` points: about one point per bucket.
fn bucket_bits(n: u64) -> u32 {
    (63 - n.max(2).leading_zeros()).clamp(1, 20)
}

/// Consistent hashing on a ring with virtual nodes.
pub type Ring = Pool<RingTable>;

impl Pool<RingTable> {
    /// Builds a ring with 160 points per unit of weight.
    pub fn new(backends: &[Backend]) -> Result<Self, BalancerError> {
        Self::with_params(backends, RingParams::default(), 0)
    }
}

/// Points a lookup compares at once: see [`RingTable::position`].
const SCAN: usize = 4;

/// Ends sorted `points` with [`SCAN`] points above every key (see
/// [`RingTable::position`]); the first of them is owned by the first
/// point's owner, so that a key past the last point finds its owner there
/// without a branch for the wrap.
fn pad(points: &mut Vec<u64>) {
    let wrap = points.first().map_or(0, |&p| p & OWNER_MASK);
    points.push(!OWNER_MASK | wrap);
    points.extend([u64::MAX; SCAN - 1]);
}

/// The backend id of each rank.
fn ids(ranked: &[u32], members: &Members) -> Box<[BackendId]> {
    ranked.iter().map(|&m| members.id(m as usize)).collect()
}

const OWNER_BITS: u32 = 16;
const OWNER_MASK: u64 = (1 << OWNER_BITS) - 1;

/// Radix passes sort by at most this many bits each (2048 output streams,
/// few enough to stay in cache); two passes sort by the top 22 bits.
const RADIX_BITS: u32 = 11;

/// What a ring holds before its points are placed: the active members
/// ranked by id, and each one's number of points.
struct Plan {
    ranked: Vec<u32>,
    counts: Vec<u64>,
    /// Whether the counts were scaled down to fit [`MAX_POINTS`].
    scaled: bool,
}

impl Plan {
    fn new(members: &Members, points_per_weight: u32) -> Self {
        let mut ranked: Vec<u32> = members.active().to_vec();
        ranked.sort_unstable_by_key(|&i| members.id(i as usize));
        let requested: Vec<u64> = ranked
            .iter()
            .map(|&i| u64::from(points_per_weight) * u64::from(members.weight(i as usize)))
            .collect();
        let total: u128 = requested.iter().map(|&r| u128::from(r)).sum();
        if total <= u128::from(MAX_POINTS) {
            return Self {
                ranked,
                counts: requested,
                scaled: false,
            };
        }
        let counts = requested
            .iter()
            .map(|&r| ((u128::from(r) * u128::from(MAX_POINTS) / total) as u64).max(1))
            .collect();
        Self {
            ranked,
            counts,
            scaled: true,
        }
    }
}

/// Point `r` of a backend with this hash key, owned by `rank` (`r` stays
/// below [`MAX_POINTS`], 2^22).
#[inline]
fn point(key: u64, r: u64, rank: usize) -> u64 {
    let base = if key >> 32 == 0 {
        key << 32
    } else {
        mix64(key)
    };
    mix64(base ^ r) & !OWNER_MASK | rank as u64
}

/// Rank marker of a member that an update removed or drained.
const GONE: u32 = u32::MAX;

impl RingTable {
    pub(crate) fn build_with(members: &Members, points_per_weight: u32) -> Self {
        Self::place(members, Plan::new(members, points_per_weight))
    }

    fn place(members: &Members, plan: Plan) -> Self {
        let Plan {
            ranked,
            counts,
            scaled,
        } = plan;
        let n_points: u64 = counts.iter().sum();
        let bits = bucket_bits(n_points);

        let mut points = Vec::with_capacity(n_points as usize + SCAN);
        for (rank, (&m, &c)) in ranked.iter().zip(&counts).enumerate() {
            let key = members.hash_key(m as usize);
            points.extend((0..c).map(|r| point(key, r, rank)));
        }
        // LSD radix sort on the top `2·RADIX_BITS` bits, in passes that each
        // read sequentially and write to at most 2048 streams. Points are
        // then sorted by bucket and all but a few thousand pairs sorted
        // overall; an insertion pass, whose branch is almost never taken,
        // finishes them.
        let mut scratch = Vec::with_capacity(points.len() + SCAN);
        scratch.resize(points.len(), 0);
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
        Self::finish(points, ranked, members, scaled)
    }

    /// Builds the bucket index over sorted `points`.
    fn finish(mut points: Vec<u64>, ranked: Vec<u32>, members: &Members, scaled: bool) -> Self {
        let bits = bucket_bits(points.len() as u64);
        let shift = 64 - bits;
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
        pad(&mut points);
        Self {
            points: points.into(),
            ids: ids(&ranked, members),
            ranked: ranked.into(),
            index: index.into(),
            shift,
            scaled,
        }
    }

    /// The ring for `members`, derived from `old`, the ring of
    /// `old_members` built with the same `points_per_weight`.
    ///
    /// Equal to [`build_with`](Self::build_with) point for point, at the
    /// cost of one merge pass: a surviving backend keeps its points (only
    /// their owner ranks are renumbered), a removed or drained one loses
    /// all of them, and a weight change adds or removes the points past the
    /// smaller count. Only the points that come or go are hashed and
    /// sorted. Falls back to a full build when counts are scaled (see
    /// [Very large weights](self#very-large-weights)) or when more than a
    /// quarter of the points change.
    pub(crate) fn rebuild_with(
        members: &Members,
        points_per_weight: u32,
        old_members: &Members,
        old: &Self,
    ) -> Self {
        let plan = Plan::new(members, points_per_weight);
        let new_total: u64 = plan.counts.iter().sum();
        if plan.scaled || old.scaled {
            return Self::place(members, plan);
        }
        // Walk both rankings (each sorted by id) together: renumber the
        // survivors, and list the points that come and go. A member whose
        // hash key changed is a new backend under an old id: all its old
        // points go, all its new ones come.
        let mut remap = vec![GONE; old.ranked.len()];
        let mut added = Vec::new();
        let mut dropped = Vec::new();
        let mut budget = new_total.max(old.len() as u64) / 4;
        let mut o = 0;
        for (rank, (&m, &count)) in plan.ranked.iter().zip(&plan.counts).enumerate() {
            let id = members.id(m as usize);
            let key = members.hash_key(m as usize);
            while o < old.ranked.len() && old_members.id(old.ranked[o] as usize) < id {
                o += 1;
            }
            let before = match old.ranked.get(o) {
                Some(&om) if old_members.id(om as usize) == id => {
                    o += 1;
                    if old_members.hash_key(om as usize) == key {
                        remap[o - 1] = rank as u32;
                        u64::from(points_per_weight) * u64::from(old_members.weight(om as usize))
                    } else {
                        0
                    }
                }
                _ => 0,
            };
            let (list, range) = if count >= before {
                (&mut added, before..count)
            } else {
                (&mut dropped, count..before)
            };
            let n = range.end - range.start;
            if n > budget {
                return Self::place(members, plan);
            }
            budget -= n;
            list.extend(range.map(|r| point(key, r, rank)));
        }
        added.sort_unstable();
        dropped.sort_unstable();
        // One pass over the old points. The points that come and go are
        // few: a point below both next ones takes the fast path, one
        // comparison. The output is written into spare capacity, so that
        // its length stays in a register.
        let mut points: Vec<u64> = Vec::with_capacity(new_total as usize + SCAN);
        let out = &mut points.spare_capacity_mut()[..new_total as usize];
        let (mut a, mut d, mut k) = (0, 0, 0);
        // Buckets of the points of removed and drained members, in order.
        let mut gone = Vec::new();
        let next = |a: usize, d: usize| {
            let x = added.get(a).copied().unwrap_or(u64::MAX);
            x.min(dropped.get(d).copied().unwrap_or(u64::MAX))
        };
        let mut event = next(a, d);
        for &p in old.real() {
            let rank = remap[(p & OWNER_MASK) as usize];
            if rank == GONE {
                gone.push(p >> old.shift);
                continue;
            }
            let q = p & !OWNER_MASK | u64::from(rank);
            if q < event {
                out[k].write(q);
                k += 1;
                continue;
            }
            while let Some(&x) = added.get(a).filter(|&&x| x < q) {
                out[k].write(x);
                k += 1;
                a += 1;
            }
            if dropped.get(d) == Some(&q) {
                d += 1;
            } else {
                out[k].write(q);
                k += 1;
            }
            event = next(a, d);
        }
        for &x in &added[a..] {
            out[k].write(x);
            k += 1;
        }
        debug_assert_eq!((k, d), (new_total as usize, dropped.len()));
        // SAFETY: the loop above initialised `out[..k]`, the first `k`
        // elements of the spare capacity (indexing `out` is checked, so `k`
        // cannot pass the capacity).
        unsafe { points.set_len(k) };
        if bucket_bits(new_total) != 64 - old.shift {
            return Self::finish(points, plan.ranked, members, false);
        }
        // Same buckets as the old ring: `index[b]` counts the points below
        // bucket `b`, so the new index is the old one shifted by the points
        // that came and went below each bucket. A copy with a running
        // offset that changes at the few buckets where points changed.
        let mut changes: Vec<(u64, i32)> = gone.iter().map(|&b| (b, -1)).collect();
        changes.extend(dropped.iter().map(|&x| (x >> old.shift, -1)));
        changes.extend(added.iter().map(|&x| (x >> old.shift, 1)));
        changes.sort_unstable();
        let mut index = Vec::with_capacity(old.index.len());
        let (mut from, mut offset) = (0usize, 0i32);
        for (bucket, change) in changes {
            // Entries up to `bucket` count only points below it.
            let upto = bucket as usize + 1;
            index.extend(
                old.index[from..upto]
                    .iter()
                    .map(|&x| x.wrapping_add_signed(offset)),
            );
            from = upto;
            offset += change;
        }
        index.extend(
            old.index[from..]
                .iter()
                .map(|&x| x.wrapping_add_signed(offset)),
        );
        debug_assert_eq!(index.last().copied(), Some(new_total as u32));
        pad(&mut points);
        Self {
            points: points.into(),
            ids: ids(&plan.ranked, members),
            ranked: plan.ranked.into(),
            index: index.into(),
            shift: old.shift,
            scaled: false,
        }
    }

    /// The number of points on the ring.
    pub fn len(&self) -> usize {
        self.points.len() - SCAN
    }

    /// Whether the ring has no points (every backend drained).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The points, without the padding.
    fn real(&self) -> &[u64] {
        &self.points[..self.len()]
    }

    /// The position of the first point at or after `hash` (wrapping).
    ///
    /// The answer is `lo` plus the number of points of `hash`'s bucket
    /// below it, `lo` being the bucket's first point. Every point of a
    /// later bucket is above `hash`, and the points end with [`SCAN`]
    /// copies of `u64::MAX`, so counting among the [`SCAN`] points from
    /// `lo` gives that number whenever the bucket holds at most [`SCAN`]
    /// points below `hash`: four comparisons added up, with no branch to
    /// mispredict (a binary search over the bucket's one or two points
    /// took one or two). Only a larger bucket (about one lookup in twenty
    /// at the densest index) goes on to search the rest of it.
    #[inline]
    pub(crate) fn position(&self, hash: u64) -> usize {
        let p = self.after(hash);
        if p == self.len() { 0 } else { p }
    }

    /// The position of the first point at or after `hash`, or the number
    /// of points if there is none (the first padding point, owned by the
    /// owner of point 0).
    #[inline(always)]
    fn after(&self, hash: u64) -> usize {
        let b = (hash >> self.shift) as usize;
        let lo = self.index[b] as usize;
        let key = hash & !OWNER_MASK;
        let near = &self.points[lo..lo + SCAN];
        let mut p = lo + near.iter().map(|&x| usize::from(x < key)).sum::<usize>();
        if p == lo + SCAN {
            // All SCAN points are below `hash`, hence in its bucket.
            let hi = self.index[b + 1] as usize;
            p += self.points[p..hi].partition_point(|&x| x < key);
        }
        p
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

    fn rebuild(members: &Members, params: &RingParams, old_members: &Members, old: &Self) -> Self {
        Self::rebuild_with(members, params.points_per_weight, old_members, old)
    }

    #[inline(always)]
    fn pick<C: Counts>(&self, _: &Members, _: &C, key: u64, _: &mut Cursor) -> Option<BackendId> {
        if self.is_empty() {
            return None;
        }
        let p = self.after(mix64(key));
        Some(self.ids[(self.points[p] & OWNER_MASK) as usize])
    }
}

#[cfg(test)]
mod tests;
