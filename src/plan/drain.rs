//! `plan drain`: for each balancer × policy of a profile, the shortest
//! linear ramp for its drains at which the drain is absorbed often enough.
//!
//! The knob is the `ramp` of every `drain` action of the timeline, in
//! minutes (a drain lowers the site's router weight linearly to zero over
//! its ramp; 0 is abrupt). The search is the one of `plan headroom`
//! ([`search`](super::search)): bracketing, bisection with common random
//! numbers, a sequential test, confirmation on every seed.

use serde::Serialize;

use super::found::{Search, SearchSettings};
use super::judge::{Judging, Progress, Target, search_each};
use crate::profile::Profile;
use crate::sim::{Action, SimConfig, SimError};
use crate::time::SimDuration;

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
    /// What a run must do to count.
    pub target: Target,
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
            target: Target::Absorbed,
        }
    }
}

/// One step of a drain as a runbook writes it: at `at_s`, set `site`'s
/// router weight to `weight`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    /// When, seconds from the run's start.
    pub at_s: f64,
    /// The site.
    pub site: String,
    /// Its router weight from then on.
    pub weight: u32,
}

/// The linear ramp of `minutes` as ten steps a runbook can follow: every
/// tenth of the ramp, each drained site's weight a tenth lower, from the
/// drain's moment to zero at the ramp's end.
pub fn schedule(config: &SimConfig, minutes: f64) -> Vec<Step> {
    let mut out = Vec::new();
    for t in &config.timeline {
        if let Action::Drain { site, .. } = &t.action {
            let weight = config
                .sites
                .iter()
                .find(|s| s.name == *site)
                .map_or(0, |s| s.router_weight());
            for k in 1..=10u32 {
                out.push(Step {
                    at_s: t.at.as_secs_f64() + minutes * 60.0 * f64::from(k) / 10.0,
                    site: site.clone(),
                    weight: (f64::from(weight) * f64::from(10 - k) / 10.0).round() as u32,
                });
            }
        }
    }
    out.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    out
}

/// The longest ramp, in minutes, that ends before the drained site comes
/// back (its next `restore`) and before the run's end, over every drain
/// of the timeline: a longer one would still be draining a site that is
/// back.
pub fn longest_ramp(config: &SimConfig) -> f64 {
    let end = config.duration.0;
    config
        .timeline
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match &t.action {
            Action::Drain { site, .. } => {
                let back = config.timeline[i + 1..]
                    .iter()
                    .find(|u| matches!(&u.action, Action::Restore { site: s, .. } if s == site))
                    .map_or(end, |u| u.at.0);
                Some(back.saturating_sub(t.at.0) as f64 / 60e9)
            }
            _ => None,
        })
        .fold(f64::INFINITY, f64::min)
}

/// One combination's answer: the search's factor is the ramp, minutes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DrainAnswer {
    /// The balancer, or `configured`.
    pub balancer: String,
    /// The retry policy, or `configured`.
    pub policy: String,
    /// The search; its factors are ramp minutes.
    pub search: Search,
    /// At the answer (if found): the drain as steps a runbook can follow.
    pub schedule: Vec<Step>,
}

/// A drain plan: every combination's shortest safe ramp.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DrainPlan {
    /// The profile's name.
    pub profile: String,
    /// The sites the timeline drains.
    pub drained: Vec<String>,
    /// How it was asked (the longest ramp searched at most
    /// [`longest_ramp`]).
    pub settings: DrainSettings,
    /// The longest ramp the timeline allows, minutes (see
    /// [`longest_ramp`]).
    pub longest_ramp_min: f64,
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
        let longest = longest_ramp(&base);
        let mut settings = *settings;
        settings.search.max_factor = settings.search.max_factor.min(longest);
        if settings.search.max_factor <= settings.search.min_factor {
            return Err(SimError::invalid(
                "timeline",
                format!("a drain with {longest:.2} min before its site's restore or the run's end"),
                format!(
                    "more than the shortest ramp searched ({} min)",
                    settings.search.min_factor
                ),
            ));
        }
        let answers = search_each(
            profile,
            &settings.search,
            settings.judging,
            settings.target,
            10.0_f64.min(settings.search.max_factor / 2.0),
            &with_drain_ramp,
            progress,
        )?
        .into_iter()
        .map(|(run, search)| DrainAnswer {
            balancer: run.balancer,
            policy: run.policy,
            schedule: search
                .outcome
                .factor()
                .map_or_else(Vec::new, |m| schedule(&base, m)),
            search,
        })
        .collect();
        Ok(DrainPlan {
            profile: profile.name.clone(),
            drained,
            settings,
            longest_ramp_min: longest,
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
