//! How a backend serves its queue: first come first served, or
//! controlled delay with adaptive LIFO.

use serde::{Deserialize, Serialize};

use crate::sim::error::SimError;
use crate::time::SimDuration;

/// The order a backend takes queued requests in, and which it gives up on.
///
/// A FIFO queue under overload serves the requests that waited longest
/// first — the ones whose clients are most likely to have timed out — so a
/// server can stay busy with work nobody waits for, which is one way a
/// retry storm sustains itself. Facebook's "Fail at scale" (Ben Maurer,
/// ACM Queue 13(8), 2015) describes the two remedies its servers use,
/// modelled here as [`QueueDiscipline::Codel`]:
///
/// - **controlled delay**: a request may wait at most `interval` in the
///   queue, and only `target` when the queue has not been empty at any
///   time in the last `interval` (a standing queue: the backend is
///   overloaded, not hit by a burst). A request that waited longer is
///   answered with an error at once (it is *shed*) instead of being served;
/// - **adaptive LIFO**: while the queue is standing, the newest request is
///   served first — its client is the likeliest still to be waiting — and
///   the oldest age out.
///
/// The paper's values are `target` 5 ms and `interval` 100 ms, for
/// services whose requests take milliseconds; a service whose requests
/// take hundreds of milliseconds needs its own, below its clients'
/// timeouts.
///
/// ```
/// use drainstorm::sim::QueueDiscipline;
///
/// let toml = r#"kind = "codel"
/// target = "50ms""#;
/// let d: QueueDiscipline = toml::from_str(toml).unwrap();
/// assert_eq!(d, QueueDiscipline::Codel {
///     target: drainstorm::time::SimDuration::from_millis(50),
///     interval: drainstorm::time::SimDuration::from_millis(100),
///     adaptive_lifo: true,
/// });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum QueueDiscipline {
    /// First in, first out; a request waits until it is served or its
    /// client cancels it.
    #[default]
    Fifo,
    /// Controlled delay, with adaptive LIFO unless `adaptive_lifo` is
    /// false.
    Codel {
        /// The longest wait while the queue stands (default 5 ms).
        #[serde(default = "default_target")]
        target: SimDuration,
        /// The longest wait otherwise, and how long the queue must have
        /// been non-empty to count as standing (default 100 ms).
        #[serde(default = "default_interval")]
        interval: SimDuration,
        /// Serve the newest request first while the queue stands (default
        /// true).
        #[serde(default = "yes")]
        adaptive_lifo: bool,
    },
}

fn default_target() -> SimDuration {
    SimDuration::from_millis(5)
}

fn default_interval() -> SimDuration {
    SimDuration::from_millis(100)
}

fn yes() -> bool {
    true
}

impl QueueDiscipline {
    /// Controlled delay and adaptive LIFO with "Fail at scale"'s values:
    /// 5 ms and 100 ms.
    pub const FAIL_AT_SCALE: Self = Self::Codel {
        target: SimDuration::from_millis(5),
        interval: SimDuration::from_millis(100),
        adaptive_lifo: true,
    };

    /// Whether this is the plain FIFO queue (what a profile leaves out).
    #[inline]
    pub fn is_fifo(&self) -> bool {
        matches!(self, Self::Fifo)
    }

    /// Checks the durations; errors name the key under `path` (e.g.
    /// `sites[1].backends[0].discipline`).
    pub(crate) fn validate(&self, path: &str) -> Result<(), SimError> {
        if let Self::Codel {
            target, interval, ..
        } = *self
        {
            if target == SimDuration::ZERO || target > interval {
                return Err(SimError::invalid(
                    format!("{path}.target"),
                    target,
                    format!("above 0 and at most the interval ({interval})"),
                ));
            }
            if interval > SimDuration::from_secs(3600) {
                return Err(SimError::invalid(
                    format!("{path}.interval"),
                    interval,
                    "at most 1h",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_above_the_interval_or_zero_is_refused() {
        let bad = QueueDiscipline::Codel {
            target: SimDuration::from_millis(200),
            interval: SimDuration::from_millis(100),
            adaptive_lifo: true,
        };
        let err = bad.validate("sites[0].backends[0].discipline").unwrap_err();
        assert!(
            err.to_string()
                .contains("sites[0].backends[0].discipline.target"),
            "{err}"
        );
        let zero = QueueDiscipline::Codel {
            target: SimDuration::ZERO,
            interval: SimDuration::from_millis(100),
            adaptive_lifo: false,
        };
        assert!(zero.validate("d").is_err());
        assert!(QueueDiscipline::FAIL_AT_SCALE.validate("d").is_ok());
        assert!(QueueDiscipline::Fifo.validate("d").is_ok());
    }
}
