//! Maglev hashing.

use std::hint::select_unpredictable;

use super::hash::{mix64, reduce};
use super::members::{Counts, Members};
use super::pool::sealed;
use super::{Backend, BackendId, BalancerError, Cursor, Pool};

/// Parameters of a [`Maglev`] balancer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaglevParams {
    /// Table size `M`: a prime up to 16 777 259 (the first prime above
    /// 2^24). Default 65537.
    pub table_size: u32,
}

impl Default for MaglevParams {
    fn default() -> Self {
        Self { table_size: 65537 }
    }
}

const MAX_TABLE_SIZE: u32 = 16_777_259;

fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2u32;
    while d.saturating_mul(d) <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 1;
    }
    true
}

/// The Maglev lookup table.
///
/// Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
/// Balancer", NSDI 2016, §3.4. Every backend gets a permutation of the
/// table positions, `(offset + j·skip) mod M` with `offset` and `skip` drawn
/// from two hashes of its id; backends take turns claiming the next free
/// position of their permutation until all `M` positions are owned. A pick
/// is one hash, one multiply-shift range reduction and one table read: O(1).
///
/// - `M` must be prime so that every `skip` generates a full permutation.
///   The default, 65537, is the paper's smaller example size; the paper
///   advises `M > 100·n` for balance within about 1 %.
/// - Weights follow Envoy's weighted Maglev: in every round a backend earns
///   `w / w_max` of a turn, so shares are proportional to weight.
/// - Backends take turns in id order, so the table depends only on the
///   member set and weights, not on the order they were listed in: removing
///   a backend and adding it back restores the original table.
/// - Disruption: removing 1 of *n* backends reassigns its `M/n` positions
///   plus others that change hands as the turn order shifts (the paper's
///   Figure 12). Measured with `M = 65537` (keys moved, in units of `1/n`):
///   1.01 at n = 8, 1.33 at n = 64, 2.8 at n = 257, 6.7 at n = 1024. Keep
///   `M ≥ 1000·n` for a removal to move under `2/n` of the keys;
///   `tests/balancer_props.rs` asserts these bounds.
///
/// Building costs about `M·ln M` probes; a bitmap of claimed positions
/// (8 KiB for the default `M`) keeps each probe in L1 cache. Three
/// shortcuts give the paper's table faster (a unit test compares it with
/// the plain walk): a walk resumes past the backend's last claim, tests two
/// positions per branch and wraps around without a branch; and the last
/// 128 free positions are handed out from a list, each to the claimer whose
/// permutation reaches it first, instead of by walks of about `M/F` steps
/// with `F` positions free. Table entries are the backends' ids (256 KiB
/// for the default `M`), so a pick needs no second lookup.
#[derive(Debug)]
pub struct MaglevTable {
    table: Box<[BackendId]>,
}

/// Maglev consistent hashing over a replaceable backend set.
pub type Maglev = Pool<MaglevTable>;

impl Pool<MaglevTable> {
    /// Builds a Maglev balancer with the default table size, 65537.
    pub fn new(backends: &[Backend]) -> Result<Self, BalancerError> {
        Self::with_params(backends, MaglevParams::default(), 0)
    }

    /// Builds a Maglev balancer with table size `table_size` (a prime).
    pub fn with_table_size(backends: &[Backend], table_size: u32) -> Result<Self, BalancerError> {
        Self::with_params(backends, MaglevParams { table_size }, 0)
    }
}

impl MaglevTable {
    /// The backend owning each table position.
    pub fn entries(&self) -> &[BackendId] {
        &self.table
    }
}

impl sealed::Strategy for MaglevTable {
    type Params = MaglevParams;
    const NAME: &'static str = "maglev";

    fn validate(params: &MaglevParams) -> Result<(), BalancerError> {
        if !(params.table_size <= MAX_TABLE_SIZE && is_prime(params.table_size)) {
            return Err(BalancerError::InvalidParameter {
                name: "table_size",
                value: params.table_size.to_string(),
                allowed: "a prime number up to 16777259 (default 65537)",
            });
        }
        Ok(())
    }

