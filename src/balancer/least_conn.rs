//! Exact weighted least connections.
//!
//! Picks the active backend with the smallest `in_flight / weight`, as
//! HAProxy's `leastconn` and nginx's `least_conn` do, by scanning every
//! active backend: O(n) per pick. A backend with nothing in flight ends the
//! scan early.
//!
//! No division or rounding enters the comparison. When the least common
//! multiple `L` of the active weights fits in 32 bits (always for equal
//! weights, and for any mix of small weights), each backend's score is the
//! integer `in_flight · (L / w)`, which orders exactly as `in_flight / w`;
//! scores of different backends are independent, so the scan's only
//! dependency chain is the running minimum, about 1 ns per backend here.
//! Otherwise the scan compares by cross-multiplication in 128 bits
//! (`a·w_b < b·w_a`), whose chain through the current best is about three
//! times longer. (Loads are capped at 2^32 − 1 in scores, so two backends
//! past four billion requests in flight each would compare equal.)
//!
//! Ties rotate: each pick starts its scan one position after the previous
//! pick's start (per cursor), and the first minimum from there wins, so
//! equally loaded backends take turns instead of the lowest index taking
//! everything.
//!
//! In-flight counts come from [`Balancer::start`](super::Balancer::start) /
//! [`finish`](super::Balancer::finish) (or a [`Handle`](super::Handle), or an
//! [`InFlight`](super::InFlight) guard): the balancer sees only what its
//! callers report.

use std::sync::Arc;

use super::members::{Members, Slot};
use super::pool::sealed;
use super::{Backend, BackendId, BalancerError, Cursor, Pool};

/// The exact least-connections strategy (see the [module docs](self)).
#[derive(Debug)]
pub struct LeastConnScan {
    ids: Box<[BackendId]>,
    weights: Box<[u32]>,
    slots: Box<[Arc<Slot>]>,
    /// `L / w` per backend when the weights' lcm `L` fits in 32 bits.
    multipliers: Option<Box<[u64]>>,
}

fn lcm_within_u32(weights: &[u32]) -> Option<u64> {
    let mut l = 1u64;
    for &w in weights {
        let w = u64::from(w);
        let (mut a, mut b) = (l, w);
        while b != 0 {
            (a, b) = (b, a % b);
        }
        l = l / a * w;
        if l > u64::from(u32::MAX) {
            return None;
        }
    }
    Some(l)
}

/// Exact weighted least connections over a replaceable backend set.
pub type LeastConn = Pool<LeastConnScan>;

impl Pool<LeastConnScan> {
    /// Builds an exact least-connections balancer.
    pub fn new(backends: &[Backend]) -> Result<Self, BalancerError> {
        Self::with_params(backends, (), 0)
    }
}

impl sealed::Strategy for LeastConnScan {
    type Params = ();
    const NAME: &'static str = "least-conn";

    fn validate(_: &()) -> Result<(), BalancerError> {
        Ok(())
    }

    fn build(members: &Members, _: &()) -> Self {
        let active = members.active();
        let weights: Box<[u32]> = active.iter().map(|&i| members.weight(i as usize)).collect();
        let multipliers =
            lcm_within_u32(&weights).map(|l| weights.iter().map(|&w| l / u64::from(w)).collect());
        Self {
            ids: active.iter().map(|&i| members.id(i as usize)).collect(),
            multipliers,
            weights,
            slots: active
                .iter()
                .map(|&i| Arc::clone(members.slot(i as usize)))
                .collect(),
        }
    }

    #[inline]
    fn pick(&self, _: &Members, _key: u64, cursor: &mut Cursor) -> Option<BackendId> {
        let n = self.slots.len();
        if n == 0 {
            return None;
        }
        let mut start = cursor.index;
        if start >= n {
            start = if start == n { 0 } else { start % n };
        }
        cursor.index = start + 1;
        let best = match &self.multipliers {
            Some(m) => self.scan_scores(m, start),
            None => self.scan_cross(start),
        };
        Some(self.ids[best])
    }
}

impl LeastConnScan {
    #[inline]
    fn scan_scores(&self, multipliers: &[u64], start: usize) -> usize {
        // Loads are capped at 2^32 - 1 so that a score cannot overflow.
        let slots = &self.slots[..];
        let multipliers = &multipliers[..slots.len()];
        let score = |i: usize| slots[i].load().min(u64::from(u32::MAX)) * multipliers[i];
        let mut best = (start, score(start));
        // Two plain loops rather than a `chain`: its per-item branch costs
        // more than the rest of the loop body.
        let scan = |range: std::ops::Range<usize>, best: &mut (usize, u64)| {
            for i in range {
                if best.1 == 0 {
                    return;
                }
                let s = score(i);
                if s < best.1 {
                    *best = (i, s);
                }
            }
        };
        scan(start + 1..slots.len(), &mut best);
        scan(0..start, &mut best);
        best.0
    }

    fn scan_cross(&self, start: usize) -> usize {
        let n = self.slots.len();
        let mut best = start;
        let mut best_load = u128::from(self.slots[start].load());
        let mut best_weight = u128::from(self.weights[start]);
        if best_load != 0 {
            for i in (start + 1..n).chain(0..start) {
                let load = u128::from(self.slots[i].load());
                let weight = u128::from(self.weights[i]);
                if load * best_weight < best_load * weight {
                    best = i;
                    best_load = load;
                    best_weight = weight;
                    if load == 0 {
                        break;
                    }
                }
            }
        }
        best
    }
}
