//! Uniform draws from the caller's generator.

use rand::RngCore;

/// A uniform `f64` in `[0, 1)` with 53 random bits.
#[inline]
pub(crate) fn unit(rng: &mut (impl RngCore + ?Sized)) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform integer in `[lo, hi]` (as nanoseconds), never outside.
#[inline]
pub(crate) fn between(lo: u64, hi: u64, rng: &mut (impl RngCore + ?Sized)) -> u64 {
    if hi <= lo {
        return lo;
    }
    let x = lo as f64 + (hi - lo) as f64 * unit(rng);
    (x as u64).clamp(lo, hi)
}
