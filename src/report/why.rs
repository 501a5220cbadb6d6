//! `drainstorm explain`'s words and files: per balancer × policy, what
//! triggered it, how close to its limits the system ran when it came, and
//! what sustained it ([`ExplainPlan`]).
//!
//! `explain.json`, schema version 1 (times in seconds in keys ending in
//! `_s`, shares as fractions):
//!
//! | key | what |
//! |---|---|
//! | `schema_version`, `drainstorm_version` | 1, the crate's version |
//! | `profile` | `name`, `scenario_sha256` (the resolved profile with its comparison left out: what a `run` report matches to link here) |
//! | `seeds` | seeds per combination |
//! | `trigger_end_s` | where the effects were ablated (null: no trigger end) |
//! | `conclusion` | the sentences a report opens its "Why" with |
//! | `combinations` | one per balancer × policy, in the profile's order: `balancer`, `policy`, `verdict`, `lost`, `recovery` (as in `summary.json`), `trigger` (`"nothing"`, `"candidates"`, `"together"` or `"not-the-timeline"`), `triggered_by` (labels), `candidates` (each `label`, `at_s`, `load`, and the run without it: `verdict`, `absorbed_seeds`, `lost`), `without_any` (the run with no candidate at all, or null), `margin` (`at_s`, `backend_utilisation`, `accept_utilisation`, `peak_load_per_s`, `backend_capacity_per_s`, `accept_capacity_per_s`, `break_even`), `ablations` (each `effect`, `verdict`, `lost`, `recovery`), `sustained_by` (effect names, the soonest recovery first), `sentences` |
//! | `runs`, `simulated_s` | the runs made and their simulated time |
//!
//! `explain.csv`: one row per run kind of each combination — `balancer`,
//! `policy`, `run` (`as-written`, `without`, `without-any`, `ablated`),
//! `what` (the candidate's label or the effect's name), `at_s` (when the
//! candidate happens or the effect is ablated; empty for the run as
//! written), `verdict` (most seeds'), `absorbed_seeds`, `seeds`, `lost`
//! (mean share), `recovery` (`no-trigger`, `before-trigger-end`, `after`,
//! `never`: the median seed's) and `recovery_s` (seconds after the
//! trigger's end, for `after`; 0 for `before-trigger-end`).

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::html::escape;
use super::story::spoken;
use crate::plan::{ExplainOutcome, ExplainPlan, Explanation, Trigger};
use crate::profile::Profile;
use crate::sim::Recovery;

mod sentences;

pub use self::sentences::{conclusion, label, sentences};

/// The version of `explain.json`'s layout.
pub const EXPLAIN_SCHEMA_VERSION: u32 = 1;

/// What a report says of why: built from an [`ExplainPlan`], or read back
/// from the `explain.json` an earlier `explain` wrote beside a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Why {
    /// The sentences the report opens its "Why" with.
    pub conclusion: Vec<String>,
    /// Per combination: its row of the table ([`HEADER`]'s columns) and
    /// the sentences that explain it.
    pub combinations: Vec<([String; 7], Vec<String>)>,
    /// Where the explanation's own page is, relative to the report, when
    /// the report is a run's.
    pub link: Option<String>,
}

