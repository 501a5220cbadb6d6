//! The words of the report: the conclusion its page opens with, computed
//! from the results, and the labels of the timeline's actions on the
//! charts.

use super::{Comparison, Row};
use crate::sim::{Action, Recovery, TimedAction, Verdict};

/// A length of time as people say it: `45 s`, `12 min`, `1 h 35 min`.
pub fn spoken(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s < 120 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min", (s + 30) / 60)
    } else {
        let m = (s + 30) / 60;
        match m % 60 {
            0 => format!("{} h", m / 60),
            r => format!("{} h {r} min", m / 60),
        }
    }
}

fn name(r: &Row) -> String {
    format!("{} + {}", r.balancer, r.policy)
}

fn list(rows: &[&Row]) -> String {
    let names: Vec<String> = rows.iter().map(|r| name(r)).collect();
    match names.len() {
        0 => String::new(),
        1..=4 => names.join(", "),
        n => format!("{} and {} more", names[..3].join(", "), n - 3),
    }
}

/// Two or three sentences: what absorbed, what went metastable and for how
/// long, what the best choice costs against the worst.
pub fn conclusion(c: &Comparison) -> Vec<String> {
    let rows = c.rows();
    let (Some(best), Some(worst)) = (rows.first(), rows.last()) else {
        return Vec::new();
    };
    let n = rows.len();
    let mut out = Vec::new();
    let absorbed: Vec<&Row> = rows
        .iter()
        .filter(|r| r.verdict == Verdict::Absorbed)
        .collect();
    out.push(if n == 1 && absorbed.is_empty() {
        format!(
            "Its one combination, {}, did not absorb it: it was {} and lost {:.1} % of its requests.",
            name(best),
            best.verdict,
            best.lost_pct
        )
    } else if n == 1 {
        format!("Its one combination, {}, absorbed it.", name(best))
    } else if absorbed.is_empty() {
        format!(
            "No combination absorbed it: the best, {}, was {} and lost {:.1} % of its requests.",
            name(best),
            best.verdict,
            best.lost_pct
        )
    } else if absorbed.len() == n {
        format!("All {n} combinations absorbed it.")
    } else {
        format!(
            "{} of {n} combinations absorbed it: {}.",
            absorbed.len(),
            list(&absorbed)
        )
    });
    let metastable: Vec<&Row> = rows
        .iter()
        .filter(|r| r.verdict == Verdict::Metastable)
        .collect();
    if !metastable.is_empty() {
        let after: Vec<f64> = metastable
            .iter()
            .filter_map(|r| r.recovery.seconds())
            .collect();
        let never = metastable
            .iter()
            .filter(|r| r.recovery == Recovery::Never)
            .count();
        let span = match (after.is_empty(), never) {
            (true, _) => "and never recovered within the run".to_owned(),
            (false, 0) => {
                let (lo, hi) = after
                    .iter()
                    .fold((f64::INFINITY, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
                if (hi - lo) < 60.0 {
                    format!("by {}", spoken(hi))
                } else {
                    format!("by {} to {}", spoken(lo), spoken(hi))
                }
            }
            (false, k) => format!(
                "by up to {} ({k} never recovered within the run)",
                spoken(after.iter().copied().fold(0.0, f64::max))
            ),
        };
        out.push(if n == 1 {
            format!("It went metastable — the overload outlived the trigger's end {span}.")
        } else {
            format!(
                "{} of {n} went metastable — the overload outlived the trigger's end {span}: {}.",
                metastable.len(),
                list(&metastable)
            )
        });
    }
    if n > 1 {
        out.push(format!(
            "The best choice, {}, lost {:.1} % of requests; the worst, {}, lost {:.1} %.",
            name(best),
            best.lost_pct,
            name(worst),
            worst.lost_pct
        ));
        if let Some(words) = settings(c, best) {
            out.push(format!("Its policy, {}: {words}.", best.policy));
        }
    }
    out
}

/// What a row's retry policy does, when every client group of its runs
/// uses the same one: so that a reader sees what won (a policy without an
/// attempt timeout never times out, and can win for that alone).
fn settings(c: &Comparison, r: &Row) -> Option<String> {
    let (run, _) = c
        .runs
        .iter()
        .find(|(run, _)| run.balancer == r.balancer && run.policy == r.policy)?;
    let policies: Vec<_> = run
        .config
        .clients
        .iter()
        .map(|g| g.retry.resolve())
        .collect::<Option<_>>()?;
    let first = policies.first()?;
    policies
        .iter()
        .all(|p| p == first)
        .then(|| first.to_string())
}

/// What an action did, in a few words, for a chart's marker.
fn verb(a: &Action) -> (String, String) {
    match a {
        Action::Drain { site, ramp } if ramp.0 > 0 => (
            site.clone(),
            format!("drained over {}", spoken(ramp.as_secs_f64())),
        ),
        Action::Drain { site, .. } => (site.clone(), "drained".into()),
        Action::PacedDrain { site, .. } => (site.clone(), "paced drain".into()),
        Action::Restore { site, .. } => (site.clone(), "restored".into()),
        Action::SetSiteWeight { site, weight, .. } => (site.clone(), format!("weight {weight}")),
        Action::SetBackendWeights { site, .. } => (site.clone(), "backend weights".into()),
        Action::SetBalancer { site, balancer, .. } => {
            (site.clone(), format!("→ {}", balancer.name()))
        }
        Action::SetBackendFailure {
            site,
            fail_probability,
            ..
        } => (
            site.clone(),
            format!("failing {:.0} %", fail_probability * 100.0),
        ),
        Action::SetAcceptRate {
            site,
            max_new_per_sec,
        } => (site.clone(), format!("accept {max_new_per_sec}/s")),
        Action::SetLoad { group, rate, .. } => (group.clone(), format!("load {rate}/s")),
        Action::SetRetry { group, .. } => (group.clone(), "new retry policy".into()),
        Action::ResetLoadBalancer { site } => (site.clone(), "load balancer reset".into()),
        Action::SetCancelOnTimeout { cancel: true } => {
            ("servers".into(), "cancel abandoned work".into())
        }
        Action::SetCancelOnTimeout { cancel: false } => {
            ("servers".into(), "keep abandoned work".into())
        }
        Action::StopHealthChecks => ("router".into(), "health checks stopped".into()),
        Action::FlushDns => ("clients".into(), "DNS caches flushed".into()),
    }
}

/// The timeline's markers: (time in seconds, label), actions at the same
/// moment merged (`dfw, ord, iad: accept 34/s`).
pub fn marks(timeline: &[TimedAction]) -> Vec<(f64, String)> {
    let mut out: Vec<(u64, Vec<(String, String)>)> = Vec::new();
    for t in timeline {
        let v = verb(&t.action);
        match out.last_mut() {
            Some((at, items)) if *at == t.at.0 => items.push(v),
            _ => out.push((t.at.0, vec![v])),
        }
    }
    out.into_iter()
        .map(|(at, items)| (at as f64 / 1e9, merged(items)))
        .collect()
}

/// Actions at one moment in a few words: `dfw, ord, iad accept 340/s`.
pub(super) fn label_of(actions: &[&Action]) -> String {
    merged(actions.iter().map(|a| verb(a)).collect())
}

/// (who, what) pairs with the same `what` merged: `a, b what`.
fn merged(items: Vec<(String, String)>) -> String {
    let mut parts: Vec<(Vec<String>, String)> = Vec::new();
    for (who, what) in items {
        match parts.iter_mut().find(|(_, w)| *w == what) {
            Some((names, _)) => names.push(who),
            None => parts.push((vec![who], what)),
        }
    }
    parts
        .into_iter()
        .map(|(names, what)| format!("{} {what}", names.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;

    #[test]
    fn durations_are_spoken_in_round_units() {
        assert_eq!(spoken(45.0), "45 s");
        assert_eq!(spoken(720.0), "12 min");
        assert_eq!(spoken(5910.0), "1 h 39 min");
        assert_eq!(spoken(7200.0), "2 h");
    }

    #[test]
    fn actions_at_one_moment_share_a_marker() {
        let p = Profile::bundled("cheyenne-2026").unwrap().unwrap();
        let m = marks(&p.scenario.timeline);
        let labels: Vec<&str> = m.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(
            labels,
            [
                "cys drained",
                "dfw, ord, iad accept 340/s",
                "ord weight 160"
            ]
        );
        assert_eq!(m[1].0, 254.0 * 60.0);
    }
}
