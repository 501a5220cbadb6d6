//! `summary.json`, schema version 1: what a notebook reads.
//!
//! Every time is a number of seconds in a key ending in `_s`; every share
//! is a fraction in [0, 1] (`lost`, `collapse_ratio`); counts are integers;
//! rates end in `_per_s`. Top level:
//!
//! | key | what |
//! |---|---|
//! | `schema_version` | 1 |
//! | `drainstorm_version` | the crate's version |
//! | `profile` | `name`, `description`, `sha256` of the resolved profile (every default filled in), `seed` (of the first run), `seeds`, `duration_s`, `clock_start` (`"HH:MM"` or null), `time_scale` (or null), `scale` (the size the scenario ran at, as a factor of the profile as written; 1 as written) |
//! | `rule` | the verdict thresholds: `interval_s`, `collapse_ratio`, `collapse_min_s`, `metastable_after_s`, `recovered_fraction`, `recovered_amplification`, `recovery_window_s`, `degraded_loss`, `warm_up_s` |
//! | `trigger_end_s` | the trigger's end (null if none) |
//! | `timeline` | the actions as run (at the profile's scale): `at_s`, `action`, and the action's keys (durations as `…_s`) |
//! | `rows` | one per (balancer, policy), best first: `verdict`, `runs`, `collapsed_runs`, `lost`, `lost_min`, `lost_max`, `peak_amplification`, `mean_amplification`, `mean_latency_s`, `p99_s`, `p999_s`, `collapsed_s`, `recovery` |
//! | `runs` | one per run: `balancer`, `policy`, `seed`, `summary` |
//!
//! A run's `summary`: `duration_s`, `offered`, `successes`, `failures`,
//! `refused`, `overflows`, `attempts`, `lb_rejects`, `queue_rejects`,
//! `timeouts`, `wasted`, `goodput_per_s`, `offered_per_s`, `lost`,
//! `amplification`, `peak_amplification`, `p50_s`, `p99_s`, `p999_s`,
//! `max_s`, `mean_latency_s`, `collapses` (`start_s`, `end_s`),
//! `collapsed_s`, `recovery`, `verdict`. A `recovery` is
//! `{ "state": "no-trigger" | "before-trigger-end" | "after" | "never",
//! "after_s": seconds (for "after") }`.

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::Comparison;
use crate::retry::{SimDuration, SimTime, parse_duration};
use crate::sim::{RecorderConfig, Recovery, Summary, TimedAction, Verdict};

/// The version of the layout below; bumped when a key changes meaning or
/// goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// Seconds, divided rather than multiplied by 1e-9, so whole and decimal
/// seconds print as written (`1000`, not `1000.0000000000001`).
fn s(d: SimDuration) -> f64 {
    d.0 as f64 / 1e9
}

fn t(t: SimTime) -> f64 {
    t.0 as f64 / 1e9
}

#[derive(Serialize)]
struct RecoveryDoc {
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    after_s: Option<f64>,
}

fn recovery(r: Recovery) -> RecoveryDoc {
    let (state, after_s) = match r {
        Recovery::NoTrigger => ("no-trigger", None),
        Recovery::BeforeTriggerEnd => ("before-trigger-end", None),
        Recovery::After { seconds } => ("after", Some(seconds)),
        Recovery::Never => ("never", None),
    };
    RecoveryDoc { state, after_s }
}

#[derive(Serialize)]
struct RuleDoc {
    interval_s: f64,
    collapse_ratio: f64,
    collapse_min_s: f64,
    metastable_after_s: f64,
    recovered_fraction: f64,
    recovered_amplification: f64,
    recovery_window_s: f64,
    degraded_loss: f64,
    warm_up_s: f64,
}

fn rule(r: &RecorderConfig) -> RuleDoc {
    RuleDoc {
        interval_s: s(r.interval),
        collapse_ratio: r.collapse_ratio,
        collapse_min_s: s(r.collapse_min),
        metastable_after_s: s(r.metastable_after),
        recovered_fraction: r.recovered_fraction,
        recovered_amplification: r.recovered_amplification,
        recovery_window_s: s(r.window()),
        degraded_loss: r.degraded_loss,
        warm_up_s: s(r.warm_up),
    }
}

#[derive(Serialize)]
struct CollapseDoc {
    start_s: f64,
    end_s: f64,
}

#[derive(Serialize)]
struct SummaryDoc {
    duration_s: f64,
    offered: u64,
    successes: u64,
    failures: u64,
    refused: u64,
    overflows: u64,
    attempts: u64,
    lb_rejects: u64,
    queue_rejects: u64,
    timeouts: u64,
    wasted: u64,
    goodput_per_s: f64,
    offered_per_s: f64,
    lost: f64,
    amplification: f64,
    peak_amplification: f64,
    p50_s: f64,
    p99_s: f64,
    p999_s: f64,
    max_s: f64,
    mean_latency_s: f64,
    collapses: Vec<CollapseDoc>,
    collapsed_s: f64,
    recovery: RecoveryDoc,
    verdict: Verdict,
}

