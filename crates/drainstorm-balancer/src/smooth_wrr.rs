//! Smooth weighted round-robin, precomputed into a table.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::members::{Counts, Members};
use super::pool::sealed;
use super::{Backend, BackendId, BalancerError, Cursor, Pool};

/// The largest schedule table: 2^20 entries (4 MiB of `u32`).
pub const MAX_TABLE: u64 = 1 << 20;

/// Above this `W·n`, the table is built by Pfair EDF instead of nginx's O(W·n) rule.
const NGINX_BUILD_BUDGET: u64 = 1 << 18;

/// The smooth weighted round-robin strategy.
///
/// nginx's smooth WRR (`ngx_http_upstream_get_peer`, 2012) interleaves
/// backends instead of sending bursts: weights 5, 1, 1 give `a a b a c a a`,
/// not `a a a a a b c`. Each step adds every weight to a running score,
/// picks the highest score (lowest index on ties) and subtracts the weight
/// sum `W` from it. Run per pick, that is O(n); here the whole cycle of `W`
/// picks is computed once per update into a table, and a pick is one table
/// read plus a cursor increment: O(1).
///
/// # Guarantees (checked by `tests/balancer_props.rs`)
///
/// From the start of a snapshot, after any *t* picks through one cursor each
/// active backend has been picked within 1 of *t·w/W* times, and over every
/// full cycle of *W* picks exactly *w* times.
///
/// # Large weight sums
///
/// Weights are first divided by their greatest common divisor. A table has
/// at most 2^20 (`MAX_TABLE`) entries:
///
/// - If the reduced sum `W` fits, the table is exact. It is built by nginx's
///   rule while `W·n ≤ 2^18` (a build bound of about 0.2 ms, so that an
///   update at 1 024 backends costs less than the ring's) — unless that
///   schedule leaves some backend a full pick behind at some prefix, which
///   nginx's rule does for a few weight sets (e.g. 34, 9, 34, 19, 1, 39);
///   the build checks and uses Pfair then. Beyond `2^18`, and in that case, by
///   an earliest-deadline-first *Pfair* schedule (Baruah, Cohen, Plaxton,
///   Varvel, "Proportionate progress", 1996): the *k*-th pick of backend *i*
///   becomes eligible at step *(k−1)·W/wᵢ* and is due at *k·W/wᵢ*; EDF meets
///   every such deadline on one processor when the shares sum to 1, which
///   yields the same within-1 bound in O(W log n).
/// - If it does not fit, weights are scaled to `w′ = max(1, ⌊w·M/W⌋)` with
///   `M = MAX_TABLE`, and the bounds hold for `w′`. A backend's share then
///   differs from its exact share `w/W` by less than `2n/M` (absolute): at
///   most 0.2 % for 1024 backends.
#[derive(Debug)]
pub struct WrrTable {
    table: Box<[BackendId]>,
}

/// Smooth weighted round-robin over a replaceable backend set.
pub type SmoothWrr = Pool<WrrTable>;

impl Pool<WrrTable> {
    /// Builds a smooth weighted round-robin balancer.
    pub fn new(backends: &[Backend]) -> Result<Self, BalancerError> {
        Self::with_params(backends, (), 0)
    }
}

impl WrrTable {
    /// The precomputed cycle.
    pub fn cycle(&self) -> &[BackendId] {
        &self.table
    }
}

impl sealed::Strategy for WrrTable {
    type Params = ();
    const NAME: &'static str = "smooth-wrr";

    fn validate(_: &()) -> Result<(), BalancerError> {
        Ok(())
    }

    fn build(members: &Members, _: &()) -> Self {
        let active = members.active();
        let weights: Vec<u64> = active
            .iter()
            .map(|&i| u64::from(members.weight(i as usize)))
            .collect();
        let weights = table_weights(&weights);
        let order = if weights.iter().sum::<u64>() * weights.len() as u64 <= NGINX_BUILD_BUDGET {
            // nginx's rule interleaves as nginx does, but for some weight
            // sets a backend's lag reaches exactly one pick; those get the
            // Pfair schedule, whose lag stays strictly below one.
            let order = nginx_schedule(&weights);
            if lag_below_one(&weights, &order) {
                order
            } else {
                pfair_schedule(&weights)
            }
        } else {
            pfair_schedule(&weights)
        };
        Self {
            table: order
                .into_iter()
                .map(|k| members.id(active[k as usize] as usize))
                .collect(),
        }
    }

