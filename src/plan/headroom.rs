//! `plan headroom`: for each balancer × policy of a profile, the smallest
//! capacity factor of the sites that stay in rotation (see
//! [`scale_capacity`]) at which the drain is absorbed often enough.
//!
//! Each combination is one [`search`](super::search), started from capacity arithmetic
//! ([`Arithmetic::break_even`]) and run on the profile's seeds with common
//! random numbers; combinations are searched in parallel with rayon.
//! Runs stop as soon as their answer is decided (see [`Judging`]).

use serde::Serialize;

use super::capacity::{Arithmetic, Binding, Capacity, scale_capacity, staying_sites};
use super::found::{Search, SearchSettings};
use super::judge::{Judging, Progress, Target, search_each};
use crate::profile::Profile;
use crate::sim::{SimConfig, SimError};

/// The question `plan headroom` answers, and how.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct HeadroomSettings {
    /// What the factor scales.
    pub capacity: Capacity,
    /// The search.
    pub search: SearchSettings,
    /// How far runs go.
    pub judging: Judging,
    /// What a run must do to count.
    pub target: Target,
}

impl Default for HeadroomSettings {
    fn default() -> Self {
        Self {
            capacity: Capacity::Both,
            search: SearchSettings::default(),
            judging: Judging::UntilRecovered,
            target: Target::Absorbed,
        }
    }
}

/// What an answer asks of one site that stays in rotation, in the units it
/// is provisioned in.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SiteNeed {
    /// The site.
    pub site: String,
    /// Its backends as written.
    pub backends: u32,
    /// Its backends at the answer (each group rounded up to whole
    /// machines).
    pub backends_needed: u32,
    /// Its load balancer's accept rate as written, new attempts a second
    /// (`None`: unlimited).
    pub accept_per_s: Option<f64>,
    /// The accept rate at the answer.
    pub accept_needed_per_s: Option<f64>,
}

/// What `factor` asks of each site that stays in rotation.
pub fn site_needs(config: &SimConfig, factor: f64, capacity: Capacity) -> Vec<SiteNeed> {
    let scaled = scale_capacity(config, factor, capacity);
    staying_sites(config)
        .into_iter()
        .map(|i| {
            let (a, b) = (&config.sites[i], &scaled.sites[i]);
            let count = |s: &crate::sim::SiteConfig| s.backends.iter().map(|g| g.count).sum();
            SiteNeed {
                site: a.name.clone(),
                backends: count(a),
                backends_needed: count(b),
                accept_per_s: a.max_new_per_sec,
                accept_needed_per_s: b.max_new_per_sec,
            }
        })
        .collect()
}

/// One combination's answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
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
    /// At the answer (if found): what it asks of each site that stays.
    pub sites: Vec<SiteNeed>,
}

/// A headroom plan: every combination's answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
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
            settings.target,
            arithmetic.break_even(),
            &|config, f| scale_capacity(config, f, settings.capacity),
            progress,
        )?
        .into_iter()
        .map(|(run, search)| {
            let factor = search.outcome.factor();
            Headroom {
                balancer: run.balancer,
                policy: run.policy,
                binding: factor.map(|f| arithmetic.at(f, settings.capacity)),
                sites: factor.map_or_else(Vec::new, |f| site_needs(&base, f, settings.capacity)),
                search,
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
