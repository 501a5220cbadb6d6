//! A sweep's journal: JSON lines, one per finished run, so an interrupted
//! sweep keeps what it finished and a sharded one can be merged.
//!
//! A journal's first line is its [`JournalHeader`]: which sweep it belongs
//! to (drainstorm version, the profile itself and its hash, axes, seeds)
//! and which shard. Every later line is a [`SweepRow`] followed by a
//! `sha256` field: the SHA-256 of the sweep's identity (the header with
//! its shard left out) and the row's own bytes. A row that was edited,
//! moved to another sweep, or whose header was rewritten no longer matches
//! its digest; a row that claims a run it is not (another seed, point or
//! balancer than its job number says) is caught against the sweep rebuilt
//! from the header ([`Journal::check`]); and a row forged with its digest
//! recomputed is caught by running it again ([`verify`]): runs are
//! deterministic, so an honest row comes back byte for byte.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::plan::{Axis, Sweep, SweepRow};
use crate::profile::Profile;
use crate::sim::SimError;

/// The journal format's version: 2 added the profile to the header and a
/// digest to every row.
pub const JOURNAL_FORMAT: u32 = 2;

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
    /// SHA-256 of [`profile_toml`](Self::profile_toml).
    pub profile_sha256: String,
    /// The profile every point starts from, as TOML (every `--set` and
    /// `--only` applied, the sweep's seeds in `compare.seeds`): what
    /// [`Journal::sweep`] rebuilds the sweep from.
    pub profile_toml: String,
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
        let profile_toml = sweep.base.to_toml();
        JournalHeader {
            drainstorm_sweep: JOURNAL_FORMAT,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            profile: sweep.base.name.clone(),
            profile_sha256: hex(&Sha256::digest(profile_toml.as_bytes())),
            profile_toml,
            keys: sweep.axes.iter().map(|a| a.key.clone()).collect(),
            vary: sweep.axes.iter().map(|a| a.spec.clone()).collect(),
            seeds: sweep.seeds,
            runs: sweep.runs(),
            shard: [k, n],
        }
    }

    /// The sweep's identity: SHA-256 of the header with its shard set to
    /// `[1, 1]`, the same for every shard of one sweep.
    pub fn identity(&self) -> String {
        let mut whole = self.clone();
        whole.shard = [1, 1];
        let json = serde_json::to_string(&whole).expect("a header serialises");
        hex(&Sha256::digest(json.as_bytes()))
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
            let short = |h: &str| h.chars().take(12).collect::<String>();
            return differs(
                "profiles",
                &(&self.profile, short(&self.profile_sha256)),
                &(&other.profile, short(&other.profile_sha256)),
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
        if self.identity() != other.identity() {
            return Err("their headers differ".into());
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
    /// Each row's line number in the file (1-based), for errors.
    pub lines: Vec<usize>,
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

    /// A row's line, with its digest under the sweep's `identity`
    /// ([`JournalHeader::identity`]).
    pub fn row_line(identity: &str, row: &SweepRow) -> String {
        let json = serde_json::to_string(row).expect("a row serialises");
        let digest = row_digest(identity, &json);
        format!("{},\"sha256\":\"{digest}\"}}\n", &json[..json.len() - 1])
    }

    /// Reads a journal; errors name the file and line.
    pub fn read(path: &Path) -> Result<Journal, String> {
        let name = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
        if !meta.is_file() {
            return Err(format!(
                "{name}: not a regular file: a journal is a file a sweep wrote"
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
        Journal::parse(&bytes, &name)
    }

    /// Reads a journal from its bytes; `name` names it in errors. Each
    /// row's digest is checked here.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Journal, String> {
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let text = std::str::from_utf8(&bytes[..complete])
            .map_err(|e| format!("{name}: not UTF-8 text ({e}): not a drainstorm sweep journal"))?;
        let mut lines = text.lines().enumerate();
        let Some((_, first)) = lines.next() else {
            return Err(format!("{name}: empty: not a drainstorm sweep journal"));
        };
        #[derive(Deserialize)]
        struct Format {
            drainstorm_sweep: u32,
        }
        match serde_json::from_str::<Format>(first) {
            Ok(f) if f.drainstorm_sweep != JOURNAL_FORMAT => {
                return Err(format!(
                    "{name}:1: journal format {} (this drainstorm reads format {JOURNAL_FORMAT}): run the sweep again with this version",
                    f.drainstorm_sweep
                ));
            }
            _ => {}
        }
        let header: JournalHeader = serde_json::from_str(first)
            .map_err(|e| format!("{name}:1: not a drainstorm sweep journal's header ({e})"))?;
        let [k, n] = header.shard;
        if n == 0 || k == 0 || k > n {
            return Err(format!("{name}:1: shard {k}/{n}: allowed K in 1 to N"));
        }
        let version = env!("CARGO_PKG_VERSION");
        if header.version != version {
            return Err(format!(
                "{name}:1: written by drainstorm {}, this is {version}: drainstorm versions differ (a journal is merged or resumed by the version that wrote it)",
                header.version
            ));
        }
        if hex(&Sha256::digest(header.profile_toml.as_bytes())) != header.profile_sha256 {
            return Err(format!(
                "{name}:1: the header's profile does not match its profile_sha256: the header was changed after it was written"
            ));
        }
        let identity = header.identity();
        let mut rows = Vec::new();
        let mut numbers = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, line) in lines {
            let at = i + 1;
            let json = signed_row(&identity, line).map_err(|why| format!("{name}:{at}: {why}"))?;
            let row: SweepRow = serde_json::from_str(&json)
                .map_err(|e| format!("{name}:{at}: not a sweep row ({e})"))?;
            if row.job >= header.runs || row.job % n != k - 1 {
                return Err(format!(
                    "{name}:{at}: run {} does not belong to shard {k}/{n} of {} runs",
                    row.job, header.runs
                ));
            }
            if !seen.insert(row.job) {
                return Err(format!("{name}:{at}: run {} appears twice", row.job));
            }
            rows.push(row);
            numbers.push(at);
        }
        Ok(Journal {
            header,
            rows,
            lines: numbers,
            complete_len: complete as u64,
        })
    }

    /// Whether every run of its shard is in.
    pub fn is_complete(&self) -> bool {
        self.rows.len() == self.header.jobs().count()
    }

    /// The sweep the header describes, rebuilt from its profile and axes.
    pub fn sweep(&self, name: &str) -> Result<Sweep, String> {
        let h = &self.header;
        let profile =
            Profile::from_toml(&h.profile_toml, &format!("{name}:1: the header's profile"))
                .map_err(|e| e.to_string())?;
        let axes = h
            .vary
            .iter()
            .map(|v| v.parse::<Axis>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{name}:1: the header's --vary: {e}"))?;
        let sweep = Sweep::new(&profile, axes, h.seeds)
            .map_err(|e| format!("{name}:1: the header's sweep: {e}"))?;
        if sweep.runs() != h.runs || JournalHeader::of(&sweep, 1, 1).identity() != h.identity() {
            return Err(format!(
                "{name}:1: the header does not describe the sweep its profile and --vary make"
            ));
        }
        Ok(sweep)
    }

    /// Checks that every row is the run its job number names in `sweep`:
    /// its point, the axes' values, balancer, policy and seed.
    pub fn check(&self, name: &str, sweep: &Sweep) -> Result<(), String> {
        let mut cached: Option<(usize, Vec<crate::profile::Run>)> = None;
        for (row, at) in self.rows.iter().zip(&self.lines) {
            let point = row.job / sweep.runs_per_point();
            if cached.as_ref().is_none_or(|(p, _)| *p != point) {
                cached = Some((point, sweep.points()[point].profile.runs()));
            }
            let runs = &cached.as_ref().expect("just set").1;
            let run = &runs[row.job % sweep.runs_per_point()];
            let values = &sweep.points()[point].values;
            let claim = (&row.values, &row.balancer, &row.policy, row.seed, row.point);
            let truth = (values, &run.balancer, &run.policy, run.seed, point);
            if claim != truth {
                return Err(format!(
                    "{name}:{at}: run {} is {} + {} seed {} at {} in this sweep, but the row says {} + {} seed {} at {}",
                    row.job,
                    run.balancer,
                    run.policy,
                    run.seed,
                    values.join("/"),
                    row.balancer,
                    row.policy,
                    row.seed,
                    row.values.join("/"),
                ));
            }
        }
        Ok(())
    }
}

/// Runs `rows` again in `sweep` (in parallel) and compares each with its
/// run's result byte for byte; the error names the first that differs
/// (its index in `rows`) and what it says against what the run gives.
pub fn verify(sweep: &Sweep, rows: &[&SweepRow]) -> Result<Result<(), (usize, String)>, SimError> {
    use rayon::prelude::*;
    let again = rows
        .par_iter()
        .with_max_len(1)
        .map(|r| sweep.run_job(r.job))
        .collect::<Result<Vec<_>, _>>()?;
    let json = |r: &SweepRow| serde_json::to_string(r).expect("a row serialises");
    for (i, (row, fresh)) in rows.iter().zip(&again).enumerate() {
        if json(row) != json(fresh) {
            let (a, b) = (
                serde_json::to_value(row).expect("a row serialises"),
                serde_json::to_value(fresh).expect("a row serialises"),
            );
            let (a, b) = (a.as_object().cloned(), b.as_object().cloned());
            let differs: Vec<String> = a
                .iter()
                .flatten()
                .filter_map(|(k, v)| {
                    let w = b.as_ref()?.get(k)?;
                    (v != w).then(|| format!("{k} {v} where the run gives {w}"))
                })
                .collect();
            return Ok(Err((i, differs.join(", "))));
        }
    }
    Ok(Ok(()))
}

/// The row JSON of a signed journal line, if its digest holds.
fn signed_row(identity: &str, line: &str) -> Result<String, String> {
    const FIELD: &str = ",\"sha256\":\"";
    let tail = FIELD.len() + 64 + 2;
    let cut = line
        .len()
        .checked_sub(tail)
        .filter(|&c| line.is_char_boundary(c));
    let Some(cut) = cut.filter(|&c| line[c..].starts_with(FIELD) && line.ends_with("\"}")) else {
        return Err("a row without its sha256 digest: not written by this drainstorm".into());
    };
    let json = format!("{}}}", &line[..cut]);
    let claimed = &line[cut + FIELD.len()..line.len() - 2];
    if row_digest(identity, &json) != claimed {
        return Err(
            "the row does not match its sha256 digest: it was changed after it was written, or belongs to another sweep"
                .into(),
        );
    }
    Ok(json)
}

fn row_digest(identity: &str, json: &str) -> String {
    let mut h = Sha256::new();
    h.update(identity.as_bytes());
    h.update(b"\n");
    h.update(json.as_bytes());
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
