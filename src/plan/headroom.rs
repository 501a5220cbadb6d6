//! `plan headroom`: for each balancer × policy of a profile, the smallest
//! capacity factor of the sites that stay in rotation (see
//! [`scale_capacity`]) at which the drain is absorbed often enough.
//!
//! Each combination is one [`search`](super::search), started from capacity arithmetic
//! ([`Arithmetic::break_even`]) and run on the profile's seeds with common
//! random numbers; combinations are searched in parallel with rayon.
//! Runs stop as soon as their answer is decided (see [`Judging`]).

use serde::Serialize;

use super::capacity::{Arithmetic, Binding, Capacity, scale_capacity};
use super::judge::{Judging, Progress, search_each};
use super::search::{Outcome, Search, SearchSettings};
use crate::profile::Profile;
use crate::sim::SimError;

/// The question `plan headroom` answers, and how.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct HeadroomSettings {
    /// What the factor scales.
    pub capacity: Capacity,
    /// The search.
    pub search: SearchSettings,
    /// How far runs go.
    pub judging: Judging,
}

impl Default for HeadroomSettings {
    fn default() -> Self {
        Self {
            capacity: Capacity::Both,
            search: SearchSettings::default(),
            judging: Judging::UntilRecovered,
        }
    }
}

/// One combination's answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Headroom {
    /// The balancer, or `configured`.
    pub balancer: String,
    /// The retry policy, or `configured`.
    pub policy: String,
    /// The search and its answer.
    pub search: Search,
    /// At the answer (if found): the limit that binds at the peak by
    /// capacity arithmetic, and the peak's utilisation of the backends and
    /// of the accept rate.
    pub binding: Option<(Binding, f64, f64)>,
}

/// A headroom plan: every combination's answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HeadroomPlan {
    /// The profile's name.
    pub profile: String,
    /// How it was asked.
    pub settings: HeadroomSettings,
    /// Capacity arithmetic at factor 1.
    pub arithmetic: Arithmetic,
    /// Per combination, in the profile's order.
    pub answers: Vec<Headroom>,
}

impl HeadroomPlan {
    /// Runs the plan on rayon's current pool; `progress` hears (from any
    /// thread) of every run and every finished combination.
    ///
    /// ```no_run
    /// use drainstorm::plan::{HeadroomPlan, HeadroomSettings};
    /// use drainstorm::profile::Profile;
    ///
    /// let profile = Profile::bundled("cheyenne-2026").unwrap()?;
    /// let plan = HeadroomPlan::run(&profile, &HeadroomSettings::default(), &|_| {}).unwrap();
    /// for a in &plan.answers {
    ///     println!("{} + {}: {:?} ({} runs)", a.balancer, a.policy, a.search.outcome, a.search.runs);
    /// }
    /// # Ok::<(), drainstorm::profile::ProfileError>(())
    /// ```
    pub fn run(
        profile: &Profile,
        settings: &HeadroomSettings,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<HeadroomPlan, SimError> {
        let base = profile.sim_config();
        base.validate()?;
        let arithmetic = Arithmetic::of(&base);
        let answers = search_each(
            profile,
            &settings.search,
            settings.judging,
            arithmetic.break_even(),
            &|config, f| scale_capacity(config, f, settings.capacity),
            progress,
        )?
        .into_iter()
        .map(|(run, search)| {
            let binding = match search.outcome {
                Outcome::Found { factor, .. } => Some(arithmetic.at(factor, settings.capacity)),
                _ => None,
            };
            Headroom {
                balancer: run.balancer,
                policy: run.policy,
                search,
                binding,
            }
        })
        .collect();
        Ok(HeadroomPlan {
            profile: profile.name.clone(),
            settings: *settings,
            arithmetic,
            answers,
        })
    }

    /// Simulated seconds over every run of the plan.
    pub fn simulated_s(&self) -> f64 {
        self.answers.iter().map(|a| a.search.simulated_s).sum()
    }

    /// Runs over the plan.
    pub fn runs(&self) -> u32 {
        self.answers.iter().map(|a| a.search.runs).sum()
    }
}
