//! The `drainstorm` command.
//!
//! This build carries the balancer kernel only: the drain simulator, the
//! profiles and the comparison report come with later work. Until then the
//! command lists the balancers it has and measures what a pick costs on
//! this machine.
//!
//! Exit codes: 0 ok, 1 a run failed, 2 bad input.

use std::process::ExitCode;
use std::time::Instant;

use drainstorm::balancer::{Backend, BackendId, BalancerKind, mix64};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BACKENDS: u32 = 64;
const PICKS: u64 = 2_000_000;

fn main() -> ExitCode {
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("drainstorm: {err}");
            ExitCode::from(1)
        }
    }
}

fn try_main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(arg) = std::env::args().nth(1) {
        eprintln!("drainstorm: unexpected argument {arg:?}: this build takes none");
        std::process::exit(2);
    }
    println!("drainstorm {}: balancer kernel", env!("CARGO_PKG_VERSION"));
    println!("(the drain simulator and its report are not built yet)\n");
    println!(
        "{:<14} {:>12}   ({BACKENDS} backends, weights 1..4, one thread, per-thread handle)",
        "balancer", "ns per pick"
    );
    let backends: Vec<Backend> = (0..BACKENDS).map(|i| Backend::new(i, i % 4 + 1)).collect();
    for kind in BalancerKind::ALL {
        let lb = kind.build(&backends, 1)?;
        for i in 0..BACKENDS {
            lb.start(BackendId(i));
        }
        let mut picker = lb.picker();
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let start = Instant::now();
            let mut sink = 0u64;
            for k in 0..PICKS {
                sink ^= u64::from(picker.pick(mix64(k)).map_or(0, |id| id.0));
            }
            std::hint::black_box(sink);
            best = best.min(start.elapsed().as_nanos() as f64 / PICKS as f64);
        }
        println!("{:<14} {:>12.1}", kind.name(), best);
    }
    println!("\nFor careful figures: cargo bench --bench pick");
    Ok(())
}
