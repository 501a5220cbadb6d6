//! Subsetting: which backends one client connects to, when every client
//! connecting to every backend would cost too many connections.

use super::hash::{mix64, next_random, reduce};
use super::{Backend, BackendId};

/// The backends in the order subsetting reads them: by hash key, then id,
/// whatever order the caller listed them in.
fn canonical(backends: &[Backend]) -> Vec<Backend> {
    let mut sorted = backends.to_vec();
    sorted.sort_unstable_by_key(|b| (b.hash_key, b.id));
    sorted.dedup_by_key(|b| b.id);
    sorted
}

/// Deterministic subsetting, as Google's SRE book describes it ("Load
/// Balancing in the Datacenter", *Site Reliability Engineering*, 2016):
/// the `size` backends client `client` connects to.
///
/// Clients are taken in rounds of `n / size` (n the number of distinct
/// backends); each round shuffles the backends with its own seed (the
/// round number, mixed with `seed`) and deals them out in consecutive
/// blocks of `size`, one block per client of the round. So every client
/// gets exactly `min(size, n)` distinct backends, the same ones for the
/// same inputs (in any input order), and when `size` divides `n` the
/// clients of one round together use each backend exactly once: any `k`
/// whole rounds of clients give every backend exactly `k` clients.
/// Backends left over when `size` does not divide `n` are shared out by
/// the next round's shuffle. Changing the backend set reshuffles every
/// round (deterministic subsetting trades stability for balance; see
/// [`random_subset`] for the opposite trade).
///
/// ```
/// use drainstorm_balancer::{Backend, deterministic_subset};
///
/// let backends: Vec<Backend> = (0..12).map(|i| Backend::new(i, 1)).collect();
/// // Clients 0..4 form one round: together they cover all 12 once.
/// let mut seen: Vec<u32> = (0..4)
///     .flat_map(|c| deterministic_subset(&backends, c, 3, 7))
///     .map(|id| id.0)
///     .collect();
/// seen.sort();
/// assert_eq!(seen, (0..12).collect::<Vec<_>>());
/// ```
pub fn deterministic_subset(
    backends: &[Backend],
    client: u64,
    size: usize,
    seed: u64,
) -> Vec<BackendId> {
    let mut order = canonical(backends);
    let n = order.len();
    if size == 0 {
        return Vec::new();
    }
    if size >= n {
        return order.iter().map(|b| b.id).collect();
    }
    let per_round = (n / size) as u64;
    let (round, position) = (client / per_round, (client % per_round) as usize);
    let mut rng = mix64(seed ^ mix64(round.wrapping_add(1)));
    // Fisher–Yates, from the back.
    for i in (1..n).rev() {
        let j = reduce(next_random(&mut rng), i + 1);
        order.swap(i, j);
    }
    order[position * size..(position + 1) * size]
        .iter()
        .map(|b| b.id)
        .collect()
}

/// Random subsetting, as gRPC's A68 ("Random subsetting with rendezvous
/// hashing") describes it: the `size` backends with the lowest hash of
/// (`client_seed`, backend hash key), each client choosing its own seed.
///
/// Every client gets exactly `min(size, n)` distinct backends, the same
/// for the same seed in any input order. A change of the backend set
/// moves little: removing a backend changes a client's subset only if it
/// was in it (its place goes to the next lowest hash), and adding one only
/// if it ranks among the lowest. Load across backends is balanced only in
/// expectation (each backend is in `size / n` of the subsets on average).
///
/// ```
/// use drainstorm_balancer::{Backend, random_subset};
///
/// let backends: Vec<Backend> = (0..100).map(|i| Backend::new(i, 1)).collect();
/// let subset = random_subset(&backends, 42, 10);
/// assert_eq!(subset.len(), 10);
/// // Backend 99 leaves: a subset without it does not change.
/// if !subset.contains(&drainstorm_balancer::BackendId(99)) {
///     assert_eq!(random_subset(&backends[..99], 42, 10), subset);
/// }
/// ```
pub fn random_subset(backends: &[Backend], client_seed: u64, size: usize) -> Vec<BackendId> {
    let mut ranked: Vec<(u64, BackendId)> = canonical(backends)
        .iter()
        .map(|b| (mix64(b.hash_key ^ mix64(client_seed)), b.id))
        .collect();
    let size = size.min(ranked.len());
    if size < ranked.len() {
        ranked.select_nth_unstable(size);
    }
    ranked.truncate(size);
    ranked.sort_unstable();
    ranked.into_iter().map(|(_, id)| id).collect()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn set(n: u32) -> Vec<Backend> {
        (0..n).map(|i| Backend::new(i, 1)).collect()
    }

    #[test]
    fn the_input_order_does_not_matter() {
        let mut b = set(30);
        let (d, r) = (deterministic_subset(&b, 5, 4, 1), random_subset(&b, 5, 4));
        b.reverse();
        assert_eq!(deterministic_subset(&b, 5, 4, 1), d);
        assert_eq!(random_subset(&b, 5, 4), r);
    }

    #[test]
    fn a_subset_as_large_as_the_set_is_the_set() {
        let b = set(5);
        assert_eq!(deterministic_subset(&b, 9, 8, 0).len(), 5);
        assert_eq!(random_subset(&b, 9, 5).len(), 5);
        assert!(deterministic_subset(&[], 0, 3, 0).is_empty());
        assert!(random_subset(&[], 0, 3).is_empty());
    }
}
