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

mod axis;
mod cells;
mod sweep;

pub use self::axis::{Axis, MAX_STEPS};
pub use self::cells::{Cell, cells};
pub use self::sweep::{CONFIRM_RUNS_ABOVE, Point, Sweep, SweepRow, run_summary};
