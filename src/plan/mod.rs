//! Planning: from replaying one drain to deciding — sweeps over profile
//! keys (the metastability map) and searches for the headroom a drain
//! needs.
//!
//! This module drives simulations; [`sim`](crate::sim) knows nothing of
//! plans. Everything here works from a [`Profile`](crate::profile::Profile)
//! in code, without the command line, and returns typed results; the
//! `drainstorm sweep` and `drainstorm plan` commands write them as files.
//!
//! - [`Axis`]: one varied key, `KEY=LO..HI:STEPS` or `KEY=a,b,c`.
//! - [`Sweep`]: a grid of axes × the profile's balancers × policies × the
//!   same seeds at every point (common random numbers), run in parallel
//!   with rayon, shardable into deterministic slices ([`Sweep::shard`]).
//! - [`scale_capacity`]: the capacity factor of the sites that stay in
//!   rotation, and [`Arithmetic`], what capacity arithmetic says of it.
//! - [`search`]: the smallest factor at which enough seeds are absorbed
//!   (bracketing, bisection with common random numbers, a sequential test),
//!   and [`HeadroomPlan`], that search for every balancer × policy.
//! - [`DrainPlan`]: the same search over the drains' ramp: the shortest
//!   linear drain each combination absorbs.
//! - [`ExplainPlan`]: why each combination went as it did — the trigger,
//!   the margin when it came, and the effect that sustained it — from
//!   counterfactual runs with the same seeds.
//! - [`SizePlan`]: the profile on a ladder of sizes, and the smallest from
//!   which each combination's verdict and recovery time no longer change
//!   ([`converged_at`]).

mod axis;
mod capacity;
mod cells;
mod confidence;
mod counterfactual;
mod drain;
mod explain;
mod found;
mod headroom;
mod judge;
mod search;
mod size;
mod sweep;

pub use self::axis::{Axis, MAX_STEPS};
pub use self::capacity::{Arithmetic, Binding, Capacity, scale_capacity, staying_sites};
pub use self::cells::{Cell, cells};
pub use self::confidence::{lower_bound, required_absorbed, seeds_needed};
pub use self::counterfactual::{Candidate, Effect, ablated, candidates, without, without_any};
pub use self::drain::{
    DrainAnswer, DrainPlan, DrainSettings, Step, longest_ramp, schedule, with_drain_ramp,
};
pub use self::explain::{
    ExplainPlan, Explanation, Margin, Outcome as ExplainOutcome, Trigger, ends_sooner,
};
pub use self::found::{
    Check, CurvePoint, Outcome, Probe, Search, SearchSettings, Trial, exact_interval,
};
pub use self::headroom::{Headroom, HeadroomPlan, HeadroomSettings, SiteNeed, site_needs};
pub use self::judge::{Judging, Progress, Target, judge};
pub use self::search::search;
pub use self::size::{
    Convergence, Rung, SizeAnswer, SizePlan, SizeSettings, VerdictMix, converged_at,
};
pub use self::sweep::{CONFIRM_RUNS_ABOVE, Point, Sweep, SweepRow, run_summary};
