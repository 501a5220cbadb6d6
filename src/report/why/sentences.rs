//! What `explain` says in words: per combination, what triggered it, how
//! close to its limits the system ran and what sustained it; and the
//! conclusion a report opens its "Why" with.

use std::fmt::Write as _;

use super::super::html::time_label;
use super::super::story::{label_of, spoken};
use crate::plan::{Candidate, Effect, ExplainOutcome, ExplainPlan, Explanation, Trigger};
use crate::profile::Profile;
use crate::sim::Recovery;

/// A moment as the report says it: a clock time (UTC) when the profile
/// sets `clock_start`, else seconds.
fn when(profile: &Profile, seconds: f64) -> String {
    match profile.clock_start_seconds() {
        Some(_) => format!("{} UTC", time_label(profile, seconds)),
        None => format!("{} s", (seconds * 1000.0).round() / 1000.0),
    }
}

/// A candidate trigger in words: "cys drained at 17:45 UTC".
pub fn label(profile: &Profile, candidate: &Candidate) -> String {
    let at = when(profile, candidate.at.as_secs_f64());
    if candidate.load {
        return format!("the load's rise (above its level at the start, by {at})");
    }
    let actions: Vec<_> = candidate
        .actions
        .iter()
        .map(|&i| &profile.scenario.timeline[i].action)
        .collect();
    format!("{} at {at}", label_of(&actions))
}

fn pct(x: f64) -> String {
    let p = x * 100.0;
    if p != 0.0 && p.abs() < 0.1 {
        format!("{p:.2} %")
    } else {
        format!("{p:.1} %")
    }
}

/// "recovered 3 min after the trigger's end", "never recovered".
fn recovered(r: Recovery) -> String {
    match r {
        Recovery::NoTrigger => "had no trigger's end to recover from".into(),
        Recovery::BeforeTriggerEnd => "had recovered by the trigger's end".into(),
        Recovery::After { seconds } if seconds < 1.0 => "recovered at once".into(),
        Recovery::After { seconds } => format!("recovered {} after it", spoken(seconds)),
        Recovery::Never => "never recovered within the run".into(),
    }
}

/// The few sentences that explain one combination.
pub fn sentences(profile: &Profile, e: &Explanation) -> Vec<String> {
    let mut out = Vec::new();
    let name = format!("{} + {}", e.balancer, e.policy);
    let outcome = |o: &ExplainOutcome| format!("{}, {} lost", o.verdict, pct(o.lost));
    match &e.trigger {
        Trigger::Nothing => {
            out.push(format!(
                "{name}: {} — nothing to explain.",
                outcome(&e.base)
            ));
            return out;
        }
        Trigger::Candidates { which } => {
            let labels: Vec<String> = which
                .iter()
                .map(|&k| label(profile, &e.candidates[k]))
                .collect();
            let without: Vec<String> = which
                .iter()
                .map(|&k| outcome(&e.without[k]))
                .collect();
            out.push(if which.len() == 1 {
                format!(
                    "{name}: {}. Triggered by {} — without it: {}.",
                    outcome(&e.base),
                    labels[0],
                    without[0]
                )
            } else {
                format!(
                    "{name}: {}. Triggered by each of {} — without any one of them it is absorbed.",
                    outcome(&e.base),
                    labels.join(", ")
                )
            });
        }
        Trigger::Together => out.push(format!(
            "{name}: {}. No one action is the trigger: without any one of {} it still fails, without all of them it is {} — more than one of them can trigger it.",
            outcome(&e.base),
            e.candidates
                .iter()
                .map(|c| label(profile, c))
                .collect::<Vec<_>>()
                .join(", "),
            e.without_any
                .as_ref()
                .map_or_else(|| "absorbed".to_owned(), outcome)
        )),
        Trigger::NotTheTimeline => {
            let none = e.without_any.as_ref().or(e.without.first());
            let without = if e.candidates.is_empty() {
                "any trigger"
            } else {
                "any of its actions (and with the load held at its start)"
            };
            out.push(match none {
                Some(o) if o.verdict < e.base.verdict => format!(
                    "{name}: {}. Not the timeline alone: without {without} it is already {} — vulnerable on its own — and the timeline made it worse.",
                    outcome(&e.base),
                    outcome(o),
                ),
                _ => format!(
                    "{name}: {}. Not the timeline: without {without} it is already {} — the system was vulnerable on its own.",
                    outcome(&e.base),
                    none.map_or_else(|| outcome(&e.base), outcome),
                ),
            });
        }
    }
    let m = &e.margin;
    let a = &m.arithmetic;
    let mut margin = format!(
        "At {} the sites in rotation ran their backends at {}",
        when(profile, m.at.as_secs_f64()),
        pct(m.backend_utilisation)
    );
    if let Some(u) = m.accept_utilisation {
        let _ = write!(
            margin,
            " and admitted {} of what their load balancers' accept rates allowed",
            pct(u)
        );
    }
    let _ = write!(
        margin,
        "; the sites that stay in rotation serve {:.0}/s with their backends",
        a.backend_capacity
    );
    if a.accept_capacity.is_finite() {
        let _ = write!(margin, " and accept {:.0}/s", a.accept_capacity);
    }
    let _ = write!(
        margin,
        " against a peak of {:.0}/s: break-even at ×{:.2} their capacity.",
        a.peak_load,
        a.break_even()
    );
    out.push(margin);
    let end = e.trigger_end.map(|t| when(profile, t.as_secs_f64()));
    match (e.base.recovery, &end) {
        (Recovery::NoTrigger, _) | (_, None) => out.push(
            "No trigger's end to ablate anything at: what sustained it is not judged.".into(),
        ),
        (Recovery::BeforeTriggerEnd, _) => out.push(format!(
            "It had recovered by the trigger's end ({}): nothing sustained it.",
            end.as_deref().unwrap_or_default()
        )),
        (base, Some(end)) => {
            let base_words = match base {
                Recovery::Never => "never within the run".to_owned(),
                r => format!("{} after", spoken(r.seconds().unwrap_or(0.0))),
            };
            let mut said = Vec::new();
            for effect in &e.sustained_by {
                let o = e
                    .ablation(*effect)
                    .expect("a sustaining effect was ablated");
                said.push(format!(
                    "{} ({}): {} at {end}, it {} instead of {base_words}",
                    effect.sustains(),
                    effect.family(),
                    effect.ablated(),
                    recovered(o.recovery),
                ));
            }
            out.push(match said.split_first() {
                Some((first, [])) => format!("Sustained by {first}."),
                Some((first, rest)) => {
                    format!("Sustained by {first}; also by {}.", rest.join("; "))
                }
                None => {
                    let tried: Vec<&str> = e.ablations.iter().map(|(f, _)| f.name()).collect();
                    format!(
                        "No single ablation at {end} ended it sooner (tried: {}); it {}.",
                        if tried.is_empty() {
                            "none could act".to_owned()
                        } else {
                            tried.join(", ")
                        },
                        recovered(base),
                    )
                }
            });
        }
    }
    out
}

