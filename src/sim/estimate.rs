//! What a run will cost before it starts: requests, attempts and simulated
//! time, so that a command can say what it is about to do and refuse a
//! profile that asks for far more than it meant to.

use std::fmt;

use super::action::Action;
use super::arrivals::RateCurve;
use super::config::{SimConfig, Workload};

/// The work of one or more runs, estimated from the configuration alone.
///
/// ```
/// use drainstorm::sim::{SimConfig, WorkEstimate};
///
/// let config = SimConfig::example();
/// let one = WorkEstimate::of(&config);
/// assert!(one.requests > 0.0);
/// let ten = one.times(10);
/// assert_eq!(ten.runs, 10);
/// assert_eq!(ten.requests, 10.0 * one.requests);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WorkEstimate {
    /// Runs counted.
    pub runs: u64,
    /// Requests the clients send, over all runs (open loop: the integral of
    /// the load curve; closed loop: at most one per think time per client,
    /// and no more than the backends can serve).
    pub requests: f64,
    /// Simulated seconds, over all runs.
    pub simulated_seconds: f64,
}

impl WorkEstimate {
    /// Requests above which a command asks for confirmation (`--yes`):
    /// about an hour of one core at the engine's speed, 3 million attempts
    /// a second, at amplification 1.
    pub const CONFIRM_ABOVE: f64 = 1e10;

    /// The work of one run of `config`.
    pub fn of(config: &SimConfig) -> Self {
        let end = config.duration.0;
        let capacity: f64 = config
            .sites
            .iter()
            .flat_map(|s| &s.backends)
            .map(|b| {
                let mean = b.service.mean().as_secs_f64().max(1e-9);
                f64::from(b.count) * f64::from(b.slots) * b.speed / mean
            })
            .sum();
        let mut requests = 0.0;
        for g in &config.clients {
            match &g.workload {
                Workload::Open { rate, curve } => {
                    // The curve in effect until a `set-load` replaces it.
                    let mut current = RateCurve::new(*rate, curve);
                    let mut from = 0;
                    for t in &config.timeline {
                        if let Action::SetLoad { group, rate, curve } = &t.action
                            && *group == g.name
                            && t.at.0 < end
                        {
                            requests += integral(&current, from, t.at.0);
                            current = RateCurve::new(*rate, curve);
                            from = t.at.0;
                        }
                    }
                    requests += integral(&current, from, end);
                }
                Workload::Closed { clients, think } => {
                    let per_client = 1.0 / think.as_secs_f64().max(1e-9);
                    let rate = (f64::from(*clients) * per_client).min(capacity);
                    requests += rate * end as f64 / 1e9;
                }
            }
        }
        Self {
            runs: 1,
            requests,
            simulated_seconds: end as f64 / 1e9,
        }
    }

    /// The work of `n` runs like this one.
    pub fn times(self, n: u64) -> Self {
        Self {
            runs: self.runs * n,
            requests: self.requests * n as f64,
            simulated_seconds: self.simulated_seconds * n as f64,
        }
    }

    /// Adds another estimate's work.
    pub fn plus(self, other: Self) -> Self {
        Self {
            runs: self.runs + other.runs,
            requests: self.requests + other.requests,
            simulated_seconds: self.simulated_seconds + other.simulated_seconds,
        }
    }

    /// Whether a command should ask before starting it.
    pub fn needs_confirmation(&self) -> bool {
        self.requests > Self::CONFIRM_ABOVE
    }
}

impl fmt::Display for WorkEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} run{}, about {} requests ({} attempts at amplification 1), {} simulated seconds",
            self.runs,
            if self.runs == 1 { "" } else { "s" },
            short(self.requests),
            short(self.requests),
            short(self.simulated_seconds)
        )
    }
}

/// A count as people read it: `12`, `3.4 thousand`, `5.1 million`, `2.0e12`.
fn short(x: f64) -> String {
    if x < 10.0 {
        format!("{}", (x * 1000.0).round() / 1000.0)
    } else if x < 1e3 {
        format!("{x:.0}")
    } else if x < 1e6 {
        format!("{:.1} thousand", x / 1e3)
    } else if x < 1e9 {
        format!("{:.1} million", x / 1e6)
    } else if x < 1e12 {
        format!("{:.1} billion", x / 1e9)
    } else {
        format!("{x:.1e}")
    }
}

/// ∫ rate dt over [from, to) ns, in requests: exact for a piecewise-linear
/// curve (trapezoids between its breakpoints).
fn integral(curve: &RateCurve, from: u64, to: u64) -> f64 {
    if to <= from {
        return 0.0;
    }
    let mut cuts: Vec<u64> = vec![from];
    cuts.extend(
        curve
            .points
            .iter()
            .map(|&(at, _)| at)
            .filter(|&at| at > from && at < to),
    );
    cuts.push(to);
    cuts.windows(2)
        .map(|w| (curve.at(w[0]) + curve.at(w[1])) / 2.0 * (w[1] - w[0]) as f64 / 1e9)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::{SimDuration, SimTime};
    use crate::sim::CurvePoint;

    #[test]
    fn an_open_curve_is_integrated_exactly() {
        let mut c = SimConfig::example();
        c.duration = SimDuration::from_secs(100);
        c.timeline.clear();
        c.clients.truncate(1);
        c.clients[0].workload = Workload::Open {
            rate: 10.0,
            curve: vec![
                CurvePoint {
                    at: SimTime(0),
                    factor: 1.0,
                },
                CurvePoint {
                    at: SimTime(50_000_000_000),
                    factor: 3.0,
                },
            ],
        };
        // 0–50 s: mean 20/s; 50–100 s: 30/s.
        assert!((WorkEstimate::of(&c).requests - 2500.0).abs() < 1e-6);
        c.timeline.push(crate::sim::TimedAction {
            at: SimTime(50_000_000_000),
            action: Action::SetLoad {
                group: c.clients[0].name.clone(),
                rate: 2.0,
                curve: Vec::new(),
            },
        });
        assert!((WorkEstimate::of(&c).requests - 1100.0).abs() < 1e-6);
    }

    #[test]
    fn the_documented_maximum_rate_asks_for_confirmation() {
        let mut c = SimConfig::example();
        c.duration = SimDuration::from_secs(3600);
        for g in &mut c.clients {
            g.workload = Workload::Open {
                rate: crate::sim::MAX_RATE,
                curve: Vec::new(),
            };
        }
        let e = WorkEstimate::of(&c);
        assert!(e.needs_confirmation());
        assert!(e.to_string().contains("360.0 billion requests"), "{e}");
        assert!(!WorkEstimate::of(&SimConfig::example()).needs_confirmation());
    }
}
