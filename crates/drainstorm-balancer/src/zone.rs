//! Zone-aware routing: Envoy's locality split of a zone's traffic between
//! its own zone and the others.
//!
//! Clients in zone *z* send a share `c[z]` of all traffic; zone *z* holds a
//! share `h[z]` of the healthy upstream capacity. Envoy's zone-aware
//! routing ("Zone aware routing", Envoy architecture overview) keeps every
//! request in its zone while the zone holds at least the share it sends
//! (`h[z] ≥ c[z]`). Otherwise it keeps `h[z] / c[z]` of them and spills
//! the rest to the other zones in proportion to their *residual* capacity,
//! `max(0, h[k] − c[k])` — what they hold beyond their own clients' share —
//! so that a short zone's overflow lands where there is room, not where
//! the load already is. If no zone has residual capacity the rest goes by
//! capacity alone.
//!
//! ```
//! use drainstorm_balancer::zone_split;
//!
//! // Three zones with equal clients; zone 0 lost half its capacity.
//! let h = [1.0, 2.0, 2.0];
//! let c = [1.0, 1.0, 1.0];
//! let from0 = zone_split(0, &h, &c);
//! // Zone 0 holds 20 % of capacity for 33 % of traffic: it keeps 60 %,
//! // and the other 40 % goes to zones 1 and 2 alike.
//! assert!((from0[0] - 0.6).abs() < 1e-12);
//! assert!((from0[1] - 0.2).abs() < 1e-12 && (from0[2] - 0.2).abs() < 1e-12);
//! // Zone 1 holds more than it sends: it keeps everything.
//! assert_eq!(zone_split(1, &h, &c), vec![0.0, 1.0, 0.0]);
//! ```

/// The share of zone `local`'s traffic each zone receives, from every
/// zone's healthy capacity `healthy` and its clients' traffic `clients`
/// (any non-negative units; each is normalised to its sum). The shares sum
/// to 1, unless no zone has capacity (all 0) or `local` is out of range
/// (an empty vector).
pub fn zone_split(local: usize, healthy: &[f64], clients: &[f64]) -> Vec<f64> {
    let n = healthy.len();
    if local >= n || clients.len() != n {
        return Vec::new();
    }
    let clean = |v: &[f64]| -> Vec<f64> {
        let v: Vec<f64> = v
            .iter()
            .map(|&x| if x.is_finite() && x > 0.0 { x } else { 0.0 })
            .collect();
        let total: f64 = v.iter().sum();
        if total > 0.0 {
            v.iter().map(|x| x / total).collect()
        } else {
            v
        }
    };
    let (h, c) = (clean(healthy), clean(clients));
    let mut out = vec![0.0; n];
    if h.iter().all(|&x| x == 0.0) {
        return out;
    }
    if h[local] > 0.0 && h[local] >= c[local] {
        out[local] = 1.0;
        return out;
    }
    let keep = if c[local] > 0.0 {
        h[local] / c[local]
    } else {
        0.0
    };
    out[local] = keep;
    let spill = 1.0 - keep;
    let residual: Vec<f64> = (0..n)
        .map(|k| {
            if k == local {
                0.0
            } else {
                (h[k] - c[k]).max(0.0)
            }
        })
        .collect();
    let r: f64 = residual.iter().sum();
    let (weights, total) = if r > 0.0 {
        (residual, r)
    } else {
        let others: Vec<f64> = (0..n)
            .map(|k| if k == local { 0.0 } else { h[k] })
            .collect();
        let total = others.iter().sum();
        (others, total)
    };
    if total > 0.0 {
        for k in 0..n {
            out[k] += spill * weights[k] / total;
        }
    } else {
        out[local] = 1.0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drained_zone_spills_everything_by_residual() {
        // Zone 0 drained; zone 2 has the most room beyond its own clients.
        let s = zone_split(0, &[0.0, 1.0, 3.0], &[1.0, 1.0, 1.0]);
        // Residuals: zone 1: 1/4 − 1/3 < 0 → 0; zone 2: 3/4 − 1/3.
        assert_eq!(s, vec![0.0, 0.0, 1.0]);
    }

    #[test]
    fn without_residual_the_spill_follows_capacity() {
        // Every other zone is exactly at its clients' share.
        let s = zone_split(0, &[0.0, 1.0, 1.0], &[0.0, 1.0, 1.0]);
        assert_eq!(s, vec![0.0, 0.5, 0.5]);
        let s = zone_split(0, &[1.0, 1.0, 2.0], &[2.0, 1.0, 1.0]);
        // keep 0.25/0.5 = 0.5; residuals: 0, 0.25 − 0.25 = 0, 0.5 − 0.25.
        assert_eq!(s, vec![0.5, 0.0, 0.5]);
    }

    #[test]
    fn nothing_healthy_nothing_routed() {
        assert_eq!(zone_split(1, &[0.0, 0.0], &[1.0, 1.0]), vec![0.0, 0.0]);
        assert!(zone_split(2, &[1.0, 1.0], &[1.0, 1.0]).is_empty());
    }
}
