//! Seeded randomness, one stream per purpose.
//!
//! Draws that belong to a request (its service times, the failure coin of
//! each attempt, its backoff jitter) are *counter-based*: a hash of (stream
//! seed, request id, attempt), not the next value of a shared generator.
//! Two runs that differ only in their balancer therefore give the same
//! request the same service demand wherever it lands: common random numbers
//! in the strongest form.

use rand::RngCore;

/// The purposes that get a stream each.
#[derive(Clone, Copy, Debug)]
#[repr(u64)]
pub(crate) enum Stream {
    Arrivals = 1,
    Service = 2,
    Failure = 3,
    Backoff = 4,
    Balancer = 5,
    Think = 6,
    Keys = 7,
    Probe = 8,
    Router = 9,
    Instance = 10,
    /// Each client instance's adaptive concurrency limit (Vegas's probes).
    Limits = 11,
}

/// SplitMix64's finaliser: a bijection of `u64` with full avalanche.
#[inline]
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of `stream` in the run seeded `seed`.
pub(crate) fn stream_seed(seed: u64, stream: Stream) -> u64 {
    mix(seed ^ mix(stream as u64 ^ 0x9e37_79b9_7f4a_7c15))
}

/// A hash of (stream seed, a, b).
#[inline]
pub(crate) fn draw(stream: u64, a: u64, b: u64) -> u64 {
    mix(stream ^ mix(a.wrapping_add(mix(b ^ 0x632b_e59b_d9b4_e019))))
}

/// Where a client group's index starts in the `a` of [`draw`]: draws that
/// belong to something of a group (a request, a closed-loop client, a
/// window of arrivals) carry the group above this bit and their own index
/// below it, so two groups never share a draw (2^40 per group).
pub(crate) const GROUP_SHIFT: u32 = 40;

/// The `a` of a draw for item `index` of client group `group`.
#[inline]
pub(crate) fn of_group(group: u64, index: u64) -> u64 {
    (group << GROUP_SHIFT) ^ index
}

/// A uniform in (0, 1] from 53 random bits: never 0, so `ln` is finite.
#[inline]
pub(crate) fn unit_open(bits: u64) -> f64 {
    ((bits >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A small generator for policies that want an `RngCore`: SplitMix64
/// seeded from a counter-based draw.
pub(crate) struct SplitMix(pub(crate) u64);

/// A [`SplitMix`] seeded with `draw(stream, a, b)` when it is first read.
/// Most policy calls (a success, an admission without a throttle) read no
/// randomness; they skip the hash. The values are those of
/// `SplitMix(draw(stream, a, b))`.
pub(crate) struct LazySplitMix {
    stream: u64,
    a: u64,
    b: u64,
    state: Option<SplitMix>,
}

impl LazySplitMix {
    #[inline]
    pub(crate) fn new(stream: u64, a: u64, b: u64) -> Self {
        Self {
            stream,
            a,
            b,
            state: None,
        }
    }

    #[inline]
    fn inner(&mut self) -> &mut SplitMix {
        self.state
            .get_or_insert_with(|| SplitMix(draw(self.stream, self.a, self.b)))
    }
}

impl RngCore for LazySplitMix {
    fn next_u32(&mut self) -> u32 {
        self.inner().next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.inner().next_u64()
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.inner().fill_bytes(dst);
    }
}

impl RngCore for SplitMix {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lazy_generator_yields_the_eager_ones_values() {
        for (a, b) in [(0, 0), (7, 1), (u64::MAX, 1 << 32 | 3)] {
            let mut eager = SplitMix(draw(0x1234, a, b));
            let mut lazy = LazySplitMix::new(0x1234, a, b);
            for _ in 0..4 {
                assert_eq!(lazy.next_u64(), eager.next_u64());
            }
            assert_eq!(lazy.next_u32(), eager.next_u32());
            let (mut x, mut y) = ([0u8; 13], [0u8; 13]);
            lazy.fill_bytes(&mut x);
            eager.fill_bytes(&mut y);
            assert_eq!(x, y);
        }
    }
}
