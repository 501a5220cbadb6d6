//! The validated backend list inside a snapshot, and the in-flight counters
//! that outlive snapshots.
//!
//! # Counters
//!
//! A pool keeps its in-flight counters in a *slab*: chunks of contiguous
//! `AtomicU64` words that never move, shared by every snapshot. A member
//! owns one word (its *slot*) for as long as its id stays in the set, so
//! counts survive updates; a pool built over `n` backends gives them slots
//! `0..n` in order, which lets the least-connections scan read counters as
//! one contiguous array (about 1 ns per backend here, where one heap
//! allocation per counter cost 2–3 ns).
//!
//! A word holds a 32-bit *generation* above a 32-bit count, so a scan
//! reads a count as the word's low half, with no mask or cap (a count
//! saturates at 2^32 − 1: a start beyond it is refused). When a member
//! leaves, its slot is *retired*: the generation is bumped and the count
//! reset in one swap, and the slot may be handed to a later member. Every
//! start and finish names the generation it expects and changes the word
//! only if it still matches (a compare-and-swap loop), so callers still
//! holding an older snapshot or an [`InFlight`](super::InFlight) guard can
//! never touch the new owner's count. A stale caller could only be fooled
//! if the same slot were reused 2^32 times while it slept.
//!
//! # Chunks outlive pools
//!
//! Chunks are `'static`: a guard holds a plain reference to its word, so
//! `begin` and the guard's drop cost a counter update each and no
//! reference-count traffic on a line every thread shares (an `Arc<Chunk>`
//! per guard cost `begin` + drop 1.8× a handle's start + finish). When a
//! pool is dropped, its slab retires every slot it handed out (so a guard
//! that outlives the pool changes nothing) and gives its chunks to a
//! process-wide free list that later pools take from first. Memory is so
//! bounded by the most counters live at once in the process, 2 KiB per
//! 256, never returned to the allocator. The free list is a mutex taken
//! only when a pool grows its slab or is dropped, never on a pick path.

use std::collections::HashMap;
#[cfg(not(loom))]
use std::sync::Mutex;

use super::total::TotalRef;
use super::{Backend, BackendId, BalancerError, MAX_BACKENDS};
use crate::sync::{AtomicU64, Ordering};

/// Counters per chunk (small under loom, which tracks every atomic).
#[cfg(not(loom))]
const CHUNK: usize = 256;
#[cfg(loom)]
const CHUNK: usize = 4;

const COUNT_BITS: u32 = 32;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const GENERATION_MASK: u32 = ((1u64 << (64 - COUNT_BITS)) - 1) as u32;

/// One chunk of the slab.
#[derive(Debug)]
pub struct Chunk {
    words: [AtomicU64; CHUNK],
}

/// Chunks given back by dropped pools, every slot retired.
#[cfg(not(loom))]
static FREE_CHUNKS: Mutex<Vec<&'static Chunk>> = Mutex::new(Vec::new());

impl Chunk {
    /// A chunk from the free list, or a new one (leaked: chunks are never
    /// freed, see the module documentation). Under loom, always a new one:
    /// loom's atomics belong to one execution of a model.
    fn take() -> &'static Chunk {
        #[cfg(not(loom))]
        if let Some(chunk) = FREE_CHUNKS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
        {
            return chunk;
        }
        Box::leak(Box::new(Self {
            words: std::array::from_fn(|_| AtomicU64::new(0)),
        }))
    }
}

/// Where a member's counter lives, and the generation it expects there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SlotId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// A counter word together with the generation its owner expects.
///
/// Orderings: counts are statistics that publish no other data, so every
/// operation is `Relaxed`; the word's modification order alone decides
/// whether an operation came before or after a retirement, and that is
/// what keeps the balancer-wide total exact (see [`Slab::retire`]).
#[derive(Clone, Copy)]
pub(crate) struct Counter<'a> {
    word: &'a AtomicU64,
    generation: u32,
}

impl Counter<'_> {
    /// The number of requests in flight.
    #[inline]
    pub(crate) fn load(self) -> u64 {
        let v = self.word.load(Ordering::Relaxed);
        if (v >> COUNT_BITS) as u32 == self.generation {
            v & COUNT_MASK
        } else {
            0
        }
    }

    /// Returns `false` (and changes nothing) if the slot has changed hands
    /// or the count is saturated at 2^32 − 1.
    #[inline]
    pub(crate) fn start(self, total: Total) -> bool {
        let generation = self.generation;
        let ok = self
            .word
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                ((v >> COUNT_BITS) as u32 == generation && v & COUNT_MASK != COUNT_MASK)
                    .then_some(v + 1)
            })
            .is_ok();
        if ok && let Some(total) = total {
            total.add(1);
        }
        ok
    }

    /// Returns `false` (and changes nothing) if the count is already zero
    /// or the slot has changed hands.
    #[inline]
    pub(crate) fn finish(self, total: Total) -> bool {
        let generation = self.generation;
        let ok = self
            .word
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                ((v >> COUNT_BITS) as u32 == generation && v & COUNT_MASK != 0).then(|| v - 1)
            })
            .is_ok();
        if ok && let Some(total) = total {
            total.sub(1);
        }
        ok
    }
}

