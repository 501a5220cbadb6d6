//! The balancer-wide in-flight total that bounded load reads: one word
//! that, like the counters, outlives its pool.
//!
//! A guard ([`InFlight`](super::InFlight)) holds a plain reference to it,
//! as it does to its counter, so the word is `'static` and goes back to a
//! process-wide free list when its pool is dropped. A guard may still
//! change it after that: its counter's compare-and-swap succeeded just
//! before the pool retired the slot, and its total update comes after. So
//! the word carries a 32-bit *generation* above a 32-bit count (two's
//! complement: while updates race the total may dip below zero, and
//! readers clamp it), every update names the generation it expects, and
//! the release bumps it: a late update to a word now serving another pool
//! changes nothing.

#[cfg(not(loom))]
use std::sync::Mutex;

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, Ordering};

/// Total words given back by dropped pools, their generation bumped.
#[cfg(not(loom))]
static FREE_TOTALS: Mutex<Vec<&'static CachePadded<AtomicU64>>> = Mutex::new(Vec::new());

/// A pool's total: its word and the generation it expects there.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TotalRef {
    word: &'static CachePadded<AtomicU64>,
    generation: u32,
}

impl TotalRef {
    /// A word for a new pool, from the free list or new (never freed).
    /// Under loom, always new: loom's atomics belong to one execution.
    pub(crate) fn take() -> Self {
        #[cfg(not(loom))]
        let reused = FREE_TOTALS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        #[cfg(loom)]
        let reused = None;
        let word =
            reused.unwrap_or_else(|| Box::leak(Box::new(CachePadded::new(AtomicU64::new(0)))));
        Self {
            word,
            generation: (word.load(Ordering::Relaxed) >> 32) as u32,
        }
    }

    /// Adds `delta` (wrapping, two's complement) if the word is still this
    /// pool's. Every operation is `Relaxed`: the total publishes no data.
    #[inline]
    pub(crate) fn add(self, delta: u32) {
        let generation = self.generation;
        let _ = self
            .word
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                ((v >> 32) as u32 == generation)
                    .then(|| (v & !0xFFFF_FFFF) | u64::from((v as u32).wrapping_add(delta)))
            });
    }

    /// A word of its own, outside the free list, for unit tests.
    #[cfg(test)]
    pub(crate) fn detached() -> Self {
        Self {
            word: Box::leak(Box::new(CachePadded::new(AtomicU64::new(0)))),
            generation: 0,
        }
    }

    /// Bumps the generation and zeroes the count.
    fn retire(self) {
        let next = u64::from(self.generation.wrapping_add(1)) << 32;
        self.word.store(next, Ordering::Relaxed);
    }

    /// Subtracts `n` (see [`add`](Self::add)).
    #[inline]
    pub(crate) fn sub(self, n: u32) {
        self.add(n.wrapping_neg());
    }

    /// The total, clamped at zero while updates race.
    #[inline]
    pub(crate) fn load(self) -> u64 {
        let v = self.word.load(Ordering::Relaxed);
        if (v >> 32) as u32 == self.generation {
            (v as u32 as i32).max(0) as u64
        } else {
            0
        }
    }

    /// Gives the word back for a later pool: bumps its generation (so
    /// that this pool's late guards change nothing) and zeroes its count.
    pub(crate) fn release(self) {
        self.retire();
        #[cfg(not(loom))]
        FREE_TOTALS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(self.word);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_released_total_ignores_its_old_pool() {
        // A word of the test's own (the free list is shared with every
        // test running beside this one).
        let old = TotalRef {
            word: Box::leak(Box::new(CachePadded::new(AtomicU64::new(0)))),
            generation: 0,
        };
        old.add(3);
        old.sub(5);
        assert_eq!(old.load(), 0, "a dip below zero reads as zero");
        old.add(4);
        assert_eq!(old.load(), 2);
        old.retire();
        // Whoever takes the word next starts at zero; the old pool's late
        // updates change nothing.
        let next = TotalRef {
            word: old.word,
            generation: old.generation.wrapping_add(1),
        };
        old.sub(1);
        old.add(7);
        assert_eq!(next.load(), 0);
        next.add(1);
        assert_eq!(next.load(), 1);
        assert_eq!(old.load(), 0);
    }
}
