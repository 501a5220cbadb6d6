//! A single owner's in-flight counts ([`LocalCounts`], what a
//! [`LocalHandle`](super::LocalHandle) keeps), with an index by count that
//! makes the least-connections pick O(1) when the active weights are
//! equal.

use super::members::{Counts, Members, OwnedCounter};

/// The fewest active backends for which the index is kept.
const MIN_INDEXED: usize = 8;

/// Counts at or above this many in flight on one backend turn the index
/// off (it would hold a set per count): the scan takes over.
const MAX_LEVELS: usize = 1 << 16;

/// A single owner's in-flight counts: plain integers by slot, and their
/// total over current members.
#[derive(Clone, Debug, Default)]
pub struct LocalCounts {
    words: Vec<u32>,
    /// The generation of the slot each count belongs to.
    generations: Vec<u32>,
    total: u64,
    /// The active slots by count, while the active weights are equal.
    levels: Option<Levels>,
}

/// The active slots grouped by count: the bitset of count `c` is
/// `bits[c * width..][..width]`, `sizes[c]` its population, `min` the
/// lowest non-empty count. A start or finish moves one slot to the next or
/// previous set; `min` follows, since counts move by one (a start that
/// empties the lowest set put its slot in the next one).
#[derive(Clone, Debug, Default)]
struct Levels {
    /// Per slot: an active member's (tracked in the sets).
    tracked: Vec<bool>,
    bits: Vec<u64>,
    sizes: Vec<u32>,
    min: usize,
    /// Words per bitset.
    width: usize,
}

impl Levels {
    fn new(span: usize, tracked: Vec<bool>, words: &[u32]) -> Option<Self> {
        let mut levels = Self {
            tracked,
            bits: Vec::new(),
            sizes: Vec::new(),
            min: usize::MAX,
            width: span.div_ceil(64),
        };
        for (slot, &count) in words.iter().enumerate().take(span) {
            if levels.tracked[slot] {
                let c = count as usize;
                if c >= MAX_LEVELS {
                    return None;
                }
                levels.insert(slot, c);
                levels.min = levels.min.min(c);
            }
        }
        (levels.min != usize::MAX).then_some(levels)
    }

    #[inline]
    fn insert(&mut self, slot: usize, c: usize) {
        if c >= self.sizes.len() {
            self.grow(c);
        }
        self.bits[c * self.width + slot / 64] |= 1 << (slot % 64);
        self.sizes[c] += 1;
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, c: usize) {
        let levels = (c + 1).max(2 * self.sizes.len());
        self.sizes.resize(levels, 0);
        self.bits.resize(levels * self.width, 0);
    }

    /// Moves `slot` from count `from` to `from + 1` (`up`) or `from - 1`.
    /// `false` if the index had to be given up.
    #[inline]
    fn shift(&mut self, slot: usize, from: usize, up: bool) -> bool {
        if !self.tracked[slot] {
            return true;
        }
        let to = if up { from + 1 } else { from - 1 };
        if to >= MAX_LEVELS {
            return false;
        }
        self.bits[from * self.width + slot / 64] &= !(1 << (slot % 64));
        self.sizes[from] -= 1;
        self.insert(slot, to);
        if up {
            if from == self.min && self.sizes[from] == 0 {
                self.min = to;
            }
        } else {
            self.min = self.min.min(to);
        }
        true
    }

    /// The first slot at or after `start` (wrapping) among the least
    /// loaded.
    #[inline]
    fn least_from(&self, start: usize) -> usize {
        let set = &self.bits[self.min * self.width..][..self.width];
        let (w, b) = (start / 64, start % 64);
        let first = set[w] & (!0u64 << b);
        if first != 0 {
            return w * 64 + first.trailing_zeros() as usize;
        }
        for (k, &bits) in set
            .iter()
            .enumerate()
            .skip(w + 1)
            .chain(set.iter().enumerate().take(w + 1))
        {
            if bits != 0 {
                return k * 64 + bits.trailing_zeros() as usize;
            }
        }
        unreachable!("the lowest set is not empty")
    }
}

impl LocalCounts {
    /// Lays the counts out for `members`: a member whose slot and
    /// generation are unchanged keeps its count (ids keep their slots
    /// across updates); a new member starts at 0; a member gone leaves the
    /// total, as a retired shared slot does.
    pub(crate) fn lay_out(&mut self, members: &Members) {
        let span = members.slot_span();
        let mut words = vec![0; span];
        let mut generations = vec![u32::MAX; span];
        let mut total = 0;
        for slot in members.slots() {
            let i = slot.index as usize;
            if self.generations.get(i) == Some(&slot.generation) {
                words[i] = self.words[i];
                total += u64::from(words[i]);
            }
            generations[i] = slot.generation;
        }
        let active = members.active();
        // Below `MIN_INDEXED` active backends a scan costs less than
        // keeping the index (cachegrind on the sim bench: its 4-site router
        // paid more to keep the index than its picks saved).
        let equal = active.len() >= MIN_INDEXED
            && active.first().is_some_and(|&f| {
                active
                    .iter()
                    .all(|&i| members.weight(i as usize) == members.weight(f as usize))
            });
        let levels = equal.then(|| {
            let mut tracked = vec![false; span];
            for &i in active {
                tracked[members.slot_index(i as usize)] = true;
            }
            Levels::new(span, tracked, &words)
        });
        *self = Self {
            words,
            generations,
            total,
            levels: levels.flatten(),
        };
    }

    /// Counts a request started on member `index`; `false` at 2^32 − 1.
    #[inline]
    pub(crate) fn start(&mut self, members: &Members, index: usize) -> bool {
        let slot = members.slot_index(index);
        let w = &mut self.words[slot];
        if *w == u32::MAX {
            return false;
        }
        *w += 1;
        self.total += 1;
        let from = *w as usize - 1;
        if let Some(levels) = &mut self.levels
            && !levels.shift(slot, from, true)
        {
            self.levels = None;
        }
        true
    }

    /// Counts a request finished on member `index`; `false` at 0.
    #[inline]
    pub(crate) fn finish(&mut self, members: &Members, index: usize) -> bool {
        let slot = members.slot_index(index);
        let w = &mut self.words[slot];
        if *w == 0 {
            return false;
        }
        *w -= 1;
        self.total -= 1;
        let from = *w as usize + 1;
        if let Some(levels) = &mut self.levels {
            levels.shift(slot, from, false);
        }
        true
    }
}

impl Counts for LocalCounts {
    type Word = u32;

    #[inline]
    fn count(word: &u32) -> u32 {
        *word
    }

    #[inline]
    fn words(&self, lo: usize, hi: usize) -> impl Iterator<Item = (usize, &[u32])> {
        std::iter::once((lo, &self.words[lo..hi]))
    }

    #[inline]
    fn load(&self, members: &Members, index: usize) -> u64 {
        u64::from(self.words[members.slot_index(index)])
    }

    #[inline]
    fn load_held(&self, _: &OwnedCounter, slot: usize) -> u32 {
        self.words[slot]
    }

    #[inline]
    fn total(&self, _: &Members) -> u64 {
        self.total
    }

    #[inline]
    fn least_from(&self, start: usize) -> Option<usize> {
        self.levels.as_ref().map(|l| l.least_from(start))
    }
}
