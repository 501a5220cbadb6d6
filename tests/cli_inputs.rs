//! Property tests over what a user types and what a batch scheduler hands
//! back: `--set` overrides, `--vary` axes, `--shard` splits and journals
//! mutated every way a disk, a copy or a person can change them.
//!
//! - `--set`: any key path (real, misspelt, out of range) with any value
//!   (extremes, wrong types, line breaks): never a panic; an accepted
//!   override gives a profile that passes the file's own check and writes
//!   back as itself.
//! - `--vary`: any spec: never a panic; an accepted sweep has the runs it
//!   announced, and each point is the profile with that point's values.
//! - `--shard K/N`: the shards of a sweep are disjoint and cover it.
//! - merge: parts with bytes flipped, lines dropped, doubled, swapped or
//!   moved, fields edited (with their digests recomputed, as a forger
//!   would), headers rewritten, another sweep's rows: a merge either
//!   refuses them or gives the honest sweep's `sweep.csv` byte for byte —
//!   and where it does not, re-running every row (`merge --verify` with
//!   every row) refuses it.
//!
//! 256 cases per property in a debug build; CI runs 2 000 in release
//! (`cargo test --release --test cli_inputs`). Fixed seed, as the profile
//! mutation test; `PROPTEST_CASES` overrides the count.

mod common;

use std::sync::OnceLock;

use drainstorm::plan::{Axis, Sweep, SweepRow};
use drainstorm::profile::{Override, Profile};
use drainstorm::report::sweep::{Journal, JournalHeader, merge, sweep_csv, verify};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 256 } else { 2000 });
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(0x5e7_c11),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The command-line tests' small profile, cut to 10 s.
fn tiny() -> &'static Profile {
    static P: OnceLock<Profile> = OnceLock::new();
    P.get_or_init(|| {
        let p = Profile::from_toml(common::TINY, "tiny.toml").unwrap();
        p.with_overrides(&["duration=10s".parse().unwrap()])
            .unwrap()
    })
}

/// Key paths: the profile's own, misspelt and out-of-range ones.
const KEYS: &[&str] = &[
    "seed",
    "duration",
    "scale",
    "description",
    "compare.seeds",
    "compare.balancers",
    "compare.policies[0]",
    "policies.hasty.max_attempts",
    "policies.hasty.attempt_timeout",
    "policies.patient.backoff.base",
    "policies.patient.backoff.jitter",
    "router.dns_ttl",
    "router.health_check.fall",
    "recorder.warm_up",
    "recorder.interval",
    "sites[0].name",
    "sites[1].backends[0].count",
    "sites[1].backends[0].service",
    "sites[1].backends[0].service.mean",
    "sites[7].weight",
    "sites[0].cuont",
    "clients[0].workload.rate",
    "clients[0].workload",
    "clients[0].instances",
    "clients[0].retry",
    "timeline[0]",
    "timeline[0].at",
    "timeline[1].ramp",
    "timeline[5].at",
    "nope.deeper[3]",
    "sites.x",
    "a..b",
    "",
];

