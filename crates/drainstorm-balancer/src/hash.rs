//! Hash mixing and range reduction shared by the balancers.
//!
//! Keys are `u64`s chosen by the caller (a request's flow hash, a user id, a
//! mailbox). They are mixed before use so that sequential keys spread over
//! the whole ring or table: the mixer is the 64-bit finaliser of
//! SplitMix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number
//! generators", OOPSLA 2014), a bijection with full avalanche.

/// Mixes a 64-bit value into a well-distributed 64-bit hash (a bijection).
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes a byte string into a key for [`Balancer::pick`](super::Balancer::pick)
/// (64-bit FNV-1a followed by [`mix64`]); stable across platforms and releases.
///
/// ```
/// use drainstorm_balancer::key_of;
/// assert_eq!(key_of(b"alice@example.com"), key_of(b"alice@example.com"));
/// assert_ne!(key_of(b"alice"), key_of(b"bob"));
/// ```
pub fn key_of(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix64(h)
}

/// Maps a uniformly distributed `x` onto `0..n` without a division
/// (Lemire, "Fast random integer generation in an interval", 2019).
#[inline]
pub(crate) fn reduce(x: u64, n: usize) -> usize {
    ((u128::from(x) * n as u128) >> 64) as usize
}

/// Advances a wyrand state and returns the next pseudorandom output
/// (Wang Yi's wyrand, the generator of Go's runtime and of `fastrand`: one
/// 64×64→128 multiply; passes BigCrush and PractRand).
#[inline]
pub(crate) fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0xa076_1d64_78bd_642f);
    let t = u128::from(*state) * u128::from(*state ^ 0xe703_7ed1_a0b4_28db);
    (t as u64) ^ (t >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduce_stays_in_range() {
        for n in [1usize, 2, 3, 7, 65537, usize::MAX >> 1] {
            for x in [0u64, 1, u64::MAX / 2, u64::MAX] {
                assert!(reduce(x, n) < n);
            }
        }
    }

    #[test]
    fn mix_is_not_identity_and_spreads_neighbours() {
        let a = mix64(1);
        let b = mix64(2);
        assert_ne!(a, 1);
        assert!((a ^ b).count_ones() > 16);
    }
}
