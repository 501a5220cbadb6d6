//! Backend-reported weights: gRPC's weighted round robin over ORCA load
//! reports (gRFC A58).
//!
//! Each backend reports, for a period, the requests it answered per second
//! (`qps`), the errors per second (`eps`) and its utilisation (the busy
//! share of its capacity, from 0 up). Its weight is
//! `qps / (utilisation + eps / qps × error_utilization_penalty)`: what it
//! serves per unit of its capacity, less for errors. A backend whose first
//! report is younger than `blackout_period` has no weight yet (a backend
//! that just started answers fast while its caches are cold), nor one
//! whose last report is older than `weight_expiration_period`; such
//! backends take the mean weight of those that have one, and if none has,
//! every backend is equal. Reports with no answers or no utilisation are
//! ignored, as gRPC ignores them. Defaults are gRPC's: 10 s, 3 minutes,
//! a penalty of 1.
//!
//! The weights go to any balancer through [`Balancer::update`]:
//! [`OrcaWeights::weights`] scales them to whole numbers with the largest
//! at a given value.
//!
//! ```
//! use drainstorm_balancer::{OrcaParams, OrcaWeights};
//!
//! let s = 1_000_000_000u64; // ns
//! let mut w = OrcaWeights::new(2, OrcaParams::default()).unwrap();
//! // Backend 1 serves twice as much per unit of utilisation.
//! for t in 0..=11 {
//!     w.report(0, 100.0, 0.0, 0.5, t * s);
//!     w.report(1, 100.0, 0.0, 0.25, t * s);
//! }
//! assert_eq!(w.weights(11 * s, 100), vec![50, 100]);
//! // Within the blackout both are equal.
//! assert_eq!(w.weights(5 * s, 100), vec![100, 100]);
//! ```
//!
//! [`Balancer::update`]: super::Balancer::update

use super::BalancerError;

/// Parameters of [`OrcaWeights`] (gRPC's `WeightedRoundRobinLbConfig`),
/// times in nanoseconds on the caller's clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrcaParams {
    /// How long after its first report a backend's weight is used (gRPC's
    /// `blackout_period`, default 10 s).
    pub blackout_period_ns: u64,
    /// How long a report stays valid (gRPC's `weight_expiration_period`,
    /// default 3 minutes; above 0).
    pub weight_expiration_period_ns: u64,
    /// Utilisation charged per error per request (gRPC's
    /// `error_utilization_penalty`, default 1; ≥ 0).
    pub error_utilization_penalty: f64,
}

impl Default for OrcaParams {
    fn default() -> Self {
        Self {
            blackout_period_ns: 10_000_000_000,
            weight_expiration_period_ns: 180_000_000_000,
            error_utilization_penalty: 1.0,
        }
    }
}

