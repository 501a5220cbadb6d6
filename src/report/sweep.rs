//! A sweep's results: [`merge`] joins the journals of its shards
//! ([`super::journal`]), and `sweep.csv` and the table are functions of
//! the header and the rows sorted by job alone, so a sweep run whole and
//! one run in shards and merged write the same bytes.

use std::fmt::Write as _;

pub use super::journal::{JOURNAL_FORMAT, Journal, JournalHeader, verify};
use crate::plan::{Cell, SweepRow, cells};
use crate::sim::{Recovery, Verdict};

/// Merges the journals of every shard of one sweep into its rows, sorted
/// by job. Refused: journals of different sweeps or versions, a shard
/// given twice, a shard missing, an unfinished shard, and a row that is
/// not the run its job number names in the sweep the header describes
/// ([`Journal::check`]; each row's digest was checked when it was read).
pub fn merge(parts: &[(String, Journal)]) -> Result<(JournalHeader, Vec<SweepRow>), String> {
    let Some((first_name, first)) = parts.first() else {
        return Err("no partial results given".into());
    };
    let n = first.header.shard[1];
    let mut by_shard: Vec<Option<&str>> = vec![None; n];
    for (name, j) in parts {
        first
            .header
            .same_sweep(&j.header)
            .map_err(|e| format!("{name} and {first_name} are not parts of one sweep: {e}"))?;
        let [k, m] = j.header.shard;
        if m != n {
            return Err(format!(
                "{name} is shard {k}/{m} but {first_name} is shard {}/{n}: the parts of one sweep share N",
                first.header.shard[0]
            ));
        }
        if let Some(other) = by_shard[k - 1] {
            return Err(format!(
                "{name} and {other} are both shard {k}/{n}: overlapping parts"
            ));
        }
        by_shard[k - 1] = Some(name);
        if !j.is_complete() {
            return Err(format!(
                "{name}: shard {k}/{n} is unfinished ({} of {} runs): finish it with `drainstorm sweep ... --shard {k}/{n} --resume`",
                j.rows.len(),
                j.header.jobs().count()
            ));
        }
    }
    let missing: Vec<String> = (1..=n)
        .filter(|k| by_shard[k - 1].is_none())
        .map(|k| format!("{k}/{n}"))
        .collect();
    if !missing.is_empty() {
        let (s, are) = if missing.len() == 1 {
            ("", "is")
        } else {
            ("s", "are")
        };
        return Err(format!("shard{s} {} {are} missing", missing.join(", ")));
    }
    let sweep = first.sweep(first_name)?;
    for (name, j) in parts {
        j.check(name, &sweep)?;
    }
    let mut rows: Vec<SweepRow> = parts
        .iter()
        .flat_map(|(_, j)| j.rows.iter().cloned())
        .collect();
    rows.sort_by_key(|r| r.job);
    let mut header = first.header.clone();
    header.shard = [1, 1];
    Ok((header, rows))
}

/// `sweep.csv`: one row per run in job order, the varied keys first.
pub fn sweep_csv(header: &JournalHeader, rows: &[SweepRow]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut head: Vec<&str> = header.keys.iter().map(String::as_str).collect();
    head.extend([
        "balancer",
        "policy",
        "seed",
        "verdict",
        "recovery",
        "recovery_s",
        "collapsed_s",
        "lost",
        "amplification",
        "peak_amplification",
        "p99_s",
        "offered",
        "attempts",
    ]);
    let _ = w.write_record(&head);
    for r in rows {
        let (state, seconds) = match r.recovery {
            Recovery::NoTrigger => ("no-trigger", String::new()),
            Recovery::BeforeTriggerEnd => ("before-trigger-end", "0".to_owned()),
            Recovery::After { seconds } => ("after", format!("{seconds}")),
            Recovery::Never => ("never", String::new()),
        };
        let mut record: Vec<String> = r.values.clone();
        record.extend([
            r.balancer.clone(),
            r.policy.clone(),
            r.seed.to_string(),
            r.verdict.to_string(),
            state.to_owned(),
            seconds,
            format!("{}", r.collapsed_s),
            format!("{}", r.lost),
            format!("{}", r.amplification),
            format!("{}", r.peak_amplification),
            format!("{}", r.p99_s),
            r.offered.to_string(),
            r.attempts.to_string(),
        ]);
        let _ = w.write_record(&record);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// The table printed at the end of a sweep: per combination, the verdict
/// mix over all its runs and, in words, where every seed was absorbed
/// (for two keys, for each value of the second).
pub fn sweep_table(header: &JournalHeader, rows: &[SweepRow]) -> String {
    let cells = cells(rows);
    let mut combos: Vec<(String, String)> = Vec::new();
    for c in &cells {
        let k = (c.balancer.clone(), c.policy.clone());
        if !combos.contains(&k) {
            combos.push(k);
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<13} {:<16} {:>9} {:>9} {:>10} {:>11}  where every seed was absorbed",
        "balancer", "policy", "absorbed", "degraded", "collapsed", "metastable",
    );
    for (b, p) in &combos {
        let mine: Vec<&Cell> = cells
            .iter()
            .filter(|c| &c.balancer == b && &c.policy == p)
            .collect();
        let runs: u32 = mine.iter().map(|c| c.runs).sum();
        let pct = |v: Verdict| {
            let n: u32 = mine.iter().map(|c| c.verdicts[v as usize]).sum();
            format!("{:.0}%", 100.0 * f64::from(n) / f64::from(runs.max(1)))
        };
        let _ = writeln!(
            out,
            "{b:<13} {p:<16} {:>9} {:>9} {:>10} {:>11}  {}",
            pct(Verdict::Absorbed),
            pct(Verdict::Degraded),
            pct(Verdict::Collapsed),
            pct(Verdict::Metastable),
            super::sweep_words::tipping(header, &mine).replacen("every seed absorbed at ", "", 1),
        );
    }
    out
}
