//! The smallest factor at which a run is absorbed often enough: bracketing
//! from a first guess, bisection with common random numbers, and a
//! sequential test that decides clear points on few seeds.
//!
//! The search never sees a simulation: it asks a *judge* whether seed *s*
//! is absorbed at factor *f*. With the same seeds at every factor (common
//! random numbers), the difference between two factors is the factor's,
//! not the noise's.
//!
//! # The rule
//!
//! A factor is **safe** when at least ⌈target × N⌉ of its N seeds are
//! absorbed. Seeds are judged one after the other and a factor is
//! abandoned as soon as it cannot be safe any more (with N = 8 and a
//! target of 0.95, at its first failure). During the bisection a factor
//! that passes its first `probe_seeds` seeds is taken as safe
//! *provisionally*; one that fails a probe where failures are allowed
//! (N ≥ 20 at 0.95) is decided on all N seeds. The answer is then
//! confirmed on all N seeds, and if it fails, the search resumes above it. Every reported factor is
//! therefore safe on all its seeds, and the factor below it (within the
//! tolerance) failed on at least one. Seeds are judged hardest first: the
//! last seed that failed anywhere goes first, so an unsafe point usually
//! costs one run.
//!
//! The verdict need not be monotone in the factor (a faster site can
//! attract more traffic, a different rounding can change a hash ring).
//! The search judges the upper end of its first bracket on every seed
//! too, checks seed by seed that no seed absorbed at a lower factor fails
//! at a higher one, and reports [`Outcome::NotMonotone`] instead of a
//! number when one does.

use serde::Serialize;

use crate::sim::Verdict;

/// One judged run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trial {
    /// Whether the run absorbed the drain.
    pub absorbed: bool,
    /// Its verdict (so far, if it was stopped early).
    pub verdict: Verdict,
    /// Simulated seconds it cost.
    pub simulated_s: f64,
}

/// How the search runs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SearchSettings {
    /// Required share of absorbed seeds, in (0, 1].
    pub target: f64,
    /// Seeds at the answer.
    pub seeds: u32,
    /// Seeds that decide a point provisionally during the bisection.
    pub probe_seeds: u32,
    /// Stop when the unsafe and safe factors are within this fraction of
    /// the safe one.
    pub tolerance: f64,
    /// The smallest factor searched.
    pub min_factor: f64,
    /// The largest factor searched.
    pub max_factor: f64,
}

impl Default for SearchSettings {
    fn default() -> Self {
        Self {
            target: 0.95,
            seeds: 8,
            probe_seeds: 2,
            tolerance: 0.02,
            min_factor: 0.1,
            max_factor: 8.0,
        }
    }
}

/// What the search found.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// The smallest safe factor, within the tolerance.
    Found {
        /// The factor: safe on `absorbed` of `seeds` seeds.
        factor: f64,
        /// The largest factor found unsafe (just below `factor`).
        unsafe_below: f64,
        /// Seeds absorbed at `factor`.
        absorbed: u32,
        /// Seeds run at `factor`.
        seeds: u32,
        /// 95 % Wilson interval of P(absorbed) at `factor`.
        wilson: (f64, f64),
    },
    /// Not safe even at the largest factor searched.
    AboveRange {
        /// That factor.
        max_factor: f64,
    },
    /// Safe already at the smallest factor searched.
    BelowRange {
        /// That factor.
        min_factor: f64,
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
pub struct Search {
    /// The answer.
    pub outcome: Outcome,
    /// Runs made.
    pub runs: u32,
    /// Simulated seconds over all runs.
    pub simulated_s: f64,
    /// Every factor judged, ascending.
    pub probes: Vec<Probe>,
}

/// The 95 % Wilson score interval of a proportion, `k` of `n`.
///
/// ```
/// let (lo, hi) = drainstorm::plan::wilson(8, 8);
/// assert!((lo - 0.6756).abs() < 1e-3 && hi == 1.0);
/// ```
pub fn wilson(k: u32, n: u32) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n, z) = (f64::from(k), f64::from(n), 1.959_963_984_540_054_f64);
    let p = k / n;
    let d = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / d;
    let half = z / d * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// What a factor's seeds said so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Point {
    Unsafe,
    /// Passed the seeds run so far, not all of them.
    Provisional,
    Safe,
}

struct State<'a> {
    judge: &'a (dyn Fn(f64, u64) -> Trial + Sync),
    seeds: Vec<u64>,
    /// The order seeds are judged in: the last to fail first (the hardest
    /// known seed decides an unsafe point in one run).
    order: Vec<u64>,
    required: u32,
    probes: Vec<Probe>,
    runs: u32,
    simulated_s: f64,
}

