//! The smallest factor at which a run meets its target often enough, with
//! a stated confidence: bracketing from a first guess, bisection with
//! common random numbers, a sequential test that decides clear points on
//! few seeds, and a check on seeds the search never used.
//!
//! The search never sees a simulation: it asks a *judge* whether seed *s*
//! meets the target at factor *f*. With the same seeds at every factor
//! (common random numbers), the difference between two factors is the
//! factor's, not the noise's.
//!
//! # The claim
//!
//! An answer claims "P(success) ≥ *target* with *confidence*": the exact
//! one-sided lower bound ([`lower_bound`]) computed from a block of
//! **fresh** seeds — seeds the search never judged — reaches the target.
//! A factor is **safe** when at least [`required_absorbed`] of its *N*
//! seeds succeed (with the defaults, 59 of 59: the fewest seeds whose
//! all-success reaches P ≥ 0.95 at 95 %). With fewer seeds than the claim
//! needs, every seed must succeed and the claim is the weaker bound they
//! support.
//!
//! # The rule
//!
//! Seeds are judged one after the other and a factor is abandoned as soon
//! as it cannot be safe any more. During the bisection a factor that
//! passes its first `probe_seeds` seeds is taken as safe *provisionally*;
//! one that fails a probe where failures are allowed is decided on all
//! *N* seeds. The answer is confirmed on all *N* seeds (if it fails, the
//! search resumes above it), then judged on a block of fresh seeds: if
//! too few of them succeed, the search steps up — by the tolerance, then
//! by twice it, four times, … — to a factor safe on its own seeds again
//! and judged on a new fresh block each time, so that every claim rests
//! on seeds that chose nothing, and says so. Seeds are
//! judged hardest first: the last seed that failed anywhere goes first, so
//! an unsafe point usually costs one run.
//!
//! Around the answer, a **local curve** — the success share with its
//! exact 95 % interval at factors a step or two either side — shows
//! plateaus and stretches that are not monotone, which a search only
//! sees where it looked.
//!
//! The verdict need not be monotone in the factor (a faster site can
//! attract more traffic, a different rounding can change a hash ring).
//! The search judges the upper end of its first bracket on every seed
//! too, checks seed by seed that no seed absorbed at a lower factor fails
//! at a higher one, and reports [`Outcome::NotMonotone`] instead of a
//! number when one does.

use rayon::prelude::*;
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

/// What a factor's seeds said so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Point {
    Unsafe,
    /// Passed the seeds run so far, not all of them.
    Provisional,
    Safe,
}

/// What the bisection found, before fresh seeds confirm it.
enum Answer {
    Found { factor: f64, unsafe_below: f64 },
    BelowRange,
    AboveRange,
}

struct State<'a> {
    judge: &'a (dyn Fn(f64, u64) -> Trial + Sync),
    settings: &'a SearchSettings,
    first_seed: u64,
    seeds: Vec<u64>,
    /// The order seeds are judged in: the last to fail first (the hardest
    /// known seed decides an unsafe point in one run).
    order: Vec<u64>,
    required: u32,
    probes: Vec<Probe>,
    rejected: Vec<Check>,
    runs: u32,
    simulated_s: f64,
}