impl OrcaParams {
    /// Checks the ranges; the error names the parameter.
    pub fn check(&self) -> Result<(), BalancerError> {
        if self.weight_expiration_period_ns == 0 {
            return Err(BalancerError::InvalidParameter {
                name: "weight_expiration_period",
                value: "0".into(),
                allowed: "above 0",
            });
        }
        let p = self.error_utilization_penalty;
        if !(p.is_finite() && p >= 0.0) {
            return Err(BalancerError::InvalidParameter {
                name: "error_utilization_penalty",
                value: p.to_string(),
                allowed: "≥ 0 and finite",
            });
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Host {
    weight: f64,
    /// When its reports started (since its last expiry); `None`: never.
    non_empty_since: Option<u64>,
    last_update: u64,
}

/// Weights of backends `0..n` from their load reports.
#[derive(Clone, Debug)]
pub struct OrcaWeights {
    params: OrcaParams,
    hosts: Vec<Host>,
}

impl OrcaWeights {
    /// No report yet for any of `n` backends.
    pub fn new(n: usize, params: OrcaParams) -> Result<Self, BalancerError> {
        params.check()?;
        Ok(Self {
            params,
            hosts: vec![Host::default(); n],
        })
    }

    /// Backend `backend`'s report at `now`: answers and errors per second
    /// and utilisation. Returns whether it was used (not with no answers
    /// or no utilisation, nor for a backend out of range).
    pub fn report(
        &mut self,
        backend: usize,
        qps: f64,
        eps: f64,
        utilization: f64,
        now: u64,
    ) -> bool {
        let penalty = self.params.error_utilization_penalty;
        let expiry = self.params.weight_expiration_period_ns;
        let Some(h) = self.hosts.get_mut(backend) else {
            return false;
        };
        if !(qps > 0.0 && utilization > 0.0 && qps.is_finite() && utilization.is_finite()) {
            return false;
        }
        let eps = if eps.is_finite() { eps.max(0.0) } else { 0.0 };
        h.weight = qps / (utilization + eps / qps * penalty);
        if h.non_empty_since.is_none() || now.saturating_sub(h.last_update) > expiry {
            h.non_empty_since = Some(now);
        }
        h.last_update = now;
        true
    }

    /// Backend `backend`'s weight at `now`, if it has a valid one.
    pub fn weight(&self, backend: usize, now: u64) -> Option<f64> {
        let h = self.hosts.get(backend)?;
        let since = h.non_empty_since?;
        let fresh = now.saturating_sub(h.last_update) <= self.params.weight_expiration_period_ns;
        let settled = now.saturating_sub(since) >= self.params.blackout_period_ns;
        (fresh && settled).then_some(h.weight)
    }

    /// Every backend's weight at `now` as whole numbers, the largest at
    /// `max` (at least 1 each): backends without a valid weight take the
    /// mean of those with one, and if none has one, all are `max`.
    pub fn weights(&self, now: u64, max: u32) -> Vec<u32> {
        let max = max.max(1);
        let valid: Vec<Option<f64>> = (0..self.hosts.len()).map(|i| self.weight(i, now)).collect();
        let known: Vec<f64> = valid.iter().flatten().copied().collect();
        if known.is_empty() {
            return vec![max; self.hosts.len()];
        }
        let mean = known.iter().sum::<f64>() / known.len() as f64;
        let top = known.iter().copied().fold(mean, f64::max);
        valid
            .iter()
            .map(|w| {
                let w = w.unwrap_or(mean);
                ((w / top * f64::from(max)).round() as u32).clamp(1, max)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn the_weight_is_grpcs_formula() {
        let mut w = OrcaWeights::new(1, OrcaParams::default()).unwrap();
        assert!(w.report(0, 200.0, 20.0, 0.8, 0));
        // 200 / (0.8 + 20/200 × 1) = 222.2…
        assert_eq!(w.weight(0, 10 * S), Some(200.0 / 0.9));
        assert!(!w.report(0, 0.0, 0.0, 0.5, S));
        assert!(!w.report(0, 10.0, 0.0, 0.0, S));
        assert!(!w.report(5, 10.0, 0.0, 0.5, S));
    }

    #[test]
    fn blackout_and_expiry() {
        let mut w = OrcaWeights::new(1, OrcaParams::default()).unwrap();
        w.report(0, 10.0, 0.0, 0.5, 0);
        assert_eq!(w.weight(0, 9 * S), None);
        assert_eq!(w.weight(0, 10 * S), Some(20.0));
        assert_eq!(w.weight(0, 180 * S), Some(20.0));
        assert_eq!(w.weight(0, 181 * S), None);
        // A report after the expiry starts a new blackout.
        w.report(0, 10.0, 0.0, 0.5, 200 * S);
        assert_eq!(w.weight(0, 205 * S), None);
        assert_eq!(w.weight(0, 210 * S), Some(20.0));
    }

    #[test]
    fn unknown_backends_take_the_mean() {
        let mut w = OrcaWeights::new(3, OrcaParams::default()).unwrap();
        w.report(0, 10.0, 0.0, 0.5, 0); // 20
        w.report(1, 10.0, 0.0, 1.0, 0); // 10
        assert_eq!(w.weights(10 * S, 100), vec![100, 50, 75]);
        assert_eq!(
            OrcaWeights::new(2, OrcaParams::default())
                .unwrap()
                .weights(0, 7),
            vec![7, 7]
        );
    }
}
