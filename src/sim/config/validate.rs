//! [`SimConfig::validate`]: every value against its allowed range, every
//! reference against what exists; errors name the key path. Each part's
//! own checks live beside its type (`RecorderConfig::validate` in
//! `recorder.rs`, and so on); this file holds what only the whole
//! configuration can check, and the helpers the parts share.

use crate::balancer::{Backend, BalancerKind, KindParams};
use crate::sim::error::SimError;
use crate::time::{SimDuration, SimTime};

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
    ///
    /// Each part checks itself (the recorder, a site and its backend
    /// groups, a client group, the router, an action); this adds what
    /// only the whole can check: unique names, totals over every site,
    /// and the timeline's order and references.
    pub fn validate(&self) -> Result<(), SimError> {
        if self.duration == SimDuration::ZERO {
            return Err(SimError::invalid("duration", "0s", "above 0"));
        }
        self.recorder.validate(self.duration)?;
        self.validate_sites()?;
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
            g.validate(&p)?;
        }
        self.router.validate()?;
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

    /// Each site, then what holds across them: names no two share, and
    /// totals that fit in memory.
    fn validate_sites(&self) -> Result<(), SimError> {
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
            site.validate(&p)?;
            if self.sites[..i].iter().any(|s| s.name == site.name) {
                return Err(SimError::invalid(
                    format!("{p}.name"),
                    &site.name,
                    "a name no other site has",
                ));
            }
            for (j, b) in site.backends.iter().enumerate() {
                let q = format!("{p}.backends[{j}]");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn path(r: Result<(), SimError>) -> String {
        r.expect_err("refused").path().unwrap().to_string()
    }

    #[test]
    fn each_part_checks_itself_under_the_path_it_is_given() {
        let mut group = BackendGroup::new(
            4,
            ServiceTime::Exponential {
                mean: SimDuration::from_millis(5),
            },
        );
        assert!(group.validate("g").is_ok());
        group.slots = 0;
        assert_eq!(
            path(group.validate("sites[2].backends[1]")),
            "sites[2].backends[1].slots"
        );

        let mut site = SiteConfig::new(
            "a",
            vec![BackendGroup::new(
                1,
                ServiceTime::Exponential {
                    mean: SimDuration::ZERO,
                },
            )],
        );
        assert_eq!(
            path(site.validate("sites[0]")),
            "sites[0].backends[0].service.mean"
        );
        site.backends[0].service = ServiceTime::Exponential {
            mean: SimDuration::from_millis(1),
        };
        site.scaling = Some(LbScaling::new(10.0));
        assert_eq!(path(site.validate("sites[0]")), "sites[0].scaling");

        let mut health = HealthCheckConfig::new(SimDuration::from_secs(1), SimDuration::ZERO);
        assert_eq!(path(health.validate("h")), "h.timeout");
        health.timeout = SimDuration::from_millis(100);
        health.rise = 0;
        assert_eq!(path(health.validate("h")), "h.rise");

        let recorder = RecorderConfig {
            warm_up: SimDuration::from_secs(60),
            ..RecorderConfig::default()
        };
        assert!(recorder.validate(SimDuration::from_secs(61)).is_ok());
        assert_eq!(
            path(recorder.validate(SimDuration::from_secs(60))),
            "recorder.warm_up"
        );
    }

    #[test]
    fn what_only_the_whole_can_see_is_checked_by_the_whole() {
        let mut config = SimConfig::example();
        let twin = config.sites[0].clone();
        assert!(twin.validate("sites[1]").is_ok(), "a site alone is fine");
        config.sites.push(twin);
        let at = config.sites.len() - 1;
        assert_eq!(path(config.validate()), format!("sites[{at}].name"));

        let mut config = SimConfig::example();
        let twin = config.clients[0].clone();
        config.clients.push(twin);
        let at = config.clients.len() - 1;
        assert_eq!(path(config.validate()), format!("clients[{at}].name"));
    }
}
