//! How the global router answers: the DNS-like modes.
//!
//! Real global routing is DNS: an authoritative server hands out weighted
//! answers, resolvers and clients pick among them at random, and each
//! client keeps its answer for the record's TTL. Arrivals at one site are
//! then as bursty as the clients themselves, not the smooth rotation a
//! load balancer would produce. [`RouterMode`](super::RouterMode) chooses
//! between a balancer over the sites and two DNS-like modes:
//!
//! - `weighted-random`: every attempt draws a site afresh, with
//!   probability proportional to the sites' current router weights
//!   (drains, health and slow start included). The draw is a hash of
//!   (run seed, request, attempt), so it does not depend on the order in
//!   which other requests were routed: the same request draws the same
//!   site in every run of every balancer (common random numbers).
//! - `sticky`: each client instance
//!   ([`ClientGroup::instances`](super::ClientGroup::instances)) keeps the
//!   site it drew for `dns_ttl`, then draws again; a cached site that left
//!   rotation is dropped at once, as a client would retry another answer.
//!
//! A fourth mode, `zone-aware`, is not DNS: each instance lives in a
//! site's zone and its attempts stay there while the zone has the capacity
//! for its clients, spilling the shortfall (Envoy's zone-aware routing;
//! [`zone_split`](crate::balancer::zone_split)). It draws from the same
//! per-attempt numbers as `weighted-random`.
//!
//! In every mode the clients' answers follow the weights the router
//! publishes `propagation` after it publishes them
//! ([`RouterConfig::propagation`](super::RouterConfig::propagation): an
//! authoritative server's propagation, a control plane's push; 0 by
//! default).
//!
//! A draw costs a binary search over the cumulative weights: O(log sites).

/// Sites with weights, drawn in proportion to them.
#[derive(Clone, Debug, Default)]
pub(crate) struct WeightedSites {
    /// Cumulative weights: `cum[i]` is the sum of the weights of sites
    /// `0..=i`.
    cum: Vec<u64>,
}

impl WeightedSites {
    /// Replaces the weights.
    pub(crate) fn set(&mut self, weights: impl Iterator<Item = u32>) {
        self.cum.clear();
        let mut total = 0u64;
        for w in weights {
            total += u64::from(w);
            self.cum.push(total);
        }
    }

    /// Whether site `s` has a weight above zero.
    pub(crate) fn in_rotation(&self, s: u32) -> bool {
        let s = s as usize;
        let before = if s == 0 { 0 } else { self.cum[s - 1] };
        self.cum.get(s).is_some_and(|&c| c > before)
    }

    /// Each site's weight.
    #[cfg(test)]
    pub(crate) fn weights(&self) -> Vec<u64> {
        let mut before = 0;
        self.cum
            .iter()
            .map(|&c| {
                let w = c - before;
                before = c;
                w
            })
            .collect()
    }

    /// The site that 64 uniform random `bits` select, or `None` when every
    /// weight is zero.
    #[inline]
    pub(crate) fn pick(&self, bits: u64) -> Option<u32> {
        let total = *self.cum.last()?;
        if total == 0 {
            return None;
        }
        // Multiply-shift range reduction (Lemire 2019): x in 0..total.
        let x = ((u128::from(bits) * u128::from(total)) >> 64) as u64;
        Some(self.cum.partition_point(|&c| c <= x) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::random::mix;

    #[test]
    fn shares_follow_the_weights() {
        let mut w = WeightedSites::default();
        w.set([1u32, 0, 3, 4].into_iter());
        let mut counts = [0u32; 4];
        let n = 80_000u64;
        for i in 0..n {
            counts[w.pick(mix(i)).unwrap() as usize] += 1;
        }
        assert_eq!(counts[1], 0, "a drained site is never drawn");
        for (s, weight) in [(0, 1.0), (2, 3.0), (3, 4.0)] {
            let share = f64::from(counts[s]) / n as f64;
            assert!((share - weight / 8.0).abs() < 0.01, "site {s}: {share}");
        }
        assert!(w.in_rotation(0) && !w.in_rotation(1) && w.in_rotation(3));
    }

    #[test]
    fn no_weight_no_site() {
        let mut w = WeightedSites::default();
        assert_eq!(w.pick(1), None);
        w.set([0u32, 0].into_iter());
        assert_eq!(w.pick(u64::MAX), None);
        w.set([0u32, 5].into_iter());
        assert_eq!(w.pick(0), Some(1));
        assert_eq!(w.pick(u64::MAX), Some(1));
    }
}