    fn build(members: &Members, params: &MaglevParams) -> Self {
        let m = u64::from(params.table_size);
        let mut order: Vec<u32> = members.active().to_vec();
        if order.is_empty() {
            return Self {
                table: Box::new([]),
            };
        }
        order.sort_unstable_by_key(|&i| members.id(i as usize));
        struct Turn {
            id: BackendId,
            weight: u64,
            credit: u64,
            position: u64,
            skip: u64,
        }
        let mut turns: Vec<Turn> = order
            .iter()
            .map(|&i| {
                let id = members.id(i as usize);
                let (position, skip) = permutation(members.hash_key(i as usize), m);
                Turn {
                    id,
                    weight: u64::from(members.weight(i as usize)),
                    credit: 0,
                    position,
                    skip,
                }
            })
            .collect();
        let max_weight = turns.iter().map(|t| t.weight).max().unwrap_or(1);
        let mut table = vec![BackendId(0); m as usize];
        let mut claimed = vec![0u64; (m as usize).div_ceil(64)];
        let mut free: Vec<u32> = Vec::new();
        let walk_until = m.saturating_sub(TAIL);
        let mut filled = 0u64;
        'rounds: loop {
            for turn in &mut turns {
                turn.credit += turn.weight;
                if turn.credit < max_weight {
                    continue;
                }
                turn.credit -= max_weight;
                let c = if filled < walk_until {
                    walk(&claimed, turn.position, turn.skip, m)
                } else {
                    if free.is_empty() {
                        free = free_positions(&claimed, m);
                    }
                    take_first_free(&mut free, turn.position, turn.skip, m)
                };
                claimed[(c >> 6) as usize] |= 1 << (c & 63);
                table[c as usize] = turn.id;
                turn.position = advance(c, turn.skip as i64 - m as i64, m);
                filled += 1;
                if filled == m {
                    break 'rounds;
                }
            }
        }
        Self {
            table: table.into(),
        }
    }

    #[inline]
    fn pick<C: Counts>(&self, _: &Members, _: &C, key: u64, _: &mut Cursor) -> Option<BackendId> {
        if self.table.is_empty() {
            return None;
        }
        Some(self.table[reduce(mix64(key), self.table.len())])
    }
}

/// A backend's permutation of the `m` positions: its (offset, skip), from
/// two hashes of its hash key (the paper hashes the backend's name).
fn permutation(h: u64, m: u64) -> (u64, u64) {
    let offset = mix64(h ^ 0x6d61_676c_6576_3031) % m;
    let skip = mix64(h ^ 0x6d61_676c_6576_3032) % (m - 1) + 1;
    (offset, skip)
}

/// Free positions left when the fill stops walking and hands them out from
/// a list instead (see [`take_first_free`]).
const TAIL: u64 = 128;

/// `c + step mod m`, given `c < m` and `d = step - m` with `0 ≤ step < m`.
/// Branch-free: whether a walk wraps around is a coin flip.
#[inline(always)]
fn advance(c: u64, d: i64, m: u64) -> u64 {
    let t = c as i64 + d;
    select_unpredictable(t < 0, t + m as i64, t) as u64
}

/// Bit `c` of the claimed bitmap, as 0 or 1.
#[inline(always)]
fn bit(claimed: &[u64], c: u64) -> u64 {
    debug_assert!(((c >> 6) as usize) < claimed.len());
    // SAFETY: every position handed to `bit` is reduced mod `m` (by
    // `advance`, or below `m` from the start), and the bitmap has
    // `ceil(m / 64)` words.
    (unsafe { *claimed.get_unchecked((c >> 6) as usize) } >> (c & 63)) & 1
}

/// The first unclaimed position of the walk `c, c + skip, c + 2·skip, …`
/// (mod `m`). Tests two positions per branch: while the table is between
/// a quarter and nine tenths full, whether a position is free is close to
/// a coin flip, and a loop exit per position mispredicts about once a
/// claim. Needs `2·skip mod m ≠ 0`, so `m > 2`: `build` walks only while
/// more than [`TAIL`] positions are free.
#[inline]
fn walk(claimed: &[u64], mut c: u64, skip: u64, m: u64) -> u64 {
    let d1 = skip as i64 - m as i64;
    let d2 = advance(skip, d1, m) as i64 - m as i64;
    loop {
        let c1 = advance(c, d1, m);
        let (b0, b1) = (bit(claimed, c), bit(claimed, c1));
        if b0 & b1 == 0 {
            return select_unpredictable(b0 == 0, c, c1);
        }
        c = advance(c, d2, m);
    }
}

/// The unclaimed positions, in increasing order.
fn free_positions(claimed: &[u64], m: u64) -> Vec<u32> {
    let mut free = Vec::with_capacity(TAIL as usize);
    for (w, &word) in claimed.iter().enumerate() {
        let mut x = !word;
        while x != 0 {
            let p = (w as u64) * 64 + u64::from(x.trailing_zeros());
            if p < m {
                free.push(p as u32);
            }
            x &= x - 1;
        }
    }
    free
}

