//! Exact weighted least connections.

use super::members::{Counts, Members};
use super::pool::sealed;
use super::{Backend, BackendId, BalancerError, Cursor, Pool};

/// The exact least-connections strategy.
///
/// Picks the active backend with the smallest `in_flight / weight`, as
/// HAProxy's `leastconn` and nginx's `least_conn` do, by scanning every
/// active backend: O(n) per pick. A backend with nothing in flight ends the
/// scan early.
///
/// No division or rounding enters the comparison. When the least common
/// multiple `L` of the active weights fits in 32 bits (always for equal
/// weights, and for any mix of small weights), each backend's score is the
/// integer `in_flight · (L / w)`, which orders exactly as `in_flight / w`
/// (a count is at most 2^32 − 1, so a score fits 64 bits). Scores of
/// different backends are independent, so the scan's only dependency chain
/// is the running minimum; it walks runs of consecutive active counter
/// slots, so drained members cost nothing and no slot needs a mask.
/// Otherwise the scan compares by cross-multiplication in 128 bits
/// (`a·w_b < b·w_a`), whose chain through the current best is about three
/// times longer.
///
/// Ties rotate: each pick starts its scan one position after the previous
/// pick's start (per cursor), and the first minimum from there wins, so
/// equally loaded backends take turns instead of the lowest index taking
/// everything.
///
/// In-flight counts come from [`Balancer::start`](super::Balancer::start) /
/// [`finish`](super::Balancer::finish) (or a [`Handle`](super::Handle), or an
/// [`InFlight`](super::InFlight) guard): the balancer sees only what its
/// callers report.
///
/// Everything is laid out by counter slot (see `members.rs`), so a scan
/// reads the counters as contiguous words.
#[derive(Debug)]
pub struct LeastConnScan {
    /// Per slot: the id of the active member using it.
    ids: Box<[BackendId]>,
    /// Per slot: the active member's weight, 0 for other slots.
    weights: Box<[u32]>,
    /// The maximal runs `lo..hi` of slots held by active members.
    runs: Box<[(usize, usize)]>,
    scores: Scores,
    active: usize,
}

/// How a slot's count becomes a score.
#[derive(Debug)]
enum Scores {
    /// Per slot `L / w` (`L` the weights' lcm, within 32 bits).
    Scaled(Box<[u64]>),
    /// Cross-multiplication (the lcm does not fit).
    Cross,
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
        let mut runs = Vec::new();
        let mut slot = 0;
        while slot < span {
            if weights[slot] == 0 {
                slot += 1;
                continue;
            }
            let lo = slot;
            while slot < span && weights[slot] > 0 {
                slot += 1;
            }
            runs.push((lo, slot));
        }
        let active = members.active();
        let scores = match lcm_within_u32(active.iter().map(|&i| members.weight(i as usize))) {
            Some(l) => Scores::Scaled(
                weights
                    .iter()
                    .map(|&w| if w > 0 { l / u64::from(w) } else { 0 })
                    .collect(),
            ),
            None => Scores::Cross,
        };
        Self {
            ids: ids.into(),
            weights: weights.into(),
            runs: runs.into(),
            scores,
            active: active.len(),
        }
    }

    #[inline]
    fn pick<C: Counts>(
        &self,
        _: &Members,
        counts: &C,
        _key: u64,
        cursor: &mut Cursor,
    ) -> Option<BackendId> {
        if self.active == 0 {
            return None;
        }
        let span = self.ids.len();
        let mut start = cursor.index;
        if start >= span {
            start = if start == span { 0 } else { start % span };
        }
        cursor.index = start + 1;
        if let Some(slot) = counts.least_from(start) {
            return Some(self.ids[slot]);
        }
        let best = match &self.scores {
            Scores::Scaled(mult) => self.scan_scaled(counts, mult, start),
            Scores::Cross => self.scan_cross(counts, start),
        };
        Some(self.ids[best])
    }
}

impl LeastConnScan {
    /// The first active slot from `start` (wrapping) with the lowest score
    /// `count · mult[slot]`, over each run of active slots' counters; stops
    /// early at a score of 0.
    #[inline]
    fn scan_scaled<C: Counts>(&self, counts: &C, mult: &[u64], start: usize) -> usize {
        let span = self.ids.len();
        let mut best = (start, u64::MAX);
        for (from, to) in [(start, span), (0, start)] {
            for &(lo, hi) in self.runs.iter() {
                let (lo, hi) = (lo.max(from), hi.min(to));
                if lo >= hi {
                    continue;
                }
                for (first, words) in counts.words(lo, hi) {
                    let m = &mult[first..first + words.len()];
                    if let Some((k, score)) = scaled_minimum::<C>(words, m, best.1) {
                        best = (first + k, score);
                        if score == 0 {
                            return best.0;
                        }
                    }
                }
            }
        }
        best.0
    }
}

/// The first position among `scores` whose score is below `below`, lowest
/// first; `None` if there is none.
#[inline(always)]
fn run_minimum(scores: impl Iterator<Item = u64>, below: u64) -> Option<(usize, u64)> {
    let mut best = None;
    let mut below = below;
    for (k, s) in scores.enumerate() {
        if s < below {
            below = s;
            best = Some((k, s));
            if s == 0 {
                break;
            }
        }
    }
    best
}

/// [`run_minimum`] of the scores `count · multiplier`, four at a time: one
/// well-predicted branch per four backends, taken only when one of them
/// beats the best so far.
#[inline(always)]
fn scaled_minimum<C: Counts>(words: &[C::Word], mult: &[u64], below: u64) -> Option<(usize, u64)> {
    let score = |w: &C::Word, m: u64| u64::from(C::count(w)) * m;
    let mut best = None;
    let mut below = below;
    let quads = words.len() / 4 * 4;
    let (head, tail) = words.split_at(quads);
    let (mhead, mtail) = mult.split_at(quads);
    for (q, (w, m)) in head.chunks_exact(4).zip(mhead.chunks_exact(4)).enumerate() {
        let s = [
            score(&w[0], m[0]),
            score(&w[1], m[1]),
            score(&w[2], m[2]),
            score(&w[3], m[3]),
        ];
        if s[0].min(s[1]).min(s[2].min(s[3])) < below {
            for (j, &x) in s.iter().enumerate() {
                if x < below {
                    below = x;
                    best = Some((4 * q + j, x));
                }
            }
            if below == 0 {
                return best;
            }
        }
    }
    let scores = tail.iter().zip(mtail).map(|(w, &m)| score(w, m));
    match run_minimum(scores, below) {
        Some((k, x)) => Some((quads + k, x)),
        None => best,
    }
}

impl LeastConnScan {
    /// The same scan by cross-multiplication, for weights whose lcm does not
    /// fit in 32 bits.
    fn scan_cross<C: Counts>(&self, counts: &C, start: usize) -> usize {
        let span = self.ids.len();
        let mut best: Option<(usize, u128, u128)> = None;
        let runs = counts.words(start, span).chain(counts.words(0, start));
        for (first, words) in runs {
            for (k, word) in words.iter().enumerate() {
                let weight = u128::from(self.weights[first + k]);
                if weight == 0 {
                    continue;
                }
                let load = u128::from(C::count(word));
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
