//! Stress: threads pick and track requests while another drains and
//! restores a backend thousands of times.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use drainstorm::balancer::{Backend, BackendId, Balancer, BalancerKind, SmoothWrr};

const ROUNDS: u64 = if cfg!(debug_assertions) { 500 } else { 5_000 };

#[test]
fn no_pick_of_a_drained_backend_and_counts_return_to_zero() {
    for kind in BalancerKind::ALL {
        let live = [Backend::new(0, 2), Backend::new(1, 1), Backend::new(2, 1)];
        let drained = [Backend::new(0, 0), Backend::new(1, 1), Backend::new(2, 1)];
        let lb: Arc<dyn Balancer> = Arc::from(kind.build(&live, 5).unwrap());
        // Updates alternate drain (odd numbers) and restore (even). The
        // updater bumps `begun` before and `done` after each `update`. A pick
        // made after reading an odd `done`, and followed by a read of `begun`
        // equal to it, ran entirely while backend 0 was drained by a
        // completed update and no restore had begun: it must not return 0.
        let begun = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let picks = Arc::new(AtomicU64::new(0));
        let pickers: Vec<_> = (0..2)
            .map(|t| {
                let (lb, begun, done, stop, picks) = (
                    Arc::clone(&lb),
                    Arc::clone(&begun),
                    Arc::clone(&done),
                    Arc::clone(&stop),
                    Arc::clone(&picks),
                );
                thread::spawn(move || {
                    let mut picker = lb.picker();
                    let mut outstanding = Vec::new();
                    let mut checked = 0u64;
                    let mut k = t as u64;
                    let drained_throughout =
                        |before: u64| before % 2 == 1 && begun.load(Ordering::Acquire) == before;
                    while !stop.load(Ordering::Relaxed) {
                        k = k.wrapping_add(0x9E37_79B9);
                        let before = done.load(Ordering::Acquire);
                        let id = picker.pick(k).expect("two backends are always live");
                        if drained_throughout(before) {
                            checked += 1;
                            assert_ne!(id, BackendId(0), "{} handle", lb.name());
                        }
                        let before = done.load(Ordering::Acquire);
                        let shared = lb.pick(k).expect("two backends are always live");
                        if drained_throughout(before) {
                            assert_ne!(shared, BackendId(0), "{} shared", lb.name());
                        }
                        // Alternate the shared path and the handle path.
                        if k.is_multiple_of(2) {
                            assert!(lb.start(id));
                        } else {
                            assert!(picker.start(id));
                        }
                        outstanding.push(id);
                        picks.fetch_add(1, Ordering::Relaxed);
                        if outstanding.len() > 8 {
                            let id = outstanding.remove(0);
                            assert!(picker.finish(id));
                        }
                    }
                    for id in outstanding {
                        assert!(lb.finish(id));
                    }
                    checked
                })
            })
            .collect();
        for round in 0..ROUNDS {
            let set: &[Backend] = if round % 2 == 0 { &drained } else { &live };
            begun.fetch_add(1, Ordering::SeqCst);
            lb.update(set).unwrap();
            done.fetch_add(1, Ordering::Release);
            // Let the pickers run inside every phase (bounded, so that a
            // panicked picker cannot hang the test).
            let seen = picks.load(Ordering::Relaxed);
            for _ in 0..10_000 {
                if picks.load(Ordering::Relaxed) >= seen + 4 {
                    break;
                }
                thread::yield_now();
            }
        }
        stop.store(true, Ordering::Relaxed);
        let checked: u64 = pickers.into_iter().map(|p| p.join().unwrap()).sum();
        assert!(checked > 0, "no pick ran inside a drained phase");
        for id in 0..3 {
            assert_eq!(lb.in_flight(BackendId(id)), Some(0), "{}", lb.name());
        }
    }
}

#[test]
fn removal_races_keep_the_total_exact() {
    // Backend 0 is removed and re-added while guards on it are alive.
    let lb: Arc<dyn Balancer> = Arc::from(
        BalancerKind::BoundedLoad
            .build(&[Backend::new(0, 1), Backend::new(1, 1)], 0)
            .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let (lb, stop) = (Arc::clone(&lb), Arc::clone(&stop));
        thread::spawn(move || {
            let mut guards = Vec::new();
            let mut k = 0u64;
            while !stop.load(Ordering::Relaxed) {
                k += 1;
                if let Some(id) = lb.pick(k)
                    && let Some(g) = lb.begin(id)
                {
                    guards.push(g);
                }
                if guards.len() > 16 {
                    guards.drain(..8);
                }
            }
        })
    };
    for round in 0..ROUNDS {
        let set: &[Backend] = if round % 2 == 0 {
            &[Backend::new(1, 1)]
        } else {
            &[Backend::new(0, 1), Backend::new(1, 1)]
        };
        lb.update(set).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    worker.join().unwrap();
    lb.update(&[Backend::new(0, 1), Backend::new(1, 1)])
        .unwrap();
    assert_eq!(lb.in_flight(BackendId(1)), Some(0));
    // Bounded load reads the total: with nothing in flight, key k goes to its
    // plain ring owner, the same as a fresh ring's.
    let fresh = BalancerKind::Ring
        .build(&[Backend::new(0, 1), Backend::new(1, 1)], 0)
        .unwrap();
    for k in 0..1000 {
        assert_eq!(lb.pick(k), fresh.pick(k));
    }
}

#[test]
fn shared_path_picks_rotate_per_thread() {
    // Each thread calling `Balancer::pick` has its own view and cursor: its
    // own picks follow the smooth weighted cycle, whatever the other
    // threads do meanwhile.
    let weights = [5u32, 1, 1, 3];
    let lb = Arc::new(
        SmoothWrr::new(
            &weights
                .iter()
                .enumerate()
                .map(|(i, &w)| Backend::new(i as u32, w))
                .collect::<Vec<_>>(),
        )
        .unwrap(),
    );
    let cycle: u32 = weights.iter().sum();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let lb = Arc::clone(&lb);
            thread::spawn(move || {
                (0..cycle * 200)
                    .map(|_| lb.pick(0).unwrap().0)
                    .collect::<Vec<u32>>()
            })
        })
        .collect();
    for t in threads {
        let picks = t.join().unwrap();
        for chunk in picks.chunks(cycle as usize) {
            let mut count = [0u32; 4];
            for &p in chunk {
                count[p as usize] += 1;
            }
            assert_eq!(count, weights, "every cycle of one thread's picks");
        }
    }
}