fn summary(x: &Summary) -> SummaryDoc {
    SummaryDoc {
        duration_s: x.seconds,
        offered: x.offered,
        successes: x.successes,
        failures: x.failures,
        refused: x.refused,
        overflows: x.overflows,
        attempts: x.attempts,
        lb_rejects: x.lb_rejects,
        queue_rejects: x.queue_rejects,
        timeouts: x.timeouts,
        wasted: x.wasted,
        goodput_per_s: x.goodput,
        offered_per_s: x.offered_rate,
        lost: x.lost,
        amplification: x.amplification,
        peak_amplification: x.peak_amplification,
        p50_s: x.p50,
        p99_s: x.p99,
        p999_s: x.p999,
        max_s: x.max,
        mean_latency_s: x.mean_latency,
        collapses: x
            .collapses
            .iter()
            .map(|c| CollapseDoc {
                start_s: t(c.start),
                end_s: t(c.end),
            })
            .collect(),
        collapsed_s: x.collapsed_seconds,
        recovery: recovery(x.recovery),
        verdict: x.verdict,
    }
}

/// A timeline action as a flat object: `at_s`, `action`, its keys, and
/// its durations in seconds under `…_s`.
pub(super) fn action(a: &TimedAction) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("at_s".into(), Value::from(t(a.at)));
    if let Ok(Value::Object(fields)) = serde_json::to_value(&a.action) {
        for (k, v) in fields {
            match (&v, parse_duration_value(&v)) {
                (Value::String(_), Some(secs)) if k != "action" => {
                    out.insert(format!("{k}_s"), Value::from(secs));
                }
                _ => {
                    out.insert(k, v);
                }
            }
        }
    }
    out
}

/// Seconds, if `v` is a duration string (`"30m"`).
fn parse_duration_value(v: &Value) -> Option<f64> {
    let text = v.as_str()?;
    text.starts_with(|c: char| c.is_ascii_digit())
        .then(|| parse_duration(text).ok())
        .flatten()
        .map(s)
}

#[derive(Serialize)]
struct RowDoc {
    balancer: String,
    policy: String,
    verdict: Verdict,
    runs: usize,
    collapsed_runs: usize,
    lost: f64,
    lost_min: f64,
    lost_max: f64,
    peak_amplification: f64,
    mean_amplification: f64,
    mean_latency_s: f64,
    p99_s: f64,
    p999_s: f64,
    collapsed_s: f64,
    recovery: RecoveryDoc,
}

#[derive(Serialize)]
struct RunDoc<'a> {
    balancer: &'a str,
    policy: &'a str,
    seed: u64,
    summary: SummaryDoc,
}

#[derive(Serialize)]
struct ProfileDoc<'a> {
    name: &'a str,
    description: &'a str,
    sha256: String,
    seed: u64,
    seeds: u32,
    duration_s: f64,
    clock_start: Option<&'a str>,
    time_scale: Option<f64>,
    scale: f64,
}

#[derive(Serialize)]
struct Doc<'a> {
    schema_version: u32,
    drainstorm_version: &'static str,
    profile: ProfileDoc<'a>,
    rule: RuleDoc,
    trigger_end_s: Option<f64>,
    timeline: Vec<Map<String, Value>>,
    rows: Vec<RowDoc>,
    runs: Vec<RunDoc<'a>>,
}

/// The document, pretty-printed with a final newline.
pub(super) fn document(c: &Comparison) -> String {
    let p = &c.profile;
    let hash = Sha256::digest(p.to_toml().as_bytes());
    let first = c.runs.first().map(|(run, _)| &run.config);
    let doc = Doc {
        schema_version: SCHEMA_VERSION,
        drainstorm_version: env!("CARGO_PKG_VERSION"),
        profile: ProfileDoc {
            name: &p.name,
            description: &p.description,
            sha256: hash.iter().map(|b| format!("{b:02x}")).collect(),
            seed: p.scenario.seed,
            seeds: p.compare.seeds,
            duration_s: s(p.scenario.duration),
            clock_start: p.clock_start.as_deref(),
            time_scale: p.time_scale,
            scale: p.scale,
        },
        rule: rule(&p.scenario.recorder),
        trigger_end_s: first.and_then(|c| c.trigger_end()).map(t),
        timeline: c.scenario().timeline.iter().map(action).collect(),
        rows: c
            .rows()
            .into_iter()
            .map(|r| RowDoc {
                verdict: r.verdict,
                runs: r.runs,
                collapsed_runs: r.collapsed_runs,
                lost: r.lost_pct / 100.0,
                lost_min: r.lost_pct_range.0 / 100.0,
                lost_max: r.lost_pct_range.1 / 100.0,
                peak_amplification: r.peak_amplification,
                mean_amplification: r.mean_amplification,
                mean_latency_s: r.mean_latency,
                p99_s: r.p99,
                p999_s: r.p999,
                collapsed_s: r.collapsed_minutes * 60.0,
                recovery: recovery(r.recovery),
                balancer: r.balancer,
                policy: r.policy,
            })
            .collect(),
        runs: c
            .runs
            .iter()
            .map(|(r, res)| RunDoc {
                balancer: &r.balancer,
                policy: &r.policy,
                seed: r.seed,
                summary: summary(&res.summary),
            })
            .collect(),
    };
    serde_json::to_string_pretty(&doc).expect("the document serializes") + "\n"
}
