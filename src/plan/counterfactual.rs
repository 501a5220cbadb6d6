//! The runs with one thing changed that `explain` compares with the run
//! as written: each trigger candidate (a group of timeline actions at
//! one moment, or the load curve's rise) left out, and each sustaining
//! [`Effect`] ablated at the trigger's end, through the engine's own
//! timeline actions.

use serde::Serialize;

use crate::sim::{Action, RetrySpec, SimConfig, TimedAction, Workload};
use crate::time::{SimDuration, SimTime};

/// A sustaining effect, and the action that ablates it at the trigger's
/// end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Effect {
    /// Retries amplify the load (workload amplification): ablated by
    /// setting every group's policy to one attempt (`set-retry`).
    Retries,
    /// Backends serve work whose client gave up (capacity degradation):
    /// ablated by `set-cancel-on-timeout` on.
    AbandonedWork,
    /// Load balancers carry a full backlog or a rate that scaling moved
    /// (capacity degradation): ablated by `reset-load-balancer` at every
    /// site.
    LoadBalancers,
    /// Health checks eject overloaded sites, moving their load onto the
    /// others (capacity degradation): ablated by `stop-health-checks`.
    HealthChecks,
    /// Cached DNS answers keep clients on the sites they chose (stale
    /// routing): ablated by `flush-dns`.
    Dns,
    /// Retry budgets, breakers and throttles hold the state the overload
    /// left: ablated by setting every group's policy again (`set-retry`,
    /// which starts their state afresh).
    ClientState,
}

impl Effect {
    /// Every effect, in the order they are reported.
    pub const ALL: [Effect; 6] = [
        Effect::Retries,
        Effect::AbandonedWork,
        Effect::LoadBalancers,
        Effect::HealthChecks,
        Effect::Dns,
        Effect::ClientState,
    ];

    /// Its name in files (`retries`, `abandoned-work`, …).
    pub fn name(self) -> &'static str {
        match self {
            Effect::Retries => "retries",
            Effect::AbandonedWork => "abandoned-work",
            Effect::LoadBalancers => "load-balancers",
            Effect::HealthChecks => "health-checks",
            Effect::Dns => "dns",
            Effect::ClientState => "client-state",
        }
    }

    /// What sustains the storm, in the taxonomy's words.
    pub fn sustains(self) -> &'static str {
        match self {
            Effect::Retries => "retry amplification",
            Effect::AbandonedWork => "wasted work on abandoned requests",
            Effect::LoadBalancers => "load-balancer backlogs",
            Effect::HealthChecks => "health-check ejections",
            Effect::Dns => "cached DNS answers",
            Effect::ClientState => "client budgets and breakers",
        }
    }

    /// The family: workload amplification or capacity degradation (Huang
    /// et al.), or the clients' own state.
    pub fn family(self) -> &'static str {
        match self {
            Effect::Retries => "workload amplification",
            Effect::Dns | Effect::ClientState => "client state",
            _ => "capacity degradation",
        }
    }

    /// The ablation, as a phrase: "with retries stopped".
    pub fn ablated(self) -> &'static str {
        match self {
            Effect::Retries => "with retries stopped",
            Effect::AbandonedWork => "with abandoned work cancelled",
            Effect::LoadBalancers => "with the load balancers reset",
            Effect::HealthChecks => "with health checks stopped",
            Effect::Dns => "with DNS caches flushed",
            Effect::ClientState => "with budgets and breakers reset",
        }
    }

    /// The actions that ablate it in `config`, or `None` where it cannot
    /// act (no retries to stop, no health checks, no DNS TTL, …).
    pub fn actions(self, config: &SimConfig) -> Option<Vec<Action>> {
        let policies: Vec<_> = config
            .clients
            .iter()
            .map(|g| (g.name.clone(), g.retry.resolve()))
            .collect();
        let actions: Vec<Action> = match self {
            Effect::Retries => policies
                .into_iter()
                .filter_map(|(group, p)| {
                    let mut p = p?;
                    (p.max_attempts > 1).then(|| {
                        p.max_attempts = 1;
                        Action::SetRetry {
                            group,
                            retry: RetrySpec::Config(Box::new(p)),
                        }
                    })
                })
                .collect(),
            Effect::ClientState => policies
                .into_iter()
                .filter_map(|(group, p)| {
                    let p = p?;
                    (p.budget.is_some() || p.breaker.is_some() || p.throttle.is_some()).then(|| {
                        Action::SetRetry {
                            group,
                            retry: RetrySpec::Config(Box::new(p)),
                        }
                    })
                })
                .collect(),
            Effect::AbandonedWork if !config.cancel_on_timeout => {
                vec![Action::SetCancelOnTimeout { cancel: true }]
            }
            Effect::LoadBalancers => config
                .sites
                .iter()
                .filter(|s| s.max_new_per_sec.is_some() || s.scaling.is_some())
                .map(|s| Action::ResetLoadBalancer {
                    site: s.name.clone(),
                })
                .collect(),
            Effect::HealthChecks if config.router.health_check.is_some() => {
                vec![Action::StopHealthChecks]
            }
            Effect::Dns if config.router.dns_ttl > SimDuration::ZERO => vec![Action::FlushDns],
            _ => Vec::new(),
        };
        (!actions.is_empty()).then_some(actions)
    }
}