impl State<'_> {
    /// Judges `f` on its first `upto` seeds (reusing what was run),
    /// stopping as soon as the point is decided. A point is provisionally
    /// safe only if every seed judged so far absorbed: one that failed a
    /// probe is decided on all the seeds (where failures are allowed, a
    /// failed probe says neither safe nor unsafe).
    fn test(&mut self, f: f64, upto: usize) -> Point {
        let mut upto = upto;
        let at = match self.probes.iter().position(|p| p.factor == f) {
            Some(i) => i,
            None => {
                self.probes.push(Probe {
                    factor: f,
                    trials: Vec::new(),
                });
                self.probes.len() - 1
            }
        };
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
            self.probes[at].trials.push((seed, t.verdict, t.absorbed));
            if !t.absorbed {
                self.order.retain(|s| *s != seed);
                self.order.insert(0, seed);
            }
        }
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

    fn finish(mut self, outcome: Outcome) -> Search {
        let outcome = self.non_monotone().unwrap_or(outcome);
        self.probes.sort_by(|a, b| a.factor.total_cmp(&b.factor));
        Search {
            outcome,
            runs: self.runs,
            simulated_s: self.simulated_s,
            probes: self.probes,
        }
    }
}

/// Searches the smallest safe factor, starting from `guess` (for example
/// from capacity arithmetic), with seeds `first_seed`, `first_seed + 1`, …
///
/// ```
/// use drainstorm::plan::{Outcome, SearchSettings, Trial, search};
/// use drainstorm::sim::Verdict;
///
/// // Seed s is absorbed from factor 1.2 + s/100 up: the answer is 1.27.
/// let judge = |f: f64, seed: u64| {
///     let absorbed = f >= 1.2 + seed as f64 / 100.0;
///     let verdict = if absorbed { Verdict::Absorbed } else { Verdict::Collapsed };
///     Trial { absorbed, verdict, simulated_s: 1.0 }
/// };
/// let s = search(&judge, 0, 1.0, &SearchSettings::default());
/// let Outcome::Found { factor, unsafe_below, .. } = s.outcome else { panic!() };
/// assert!(unsafe_below < 1.27 && 1.27 <= factor && factor <= 1.27 * 1.03);
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
        order: seeds.clone(),
        seeds,
        required: ((s.target * f64::from(n)) - 1e-9)
            .ceil()
            .clamp(1.0, f64::from(n)) as u32,
        probes: Vec::new(),
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
            return st.finish(Outcome::AboveRange { max_factor: max });
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
                return st.finish(Outcome::BelowRange { min_factor: min });
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
            let p = st.probes.iter().find(|p| p.factor == hi).expect("tested");
            let absorbed = p.trials.iter().filter(|t| t.2).count() as u32;
            let seeds = p.trials.len() as u32;
            return st.finish(Outcome::Found {
                factor: hi,
                unsafe_below: lo,
                absorbed,
                seeds,
                wilson: wilson(absorbed, seeds),
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
                return st.finish(Outcome::AboveRange { max_factor: max });
            }
            lo = hi;
            hi = (hi * 1.5).min(max);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threshold_judge(thresholds: Vec<f64>) -> impl Fn(f64, u64) -> Trial + Sync {
        move |f, seed| {
            let absorbed = f >= thresholds[seed as usize % thresholds.len()];
            Trial {
                absorbed,
                verdict: if absorbed {
                    Verdict::Absorbed
                } else {
                    Verdict::Collapsed
                },
                simulated_s: 1.0,
            }
        }
    }

    #[test]
    fn finds_the_known_answer_from_any_guess() {
        let thresholds: Vec<f64> = (0..8).map(|s| 1.1 + 0.02 * s as f64).collect();
        let truth = 1.1 + 0.02 * 7.0;
        let judge = threshold_judge(thresholds);
        for guess in [0.2, 0.9, 1.24, 1.5, 3.0, 7.9] {
            let s = search(&judge, 0, guess, &SearchSettings::default());
            let Outcome::Found {
                factor,
                unsafe_below,
                absorbed,
                seeds,
                ..
            } = s.outcome
            else {
                panic!("{guess}: {:?}", s.outcome);
            };
            assert!(
                unsafe_below < truth && truth <= factor,
                "{guess}: {unsafe_below} {factor}"
            );
            assert!(factor - unsafe_below <= 0.02 * factor + 1e-12, "{guess}");
            assert_eq!((absorbed, seeds), (8, 8));
            // Fewer runs than judging every factor on all 8 seeds, although
            // here every seed needs a different factor (the worst case).
            let factors = s.probes.len() as u32;
            assert!(
                3 * s.runs < 2 * 8 * factors,
                "{guess}: {} runs at {factors} factors",
                s.runs
            );
        }
    }

    #[test]
    fn a_late_failing_seed_moves_the_answer_up() {
        // Seed 7 needs far more than the others: the probes (seeds 0 and 1)
        // pass long before it does.
        let mut thresholds = vec![1.0; 8];
        thresholds[7] = 2.0;
        let s = search(
            &threshold_judge(thresholds),
            0,
            1.0,
            &SearchSettings::default(),
        );
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
        // 10 seeds, target 0.8: the two hardest may fail.
        let thresholds: Vec<f64> = (0..10).map(|s| 1.0 + 0.1 * s as f64).collect();
        let settings = SearchSettings {
            target: 0.8,
            seeds: 10,
            ..SearchSettings::default()
        };
        let s = search(&threshold_judge(thresholds), 0, 1.0, &settings);
        let Outcome::Found {
            factor,
            absorbed,
            seeds,
            ..
        } = s.outcome
        else {
            panic!("{:?}", s.outcome)
        };
        assert!((1.7..=1.7 * 1.021).contains(&factor), "{factor}");
        assert!(absorbed >= 8 && seeds <= 10, "{absorbed}/{seeds}");
    }

    #[test]
    fn out_of_range_and_non_monotone_answers_say_so() {
        let settings = SearchSettings::default();
        let s = search(&threshold_judge(vec![100.0]), 0, 1.0, &settings);
        assert_eq!(s.outcome, Outcome::AboveRange { max_factor: 8.0 });
        let s = search(&threshold_judge(vec![0.01]), 0, 1.0, &settings);
        assert_eq!(s.outcome, Outcome::BelowRange { min_factor: 0.1 });
        // Seed 3 fails in a band above the others' threshold.
        let judge = |f: f64, seed: u64| {
            let absorbed = f >= 1.0 && !(seed == 3 && (1.3..1.6).contains(&f));
            Trial {
                absorbed,
                verdict: if absorbed {
                    Verdict::Absorbed
                } else {
                    Verdict::Collapsed
                },
                simulated_s: 1.0,
            }
        };
        let s = search(&judge, 0, 1.2, &settings);
        assert!(
            matches!(s.outcome, Outcome::NotMonotone { seed: 3, .. }),
            "{:?}",
            s.outcome
        );
    }

    #[test]
    fn failed_probes_never_pass_where_failures_are_allowed() {
        // Seed s is absorbed from its own threshold up, thresholds spread
        // over [1, 2): at a target of 0.95 the answer is the threshold of
        // the seed at rank ⌈0.95 n⌉. With n ≥ 20 a point may fail one or
        // more seeds and still be safe, but a probe that fails must not
        // be taken as safe: two failed probes passed at n ≥ 40, and every
        // such point then failed its confirmation on all n seeds.
        for n in [20_u32, 30, 40, 60] {
            let thresholds: Vec<f64> = (0..n)
                .map(|s| 1.0 + f64::from((s * 7919) % n) / f64::from(n))
                .collect();
            let mut sorted = thresholds.clone();
            sorted.sort_by(f64::total_cmp);
            let required = (0.95 * f64::from(n) - 1e-9).ceil() as usize;
            let truth = sorted[required - 1];
            let settings = SearchSettings {
                seeds: n,
                ..SearchSettings::default()
            };
            for guess in [0.3, 1.0, 1.5, 4.0] {
                let s = search(&threshold_judge(thresholds.clone()), 0, guess, &settings);
                let Outcome::Found {
                    factor,
                    unsafe_below,
                    absorbed,
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
                    absorbed as usize >= required && seeds <= n,
                    "{absorbed}/{seeds}"
                );
                // Bounded: at most four factors' worth of seeds (the old
                // rule took 741 runs at n = 40 and 989 at n = 60 here,
                // confirming one provisional answer after another).
                assert!(s.runs <= 4 * n, "n = {n}, guess {guess}: {} runs", s.runs);
            }
        }
    }

    #[test]
    fn wilson_matches_known_values() {
        let (lo, hi) = wilson(5, 10);
        assert!((lo - 0.2366).abs() < 1e-3 && (hi - 0.7634).abs() < 1e-3);
        assert_eq!(wilson(0, 0), (0.0, 1.0));
        let (lo, hi) = wilson(0, 8);
        assert!(lo == 0.0 && (hi - 0.3244).abs() < 1e-3);
    }
}
