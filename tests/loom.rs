//! Loom models of the snapshot protocol (see `src/sync.rs`).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --test loom`.
#![cfg(loom)]

use std::sync::Arc;

use drainstorm::balancer::{
    Backend, BackendId, Balancer, BoundedLoad, Handle, LeastConn, LeastRequest, PeakEwma, Pool,
    SmoothWrr, Strategy,
};
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

/// A pick that happens after `update` returned never sees the old snapshot,
/// through a handle (cached snapshot + generation) or the shared path.
#[test]
fn pick_after_update() {
    loom::model(|| {
        let lb = SmoothWrr::new(&[Backend::new(0, 1), Backend::new(1, 1)]).unwrap();
        let updated = Arc::new(AtomicBool::new(false));
        let mut handle = lb.handle();
        let updater = {
            let (lb, updated) = (lb.clone(), Arc::clone(&updated));
            thread::spawn(move || {
                lb.update(&[Backend::new(0, 0), Backend::new(1, 1)])
                    .unwrap();
                updated.store(true, Ordering::Release);
            })
        };
        for _ in 0..2 {
            if updated.load(Ordering::Acquire) {
                assert_eq!(handle.pick(0), Some(BackendId(1)));
                assert_eq!(lb.pick(0), Some(BackendId(1)));
            } else {
                // Before or during the update: a whole snapshot, old or new.
                assert!(handle.pick(0).is_some());
            }
        }
        updater.join().unwrap();
        assert_eq!(handle.pick(0), Some(BackendId(1)));
    });
}

/// start/finish racing an update that removes the backend and one that
/// adds it back: counts never go wrong. Least connections keeps no
/// balancer-wide total (its total is the sum of the members' counts).
#[test]
fn start_finish_racing_update() {
    loom::model(|| {
        let lb = LeastConn::new(&[Backend::new(0, 1), Backend::new(1, 1)]).unwrap();
        start_finish_race(lb.handle(), lb);
    });
}

/// The same race on bounded load, which keeps a balancer-wide total that
/// starts, finishes and retirements all change: it returns to exactly 0.
#[test]
fn start_finish_racing_update_keeps_the_total() {
    loom::model(|| {
        let lb = BoundedLoad::new(&[Backend::new(0, 1), Backend::new(1, 1)]).unwrap();
        start_finish_race(lb.handle(), lb);
    });
}

/// Weighted least request reads every count twice per pick (once for the
/// total of the dynamic weights, once to walk to the draw): counts that
/// change between the two passes, and an update draining a backend, still
/// give a member of a whole snapshot, and none drained once the update
/// has returned.
#[test]
fn least_request_pick_racing_counts_and_update() {
    loom::model(|| {
        let lb = LeastRequest::with_seed(&[Backend::new(0, 3), Backend::new(1, 1)], 7).unwrap();
        let updated = Arc::new(AtomicBool::new(false));
        let updater = {
            let (lb, updated) = (lb.clone(), Arc::clone(&updated));
            thread::spawn(move || {
                let guard = Balancer::begin(&lb, BackendId(1)).unwrap();
                lb.update(&[Backend::new(0, 0), Backend::new(1, 1)])
                    .unwrap();
                updated.store(true, Ordering::Release);
                drop(guard);
            })
        };
        let mut handle = lb.handle();
        for _ in 0..2 {
            let after = updated.load(Ordering::Acquire);
            let id = handle.pick(0).unwrap();
            assert!(id == BackendId(0) || id == BackendId(1));
            if after {
                assert_eq!(id, BackendId(1));
            }
        }
        updater.join().unwrap();
        assert_eq!(lb.in_flight(BackendId(1)), Some(0));
    });
}

/// Peak-EWMA: two answers from one backend observed at once, while an
/// update reweights the set (the new snapshot's strategy shares the
/// latency table): the counts return to 0, and a pick afterwards sees
/// backend 0 as slow — its estimate is one the observations wrote, at
/// least the faster answer (a peak replaces the 30 ms default at once),
/// never torn, whichever snapshot each observation went through.
#[test]
fn peak_ewma_observations_racing_each_other_and_an_update() {
    loom::model(|| {
        let lb = PeakEwma::with_seed(&[Backend::new(0, 1), Backend::new(1, 1)], 3).unwrap();
        lb.start(BackendId(0));
        lb.start(BackendId(0));
        let observer = {
            let lb = lb.clone();
            thread::spawn(move || {
                let mut p = lb.picker();
                p.finish_observed(BackendId(0), 200_000_000, 1_000_000_000);
            })
        };
        let updater = {
            let lb = lb.clone();
            thread::spawn(move || {
                lb.update(&[Backend::new(0, 1), Backend::new(1, 2)])
                    .unwrap();
            })
        };
        lb.finish_observed(BackendId(0), 100_000_000, 1_000_000_000);
        observer.join().unwrap();
        updater.join().unwrap();
        assert_eq!(lb.in_flight(BackendId(0)), Some(0));
        let mut handle = lb.handle();
        assert_eq!(handle.pick(0), Some(BackendId(1)));
    });
}

fn start_finish_race<S: Strategy>(mut handle: Handle<S>, lb: Pool<S>) {
    let updater = {
        let lb = lb.clone();
        thread::spawn(move || {
            lb.update(&[Backend::new(1, 1)]).unwrap();
            lb.update(&[Backend::new(0, 1), Backend::new(1, 1)])
                .unwrap();
        })
    };
    let guard = Balancer::begin(&lb, BackendId(1)).unwrap();
    let started = handle.start(BackendId(0));
    if started {
        handle.finish(BackendId(0));
    }
    drop(guard);
    updater.join().unwrap();
    assert_eq!(lb.in_flight(BackendId(1)), Some(0));
    assert!(lb.in_flight(BackendId(0)).unwrap() <= 1);
    // Finishing on whatever slot `0` now names leaves the total exact.
    lb.finish(BackendId(0));
    assert_eq!(lb.total_in_flight(), 0);
}
