//! Zone-aware routing: each client instance lives in a site's zone and
//! keeps its traffic there while the zone has the capacity for it,
//! spilling the rest where there is room (Envoy's locality split, see
//! [`zone_split`]).
//!
//! An instance's zone is a pure draw of (run seed, group, instance) in
//! proportion to the sites' configured router weights. A zone's clients'
//! share of the traffic is counted from the instances that live there
//! (each weighted by its group's rate, or closed-loop clients, over its
//! group's instances), as Envoy counts its own cluster's members in each
//! zone. A zone's healthy capacity is
//! its site's published router weight (drains, ramps, health and slow
//! start included); the split of each zone's traffic is worked out again
//! whenever a published weight changes.

use super::routing::Router;
use super::{GroupId, RequestId, Simulation, SiteId};
use crate::balancer::zone_split;
use crate::sim::random::{draw, of_group};
use crate::sim::router::WeightedSites;

/// Draws in `zone_split`'s shares are of whole parts in this many.
const PARTS: f64 = 1_048_576.0;

/// The zones' split tables.
pub(super) struct Zones {
    /// Instances' zones, drawn by the sites' configured weights.
    homes: WeightedSites,
    /// The clients' share of traffic from each zone.
    clients: Vec<f64>,
    /// Per zone, where its traffic goes.
    splits: Vec<WeightedSites>,
}

impl Zones {
    /// Zones for sites of configured weights `base`, now published at
    /// `published`; the clients' shares are the weights until
    /// [`Simulation::count_zone_clients`] counts them.
    pub(super) fn new(base: &[u32], published: &[u32]) -> Self {
        let mut homes = WeightedSites::default();
        homes.set(base.iter().copied());
        let mut z = Self {
            homes,
            clients: base.iter().map(|&w| f64::from(w)).collect(),
            splits: Vec::new(),
        };
        z.refresh(published);
        z
    }

    /// Works the splits out again for published weights `published`.
    pub(super) fn refresh(&mut self, published: &[u32]) {
        let healthy: Vec<f64> = published.iter().map(|&w| f64::from(w)).collect();
        self.splits = (0..published.len())
            .map(|local| {
                let mut table = WeightedSites::default();
                let split = zone_split(local, &healthy, &self.clients);
                table.set(split.iter().map(|p| (p * PARTS).round() as u32));
                table
            })
            .collect();
    }
}

/// The `a` of an instance's zone draw is its group and index; the stream
/// is the router's, turned so that it never repeats a routing draw.
const HOME: u64 = 0x20e5;

impl Simulation {
    /// Counts each zone's share of the clients' traffic from where the
    /// instances live, and works the splits out for it.
    pub(super) fn count_zone_clients(&mut self) {
        let Some(z) = self.router.zones.as_mut() else {
            return;
        };
        let mut shares = vec![0.0; z.clients.len()];
        for (g, group) in self.config.clients.iter().enumerate() {
            let traffic = match &group.workload {
                crate::sim::config::Workload::Open { rate, .. } => *rate,
                crate::sim::config::Workload::Closed { clients, .. } => f64::from(*clients),
            };
            let instances = self.clients.groups[GroupId::from(g)].instances;
            for i in 0..instances {
                let bits = draw(
                    self.seeds.router ^ HOME,
                    of_group(g as u64, u64::from(i)),
                    0,
                );
                if let Some(home) = z.homes.pick(bits) {
                    shares[home as usize] += traffic / f64::from(instances);
                }
            }
        }
        if shares.iter().any(|&s| s > 0.0) {
            z.clients = shares;
        }
        self.router.refresh_zones();
    }

    /// The site for attempt `attempt` of request `id` from instance
    /// `instance` of group `g`, by its zone's split. Kept out of line, so
    /// that the other modes' routing stays small on the attempt path.
    #[inline(never)]
    pub(super) fn zone_route(
        &self,
        g: GroupId,
        instance: u32,
        id: RequestId,
        attempt: u32,
    ) -> Option<SiteId> {
        let zones = self.router.zones.as_ref()?;
        let home_bits = draw(
            self.seeds.router ^ 0x20e5,
            of_group(g.index() as u64, u64::from(instance)),
            0,
        );
        let home = zones.homes.pick(home_bits)?;
        zones.splits[home as usize]
            .pick(draw(self.seeds.router, id.draws(), u64::from(attempt)))
            .map(SiteId::new)
    }
}

impl Router {
    /// Site weights moved: the zones' splits follow.
    pub(super) fn refresh_zones(&mut self) {
        if let Some(z) = self.zones.as_mut() {
            let published: Vec<u32> = self.members.iter().map(|m| m.published).collect();
            z.refresh(&published);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::random::mix;

    fn picks(z: &Zones, zone: usize) -> [u32; 3] {
        let mut n = [0; 3];
        for i in 0..3000u64 {
            n[z.splits[zone].pick(mix(i)).unwrap() as usize] += 1;
        }
        n
    }

    #[test]
    fn a_zone_with_its_share_keeps_its_traffic() {
        let z = Zones::new(&[4, 4, 8], &[4, 4, 8]);
        assert_eq!(picks(&z, 0), [3000, 0, 0]);
        assert_eq!(picks(&z, 2), [0, 0, 3000]);
    }

    #[test]
    fn a_drained_zone_spills_by_room() {
        // Zone 0 drained: zone 2 has room beyond its clients (8/12 > 8/16),
        // zone 1 too (4/12 > 4/16): twice as much room in zone 2.
        let z = Zones::new(&[4, 4, 8], &[0, 4, 8]);
        let n = picks(&z, 0);
        assert_eq!(n[0], 0);
        let ratio = f64::from(n[2]) / f64::from(n[1]);
        assert!((ratio - 2.0).abs() < 0.25, "{n:?}");
        assert_eq!(picks(&z, 1), [0, 3000, 0]);
    }
}