/// Values: extremes, wrong types, durations, tables, line breaks.
const VALUES: &[&str] = &[
    "0",
    "-1",
    "1",
    "3",
    "1e300",
    "nan",
    "inf",
    "9223372036854775807",
    "0.5",
    "\"\"",
    "30s",
    "0s",
    "-5s",
    "1ns",
    "5q",
    "maglev",
    "least-conn",
    "[]",
    "[1, 2]",
    "{ count = 3 }",
    "{ at = \"5s\", action = \"drain\", site = \"east\" }",
    "{ at = \"5s\", action = \"drain\", site = \"nowhere\" }",
    "{ dist = \"exponential\", mean = \"5q\" }",
    "{ kind = \"open\", rate = \"x\" }",
    "true",
    "hasty",
    "300\nseed = 9",
    "one\ntwo",
    "\u{0}",
    "🙂",
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_set_is_refused_or_gives_a_checked_profile(
        sets in proptest::collection::vec((0..KEYS.len(), 0..VALUES.len()), 1..4)
    ) {
        let mut overrides = Vec::new();
        for (k, v) in sets {
            match format!("{}={}", KEYS[k], VALUES[v]).parse::<Override>() {
                Ok(o) => overrides.push(o),
                Err(e) => {
                    prop_assert!(e.to_string().starts_with("--set "), "{e}");
                    return Ok(());
                }
            }
        }
        match tiny().with_overrides(&overrides) {
            Err(e) => {
                // The error names an override, on one line.
                let text = e.to_string();
                prop_assert!(text.starts_with("--set "), "{text}");
                prop_assert!(!text.contains('\n'), "{text}");
            }
            Ok(p) => {
                // What was accepted is a profile a file could hold.
                let again = p.checked();
                prop_assert!(again.is_ok(), "{:?}", again.err());
                prop_assert_eq!(again.unwrap(), p.clone());
                let estimate = p.estimate();
                prop_assert!(estimate.to_string().len() > 10);
            }
        }
    }

    #[test]
    fn any_vary_is_refused_or_gives_the_sweep_it_announces(
        key in 0..KEYS.len(),
        shape in 0..4usize,
        a in 0..VALUES.len(),
        b in 0..VALUES.len(),
        steps in 0..6u32,
    ) {
        let (va, vb) = (VALUES[a].replace('\n', " "), VALUES[b].replace('\n', " "));
        let spec = match shape {
            0 => format!("{}={va},{vb}", KEYS[key]),
            1 => format!("{}={va}..{vb}:{steps}", KEYS[key]),
            2 => format!("{}=1..{}:{steps}", KEYS[key], steps * 3),
            _ => format!("{}={va}", KEYS[key]),
        };
        let Ok(axis) = spec.parse::<Axis>() else {
            return Ok(());
        };
        let seeds = 1 + steps % 2;
        let planned = Sweep::planned_runs(tiny(), std::slice::from_ref(&axis), seeds);
        let Ok(sweep) = Sweep::new(tiny(), vec![axis.clone()], seeds) else {
            return Ok(());
        };
        prop_assert_eq!(sweep.runs() as u64, planned);
        prop_assert_eq!(sweep.runs(), sweep.points().len() * sweep.runs_per_point());
        let seeded = tiny()
            .with_overrides(&[format!("compare.seeds={seeds}").parse().unwrap()])
            .unwrap();
        for (i, point) in sweep.points().iter().enumerate() {
            let alone = seeded.with_overrides(&[axis.at(i)]);
            prop_assert!(alone.is_ok(), "{spec} at {i}");
            prop_assert_eq!(&point.profile, &alone.unwrap());
            prop_assert_eq!(point.profile.runs().len(), sweep.runs_per_point());
        }
    }

    #[test]
    fn the_shards_of_a_sweep_are_disjoint_and_cover_it(runs_per in 1..7usize, n in 1..40usize) {
        let spec = format!("clients[0].workload.rate=100..{}:{runs_per}", 100 * runs_per);
        let sweep = Sweep::new(tiny(), vec![spec.parse().unwrap()], 1).unwrap();
        let n = n.min(sweep.runs());
        let mut seen = vec![0u32; sweep.runs()];
        for k in 1..=n {
            let header = JournalHeader::of(&sweep, k, n);
            let jobs: Vec<usize> = header.jobs().collect();
            prop_assert_eq!(&jobs, &sweep.shard(k, n));
            for j in jobs {
                seen[j] += 1;
            }
        }
        prop_assert!(seen.iter().all(|&c| c == 1), "{seen:?}");
    }
}

/// An honest sweep in two shards: each part's lines, its rows, and the
/// `sweep.csv` of the whole.
struct Honest {
    sweep: Sweep,
    parts: [Vec<String>; 2],
    rows: Vec<SweepRow>,
    csv: String,
    /// Another sweep's lines (other rates), for foreign rows.
    foreign: Vec<String>,
}

fn journal_lines(sweep: &Sweep, rows: &[SweepRow], k: usize, n: usize) -> Vec<String> {
    let header = JournalHeader::of(sweep, k, n);
    let identity = header.identity();
    let mut lines = vec![Journal::header_line(&header)];
    let jobs = sweep.shard(k, n);
    lines.extend(
        rows.iter()
            .filter(|r| jobs.contains(&r.job))
            .map(|r| Journal::row_line(&identity, r)),
    );
    lines
}

