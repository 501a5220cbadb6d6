//! A balancer of your own in the simulator: "first with room" — the first
//! backend in configuration order with fewer than two requests in flight,
//! else the least loaded. The pick is yours; the lock-free in-flight
//! counting, `update` and the guards are delegated to a built-in balancer
//! (`LeastConn`), which is the simplest way to satisfy `Balancer`.
//!
//! Run with `cargo run --release --example own_balancer`.

use std::sync::Arc;

use drainstorm::balancer::{
    Backend, BackendId, Balancer, BalancerError, InFlight, LeastConn, Picker,
};
use drainstorm::sim::{SimConfig, Simulation};

struct FirstWithRoom {
    counts: LeastConn,
}

impl FirstWithRoom {
    fn new(backends: &[Backend]) -> Result<Arc<Self>, BalancerError> {
        Ok(Arc::new(Self {
            counts: LeastConn::new(backends)?,
        }))
    }

    fn choose(&self) -> Option<BackendId> {
        let members = self.counts.backends();
        let load = |b: &Backend| self.counts.in_flight(b.id).unwrap_or(u64::MAX);
        members
            .iter()
            .filter(|b| b.weight > 0)
            .find(|b| load(b) < 2)
            .or_else(|| {
                members
                    .iter()
                    .filter(|b| b.weight > 0)
                    .min_by_key(|b| load(b))
            })
            .map(|b| b.id)
    }
}

/// The per-thread pick path the simulator uses: the same choice, counted
/// in the shared counts.
struct FirstWithRoomPicker(Arc<FirstWithRoom>);

impl Picker for FirstWithRoomPicker {
    fn pick(&mut self, _key: u64) -> Option<BackendId> {
        self.0.choose()
    }
    fn start(&mut self, id: BackendId) -> bool {
        self.0.counts.start(id)
    }
    fn finish(&mut self, id: BackendId) -> bool {
        self.0.counts.finish(id)
    }
}

/// `Balancer` for the `Arc`, so that pickers can share it.
struct Shared(Arc<FirstWithRoom>);

impl Balancer for Shared {
    fn name(&self) -> &'static str {
        "first-with-room"
    }
    fn pick(&self, _key: u64) -> Option<BackendId> {
        self.0.choose()
    }
    fn picker(&self) -> Box<dyn Picker> {
        Box::new(FirstWithRoomPicker(Arc::clone(&self.0)))
    }
    fn start(&self, id: BackendId) -> bool {
        self.0.counts.start(id)
    }
    fn finish(&self, id: BackendId) -> bool {
        self.0.counts.finish(id)
    }
    fn begin(&self, id: BackendId) -> Option<InFlight> {
        self.0.counts.begin(id)
    }
    fn in_flight(&self, id: BackendId) -> Option<u64> {
        self.0.counts.in_flight(id)
    }
    fn update(&self, backends: &[Backend]) -> Result<(), BalancerError> {
        self.0.counts.update(backends)
    }
    fn backends(&self) -> Vec<Backend> {
        self.0.counts.backends()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = SimConfig::example();
    let site = config.sites[0].name.clone();
    // The simulator replaces the backend set with the site's before the
    // run: any placeholder will do.
    let mine = Shared(FirstWithRoom::new(&[Backend::new(0, 1)])?);
    let mut sim = Simulation::builder(config.clone())
        .balancer(&site, Box::new(mine))
        .build()?;
    sim.run();
    let theirs = {
        let mut s = Simulation::new(config)?;
        s.run();
        s.summary()
    };
    let ours = sim.summary();
    println!(
        "{site} with first-with-room: {} ({:.2} % lost, p99 {:.1} ms); with its configured balancer: {} ({:.2} %, p99 {:.1} ms)",
        ours.verdict,
        ours.lost * 100.0,
        ours.p99 * 1e3,
        theirs.verdict,
        theirs.lost * 100.0,
        theirs.p99 * 1e3
    );
    assert_eq!(sim.sites()[0].balancer, "first-with-room");
    Ok(())
}
