//! Size: the same system, *k* times larger.
//!
//! A region's verdicts depend on its size: a larger system has less noise
//! to escape a bad state by, and a storm that a small model shakes off can
//! hold a large one for hours. [`SimConfig::scaled`] multiplies every
//! *extensive* quantity — one that grows with the system — by *k* and
//! leaves every *intensive* one — a property of one backend, one client,
//! one request — alone, so that a profile written at one size can be run
//! at another and the answers compared (`drainstorm plan size`).
//!
//! | quantity | kind | scaled |
//! |---|---|---|
//! | `sites[].backends[].count` | extensive | × k, rounded up |
//! | `sites[].max_new_per_sec`, `scaling.max_per_sec` | extensive | × k |
//! | `sites[].accept_backlog`, `max_in_flight` | extensive | × k, rounded up |
//! | `sites[].autoscaling.initial`, `min` | extensive | × k, rounded up, within the pool |
//! | `sites[].weight` | extensive (relative) | × k, rounded; shares unchanged |
//! | `clients[].workload.rate`, closed-loop `clients` | extensive | × k (clients rounded up) |
//! | `clients[].instances` | extensive | × k, rounded up (the default follows the rate) |
//! | `clients[].keys.count` | extensive (more users) | × k, rounded up |
//! | `set-accept-rate`, `set-load` rates; `set-site-weight` | extensive | × k (weights rounded) |
//! | `set-backend-weights`, `set-backend-failure` lists | per backend | each backend's entry copied to its copies |
//! | service times, `slots`, `queue`, backend `speed`, `weight`, `fail_probability`, `discipline` | intensive | no |
//! | retry policies (attempts, timeouts, backoff, budgets, breakers, limits: per instance) | intensive | no |
//! | router (`mode`, `dns_ttl`, health checks, panic threshold, slow start, propagation), load-curve factors, growth and headroom of scaling, balancer parameters, the recorder and its verdict rule | intensive | no |
//! | the number of sites, the timeline's times and sites | structure | no |
//!
//! A group's instances grow with it, so each instance keeps its share of
//! the load: a region ten times larger is ten times as many clients, not
//! clients ten times as busy. Zipf keys keep their exponent over ten times
//! as many users, so the hottest key carries `k^(1 − s)` times the load
//! it did: real hot spots grow with a system, and the hashing balancers
//! meet them.
//!
//! Backend *j* of a group of *c* becomes backends `⌊j·c′/c⌋ ..
//! ⌊(j+1)·c′/c⌋` of the group's *c′* (at least one each), so a per-backend
//! weight or failure applies to each of its copies; when a group shrinks,
//! a new backend takes the weight of the first it stands for and fails if
//! any of them did.

use super::config::Action;
use super::config::{KeyDist, SimConfig, Workload};
use super::error::SimError;

/// The largest size factor.
pub const MAX_SCALE: f64 = 1e6;

/// A quantity that scaling could not multiply exactly, and what it became.
#[derive(Clone, Debug, PartialEq)]
pub struct Rounded {
    /// The key path (`sites[1].backends[0].count`).
    pub path: String,
    /// The value as written.
    pub from: f64,
    /// The exact product.
    pub exact: f64,
    /// The whole number used.
    pub to: u64,
}

/// A configuration at another size, and what was rounded to get there.
#[derive(Clone, Debug, PartialEq)]
pub struct Scaled {
    /// The configuration at the new size.
    pub config: SimConfig,
    /// Counts that are not whole at this factor, rounded (up, except
    /// router weights, which round to the nearest and stay at least 1).
    pub rounded: Vec<Rounded>,
}

/// Rounds while it scales, noting what was not whole.
struct Scaler {
    k: f64,
    rounded: Vec<Rounded>,
}

impl Scaler {
    /// `⌈v × k⌉` (an exact product is not rounded up by its floating-point
    /// error), at least 1 if `v` was.
    fn up(&mut self, path: impl FnOnce() -> String, v: u64) -> u64 {
        let to = round_up(v, self.k);
        self.note(path, v, v as f64 * self.k, to);
        to
    }

    /// `v × k` rounded to the nearest, at least 1 if `v` was.
    fn nearest(&mut self, path: impl FnOnce() -> String, v: u64) -> u64 {
        let exact = v as f64 * self.k;
        let to = (exact.round().min(u64::MAX as f64) as u64).max(u64::from(v > 0));
        self.note(path, v, exact, to);
        to
    }

    fn note(&mut self, path: impl FnOnce() -> String, v: u64, exact: f64, to: u64) {
        if (exact - to as f64).abs() > 1e-9 * exact.max(1.0) {
            self.rounded.push(Rounded {
                path: path(),
                from: v as f64,
                exact,
                to,
            });
        }
    }

