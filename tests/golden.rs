//! The safety net under the engine: every bundled profile, cut short, run
//! to `summary.json`, `series.csv` and `sites.csv`, and each output's
//! SHA-256 held against `tests/golden/hashes.txt`.
//!
//! A commit that restructures or speeds up the engine must keep these
//! hashes. A commit that changes the model on purpose updates them, and
//! says why:
//!
//! ```text
//! DRAINSTORM_BLESS=1 cargo test --test golden
//! ```
//!
//! rewrites the file from the current build.

use std::fmt::Write as _;

use drainstorm::profile::{BUNDLED, Profile};
use drainstorm::report::Comparison;
use drainstorm::retry::SimDuration;
use sha2::{Digest, Sha256};

const HASHES: &str = "tests/golden/hashes.txt";

/// How long each bundled profile runs here: long enough to pass its
/// drain (or flash crowd, or rebalance) and some of what follows, short
/// enough for a debug build.
fn cut(name: &str) -> SimDuration {
    let s = SimDuration::from_secs;
    match name {
        // The drain is at 45 min; the storm follows within minutes.
        "cheyenne-2026" | "ramped-drain" => s(75 * 60),
        "smtp-451" => s(2 * 3600),
        "mm1" => s(200),
        "mmc" => s(400),
        _ => s(240),
    }
}

fn comparison(name: &str, network: bool) -> Comparison {
    let mut profile = Profile::bundled(name).unwrap().unwrap();
    profile.scenario.duration = profile.scenario.duration.min(cut(name));
    profile.compare.seeds = 1;
    if network {
        // Sites at different distances, one of them none, and an odd
        // round trip (its two halves differ by a nanosecond).
        let ms = SimDuration::from_millis;
        for (site, rtt) in profile.scenario.sites.iter_mut().zip([
            ms(0),
            ms(20),
            SimDuration::from_nanos(45_000_001),
            ms(70),
        ]) {
            site.rtt = rtt;
        }
    }
    Comparison::run(profile).expect("the bundled profile runs")
}

/// The profile that runs a second time with a network between its
/// clients and sites, as `<name>+rtt`.
const NETWORK: &str = "ramped-drain";

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `profile file hash` lines for every bundled profile.
fn current() -> String {
    let mut out = String::new();
    let runs = BUNDLED.iter().map(|(n, _)| (*n, false));
    for (name, network) in runs.chain([(NETWORK, true)]) {
        let c = comparison(name, network);
        let name = if network {
            format!("{name}+rtt")
        } else {
            name.to_owned()
        };
        for (file, text) in [
            ("summary.json", c.json()),
            ("series.csv", c.series_csv()),
            ("sites.csv", c.sites_csv()),
        ] {
            writeln!(out, "{name} {file} {}", sha256(&text)).unwrap();
        }
    }
    out
}

#[test]
fn every_bundled_profile_gives_the_recorded_bytes() {
    let now = current();
    if std::env::var_os("DRAINSTORM_BLESS").is_some() {
        std::fs::write(HASHES, &now).unwrap();
        return;
    }
    let recorded = std::fs::read_to_string(HASHES).expect("tests/golden/hashes.txt");
    let changed: Vec<String> = recorded
        .lines()
        .zip(now.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("  was {a}\n  now {b}"))
        .collect();
    assert!(
        changed.is_empty() && recorded.lines().count() == now.lines().count(),
        "the outputs changed:\n{}\n(a change to the model? re-record with \
         DRAINSTORM_BLESS=1 cargo test --test golden, say why in the commit, and \
         re-run the README's figures with scripts/readme-figures.sh)",
        changed.join("\n")
    );
}
