//! What a search is given and what it finds: its settings, a judged run,
//! the fresh block that checks an answer, the local curve, and the
//! outcome.

use serde::Serialize;

use super::confidence::{lower_bound, required_absorbed, seeds_needed};
use crate::sim::Verdict;

/// One judged run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trial {
    /// Whether the run met the plan's target (absorbed the drain, by
    /// default).
    pub success: bool,
    /// Its verdict (so far, if it was stopped early).
    pub verdict: Verdict,
    /// Simulated seconds it cost.
    pub simulated_s: f64,
}

/// How the search runs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SearchSettings {
    /// The P(success) claimed at the answer, in (0, 1).
    pub target: f64,
    /// The confidence of the claim, in (0, 1).
    pub confidence: f64,
    /// Seeds the search judges each factor on (the same at every factor).
    pub seeds: u32,
    /// Seeds of each fresh block the answer is checked on.
    pub fresh_seeds: u32,
    /// Seeds that decide a point provisionally during the bisection.
    pub probe_seeds: u32,
    /// Stop when the unsafe and safe factors are within this fraction of
    /// the safe one; the step of the local curve and of a step up.
    pub tolerance: f64,
    /// The smallest factor searched.
    pub min_factor: f64,
    /// The largest factor searched.
    pub max_factor: f64,
    /// Seeds at each point of the local curve (0: no curve).
    pub curve_seeds: u32,
    /// Steps up tried when fresh seeds reject the answer.
    pub max_steps: u32,
}

impl SearchSettings {
    /// The seeds a claim of `target` at `confidence` needs with no failed
    /// seed: the default for [`seeds`](Self::seeds) and
    /// [`fresh_seeds`](Self::fresh_seeds).
    pub fn seeds_for(target: f64, confidence: f64) -> u32 {
        seeds_needed(target, confidence, 0)
    }

    /// Successful seeds of `n` that make a point safe (all of them when
    /// `n` seeds cannot support the claim).
    pub fn required(&self, n: u32) -> u32 {
        required_absorbed(n, self.target, self.confidence).unwrap_or(n)
    }
}

impl Default for SearchSettings {
    fn default() -> Self {
        let seeds = Self::seeds_for(0.95, 0.95);
        Self {
            target: 0.95,
            confidence: 0.95,
            seeds,
            fresh_seeds: seeds,
            probe_seeds: 2,
            tolerance: 0.02,
            min_factor: 0.1,
            max_factor: 8.0,
            curve_seeds: 20,
            max_steps: 4,
        }
    }
}

/// A block of fresh seeds judged at a factor.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Check {
    /// The factor judged.
    pub factor: f64,
    /// The block's first seed (its seeds follow on).
    pub first_seed: u64,
    /// Seeds that met the target.
    pub success: u32,
    /// Seeds judged.
    pub seeds: u32,
    /// The one-sided lower bound on P(success) they give, at the
    /// search's confidence.
    pub lower: f64,
}

/// One point of the local curve: the search's seeds at a factor.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CurvePoint {
    /// The factor.
    pub factor: f64,
    /// Seeds that met the target.
    pub success: u32,
    /// Seeds judged.
    pub seeds: u32,
    /// The exact two-sided 95 % interval of P(success).
    pub interval: (f64, f64),
}

/// What the search found.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// The smallest safe factor, within the tolerance, confirmed on fresh
    /// seeds.
    Found {
        /// The factor: safe on `success` of `seeds` of the search's seeds.
        factor: f64,
        /// The largest factor found unsafe (just below `factor`).
        unsafe_below: f64,
        /// Search seeds that met the target at `factor`.
        success: u32,
        /// Search seeds run at `factor`.
        seeds: u32,
        /// The fresh block that confirmed it: its bound is the claim.
        fresh: Check,
    },
    /// A factor safe on the search's seeds that no fresh block confirmed
    /// within the steps allowed (or the range): the last one tried.
    Unconfirmed {
        /// The last factor tried.
        factor: f64,
        /// Its fresh block.
        fresh: Check,
    },
    /// Not safe even at the largest factor searched.
    AboveRange {
        /// That factor.
        max_factor: f64,
    },
    /// Safe already at the smallest factor searched, and confirmed there
    /// on fresh seeds.
    BelowRange {
        /// That factor.
        min_factor: f64,
        /// The fresh block that confirmed it.
        fresh: Check,
    },
    /// A seed absorbed at a lower factor failed at a higher one.
    NotMonotone {
        /// The seed.
        seed: u64,
        /// A factor it was absorbed at.
        absorbed_at: f64,
        /// A higher factor at which it was not.
        failed_at: f64,
    },
}

impl Outcome {
    /// The answer's factor, where there is one.
    pub fn factor(&self) -> Option<f64> {
        match self {
            Outcome::Found { factor, .. } => Some(*factor),
            Outcome::BelowRange { min_factor, .. } => Some(*min_factor),
            _ => None,
        }
    }
}

/// One factor the search judged.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Probe {
    /// The factor.
    pub factor: f64,
    /// Per seed judged, in seed order: (seed, verdict, absorbed).
    pub trials: Vec<(u64, Verdict, bool)>,
}

/// A finished search.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Search {
    /// The answer.
    pub outcome: Outcome,
    /// Runs made.
    pub runs: u32,
    /// Simulated seconds over all runs.
    pub simulated_s: f64,
    /// Every factor judged on the search's seeds, ascending.
    pub probes: Vec<Probe>,
    /// Answers fresh seeds rejected before the outcome's, in order: the
    /// search stepped up from each.
    pub rejected: Vec<Check>,
    /// The local curve around the answer, ascending (empty without one).
    pub curve: Vec<CurvePoint>,
}

/// The exact (Clopper–Pearson) two-sided 95 % interval of a proportion,
/// `k` of `n`.
///
/// ```
/// let (lo, hi) = drainstorm::plan::exact_interval(8, 8);
/// assert!((lo - 0.6306).abs() < 1e-3 && hi == 1.0);
/// ```
pub fn exact_interval(k: u32, n: u32) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    (
        lower_bound(k, n, 0.975),
        1.0 - lower_bound(n - k.min(n), n, 0.975),
    )
}
