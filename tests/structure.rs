//! The simulator's structure, checked on its source: the engine's parts
//! call only downwards (clients → routing → site → backends), each part
//! keeps its state in a struct of its own, and no two modules of `sim/`
//! import each other in a circle.
//!
//! Both checks read the source text: a call is `self.name(`, an import is
//! a path through `crate::sim::` or `super::`. Comments and test modules
//! are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The engine's parts, from the top of an attempt's path to its bottom.
const LAYERS: [&str; 4] = ["clients", "routing", "site", "backends"];

/// Files that extend a part with a concept of their own: (file, part).
const EXTENSIONS: [(&str, &str); 10] = [
    // A client group: its policy, limits, arrivals and lanes.
    ("group", "clients"),
    ("hedging", "clients"),
    ("codel", "backends"),
    // A site's adaptive concurrency filter sits where the site hands an
    // attempt to a backend, and hears how each job it let on ends.
    ("concurrency", "backends"),
    // Where the sites hold each attempt over a network: kept where an
    // attempt's job ends, at the bottom of its path.
    ("held", "backends"),
    ("outlier", "site"),
    ("autoscale", "site"),
    ("orca", "site"),
    ("zones", "routing"),
    // The network carries an attempt from its routing to its site, and
    // the site's answer back for the event loop to deliver.
    ("network", "routing"),
];

/// The engine's other files: the event loop and the order of its events,
/// what steers the parts, and the types every part uses (identities,
/// stores of reused places).
const OTHERS: [&str; 11] = [
    "mod",
    "parts",
    "event_loop",
    "accepts",
    "order",
    "windows",
    "build",
    "ids",
    "slots",
    "timeline",
    "paced",
];

