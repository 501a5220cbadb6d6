//! The capacity factor: how much of today's capacity the sites that stay
//! in rotation have, and what one number scales.
//!
//! A factor *f* multiplies, for every site no timeline action drains:
//!
//! - **backends** ([`Capacity::Backends`]): each backend group's `count`,
//!   rounded up to a whole backend (`⌈count × f⌉`, at least 1), so that a
//!   factor is an order for machines. Per-backend weights and failure
//!   lists in the timeline follow the groups (new backends copy the
//!   group's last weight);
//! - **load balancers** ([`Capacity::LoadBalancers`]): the accept rate
//!   `max_new_per_sec`, the scaling ceiling `scaling.max_per_sec`,
//!   `max_in_flight` (rounded up), and every `set-accept-rate` of those
//!   sites in the timeline (a fix that raised the rate by half still raises
//!   it by half);
//! - or both together ([`Capacity::Both`], the default).
//!
//! Nothing else changes: service times, queues, accept backlogs, the
//! drained sites, the clients. *f* = 1 is the profile as written.

use serde::Serialize;

use crate::sim::{Action, SimConfig};

/// What a capacity factor scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capacity {
    /// Backends and load balancers together.
    Both,
    /// Backend counts only.
    Backends,
    /// Load-balancer accept rates and in-flight limits only.
    LoadBalancers,
}

impl Capacity {
    fn backends(self) -> bool {
        matches!(self, Self::Both | Self::Backends)
    }
    fn lbs(self) -> bool {
        matches!(self, Self::Both | Self::LoadBalancers)
    }
}

/// The sites that stay in rotation: those no `drain` or `paced-drain`
/// action names.
pub fn staying_sites(config: &SimConfig) -> Vec<usize> {
    let drained: Vec<&str> = config
        .timeline
        .iter()
        .filter_map(|t| match &t.action {
            Action::Drain { site, .. } | Action::PacedDrain { site, .. } => Some(site.as_str()),
            _ => None,
        })
        .collect();
    (0..config.sites.len())
        .filter(|&i| !drained.contains(&config.sites[i].name.as_str()))
        .collect()
}

/// `config` with the staying sites' capacity multiplied by `factor`.
///
/// ```
/// use drainstorm::plan::{Capacity, scale_capacity};
/// use drainstorm::profile::Profile;
///
/// let base = Profile::bundled("cheyenne-2026").unwrap()?.sim_config();
/// let more = scale_capacity(&base, 1.25, Capacity::Both);
/// assert_eq!(more.sites[0].backends[0].count, 80); // cys is drained: unchanged
/// assert_eq!(more.sites[1].backends[0].count, 100);
/// assert_eq!(more.sites[1].max_new_per_sec, Some(230.0 * 1.25));
/// more.validate().unwrap();
/// # Ok::<(), drainstorm::profile::ProfileError>(())
/// ```
pub fn scale_capacity(config: &SimConfig, factor: f64, capacity: Capacity) -> SimConfig {
    let mut c = config.clone();
    let staying = staying_sites(config);
    for &i in &staying {
        let site = &mut c.sites[i];
        if capacity.lbs() {
            site.max_new_per_sec = site.max_new_per_sec.map(|r| r * factor);
            site.max_in_flight = site
                .max_in_flight
                .map(|m| ((f64::from(m) * factor).ceil() as u32).max(1));
            if let Some(s) = &mut site.scaling {
                s.max_per_sec *= factor;
            }
        }
        if capacity.backends() {
            let old: Vec<u32> = site.backends.iter().map(|b| b.count).collect();
            for b in &mut site.backends {
                b.count = scaled_count(b.count, factor);
            }
            let new: Vec<u32> = site.backends.iter().map(|b| b.count).collect();
            if let Some(a) = &mut site.autoscaling {
                crate::sim::scale::resize_autoscaling(a, factor);
            }
            let name = site.name.clone();
            for t in &mut c.timeline {
                match &mut t.action {
                    Action::SetBackendWeights { site, weights } if *site == name => {
                        *weights = regroup(weights, &old, &new);
                    }
                    Action::SetBackendFailure {
                        site,
                        backends: Some(list),
                        ..
                    } if *site == name => {
                        let total: u32 = new.iter().sum();
                        list.retain(|&b| b < total);
                    }
                    _ => {}
                }
            }
        }
    }
    if capacity.lbs() {
        let names: Vec<String> = staying
            .iter()
            .map(|&i| config.sites[i].name.clone())
            .collect();
        for t in &mut c.timeline {
            if let Action::SetAcceptRate {
                site,
                max_new_per_sec,
            } = &mut t.action
                && names.contains(site)
            {
                *max_new_per_sec *= factor;
            }
        }
    }
    c
}

/// `⌈count × factor⌉`, at least 1 (an exact product is not rounded up by
/// its floating-point error).
fn scaled_count(count: u32, factor: f64) -> u32 {
    crate::sim::scale::round_up(u64::from(count), factor).clamp(1, u64::from(u32::MAX)) as u32
}

