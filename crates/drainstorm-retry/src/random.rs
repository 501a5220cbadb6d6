//! Uniform draws from the caller's generator.

use rand::RngCore;

/// A uniform `f64` in `[0, 1)` with 53 random bits.
#[inline]
pub(crate) fn unit(rng: &mut (impl RngCore + ?Sized)) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform integer in `[lo, hi]` (nanoseconds), by multiply-shift range
/// reduction (Lemire, "Fast random integer generation in an interval",
/// 2019) without its rejection step: the bias is below `(hi − lo + 1)/2^64`,
/// under 10⁻⁹ for any delay shorter than 500 years.
#[inline]
pub(crate) fn between(lo: u64, hi: u64, rng: &mut (impl RngCore + ?Sized)) -> u64 {
    if hi <= lo {
        return lo;
    }
    let span = u128::from(hi - lo) + 1;
    lo + ((u128::from(rng.next_u64()) * span) >> 64) as u64
}