/// A file's code: comment lines dropped, and everything from its trailing
/// `#[cfg(test)]` module on.
fn code(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every identifier that follows `prefix` in `text`.
fn after<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.match_indices(prefix)
        .filter(|(at, _)| {
            // A whole path segment: not the tail of a longer identifier.
            !text[..*at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
        .map(|(at, _)| {
            let rest = &text[at + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|name| !name.is_empty())
        .collect()
}

fn engine_file(part: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("src/sim/engine/{part}.rs"))
}

/// The code of a part: its own file and the files that extend it.
fn part_code(part: &str) -> String {
    let mut text = code(&engine_file(part));
    for (file, _) in EXTENSIONS.iter().filter(|(_, p)| *p == part) {
        text.push('\n');
        text.push_str(&code(&engine_file(file)));
    }
    text
}

#[test]
fn every_engine_file_has_a_place() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sim/engine");
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(
            LAYERS.contains(&name.as_str())
                || OTHERS.contains(&name.as_str())
                || EXTENSIONS.iter().any(|(f, _)| *f == name),
            "{}: a part (LAYERS), an extension of one (EXTENSIONS) or the loop's (OTHERS)?",
            path.display()
        );
    }
}

/// Most lines an engine file may have: one concept a reader can hold.
const MAX_LINES: usize = 600;

#[test]
fn every_engine_file_is_of_a_size_a_reader_can_hold() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sim/engine");
    let mut long = Vec::new();
    // The engine's files, and those of its folders (a part's tests).
    let mut paths: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    while let Some(path) = paths.pop() {
        if path.is_dir() {
            paths.extend(fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let lines = fs::read_to_string(&path).unwrap().lines().count();
        if lines > MAX_LINES {
            long.push(format!("{}: {lines} lines", path.display()));
        }
    }
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines (split a concept into a file of its own):\n{}",
        long.join("\n")
    );
}

/// Where each function of the layered parts is defined.
fn definitions() -> BTreeMap<String, BTreeSet<&'static str>> {
    let mut defined: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for part in LAYERS {
        for name in after(&part_code(part), "fn ") {
            defined.entry(name.to_owned()).or_default().insert(part);
        }
    }
    defined
}

/// The calls from `caller` into another layered part: (callee's part, name).
fn calls_out(
    caller: &str,
    defined: &BTreeMap<String, BTreeSet<&'static str>>,
) -> Vec<(&'static str, String)> {
    let text = part_code(caller);
    let mut out = Vec::new();
    for name in after(&text, "self.") {
        if !text.contains(&format!("self.{name}(")) {
            continue; // a field
        }
        let Some(parts) = defined.get(name) else {
            continue;
        };
        if parts.contains(caller) {
            continue;
        }
        for part in parts {
            out.push((*part, name.to_owned()));
        }
    }
    out
}

#[test]
fn the_engine_calls_only_down_an_attempts_path() {
    let defined = definitions();
    let rank = |part: &str| LAYERS.iter().position(|p| *p == part).unwrap();
    let mut up = Vec::new();
    for caller in LAYERS {
        for (callee, name) in calls_out(caller, &defined) {
            if rank(callee) < rank(caller) {
                up.push(format!("{caller}.rs calls {callee}.rs's `{name}`"));
            }
        }
    }
    assert!(
        up.is_empty(),
        "calls back up an attempt's path (return a value for the event loop to deliver instead):\n{}",
        up.join("\n")
    );
    // Nor do they call the actions that steer them.
    for steering in ["timeline", "paced"] {
        let steering_code = code(&engine_file(steering));
        let names = after(&steering_code, "fn ");
        for caller in LAYERS {
            let text = part_code(caller);
            for name in &names {
                assert!(
                    defined.contains_key(*name) || !text.contains(&format!("self.{name}(")),
                    "{caller}.rs calls {steering}.rs's `{name}`"
                );
            }
        }
    }
}

#[test]
fn the_check_sees_a_call_back_up() {
    // The check itself, on a made-up pair of parts: a backend that calls
    // the clients' `outcome` is found.
    let text = "fn on_complete(&mut self) { self.outcome(r, o); self.free_jobs.push(j); }";
    let names = after(text, "self.");
    assert_eq!(names, ["outcome", "free_jobs"]);
    assert!(text.contains("self.outcome("));
    assert_eq!(after("fn a() {} fn bcd(", "fn "), ["a", "bcd"]);
    assert!(after("self_fn x", "fn ").is_empty(), "not a whole segment");
    let defined = definitions();
    assert!(
        defined["outcome"].contains("clients"),
        "the clients define `outcome`"
    );
}

/// The parts that own their state: (file, the struct that holds it).
const OWNERS: [(&str, &str); 5] = [
    ("clients", "Clients"),
    ("routing", "Router"),
    ("site", "Site"),
    ("backends", "Pool"),
    ("network", "Network"),
];

/// What the event loop itself holds at most: the configuration, the
/// clock, its end and the sequence counter, the queue and its lane, the
/// five parts, the backlogs' places, the recorder and its sink, the
/// actions and the paced drain, the seeds, the interval's bounds and
/// three flags.
const LOOP_FIELDS: usize = 22;

/// The named fields of `struct name` in engine file `file`.
fn fields(file: &str, name: &str) -> Vec<String> {
    let text = code(&engine_file(file));
    let start = text
        .find(&format!("struct {name} {{"))
        .unwrap_or_else(|| panic!("{file}.rs: no `struct {name}`"));
    let body = &text[start..];
    let body = &body[..body.find("\n}").expect("the struct's closing brace")];
    body.lines()
        .skip(1)
        .filter_map(|line| {
            let line = line.trim().trim_start_matches("pub(super) ");
            let (field, _) = line.split_once(':')?;
            let named = !field.is_empty()
                && field
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            named.then(|| field.to_owned())
        })
        .collect()
}

#[test]
fn each_part_keeps_its_state_in_its_own_struct() {
    let sim = fields("mod", "Simulation");
    assert!(
        sim.contains(&"clients".to_owned()) && sim.contains(&"router".to_owned()),
        "the fields were found: {sim:?}"
    );
    for (file, owner) in OWNERS {
        let own = fields(file, owner);
        assert!(
            own.len() >= 5,
            "{file}.rs: {owner}'s fields were found: {own:?}"
        );
        let taken: Vec<_> = own.iter().filter(|f| sim.contains(f)).collect();
        assert!(
            taken.is_empty(),
            "Simulation holds {taken:?}, which {owner} ({file}.rs) holds too"
        );
    }
    assert!(
        sim.len() <= LOOP_FIELDS,
        "Simulation has {} fields, {LOOP_FIELDS} at most: give the new state to the part \
         that owns it ({OWNERS:?}) — {sim:?}",
        sim.len()
    );
}

/// The modules of `sim/` and those each imports.
fn sim_imports() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sim");
    let mut modules = BTreeMap::new();
    for entry in fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        let (name, files, own) = if path.is_dir() {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let files: Vec<PathBuf> = fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "rs"))
                .collect();
            (name, files, path.join("mod.rs"))
        } else if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if name == "mod" {
                continue;
            }
            (name, vec![path.clone()], path.clone())
        } else {
            continue;
        };
        let mut deps = BTreeSet::new();
        for file in &files {
            let text = code(file);
            deps.extend(after(&text, "crate::sim::").into_iter().map(str::to_owned));
            deps.extend(
                after(&text, "super::super::")
                    .into_iter()
                    .map(str::to_owned),
            );
            // `super::` reaches `sim/` from a file of `sim/` or a folder's
            // `mod.rs`; from the folder's other files it is the folder.
            if *file == own {
                deps.extend(after(&text, "super::").into_iter().map(str::to_owned));
            }
        }
        modules.insert(name, deps);
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    for (name, deps) in modules.iter_mut() {
        deps.retain(|d| names.contains(d) && d != name);
    }
    modules
}

/// A circle of imports, if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_two_modules_of_sim_import_each_other_in_a_circle() {
    let graph = sim_imports();
    assert!(graph.len() > 10, "the modules were found: {graph:?}");
    assert!(
        graph["engine"].contains("queue"),
        "imports were found: {graph:?}"
    );
    if let Some(found) = circle(&graph) {
        panic!("an import circle in sim/: {}", found.join(" → "));
    }
}

#[test]
fn the_circle_check_finds_a_circle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(circle(&graph).unwrap(), ["a", "b", "c", "a"]);
    let mut open = graph.clone();
    open.get_mut("c").unwrap().clear();
    assert_eq!(circle(&open), None);
}
