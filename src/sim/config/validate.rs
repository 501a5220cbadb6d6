//! [`SimConfig::validate`]: every value against its allowed range, every
//! reference against what exists; errors name the key path.

use crate::balancer::{Backend, BalancerKind, KindParams};
use crate::retry::{MAX_POPULATION, Policy, SimDuration, SimTime};
use crate::sim::error::SimError;

use super::*;

pub(super) fn finite_in(
    path: &str,
    v: f64,
    lo: f64,
    hi: f64,
    allowed: &str,
) -> Result<(), SimError> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(SimError::invalid(path, v, allowed))
    }
}

impl SimConfig {
    /// Checks every value against its allowed range and every reference
    /// against what exists. The error names the key path (e.g.
    /// `sites[1].backends[0].slots`), the value and what is allowed.
    pub fn validate(&self) -> Result<(), SimError> {
        if self.duration == SimDuration::ZERO {
            return Err(SimError::invalid("duration", "0s", "above 0"));
        }
        let r = &self.recorder;
        if r.interval < SimDuration::from_millis(1) {
            return Err(SimError::invalid(
                "recorder.interval",
                r.interval,
                "at least 1ms",
            ));
        }
        if self.duration.0 / r.interval.0 >= MAX_INTERVALS {
            return Err(SimError::invalid(
                "recorder.interval",
                r.interval,
                format!(
                    "long enough that duration / interval < {MAX_INTERVALS} (the series would not fit in memory)"
                ),
            ));
        }
        if r.warm_up >= self.duration {
            return Err(SimError::invalid(
                "recorder.warm_up",
                r.warm_up,
                format!(
                    "below the duration ({}): nothing after the warm-up would be measured",
                    self.duration
                ),
            ));
        }
        finite_in(
            "recorder.collapse_ratio",
            r.collapse_ratio,
            0.0,
            1.0,
            "in [0, 1]",
        )?;
        if !(r.recovered_fraction > 0.0 && r.recovered_fraction <= 1.0) {
            return Err(SimError::invalid(
                "recorder.recovered_fraction",
                r.recovered_fraction,
                "in (0, 1]",
            ));
        }
        finite_in(
            "recorder.recovered_amplification",
            r.recovered_amplification,
            1.0,
            100.0,
            "in [1, 100]",
        )?;
        if let Some(w) = r.recovery_window
            && w < r.interval
        {
            return Err(SimError::invalid(
                "recorder.recovery_window",
                w,
                format!("at least one interval ({})", r.interval),
            ));
        }
        finite_in(
            "recorder.degraded_loss",
            r.degraded_loss,
            0.0,
            1.0,
            "in [0, 1]",
        )?;
        if self.sites.is_empty() {
            return Err(SimError::invalid("sites", "[]", "at least one site"));
        }
        if self.sites.len() > MAX_SITES {
            return Err(SimError::invalid(
                "sites",
                self.sites.len(),
                format!("at most {MAX_SITES} sites"),
            ));
        }
        let mut backends_total = 0u64;
        let mut places_total = 0u64;
        for (i, site) in self.sites.iter().enumerate() {
            let p = format!("sites[{i}]");
            if site.name.is_empty() {
                return Err(SimError::invalid(format!("{p}.name"), "\"\"", "a name"));
            }
            if self.sites[..i].iter().any(|s| s.name == site.name) {
                return Err(SimError::invalid(
                    format!("{p}.name"),
                    &site.name,
                    "a name no other site has",
                ));
            }
            check_params(
                &format!("{p}.balancer_params"),
                site.balancer,
                &site.balancer_params,
            )?;
            if site.max_in_flight == Some(0) {
                return Err(SimError::invalid(
                    format!("{p}.max_in_flight"),
                    0,
                    "at least 1, or absent for no limit",
                ));
            }
            if let Some(rate) = site.max_new_per_sec {
                finite_in(
                    &format!("{p}.max_new_per_sec"),
                    rate,
                    1e-3,
                    MAX_RATE,
                    "in [0.001, 1e8], or absent for no limit",
                )?;
            }
            if let Some(sc) = &site.scaling {
                let Some(base) = site.max_new_per_sec else {
                    return Err(SimError::invalid(
                        format!("{p}.scaling"),
                        "a table",
                        "only with max_new_per_sec set (the rate it starts from and never goes below)",
                    ));
                };
                finite_in(
                    &format!("{p}.scaling.max_per_sec"),
                    sc.max_per_sec,
                    base,
                    MAX_RATE,
                    "at least max_new_per_sec and at most 1e8",
                )?;
                finite_in(
                    &format!("{p}.scaling.headroom"),
                    sc.headroom,
                    1.0,
                    100.0,
                    "in [1, 100]",
                )?;
                finite_in(
                    &format!("{p}.scaling.growth"),
                    sc.growth,
                    1e-6,
                    10.0,
                    "in (0, 10]",
                )?;
            }
            if site.backends.is_empty() {
                return Err(SimError::invalid(
                    format!("{p}.backends"),
                    "[]",
                    "at least one backend group",
                ));
            }
            let mut site_backends: u64 = 0;
            for (j, b) in site.backends.iter().enumerate() {
                let q = format!("{p}.backends[{j}]");
                if let Some(name) = &b.name {
                    if name.is_empty() {
                        return Err(SimError::invalid(format!("{q}.name"), "\"\"", "a name"));
                    }
                    if site.backends[..j]
                        .iter()
                        .any(|o| o.name.as_ref() == Some(name))
                    {
                        return Err(SimError::invalid(
                            format!("{q}.name"),
                            name,
                            "a name no other backend group of the site has",
                        ));
                    }
                }
                if b.count == 0 {
                    return Err(SimError::invalid(format!("{q}.count"), 0, "at least 1"));
                }
                if b.slots == 0 {
                    return Err(SimError::invalid(format!("{q}.slots"), 0, "at least 1"));
                }
                finite_in(&format!("{q}.speed"), b.speed, 1e-6, 1e6, "in [1e-6, 1e6]")?;
                finite_in(
                    &format!("{q}.fail_probability"),
                    b.fail_probability,
                    0.0,
                    1.0,
                    "in [0, 1]",
                )?;
                validate_service(&format!("{q}.service"), &b.service)?;
                site_backends += u64::from(b.count);
                if site_backends > crate::balancer::MAX_BACKENDS as u64 {
                    return Err(SimError::invalid(
                        format!("{q}.count"),
                        b.count,
                        format!(
                            "small enough that the site has at most {} backends (a balancer's limit)",
                            crate::balancer::MAX_BACKENDS
                        ),
                    ));
                }
                backends_total += u64::from(b.count);
                places_total += u64::from(b.count) * (u64::from(b.slots) + u64::from(b.queue));
                if backends_total > MAX_BACKENDS_TOTAL {
                    return Err(SimError::invalid(
                        format!("{q}.count"),
                        b.count,
                        format!(
                            "small enough that all sites together have at most {MAX_BACKENDS_TOTAL} backends (they would not fit in memory)"
                        ),
                    ));
                }
                if places_total > MAX_SERVER_PLACES {
                    return Err(SimError::invalid(
                        format!("{q}.queue"),
                        b.queue,
                        format!(
                            "small enough that count × (slots + queue) over all backends stays at most {MAX_SERVER_PLACES} (it would not fit in memory)"
                        ),
                    ));
                }
            }
        }
        if self.clients.is_empty() {
            return Err(SimError::invalid("clients", "[]", "at least one group"));
        }
        for (i, g) in self.clients.iter().enumerate() {
            let p = format!("clients[{i}]");
            if self.clients[..i].iter().any(|o| o.name == g.name) {
                return Err(SimError::invalid(
                    format!("{p}.name"),
                    &g.name,
                    "a name no other group has",
                ));
            }
            match &g.workload {
                Workload::Open { rate, curve } => {
                    finite_in(
                        &format!("{p}.workload.rate"),
                        *rate,
                        0.0,
                        MAX_RATE,
                        "in [0, 1e8] requests per second",
                    )?;
                    validate_curve(&format!("{p}.workload.curve"), *rate, curve)?;
                }
                Workload::Closed { clients, think } => {
                    if *clients == 0 || *clients > MAX_CLIENTS {
                        return Err(SimError::invalid(
                            format!("{p}.workload.clients"),
                            clients,
                            format!("in [1, {MAX_CLIENTS}]"),
                        ));
                    }
                    if *think == SimDuration::ZERO {
                        return Err(SimError::invalid(
                            format!("{p}.workload.think"),
                            "0s",
                            "above 0",
                        ));
                    }
                }
            }
            match g.keys {
                KeyDist::Uniform { count } | KeyDist::Zipf { count, .. } if count == 0 => {
                    return Err(SimError::invalid(
                        format!("{p}.keys.count"),
                        0,
                        "at least 1",
                    ));
                }
                KeyDist::Zipf { exponent, .. } => finite_in(
                    &format!("{p}.keys.exponent"),
                    exponent,
                    1e-3,
                    100.0,
                    "in [0.001, 100]",
                )?,
                KeyDist::Uniform { .. } => {}
            }
            if let Some(n) = g.instances
                && !(1..=MAX_POPULATION).contains(&n)
            {
                return Err(SimError::invalid(
                    format!("{p}.instances"),
                    n,
                    format!("in [1, {MAX_POPULATION}] independent clients"),
                ));
            }
            let config = g.retry.resolve().ok_or_else(|| {
                SimError::invalid(
                    format!("{p}.retry"),
                    format!("{:?}", g.retry),
                    format!("a preset ({}) or a table", Policy::PRESETS.join(", ")),
                )
            })?;
            Policy::new(config).map_err(|e| {
                SimError::invalid(
                    format!("{p}.retry.{}", e.name),
                    &e.value,
                    e.allowed.to_string(),
                )
            })?;
        }
        let rt = &self.router;
        match rt.mode {
            RouterMode::WeightedRandom if rt.dns_ttl > SimDuration::ZERO => {
                return Err(SimError::invalid(
                    "router.dns_ttl",
                    rt.dns_ttl,
                    "0s with mode \"weighted-random\" (every attempt draws afresh; mode \"sticky\" keeps answers for a TTL)",
                ));
            }
            RouterMode::Sticky if rt.dns_ttl == SimDuration::ZERO => {
                return Err(SimError::invalid(
                    "router.dns_ttl",
                    rt.dns_ttl,
                    "above 0s with mode \"sticky\" (how long a client keeps its answer)",
                ));
            }
            _ => {}
        }
        if let Some(n) = rt.ttl_buckets {
            return Err(SimError::invalid(
                "router.ttl_buckets",
                n,
                format!(
                    "no `ttl_buckets` at all: it was replaced by `clients[].instances`, each client instance keeping its own DNS answer (write `instances = {n}` in each client group for {n} caches)"
                ),
            ));
        }
        finite_in(
            "router.panic_threshold",
            rt.panic_threshold,
            0.0,
            1.0,
            "in [0, 1]",
        )?;
        if let Some(h) = &rt.health_check {
            if h.interval < SimDuration::from_millis(1) {
                return Err(SimError::invalid(
                    "router.health_check.interval",
                    h.interval,
                    "at least 1ms",
                ));
            }
            if h.timeout == SimDuration::ZERO {
                return Err(SimError::invalid(
                    "router.health_check.timeout",
                    "0s",
                    "above 0",
                ));
            }
            for (name, v) in [("fall", h.fall), ("rise", h.rise)] {
                if v == 0 || v > 1000 {
                    return Err(SimError::invalid(
                        format!("router.health_check.{name}"),
                        v,
                        "in [1, 1000]",
                    ));
                }
            }
        }
        let mut last = SimTime::ZERO;
        for (i, t) in self.timeline.iter().enumerate() {
            if t.at < last {
                return Err(SimError::invalid(
                    format!("timeline[{i}].at"),
                    t.at,
                    format!("at or after the previous action ({last})"),
                ));
            }
            last = t.at;
            t.action
                .validate(self)
                .map_err(|e| e.within(&format!("timeline[{i}]")))?;
        }
        Ok(())
    }
}