/// The SHA-256 of `profile` as resolved, its comparison left out: a run and
/// an explanation of the same scenario match whatever they compare.
pub fn scenario_sha256(profile: &Profile) -> String {
    let mut p = profile.clone();
    p.compare = Default::default();
    Sha256::digest(p.to_toml().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The [`Why`] of a plan, for a report.
pub fn why(profile: &Profile, plan: &ExplainPlan) -> Why {
    Why {
        conclusion: conclusion(profile, plan),
        combinations: plan
            .explanations
            .iter()
            .map(|e| (cells(profile, e), sentences(profile, e)))
            .collect(),
        link: None,
    }
}

/// The [`Why`] an `explain.json` holds, if it explains `profile`'s scenario
/// (`None` for another scenario, another schema or a file that is not
/// one); `link` is where the report finds the explanation's page.
pub fn read_why(json: &str, profile: &Profile, link: &str) -> Option<Why> {
    let v: Value = serde_json::from_str(json).ok()?;
    if v["schema_version"] != json!(EXPLAIN_SCHEMA_VERSION)
        || v["profile"]["scenario_sha256"] != json!(scenario_sha256(profile))
    {
        return None;
    }
    let strings = |v: &Value| -> Option<Vec<String>> {
        v.as_array()?
            .iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    Some(Why {
        conclusion: strings(&v["conclusion"])?,
        combinations: v["combinations"]
            .as_array()?
            .iter()
            .map(|c| {
                let cells: [String; 7] = strings(&c["cells"])?.try_into().ok()?;
                Some((cells, strings(&c["sentences"])?))
            })
            .collect::<Option<_>>()?,
        link: Some(link.to_owned()),
    })
}

fn recovery_cells(r: Recovery) -> (&'static str, String) {
    match r {
        Recovery::NoTrigger => ("no-trigger", String::new()),
        Recovery::BeforeTriggerEnd => ("before-trigger-end", "0".into()),
        Recovery::After { seconds } => ("after", format!("{seconds}")),
        Recovery::Never => ("never", String::new()),
    }
}

/// A recovery as `summary.json` writes it.
fn recovery_doc(r: Recovery) -> Value {
    let (state, _) = recovery_cells(r);
    match r {
        Recovery::After { seconds } => json!({ "state": state, "after_s": seconds }),
        _ => json!({ "state": state }),
    }
}

fn outcome_doc(o: &ExplainOutcome) -> Value {
    json!({
        "verdict": o.verdict,
        "absorbed_seeds": o.verdicts.absorbed,
        "lost": o.lost,
        "recovery": recovery_doc(o.recovery),
    })
}

/// `explain.json`: see the module documentation.
pub fn json(profile: &Profile, plan: &ExplainPlan) -> String {
    let secs = |t: crate::time::SimTime| t.0 as f64 / 1e9;
    let combinations: Vec<Value> = plan
        .explanations
        .iter()
        .map(|e| {
            let a = &e.margin.arithmetic;
            json!({
                "balancer": e.balancer,
                "policy": e.policy,
                "verdict": e.base.verdict,
                "lost": e.base.lost,
                "recovery": recovery_doc(e.base.recovery),
                "trigger": match e.trigger {
                    Trigger::Nothing => "nothing",
                    Trigger::Candidates { .. } => "candidates",
                    Trigger::Together => "together",
                    Trigger::NotTheTimeline => "not-the-timeline",
                },
                "triggered_by": match &e.trigger {
                    Trigger::Candidates { which } => which
                        .iter()
                        .map(|&k| label(profile, &e.candidates[k]))
                        .collect::<Vec<_>>(),
                    _ => Vec::new(),
                },
                "candidates": e.candidates.iter().zip(&e.without).map(|(c, o)| {
                    let mut doc = outcome_doc(o);
                    doc["label"] = json!(label(profile, c));
                    doc["at_s"] = json!(secs(c.at));
                    doc["load"] = json!(c.load);
                    doc
                }).collect::<Vec<_>>(),
                "without_any": e.without_any.as_ref().map(outcome_doc),
                "margin": {
                    "at_s": secs(e.margin.at),
                    "backend_utilisation": e.margin.backend_utilisation,
                    "accept_utilisation": e.margin.accept_utilisation,
                    "peak_load_per_s": a.peak_load,
                    "backend_capacity_per_s": a.backend_capacity,
                    "accept_capacity_per_s": a.accept_capacity.is_finite().then_some(a.accept_capacity),
                    "break_even": a.break_even(),
                },
                "ablations": e.ablations.iter().map(|(f, o)| {
                    let mut doc = outcome_doc(o);
                    doc["effect"] = json!(f.name());
                    doc
                }).collect::<Vec<_>>(),
                "sustained_by": e.sustained_by.iter().map(|f| f.name()).collect::<Vec<_>>(),
                "cells": cells(profile, e),
                "sentences": sentences(profile, e),
            })
        })
        .collect();
    let doc = json!({
        "schema_version": EXPLAIN_SCHEMA_VERSION,
        "drainstorm_version": env!("CARGO_PKG_VERSION"),
        "profile": { "name": profile.name, "scenario_sha256": scenario_sha256(profile) },
        "seeds": plan.seeds,
        "trigger_end_s": plan.explanations.first().and_then(|e| e.trigger_end).map(secs),
        "conclusion": conclusion(profile, plan),
        "combinations": combinations,
        "runs": plan.runs,
        "simulated_s": plan.simulated_s,
    });
    serde_json::to_string_pretty(&doc).expect("a document serialises") + "\n"
}

/// `explain.csv`: see the module documentation.
pub fn csv(profile: &Profile, plan: &ExplainPlan) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "balancer",
        "policy",
        "run",
        "what",
        "at_s",
        "verdict",
        "absorbed_seeds",
        "seeds",
        "lost",
        "recovery",
        "recovery_s",
    ]);
    let secs = |t: crate::time::SimTime| format!("{}", t.0 as f64 / 1e9);
    for e in &plan.explanations {
        let mut row = |run: &str, what: String, at: String, o: &ExplainOutcome| {
            let (state, s) = recovery_cells(o.recovery);
            let _ = w.write_record([
                e.balancer.as_str(),
                e.policy.as_str(),
                run,
                &what,
                &at,
                &o.verdict.to_string(),
                &o.verdicts.absorbed.to_string(),
                &o.verdicts.total().to_string(),
                &format!("{}", o.lost),
                state,
                &s,
            ]);
        };
        row("as-written", String::new(), String::new(), &e.base);
        for (c, o) in e.candidates.iter().zip(&e.without) {
            row("without", label(profile, c), secs(c.at), o);
        }
        if let Some(o) = &e.without_any {
            row("without-any", "every candidate".into(), String::new(), o);
        }
        for (f, o) in &e.ablations {
            let at = e.trigger_end.map(secs).unwrap_or_default();
            row("ablated", f.name().into(), at, o);
        }
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// The columns of the table `drainstorm explain` prints.
pub const HEADER: [&str; 7] = [
    "balancer",
    "policy",
    "verdict",
    "trigger",
    "sustained by",
    "recovery",
    "ablated",
];

/// A combination's row of the table: its verdict, its trigger, the effect
/// whose ablation ended it soonest, how long after the trigger's end it
/// recovered as written and with that effect ablated.
pub fn cells(profile: &Profile, e: &Explanation) -> [String; 7] {
    let rec = |r: Recovery| match r {
        Recovery::NoTrigger => "—".to_owned(),
        Recovery::BeforeTriggerEnd => "before end".into(),
        Recovery::After { seconds } => spoken(seconds),
        Recovery::Never => "never".into(),
    };
    let trigger = match &e.trigger {
        Trigger::Nothing => "—".to_owned(),
        Trigger::Candidates { which } => which
            .iter()
            .map(|&k| label(profile, &e.candidates[k]))
            .collect::<Vec<_>>()
            .join("; "),
        Trigger::Together => "several, none alone".into(),
        Trigger::NotTheTimeline => "none: vulnerable alone".into(),
    };
    let (sustained, ablated) = match e.sustained_by.first() {
        Some(f) => (
            f.sustains().to_owned(),
            e.ablation(*f).map_or(String::new(), |o| rec(o.recovery)),
        ),
        None if e.base.recovery_s() > 0.0 => ("no single effect".into(), "—".into()),
        None => ("—".into(), "—".into()),
    };
    [
        e.balancer.clone(),
        e.policy.clone(),
        e.base.verdict.to_string(),
        trigger,
        sustained,
        rec(e.base.recovery),
        ablated,
    ]
}

/// The table `drainstorm explain` prints: per combination its verdict,
/// its trigger, what sustained it and how soon the best ablation ended it.
pub fn table(profile: &Profile, plan: &ExplainPlan) -> String {
    let mut rows = vec![HEADER.map(str::to_owned)];
    rows.extend(plan.explanations.iter().map(|e| cells(profile, e)));
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, &w)| format!("{cell:<w$}"))
            .collect();
        out += cells.join("  ").trim_end();
        out.push('\n');
    }
    out
}