/// A counter that outlives any snapshot and pool (chunks are `'static`):
/// what an [`InFlight`](super::InFlight) guard holds.
#[derive(Clone, Copy, Debug)]
pub struct OwnedCounter {
    word: &'static AtomicU64,
    generation: u32,
}

impl OwnedCounter {
    #[inline]
    pub(crate) fn get(&self) -> Counter<'static> {
        Counter {
            word: self.word,
            generation: self.generation,
        }
    }

    /// The raw word, for readers that want the count whoever owns the slot
    /// now (see [`count_of`]).
    #[inline]
    pub(crate) fn word(&self) -> &AtomicU64 {
        self.word
    }
}

/// Allocation state of a pool's slab; lives under the update lock.
#[derive(Debug, Default)]
pub(crate) struct Slab {
    chunks: Vec<&'static Chunk>,
    /// Retired slots, reusable with their current generation.
    free: Vec<u32>,
    /// Slots handed out so far (`free` included).
    high: u32,
}

impl Slab {
    fn word(&self, index: u32) -> &AtomicU64 {
        &self.chunks[index as usize / CHUNK].words[index as usize % CHUNK]
    }

    /// A slot for a new member: the lowest-numbered free one, else the next.
    fn take(&mut self) -> SlotId {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                if self.high as usize == self.chunks.len() * CHUNK {
                    self.chunks.push(Chunk::take());
                }
                self.high += 1;
                self.high - 1
            }
        };
        let generation = (self.word(index).load(Ordering::Relaxed) >> COUNT_BITS) as u32;
        SlotId { index, generation }
    }

    /// Retires a slot whose member left: bumps its generation, takes its
    /// count out of `total` and makes it reusable.
    ///
    /// Every start or finish is ordered before or after the swap in the
    /// word's modification order. Those before it changed the total
    /// themselves and are summed in the count subtracted here; those after
    /// it see another generation and change nothing. So the total equals
    /// the sum of live members' counts once all operations have completed,
    /// although it may read a little off (even "negative", which readers
    /// clamp to 0) while they race.
    pub(crate) fn retire(&mut self, slot: SlotId, total: Total) {
        let next = u64::from(slot.generation.wrapping_add(1) & GENERATION_MASK) << COUNT_BITS;
        let before = self.word(slot.index).swap(next, Ordering::Relaxed);
        if let Some(total) = total {
            total.sub((before & COUNT_MASK) as u32);
        }
        self.free.push(slot.index);
        // Lowest index first, so slots stay dense for the scan.
        self.free.sort_unstable_by(|a, b| b.cmp(a));
    }
}

impl Drop for Slab {
    /// Retires every slot handed out, so that a guard outliving the pool
    /// changes nothing, and gives the chunks to the free list.
    fn drop(&mut self) {
        for index in 0..self.high {
            let _ = self
                .word(index)
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                    let generation = (v >> COUNT_BITS) as u32;
                    Some(u64::from(generation.wrapping_add(1) & GENERATION_MASK) << COUNT_BITS)
                });
        }
        #[cfg(not(loom))]
        FREE_CHUNKS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .append(&mut self.chunks);
    }
}

/// The validated member list of one snapshot.
#[derive(Debug)]
pub struct Members {
    backends: Box<[Backend]>,
    slots: Box<[SlotId]>,
    chunks: Box<[&'static Chunk]>,
    by_id: HashMap<BackendId, u32>,
    active: Box<[u32]>,
    total: Total,
}

/// The balancer-wide in-flight total, kept only by strategies that read it
/// (bounded load): for the others it would cost every start and finish a
/// second atomic read-modify-write on a line all threads share.
pub(crate) type Total = Option<TotalRef>;

impl Members {
    /// Validates `backends`, keeps the slots of `previous` for every id that
    /// stays a member and takes new ones from `slab` for the others.
    pub(crate) fn build(
        backends: &[Backend],
        previous: Option<&Members>,
        slab: &mut Slab,
        total: &Total,
    ) -> Result<Self, BalancerError> {
        if backends.is_empty() {
            return Err(BalancerError::NoBackends);
        }
        if backends.len() > MAX_BACKENDS {
            return Err(BalancerError::TooManyBackends {
                count: backends.len(),
                max: MAX_BACKENDS,
            });
        }
        let mut by_id = HashMap::with_capacity(backends.len());
        for (i, backend) in backends.iter().enumerate() {
            if by_id.insert(backend.id, i as u32).is_some() {
                return Err(BalancerError::DuplicateId(backend.id));
            }
        }
        // Validation is over: from here on, slots are taken for real.
        let slots = backends
            .iter()
            .map(|b| {
                previous
                    .and_then(|p| p.index_of(b.id).map(|i| p.slots[i]))
                    .unwrap_or_else(|| slab.take())
            })
            .collect();
        let active = (0..backends.len() as u32)
            .filter(|&i| backends[i as usize].weight > 0)
            .collect();
        Ok(Self {
            backends: backends.into(),
            slots,
            chunks: slab.chunks.as_slice().into(),
            by_id,
            active,
            total: *total,
        })
    }

