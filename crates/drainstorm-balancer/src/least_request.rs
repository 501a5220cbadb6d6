//! Weighted least request with an active-request bias: Envoy's
//! `LEAST_REQUEST` policy.

use super::hash::{next_random, reduce};
use super::members::{Counts, Members};
use super::p2c::{Candidate, two_distinct};
use super::pool::sealed;
use super::{Backend, BackendId, BalancerError, Cursor, Pool};

/// The most random choices one pick may compare.
pub const MAX_CHOICES: u32 = 64;

/// Parameters of [`LeastRequest`], with Envoy's names and defaults
/// (`envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeastRequestParams {
    /// Equal weights: how many distinct random backends a pick compares
    /// (Envoy's `choice_count`, default 2: power of two choices). From 2 to
    /// [`MAX_CHOICES`]; a set with no more active backends than this is
    /// scanned whole.
    pub choice_count: u32,
    /// Unequal weights: how strongly requests in flight lower a backend's
    /// share (Envoy's `active_request_bias`, default 1.0): see
    /// [`effective_weight`](Self::effective_weight). 0 gives plain weighted
    /// picks; finite, at least 0 and at most 100.
    pub active_request_bias: f64,
}

impl Default for LeastRequestParams {
    fn default() -> Self {
        Self {
            choice_count: 2,
            active_request_bias: 1.0,
        }
    }
}

impl LeastRequestParams {
    /// Envoy's dynamic weight of a backend of `weight` with `active`
    /// requests in flight: `weight / (active + 1)^active_request_bias`.
    ///
    /// ```
    /// use drainstorm_balancer::LeastRequestParams;
    ///
    /// let p = LeastRequestParams::default(); // bias 1.0
    /// assert_eq!(p.effective_weight(6, 2), 2.0); // 6 / 3
    /// let flat = LeastRequestParams { active_request_bias: 0.0, ..p };
    /// assert_eq!(flat.effective_weight(6, 2), 6.0); // in-flight ignored
    /// ```
    #[inline]
    pub fn effective_weight(&self, weight: u32, active: u32) -> f64 {
        Bias::of(self.active_request_bias).scale(f64::from(weight), active)
    }

    fn check(&self) -> Result<(), BalancerError> {
        if !(2..=MAX_CHOICES).contains(&self.choice_count) {
            return Err(BalancerError::InvalidParameter {
                name: "choice_count",
                value: self.choice_count.to_string(),
                allowed: "an integer from 2 to 64",
            });
        }
        let bias = self.active_request_bias;
        if !(bias.is_finite() && (0.0..=100.0).contains(&bias)) {
            return Err(BalancerError::InvalidParameter {
                name: "active_request_bias",
                value: bias.to_string(),
                allowed: "a finite number from 0 to 100",
            });
        }
        Ok(())
    }
}

/// The bias, with the two common values as their own cases (a power cost
/// about 9 ns here, a division about 1).
#[derive(Clone, Copy, Debug)]
enum Bias {
    Zero,
    One,
    Other(f64),
}

impl Bias {
    fn of(bias: f64) -> Self {
        if bias == 0.0 {
            Self::Zero
        } else if bias == 1.0 {
            Self::One
        } else {
            Self::Other(bias)
        }
    }

    #[inline]
    fn scale(self, weight: f64, active: u32) -> f64 {
        let n = f64::from(active) + 1.0;
        match self {
            Self::Zero => weight,
            Self::One => weight / n,
            Self::Other(b) => weight / n.powf(b),
        }
    }
}

/// The weighted least-request strategy (Envoy's `LEAST_REQUEST`).
///
/// - **Active weights all equal:** compares `choice_count` distinct active
///   backends drawn uniformly at random and takes the one with the fewest
///   requests in flight, the first drawn on ties. With the default 2 choices
///   its picks are exactly [`PowerOfTwo`](super::PowerOfTwo)'s for the same
///   seed; more choices move it towards least connections (Mitzenmacher
///   2001; Envoy draws with replacement, this draws distinct backends, so
///   the strictly most loaded backend never takes a request while `n > 1`).
///   Floyd's algorithm draws the set in `choice_count` draws, and one
///   more turns it by a random offset so that ties favour no backend.
/// - **Weights differ:** picks backend *i* with probability proportional
///   to its dynamic weight `wᵢ / (aᵢ + 1)^bias` ([`LeastRequestParams::effective_weight`]),
///   `aᵢ` its requests in flight: two passes over the active backends, O(n).
///   Envoy gives each backend the same share through an
///   earliest-deadline-first schedule that recomputes a backend's weight
///   when it is picked; a schedule per handle would be state the
///   [`Pool`]'s handles do not keep, so this draws the shares at random
///   instead: the same proportions at each instant, with a random rather
///   than interleaved order. With bias 0 it is weighted random.
///
/// Counts are read as the other load-aware strategies read them (one
/// `Relaxed` load each; see [`Pool`]): no state is written on a pick but
/// the handle's own random stream, so the pick path is lock-free and
/// shares nothing written.
#[derive(Debug)]
pub struct LeastRequestPicks {
    candidates: Box<[Candidate]>,
    /// Whether every active weight is the same.
    equal: bool,
    choices: u32,
    bias: Bias,
    /// `(a + 1)^-bias` for counts `a` below [`FACTORS`], built with the
    /// strategy when weights differ: a multiply per backend instead of a
    /// power, which measured 1.2 µs per pick over 64 backends.
    factors: Box<[f64]>,
}

