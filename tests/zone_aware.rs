//! Zone-aware routing: an instance's attempts stay in its zone while the
//! zone has its share of the capacity, and spill only what it lacks.

use drainstorm::balancer::zone_split;
use drainstorm::sim::{Action, RouterMode, SimConfig, SimError, Simulation};
use drainstorm::time::{SimDuration, SimTime};
use proptest::prelude::*;

/// `example()` (two equal sites) with its clients as one instance, so all
/// of them live in one zone, routed zone-aware.
fn one_zone() -> SimConfig {
    let mut c = SimConfig::example();
    c.clients[0].instances = Some(1);
    c.router.mode = RouterMode::ZoneAware;
    c.duration = SimDuration::from_secs(30);
    c
}

/// The attempts each site admitted in seconds `from..to`.
fn admitted(sim: &Simulation, from: usize, to: usize) -> [u64; 2] {
    let r = sim.recorder();
    let mut out = [0; 2];
    for i in from..to {
        for (s, o) in out.iter_mut().enumerate() {
            *o += r.site_interval(i, s).map_or(0, |x| x.admitted);
        }
    }
    out
}

#[test]
fn clients_all_in_one_zone_spread_by_capacity() {
    // All the clients live in one zone, which holds half the capacity: it
    // keeps half their traffic (Envoy counts where its clients are).
    let mut sim = Simulation::new(one_zone()).unwrap();
    sim.run_until(SimTime::from_millis(10_000));
    let first = admitted(&sim, 1, 10);
    let share0 = first[0] as f64 / (first[0] + first[1]) as f64;
    assert!((share0 - 0.5).abs() < 0.05, "{first:?}");
    // One site down to half its weight holds a third of the capacity, and
    // gets a third of the traffic, wherever the clients live.
    let name = sim.sites()[0].name.clone();
    assert_eq!(sim.sites()[0].weight, 4);
    sim.inject(Action::SetSiteWeight {
        site: name.clone(),
        weight: 2,
        ramp: SimDuration::ZERO,
    })
    .unwrap();
    sim.run_until(SimTime::from_millis(20_000));
    let second = admitted(&sim, 11, 20);
    let share0 = second[0] as f64 / (second[0] + second[1]) as f64;
    assert!((share0 - 1.0 / 3.0).abs() < 0.05, "{second:?}");
    // Drained, it gets nothing.
    sim.inject(Action::Drain {
        site: name,
        ramp: SimDuration::ZERO,
    })
    .unwrap();
    sim.run();
    let third = admitted(&sim, 21, 30);
    assert_eq!(third[0], 0, "{third:?}");
}

#[test]
fn zone_aware_routing_takes_no_dns_ttl() {
    let mut c = one_zone();
    c.router.dns_ttl = SimDuration::from_secs(30);
    match Simulation::new(c) {
        Err(SimError::Invalid { path, .. }) => assert_eq!(path, "router.dns_ttl"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a TTL was accepted"),
    }
}

proptest! {
    /// The split sums to 1; a zone with at least its clients' share of the
    /// capacity keeps everything; a short one keeps exactly its
    /// capacity's worth and spills only to zones with room beyond their
    /// own clients (when any has room).
    #[test]
    fn spillover_only_when_the_local_zone_is_short(
        zones in prop::collection::vec((0u32..10, 1u32..10), 2..8),
        local in 0usize..8,
    ) {
        let local = local % zones.len();
        let h: Vec<f64> = zones.iter().map(|z| f64::from(z.0)).collect();
        let c: Vec<f64> = zones.iter().map(|z| f64::from(z.1)).collect();
        let split = zone_split(local, &h, &c);
        let (ht, ct) = (h.iter().sum::<f64>(), c.iter().sum::<f64>());
        if ht == 0.0 {
            prop_assert!(split.iter().all(|&p| p == 0.0));
            return Ok(());
        }
        prop_assert!((split.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let (hl, cl) = (h[local] / ht, c[local] / ct);
        if hl > 0.0 && hl >= cl {
            prop_assert_eq!(split[local], 1.0);
            prop_assert!(split.iter().enumerate().all(|(k, &p)| k == local || p == 0.0));
        } else {
            prop_assert!((split[local] - hl / cl).abs() < 1e-9);
            let room: Vec<bool> = (0..h.len()).map(|k| k != local && h[k] / ht > c[k] / ct).collect();
            if room.iter().any(|&r| r) {
                for (k, &p) in split.iter().enumerate() {
                    if k != local && !room[k] {
                        prop_assert!(p.abs() < 1e-12, "zone {k} without room got {p}");
                    }
                }
            }
        }
    }
}
