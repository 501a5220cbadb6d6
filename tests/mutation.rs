//! Mutated bundled profiles: values replaced by extreme or wrong-typed
//! ones, keys deleted, tables duplicated, lines duplicated or dropped,
//! garbage inserted. Whatever comes out, parsing never panics; a profile
//! that validates builds a simulation at its full size (every engine limit
//! is checked by validation), and a short run of it finishes within a
//! bounded number of events with finite numbers in its summary.
//!
//! 10 000 cases in a release build (`cargo test --release --test
//! mutation`, which CI runs), 300 in a debug one; `PROPTEST_CASES`
//! overrides both. The cases are the same on every run (a fixed seed), so
//! CI is repeatable; `PROPTEST_RNG_SEED=N` explores others.

use drainstorm::profile::{BUNDLED, Profile};
use drainstorm::retry::SimDuration;
use drainstorm::sim::{Simulation, Summary, WorkEstimate};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::RngSeed;
use toml::Value;

/// A step into a TOML value.
#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    At(usize),
}

fn paths(v: &Value, here: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    match v {
        Value::Table(t) => {
            for (k, child) in t {
                here.push(Seg::Key(k.clone()));
                out.push(here.clone());
                paths(child, here, out);
                here.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                here.push(Seg::At(i));
                out.push(here.clone());
                paths(child, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

/// The container holding the last step of `path`.
fn parent<'a>(root: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    let mut v = root;
    for seg in &path[..path.len() - 1] {
        v = match (seg, v) {
            (Seg::Key(k), Value::Table(t)) => t.get_mut(k)?,
            (Seg::At(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Values that break assumptions: extremes, wrong types, bad durations.
fn palette(i: usize, old: &Value) -> Value {
    let scaled = |f: f64| match old {
        Value::Integer(n) => Value::Float(*n as f64 * f),
        Value::Float(x) => Value::Float(x * f),
        other => other.clone(),
    };
    match i % 24 {
        0 => Value::Integer(0),
        1 => Value::Integer(-1),
        2 => Value::Integer(i64::MAX),
        3 => Value::Float(f64::NAN),
        4 => Value::Float(f64::INFINITY),
        5 => Value::Float(f64::NEG_INFINITY),
        6 => Value::Float(1e300),
        7 => Value::Float(-0.0),
        8 => Value::Float(0.5),
        9 => Value::String(String::new()),
        10 => Value::String("abc".into()),
        11 => Value::String("1ms".into()),
        12 => Value::String("-5s".into()),
        13 => Value::String("1e400s".into()),
        14 => Value::String("ρ".into()),
        15 => Value::Boolean(true),
        16 => Value::Array(Vec::new()),
        17 => Value::Table(Default::default()),
        18 => Value::String("drain".into()),
        19 => scaled(0.0),
        20 => scaled(-1.0),
        21 => scaled(1e6),
        22 => scaled(1e-6),
        _ => Value::String("100000h".into()),
    }
}

#[derive(Clone, Debug)]
struct Mutation {
    op: u8,
    target: Index,
    choice: usize,
}

fn mutate_tree(root: &mut Value, m: &Mutation) {
    let mut all = Vec::new();
    paths(root, &mut Vec::new(), &mut all);
    if all.is_empty() {
        return;
    }
    let path = all[m.target.index(all.len())].clone();
    let Some(parent) = parent(root, &path) else {
        return;
    };
    let last = path.last().unwrap();
    match (m.op % 3, last, parent) {
        // Replace the value.
        (0, Seg::Key(k), Value::Table(t)) => {
            let old = t[k].clone();
            t.insert(k.clone(), palette(m.choice, &old));
        }
        (0, Seg::At(i), Value::Array(a)) => a[*i] = palette(m.choice, &a[*i].clone()),
        // Delete the key or the element.
        (1, Seg::Key(k), Value::Table(t)) => {
            t.remove(k);
        }
        (1, Seg::At(i), Value::Array(a)) => {
            a.remove(*i);
        }
        // Duplicate an element (a site, a client group, a timeline entry).
        (2, Seg::At(i), Value::Array(a)) => {
            let copy = a[*i].clone();
            a.insert(*i, copy);
        }
        _ => {}
    }
}

fn mutate_text(text: &str, m: &Mutation) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let at = m.target.index(lines.len().max(1));
    match m.op % 3 {
        // Duplicate a line: a duplicate key or table header.
        0 => {
            let mut out = lines.clone();
            if let Some(l) = lines.get(at) {
                out.insert(at, l);
            }
            out.join("\n")
        }
        // Drop a line.
        1 => {
            let mut out = lines.clone();
            if at < out.len() {
                out.remove(at);
            }
            out.join("\n")
        }
        // Insert garbage, non-ASCII included, at a character boundary.
        _ => {
            const GARBAGE: [&str; 6] = ["=", "[[", "\"", "ρ = ", "\u{0}", "]\n[x"];
            let mut cut = m.choice % (text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}{}{}", &text[..cut], GARBAGE[m.choice % 6], &text[cut..])
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    (0u8..6, any::<Index>(), any::<usize>()).prop_map(|(op, target, choice)| Mutation {
        op,
        target,
        choice,
    })
}

fn finite(s: &Summary) -> bool {
    [
        s.seconds,
        s.goodput,
        s.offered_rate,
        s.lost,
        s.amplification,
        s.peak_amplification,
        s.p50,
        s.p99,
        s.p999,
        s.max,
        s.mean_latency,
        s.collapsed_seconds,
    ]
    .iter()
    .all(|x| x.is_finite())
}

/// Requests a short run may send: a few milliseconds of work.
const SHORT_RUN: f64 = 3_000.0;
/// Events a short run may take: far more than its requests can cause.
const MAX_EVENTS: u64 = 5_000_000;

fn cases() -> u32 {
    if let Some(n) = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    if cfg!(debug_assertions) { 300 } else { 10_000 }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(
            std::env::var("PROPTEST_RNG_SEED")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(20_260_122),
        ),
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_mutated_profile_fails_cleanly_or_runs(
        which in 0..BUNDLED.len(),
        tree in prop::collection::vec(mutation(), 0..4),
        text_edits in prop::collection::vec(mutation(), 0..2),
    ) {
        let (_, original) = BUNDLED[which];
        let mut root: Value = toml::from_str(original).unwrap();
        for m in &tree {
            mutate_tree(&mut root, m);
        }
        let mut text = toml::to_string(&root).unwrap_or_default();
        for m in &text_edits {
            text = mutate_text(&text, m);
        }
        let profile = match Profile::from_toml(&text, "mutated.toml") {
            Ok(p) => p,
            Err(e) => {
                // A located error, with a message.
                prop_assert!(!e.message.is_empty());
                prop_assert!(e.position.is_some(), "{e}\n{text}");
                return Ok(());
            }
        };
        let mut config = profile.runs().swap_remove(0).config;
        // Every engine limit is checked by validation: the full-size
        // simulation builds.
        if let Err(e) = Simulation::new(config.clone()) {
            prop_assert!(false, "validated, then refused: {e}\n{text}");
        }
        // A short run: shrink the duration until the work is small.
        let work = WorkEstimate::of(&config).requests;
        if work > SHORT_RUN {
            let ns = (config.duration.0 as f64 * SHORT_RUN / work) as u64;
            config.duration = SimDuration(ns.max(1_000_000));
        }
        config.duration = config.duration.min(SimDuration::from_secs(120));
        let Ok(mut sim) = Simulation::new(config) else {
            return Ok(()); // shortening broke a cross-check; not the profile's fault
        };
        let mut events = 0u64;
        while sim.step().is_some() {
            events += 1;
            prop_assert!(events <= MAX_EVENTS, "more than {MAX_EVENTS} events\n{text}");
        }
        sim.finish();
        let s = sim.summary();
        prop_assert!(finite(&s), "{s:?}\n{text}");
    }
}
