//! The event queue: a timing wheel for the near future over a 4-ary heap
//! for the far future, popping in exact (time, insertion sequence) order.
//!
//! Most events the engine schedules fall within a second of now (service
//! completions, backoffs, accept delays), and every push is at or after
//! the current time. So time is cut into *slots* of 2^shift ns (2^20, about
//! 1 ms, at 12 000 requests a second; see [`EventQueue::with_slot_shift`]):
//!
//! - the *hot* slot, the earliest with anything pending, is a vector
//!   sorted by key, earliest last, so a pop is a `Vec::pop`; a push into
//!   it (or before it, which `Simulation::run_until` allows) is a binary
//!   search and a short insert;
//! - the next 1 023 slots are unsorted vectors, one per slot, with a bitmap
//!   of the non-empty ones; a push there is a `Vec::push`;
//! - anything later goes to a [`Heap`].
//!
//! When the hot slot runs dry, the next non-empty slot (from the bitmap,
//! or the heap's earliest entry if that comes first) becomes hot: its
//! vector is taken, the heap's entries of that slot are moved in, and it
//! is sorted once. Keys are compared as one 128-bit integer (time,
//! sequence), so the order is the heap's, event for event: outputs do not
//! change.
//!
//! Measured with `valgrind --tool=cachegrind` on `cargo bench --bench sim
//! -- throughput quick` (6.3 M attempts): against the 4-ary heap alone,
//! the whole run fell from 2 068 to 1 883 instructions per attempt; event
//! selection (`next_event`, pushes and the slot sorts together) from about
//! 490 to 340.

use super::heap::Heap;
pub(crate) use super::heap::{Entry, order_key};

/// The narrowest and widest slots [`EventQueue::with_slot_shift`] takes.
pub(crate) const SHIFTS: std::ops::RangeInclusive<u32> = 14..=30;
/// Slots on the wheel, the hot one's included.
const SLOTS: usize = 1024;
const WORDS: usize = SLOTS / 64;

/// A priority queue of [`Entry`]s for pushes at or after the last popped
/// time (see the module documentation).
#[derive(Clone, Debug)]
pub(crate) struct EventQueue<E> {
    /// The hot slot's entries, sorted by key, earliest last.
    hot: Vec<Entry<E>>,
    /// The absolute number of the hot slot: the hot vector holds every
    /// entry of this slot and of earlier ones.
    hot_slot: u64,
    /// Slot `s` in `hot_slot + 1 .. hot_slot + SLOTS` at `s % SLOTS`.
    wheel: Box<[Vec<Entry<E>>]>,
    /// Which wheel vectors are non-empty.
    occupied: [u64; WORDS],
    /// Entries beyond the wheel when pushed.
    far: Heap<E>,
    /// Emptied vectors, with their capacity, for slots about to fill: only
    /// the slots with something pending hold memory.
    spare: Vec<Vec<Entry<E>>>,
    len: usize,
    /// log2 of a slot's width in ns.
    shift: u32,
}

