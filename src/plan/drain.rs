//! `plan drain`: for each balancer × policy of a profile, the shortest
//! linear ramp for its drains at which the drain is absorbed often enough.
//!
//! The knob is the `ramp` of every `drain` action of the timeline, in
//! minutes (a drain lowers the site's router weight linearly to zero over
//! its ramp; 0 is abrupt). The search is the one of `plan headroom`
//! ([`search`](super::search)): bracketing, bisection with common random
//! numbers, a sequential test, confirmation on every seed.

use serde::Serialize;

use super::judge::{Judging, Progress, search_each};
use super::search::{Search, SearchSettings};
use crate::profile::Profile;
use crate::retry::SimDuration;
use crate::sim::{Action, SimConfig, SimError};

/// `config` with every drain ramped over `minutes`.
///
/// ```
/// use drainstorm::plan::with_drain_ramp;
/// use drainstorm::profile::Profile;
/// use drainstorm::sim::Action;
///
/// let c = Profile::bundled("cheyenne-2026").unwrap()?.sim_config();
/// let slow = with_drain_ramp(&c, 30.0);
/// assert!(matches!(&slow.timeline[0].action, Action::Drain { ramp, .. } if ramp.as_secs_f64() == 1800.0));
/// # Ok::<(), drainstorm::profile::ProfileError>(())
/// ```
pub fn with_drain_ramp(config: &SimConfig, minutes: f64) -> SimConfig {
    let mut c = config.clone();
    let ramp = SimDuration((minutes.max(0.0) * 60e9).round() as u64);
    for t in &mut c.timeline {
        if let Action::Drain { ramp: r, .. } = &mut t.action {
            *r = ramp;
        }
    }
    c
}

/// The question `plan drain` answers, and how.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DrainSettings {
    /// The search, over ramp minutes.
    pub search: SearchSettings,
    /// How far runs go.
    pub judging: Judging,
}

impl Default for DrainSettings {
    fn default() -> Self {
        Self {
            search: SearchSettings {
                tolerance: 0.05,
                min_factor: 0.25,
                max_factor: 240.0,
                ..SearchSettings::default()
            },
            judging: Judging::UntilRecovered,
        }
    }
}

/// One combination's answer: the search's factor is the ramp, minutes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DrainAnswer {
    /// The balancer, or `configured`.
    pub balancer: String,
    /// The retry policy, or `configured`.
    pub policy: String,
    /// The search; its factors are ramp minutes.
    pub search: Search,
}

/// A drain plan: every combination's shortest safe ramp.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DrainPlan {
    /// The profile's name.
    pub profile: String,
    /// The sites the timeline drains.
    pub drained: Vec<String>,
    /// How it was asked.
    pub settings: DrainSettings,
    /// Per combination, in the profile's order.
    pub answers: Vec<DrainAnswer>,
}

impl DrainPlan {
    /// Runs the plan on rayon's current pool; `progress` hears of every
    /// run and every finished combination. A profile without a `drain`
    /// action is an error.
    pub fn run(
        profile: &Profile,
        settings: &DrainSettings,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<DrainPlan, SimError> {
        let base = profile.sim_config();
        base.validate()?;
        let drained: Vec<String> = base
            .timeline
            .iter()
            .filter_map(|t| match &t.action {
                Action::Drain { site, .. } => Some(site.clone()),
                _ => None,
            })
            .collect();
        if drained.is_empty() {
            return Err(SimError::invalid(
                "timeline",
                "no `drain` action",
                "a profile whose timeline drains a site",
            ));
        }
        let answers = search_each(
            profile,
            &settings.search,
            settings.judging,
            10.0,
            &with_drain_ramp,
            progress,
        )?
        .into_iter()
        .map(|(run, search)| DrainAnswer {
            balancer: run.balancer,
            policy: run.policy,
            search,
        })
        .collect();
        Ok(DrainPlan {
            profile: profile.name.clone(),
            drained,
            settings: *settings,
            answers,
        })
    }

    /// Runs over the plan.
    pub fn runs(&self) -> u32 {
        self.answers.iter().map(|a| a.search.runs).sum()
    }

    /// Simulated seconds over every run of the plan.
    pub fn simulated_s(&self) -> f64 {
        self.answers.iter().map(|a| a.search.simulated_s).sum()
    }
}