    #[inline]
    fn pick<C: Counts>(
        &self,
        _: &Members,
        _: &C,
        _key: u64,
        cursor: &mut Cursor,
    ) -> Option<BackendId> {
        let len = self.table.len();
        if len == 0 {
            return None;
        }
        // The wrap sits off the cursor's dependency chain (a predicted
        // branch), so consecutive picks chain through one increment only.
        let mut i = cursor.index;
        if i >= len {
            i = if i == len { 0 } else { i % len };
        }
        cursor.index = i + 1;
        Some(self.table[i])
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Reduces weights by their gcd and, if their sum still exceeds
/// [`MAX_TABLE`], scales them as the module docs state. All inputs are > 0.
fn table_weights(weights: &[u64]) -> Vec<u64> {
    let g = weights.iter().copied().fold(0, gcd).max(1);
    let reduced: Vec<u64> = weights.iter().map(|w| w / g).collect();
    let sum: u64 = reduced.iter().sum();
    if sum <= MAX_TABLE {
        return reduced;
    }
    reduced
        .iter()
        .map(|&w| ((u128::from(w) * u128::from(MAX_TABLE) / u128::from(sum)) as u64).max(1))
        .collect()
}

/// nginx's rule, run for one cycle: O(W·n). Returns positions in `weights`.
fn nginx_schedule(weights: &[u64]) -> Vec<u32> {
    let total = weights.iter().sum::<u64>() as i64;
    let mut score = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for i in 0..score.len() {
            score[i] += weights[i] as i64;
            if score[i] > score[best] {
                best = i;
            }
        }
        score[best] -= total;
        out.push(best as u32);
    }
    out
}

/// Whether after every prefix of `order` each backend's count is strictly
/// within one of `t·w/W`: |c·W − t·w| < W. A backend's lag only falls
/// between its picks, so it is lowest just before a pick (or at the end)
/// and highest just after one: checking those points is enough, O(W + n).
fn lag_below_one(weights: &[u64], order: &[u32]) -> bool {
    // c·W and t·w stay below W² ≤ 2^40 (W ≤ MAX_TABLE): i64 is enough.
    let total = weights.iter().sum::<u64>() as i64;
    let mut count = vec![0i64; weights.len()];
    for (t, &p) in order.iter().enumerate() {
        let (i, t) = (p as usize, t as i64);
        let w = weights[i] as i64;
        // After t picks (just before this one): not a full pick behind;
        // after t + 1 picks, with this one: not a full pick ahead.
        let before = count[i] * total - t * w;
        let after = (count[i] + 1) * total - (t + 1) * w;
        if before <= -total || after >= total {
            return false;
        }
        count[i] += 1;
    }
    let t = order.len() as i64;
    count
        .iter()
        .zip(weights)
        .all(|(&c, &w)| c * total - t * w as i64 > -total)
}

/// Pfair earliest-deadline-first schedule: O(W log n). Positions in `weights`.
fn pfair_schedule(weights: &[u64]) -> Vec<u32> {
    let total: u64 = weights.iter().sum();
    // Job k (1-based) of backend i: eligible at step t (0-based) once
    // (k-1)·W ≤ t·wᵢ; due at k·W/wᵢ. Deadlines compare as kₐ/wₐ vs k_b/w_b.
    #[derive(PartialEq, Eq)]
    struct Due {
        k: u64,
        w: u64,
        i: u32,
    }
    impl Ord for Due {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            // Earlier deadline first, then lower index: reversed for a max-heap.
            (u128::from(other.k) * u128::from(self.w))
                .cmp(&(u128::from(self.k) * u128::from(other.w)))
                .then(other.i.cmp(&self.i))
        }
    }
    impl PartialOrd for Due {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    let mut ready: BinaryHeap<Due> = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| Due {
            k: 1,
            w,
            i: i as u32,
        })
        .collect();
    // Waiting jobs keyed by the first step at which they become eligible.
    let mut waiting: BinaryHeap<Reverse<(u64, u32, u64)>> = BinaryHeap::new();
    let mut out = Vec::with_capacity(total as usize);
    for t in 0..total {
        while let Some(&Reverse((step, i, k))) = waiting.peek() {
            if step > t {
                break;
            }
            waiting.pop();
            ready.push(Due {
                k,
                w: weights[i as usize],
                i,
            });
        }
        let job = ready
            .pop()
            .expect("Pfair: a job is always eligible when shares sum to 1");
        out.push(job.i);
        let k = job.k + 1;
        if k <= job.w {
            // First step t with (k-1)·W ≤ t·w, i.e. t = ceil((k-1)·W / w).
            let eligible =
                ((u128::from(k - 1) * u128::from(total)).div_ceil(u128::from(job.w))) as u64;
            waiting.push(Reverse((eligible, job.i, k)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_bounds(weights: &[u64], order: &[u32]) {
        let total: u64 = weights.iter().sum();
        assert_eq!(order.len() as u64, total);
        let mut count = vec![0u64; weights.len()];
        for (t, &i) in order.iter().enumerate() {
            count[i as usize] += 1;
            let t = t as u64 + 1;
            for (c, &w) in count.iter().zip(weights) {
                // |c - t·w/W| < 1  ⇔  |c·W - t·w| < W
                let lhs = (*c * total) as i128 - (t * w) as i128;
                assert!(lhs.abs() < total as i128, "weights {weights:?} step {t}");
            }
        }
    }

    #[test]
    fn weight_sets_where_nginx_lags_a_full_pick_get_pfair() {
        // Found by proptest: nginx's rule leaves a backend exactly one pick
        // behind at some prefix for these.
        for weights in [vec![34, 9, 34, 19, 1, 39], vec![34, 4, 34, 4, 1, 29]] {
            assert!(!lag_below_one(&weights, &nginx_schedule(&weights)));
            check_bounds(&weights, &pfair_schedule(&weights));
        }
        assert!(lag_below_one(&[5, 1, 1], &nginx_schedule(&[5, 1, 1])));
    }

    #[test]
    fn nginx_example() {
        assert_eq!(nginx_schedule(&[5, 1, 1]), [0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn both_builders_meet_the_bound() {
        for weights in [
            vec![5, 1, 1],
            vec![1, 2, 6, 11, 10],
            vec![12, 1, 1, 8, 1],
            vec![1; 9],
            vec![1000, 1, 999, 3],
        ] {
            check_bounds(&weights, &nginx_schedule(&weights));
            check_bounds(&weights, &pfair_schedule(&weights));
        }
    }

    #[test]
    fn huge_weights_are_scaled_into_the_table() {
        let w = table_weights(&[u64::from(u32::MAX), u64::from(u32::MAX) - 1, 1]);
        assert!(w.iter().sum::<u64>() <= MAX_TABLE + 3);
        assert!(w.iter().all(|&x| x >= 1));
        assert_eq!(table_weights(&[6, 4, 2]), [3, 2, 1]);
    }
}
