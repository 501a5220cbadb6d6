//! The verdict on a run: collapse, recovery and metastability, judged from
//! its per-interval series against the system's own baseline.
//!
//! # The rule
//!
//! A metastable failure (Bronson, Aghayev, Charapko, Zhu, "Metastable
//! failures in distributed systems", HotOS 2021; Huang et al., "Metastable
//! failures in the wild", OSDI 2022) is a bad state that a *trigger* (here:
//! a drain, a weight change, a load spike) pushes the system into and that
//! a *sustaining effect* (retries, queues of abandoned work) keeps it in
//! after the trigger is gone. What matters is therefore not how bad the
//! system looks at some moment but whether it returns to its normal,
//! stable behaviour once the trigger has ended — and how long that takes.
//!
//! - **Recovered**: the first moment *t* at or after the trigger's end
//!   from which, over one [`recovery_window`](super::RecorderConfig::recovery_window)
//!   (default 10 s, or one interval if longer), goodput is at least
//!   [`recovered_fraction`](super::RecorderConfig::recovered_fraction) (default
//!   0.95) of the offered load and amplification (attempts ÷ offered) at
//!   most [`recovered_amplification`](super::RecorderConfig::recovered_amplification)
//!   (default 1.1), both summed over the window. If the window that ends at
//!   the trigger's end already meets the rule, the system *recovered before
//!   the trigger ended* ([`Recovery::BeforeTriggerEnd`]): the trigger's
//!   end is then no event at all, which is different from recovering at
//!   that instant ([`Recovery::After`] of 0 s).
//! - **Metastable**: not recovered
//!   [`metastable_after`](super::RecorderConfig::metastable_after) past the
//!   trigger's end. A run that ends earlier than that without recovering
//!   is judged without this test; its recovery reads [`Recovery::Never`].
//! - **Collapse** is a separate measure of how deep the trouble went: an
//!   interval is collapsed when goodput is below
//!   [`collapse_ratio`](super::RecorderConfig::collapse_ratio) (default 0.5) of
//!   the offered load, and a *collapse period* is a run of collapsed
//!   intervals lasting at least [`collapse_min`](super::RecorderConfig::collapse_min)
//!   (default 5 s).
//!
//! The [`Verdict`] is the first that applies of: metastable, collapsed (at
//! least one collapse period), degraded (more than
//! [`degraded_loss`](super::RecorderConfig::degraded_loss) of the offered
//! requests lost, default 1 %), absorbed.
//!
//! A system stuck at 59 % goodput with amplification 2.2 for three minutes
//! after the restore never collapses (59 % is above 50 %), but it has not
//! recovered either: with `metastable_after` = 120 s it is metastable,
//! with a recovery time of three minutes.

use serde::Serialize;

use crate::time::SimTime;

/// How a run absorbed its trigger (see the [module documentation](self)).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// No collapse, and at most `degraded_loss` of the offered requests
    /// lost.
    Absorbed,
    /// No collapse, but more than `degraded_loss` lost.
    Degraded,
    /// At least one collapse period, and recovered within
    /// `metastable_after` of the trigger's end.
    Collapsed,
    /// Not recovered `metastable_after` past the end of the trigger: the
    /// overload sustains itself (retries, queues of abandoned work) after
    /// its cause is gone.
    Metastable,
    /// Too short to judge: no request finished (succeeded or failed) within
    /// the run, so there is nothing to measure losses or collapse against.
    Inconclusive,
}

impl Verdict {
    /// The verdict's name, as printed.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Absorbed => "absorbed",
            Self::Degraded => "degraded",
            Self::Collapsed => "collapsed",
            Self::Metastable => "metastable",
            Self::Inconclusive => "inconclusive",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// When a run recovered, by the rule of the [module documentation](self).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Recovery {
    /// The run has no trigger end to recover from.
    NoTrigger,
    /// Already recovered over the window that ends at the trigger's end.
    BeforeTriggerEnd,
    /// Recovered this long after the trigger's end.
    After {
        /// Seconds from the trigger's end to the recovery.
        seconds: f64,
    },
    /// Not recovered by the end of the run.
    Never,
}

impl Recovery {
    /// Seconds after the trigger's end, for [`After`](Self::After).
    pub fn seconds(self) -> Option<f64> {
        match self {
            Self::After { seconds } => Some(seconds),
            _ => None,
        }
    }

    /// The later of two recoveries (for the worst of several seeds):
    /// before the end < after *s* (by *s*) < never; no trigger yields to
    /// the other.
    pub fn worse(self, other: Self) -> Self {
        let rank = |r: Self| match r {
            Self::NoTrigger => (0, 0.0),
            Self::BeforeTriggerEnd => (1, 0.0),
            Self::After { seconds } => (2, seconds),
            Self::Never => (3, 0.0),
        };
        let (a, b) = (rank(self), rank(other));
        if (b.0, b.1) > (a.0, a.1) { other } else { self }
    }
}

impl std::fmt::Display for Recovery {
    /// `—`, `before end`, `12 s`, `never`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoTrigger => f.write_str("—"),
            Self::BeforeTriggerEnd => f.write_str("before end"),
            Self::After { seconds } => write!(f, "{seconds:.0} s"),
            Self::Never => f.write_str("never"),
        }
    }
}

/// A maximal run of collapsed intervals lasting at least `collapse_min`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CollapsePeriod {
    /// Start of the first collapsed interval.
    pub start: SimTime,
    /// End of the last.
    pub end: SimTime,
}

/// What [`judge`](super::judge) finds in a series.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Judgement {
    /// Collapse periods, in time order.
    pub collapses: Vec<CollapsePeriod>,
    /// Total time collapsed, s.
    pub collapsed_seconds: f64,
    /// When the run recovered.
    pub recovery: Recovery,
    /// The verdict.
    pub verdict: Verdict,
}