    fn up32(&mut self, path: impl FnOnce() -> String, v: u32) -> u32 {
        self.up(path, u64::from(v)).min(u64::from(u32::MAX)) as u32
    }

    fn nearest32(&mut self, path: impl FnOnce() -> String, v: u32) -> u32 {
        self.nearest(path, u64::from(v)).min(u64::from(u32::MAX)) as u32
    }
}

/// An autoscaler over a pool `k` times as large: `initial` and `min`
/// (counts of backends) scale with it, rounded up as the pool's counts
/// are, so a valid autoscaler stays valid (⌈a·k⌉ ≤ ⌈b·k⌉ when a ≤ b). An
/// invalid one may round into a valid one, so a configuration is
/// validated as written first (profiles are).
pub(crate) fn resize_autoscaling(a: &mut crate::sim::config::Autoscaling, k: f64) {
    a.initial = round_up(u64::from(a.initial), k).clamp(1, u64::from(u32::MAX)) as u32;
    a.min = a
        .min
        .map(|m| round_up(u64::from(m), k).clamp(1, u64::from(u32::MAX)) as u32);
}

/// `⌈v × k⌉`, at least 1 if `v` was; an exact product is not rounded up
/// by its floating-point error (0.1 × 30 is 3, not 4).
pub(crate) fn round_up(v: u64, k: f64) -> u64 {
    let exact = v as f64 * k;
    let near = exact.round();
    let to = if (exact - near).abs() <= 1e-9 * near.max(1.0) {
        near
    } else {
        exact.ceil()
    };
    (to.min(u64::MAX as f64) as u64).max(u64::from(v > 0))
}

/// For each new backend of a group grown (or shrunk) from `old` to `new`,
/// the old ones it stands for, in order (see the module documentation):
/// one each when the group grows, several when it shrinks.
fn originals(old: u32, new: u32) -> Vec<Vec<u32>> {
    let (c, c2) = (u64::from(old), u64::from(new));
    let mut of = vec![Vec::new(); new as usize];
    for j in 0..c {
        let lo = j * c2 / c;
        let hi = ((j + 1) * c2 / c).max(lo + 1).min(c2);
        for i in lo..hi {
            of[i as usize].push(j as u32);
        }
    }
    of
}

/// For each new backend, the first old one it stands for.
fn copies_of(old: u32, new: u32) -> Vec<u32> {
    originals(old, new).into_iter().map(|o| o[0]).collect()
}