/// Checks balancer parameters by building the kind over one backend.
pub(crate) fn check_params(
    path: &str,
    kind: BalancerKind,
    params: &KindParams,
) -> Result<(), SimError> {
    match kind.build_with(&[Backend::new(0, 1)], 0, params) {
        Ok(_) => Ok(()),
        Err(crate::balancer::BalancerError::InvalidParameter {
            name,
            value,
            allowed,
        }) => Err(SimError::invalid(format!("{path}.{name}"), value, allowed)),
        Err(e) => Err(SimError::invalid(
            path,
            format!("{params:?}"),
            e.to_string(),
        )),
    }
}

pub(crate) fn validate_service(path: &str, s: &ServiceTime) -> Result<(), SimError> {
    let mean = s.mean();
    if mean == SimDuration::ZERO || mean > SimDuration::from_secs(24 * 3600) {
        return Err(SimError::invalid(
            format!("{path}.mean"),
            mean,
            "above 0 and at most 24h",
        ));
    }
    if let ServiceTime::LogNormal { sigma, .. } = s {
        finite_in(&format!("{path}.sigma"), *sigma, 0.0, 4.0, "in [0, 4]")?;
    }
    Ok(())
}

pub(crate) fn validate_curve(path: &str, rate: f64, curve: &[CurvePoint]) -> Result<(), SimError> {
    let mut last = None;
    for (k, pt) in curve.iter().enumerate() {
        finite_in(
            &format!("{path}[{k}].factor"),
            pt.factor,
            0.0,
            MAX_RATE,
            "finite and ≥ 0",
        )?;
        if rate * pt.factor > MAX_RATE {
            return Err(SimError::invalid(
                format!("{path}[{k}].factor"),
                pt.factor,
                format!("small enough that rate × factor ≤ {MAX_RATE}"),
            ));
        }
        if last.is_some_and(|l| pt.at <= l) {
            return Err(SimError::invalid(
                format!("{path}[{k}].at"),
                pt.at,
                "later than the previous point",
            ));
        }
        last = Some(pt.at);
    }
    Ok(())
}