    /// Slots of `self` whose ids are not members of `next`.
    pub(crate) fn removed_in<'a>(&'a self, next: &'a Members) -> impl Iterator<Item = SlotId> + 'a {
        self.backends
            .iter()
            .zip(self.slots.iter())
            .filter(|(b, _)| !next.by_id.contains_key(&b.id))
            .map(|(_, &s)| s)
    }

    /// All members, drained ones included, in the order given.
    #[inline]
    pub(crate) fn backends(&self) -> &[Backend] {
        &self.backends
    }

    /// Member indices with a weight above zero, in the order given.
    #[inline]
    pub(crate) fn active(&self) -> &[u32] {
        &self.active
    }

    #[inline]
    pub(crate) fn id(&self, index: usize) -> BackendId {
        self.backends[index].id
    }

    /// What the hashing strategies hash for member `index`.
    #[inline]
    pub(crate) fn hash_key(&self, index: usize) -> u64 {
        self.backends[index].hash_key
    }

    #[inline]
    pub(crate) fn weight(&self, index: usize) -> u32 {
        self.backends[index].weight
    }

    /// Every member's slot and generation, in member order.
    pub(crate) fn slots(&self) -> &[SlotId] {
        &self.slots
    }

    /// The slot number of member `index` (dense from 0).
    #[inline]
    pub(crate) fn slot_index(&self, index: usize) -> usize {
        self.slots[index].index as usize
    }

    /// One past the highest slot number any member of this snapshot uses.
    pub(crate) fn slot_span(&self) -> usize {
        self.slots
            .iter()
            .map(|s| s.index as usize + 1)
            .max()
            .unwrap_or(0)
    }

    /// The counter of member `index`.
    #[inline]
    pub(crate) fn counter(&self, index: usize) -> Counter<'_> {
        self.counter_at(self.slots[index])
    }

    /// The counter at `slot`.
    #[inline]
    pub(crate) fn counter_at(&self, slot: SlotId) -> Counter<'_> {
        let i = slot.index as usize;
        Counter {
            word: &self.chunks[i / CHUNK].words[i % CHUNK],
            generation: slot.generation,
        }
    }

    /// The raw counter words of slots `lo..hi`, as contiguous runs: (first
    /// slot, words). For scans that read counters in slot order; a word's
    /// count is [`count_of`] it, and for members of a current snapshot its
    /// generation is always theirs.
    pub(crate) fn words(
        &self,
        lo: usize,
        hi: usize,
    ) -> impl Iterator<Item = (usize, &[AtomicU64])> {
        let mut at = lo;
        std::iter::from_fn(move || {
            (at < hi).then(|| {
                let (chunk, offset) = (at / CHUNK, at % CHUNK);
                let len = (CHUNK - offset).min(hi - at);
                let run = (at, &self.chunks[chunk].words[offset..offset + len]);
                at += len;
                run
            })
        })
    }

    /// A counter that outlives this snapshot, for a guard.
    pub(crate) fn owned_counter(&self, index: usize) -> OwnedCounter {
        let SlotId { index, generation } = self.slots[index];
        let chunk: &'static Chunk = self.chunks[index as usize / CHUNK];
        OwnedCounter {
            word: &chunk.words[index as usize % CHUNK],
            generation,
        }
    }

    /// The member index of `id`. Member lists are often numbered in order
    /// (id `i` at index `i`), so that is tried first: one compare instead
    /// of a hash lookup.
    #[inline]
    pub(crate) fn index_of(&self, id: BackendId) -> Option<usize> {
        let guess = id.0 as usize;
        if self.backends.get(guess).is_some_and(|b| b.id == id) {
            return Some(guess);
        }
        self.by_id.get(&id).map(|&i| i as usize)
    }

    /// The balancer-wide in-flight total shared by all snapshots, if the
    /// strategy keeps one.
    #[inline]
    pub(crate) fn total(&self) -> Total {
        self.total
    }

    /// The total in flight over all members: the kept total (clamped at
    /// zero while racing), or else the sum of the members' counts.
    #[inline]
    pub(crate) fn total_in_flight(&self) -> u64 {
        match self.total() {
            Some(total) => total.load(),
            None => (0..self.backends.len())
                .map(|i| self.counter(i).load())
                .sum(),
        }
    }
}

