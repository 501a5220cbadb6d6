//! Embedding the simulator in a host loop: build a scenario in code, step
//! it in slices of simulated time, watch the sites, and inject a drain the
//! moment the host decides to (here: at 20 s), then restore it.
//!
//! Run with `cargo run --release --example embed`.

use drainstorm::sim::{Action, SimConfig, Simulation, Workload};
use drainstorm::time::{SimDuration, SimTime};

fn main() -> Result<(), drainstorm::sim::SimError> {
    // Two sites of four single-slot backends (10 ms mean service) under
    // 550 requests per second: 69 % busy, 34 % of it per site.
    let mut config = SimConfig::example();
    config.duration = SimDuration::from_secs(60);
    config.clients[0].workload = Workload::Open {
        rate: 550.0,
        curve: Vec::new(),
    };
    let mut sim = Simulation::new(config)?;

    // The host advances time in 5 s slices; between slices it may look at
    // the state and change it, as a control plane would.
    let slice = SimDuration::from_secs(5);
    let mut drained = false;
    while sim.now() < sim.end() {
        let until = sim.now() + slice;
        // `run_until` processes every event up to `until`, then moves the
        // clock there; `step` would process a single event.
        sim.run_until(until);
        let sites = sim.sites();
        let last = sim.recorder().series().last().cloned().unwrap_or_default();
        println!(
            "t={:>4.0}s  offered {:>4}/s  ok {:>4}/s  east: weight {:>2}, in flight {:>3}  west: weight {:>2}, in flight {:>3}",
            sim.now().as_secs_f64(),
            last.offered,
            last.successes,
            sites[0].effective_weight,
            sites[0].in_flight,
            sites[1].effective_weight,
            sites[1].in_flight
        );
        if !drained && sim.now() >= SimTime::from_secs(20) {
            println!("host: draining east");
            sim.inject(Action::Drain {
                site: "east".into(),
                ramp: SimDuration::ZERO,
            })?;
            sim.schedule(
                SimTime::from_secs(40),
                Action::Restore {
                    site: "east".into(),
                    ramp: SimDuration::from_secs(5),
                    cold_factor: 1.0,
                    cold_for: SimDuration::ZERO,
                },
            )?;
            drained = true;
        }
    }
    sim.finish();
    let s = sim.summary();
    println!(
        "\n{}: {} requests, {:.2}% lost, amplification {:.3}, p99 {:.1} ms",
        s.verdict,
        s.offered,
        s.lost * 100.0,
        s.amplification,
        s.p99 * 1e3
    );
    Ok(())
}
