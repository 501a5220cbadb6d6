//! A profile's own checks, beyond what its types parse: names,
//! references between its parts, sizes, and every value.

use super::{MAX_ROWS, MAX_RUNS, Profile};
use crate::retry::Policy;
use crate::sim::{RetrySpec, SimError};

impl Profile {
    /// Checks names, references, sizes and every value; the error is (key
    /// path, message).
    pub(super) fn validate(&self) -> Result<(), (String, String)> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err((
                "name".into(),
                format!(
                    "`{}` is not allowed: use letters, digits, `-` and `_` (it names the output directory)",
                    self.name
                ),
            ));
        }
        if let Some(clock) = &self.clock_start
            && self.clock_start_seconds().is_none()
        {
            return Err((
                "clock_start".into(),
                format!(
                    "`{clock}` is not allowed: allowed a UTC time of day, \"HH:MM\" (00:00 to 23:59)"
                ),
            ));
        }
        if let Some(scale) = self.time_scale
            && !(scale.is_finite() && scale > 0.0 && scale <= 1e6)
        {
            return Err((
                "time_scale".into(),
                format!(
                    "{scale} is not allowed: allowed in (0, 1e6] real seconds per simulated second"
                ),
            ));
        }
        for (name, config) in &self.policies {
            if Policy::PRESETS.contains(&name.as_str()) {
                return Err((
                    format!("policies.{name}"),
                    format!("`{name}` is a preset's name; choose another"),
                ));
            }
            Policy::new(config.clone()).map_err(|e| {
                (
                    format!("policies.{name}.{}", e.name),
                    format!("{} is out of range: allowed {}", e.value, e.allowed),
                )
            })?;
        }
        for (i, g) in self.scenario.clients.iter().enumerate() {
            if let RetrySpec::Preset(name) = &g.retry
                && self.resolve_policy(name).is_none()
            {
                return Err((
                    format!("clients[{i}].retry"),
                    format!(
                        "no policy named `{name}`: allowed a table, or one of {}",
                        self.policy_names()
                    ),
                ));
            }
        }
        for (i, name) in self.compare.policies.iter().enumerate() {
            if self.resolve_policy(name).is_none() {
                return Err((
                    format!("compare.policies[{i}]"),
                    format!("no policy named `{name}`: allowed {}", self.policy_names()),
                ));
            }
        }
        if self.compare.seeds == 0 || self.compare.seeds > 1000 {
            return Err((
                "compare.seeds".into(),
                format!("{} is out of range: allowed 1 to 1000", self.compare.seeds),
            ));
        }
        let runs = self.compare.balancers.len().max(1)
            * self.compare.policies.len().max(1)
            * self.compare.seeds as usize;
        if runs > MAX_RUNS {
            return Err((
                "compare".into(),
                format!("{runs} runs requested: allowed at most {MAX_RUNS}"),
            ));
        }
        if !(self.scale.is_finite() && self.scale > 0.0 && self.scale <= crate::sim::MAX_SCALE) {
            return Err((
                "scale".into(),
                format!(
                    "{} is not allowed: allowed a size factor above 0 and at most 1e6 (1: as written)",
                    self.scale
                ),
            ));
        }
        let as_written = Profile {
            scale: 1.0,
            ..self.clone()
        };
        let invalid = |e: SimError| match e {
            SimError::Invalid {
                path,
                value,
                allowed,
            } => (path, format!("{value} is not allowed: allowed {allowed}")),
            other => (String::new(), other.to_string()),
        };
        as_written.sim_config().validate().map_err(invalid)?;
        // At another size, the error is the size's.
        self.sim_config().validate().map_err(|e| {
            let (path, message) = invalid(e);
            (
                "scale".into(),
                format!("at scale {}, `{path}`: {message}", self.scale),
            )
        })?;
        let rows = (self.scenario.duration.0 / self.scenario.recorder.interval.0.max(1) + 1)
            * (self.scenario.sites.len() as u64 + 1)
            * runs as u64;
        if rows > MAX_ROWS {
            return Err((
                "recorder.interval".into(),
                format!(
                    "{runs} runs × {} intervals × {} sites would not fit in memory (at most {MAX_ROWS} rows): lengthen the interval or shorten the run",
                    self.scenario.duration.0 / self.scenario.recorder.interval.0.max(1),
                    self.scenario.sites.len()
                ),
            ));
        }
        Ok(())
    }
}