impl<E: Copy> EventQueue<E> {
    /// A queue whose slots are 2^`shift` ns wide (clamped to [`SHIFTS`]).
    /// The order of pops does not depend on it, only the cost: a slot is
    /// sorted once when it becomes hot, and a push into the hot slot is a
    /// sorted insert, so slots should hold a few dozen events. Sparse
    /// events in narrow slots pay a slot change (a bitmap scan, a vector
    /// swap) nearly per event: at the incident's ten-fold size (about
    /// 4 000 events a simulated second) 2^24 ns slots run 7 % faster
    /// than 2^20 ns ones, with 5 % fewer instructions (measured,
    /// alternating).
    pub(crate) fn with_slot_shift(shift: u32) -> Self {
        Self {
            hot: Vec::new(),
            hot_slot: 0,
            wheel: (0..SLOTS).map(|_| Vec::new()).collect(),
            occupied: [0; WORDS],
            far: Heap::new(),
            spare: Vec::new(),
            len: 0,
            shift: shift.clamp(*SHIFTS.start(), *SHIFTS.end()),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn push(&mut self, x: Entry<E>) {
        self.len += 1;
        let slot = x.time >> self.shift;
        if slot <= self.hot_slot {
            // Into the sorted hot slot: after every larger key. Pushes
            // carry the largest sequence yet, so a push at the current
            // instant lands near the end: search from there.
            let key = x.key();
            let at = self.hot.partition_point(|e| e.key() > key);
            self.hot.insert(at, x);
            return;
        }
        if slot - self.hot_slot < SLOTS as u64 {
            let i = (slot % SLOTS as u64) as usize;
            let slot = &mut self.wheel[i];
            if slot.capacity() == 0
                && let Some(v) = self.spare.pop()
            {
                *slot = v;
            }
            slot.push(x);
            self.occupied[i / 64] |= 1 << (i % 64);
        } else {
            self.far.push(x);
        }
    }

    /// The earliest entry's key, `u128::MAX` if none.
    #[inline]
    pub(crate) fn peek_key(&mut self) -> u128 {
        if self.hot.is_empty() && !self.refill() {
            return u128::MAX;
        }
        self.hot.last().map_or(u128::MAX, Entry::key)
    }

    /// Removes and returns the earliest entry.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Entry<E>> {
        if self.hot.is_empty() && !self.refill() {
            return None;
        }
        self.len -= 1;
        self.hot.pop()
    }

    /// The first occupied wheel slot after the hot one, as an absolute
    /// slot number.
    fn next_occupied(&self) -> Option<u64> {
        let start = ((self.hot_slot + 1) % SLOTS as u64) as usize;
        for step in 0..=WORDS {
            let w = (start / 64 + step) % WORDS;
            let mut bits = self.occupied[w];
            if step == 0 {
                bits &= !0u64 << (start % 64);
            } else if step == WORDS {
                bits &= !(!0u64 << (start % 64));
            }
            if bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                let ahead = (i + SLOTS - start) % SLOTS;
                return Some(self.hot_slot + 1 + ahead as u64);
            }
        }
        None
    }

