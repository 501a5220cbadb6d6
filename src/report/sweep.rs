//! A sweep's files: the journal (JSON lines, one per finished run, so an
//! interrupted sweep keeps what it finished), `sweep.csv` and the table.
//!
//! A journal's first line is its [`JournalHeader`]: which sweep it belongs
//! to (drainstorm version, profile hash, axes, seeds) and which shard. The
//! results — `sweep.csv`, `map.html`, the table — are functions of the
//! header and the rows sorted by job alone, so a sweep run whole and one
//! run in shards and merged write the same bytes.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::plan::{Cell, Sweep, SweepRow, cells};
use crate::sim::{Recovery, Verdict};

/// The journal format's version.
pub const JOURNAL_FORMAT: u32 = 1;

/// What a journal belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalHeader {
    /// The journal format ([`JOURNAL_FORMAT`]).
    pub drainstorm_sweep: u32,
    /// The drainstorm version that ran it.
    pub version: String,
    /// The profile's name.
    pub profile: String,
    /// SHA-256 of the profile (with every `--set` applied) as TOML.
    pub profile_sha256: String,
    /// The varied keys' names.
    pub keys: Vec<String>,
    /// Each `--vary` as written.
    pub vary: Vec<String>,
    /// Seeds per combination and point.
    pub seeds: u32,
    /// Runs in the whole sweep.
    pub runs: usize,
    /// This journal's shard, `[K, N]` (`[1, 1]`: the whole sweep).
    pub shard: [usize; 2],
}

impl JournalHeader {
    /// The header of shard `k` of `n` of `sweep`.
    pub fn of(sweep: &Sweep, k: usize, n: usize) -> JournalHeader {
        JournalHeader {
            drainstorm_sweep: JOURNAL_FORMAT,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            profile: sweep.base.name.clone(),
            profile_sha256: format!("{:x}", Sha256::digest(sweep.base.to_toml().as_bytes())),
            keys: sweep.axes.iter().map(|a| a.key.clone()).collect(),
            vary: sweep.axes.iter().map(|a| a.spec.clone()).collect(),
            seeds: sweep.seeds,
            runs: sweep.runs(),
            shard: [k, n],
        }
    }

    /// Whether `other` is a journal of the same sweep (any shard); the
    /// error says what differs.
    pub fn same_sweep(&self, other: &JournalHeader) -> Result<(), String> {
        let differs = |what: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
            Err(format!("{what} differ: {a:?} against {b:?}"))
        };
        if self.version != other.version {
            return differs("drainstorm versions", &self.version, &other.version);
        }
        if self.profile != other.profile || self.profile_sha256 != other.profile_sha256 {
            return differs(
                "profiles",
                &(&self.profile, &self.profile_sha256[..12]),
                &(&other.profile, &other.profile_sha256[..12]),
            );
        }
        if self.vary != other.vary {
            return differs("--vary", &self.vary, &other.vary);
        }
        if self.seeds != other.seeds {
            return differs("--seeds", &self.seeds, &other.seeds);
        }
        if self.runs != other.runs {
            return differs("run counts", &self.runs, &other.runs);
        }
        Ok(())
    }

    /// The jobs of this header's shard, in order.
    pub fn jobs(&self) -> impl Iterator<Item = usize> + '_ {
        (self.shard[0].saturating_sub(1)..self.runs).step_by(self.shard[1].max(1))
    }
}

/// A journal read back: its header, its rows, and the length of its
/// complete lines (an interrupted write may leave a partial last line,
/// which is not a row).
#[derive(Debug)]
pub struct Journal {
    /// The header.
    pub header: JournalHeader,
    /// The rows, in the order they were written.
    pub rows: Vec<SweepRow>,
    /// Bytes of complete lines.
    pub complete_len: u64,
}

impl Journal {
    /// The first line of a new journal.
    pub fn header_line(header: &JournalHeader) -> String {
        format!(
            "{}\n",
            serde_json::to_string(header).expect("a header serialises")
        )
    }

    /// A row's line.
    pub fn row_line(row: &SweepRow) -> String {
        format!(
            "{}\n",
            serde_json::to_string(row).expect("a row serialises")
        )
    }

    /// Reads a journal; errors name the file and line.
    pub fn read(path: &Path) -> Result<Journal, String> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
        Journal::parse(&bytes, &name)
    }

    /// Reads a journal from its bytes; `name` names it in errors.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Journal, String> {
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let text = std::str::from_utf8(&bytes[..complete])
            .map_err(|e| format!("{name}: not UTF-8 text ({e}): not a drainstorm sweep journal"))?;
        let mut lines = text.lines().enumerate();
        let Some((_, first)) = lines.next() else {
            return Err(format!("{name}: empty: not a drainstorm sweep journal"));
        };
        let header: JournalHeader = serde_json::from_str(first)
            .map_err(|e| format!("{name}:1: not a drainstorm sweep journal's header ({e})"))?;
        if header.drainstorm_sweep != JOURNAL_FORMAT {
            return Err(format!(
                "{name}:1: journal format {} (this drainstorm reads format {JOURNAL_FORMAT})",
                header.drainstorm_sweep
            ));
        }
        let [k, n] = header.shard;
        if n == 0 || k == 0 || k > n {
            return Err(format!("{name}:1: shard {k}/{n}: allowed K in 1 to N"));
        }
        let mut rows = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, line) in lines {
            let row: SweepRow = serde_json::from_str(line)
                .map_err(|e| format!("{name}:{}: not a sweep row ({e})", i + 1))?;
            if row.job >= header.runs || row.job % n != k - 1 {
                return Err(format!(
                    "{name}:{}: run {} does not belong to shard {k}/{n} of {} runs",
                    i + 1,
                    row.job,
                    header.runs
                ));
            }
            if !seen.insert(row.job) {
                return Err(format!("{name}:{}: run {} appears twice", i + 1, row.job));
            }
            rows.push(row);
        }
        Ok(Journal {
            header,
            rows,
            complete_len: complete as u64,
        })
    }

    /// Whether every run of its shard is in.
    pub fn is_complete(&self) -> bool {
        self.rows.len() == self.header.jobs().count()
    }
}

/// Merges the journals of every shard of one sweep into its rows, sorted
/// by job. Refused: journals of different sweeps or versions, a shard
/// given twice, a shard missing, an unfinished shard.
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
/// mix over all its runs and where every seed was absorbed.
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
        "{:<13} {:<16} {:>9} {:>9} {:>10} {:>11}  every seed absorbed at ({})",
        "balancer",
        "policy",
        "absorbed",
        "degraded",
        "collapsed",
        "metastable",
        header.keys.join(", ")
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
        let safe: Vec<String> = mine
            .iter()
            .filter(|c| c.share(Verdict::Absorbed) == 1.0)
            .map(|c| c.values.join("/"))
            .collect();
        let safe = match safe.len() {
            0 => "nowhere".to_owned(),
            n if n == mine.len() => "every point".to_owned(),
            n if n <= 8 => safe.join(", "),
            n => format!("{n} of {} points: {}, …", mine.len(), safe[..6].join(", ")),
        };
        let _ = writeln!(
            out,
            "{b:<13} {p:<16} {:>9} {:>9} {:>10} {:>11}  {safe}",
            pct(Verdict::Absorbed),
            pct(Verdict::Degraded),
            pct(Verdict::Collapsed),
            pct(Verdict::Metastable),
        );
    }
    out
}
