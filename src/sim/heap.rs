//! A 4-ary min-heap on (time, insertion sequence): the event queue's far
//! future (see [`queue`](super::queue)).
//!
//! A 4-ary heap is half as deep as a binary one, and the four children of
//! a node share one or two cache lines, so a pop does about half the
//! dependent loads of `std::collections::BinaryHeap`; the (time, sequence)
//! pair is compared as one 128-bit integer, and the smallest child chosen
//! with hinted selects (no branch for the predictor to miss). Push and pop
//! are O(log n). Both move a hole instead of swapping entries; a pop moves
//! it down to a leaf first and then up to where the last entry fits
//! (Floyd's bottom-up trick), which spares a comparison with that entry at
//! every level.

use std::hint::select_unpredictable;

/// One pending event: ordered by `time`, then by `seq` (FIFO at an instant).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry<E> {
    pub(crate) time: u64,
    pub(crate) seq: u64,
    pub(crate) ev: E,
}

/// The order of events, (time, sequence), as one integer.
#[inline]
pub(crate) fn order_key(time: u64, seq: u64) -> u128 {
    (u128::from(time) << 64) | u128::from(seq)
}

impl<E> Entry<E> {
    #[inline]
    pub(crate) fn key(&self) -> u128 {
        order_key(self.time, self.seq)
    }
}

/// A min-heap of [`Entry`]s with four children per node.
#[derive(Clone, Debug)]
pub(crate) struct Heap<E> {
    v: Vec<Entry<E>>,
}

impl<E: Copy> Heap<E> {
    pub(crate) fn new() -> Self {
        Self { v: Vec::new() }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.v.len()
    }

    /// The earliest entry.
    #[inline]
    pub(crate) fn peek(&self) -> Option<&Entry<E>> {
        self.v.first()
    }

    #[inline]
    pub(crate) fn push(&mut self, x: Entry<E>) {
        self.v.push(x);
        self.sift_up(self.v.len() - 1, x);
    }

    /// Fills `hole` with `x`, moving larger ancestors down.
    #[inline]
    fn sift_up(&mut self, mut hole: usize, x: Entry<E>) {
        let key = x.key();
        while hole > 0 {
            let parent = (hole - 1) / 4;
            if key >= self.v[parent].key() {
                break;
            }
            self.v[hole] = self.v[parent];
            hole = parent;
        }
        self.v[hole] = x;
    }

    /// Removes and returns the earliest entry.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Entry<E>> {
        let last = self.v.pop()?;
        if self.v.is_empty() {
            return Some(last);
        }
        let top = self.v[0];
        self.sift_down(last);
        Some(top)
    }

    /// Fills the hole at the root with `x`: first moves the hole down to a
    /// leaf along the smallest children without comparing them with `x`
    /// (`x` was the last leaf, so it nearly always belongs near the
    /// bottom), then moves it up to where `x` fits. Every comparison on
    /// the way down is a select; the only branches are the loop exits.
    #[inline]
    fn sift_down(&mut self, x: Entry<E>) {
        let n = self.v.len();
        let mut hole = 0;
        loop {
            let first = 4 * hole + 1;
            let best = if first + 4 <= n {
                let k = |i: usize| self.v[i].key();
                // A tournament of selects: which child is smallest is a
                // coin flip to the predictor.
                let (a, b) = (first, first + 1);
                let (c, d) = (first + 2, first + 3);
                let (ka, kb, kc, kd) = (k(a), k(b), k(c), k(d));
                let ab = select_unpredictable(kb < ka, b, a);
                let kab = select_unpredictable(kb < ka, kb, ka);
                let cd = select_unpredictable(kd < kc, d, c);
                let kcd = select_unpredictable(kd < kc, kd, kc);
                select_unpredictable(kcd < kab, cd, ab)
            } else if first < n {
                let mut best = first;
                for c in first + 1..n {
                    best = select_unpredictable(self.v[c].key() < self.v[best].key(), c, best);
                }
                best
            } else {
                break;
            };
            self.v[hole] = self.v[best];
            hole = best;
        }
        self.sift_up(hole, x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_then_sequence_order() {
        let mut q = Heap::new();
        let mut seq = 0;
        let mut expected = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            seq += 1;
            let time = x % 50;
            q.push(Entry { time, seq, ev: seq });
            expected.push((time, seq));
            if x.is_multiple_of(3) {
                expected.sort_unstable();
                let e = q.pop().expect("non-empty");
                assert_eq!((e.time, e.seq), expected.remove(0));
            }
        }
        expected.sort_unstable();
        for want in expected {
            let e = q.pop().expect("non-empty");
            assert_eq!((e.time, e.seq), want);
            assert_eq!(e.ev, e.seq);
        }
        assert!(q.pop().is_none());
        assert_eq!(q.len(), 0);
    }
}