/// Per-backend weights laid out for new group sizes: each group keeps its
/// first weights and repeats its last.
fn regroup(weights: &[u32], old: &[u32], new: &[u32]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut at = 0usize;
    for (&o, &n) in old.iter().zip(new) {
        let group = &weights[at.min(weights.len())..(at + o as usize).min(weights.len())];
        let last = group.last().copied().unwrap_or(1);
        out.extend((0..n as usize).map(|k| group.get(k).copied().unwrap_or(last)));
        at += o as usize;
    }
    out
}

/// The load and the capacities at *f* = 1 that capacity arithmetic
/// compares: requests per second at the peak of the load curves (open
/// loop; closed-loop groups count their clients' best case, one request
/// per think time), and, over the staying sites, what their backends serve
/// per second (slots × speed ÷ mean service time) and what their load
/// balancers accept per second at the drain (the configured
/// `max_new_per_sec`, before any scaling; unlimited counts as no limit).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Arithmetic {
    /// Peak offered requests per second.
    pub peak_load: f64,
    /// The staying sites' backend capacity, requests per second.
    pub backend_capacity: f64,
    /// The staying sites' accept rate, per second (infinite if unlimited).
    pub accept_capacity: f64,
}

impl Arithmetic {
    /// Computes it for a configuration.
    pub fn of(config: &SimConfig) -> Arithmetic {
        let peak_load = config.clients.iter().map(|g| g.peak_rate()).sum();
        let staying = staying_sites(config);
        let mut backend_capacity = 0.0;
        let mut accept_capacity = 0.0;
        for &i in &staying {
            let s = &config.sites[i];
            for b in &s.backends {
                backend_capacity += f64::from(b.count) * f64::from(b.slots) * b.speed
                    / b.service.mean().as_secs_f64().max(1e-9);
            }
            accept_capacity += s.max_new_per_sec.unwrap_or(f64::INFINITY);
        }
        Arithmetic {
            peak_load,
            backend_capacity,
            accept_capacity,
        }
    }

    /// The factor at which the peak load uses exactly the tighter of the
    /// two capacities.
    pub fn break_even(&self) -> f64 {
        (self.peak_load / self.backend_capacity).max(self.peak_load / self.accept_capacity)
    }

    /// Which limit is the tighter at factor `f` with `capacity`, and the
    /// utilisation of both: (binding, backend utilisation, accept
    /// utilisation).
    pub fn at(&self, f: f64, capacity: Capacity) -> (Binding, f64, f64) {
        let fb = if capacity.backends() { f } else { 1.0 };
        let fl = if capacity.lbs() { f } else { 1.0 };
        let ub = self.peak_load / (self.backend_capacity * fb);
        let ul = self.peak_load / (self.accept_capacity * fl);
        (
            if ub >= ul {
                Binding::Backends
            } else {
                Binding::AcceptRate
            },
            ub,
            ul,
        )
    }
}

/// The limit that binds first at the peak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Binding {
    /// Backend capacity.
    Backends,
    /// The load balancers' accept rate.
    AcceptRate,
}

impl std::fmt::Display for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Backends => "backend capacity",
            Self::AcceptRate => "load-balancer accept rate",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_round_up_and_groups_keep_their_weights() {
        assert_eq!(scaled_count(8, 1.0), 8);
        assert_eq!(scaled_count(8, 1.01), 9);
        assert_eq!(scaled_count(10, 1.1), 11);
        assert_eq!(scaled_count(3, 0.1), 1);
        assert_eq!(regroup(&[1, 2, 5, 6], &[2, 2], &[3, 1]), [1, 2, 2, 5]);
    }

    #[test]
    fn the_incident_is_bound_by_its_accept_rate() {
        let c = crate::profile::Profile::bundled("cheyenne-2026")
            .unwrap()
            .unwrap()
            .sim_config();
        assert_eq!(staying_sites(&c), [1, 2, 3]);
        let a = Arithmetic::of(&c);
        assert!((a.peak_load - 900.0).abs() < 1e-9, "{a:?}");
        assert!((a.backend_capacity - 1200.0).abs() < 1e-9, "{a:?}");
        assert!((a.accept_capacity - 690.0).abs() < 1e-9, "{a:?}");
        assert!((a.break_even() - 900.0 / 690.0).abs() < 1e-9);
        assert_eq!(a.at(1.0, Capacity::Both).0, Binding::AcceptRate);
        assert_eq!(a.at(3.0, Capacity::LoadBalancers).0, Binding::Backends);
        let more = scale_capacity(&c, 2.0, Capacity::LoadBalancers);
        assert_eq!(more.sites[2].backends[0].count, 80);
        let fix = more.timeline.iter().find_map(|t| match &t.action {
            Action::SetAcceptRate {
                site,
                max_new_per_sec,
            } if site == "dfw" => Some(*max_new_per_sec),
            _ => None,
        });
        assert_eq!(fix, Some(680.0));
    }
}