impl State<'_> {
    /// Judges `f` on its first `upto` seeds (reusing what was run),
    /// stopping as soon as the point is decided. A point is provisionally
    /// safe only if every seed judged so far succeeded: one that failed a
    /// probe is decided on all the seeds (where failures are allowed, a
    /// failed probe says neither safe nor unsafe).
    fn test(&mut self, f: f64, upto: usize) -> Point {
        let mut upto = upto;
        let at = self.probe_at(f);
        let n = self.seeds.len() as u32;
        loop {
            let p = &self.probes[at];
            let ok = p.trials.iter().filter(|t| t.2).count() as u32;
            let failed = p.trials.len() as u32 - ok;
            if failed > n - self.required {
                return Point::Unsafe;
            }
            if ok >= self.required && p.trials.len() >= upto.min(self.required as usize) {
                return Point::Safe;
            }
            if p.trials.len() >= upto {
                if failed == 0 {
                    return Point::Provisional;
                }
                upto = self.seeds.len();
                continue;
            }
            let seed = *self
                .order
                .iter()
                .find(|s| !p.trials.iter().any(|t| t.0 == **s))
                .expect("a seed not yet judged here");
            let t = (self.judge)(f, seed);
            self.runs += 1;
            self.simulated_s += t.simulated_s;
            self.probes[at].trials.push((seed, t.verdict, t.success));
            if !t.success {
                self.order.retain(|s| *s != seed);
                self.order.insert(0, seed);
            }
        }
    }

    /// The index of `f`'s probe, made if new.
    fn probe_at(&mut self, f: f64) -> usize {
        match self.probes.iter().position(|p| p.factor == f) {
            Some(i) => i,
            None => {
                self.probes.push(Probe {
                    factor: f,
                    trials: Vec::new(),
                });
                self.probes.len() - 1
            }
        }
    }

    /// Judges `f` on `seeds` in parallel: (seed, trial) in seed order.
    fn judge_all(&mut self, f: f64, seeds: &[u64]) -> Vec<(u64, Trial)> {
        let judge = self.judge;
        let trials: Vec<(u64, Trial)> = seeds.par_iter().map(|&s| (s, judge(f, s))).collect();
        self.runs += trials.len() as u32;
        self.simulated_s += trials.iter().map(|(_, t)| t.simulated_s).sum::<f64>();
        trials
    }

    /// The next fresh block at `f`: seeds after the search's and after
    /// every block judged before it.
    fn fresh(&mut self, f: f64) -> Check {
        let n = self.settings.fresh_seeds.max(1);
        let block = self.rejected.len() as u64;
        let first = self
            .first_seed
            .wrapping_add(self.seeds.len() as u64)
            .wrapping_add(block * u64::from(n));
        let seeds: Vec<u64> = (0..u64::from(n)).map(|k| first.wrapping_add(k)).collect();
        let trials = self.judge_all(f, &seeds);
        let success = trials.iter().filter(|(_, t)| t.success).count() as u32;
        Check {
            factor: f,
            first_seed: first,
            success,
            seeds: n,
            lower: lower_bound(success, n, self.settings.confidence),
        }
    }

    /// Confirms `answer` (safe on the search's seeds) on fresh seeds,
    /// stepping up by the tolerance while a block rejects it: the
    /// confirmed factor and its block, or the last one tried.
    fn confirm(&mut self, mut answer: f64) -> Result<(f64, Check), (f64, Check)> {
        let s = self.settings;
        let required = s.required(s.fresh_seeds.max(1));
        // Steps that double: the tolerance, then twice it, four times, …
        let mut step = s.tolerance.max(0.01);
        loop {
            let check = self.fresh(answer);
            if check.success >= required {
                return Ok((answer, check));
            }
            self.rejected.push(check);
            if self.rejected.len() as u32 > s.max_steps || answer >= s.max_factor {
                return Err((answer, check));
            }
            // The next factor up that is safe on the search's own seeds.
            loop {
                answer = (answer * (1.0 + step)).min(s.max_factor);
                step *= 2.0;
                if self.test(answer, self.seeds.len()) == Point::Safe || answer >= s.max_factor {
                    break;
                }
            }
        }
    }

    /// The local curve: the first `curve_seeds` search seeds at the answer
    /// and at two steps of the tolerance either side.
    fn curve(&mut self, answer: f64) -> Vec<CurvePoint> {
        let s = self.settings;
        let n = (s.curve_seeds as usize).min(self.seeds.len());
        if n == 0 {
            return Vec::new();
        }
        let step = s.tolerance.max(0.01) * 2.0;
        let seeds: Vec<u64> = self.seeds[..n].to_vec();
        let mut out = Vec::new();
        for k in [-2.0, -1.0, 0.0, 1.0, 2.0] {
            let f = (answer * (1.0 + k * step)).clamp(s.min_factor, s.max_factor);
            if out.iter().any(|p: &CurvePoint| p.factor == f) {
                continue;
            }
            // Reuse what the search judged at this factor.
            let at = self.probe_at(f);
            let known: Vec<u64> = self.probes[at].trials.iter().map(|t| t.0).collect();
            let missing: Vec<u64> = seeds
                .iter()
                .copied()
                .filter(|x| !known.contains(x))
                .collect();
            for (seed, t) in self.judge_all(f, &missing) {
                self.probes[at].trials.push((seed, t.verdict, t.success));
            }
            let success = self.probes[at]
                .trials
                .iter()
                .filter(|t| seeds.contains(&t.0) && t.2)
                .count() as u32;
            out.push(CurvePoint {
                factor: f,
                success,
                seeds: n as u32,
                interval: exact_interval(success, n as u32),
            });
        }
        out.sort_by(|a, b| a.factor.total_cmp(&b.factor));
        out
    }

    /// Seeds absorbed at a lower factor and failed at a higher one.
    fn non_monotone(&self) -> Option<Outcome> {
        let mut sorted: Vec<&Probe> = self.probes.iter().collect();
        sorted.sort_by(|a, b| a.factor.total_cmp(&b.factor));
        for &seed in &self.seeds {
            let mut absorbed_at = None;
            for p in &sorted {
                match p.trials.iter().find(|t| t.0 == seed) {
                    Some(&(_, _, true)) if absorbed_at.is_none() => absorbed_at = Some(p.factor),
                    Some(&(_, _, false)) if absorbed_at.is_some() => {
                        return Some(Outcome::NotMonotone {
                            seed,
                            absorbed_at: absorbed_at.unwrap_or_default(),
                            failed_at: p.factor,
                        });
                    }
                    _ => {}
                }
            }
        }
        None
    }

    /// The outcome at `factor` confirmed by `fresh`, with the search's
    /// seeds there.
    fn found(&mut self, factor: f64, unsafe_below: f64, fresh: Check) -> Outcome {
        let at = self.probe_at(factor);
        let p = &self.probes[at];
        Outcome::Found {
            factor,
            unsafe_below,
            success: p.trials.iter().filter(|t| t.2).count() as u32,
            seeds: p.trials.len() as u32,
            fresh,
        }
    }

    /// The search's answer, confirmed on fresh seeds with its local curve
    /// (where it has a factor), and every probe in order.
    fn finish(mut self, answer: Answer) -> Search {
        let min = self.settings.min_factor;
        let outcome = match (self.non_monotone(), answer) {
            (Some(n), _) => n,
            (None, Answer::AboveRange) => Outcome::AboveRange {
                max_factor: self.settings.max_factor,
            },
            (
                None,
                Answer::Found {
                    factor,
                    unsafe_below,
                },
            ) => match self.confirm(factor) {
                // Stepped up: the factor rejected last is the one below.
                Ok((f, fresh)) if f != factor => {
                    let below = self.rejected.last().map_or(unsafe_below, |c| c.factor);
                    self.found(f, below, fresh)
                }
                Ok((f, fresh)) => self.found(f, unsafe_below, fresh),
                Err((factor, fresh)) => Outcome::Unconfirmed { factor, fresh },
            },
            (None, Answer::BelowRange) => match self.confirm(min) {
                Ok((f, fresh)) if f == min => Outcome::BelowRange {
                    min_factor: min,
                    fresh,
                },
                Ok((f, fresh)) => {
                    let below = self.rejected.last().map_or(min, |c| c.factor);
                    self.found(f, below, fresh)
                }
                Err((factor, fresh)) => Outcome::Unconfirmed { factor, fresh },
            },
        };
        let curve = match outcome.factor() {
            Some(f) => self.curve(f),
            None => Vec::new(),
        };
        self.probes.retain(|p| !p.trials.is_empty());
        self.probes.sort_by(|a, b| a.factor.total_cmp(&b.factor));
        Search {
            outcome,
            runs: self.runs,
            simulated_s: self.simulated_s,
            probes: self.probes,
            rejected: self.rejected,
            curve,
        }
    }
}

