//! Configurations that are valid but almost certainly not what their
//! author meant: a timeline action after the end of the run, a restore of a
//! site nothing drained, a moment when no site takes traffic, a trigger's
//! end the run never reaches. The command line prints them as warnings;
//! `--strict` makes them errors.

use super::config::Action;
use super::config::SimConfig;

/// A suspicious part of a configuration: the key path and what is odd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimWarning {
    /// The key path, as in [`SimError`](super::SimError)s.
    pub path: String,
    /// What is suspicious, and why.
    pub message: String,
}

impl SimConfig {
    /// What in this (valid) configuration is probably a mistake.
    ///
    /// ```
    /// use drainstorm::retry::{SimDuration, SimTime};
    /// use drainstorm::sim::{Action, SimConfig, TimedAction};
    ///
    /// let mut c = SimConfig::example();
    /// assert!(c.warnings().is_empty());
    /// c.timeline.push(TimedAction {
    ///     at: SimTime(c.duration.0 + 1),
    ///     action: Action::Drain { site: "east".into(), ramp: SimDuration::ZERO },
    /// });
    /// assert_eq!(c.warnings()[0].path, "timeline[0].at");
    /// ```
    pub fn warnings(&self) -> Vec<SimWarning> {
        let mut out = Vec::new();
        let end = self.duration.0;
        let mut weights: Vec<u32> = self.sites.iter().map(|s| s.weight.unwrap_or(1)).collect();
        let mut base = weights.clone();
        let mut drained = vec![false; self.sites.len()];
        let mut all_out_reported = false;
        for (i, t) in self.timeline.iter().enumerate() {
            if t.at.0 >= end {
                out.push(SimWarning {
                    path: format!("timeline[{i}].at"),
                    message: format!(
                        "{} is at or after the end of the run ({}): the action never applies",
                        t.at, self.duration
                    ),
                });
                continue;
            }
            let site = t.action.site().and_then(|n| self.site_index(n));
            match (&t.action, site) {
                (Action::Drain { .. } | Action::PacedDrain { .. }, Some(s)) => {
                    weights[s] = 0;
                    drained[s] = true;
                }
                (Action::Restore { site: name, .. }, Some(s)) => {
                    if !drained[s] && weights[s] == base[s] {
                        out.push(SimWarning {
                            path: format!("timeline[{i}].site"),
                            message: format!(
                                "restores `{name}`, which no earlier action drained: it changes nothing"
                            ),
                        });
                    }
                    weights[s] = base[s];
                    drained[s] = false;
                }
                (Action::SetSiteWeight { weight, .. }, Some(s)) => {
                    weights[s] = *weight;
                    base[s] = *weight;
                }
                _ => {}
            }
            if !all_out_reported && !weights.is_empty() && weights.iter().all(|&w| w == 0) {
                all_out_reported = true;
                out.push(SimWarning {
                    path: format!("timeline[{i}]"),
                    message: format!(
                        "from {} every site has weight 0: no site takes new traffic",
                        t.at
                    ),
                });
            }
        }
        if let Some(t) = self.recorder.trigger_end
            && t.0 >= end
        {
            out.push(SimWarning {
                path: "recorder.trigger_end".into(),
                message: format!(
                    "{t} is at or after the end of the run ({}): recovery cannot be judged",
                    self.duration
                ),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::TimedAction;
    use crate::time::{SimDuration, SimTime};

    fn at(s: u64) -> SimTime {
        SimTime(s * 1_000_000_000)
    }

    #[test]
    fn each_suspicious_timeline_is_named() {
        let mut c = SimConfig::example();
        c.duration = SimDuration::from_secs(100);
        c.recorder.trigger_end = None;
        let names: Vec<String> = c.sites.iter().map(|s| s.name.clone()).collect();
        c.timeline = vec![TimedAction {
            at: at(5),
            action: Action::Restore {
                site: names[0].clone(),
                ramp: SimDuration::ZERO,
                cold_factor: 1.0,
                cold_for: SimDuration::ZERO,
            },
        }];
        for n in &names {
            c.timeline.push(TimedAction {
                at: at(10),
                action: Action::Drain {
                    site: n.clone(),
                    ramp: SimDuration::ZERO,
                },
            });
        }
        c.timeline.push(TimedAction {
            at: at(200),
            action: Action::Drain {
                site: names[0].clone(),
                ramp: SimDuration::ZERO,
            },
        });
        c.recorder.trigger_end = Some(at(150));
        let w = c.warnings();
        let paths: Vec<&str> = w.iter().map(|w| w.path.as_str()).collect();
        let last = names.len();
        assert_eq!(
            paths,
            [
                "timeline[0].site".to_owned(),
                format!("timeline[{last}]"),
                format!("timeline[{}].at", last + 1),
                "recorder.trigger_end".to_owned(),
            ],
            "{w:?}"
        );
        // A restore after a drain is what a restore is for.
        c.timeline.remove(0);
        c.timeline.truncate(1);
        c.recorder.trigger_end = None;
        c.timeline.push(TimedAction {
            at: at(50),
            action: Action::Restore {
                site: names[0].clone(),
                ramp: SimDuration::ZERO,
                cold_factor: 1.0,
                cold_for: SimDuration::ZERO,
            },
        });
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    }
}