fn honest() -> &'static Honest {
    static H: OnceLock<Honest> = OnceLock::new();
    H.get_or_init(|| {
        let make = |spec: &str| {
            let sweep = Sweep::new(tiny(), vec![spec.parse().unwrap()], 1).unwrap();
            let jobs: Vec<usize> = (0..sweep.runs()).collect();
            let mut rows = sweep.run_jobs(&jobs, &|_| {}).unwrap();
            rows.sort_by_key(|r| r.job);
            (sweep, rows)
        };
        let (sweep, rows) = make("clients[0].workload.rate=200,400");
        let parts = [
            journal_lines(&sweep, &rows, 1, 2),
            journal_lines(&sweep, &rows, 2, 2),
        ];
        let (other, other_rows) = make("clients[0].workload.rate=250,450");
        let foreign = journal_lines(&other, &other_rows, 1, 2);
        let mut header = JournalHeader::of(&sweep, 1, 1);
        header.shard = [1, 1];
        let csv = sweep_csv(&header, &rows);
        Honest {
            sweep,
            parts,
            rows,
            csv,
            foreign,
        }
    })
}

/// One way to change the parts.
#[derive(Clone, Debug)]
enum Change {
    /// Flip bits of one byte of a line.
    Flip {
        part: usize,
        line: usize,
        at: usize,
        bits: u8,
    },
    /// Drop a line.
    Drop { part: usize, line: usize },
    /// Write a line twice.
    Double { part: usize, line: usize },
    /// Swap two lines of a part.
    Swap { part: usize, a: usize, b: usize },
    /// Move a line to the other part.
    Move { part: usize, line: usize },
    /// Edit one field of a row and sign it again, as a forger would.
    Forge {
        part: usize,
        line: usize,
        field: usize,
        pick: usize,
    },
    /// Put another sweep's row into a part.
    Foreign { part: usize, line: usize },
    /// Rewrite both headers alike: another seed count or axis.
    Header { field: usize },
    /// Cut a part at a byte.
    Truncate { part: usize, at: usize },
}

fn change() -> impl Strategy<Value = Change> {
    let p = 0..2usize;
    let l = 0..8usize;
    prop_oneof![
        (p.clone(), l.clone(), 0..4096usize, 1..=255u8).prop_map(|(part, line, at, bits)| {
            Change::Flip {
                part,
                line,
                at,
                bits,
            }
        }),
        (p.clone(), l.clone()).prop_map(|(part, line)| Change::Drop { part, line }),
        (p.clone(), l.clone()).prop_map(|(part, line)| Change::Double { part, line }),
        (p.clone(), l.clone(), l.clone()).prop_map(|(part, a, b)| Change::Swap { part, a, b }),
        (p.clone(), l.clone()).prop_map(|(part, line)| Change::Move { part, line }),
        (p.clone(), l.clone(), 0..12usize, 0..64usize).prop_map(|(part, line, field, pick)| {
            Change::Forge {
                part,
                line,
                field,
                pick,
            }
        }),
        (p.clone(), l.clone()).prop_map(|(part, line)| Change::Foreign { part, line }),
        (0..3usize).prop_map(|field| Change::Header { field }),
        (p, 0..100_000usize).prop_map(|(part, at)| Change::Truncate { part, at }),
    ]
}

/// A row of `line` with one field changed, signed again under the part's
/// header.
fn forge(header: &str, line: &str, field: usize, pick: usize) -> Option<String> {
    let header: JournalHeader = serde_json::from_str(header.trim_end()).ok()?;
    let cut = line.rfind(",\"sha256\":\"")?;
    let mut row: SweepRow = serde_json::from_str(&format!("{}}}", &line[..cut])).ok()?;
    let verdicts = [
        "absorbed",
        "degraded",
        "collapsed",
        "metastable",
        "inconclusive",
    ];
    let small = (pick % 7) as f64 / 7.0;
    match field {
        0 => row.job = pick % 10,
        1 => row.point = pick % 3,
        2 => row.values = vec![["200", "400", "300"][pick % 3].to_owned()],
        3 => row.balancer = ["least-conn", "maglev", "ring"][pick % 3].to_owned(),
        4 => row.policy = ["hasty", "patient", "configured"][pick % 3].to_owned(),
        5 => row.seed = pick as u64,
        6 => {
            row.verdict = serde_json::from_value(serde_json::json!(verdicts[pick % 5])).ok()?;
        }
        7 => row.lost = small,
        8 => row.amplification = 1.0 + small,
        9 => row.p99_s = small,
        10 => row.offered = pick as u64,
        _ => row.attempts += pick as u64,
    }
    Some(Journal::row_line(&header.identity(), &row))
}

