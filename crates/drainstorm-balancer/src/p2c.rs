//! Power of two choices.

use super::hash::next_random;
use super::members::{Counts, Members, OwnedCounter};
use super::pool::sealed;
use super::{Backend, BackendId, BalancerError, Cursor, Pool};

/// The power-of-two-choices strategy.
///
/// Draws two *distinct* active backends uniformly at random and sends the
/// request to the one with the smaller `in_flight / weight` (the first drawn
/// on ties). Mitzenmacher ("The power of two choices in randomized load
/// balancing", IEEE TPDS 2001) shows that two choices cut the maximum queue
/// from Θ(log n / log log n) to Θ(log log n); it is the default of Envoy's
/// and Finagle's least-request balancers. O(1) per pick.
///
/// Randomness is a SplitMix64 stream per [`Handle`](super::Handle), seeded
/// from the pool's seed and the handle's number; shared-path picks use the
/// stream of the calling thread's view, numbered as a handle.
#[derive(Debug)]
pub struct TwoChoices {
    /// The active members, packed so that a candidate costs one read here
    /// and one of its counter.
    candidates: Box<[Candidate]>,
}

/// An active member as the randomised strategies keep it.
#[derive(Debug)]
pub(crate) struct Candidate {
    pub(crate) counter: OwnedCounter,
    /// The counter's slot, for a single owner's counts.
    pub(crate) slot: u32,
    pub(crate) weight: u32,
    pub(crate) id: BackendId,
}

impl Candidate {
    /// The active members of `members`, in order.
    pub(crate) fn all_active(members: &Members) -> Box<[Candidate]> {
        members
            .active()
            .iter()
            .map(|&i| Candidate {
                counter: members.owned_counter(i as usize),
                slot: members.slot_index(i as usize) as u32,
                weight: members.weight(i as usize),
                id: members.id(i as usize),
            })
            .collect()
    }

    /// Its requests in flight, as `counts` holds them.
    #[inline]
    pub(crate) fn load<C: Counts>(&self, counts: &C) -> u32 {
        counts.load_held(&self.counter, self.slot as usize)
    }
}

/// Two distinct positions below `n` (at least 2, at most 2^16) from one
/// random output: one from each half.
#[inline]
pub(crate) fn two_distinct(rng: &mut u64, n: usize) -> (usize, usize) {
    let r = next_random(rng);
    let a = (((r & 0xFFFF_FFFF) * n as u64) >> 32) as usize;
    let b = (((r >> 32) * (n as u64 - 1)) >> 32) as usize;
    // Computed without a branch: the comparison is a coin flip to a
    // branch predictor.
    (a, b + usize::from(b >= a))
}

/// Power of two choices over a replaceable backend set.
pub type PowerOfTwo = Pool<TwoChoices>;

impl Pool<TwoChoices> {
    /// Builds a power-of-two-choices balancer whose random draws come from `seed`.
    pub fn with_seed(backends: &[Backend], seed: u64) -> Result<Self, BalancerError> {
        Self::with_params(backends, (), seed)
    }
}

impl sealed::Strategy for TwoChoices {
    type Params = ();
    const NAME: &'static str = "p2c";

    fn validate(_: &()) -> Result<(), BalancerError> {
        Ok(())
    }

    fn build(members: &Members, _: &()) -> Self {
        Self {
            candidates: Candidate::all_active(members),
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
        let n = self.candidates.len();
        match n {
            0 => return None,
            1 => return Some(self.candidates[0].id),
            _ => {}
        }
        let (a, b) = two_distinct(&mut cursor.rng, n);
        let (ca, cb) = (&self.candidates[a], &self.candidates[b]);
        // Counts fit 32 bits, so both products fit 64.
        let load_a = u64::from(ca.load(counts));
        let load_b = u64::from(cb.load(counts));
        let better_b = load_b * u64::from(ca.weight) < load_a * u64::from(cb.weight);
        // The choice is a coin flip too. A hinted select: LLVM compiles a plain one into a branch here
        // when the pick is inlined into a loop, which measured 15 ns per
        // pick against 9 ns.
        Some(std::hint::select_unpredictable(better_b, cb.id, ca.id))
    }
}
