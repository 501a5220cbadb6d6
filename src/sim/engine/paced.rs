//! The paced drain: a site's router weight lowered step by step while the
//! sites still in rotation stay healthy (the `paced-drain` action).
//!
//! Owns the controller's state and its event, `Ev::Paced`. Health is read
//! from whole recorder intervals: as each interval closes, the engine
//! hands the controller the interval's per-site rows and its attempt and
//! timeout counts ([`Simulation::observe_paced`]); every `every` the
//! controller looks at the last `window` of them and moves the weight.

use std::collections::VecDeque;

use super::*;

/// One closed interval, as the controller sees it.
#[derive(Clone, Debug)]
struct Sample {
    /// Backend utilisation of each site in rotation (other than the one
    /// being drained).
    utilisation: Vec<f64>,
    /// Attempts those sites admitted and rejected.
    admitted: u64,
    rejected: u64,
    /// All attempts, and those that timed out.
    attempts: u64,
    timeouts: u64,
}

/// A running paced drain.
#[derive(Clone, Debug)]
pub(super) struct Paced {
    site: SiteId,
    /// Weight removed per step.
    step: u32,
    /// The weight it started from (the ceiling of a back-off).
    start: u32,
    every: u64,
    /// Samples per window.
    window: usize,
    max_utilisation: Option<f64>,
    max_reject_rate: Option<f64>,
    max_timeout_rate: Option<f64>,
    back_off: bool,
    samples: VecDeque<Sample>,
    token: u32,
}

impl Simulation {
    /// Starts a paced drain of `site` now (replacing any running one).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_paced(
        &mut self,
        site: SiteId,
        step: f64,
        every: u64,
        window: u64,
        max_utilisation: Option<f64>,
        max_reject_rate: Option<f64>,
        max_timeout_rate: Option<f64>,
        back_off: bool,
    ) {
        // A running ramp of this site stops where it is.
        let start = self.router.stop_ramp(site);
        let token = self.paced.as_ref().map_or(0, |p| p.token.wrapping_add(1));
        let window = if window == 0 { every } else { window };
        self.paced = Some(Box::new(Paced {
            site,
            step: ((f64::from(start) * step).round() as u32).max(1),
            start,
            every,
            window: (window.div_ceil(self.interval.max(1)) as usize).max(1),
            max_utilisation,
            max_reject_rate,
            max_timeout_rate,
            back_off,
            samples: VecDeque::new(),
            token,
        }));
        if start == 0 {
            self.paced = None;
            return;
        }
        self.push(self.now + every, Ev::Paced(token));
    }

    /// Stops a paced drain of `site`, if one runs (another action on the
    /// site's weight takes over).
    pub(super) fn stop_paced(&mut self, site: SiteId) {
        if self.paced.as_ref().is_some_and(|p| p.site == site) {
            self.paced = None;
        }
    }

    /// Hands a closing interval to the controller: `rows` are the sites'
    /// rows, `attempts` and `timeouts` the interval's.
    pub(super) fn observe_paced(&mut self, rows: &[SiteInterval], attempts: u64, timeouts: u64) {
        let Some(p) = self.paced.as_deref_mut() else {
            return;
        };
        let mut sample = Sample {
            utilisation: Vec::new(),
            admitted: 0,
            rejected: 0,
            attempts,
            timeouts,
        };
        for (i, (row, m)) in rows.iter().zip(&self.router.members).enumerate() {
            if SiteId::from(i) != p.site && m.published > 0 {
                sample.utilisation.push(row.utilisation);
                sample.admitted += row.admitted;
                sample.rejected += row.rejected;
            }
        }
        p.samples.push_back(sample);
        while p.samples.len() > p.window {
            p.samples.pop_front();
        }
    }

    /// A step of the paced drain: lower the weight, hold, or back off.
    pub(super) fn on_paced(&mut self, token: u32) {
        let Some(p) = self.paced.as_deref() else {
            return;
        };
        if p.token != token {
            return;
        }
        let over = p.over_limit();
        let (site, step, start, every, back_off) = (p.site, p.step, p.start, p.every, p.back_off);
        let weight = self.router.members[site].weight;
        let to = if !over {
            weight.saturating_sub(step)
        } else if back_off {
            (weight + step).min(start)
        } else {
            weight
        };
        if to != weight {
            self.set_weight(site, to, 0);
        }
        if to == 0 {
            self.paced = None;
        } else {
            self.push(self.now + every, Ev::Paced(token));
        }
    }
}

impl Paced {
    /// Whether the window's signals break a limit. No sample yet: hold.
    fn over_limit(&self) -> bool {
        if self.samples.is_empty() {
            return true;
        }
        let n = self.samples.len() as f64;
        if let Some(limit) = self.max_utilisation {
            let sites = self
                .samples
                .iter()
                .map(|s| s.utilisation.len())
                .max()
                .unwrap_or(0);
            let busiest = (0..sites)
                .map(|i| {
                    self.samples
                        .iter()
                        .map(|s| s.utilisation.get(i).copied().unwrap_or(0.0))
                        .sum::<f64>()
                        / n
                })
                .fold(0.0, f64::max);
            if busiest > limit {
                return true;
            }
        }
        let sum = |f: fn(&Sample) -> u64| self.samples.iter().map(f).sum::<u64>();
        if let Some(limit) = self.max_reject_rate {
            let (rejected, offered) = (sum(|s| s.rejected), sum(|s| s.admitted + s.rejected));
            if offered > 0 && rejected as f64 > limit * offered as f64 {
                return true;
            }
        }
        if let Some(limit) = self.max_timeout_rate {
            let (timeouts, attempts) = (sum(|s| s.timeouts), sum(|s| s.attempts));
            if attempts > 0 && timeouts as f64 > limit * attempts as f64 {
                return true;
            }
        }
        false
    }
}