fn apply(parts: &mut [Vec<String>; 2], change: &Change, foreign: &[String]) {
    let at = |v: &Vec<String>, i: usize| i % v.len().max(1);
    // A part emptied by an earlier change has no line to change.
    let part = match *change {
        Change::Flip { part, .. }
        | Change::Drop { part, .. }
        | Change::Double { part, .. }
        | Change::Swap { part, .. }
        | Change::Move { part, .. }
        | Change::Forge { part, .. } => Some(part),
        _ => None,
    };
    if part.is_some_and(|p| parts[p].is_empty()) || parts.iter().any(|p| p.is_empty()) {
        return;
    }
    match *change {
        Change::Flip {
            part,
            line,
            at: byte,
            bits,
        } => {
            let l = at(&parts[part], line);
            let mut bytes = parts[part][l].clone().into_bytes();
            if bytes.is_empty() {
                return;
            }
            let b = byte % bytes.len();
            bytes[b] ^= bits;
            parts[part][l] = String::from_utf8_lossy(&bytes).into_owned();
        }
        Change::Drop { part, line } => {
            let l = at(&parts[part], line);
            parts[part].remove(l);
        }
        Change::Double { part, line } => {
            let l = at(&parts[part], line);
            let copy = parts[part][l].clone();
            parts[part].insert(l, copy);
        }
        Change::Swap { part, a, b } => {
            let (a, b) = (at(&parts[part], a), at(&parts[part], b));
            parts[part].swap(a, b);
        }
        Change::Move { part, line } => {
            let l = at(&parts[part], line);
            let moved = parts[part].remove(l);
            parts[1 - part].push(moved);
        }
        Change::Forge {
            part,
            line,
            field,
            pick,
        } => {
            let l = 1 + line % (parts[part].len() - 1).max(1);
            if let Some(row) = parts[part].get(l).cloned()
                && let Some(forged) = forge(&parts[part][0], &row, field, pick)
            {
                parts[part][l] = forged;
            }
        }
        Change::Foreign { part, line } => {
            let row = foreign[1 + line % (foreign.len() - 1)].clone();
            parts[part].push(row);
        }
        Change::Header { field } => {
            for p in parts.iter_mut() {
                p[0] = match field {
                    0 => p[0].replace("\"seeds\":1", "\"seeds\":2"),
                    1 => p[0].replace("rate=200,400", "rate=200,500"),
                    _ => p[0].replace("\"runs\":8", "\"runs\":9"),
                };
            }
        }
        Change::Truncate { part, at: byte } => {
            let text: String = parts[part].concat();
            let cut = byte % (text.len() + 1);
            let kept = String::from_utf8_lossy(&text.as_bytes()[..cut]).into_owned();
            parts[part] = kept.split_inclusive('\n').map(str::to_owned).collect();
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_changed_part_is_refused_or_merges_to_the_honest_sweep(
        changes in proptest::collection::vec(change(), 1..4)
    ) {
        let h = honest();
        let mut parts = h.parts.clone();
        for c in &changes {
            apply(&mut parts, c, &h.foreign);
        }
        let journals: Result<Vec<(String, Journal)>, String> = parts
            .iter()
            .enumerate()
            .map(|(i, lines)| {
                let name = format!("part-{}-of-2.jsonl", i + 1);
                Journal::parse(lines.concat().as_bytes(), &name).map(|j| (name, j))
            })
            .collect();
        let Ok(journals) = journals else {
            return Ok(());
        };
        let Ok((header, rows)) = merge(&journals) else {
            return Ok(());
        };
        if sweep_csv(&header, &rows) == h.csv {
            return Ok(());
        }
        // Accepted by the checks that read the parts: a forged row with a
        // digest recomputed. Running every row again must refuse it.
        let all: Vec<&SweepRow> = rows.iter().collect();
        let checked = verify(&h.sweep, &all).unwrap();
        prop_assert!(
            checked.is_err(),
            "{changes:?}: merged to other results and every row ran again to the same ({} rows, honest {})",
            rows.len(),
            h.rows.len()
        );
    }
}