/// The report's "Why" section: the table, and each combination's
/// sentences behind its row (its conclusion opens the page).
pub(super) fn section(why: &Why) -> String {
    let mut s = String::from("<section id=\"why\"><h2>Why</h2>");
    if let Some(link) = &why.link {
        let _ = write!(
            s,
            "<p class=\"note\">From the explanation made by <code>drainstorm explain</code>: <a href=\"{}\">its page</a>.</p>",
            escape(link)
        );
    }
    s += "<table class=\"why\"><thead><tr>";
    for h in HEADER {
        let _ = write!(s, "<th>{h}</th>");
    }
    s += "</tr></thead><tbody>";
    for (cells, said) in &why.combinations {
        s += "<tr>";
        for c in cells {
            let _ = write!(s, "<td>{}</td>", escape(c));
        }
        let _ = write!(
            s,
            "</tr><tr class=\"said\"><td colspan=\"7\"><details><summary>why</summary>{}</details></td></tr>",
            escape(&said.join(" "))
        );
    }
    s + "</tbody></table><p class=\"note\">Trigger: the timeline action (or the load's rise) without which the run is absorbed. Recovery: after the trigger's end, as written; ablated: with the effect named stopped at the trigger's end. Each explanation compares runs with the same seeds and one thing changed, through the engine's own actions — retries stopped, abandoned work cancelled, load balancers reset, health checks stopped, DNS caches flushed, budgets and breakers reset; an effect sustained the storm if its ablation ended it in at most half the time (or at all).</p></section>"
}