/// What a counterfactual leaves out: one group of timeline actions, or the
/// load curve's rise.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    /// When it happens (the load's rise: its first point above the start).
    pub at: SimTime,
    /// The timeline entries it leaves out (indices); empty for the load.
    pub actions: Vec<usize>,
    /// Whether it is the load curve's rise rather than actions.
    pub load: bool,
}

/// The groups of timeline actions at one moment, in time order, then the
/// load curves' rise if an open-loop group's load rises above where it
/// starts.
pub fn candidates(config: &SimConfig) -> Vec<Candidate> {
    let mut order: Vec<usize> = (0..config.timeline.len()).collect();
    order.sort_by_key(|&i| (config.timeline[i].at, i));
    let mut out: Vec<Candidate> = Vec::new();
    for i in order {
        let at = config.timeline[i].at;
        match out.last_mut() {
            Some(c) if c.at == at => c.actions.push(i),
            _ => out.push(Candidate {
                at,
                actions: vec![i],
                load: false,
            }),
        }
    }
    let rise = config
        .clients
        .iter()
        .filter_map(|g| match &g.workload {
            Workload::Open { curve, .. } if !curve.is_empty() => {
                let start = curve[0].factor;
                curve.iter().find(|p| p.factor > start).map(|p| p.at)
            }
            _ => None,
        })
        .min();
    if let Some(at) = rise {
        out.push(Candidate {
            at,
            actions: Vec::new(),
            load: true,
        });
    }
    out
}

/// `config` without `candidate`: its actions left out, or every load
/// curve kept at its starting factor; the trigger's end stays where the
/// whole timeline put it, so every counterfactual is judged by one rule.
pub fn without(config: &SimConfig, candidate: &Candidate) -> SimConfig {
    let mut c = config.clone();
    c.recorder.trigger_end = config.trigger_end();
    if candidate.load {
        for g in &mut c.clients {
            if let Workload::Open { curve, .. } = &mut g.workload
                && let Some(start) = curve.first().map(|p| p.factor)
            {
                for p in curve.iter_mut() {
                    p.factor = p.factor.min(start);
                }
            }
        }
    } else {
        c.timeline = c
            .timeline
            .iter()
            .enumerate()
            .filter(|(i, _)| !candidate.actions.contains(i))
            .map(|(_, t)| t.clone())
            .collect();
    }
    c
}

/// `config` without any candidate: no action, and flat load curves.
pub fn without_any(config: &SimConfig) -> SimConfig {
    let mut c = config.clone();
    c.recorder.trigger_end = config.trigger_end();
    c.timeline.clear();
    for cand in candidates(config).iter().filter(|c| c.load) {
        c = without(&c, cand);
    }
    c
}

/// `config` with `effect` ablated at the trigger's end (after the actions
/// already there), or `None` where it cannot act or there is no end.
pub fn ablated(config: &SimConfig, effect: Effect) -> Option<SimConfig> {
    let at = config.trigger_end()?;
    let actions = effect.actions(config)?;
    let mut c = config.clone();
    c.recorder.trigger_end = Some(at);
    // The timeline is in time order: after the actions at or before `at`.
    let after = c.timeline.partition_point(|t| t.at <= at);
    c.timeline.splice(
        after..after,
        actions.into_iter().map(|action| TimedAction { at, action }),
    );
    Some(c)
}