/// Where a pick reads in-flight counts: the pool's shared atomic words
/// ([`Members`] itself), or a [`LocalHandle`](super::LocalHandle)'s own plain
/// ones ([`LocalCounts`]). Both are laid out by slot, so each strategy has one
/// implementation, monomorphised for each storage: no dynamic dispatch and
/// no atomic read-modify-write on the single-owner path.
pub trait Counts {
    /// A counter word as a scan reads it.
    type Word;
    /// The count in `word`.
    fn count(word: &Self::Word) -> u32;
    /// The words of slots `lo..hi`, as contiguous runs: (first slot, words).
    fn words(&self, lo: usize, hi: usize) -> impl Iterator<Item = (usize, &[Self::Word])>;
    /// The count of member `index` of `members`.
    fn load(&self, members: &Members, index: usize) -> u64;
    /// The count of a member whose counter a strategy keeps (`counter`), at
    /// slot `slot`.
    fn load_held(&self, counter: &OwnedCounter, slot: usize) -> u32;
    /// The total in flight over the members of `members`.
    fn total(&self, members: &Members) -> u64;
    /// If the storage indexes its active slots by count (active weights
    /// equal): the first active slot at or after `start` (wrapping) with
    /// the least in flight, which is what a least-connections scan from
    /// `start` returns.
    #[inline]
    fn least_from(&self, start: usize) -> Option<usize> {
        let _ = start;
        None
    }
}

impl Counts for Members {
    type Word = AtomicU64;

    #[inline]
    fn count(word: &AtomicU64) -> u32 {
        count_of(word.load(Ordering::Relaxed))
    }

    #[inline]
    fn words(&self, lo: usize, hi: usize) -> impl Iterator<Item = (usize, &[AtomicU64])> {
        Members::words(self, lo, hi)
    }

    #[inline]
    fn load(&self, _: &Members, index: usize) -> u64 {
        self.counter(index).load()
    }

    #[inline]
    fn load_held(&self, counter: &OwnedCounter, _: usize) -> u32 {
        // The raw count, without the generation check: a snapshot's
        // members own their slots (a stale snapshot may read a slot's next
        // owner, which only makes its pick less informed, as any racing
        // read does).
        count_of(counter.word().load(Ordering::Relaxed))
    }

    #[inline]
    fn total(&self, _: &Members) -> u64 {
        self.total_in_flight()
    }
}

/// The count in a raw word read through [`Members::words`]: its low half.
#[inline]
pub(crate) fn count_of(word: u64) -> u32 {
    word as u32
}

/// Backends from `(id, weight)` pairs, keeping the first of each id: a
/// valid member list for unit tests.
#[cfg(test)]
pub(crate) fn distinct_backends(list: &[(u32, u32)]) -> Vec<Backend> {
    let mut seen = std::collections::HashSet::new();
    list.iter()
        .filter(|(id, _)| seen.insert(*id))
        .map(|&(id, w)| Backend::new(id, w))
        .collect()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_saturated_count_refuses_starts_and_keeps_its_generation() {
        let word = AtomicU64::new((7 << COUNT_BITS) | COUNT_MASK);
        let total = Some(TotalRef::detached());
        let counter = Counter {
            word: &word,
            generation: 7,
        };
        assert!(!counter.start(total));
        assert_eq!(word.load(Ordering::Relaxed), (7 << COUNT_BITS) | COUNT_MASK);
        assert_eq!(counter.load(), COUNT_MASK);
        assert!(counter.finish(total));
        assert_eq!(count_of(word.load(Ordering::Relaxed)), u32::MAX - 1);
        // Another generation's caller touches nothing.
        let stale = Counter {
            word: &word,
            generation: 6,
        };
        assert!(!stale.start(total));
        assert!(!stale.finish(total));
        assert_eq!(stale.load(), 0);
    }

    #[test]
    fn index_of_finds_numbered_shuffled_and_sparse_ids() {
        let total = None;
        let lists: [&[u32]; 4] = [
            &[0, 1, 2, 3],
            &[3, 1, 0, 2],
            &[1, 0],
            &[7, 100, 2, u32::MAX],
        ];
        for ids in lists {
            let backends: Vec<Backend> = ids.iter().map(|&id| Backend::new(id, 1)).collect();
            let members =
                Members::build(&backends, None, &mut Slab::default(), &total).expect("valid");
            for (i, &id) in ids.iter().enumerate() {
                assert_eq!(members.index_of(BackendId(id)), Some(i), "{ids:?}");
            }
            for absent in [4, 5, 99, u32::MAX - 1] {
                assert_eq!(members.index_of(BackendId(absent)), None, "{ids:?}");
            }
        }
    }
}
