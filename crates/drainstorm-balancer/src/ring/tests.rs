//! The ring's tests: a rebuild (after a change of members or weights)
//! equals a build from scratch, and a key's position equals a search of
//! the whole ring.

use proptest::prelude::*;

use super::*;
use crate::members::{Slab, distinct_backends};

fn assert_same(a: &RingTable, b: &RingTable) {
    assert_eq!(a.points, b.points);
    assert_eq!(a.ranked, b.ranked);
    assert_eq!(a.ids, b.ids);
    assert_eq!(a.index, b.index);
    assert_eq!(a.shift, b.shift);
    assert_eq!(a.scaled, b.scaled);
}

/// A member list: ids below 300 in the order given, weights 0 to 6.
fn members_strategy() -> impl Strategy<Value = Vec<(u32, u32)>> {
    prop::collection::vec((0u32..300, 0u32..=6), 1..120)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A ring derived from the previous one equals a ring built from
    /// scratch, through a sequence of arbitrary updates: small ones
    /// (one backend added, removed or reweighted: the merge path) and
    /// large ones (the fallback).
    #[test]
    fn rebuild_equals_build(
        first in members_strategy(),
        steps in prop::collection::vec(
            prop_oneof![
                (0u32..300, 0u32..=6, prop::option::of(any::<u64>()))
                    .prop_map(|(id, w, key)| (Some((id, w, key)), None)),
                members_strategy().prop_map(|m| (None, Some(m))),
            ],
            1..8,
        ),
        ppw in prop_oneof![Just(1u32), Just(3), Just(160)],
    ) {
        let total = None;
        let mut slab = Slab::default();
        let mut backends = distinct_backends(&first);
        let mut members = Members::build(&backends, None, &mut slab, &total).unwrap();
        let mut ring = RingTable::build_with(&members, ppw);
        for step in steps {
            match step {
                (Some((id, w, key)), _) => {
                    // Set one backend's weight (and, if given, give it
                    // a new hash key: small or wide), adding it if
                    // absent, or remove it when w is 6 and it is present.
                    let key = key.map(|k| if k % 2 == 0 { k >> 40 } else { k });
                    match backends.iter().position(|b| b.id.0 == id) {
                        Some(i) if w == 6 && backends.len() > 1 => {
                            backends.remove(i);
                        }
                        Some(i) => {
                            backends[i].weight = w;
                            if let Some(k) = key {
                                backends[i].hash_key = k;
                            }
                        }
                        None => backends.push(
                            Backend::new(id, w).with_hash_key(key.unwrap_or(u64::from(id))),
                        ),
                    }
                }
                (None, Some(list)) => backends = distinct_backends(&list),
                _ => unreachable!(),
            }
            let next = Members::build(&backends, Some(&members), &mut slab, &total).unwrap();
            let derived = RingTable::rebuild_with(&next, ppw, &members, &ring);
            assert_same(&derived, &RingTable::build_with(&next, ppw));
            members = next;
            ring = derived;
        }
    }
}

#[test]
fn rebuild_of_a_scaled_ring_equals_build() {
    let total = None;
    let mut slab = Slab::default();
    let big = [Backend::new(1, u32::MAX), Backend::new(2, 3)];
    let a = Members::build(&big, None, &mut slab, &total).unwrap();
    let ring = RingTable::build_with(&a, 160);
    assert!(ring.scaled);
    let small = [Backend::new(2, 3), Backend::new(5, 1)];
    let b = Members::build(&small, Some(&a), &mut slab, &total).unwrap();
    let derived = RingTable::rebuild_with(&b, 160, &a, &ring);
    assert_same(&derived, &RingTable::build_with(&b, 160));
    let c = Members::build(&big, Some(&b), &mut slab, &total).unwrap();
    let back = RingTable::rebuild_with(&c, 160, &b, &derived);
    assert_same(&back, &RingTable::build_with(&c, 160));
}

/// The lookup equals a binary search over the whole ring (wrapping),
/// at, just before and just after every point and at random hashes,
/// for rings with buckets larger than [`SCAN`], so both of its paths
/// are taken.
#[test]
fn position_equals_a_search_of_the_whole_ring() {
    let total = None;
    let mut slab = Slab::default();
    for (n, ppw) in [(1u32, 1u32), (3, 1), (7, 3), (64, 160), (300, 7)] {
        let backends: Vec<Backend> = (0..n).map(|i| Backend::new(i, i % 4 + 1)).collect();
        let members = Members::build(&backends, None, &mut slab, &total).unwrap();
        let ring = RingTable::build_with(&members, ppw);
        let real = ring.real();
        let oracle = |hash: u64| {
            let p = real.partition_point(|&x| x < hash & !OWNER_MASK);
            if p == real.len() { 0 } else { p }
        };
        let mut hashes: Vec<u64> = real
            .iter()
            .flat_map(|&x| {
                let at = x & !OWNER_MASK;
                [
                    at,
                    at.wrapping_sub(1 << OWNER_BITS),
                    at.wrapping_add(1 << OWNER_BITS),
                ]
            })
            .collect();
        hashes.extend((0..10_000u64).map(mix64));
        hashes.extend([0, u64::MAX]);
        for h in hashes {
            let p = oracle(h);
            assert_eq!(ring.position(h), p, "n = {n}, hash {h:#x}");
            // A pick reads the owner at `after`, the padding past the
            // last point included.
            let owner = ring.ids[(ring.points[ring.after(h)] & OWNER_MASK) as usize];
            assert_eq!(owner, members.id(ring.owner(p)), "n = {n}, hash {h:#x}");
        }
        if n == 300 {
            let largest = ring.index.windows(2).map(|w| w[1] - w[0]).max();
            assert!(largest > Some(SCAN as u32), "{largest:?}");
        }
    }
}
