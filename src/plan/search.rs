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

use super::confidence::lower_bound;
use super::found::{
    Check, CurvePoint, Outcome, Probe, Search, SearchSettings, Trial, exact_interval,
};

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
mod tests;
