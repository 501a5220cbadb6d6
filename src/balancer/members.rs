//! The validated backend list inside a snapshot, and the in-flight counters
//! that outlive snapshots.

use std::collections::HashMap;
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use super::{Backend, BackendId, BalancerError, MAX_BACKENDS};
use crate::sync::{AtomicU64, Ordering};

/// Set in a [`Slot`] once its backend has left the membership.
const RETIRED: u64 = 1 << 63;

/// The in-flight counter of one backend.
///
/// A slot is shared by every snapshot in which its backend is a member, so
/// counts survive updates. When an update removes the backend, the slot is
/// *retired*: its count leaves the balancer-wide total at once, and later
/// starts and finishes on it (from callers still holding an older snapshot
/// or an [`InFlight`](super::InFlight) guard) no longer touch the total.
///
/// Counters are plain `AtomicU64`s, not cache-padded: the exact
/// least-connections scan reads every one of them per pick, and packing
/// them makes that scan several times faster than one cache line each,
/// which outweighs the false sharing of concurrent start/finish calls.
#[derive(Debug)]
pub struct Slot {
    count: AtomicU64,
}

impl Slot {
    fn new() -> Self {
        Self {
            count: AtomicU64::new(0),
        }
    }

    /// The number of requests in flight on this backend.
    #[inline]
    pub(crate) fn load(&self) -> u64 {
        self.count.load(Ordering::Relaxed) & !RETIRED
    }

    // Orderings: counts are statistics that publish no other data, so
    // Relaxed suffices; each slot's modification order alone decides whether
    // an operation came before or after `retire`, and that is what keeps
    // the total exact (see `retire`).
    #[inline]
    pub(crate) fn start(&self, total: &AtomicU64) {
        let before = self.count.fetch_add(1, Ordering::Relaxed);
        if before & RETIRED == 0 {
            total.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Returns `false` (and changes nothing) if the count is already zero.
    #[inline]
    pub(crate) fn finish(&self, total: &AtomicU64) -> bool {
        let result = self
            .count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                (v & !RETIRED != 0).then(|| v - 1)
            });
        match result {
            Ok(before) => {
                if before & RETIRED == 0 {
                    total.fetch_sub(1, Ordering::Relaxed);
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Takes this slot's count out of the total, once.
    ///
    /// Every start or finish is ordered before or after the `fetch_or` in
    /// the slot's modification order. Those before it changed the total
    /// themselves and are summed in the count that `retire` subtracts; those
    /// after it see the flag and leave the total alone. So the total equals
    /// the sum of live members' counts once all operations have completed,
    /// although it may read a little off (even "negative", which readers
    /// clamp to 0) while they race.
    pub(crate) fn retire(&self, total: &AtomicU64) {
        let before = self.count.fetch_or(RETIRED, Ordering::Relaxed);
        if before & RETIRED == 0 {
            total.fetch_sub(before, Ordering::Relaxed);
        }
    }
}

/// The validated member list of one snapshot.
#[derive(Debug)]
pub struct Members {
    backends: Box<[Backend]>,
    slots: Box<[Arc<Slot>]>,
    by_id: HashMap<BackendId, u32>,
    active: Box<[u32]>,
    total: Arc<CachePadded<AtomicU64>>,
}

impl Members {
    /// Validates `backends` and reuses the slots of `previous` for every id
    /// that stays a member.
    pub(crate) fn build(
        backends: &[Backend],
        previous: Option<&Members>,
        total: &Arc<CachePadded<AtomicU64>>,
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
        let mut slots = Vec::with_capacity(backends.len());
        for (i, backend) in backends.iter().enumerate() {
            if by_id.insert(backend.id, i as u32).is_some() {
                return Err(BalancerError::DuplicateId(backend.id));
            }
            let slot = previous
                .and_then(|p| p.slot_of(backend.id))
                .map_or_else(|| Arc::new(Slot::new()), Arc::clone);
            slots.push(slot);
        }
        let active = (0..backends.len() as u32)
            .filter(|&i| backends[i as usize].weight > 0)
            .collect();
        Ok(Self {
            backends: backends.into(),
            slots: slots.into(),
            by_id,
            active,
            total: Arc::clone(total),
        })
    }

    /// Slots of `self` whose ids are not members of `next`.
    pub(crate) fn removed_in<'a>(&'a self, next: &'a Members) -> impl Iterator<Item = &'a Slot> {
        self.backends
            .iter()
            .zip(self.slots.iter())
            .filter(|(b, _)| !next.by_id.contains_key(&b.id))
            .map(|(_, s)| &**s)
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

    #[inline]
    pub(crate) fn weight(&self, index: usize) -> u32 {
        self.backends[index].weight
    }

    #[inline]
    pub(crate) fn slot(&self, index: usize) -> &Arc<Slot> {
        &self.slots[index]
    }

    #[inline]
    pub(crate) fn index_of(&self, id: BackendId) -> Option<usize> {
        self.by_id.get(&id).map(|&i| i as usize)
    }

    pub(crate) fn slot_of(&self, id: BackendId) -> Option<&Arc<Slot>> {
        self.index_of(id).map(|i| &self.slots[i])
    }

    /// The balancer-wide in-flight total shared by all snapshots.
    #[inline]
    pub(crate) fn total(&self) -> &Arc<CachePadded<AtomicU64>> {
        &self.total
    }

    /// The total in flight over all members, clamped at zero while racing.
    #[inline]
    pub(crate) fn total_in_flight(&self) -> u64 {
        (self.total.load(Ordering::Relaxed) as i64).max(0) as u64
    }
}
