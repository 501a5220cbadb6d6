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
//! dependency chain is the running minimum: about 1.3 ns per backend here,
//! reading the counters as contiguous words (see `members.rs`).
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

use super::members::{Members, count_of};
use super::pool::sealed;
use super::{Backend, BackendId, BalancerError, Cursor, Pool};
use crate::sync::{AtomicU64, Ordering};

/// The exact least-connections strategy (see the [module docs](self)).
///
/// Everything is laid out by counter slot (see `members.rs`), so a scan
/// reads the counters as contiguous words; slots of drained or departed
/// members are masked out.
#[derive(Debug)]
pub struct LeastConnScan {
    /// Per slot: the id of the active member using it.
    ids: Box<[BackendId]>,
    /// Per slot: the active member's weight, 0 for other slots.
    weights: Box<[u32]>,
    /// Exact integer scores, when the weights' lcm fits in 32 bits.
    scores: Option<Scores>,
    active: usize,
}

/// Per slot: `L / w` for active members (`L` the weights' lcm), and a mask
/// that is all ones for the other slots, so they never score lowest.
#[derive(Debug)]
struct Scores {
    multipliers: Box<[u64]>,
    masks: Box<[u64]>,
}

/// Exact weighted least connections over a replaceable backend set.
pub type LeastConn = Pool<LeastConnScan>;

impl Pool<LeastConnScan> {
    /// Builds an exact least-connections balancer.
    pub fn new(backends: &[Backend]) -> Result<Self, BalancerError> {
        Self::with_params(backends, (), 0)
    }
}

fn lcm_within_u32(weights: impl Iterator<Item = u32>) -> Option<u64> {
    let mut l = 1u64;
    for w in weights {
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

impl sealed::Strategy for LeastConnScan {
    type Params = ();
    const NAME: &'static str = "least-conn";

    fn validate(_: &()) -> Result<(), BalancerError> {
        Ok(())
    }

    fn build(members: &Members, _: &()) -> Self {
        let span = members.slot_span();
        let mut ids = vec![BackendId(0); span];
        let mut weights = vec![0u32; span];
        for &i in members.active() {
            let s = members.slot_index(i as usize);
            ids[s] = members.id(i as usize);
            weights[s] = members.weight(i as usize);
        }
        let active = members.active();
        let weights_of_active = active.iter().map(|&i| members.weight(i as usize));
        let scores = lcm_within_u32(weights_of_active).map(|l| Scores {
            multipliers: weights
                .iter()
                .map(|&w| if w > 0 { l / u64::from(w) } else { 0 })
                .collect(),
            masks: weights
                .iter()
                .map(|&w| if w > 0 { 0 } else { u64::MAX })
                .collect(),
        });
        Self {
            ids: ids.into(),
            weights: weights.into(),
            scores,
            active: active.len(),
        }
    }

    #[inline]
    fn pick(&self, members: &Members, _key: u64, cursor: &mut Cursor) -> Option<BackendId> {
        if self.active == 0 {
            return None;
        }
        let span = self.ids.len();
        let mut start = cursor.index;
        if start >= span {
            start = if start == span { 0 } else { start % span };
        }
        cursor.index = start + 1;
        let best = match &self.scores {
            Some(s) => scan_scores(members, &s.multipliers, &s.masks, start),
            None => self.scan_cross(members, start),
        };
        Some(self.ids[best])
    }
}

/// The first slot from `start` (wrapping) with the lowest score
/// `min(load, 2^32 − 1) · multiplier | mask`; stops early at a score of 0.
#[inline]
fn scan_scores(members: &Members, mult: &[u64], mask: &[u64], start: usize) -> usize {
    let span = mult.len();
    let mut best = (start, u64::MAX);
    let runs = members.words(start, span).chain(members.words(0, start));
    for (first, words) in runs {
        let end = first + words.len();
        if let Some((k, score)) = run_minimum(words, &mult[first..end], &mask[first..end], best.1) {
            best = (first + k, score);
            if score == 0 {
                break;
            }
        }
    }
    best.0
}

/// The first position in one run whose score is below `below`, lowest
/// first; `None` if there is none. Kept apart from the run bookkeeping so
/// that the loop's few live values stay in registers.
#[inline(never)]
fn run_minimum(
    words: &[AtomicU64],
    mult: &[u64],
    mask: &[u64],
    below: u64,
) -> Option<(usize, u64)> {
    let mut best = None;
    let mut below = below;
    for (k, ((word, &m), &x)) in words.iter().zip(mult).zip(mask).enumerate() {
        let load = count_of(word.load(Ordering::Relaxed)).min(u64::from(u32::MAX));
        let score = (load * m) | x;
        if score < below {
            below = score;
            best = Some((k, score));
            if score == 0 {
                break;
            }
        }
    }
    best
}

impl LeastConnScan {
    /// The same scan by cross-multiplication, for weights whose lcm does not
    /// fit in 32 bits.
    fn scan_cross(&self, members: &Members, start: usize) -> usize {
        let span = self.ids.len();
        let mut best: Option<(usize, u128, u128)> = None;
        let runs = members.words(start, span).chain(members.words(0, start));
        for (first, words) in runs {
            for (k, word) in words.iter().enumerate() {
                let weight = u128::from(self.weights[first + k]);
                if weight == 0 {
                    continue;
                }
                let load = u128::from(count_of(word.load(Ordering::Relaxed)));
                if best.is_none_or(|(_, bl, bw)| load * bw < bl * weight) {
                    best = Some((first + k, load, weight));
                    if load == 0 {
                        return first + k;
                    }
                }
            }
        }
        best.map_or(start, |b| b.0)
    }
}
