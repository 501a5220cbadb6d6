//! The single-owner pick path ([`LocalHandle`](drainstorm::balancer::LocalHandle),
//! `Balancer::local_picker`) against the shared one: the same strategy code
//! over plain counts must make the same picks as a handle over atomic
//! counts that nobody else touches, through starts, finishes and updates.

use drainstorm::balancer::{Backend, BackendId, Balancer, BalancerKind, KindParams};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Pick(u64),
    Start(u32),
    Finish(u32),
    /// New weights for ids `0..n` (0: drained), `n` from the weights.
    Update(Vec<u32>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u64>().prop_map(Op::Pick),
        3 => (0u32..12).prop_map(Op::Start),
        2 => (0u32..12).prop_map(Op::Finish),
        1 => prop::collection::vec(0u32..5, 1..12).prop_map(Op::Update),
    ]
}

fn backends(weights: &[u32]) -> Vec<Backend> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| Backend::new(i as u32, w).with_hash_key(i as u64 * 0x9e37_79b9))
        .collect()
}

/// Builds two balancers of `kind` over `weights`, applies `ops` to a
/// shared picker of one and a local picker of the other, and fails at the
/// first step where they answer differently. Returns the local one's
/// balancer.
fn replay(
    kind: BalancerKind,
    weights: &[u32],
    ops: Vec<Op>,
    seed: u64,
) -> Result<Box<dyn Balancer>, TestCaseError> {
    let params = KindParams::default();
    let shared = kind.build_with(&backends(weights), seed, &params).unwrap();
    let local = kind.build_with(&backends(weights), seed, &params).unwrap();
    let mut a = shared.picker();
    let mut b = local.local_picker();
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Pick(key) => prop_assert_eq!(a.pick(key), b.pick(key), "step {}", step),
            Op::Start(id) => {
                prop_assert_eq!(
                    a.start(BackendId(id)),
                    b.start(BackendId(id)),
                    "step {}",
                    step
                )
            }
            Op::Finish(id) => {
                prop_assert_eq!(
                    a.finish(BackendId(id)),
                    b.finish(BackendId(id)),
                    "step {}",
                    step
                )
            }
            Op::Update(w) => {
                let list = backends(&w);
                prop_assert_eq!(shared.update(&list).is_ok(), local.update(&list).is_ok());
            }
        }
    }
    Ok(local)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn local_and_shared_counts_pick_alike(
        kind in prop::sample::select(BalancerKind::ALL.to_vec()),
        weights in prop::collection::vec(0u32..5, 1..12),
        ops in prop::collection::vec(op(), 1..300),
        seed in any::<u64>(),
    ) {
        let local = replay(kind, &weights, ops, seed)?;
        // The shared counts are the pool's; the local ones are not.
        for id in 0..12 {
            prop_assert_eq!(local.in_flight(BackendId(id)).unwrap_or(0), 0);
        }
    }
}

#[test]
fn a_local_picker_follows_updates_and_keeps_counts_of_members_that_stay() {
    let lb = BalancerKind::LeastConn
        .build_with(&backends(&[1, 1, 1]), 1, &KindParams::default())
        .unwrap();
    let mut p = lb.local_picker();
    assert!(p.start(BackendId(0)));
    assert!(p.start(BackendId(1)));
    assert_eq!(p.pick(0), Some(BackendId(2)));
    // Backend 2 leaves and comes back: a new member starts at 0, the
    // others keep theirs.
    lb.update(&backends(&[1, 1])).unwrap();
    assert!(!p.start(BackendId(2)));
    lb.update(&backends(&[1, 1, 1])).unwrap();
    assert_eq!(p.pick(0), Some(BackendId(2)));
    assert!(p.finish(BackendId(0)));
    assert!(!p.finish(BackendId(0)), "nothing left in flight on 0");
    assert!(p.finish(BackendId(1)));
    assert!(!p.finish(BackendId(2)));
}

/// Equal weights (some drained): the case where the single owner's counts
/// index the active backends by load, and least-connections picks in O(1)
/// instead of scanning.
fn equal_weights() -> impl Strategy<Value = Vec<u32>> {
    (1u32..4, prop::collection::vec(any::<bool>(), 1..70))
        .prop_map(|(w, on)| on.into_iter().map(|b| if b { w } else { 0 }).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_least_connections_index_picks_as_the_scan(
        weights in equal_weights(),
        ops in prop::collection::vec(
            prop_oneof![
                4 => any::<u64>().prop_map(Op::Pick),
                4 => (0u32..70).prop_map(Op::Start),
                3 => (0u32..70).prop_map(Op::Finish),
                1 => equal_weights().prop_map(Op::Update),
            ],
            1..600,
        ),
    ) {
        replay(BalancerKind::LeastConn, &weights, ops, 1)?;
    }
}
