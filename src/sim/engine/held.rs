//! Where the sites hold each attempt that reached them over the network
//! — in a load balancer's backlog or at a backend — so that a
//! cancellation arriving after it finds it ([`AtSites`], kept by the
//! network). Written and read on the sites' side only: when an attempt
//! is taken, moves from a backlog to a backend, ends there (answered,
//! shed or cancelled) or is cancelled. Without a network, nothing is
//! kept: a cancellation is known at once.

use std::collections::BTreeMap;

use super::*;

/// Where a site holds an attempt, as the site knows it: what a
/// cancellation finds when it arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Held {
    /// Not held (done with, or never taken).
    Nowhere,
    /// Waiting in its load balancer's backlog.
    Backlog(BacklogPlace),
    /// At a backend, queued or in service.
    Job(JobId),
}

/// The attempts the sites hold, by (request slot, token): written and
/// read only on the sites' side, when an attempt is taken, moves from a
/// backlog to a backend, ends there, or is cancelled.
///
/// Most request slots have at most one attempt at a site: the next is
/// sent after the client hears the last, or gives up on it. The one
/// exception is a timed-out attempt still at its site when the next
/// attempt of its slot reaches a nearer site before the cancellation
/// arrives; the older one then waits in `older`, so that memory stays
/// bounded by the attempts held.
#[derive(Default)]
pub(super) struct AtSites {
    /// Per request slot: the token and place of its attempt taken last.
    last: TiVec<RequestSlot, (u32, Held)>,
    /// Older attempts still held, by (request slot's index, token).
    older: BTreeMap<(usize, u32), Held>,
}

impl AtSites {
    /// Attempt (`r`, `token`) is now held at `held`.
    pub(super) fn put(&mut self, r: RequestSlot, token: u32, held: Held) {
        if self.last.len() <= r.index() {
            self.last.resize(r.index() + 1, (0, Held::Nowhere));
        }
        let (t, h) = self.last[r];
        if t != token && h != Held::Nowhere {
            self.older.insert((r.index(), t), h);
        }
        self.last[r] = (token, held);
    }

    /// Where attempt (`r`, `token`) is held, forgetting it there.
    pub(super) fn take(&mut self, r: RequestSlot, token: u32) -> Held {
        match self.last.get_mut(r) {
            Some((t, h)) if *t == token && *h != Held::Nowhere => {
                std::mem::replace(h, Held::Nowhere)
            }
            _ => self
                .older
                .remove(&(r.index(), token))
                .unwrap_or(Held::Nowhere),
        }
    }

    /// Older attempts kept apart (for tests).
    #[cfg(test)]
    pub(super) fn older(&self) -> usize {
        self.older.len()
    }

    /// Attempts held (for tests: none once every site is done).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.last
            .iter()
            .filter(|(_, h)| *h != Held::Nowhere)
            .count()
            + self.older.len()
    }
}

impl Simulation {
    /// Records where the sites hold attempt (`r`, `token`) now.
    #[inline]
    pub(super) fn held_at(&mut self, r: RequestSlot, token: u32, held: Held) {
        let net = self.network.as_deref_mut().expect("a network");
        net.at.put(r, token, held);
    }

    /// The sites are done with `owner`'s attempt (answered, shed, cancelled
    /// or taken from a backlog): it is no longer held. Nothing without a
    /// network, or for a probe.
    #[inline]
    pub(super) fn forget_held(&mut self, owner: Owner) {
        if let (Some(net), Owner::Attempt(r, token)) = (self.network.as_deref_mut(), owner) {
            net.at.take(r, token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_attempt_is_kept_apart_until_taken() {
        let mut at = AtSites::default();
        let r = RequestSlot::from(3);
        at.put(r, 2, Held::Job(JobId::from(7)));
        // The slot's next attempt is taken before the first one's
        // cancellation arrives.
        at.put(r, 4, Held::Backlog(BacklogPlace::from(1)));
        assert_eq!(at.len(), 2);
        assert_eq!(at.take(r, 2), Held::Job(JobId::from(7)));
        assert_eq!(at.take(r, 2), Held::Nowhere, "taken once");
        // From the backlog to a backend: the same attempt, moved.
        at.put(r, 4, Held::Job(JobId::from(9)));
        assert_eq!(at.len(), 1);
        assert_eq!(at.take(r, 4), Held::Job(JobId::from(9)));
        assert_eq!(at.take(RequestSlot::from(40), 2), Held::Nowhere);
        assert_eq!(at.len(), 0);
    }
}