    /// Makes the next non-empty slot hot; `false` if nothing is pending.
    #[cold]
    #[inline(never)]
    fn refill(&mut self) -> bool {
        let wheel = self.next_occupied();
        let far = self.far.peek().map(|e| e.time >> self.shift);
        let slot = match (wheel, far) {
            (Some(w), Some(f)) => w.min(f),
            (Some(s), None) | (None, Some(s)) => s,
            (None, None) => return false,
        };
        self.hot_slot = slot;
        if wheel == Some(slot) {
            let i = (slot % SLOTS as u64) as usize;
            let filled = std::mem::take(&mut self.wheel[i]);
            let emptied = std::mem::replace(&mut self.hot, filled);
            self.spare.push(emptied);
            self.occupied[i / 64] &= !(1 << (i % 64));
        }
        while let Some(e) = self.far.peek()
            && (e.time >> self.shift) == slot
        {
            let e = self.far.pop().expect("peeked");
            self.hot.push(e);
        }
        self.hot
            .sort_unstable_by_key(|e| std::cmp::Reverse(e.key()));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The slot width the engine picks at 12 000 requests a second.
    const SHIFT: u32 = 20;

    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// Random pushes at or after the last pop (and, like `run_until`,
    /// sometimes before the next pending entry but after the last pop),
    /// over every horizon: the hot slot, the wheel, the far heap.
    #[test]
    fn pops_in_the_order_of_a_sorted_set() {
        for (seed, spread, shift) in [
            (1u64, 1u64 << 18, SHIFT),
            (2, 1 << 22, SHIFT),
            (3, 1 << 31, SHIFT),
            (4, 50, SHIFT),
            (5, 1 << 22, 14),
            (6, 1 << 26, 24),
            (7, 1 << 34, 30),
            (8, 1 << 18, 24),
        ] {
            let mut q = EventQueue::with_slot_shift(shift);
            let mut reference = BTreeSet::new();
            let mut x = 0x2545_f491_4f6c_dd1d ^ seed;
            let mut now = 0u64;
            let mut seq = 0u64;
            for _ in 0..20_000 {
                let r = xorshift(&mut x);
                if r % 5 < 3 {
                    seq += 1;
                    let far = r.is_multiple_of(97);
                    let dt = if far { r >> 20 } else { (r >> 8) % spread };
                    let time = now.saturating_add(dt);
                    q.push(Entry { time, seq, ev: seq });
                    reference.insert((time, seq));
                } else if let Some(&(time, seq_want)) = reference.first() {
                    assert_eq!(q.peek_key(), order_key(time, seq_want));
                    let e = q.pop().expect("non-empty");
                    assert_eq!((e.time, e.seq, e.ev), (time, seq_want, seq_want));
                    reference.pop_first();
                    now = time;
                    if r.is_multiple_of(7) {
                        // A host's clock moved forward with nothing popped.
                        now = now
                            .saturating_add((r >> 12) % spread)
                            .min(reference.first().map_or(u64::MAX, |f| f.0));
                    }
                } else {
                    assert_eq!(q.peek_key(), u128::MAX);
                    assert!(q.pop().is_none());
                }
                assert_eq!(q.len(), reference.len());
            }
            while let Some((time, seq_want)) = reference.pop_first() {
                let e = q.pop().expect("non-empty");
                assert_eq!((e.time, e.seq), (time, seq_want));
            }
            assert!(q.pop().is_none());
        }
    }

    /// Entries of equal time pushed while their slot was beyond the wheel
    /// (into the heap), then while it was on the wheel, come out in
    /// sequence order.
    #[test]
    fn equal_times_keep_their_sequence_across_heap_and_wheel() {
        let width = 1u64 << SHIFT;
        let far = (SLOTS as u64 + 10) * width;
        let mut q = EventQueue::with_slot_shift(SHIFT);
        let mut seq = 0;
        let mut push = |q: &mut EventQueue<u64>, time: u64| {
            seq += 1;
            q.push(Entry { time, seq, ev: seq });
        };
        // Into the heap: the slot is beyond the wheel.
        for t in [far + 7, far + 3, far + 7, far + 3, far + 7] {
            push(&mut q, t);
        }
        // Bring the slot onto the wheel, then push the same times again.
        push(&mut q, 20 * width);
        assert_eq!(q.pop().map(|e| e.time), Some(20 * width));
        for t in [far + 7, far + 3, far + 7, far] {
            push(&mut q, t);
        }
        let popped: Vec<(u64, u64)> = std::iter::from_fn(|| q.pop())
            .map(|e| (e.time - far, e.seq))
            .collect();
        assert_eq!(
            popped,
            [
                (0, 10),
                (3, 2),
                (3, 4),
                (3, 8),
                (7, 1),
                (7, 3),
                (7, 5),
                (7, 7),
                (7, 9)
            ]
        );
    }

    #[test]
    fn the_end_of_time_is_a_slot_like_any_other() {
        let mut q = EventQueue::with_slot_shift(SHIFT);
        q.push(Entry {
            time: u64::MAX,
            seq: 1,
            ev: 1,
        });
        q.push(Entry {
            time: u64::MAX - 1,
            seq: 2,
            ev: 2,
        });
        q.push(Entry {
            time: 5,
            seq: 3,
            ev: 3,
        });
        assert_eq!(q.pop().map(|e| e.ev), Some(3));
        assert_eq!(q.pop().map(|e| e.ev), Some(2));
        q.push(Entry {
            time: u64::MAX,
            seq: 4,
            ev: 4,
        });
        assert_eq!(q.pop().map(|e| e.ev), Some(1));
        assert_eq!(q.pop().map(|e| e.ev), Some(4));
        assert!(q.pop().is_none());
    }
}