/// Removes and returns the free position that the walk from `c` with step
/// `skip` would reach first: the one whose index in the walk,
/// `j = (p − c)·skip⁻¹ mod m`, is smallest. With `F` positions free a walk
/// takes about `m/F` steps; this takes `F` multiplications, which is
/// cheaper for the last [`TAIL`] positions (the last 128 of 65 537 would
/// otherwise cost about a quarter of the whole fill).
fn take_first_free(free: &mut Vec<u32>, c: u64, skip: u64, m: u64) -> u64 {
    let inv = inverse(skip, m);
    // Both factors are below m < 2^25, so the product fits; `magic` turns
    // the reduction into a multiplication whose quotient is at most one
    // short.
    let magic = u64::MAX / m;
    let mut best = u64::MAX;
    for (i, &p) in free.iter().enumerate() {
        let a = (u64::from(p) + m - c) * inv;
        let q = ((u128::from(a) * u128::from(magic)) >> 64) as u64;
        let r = a - q * m;
        let j = r - if r >= m { m } else { 0 };
        best = best.min(j << 32 | i as u64);
    }
    u64::from(free.swap_remove((best & 0xffff_ffff) as usize))
}

/// The inverse of `a` modulo the prime `m`, for `0 < a < m` (extended
/// Euclid).
fn inverse(a: u64, m: u64) -> u64 {
    let (mut r0, mut r1) = (m as i64, a as i64);
    let (mut t0, mut t1) = (0i64, 1i64);
    while r1 != 0 {
        let q = r0 / r1;
        (r0, r1) = (r1, r0 - q * r1);
        (t0, t1) = (t1, t0 - q * t1);
    }
    (if t0 < 0 { t0 + m as i64 } else { t0 }) as u64
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::sealed::Strategy as _;
    use super::*;
    use crate::members::{Slab, distinct_backends};

    #[test]
    fn primes() {
        assert!(is_prime(65537));
        assert!(is_prime(16_777_259));
        assert!(!is_prime(65536));
        assert!(!is_prime(1));
        assert!(is_prime(2));
    }

    fn members(list: &[(u32, u32)]) -> Members {
        let backends = distinct_backends(list);
        let total = None;
        Members::build(&backends, None, &mut Slab::default(), &total).unwrap()
    }

    /// The fill as the paper states it: in turn, each backend walks its
    /// permutation one position at a time from its last claim and takes
    /// the first free position.
    fn plain_fill(members: &Members, m: u32) -> Vec<BackendId> {
        let m = u64::from(m);
        let mut order: Vec<u32> = members.active().to_vec();
        if order.is_empty() {
            return Vec::new();
        }
        order.sort_unstable_by_key(|&i| members.id(i as usize));
        // (id, weight, credit, next index j, offset, skip)
        let mut turns: Vec<(BackendId, u64, u64, u64, u64, u64)> = order
            .iter()
            .map(|&i| {
                let id = members.id(i as usize);
                let (offset, skip) = permutation(members.hash_key(i as usize), m);
                (
                    id,
                    u64::from(members.weight(i as usize)),
                    0,
                    0,
                    offset,
                    skip,
                )
            })
            .collect();
        let max_weight = turns.iter().map(|t| t.1).max().unwrap();
        let mut table: Vec<Option<BackendId>> = vec![None; m as usize];
        let mut filled = 0;
        loop {
            for (id, weight, credit, j, offset, skip) in &mut turns {
                *credit += *weight;
                if *credit < max_weight {
                    continue;
                }
                *credit -= max_weight;
                let mut c = (*offset + *j * *skip) % m;
                while table[c as usize].is_some() {
                    *j += 1;
                    c = (*offset + *j * *skip) % m;
                }
                *j += 1;
                table[c as usize] = Some(*id);
                filled += 1;
                if filled == m {
                    return table.into_iter().map(Option::unwrap).collect();
                }
            }
        }
    }

    proptest! {
        /// The fill's shortcuts (walks that start past the last claim, two
        /// positions per test, the free list for the last positions) give
        /// the table of the plain walk, for small tables where the free
        /// list does most of the work and larger ones where walking does.
        #[test]
        fn fill_equals_plain_walk(
            list in prop::collection::vec((0u32..5000, 0u32..=5), 1..40),
            m in prop_oneof![Just(2u32), Just(3), Just(7), Just(131), Just(1021), Just(8191)],
        ) {
            let members = members(&list);
            let table = MaglevTable::build(&members, &MaglevParams { table_size: m });
            prop_assert_eq!(table.entries(), &plain_fill(&members, m)[..]);
        }
    }

    /// The same at the benchmark's size: 1024 backends with weights 1..4
    /// and the default table, where the walks claim all but the last
    /// [`TAIL`] positions.
    #[test]
    fn fill_equals_plain_walk_at_full_size() {
        let list: Vec<(u32, u32)> = (0..1024).map(|i| (i, i % 4 + 1)).collect();
        let members = members(&list);
        let table = MaglevTable::build(&members, &MaglevParams::default());
        assert_eq!(table.entries(), &plain_fill(&members, 65537)[..]);
    }

    #[test]
    fn inverses() {
        for m in [2u64, 3, 7, 65537, 16_777_259] {
            for a in [1, 2, m / 2, m - 1].into_iter().filter(|&a| a > 0 && a < m) {
                assert_eq!(a * inverse(a, m) % m, 1, "{a} mod {m}");
            }
        }
    }
}
