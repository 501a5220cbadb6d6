//! Records whose places are reused once freed: the jobs, the places in
//! the load balancers' backlogs and the attempts on their way over the
//! network. A record's place is its identity while it lives, so an event
//! names it by an index type of its own ([`ids`](super::ids)).
//!
//! A place is freed only where its record ends for good, so an event
//! that names a place finds its own record there: a job when its
//! completion comes or it leaves a backend's queue (one cancelled in
//! service is flagged, and freed by its completion), a backlog place
//! when its turn comes (one a reset dropped is flagged, and freed then),
//! an attempt on its way when it arrives. A freed place keeps its record
//! until it is held again, so the event that freed it reads it after.
//!
//! The clients' request slots are not a `Slots` (holding one grows three
//! parallel arrays, on the path of every request) but list their free
//! places the same way, and find the places held with [`held`].

use std::ops::{Index, IndexMut};

use typed_index_collections::TiVec;

/// Records of type `T` at places named by `I`, with the places freed.
pub(super) struct Slots<I, T> {
    items: TiVec<I, T>,
    free: Vec<I>,
}

impl<I, T> Default for Slots<I, T> {
    fn default() -> Self {
        Self {
            items: TiVec::new(),
            free: Vec::new(),
        }
    }
}

impl<I: Copy + From<usize>, T> Slots<I, T>
where
    usize: From<I>,
{
    /// Stores `x` in the place freed last, or in a new one; returns the
    /// place. Always inlined: it is on the path of every attempt.
    #[inline(always)]
    pub(super) fn hold(&mut self, x: T) -> I {
        match self.free.pop() {
            Some(i) => {
                self.items[i] = x;
                i
            }
            None => self.items.push_and_get_key(x),
        }
    }

    /// Place `i`'s record is over: the place is free (its record stays
    /// readable until the place is held again).
    #[inline]
    pub(super) fn free(&mut self, i: I) {
        self.free.push(i);
    }

    /// The places held now, in order (O(places)).
    pub(super) fn live(&self) -> Vec<I> {
        held(self.items.len(), &self.free)
    }

    /// Every place's record, free places' included (for keys drawn
    /// afresh mid-run).
    pub(super) fn all_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.items.iter_mut()
    }
}

/// The places of `0..len` not in `free`, in order (O(len)): the places
/// held of a store whose free ones are listed.
pub(super) fn held<I: Copy + From<usize>>(len: usize, free: &[I]) -> Vec<I>
where
    usize: From<I>,
{
    let mut is_free = vec![false; len];
    for &i in free {
        is_free[usize::from(i)] = true;
    }
    (0..len).filter(|&i| !is_free[i]).map(I::from).collect()
}

impl<I: From<usize>, T> Index<I> for Slots<I, T>
where
    usize: From<I>,
{
    type Output = T;

    #[inline]
    fn index(&self, i: I) -> &T {
        &self.items[i]
    }
}

impl<I: From<usize>, T> IndexMut<I> for Slots<I, T>
where
    usize: From<I>,
{
    #[inline]
    fn index_mut(&mut self, i: I) -> &mut T {
        &mut self.items[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::engine::ids::JobId;

    #[test]
    fn a_freed_place_is_held_again_before_a_new_one_and_keeps_its_record_until_then() {
        let mut s: Slots<JobId, &str> = Slots::default();
        let a = s.hold("a");
        let b = s.hold("b");
        assert_ne!(a, b);
        s.free(a);
        assert_eq!(s[a], "a", "readable until held again");
        assert_eq!(s.live(), [b]);
        let c = s.hold("c");
        assert_eq!(c, a, "the freed place is reused");
        assert_eq!(s[c], "c");
        assert_eq!(s.all_mut().count(), 2);
        let d = s.hold("d");
        assert_eq!(d.index(), 2);
        s.free(b);
        assert_eq!(s.live(), [c, d]);
        s[d] = "e";
        assert_eq!(s.all_mut().map(|x| *x).collect::<Vec<_>>(), ["c", "b", "e"]);
    }
}