/// Counts whose bias factor is tabled; a larger count computes its own.
const FACTORS: usize = 256;

/// Weighted least request over a replaceable backend set.
pub type LeastRequest = Pool<LeastRequestPicks>;

impl Pool<LeastRequestPicks> {
    /// Builds a weighted least-request balancer with Envoy's defaults (2
    /// choices, bias 1.0) whose random draws come from `seed`.
    ///
    /// ```
    /// use drainstorm_balancer::{Backend, BackendId, Balancer, LeastRequest};
    ///
    /// // Weights 3 and 1; three requests on backend 0 bring its dynamic
    /// // weight to 3 / (3 + 1) = 0.75 against backend 1's 1 / 1.
    /// let lb = LeastRequest::with_seed(&[Backend::new(0, 3), Backend::new(1, 1)], 7)?;
    /// for _ in 0..3 {
    ///     lb.start(BackendId(0));
    /// }
    /// let mut handle = lb.handle();
    /// let to_1 = (0..7000).filter(|_| handle.pick(0) == Some(BackendId(1))).count();
    /// assert!((3700..4300).contains(&to_1)); // 4 in 7
    /// # Ok::<(), drainstorm_balancer::BalancerError>(())
    /// ```
    pub fn with_seed(backends: &[Backend], seed: u64) -> Result<Self, BalancerError> {
        Self::with_params(backends, LeastRequestParams::default(), seed)
    }
}

impl sealed::Strategy for LeastRequestPicks {
    type Params = LeastRequestParams;
    const NAME: &'static str = "least-request";

    fn validate(params: &LeastRequestParams) -> Result<(), BalancerError> {
        params.check()
    }

    fn build(members: &Members, params: &LeastRequestParams) -> Self {
        let candidates = Candidate::all_active(members);
        let equal = candidates.windows(2).all(|p| p[0].weight == p[1].weight);
        let bias = Bias::of(params.active_request_bias);
        let factors = if equal {
            Box::default()
        } else {
            (0..FACTORS as u32).map(|a| bias.scale(1.0, a)).collect()
        };
        Self {
            candidates,
            equal,
            choices: params.choice_count,
            bias,
            factors,
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
        let load = |c: &Candidate| c.load(counts);
        if !self.equal {
            return Some(self.weighted(counts, &mut cursor.rng));
        }
        let best = if self.choices == 2 {
            // The draw of `TwoChoices`, so that the picks are its picks.
            let (a, b) = two_distinct(&mut cursor.rng, n);
            let (ca, cb) = (&self.candidates[a], &self.candidates[b]);
            std::hint::select_unpredictable(load(cb) < load(ca), cb, ca)
        } else if self.choices as usize >= n {
            // Every backend is a choice: a scan from a random start.
            let start = reduce(next_random(&mut cursor.rng), n);
            let order = self.candidates[start..]
                .iter()
                .chain(&self.candidates[..start]);
            order.min_by_key(|c| load(c)).expect("n > 1")
        } else {
            self.floyd(load, &mut cursor.rng)
        };
        Some(best.id)
    }
}

impl LeastRequestPicks {
    /// The least loaded of `choices` distinct candidates drawn by Floyd's
    /// algorithm (each draw below a growing bound, a repeat replaced by
    /// the bound itself), the first drawn on ties. Floyd's set is uniform
    /// but its order is not (the first draw is below `n − k + 1`), so the
    /// set is turned by a uniform offset: every candidate is then alike,
    /// and ties among idle backends favour none.
    #[inline]
    fn floyd(&self, load: impl Fn(&Candidate) -> u32, rng: &mut u64) -> &Candidate {
        let n = self.candidates.len();
        let k = self.choices as usize;
        let offset = reduce(next_random(rng), n);
        let mut drawn = [0u32; MAX_CHOICES as usize];
        let mut best: Option<(&Candidate, u32)> = None;
        for (m, bound) in (n - k + 1..=n).enumerate() {
            let t = reduce(next_random(rng), bound) as u32;
            let t = if drawn[..m].contains(&t) {
                bound as u32 - 1
            } else {
                t
            };
            drawn[m] = t;
            let i = t as usize + offset;
            let c = &self.candidates[if i >= n { i - n } else { i }];
            let l = load(c);
            if best.is_none_or(|(_, bl)| l < bl) {
                best = Some((c, l));
            }
        }
        best.expect("k ≥ 2").0
    }

