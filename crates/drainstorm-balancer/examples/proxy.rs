//! A proxy's workers picking backends with one balancer, while a control
//! thread drains a backend: no pick blocks, and once `update` returns no
//! worker picks the drained backend again.
//!
//! Run with `cargo run -p drainstorm-balancer --example proxy`: it needs
//! nothing but this crate.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use drainstorm_balancer::{Backend, BackendId, Balancer, LeastConn};

fn main() -> Result<(), drainstorm_balancer::BalancerError> {
    let backends: Vec<Backend> = (0..4).map(|i| Backend::new(i, 1)).collect();
    let lb = Arc::new(LeastConn::new(&backends)?);
    let drained = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let (lb, drained) = (Arc::clone(&lb), Arc::clone(&drained));
            std::thread::spawn(move || {
                // One handle per worker thread: it caches the backend set.
                let mut handle = lb.handle();
                let mut served = [0u32; 4];
                let mut after_drain = 0;
                // Eight requests in flight per worker: each ends (its guard
                // dropped) when the eighth after it starts.
                let mut in_flight = std::collections::VecDeque::new();
                for request in 0..100_000u64 {
                    let was_drained = drained.load(Ordering::Acquire);
                    let Some(backend) = handle.pick(request) else {
                        continue;
                    };
                    if in_flight.len() == 8 {
                        in_flight.pop_front();
                    }
                    in_flight.push_back(lb.begin(backend));
                    served[backend.0 as usize] += 1;
                    if was_drained && backend == BackendId(3) {
                        after_drain += 1;
                    }
                }
                println!("worker {w}: served per backend {served:?}");
                after_drain
            })
        })
        .collect();
    // The control plane drains backend 3 while the workers pick.
    std::thread::sleep(std::time::Duration::from_millis(2));
    let mut fewer = backends.clone();
    fewer[3] = Backend::new(3, 0);
    lb.update(&fewer)?;
    drained.store(true, Ordering::Release);
    let late: u32 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    println!("picks of the drained backend after its drain: {late}");
    assert_eq!(late, 0);
    Ok(())
}