/// Searches the smallest safe factor, starting from `guess` (for example
/// from capacity arithmetic), with seeds `first_seed`, `first_seed + 1`, …
/// for the search and the seeds after them for the fresh blocks.
///
/// ```
/// use drainstorm::plan::{Outcome, SearchSettings, Trial, search};
/// use drainstorm::sim::Verdict;
///
/// // Seed s succeeds from factor 1.2 + (s mod 8)/100 up: the answer is 1.27.
/// let judge = |f: f64, seed: u64| {
///     let success = f >= 1.2 + (seed % 8) as f64 / 100.0;
///     let verdict = if success { Verdict::Absorbed } else { Verdict::Collapsed };
///     Trial { success, verdict, simulated_s: 1.0 }
/// };
/// let s = search(&judge, 0, 1.0, &SearchSettings::default());
/// let Outcome::Found { factor, unsafe_below, fresh, .. } = s.outcome else { panic!() };
/// assert!(unsafe_below < 1.27 && 1.27 <= factor && factor <= 1.27 * 1.03);
/// assert!(fresh.success == 59 && fresh.lower >= 0.95); // P ≥ 0.95 at 95 %
/// ```
pub fn search(
    judge: &(dyn Fn(f64, u64) -> Trial + Sync),
    first_seed: u64,
    guess: f64,
    s: &SearchSettings,
) -> Search {
    let n = s.seeds.max(1);
    let seeds: Vec<u64> = (0..u64::from(n))
        .map(|k| first_seed.wrapping_add(k))
        .collect();
    let mut st = State {
        judge,
        settings: s,
        first_seed,
        order: seeds.clone(),
        seeds,
        required: s.required(n),
        probes: Vec::new(),
        rejected: Vec::new(),
        runs: 0,
        simulated_s: 0.0,
    };
    let probe = (s.probe_seeds.max(1) as usize).min(n as usize);
    let all = n as usize;
    let (min, max) = (s.min_factor, s.max_factor);
    let guess = if guess.is_finite() && guess > 0.0 {
        guess.clamp(min, max)
    } else {
        1.0_f64.clamp(min, max)
    };
    // Bracket: an unsafe `lo` below a (provisionally) safe `hi`.
    let mut hi = (guess * 1.25).min(max);
    let mut lo = (guess * 0.8).max(min);
    while st.test(hi, probe) == Point::Unsafe {
        lo = hi;
        if hi >= max {
            return st.finish(Answer::AboveRange);
        }
        hi = (hi * 1.5).min(max);
    }
    let top = hi;
    loop {
        if lo >= hi {
            lo = (hi / 1.5).max(min);
        }
        if st.test(lo, probe) == Point::Unsafe {
            break;
        }
        hi = lo;
        if lo <= min {
            if st.test(min, all) == Point::Safe {
                return st.finish(Answer::BelowRange);
            }
            lo = min;
            break;
        }
    }
    loop {
        while hi - lo > s.tolerance * hi {
            let mid = (lo + hi) / 2.0;
            if st.test(mid, probe) == Point::Unsafe {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        if st.test(hi, all) == Point::Safe {
            // The upper end of the bracket, on every seed: a seed that
            // fails there but not at the answer shows a verdict that is
            // not monotone in the factor.
            st.test(top, all);
            return st.finish(Answer::Found {
                factor: hi,
                unsafe_below: lo,
            });
        }
        // The provisional answer failed on a later seed: search above it,
        // up to the next factor not known unsafe.
        lo = hi;
        let above = st
            .probes
            .iter()
            .filter(|p| p.factor > lo)
            .map(|p| p.factor)
            .fold(f64::INFINITY, f64::min);
        hi = if above.is_finite() {
            above
        } else {
            (lo * 1.5).min(max)
        };
        while st.test(hi, probe) == Point::Unsafe {
            if hi >= max {
                return st.finish(Answer::AboveRange);
            }
            lo = hi;
            hi = (hi * 1.5).min(max);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(success: bool) -> Trial {
        Trial {
            success,
            verdict: if success {
                Verdict::Absorbed
            } else {
                Verdict::Collapsed
            },
            simulated_s: 1.0,
        }
    }

    /// Seed `s` succeeds from `thresholds[s mod len]` up.
    fn threshold_judge(thresholds: Vec<f64>) -> impl Fn(f64, u64) -> Trial + Sync {
        move |f, seed| trial(f >= thresholds[seed as usize % thresholds.len()])
    }

    /// 8 seeds for the search and 8 fresh, no curve: the search alone.
    fn eight() -> SearchSettings {
        SearchSettings {
            seeds: 8,
            fresh_seeds: 8,
            curve_seeds: 0,
            ..SearchSettings::default()
        }
    }

    #[test]
    fn finds_the_known_answer_from_any_guess() {
        let thresholds: Vec<f64> = (0..8).map(|s| 1.1 + 0.02 * s as f64).collect();
        let truth = 1.1 + 0.02 * 7.0;
        let judge = threshold_judge(thresholds);
        for guess in [0.2, 0.9, 1.24, 1.5, 3.0, 7.9] {
            let s = search(&judge, 0, guess, &eight());
            let Outcome::Found {
                factor,
                unsafe_below,
                success,
                seeds,
                fresh,
            } = s.outcome
            else {
                panic!("{guess}: {:?}", s.outcome);
            };
            assert!(
                unsafe_below < truth && truth <= factor,
                "{guess}: {unsafe_below} {factor}"
            );
            assert!(factor - unsafe_below <= 0.02 * factor + 1e-12, "{guess}");
            assert_eq!((success, seeds), (8, 8));
            // Eight fresh seeds (8..16, the same thresholds) all succeed:
            // they support P ≥ 0.69 only.
            assert_eq!((fresh.first_seed, fresh.success, fresh.seeds), (8, 8, 8));
            assert!((fresh.lower - 0.05f64.powf(1.0 / 8.0)).abs() < 1e-9);
            // Fewer runs than judging every factor on all 8 seeds, although
            // here every seed needs a different factor (the worst case).
            let factors = s.probes.len() as u32;
            let searched = s.runs - 8;
            assert!(
                3 * searched < 2 * 8 * factors,
                "{guess}: {searched} runs at {factors} factors"
            );
        }
    }

    #[test]
    fn the_default_claim_rests_on_59_seeds_and_59_fresh_ones() {
        let judge = threshold_judge(vec![1.0, 1.1, 1.2]);
        let s = search(&judge, 100, 1.0, &SearchSettings::default());
        let Outcome::Found {
            success,
            seeds,
            fresh,
            ..
        } = s.outcome
        else {
            panic!("{:?}", s.outcome)
        };
        assert_eq!((success, seeds), (59, 59));
        assert_eq!(
            (fresh.first_seed, fresh.success, fresh.seeds),
            (159, 59, 59)
        );
        assert!(fresh.lower >= 0.95, "{fresh:?}");
    }

    #[test]
    fn an_answer_fresh_seeds_reject_steps_up_and_says_so() {
        // The search's seeds (0..8) all succeed from 1.0; the fresh ones
        // (8 and up) need 1.1: the search tunes itself to its seeds, and
        // the fresh block catches it.
        let judge = |f: f64, seed: u64| trial(f >= if seed < 8 { 1.0 } else { 1.1 });
        let s = search(&judge, 0, 1.0, &eight());
        let Outcome::Found { factor, fresh, .. } = s.outcome else {
            panic!("{:?}", s.outcome)
        };
        assert!(!s.rejected.is_empty());
        assert!(s.rejected.iter().all(|c| c.factor < 1.1 && c.success < 8));
        // At or above 1.1, by at most the last step (8 % after 2 % and 4 %).
        assert!((1.1..1.1 * 1.08).contains(&factor), "{factor}");
        // Every block is new: no fresh seed judged twice.
        let mut firsts: Vec<u64> = s.rejected.iter().map(|c| c.first_seed).collect();
        firsts.push(fresh.first_seed);
        for w in firsts.windows(2) {
            assert_eq!(w[1], w[0] + 8, "{firsts:?}");
        }
        // A block that never passes ends unconfirmed, within the steps.
        let never = |f: f64, seed: u64| trial(seed < 8 && f >= 1.0);
        let s = search(&never, 0, 1.0, &eight());
        assert!(
            matches!(s.outcome, Outcome::Unconfirmed { .. }),
            "{:?}",
            s.outcome
        );
        assert_eq!(s.rejected.len() as u32, eight().max_steps + 1);
        assert!(s.rejected.windows(2).all(|w| w[0].factor < w[1].factor));
    }

    #[test]
    fn the_local_curve_shows_the_answer_and_its_neighbours() {
        let judge = threshold_judge((0..20).map(|s| 1.0 + 0.005 * f64::from(s)).collect());
        let settings = SearchSettings {
            seeds: 20,
            fresh_seeds: 20,
            curve_seeds: 20,
            ..SearchSettings::default()
        };
        let s = search(&judge, 0, 1.0, &settings);
        let f = s.outcome.factor().expect("found");
        assert_eq!(s.curve.len(), 5, "{:?}", s.curve);
        let at = s.curve.iter().find(|p| p.factor == f).expect("the answer");
        assert_eq!((at.success, at.seeds), (20, 20));
        // Below the answer fewer seeds succeed, above it all do.
        assert!(s.curve[0].success < 20 && s.curve[4].success == 20);
        for p in &s.curve {
            assert!(
                p.interval.0 <= p.success as f64 / 20.0 && p.success as f64 / 20.0 <= p.interval.1
            );
        }
    }

    #[test]
    fn a_late_failing_seed_moves_the_answer_up() {
        // Seed 7 needs far more than the others: the probes (seeds 0 and 1)
        // pass long before it does.
        let mut thresholds = vec![1.0; 8];
        thresholds[7] = 2.0;
        let s = search(&threshold_judge(thresholds), 0, 1.0, &eight());
        let Outcome::Found {
            factor,
            unsafe_below,
            ..
        } = s.outcome
        else {
            panic!("{:?}", s.outcome)
        };
        assert!(
            unsafe_below < 2.0 && (2.0..=2.0 * 1.021).contains(&factor),
            "{unsafe_below} {factor}"
        );
    }

    #[test]
    fn a_lower_target_tolerates_failures() {
        // 93 seeds: one may fail for P ≥ 0.95 at 95 %.
        let n = seeds_needed(0.95, 0.95, 1);
        assert_eq!(n, 93);
        let mut thresholds = vec![1.0; n as usize];
        thresholds[5] = 3.0;
        let settings = SearchSettings {
            seeds: n,
            fresh_seeds: n,
            curve_seeds: 0,
            ..SearchSettings::default()
        };
        let s = search(&threshold_judge(thresholds), 0, 1.0, &settings);
        let Outcome::Found {
            factor,
            success,
            seeds,
            ..
        } = s.outcome
        else {
            panic!("{:?}", s.outcome)
        };
        assert!(factor < 1.03, "{factor}");
        assert_eq!((success, seeds), (92, 93));
    }

    #[test]
    fn out_of_range_and_non_monotone_answers_say_so() {
        let settings = eight();
        let s = search(&threshold_judge(vec![100.0]), 0, 1.0, &settings);
        assert_eq!(s.outcome, Outcome::AboveRange { max_factor: 8.0 });
        let s = search(&threshold_judge(vec![0.01]), 0, 1.0, &settings);
        assert!(
            matches!(s.outcome, Outcome::BelowRange { min_factor, fresh } if min_factor == 0.1 && fresh.success == 8),
            "{:?}",
            s.outcome
        );
        // Seed 3 fails in a band above the others' threshold.
        let judge = |f: f64, seed: u64| trial(f >= 1.0 && !(seed == 3 && (1.3..1.6).contains(&f)));
        let s = search(&judge, 0, 1.2, &settings);
        assert!(
            matches!(s.outcome, Outcome::NotMonotone { seed: 3, .. }),
            "{:?}",
            s.outcome
        );
    }

    #[test]
    fn failed_probes_never_pass_where_failures_are_allowed() {
        // Seed s succeeds from its own threshold up, thresholds spread over
        // [1, 2): the answer is the threshold of the seed at rank
        // `required`. With enough seeds a point may fail one or more and
        // still be safe, but a probe that fails must not be taken as safe
        // (an earlier rule passed two failed probes and then failed the
        // confirmation of one provisional answer after another).
        for n in [20_u32, 30, 40, 60, 93, 150] {
            let thresholds: Vec<f64> = (0..n)
                .map(|s| 1.0 + f64::from((s * 7919) % n) / f64::from(n))
                .collect();
            let settings = SearchSettings {
                seeds: n,
                fresh_seeds: n,
                curve_seeds: 0,
                ..SearchSettings::default()
            };
            let mut sorted = thresholds.clone();
            sorted.sort_by(f64::total_cmp);
            let required = settings.required(n) as usize;
            let truth = sorted[required - 1];
            for guess in [0.3, 1.0, 1.5, 4.0] {
                let s = search(&threshold_judge(thresholds.clone()), 0, guess, &settings);
                let Outcome::Found {
                    factor,
                    unsafe_below,
                    success,
                    seeds,
                    ..
                } = s.outcome
                else {
                    panic!("n = {n}, guess {guess}: {:?}", s.outcome);
                };
                assert!(
                    unsafe_below < truth && truth <= factor,
                    "n = {n}, guess {guess}: answer {factor}, unsafe at {unsafe_below}, truth {truth}"
                );
                assert!(
                    success as usize >= required && seeds <= n,
                    "{success}/{seeds}"
                );
                // Bounded: at most five factors' worth of seeds and the
                // fresh block.
                assert!(s.runs <= 6 * n, "n = {n}, guess {guess}: {} runs", s.runs);
            }
        }
    }

    #[test]
    fn exact_intervals_match_known_values() {
        let (lo, hi) = exact_interval(5, 10);
        assert!((lo - 0.1871).abs() < 1e-3 && (hi - 0.8129).abs() < 1e-3);
        assert_eq!(exact_interval(0, 0), (0.0, 1.0));
        let (lo, hi) = exact_interval(0, 8);
        assert!(lo == 0.0 && (hi - 0.3694).abs() < 1e-3);
    }
}
