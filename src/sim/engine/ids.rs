//! Names for the engine's identities.

use crate::sim::random::{GROUP_SHIFT, of_group};

/// A request's identity: its client group and its place in the group's
/// sequence of requests. Every draw that belongs to a request (its key,
/// its client instance, its service times, its failure coins, its
/// backoff jitter) is keyed on it, so a request is the same request
/// under every balancer.
///
/// A health probe carries one too, for its service time's draw: that of
/// a group no configuration reaches (see [`RequestId::probe`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RequestId(u64);

impl RequestId {
    /// Request `seq` (counted from 0) of client group `group`.
    #[inline]
    pub(super) fn new(group: GroupId, seq: u64) -> Self {
        debug_assert!(seq < 1 << GROUP_SHIFT, "2^40 requests per group");
        Self(of_group(group.index() as u64, seq))
    }

    /// The identity of site `site`'s health probes: the top of the id
    /// space, where a group would need index 2^24 - 1 and 2^40 requests.
    #[inline]
    pub(super) fn probe(site: SiteId) -> Self {
        Self(u64::MAX - (site.index() as u64))
    }

    /// The client group the request belongs to (meaningless for a probe).
    #[inline]
    pub(super) fn group(self) -> GroupId {
        GroupId((self.0 >> GROUP_SHIFT) as u32)
    }

    /// The `a` of the request's draws.
    #[inline]
    pub(super) fn draws(self) -> u64 {
        self.0
    }
}

/// A `u32` index of a type of its own, so that indices of different
/// arrays cannot be mixed up: `NONE` (`u32::MAX`) for none, `new` and
/// `index` to and from the place it names. The arrays it names places in
/// are [`TiVec`](typed_index_collections::TiVec)s keyed by it, which
/// index by it alone (its `usize` conversions are for them).
macro_rules! index_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(super) struct $name(u32);

        impl $name {
            /// None.
            #[allow(dead_code, reason = "not every index has a use for it")]
            pub(super) const NONE: Self = Self(u32::MAX);

            /// The one at place `index`.
            #[allow(dead_code, reason = "some index types come only from their arrays")]
            #[inline]
            pub(super) fn new(index: u32) -> Self {
                Self(index)
            }

            /// The place it names.
            #[inline]
            pub(super) fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl From<usize> for $name {
            #[inline]
            fn from(index: usize) -> Self {
                debug_assert!(index < u32::MAX as usize, "indices are u32s");
                Self(index as u32)
            }
        }

        impl From<$name> for usize {
            #[inline]
            fn from(index: $name) -> usize {
                index.index()
            }
        }
    };
}

index_type!(
    /// A request's slot in [`Clients`](super::clients::Clients): its
    /// record, token, adaptive-limit hold and hedge, while the request (or
    /// a hedged request's leg) lasts; the slot is reused once it ends.
    /// `NONE` marks a free place among a hedge's legs, and the parent of a
    /// slot that is no leg.
    RequestSlot
);

index_type!(
    /// A job's place in the [pool](super::backends::Pool), its identity
    /// while a backend holds it (its place is reused once it ends).
    /// `NONE` is the job of a request whose attempt is at no backend.
    JobId
);

index_type!(
    /// A backend's place in the [pool](super::backends::Pool): every
    /// site's backends, site by site. The site's balancer knows it by its
    /// place among the site's backends, a
    /// [`BackendId`](crate::balancer::BackendId).
    PoolIndex
);

index_type!(
    /// A site's place in the configuration: its
    /// [`Site`](super::site::Site), the router's
    /// [`Member`](super::routing::Member) for it and its network distances.
    /// The router's balancer knows it by the same number, as a
    /// [`BackendId`](crate::balancer::BackendId).
    SiteId
);

index_type!(
    /// A client group's place in the configuration: its
    /// [`Group`](super::clients::Group) and the first part of its requests'
    /// [`RequestId`]s.
    GroupId
);

index_type!(
    /// A place in the load balancers' accept backlogs: an attempt or a
    /// probe waiting for its turn, an [`Accepting`](super::site::Accepting).
    BacklogPlace
);

index_type!(
    /// An attempt's place among those on their way over the
    /// [network](super::network::Network).
    TransitPlace
);

/// The router's balancer knows a site by its place.
impl From<SiteId> for crate::balancer::BackendId {
    #[inline]
    fn from(s: SiteId) -> Self {
        Self(s.0)
    }
}

/// The site the router's balancer picked.
impl From<crate::balancer::BackendId> for SiteId {
    #[inline]
    fn from(b: crate::balancer::BackendId) -> Self {
        Self(b.0)
    }
}

/// Who waits on a job, or on a place in a load balancer's backlog: a
/// request's attempt or a site's health probe. A load balancer and its
/// backends treat both alike; what each came to goes back to its owner as
/// a [`Reply`](super::Reply) of its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Owner {
    /// Request `.0`'s attempt, sent with token `.1`.
    Attempt(RequestSlot, u32),
    /// Site `.0`'s health probe `.1`.
    Probe(SiteId, u32),
}

#[cfg(test)]
mod tests {
    use super::*;
    use typed_index_collections::TiVec;

    #[test]
    fn a_request_names_its_group_and_ids_of_groups_never_meet() {
        let g = GroupId::new;
        let a = RequestId::new(g(3), (1 << GROUP_SHIFT) - 1);
        let b = RequestId::new(g(4), 0);
        assert_eq!(a.group(), g(3));
        assert_eq!(b.group(), g(4));
        assert_ne!(a, b);
        assert!(a.draws() < b.draws());
        assert_ne!(RequestId::probe(SiteId::new(0)), RequestId::new(g(1023), 0));
        // The id a request had before it was a type of its own.
        assert_eq!(RequestId::new(g(2), 7).draws(), (2 << 40) | 7);
    }

    #[test]
    fn an_index_names_its_place_and_none_is_no_place() {
        assert_eq!(RequestSlot::new(7).index(), 7);
        assert_eq!(JobId::new(0).index(), 0);
        assert_ne!(RequestSlot::NONE, RequestSlot::new(0));
        assert_eq!(JobId::NONE.index(), u32::MAX as usize);
        let mut v: TiVec<RequestSlot, u32> = vec![0u32; 3].into();
        v[RequestSlot::new(2)] = 5;
        assert_eq!(v.raw, [0, 0, 5]);
        assert_eq!(v.push_and_get_key(9), RequestSlot::new(3));
        // The router's balancer numbers the sites as the engine does.
        let b = crate::balancer::BackendId::from(SiteId::new(4));
        assert_eq!(b.0, 4);
        assert_eq!(SiteId::from(b), SiteId::new(4));
    }
}
