//! What a number of absorbed seeds says about P(absorbed): the exact
//! (Clopper–Pearson) one-sided lower bound, and how many seeds a claim
//! needs.
//!
//! A plan's claim is "P(absorbed) ≥ *p* with confidence *c*": the lower
//! one-sided bound of the binomial proportion, computed from seeds that
//! the search never used, is at least *p*. With no failure allowed, the
//! bound for *n* of *n* is (1 − *c*)^(1/*n*), so P ≥ 0.95 at 95 % needs 59
//! seeds ("the rule of three" is its approximation, 3/*n*); 8 of 8 shows
//! only P ≥ 0.69.
//!
//! Hand-written rather than taken from `statrs`, whose beta function
//! would bring `nalgebra` and a score of crates into the library for this
//! one function: the bound is the *p* at which the binomial upper tail
//! P(X ≥ *k* | *n*, *p*) equals 1 − *c*, found by bisection on a tail
//! summed in logarithms (exact to 1e-12 for *n* up to 10⁵).

/// ln(n!) for every n up to `max`.
fn ln_factorials(max: u32) -> Vec<f64> {
    let mut out = Vec::with_capacity(max as usize + 1);
    let mut acc = 0.0;
    out.push(0.0);
    for i in 1..=max {
        acc += f64::from(i).ln();
        out.push(acc);
    }
    out
}

/// P(X ≥ k) for X ~ Binomial(n, p).
fn upper_tail(k: u32, n: u32, p: f64, lnf: &[f64]) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let (lp, lq) = (p.ln(), (-p).ln_1p());
    (k..=n)
        .map(|i| {
            let ln_choose = lnf[n as usize] - lnf[i as usize] - lnf[(n - i) as usize];
            (ln_choose + f64::from(i) * lp + f64::from(n - i) * lq).exp()
        })
        .sum::<f64>()
        .min(1.0)
}

/// The exact one-sided lower bound on a proportion at `confidence`, from
/// `k` successes in `n` trials: the smallest P(absorbed) that is not
/// rejected at level 1 − `confidence` (0 when `k` is 0).
///
/// ```
/// use drainstorm::plan::lower_bound;
///
/// // 59 of 59: P ≥ 0.95 with 95 % confidence; 8 of 8 shows only 0.69.
/// assert!(lower_bound(59, 59, 0.95) >= 0.95);
/// assert!(lower_bound(58, 58, 0.95) < 0.95);
/// assert!((lower_bound(8, 8, 0.95) - 0.05f64.powf(1.0 / 8.0)).abs() < 1e-9);
/// ```
pub fn lower_bound(k: u32, n: u32, confidence: f64) -> f64 {
    if k == 0 || n == 0 {
        return 0.0;
    }
    let k = k.min(n);
    let alpha = 1.0 - confidence;
    if k == n {
        return alpha.powf(1.0 / f64::from(n));
    }
    let lnf = ln_factorials(n);
    // The tail grows with p: bisect for tail(p) = alpha.
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if upper_tail(k, n, mid, &lnf) < alpha {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-13 {
            break;
        }
    }
    lo
}

/// The least absorbed seeds of `n` whose lower bound reaches `target` at
/// `confidence`, or `None` if even `n` of `n` does not.
///
/// ```
/// use drainstorm::plan::required_absorbed;
///
/// assert_eq!(required_absorbed(59, 0.95, 0.95), Some(59));
/// assert_eq!(required_absorbed(8, 0.95, 0.95), None);
/// assert_eq!(required_absorbed(93, 0.95, 0.95), Some(92)); // one failure allowed
/// ```
pub fn required_absorbed(n: u32, target: f64, confidence: f64) -> Option<u32> {
    if lower_bound(n, n, confidence) < target {
        return None;
    }
    // The bound grows with k: bisect for the least k that reaches it.
    let (mut lo, mut hi) = (0u32, n);
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        if lower_bound(mid, n, confidence) >= target {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// The fewest seeds with which `failures` failed seeds still let the
/// bound reach `target` at `confidence` (at most 100 000).
///
/// ```
/// use drainstorm::plan::seeds_needed;
///
/// assert_eq!(seeds_needed(0.95, 0.95, 0), 59);
/// assert_eq!(seeds_needed(0.9, 0.95, 0), 29);
/// assert_eq!(seeds_needed(0.95, 0.95, 1), 93);
/// ```
pub fn seeds_needed(target: f64, confidence: f64, failures: u32) -> u32 {
    (failures + 1..=100_000)
        .find(|&n| lower_bound(n - failures, n, confidence) >= target)
        .unwrap_or(100_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_matches_published_clopper_pearson_values() {
        // One-sided 95 % lower limits (R: binom.test(k, n, alt = "greater")).
        for (k, n, expected) in [
            (9, 10, 0.6058),
            (18, 20, 0.7174),
            (95, 100, 0.8975),
            (1, 10, 0.0051),
            (5, 10, 0.2224),
        ] {
            let got = lower_bound(k, n, 0.95);
            assert!(
                (got - expected).abs() < 1e-3,
                "{k}/{n}: {got}, expected {expected}"
            );
        }
        assert_eq!(lower_bound(0, 10, 0.95), 0.0);
    }

    #[test]
    fn the_bound_is_where_the_tail_says_it_is() {
        // At the bound, P(X ≥ k) is 1 − confidence; just below, less.
        let lnf = ln_factorials(200);
        for (k, n) in [(150, 200), (199, 200), (3, 7), (40, 41)] {
            let l = lower_bound(k, n, 0.9);
            assert!((upper_tail(k, n, l, &lnf) - 0.1).abs() < 1e-9, "{k}/{n}");
            assert!(upper_tail(k, n, l - 1e-6, &lnf) < 0.1);
        }
    }

    #[test]
    fn more_seeds_allow_more_failures_and_never_less() {
        let mut last = 0;
        for f in 0..6 {
            let n = seeds_needed(0.95, 0.95, f);
            assert!(n > last, "{f} failures: {n} seeds");
            assert_eq!(required_absorbed(n, 0.95, 0.95), Some(n - f));
            // One seed fewer allows fewer failures.
            let allowed = required_absorbed(n - 1, 0.95, 0.95).map(|k| n - 1 - k);
            assert!(allowed.is_none_or(|a| a < f), "{f}: {allowed:?}");
            last = n;
        }
    }
}