/// The sentences a report opens its "Why" with: how many combinations
/// each trigger explains, how many were vulnerable on their own, and what
/// sustained the storms.
pub fn conclusion(profile: &Profile, plan: &ExplainPlan) -> Vec<String> {
    let es = &plan.explanations;
    let n = es.len();
    let mut out = Vec::new();
    let mut by_label: Vec<(String, Vec<String>)> = Vec::new();
    let mut alone = Vec::new();
    let mut together = Vec::new();
    for e in es {
        let name = format!("{} + {}", e.balancer, e.policy);
        match &e.trigger {
            Trigger::Candidates { which } => {
                for &k in which {
                    let l = label(profile, &e.candidates[k]);
                    match by_label.iter_mut().find(|(x, _)| *x == l) {
                        Some((_, names)) => names.push(name.clone()),
                        None => by_label.push((l, vec![name.clone()])),
                    }
                }
            }
            Trigger::NotTheTimeline => alone.push(name),
            Trigger::Together => together.push(name),
            Trigger::Nothing => {}
        }
    }
    for (l, names) in &by_label {
        out.push(format!(
            "{} of {n} combinations went wrong because of {l}: without it they absorb it.",
            names.len()
        ));
    }
    if !together.is_empty() {
        out.push(format!(
            "{} of {n} had no one trigger: without any one action they still fail, without all of them they absorb ({}).",
            together.len(),
            list(&together)
        ));
    }
    if !alone.is_empty() {
        out.push(format!(
            "{} of {n} were not triggered by the timeline: without any action they already fail ({}).",
            alone.len(),
            list(&alone)
        ));
    }
    let mut by_effect: Vec<(Effect, usize)> = Vec::new();
    for e in es {
        if let Some(&first) = e.sustained_by.first() {
            match by_effect.iter_mut().find(|(f, _)| *f == first) {
                Some((_, k)) => *k += 1,
                None => by_effect.push((first, 1)),
            }
        }
    }
    if !by_effect.is_empty() {
        let parts: Vec<String> = by_effect
            .iter()
            .map(|(f, k)| format!("{} in {k}", f.sustains()))
            .collect();
        out.push(format!(
            "What kept the storms going after the trigger's end, by the ablation that ended them soonest: {}.",
            parts.join(", ")
        ));
    }
    out
}

fn list(names: &[String]) -> String {
    match names.len() {
        0..=4 => names.join(", "),
        k => format!("{} and {} more", names[..3].join(", "), k - 3),
    }
}