impl SimConfig {
    /// This configuration at `k` times its size (see the [module
    /// documentation](super::scale) for what is extensive and what is
    /// not). `k` is in (0, [`MAX_SCALE`]]; 1 gives the configuration back
    /// unchanged. The result is not validated: at a large `k` it may
    /// exceed the simulator's limits, which
    /// [`validate`](SimConfig::validate) then names.
    ///
    /// ```
    /// use drainstorm::sim::SimConfig;
    ///
    /// let c = SimConfig::example(); // 2 sites × 4 backends, 500 requests/s
    /// let big = c.scaled(2.5)?;
    /// assert_eq!(big.config.sites[0].backends[0].count, 10);
    /// assert_eq!(big.config.clients[0].instance_count(), 1250);
    /// assert_eq!(big.config.sites[0].max_in_flight, Some(160));
    /// assert_eq!(big.config.sites[0].backends[0].service, c.sites[0].backends[0].service);
    /// assert!(big.rounded.is_empty()); // every product is whole
    /// assert_eq!(c.scaled(1.0)?.config, c);
    /// # Ok::<(), drainstorm::sim::SimError>(())
    /// ```
    pub fn scaled(&self, k: f64) -> Result<Scaled, SimError> {
        if !(k.is_finite() && k > 0.0 && k <= MAX_SCALE) {
            return Err(SimError::invalid(
                "scale",
                k,
                format!("a size factor above 0 and at most {MAX_SCALE:e}"),
            ));
        }
        let mut c = self.clone();
        let mut s = Scaler {
            k,
            rounded: Vec::new(),
        };
        let mut groups: Vec<Vec<(u32, u32)>> = Vec::new();
        for (i, site) in c.sites.iter_mut().enumerate() {
            if let Some(w) = site.weight {
                site.weight = Some(s.nearest32(|| format!("sites[{i}].weight"), w));
            }
            if let Some(m) = site.max_in_flight {
                site.max_in_flight = Some(s.up32(|| format!("sites[{i}].max_in_flight"), m));
            }
            site.max_new_per_sec = site.max_new_per_sec.map(|r| r * k);
            site.accept_backlog =
                s.up32(|| format!("sites[{i}].accept_backlog"), site.accept_backlog);
            if let Some(sc) = &mut site.scaling {
                sc.max_per_sec *= k;
            }
            let mut sizes = Vec::new();
            for (j, b) in site.backends.iter_mut().enumerate() {
                let old = b.count;
                b.count = s.up32(|| format!("sites[{i}].backends[{j}].count"), old);
                sizes.push((old, b.count));
            }
            if let Some(a) = &mut site.autoscaling {
                resize_autoscaling(a, k);
            }
            groups.push(sizes);
        }
        for (i, g) in c.clients.iter_mut().enumerate() {
            match &mut g.workload {
                Workload::Open { rate, .. } => *rate *= k,
                Workload::Closed { clients, .. } => {
                    *clients = s.up32(|| format!("clients[{i}].workload.clients"), *clients);
                }
            }
            if let Some(n) = g.instances {
                g.instances = Some(s.up32(|| format!("clients[{i}].instances"), n));
            }
            match &mut g.keys {
                KeyDist::Uniform { count } | KeyDist::Zipf { count, .. } => {
                    *count = s.up(|| format!("clients[{i}].keys.count"), *count);
                }
            }
        }
        let site_of = |name: &str| self.site_index(name);
        for (t, a) in c.timeline.iter_mut().enumerate() {
            match &mut a.action {
                Action::SetAcceptRate {
                    max_new_per_sec, ..
                } => *max_new_per_sec *= k,
                Action::SetLoad { rate, .. } => *rate *= k,
                Action::SetSiteWeight { weight, .. } => {
                    *weight = s.nearest32(|| format!("timeline[{t}].weight"), *weight);
                }
                Action::SetBackendWeights { site, weights } => {
                    if let Some(i) = site_of(site) {
                        *weights = per_backend(&groups[i], weights);
                    }
                }
                Action::SetBackendFailure {
                    site,
                    backends: Some(list),
                    ..
                } => {
                    // A new backend fails if any backend it stands for did.
                    if let Some(i) = site_of(site) {
                        let mut out = Vec::new();
                        let (mut old_at, mut new_at) = (0u32, 0u32);
                        for &(from, to) in &groups[i] {
                            for (k, js) in originals(from, to).into_iter().enumerate() {
                                if js.iter().any(|j| list.contains(&(old_at + j))) {
                                    out.push(new_at + k as u32);
                                }
                            }
                            old_at += from;
                            new_at += to;
                        }
                        *list = out;
                    }
                }
                _ => {}
            }
        }
        Ok(Scaled {
            config: c,
            rounded: s.rounded,
        })
    }
}

/// A per-backend list over a site whose groups grew as `groups` (old, new
/// counts): each new backend takes the entry of the first backend it
/// stands for. A list that does not match the site (an invalid action,
/// refused by validation) is kept as it is.
fn per_backend<T: Copy>(groups: &[(u32, u32)], old: &[T]) -> Vec<T> {
    let mut out = Vec::new();
    let mut at = 0usize;
    for &(from, to) in groups {
        for j in copies_of(from, to) {
            match old.get(at + j as usize) {
                Some(&v) => out.push(v),
                None => return old.to_vec(),
            }
        }
        at += from as usize;
    }
    if at != old.len() {
        return old.to_vec();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_backend_has_at_least_one_copy_and_every_copy_one_original() {
        for old in 1..20u32 {
            for new in 1..50u32 {
                let owner = copies_of(old, new);
                assert!(owner.iter().all(|&j| j < old), "{old} → {new}: {owner:?}");
                assert!(owner.windows(2).all(|w| w[0] <= w[1]), "in order");
                if new >= old {
                    // Every original is copied.
                    for j in 0..old {
                        assert!(owner.contains(&j), "{old} → {new}: {j} lost");
                    }
                }
            }
        }
        assert_eq!(copies_of(2, 5), vec![0, 0, 1, 1, 1]);
        assert_eq!(copies_of(4, 8), vec![0, 0, 1, 1, 2, 2, 3, 3]);
        assert_eq!(copies_of(8, 2), vec![0, 4]);
    }

    #[test]
    fn whole_products_are_not_rounded_and_fractions_round_up() {
        let mut s = Scaler {
            k: 0.1,
            rounded: Vec::new(),
        };
        assert_eq!(s.up(|| "a".into(), 30), 3); // 0.1 × 30 is 3.0000000000000004
        assert!(s.rounded.is_empty());
        assert_eq!(s.up(|| "b".into(), 8), 1);
        assert_eq!(s.up(|| "c".into(), 0), 0);
        assert_eq!(s.nearest(|| "d".into(), 4), 1); // at least 1
        assert_eq!(s.nearest(|| "e".into(), 0), 0);
        let paths: Vec<&str> = s.rounded.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["b", "d"]);
    }
}
