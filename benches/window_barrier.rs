//! What a window-synchronised parallel run would pay at each window's
//! end: two threads each do `work` units (xorshift steps, about 1.5 ns
//! each here), then meet at a barrier, many times over. Beside it, one
//! thread doing both halves with no barrier: the share-nothing control.
//!
//! `cargo bench --bench window_barrier` prints, per window size, the time
//! per window on one thread, on two with `std::sync::Barrier` (a futex:
//! the waiting thread sleeps), and on two with a spinning barrier, and
//! each speed-up. A window's work at the incident's size is measured in
//! BENCHMARKS.md ("One run across cores").

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Instant;

/// A barrier for `n` threads that spins: the last to arrive moves the
/// generation on, the others watch it (Acquire) until it does.
struct Spin {
    arrived: AtomicUsize,
    generation: AtomicUsize,
    n: usize,
}

impl Spin {
    fn wait(&self) {
        let g = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.n {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.store(g + 1, Ordering::Release);
        } else {
            while self.generation.load(Ordering::Acquire) == g {
                std::hint::spin_loop();
            }
        }
    }
}

/// `n` steps of work from `seed`.
fn work(n: u64, seed: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

/// ns per window for two threads meeting at `wait` after each window.
fn two_threads(rounds: u64, per: u64, wait: Arc<dyn Fn() + Send + Sync>) -> f64 {
    let t0 = Instant::now();
    let other = {
        let wait = wait.clone();
        std::thread::spawn(move || {
            let mut s = 0;
            for i in 0..rounds {
                s ^= work(per, i);
                wait();
            }
            s
        })
    };
    let mut s = 0;
    for i in 0..rounds {
        s ^= work(per, i + 7);
        wait();
    }
    black_box(other.join().expect("the other thread") ^ s);
    t0.elapsed().as_nanos() as f64 / rounds as f64
}

fn main() {
    let rounds = 100_000;
    println!("work per thread per window | 1 thread | 2, std Barrier | 2, spinning");
    for per in [100u64, 400, 1_600, 6_400] {
        let t0 = Instant::now();
        let mut s = 0;
        for i in 0..rounds {
            s ^= work(per, i) ^ work(per, i + 7);
        }
        black_box(s);
        let one = t0.elapsed().as_nanos() as f64 / rounds as f64;
        let b = Arc::new(Barrier::new(2));
        let futex = two_threads(
            rounds,
            per,
            Arc::new(move || {
                b.wait();
            }),
        );
        let spin = Arc::new(Spin {
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            n: 2,
        });
        let spinning = two_threads(rounds, per, Arc::new(move || spin.wait()));
        println!(
            "{per:>6} steps | {one:>8.0} ns | {futex:>8.0} ns ({:.2}×) | {spinning:>8.0} ns ({:.2}×)",
            one / futex,
            one / spinning
        );
    }
}