    /// A backend drawn with probability proportional to its dynamic weight.
    #[inline]
    fn weighted<C: Counts>(&self, counts: &C, rng: &mut u64) -> BackendId {
        let share = |c: &Candidate| {
            let active = c.load(counts);
            match self.factors.get(active as usize) {
                Some(f) => f64::from(c.weight) * f,
                None => self.bias.scale(f64::from(c.weight), active),
            }
        };
        let total: f64 = self.candidates.iter().map(share).sum();
        // 53 random bits: a uniform point of [0, total).
        let mut at = (next_random(rng) >> 11) as f64 * (1.0 / (1u64 << 53) as f64) * total;
        for c in &self.candidates[..self.candidates.len() - 1] {
            at -= share(c);
            if at < 0.0 {
                return c.id;
            }
        }
        // Rounding, or counts that fell meanwhile (shared storage).
        self.candidates[self.candidates.len() - 1].id
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::PowerOfTwo;

    fn equal(n: u32) -> Vec<Backend> {
        (0..n).map(|i| Backend::new(i, 3)).collect()
    }

    #[test]
    fn two_choices_over_equal_weights_are_power_of_two_choices() {
        let (lr, p2c) = (
            LeastRequest::with_seed(&equal(9), 5).unwrap(),
            PowerOfTwo::with_seed(&equal(9), 5).unwrap(),
        );
        let (mut a, mut b) = (lr.handle(), p2c.handle());
        for i in 0..2000u32 {
            let (x, y) = (a.pick(0).unwrap(), b.pick(0).unwrap());
            assert_eq!(x, y, "pick {i}");
            if i % 3 != 0 {
                a.start(x);
                b.start(y);
            }
        }
    }

    #[test]
    fn floyd_draws_distinct_backends_uniformly() {
        let lr = LeastRequest::with_params(
            &equal(7),
            LeastRequestParams {
                choice_count: 5,
                ..Default::default()
            },
            1,
        )
        .unwrap();
        // All idle: the first of the five drawn wins, so picks are uniform.
        let mut h = lr.handle();
        let mut seen = [0u32; 7];
        for _ in 0..70_000 {
            seen[h.pick(0).unwrap().0 as usize] += 1;
        }
        assert!(
            seen.iter().all(|&s| (9_000..11_000).contains(&s)),
            "{seen:?}"
        );
    }

    #[test]
    fn out_of_range_parameters_are_refused_by_name() {
        for (params, name) in [
            (
                LeastRequestParams {
                    choice_count: 1,
                    ..Default::default()
                },
                "choice_count",
            ),
            (
                LeastRequestParams {
                    choice_count: 65,
                    ..Default::default()
                },
                "choice_count",
            ),
            (
                LeastRequestParams {
                    active_request_bias: -0.5,
                    ..Default::default()
                },
                "active_request_bias",
            ),
            (
                LeastRequestParams {
                    active_request_bias: f64::NAN,
                    ..Default::default()
                },
                "active_request_bias",
            ),
        ] {
            match LeastRequest::with_params(&equal(2), params, 0) {
                Err(BalancerError::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
                other => panic!("{params:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn drained_backends_are_never_picked() {
        let lb = LeastRequest::with_seed(
            &[Backend::new(0, 2), Backend::new(1, 0), Backend::new(2, 1)],
            4,
        )
        .unwrap();
        assert!((0..5000).all(|_| lb.pick(0) != Some(BackendId(1))));
        lb.update(&[Backend::new(0, 0), Backend::new(1, 0), Backend::new(2, 0)])
            .unwrap();
        assert_eq!(lb.pick(0), None);
    }
}
