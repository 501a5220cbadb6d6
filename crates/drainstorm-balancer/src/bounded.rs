//! Consistent hashing with bounded loads.

use super::hash::mix64;
use super::members::{Counts, Members};
use super::pool::sealed;
use super::ring::{RingParams, RingTable};
use super::{Backend, BackendId, BalancerError, Cursor, Pool};

/// Parameters of a [`BoundedLoad`] balancer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoundedParams {
    /// Allowed excess over the mean, > 0 and finite. Default 0.25 (the
    /// paper's experiments and Vimeo's deployment use 0.25).
    pub epsilon: f64,
    /// Points per unit of weight on the underlying ring. Default 160.
    pub points_per_weight: u32,
}

impl Default for BoundedParams {
    fn default() -> Self {
        Self {
            epsilon: 0.25,
            points_per_weight: RingParams::default().points_per_weight,
        }
    }
}

/// The bounded-load ring.
///
/// Mirrokni, Thorup and Zadimoghaddam ("Consistent hashing with bounded
/// loads", SODA 2018; deployed in Google Cloud Pub/Sub and HAProxy's
/// `hash-balance-factor`) cap every backend at `⌈(1+ε)·m·w/W⌉` requests in
/// flight, where *m* counts the requests in flight including the new one:
/// with equal weights, `⌈(1+ε)·mean⌉`. A key goes to its ring owner unless
/// that owner is full; then it falls through to the next point clockwise
/// whose owner has room. The expected walk is O(1/ε²) points.
///
/// With nothing in flight every owner has room, so the mapping is the
/// ring's: removing a backend moves only its keys. Under load, hot keys
/// spill to neighbours instead of piling onto one backend, which is what
/// keeps one hot spot from holding a whole site's capacity.
///
/// The cap uses the balancer-wide in-flight total, which counts drained
/// members' remaining requests too, and loads as reported by callers; under
/// concurrent picks two callers may both see room for the last place, so
/// the bound is exact for one thread and approximate for many.
#[derive(Debug)]
pub struct BoundedRing {
    ring: RingTable,
    factor: f64,
    active_weight: f64,
}

/// Consistent hashing with bounded loads.
pub type BoundedLoad = Pool<BoundedRing>;

impl Pool<BoundedRing> {
    /// Builds a bounded-load balancer with ε = 0.25.
    pub fn new(backends: &[Backend]) -> Result<Self, BalancerError> {
        Self::with_params(backends, BoundedParams::default(), 0)
    }

    /// Builds a bounded-load balancer with the given ε.
    pub fn with_epsilon(backends: &[Backend], epsilon: f64) -> Result<Self, BalancerError> {
        let params = BoundedParams {
            epsilon,
            ..BoundedParams::default()
        };
        Self::with_params(backends, params, 0)
    }
}

impl BoundedRing {
    fn around(members: &Members, params: &BoundedParams, ring: RingTable) -> Self {
        let active_weight = members
            .active()
            .iter()
            .map(|&i| f64::from(members.weight(i as usize)))
            .sum();
        Self {
            ring,
            factor: 1.0 + params.epsilon,
            active_weight,
        }
    }
}

impl sealed::Strategy for BoundedRing {
    type Params = BoundedParams;
    const NAME: &'static str = "bounded-load";
    const KEEPS_TOTAL: bool = true;

    fn validate(params: &BoundedParams) -> Result<(), BalancerError> {
        if !(params.epsilon.is_finite() && params.epsilon > 0.0 && params.epsilon <= 1e6) {
            return Err(BalancerError::InvalidParameter {
                name: "epsilon",
                value: params.epsilon.to_string(),
                allowed: "a finite number above 0 and at most 10^6",
            });
        }
        RingParams {
            points_per_weight: params.points_per_weight,
        }
        .check()
    }

    fn build(members: &Members, params: &BoundedParams) -> Self {
        Self::around(
            members,
            params,
            RingTable::build_with(members, params.points_per_weight),
        )
    }

    fn rebuild(
        members: &Members,
        params: &BoundedParams,
        old_members: &Members,
        old: &Self,
    ) -> Self {
        let ring =
            RingTable::rebuild_with(members, params.points_per_weight, old_members, &old.ring);
        Self::around(members, params, ring)
    }

    #[inline]
    fn pick<C: Counts>(
        &self,
        members: &Members,
        counts: &C,
        key: u64,
        _: &mut Cursor,
    ) -> Option<BackendId> {
        if self.ring.is_empty() {
            return None;
        }
        let first = self.ring.position(mix64(key));
        let scale = self.factor * (counts.total(members) + 1) as f64 / self.active_weight;
        let len = self.ring.len();
        let mut p = first;
        for _ in 0..len {
            let owner = self.ring.owner(p);
            let cap = (scale * f64::from(members.weight(owner))).ceil();
            if (counts.load(members, owner) + 1) as f64 <= cap {
                return Some(members.id(owner));
            }
            p = if p + 1 == len { 0 } else { p + 1 };
        }
        // Loads reported by callers exceeded every cap (possible only while
        // counts race or drained members hold many requests): fall back to
        // the plain ring owner.
        Some(members.id(self.ring.owner(first)))
    }
}
