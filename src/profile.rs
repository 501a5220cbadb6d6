//! Scenario profiles: the TOML format, its validation, and the bundled
//! profiles.
//!
//! A profile is a [`SimConfig`] written in TOML plus a name, a one-line
//! description, named retry policies, and what to compare (balancers ×
//! policies × seeds). Every error names the file, line and column, the key
//! and what is allowed. See `profiles/cheyenne-2026.toml` for a commented
//! example of every section.
//!
//! ```
//! use drainstorm::profile::Profile;
//!
//! let profile = Profile::from_toml(r#"
//!     name = "tiny"
//!     duration = "10s"
//!
//!     [[sites]]
//!     name = "east"
//!     backends = [{ count = 2, service = { dist = "exponential", mean = "10ms" } }]
//!
//!     [[clients]]
//!     name = "web"
//!     workload = { kind = "open", rate = 50 }
//!     retry = "envoy"
//! "#, "tiny.toml")?;
//! assert_eq!(profile.runs().len(), 1);
//! # Ok::<(), drainstorm::profile::ProfileError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

mod locate;
mod overrides;
mod split;
mod validate;

pub use self::overrides::Override;

use self::locate::{line_col, locate, place, written_path};

use crate::balancer::BalancerKind;
use crate::retry::{Policy, PolicyConfig};
use crate::sim::{RetrySpec, Scaled, SimConfig};

/// Largest number of runs one profile may ask for.
pub const MAX_RUNS: usize = 4096;
/// Largest number of recorded (interval × site) rows over all runs: about
/// 100 bytes each, so roughly 5 GB at most.
pub const MAX_ROWS: u64 = 50_000_000;

/// A scenario and the comparison to run on it.
///
/// Read from one TOML table: the profile's own keys and its scenario's
/// side by side (see `split.rs` for how the two are told apart without
/// losing an error's position). Of the profile's own keys only `name` is
/// required; the others default to empty, `None` and one seed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Profile {
    /// Short name (used for the output directory).
    pub name: String,
    /// One line: what the profile models.
    pub description: String,
    /// The UTC time of day at simulated time 0, `"HH:MM"`: reports show
    /// clock time on their time axes. `None`: seconds from the start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_start: Option<String>,
    /// How many real seconds one simulated second stands for, when a
    /// profile compresses time (its timeouts and service times then are
    /// not those of the system it models). Reports say so. `None`: real
    /// time. No bundled profile compresses time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_scale: Option<f64>,
    /// The size the scenario runs at, as a factor of the one it is written
    /// at: every extensive quantity of [`scenario`](Self::scenario) is
    /// multiplied by it ([`SimConfig::scaled`]; the
    /// [`scale`](crate::sim::scale) module lists which). 1 (the default):
    /// as written. In (0, 10^6].
    #[serde(skip_serializing_if = "is_one")]
    pub scale: f64,
    /// What to compare.
    pub compare: Compare,
    /// Named retry policies, usable by name in `clients[].retry` and
    /// `compare.policies` (presets are usable by name too).
    pub policies: BTreeMap<String, PolicyConfig>,
    /// The scenario: every [`SimConfig`] key (`seed`, `duration`,
    /// `router`, `cancel_on_timeout`, `recorder`, `sites`, `clients`,
    /// `timeline`), written at the top level of the file beside the
    /// profile's own keys. Its `seed` is the first run's. Client groups
    /// may name a policy of [`policies`](Self::policies) as their retry;
    /// [`sim_config`](Self::sim_config) resolves those names.
    #[serde(flatten)]
    pub scenario: SimConfig,
}

/// What a profile compares: every balancer against every policy, for each
/// seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compare {
    /// Balancers used by every site in turn; empty: each site's own.
    #[serde(default)]
    pub balancers: Vec<BalancerKind>,
    /// Retry policies (profile policies or presets) used by every client
    /// group in turn; empty: each group's own.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Seeds per combination (seed, seed + 1, …).
    #[serde(default = "one")]
    pub seeds: u32,
}

fn one() -> u32 {
    1
}

fn is_one(x: &f64) -> bool {
    *x == 1.0
}

impl Default for Compare {
    fn default() -> Self {
        Self {
            balancers: Vec::new(),
            policies: Vec::new(),
            seeds: 1,
        }
    }
}

/// One run of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The balancer's name, or `"configured"`.
    pub balancer: String,
    /// The retry policy's name, or `"configured"`.
    pub policy: String,
    /// The run's seed.
    pub seed: u64,
    /// The simulation.
    pub config: SimConfig,
}

/// A profile that does not parse or validate.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileError {
    /// The file (or the name given for it).
    pub file: String,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// The offending key path, when known (`sites[1].backends[0].slots`).
    pub key: Option<String>,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for ProfileError {
    /// One line, `FILE:LINE:COLUMN: `KEY`: MESSAGE`; a line break the
    /// message quotes (a value given with one) is shown as `\n`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        f.write_str(&self.message.replace('\n', "\\n"))
    }
}

impl std::error::Error for ProfileError {}

/// The profiles shipped with drainstorm: (name, TOML text).
pub const BUNDLED: [(&str, &str); 7] = [
    (
        "cheyenne-2026",
        include_str!("../profiles/cheyenne-2026.toml"),
    ),
    (
        "ramped-drain",
        include_str!("../profiles/ramped-drain.toml"),
    ),
    ("flash-crowd", include_str!("../profiles/flash-crowd.toml")),
    (
        "bad-rebalance",
        include_str!("../profiles/bad-rebalance.toml"),
    ),
    ("smtp-451", include_str!("../profiles/smtp-451.toml")),
    ("mm1", include_str!("../profiles/mm1.toml")),
    ("mmc", include_str!("../profiles/mmc.toml")),
];

/// The profile `cargo run --release` runs.
pub const DEFAULT: &str = "cheyenne-2026";

/// The text of a bundled profile.
pub fn bundled(name: &str) -> Option<&'static str> {
    BUNDLED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

impl Profile {
    /// Parses and validates a profile; `file` names it in errors, which
    /// give the line, column and key at fault.
    ///
    /// ```
    /// use drainstorm::profile::Profile;
    /// use drainstorm::sim::Simulation;
    ///
    /// let text = r#"
    /// name = "two-sites"
    /// duration = "20s"
    ///
    /// [[sites]]
    /// name = "east"
    /// backends = [{ count = 4, slots = 1, queue = 20, service = { dist = "exponential", mean = "10ms" } }]
    ///
    /// [[sites]]
    /// name = "west"
    /// backends = [{ count = 4, slots = 1, queue = 20, service = { dist = "exponential", mean = "10ms" } }]
    ///
    /// [[clients]]
    /// name = "web"
    /// retry = "grpc"
    /// workload = { kind = "open", rate = 300 }
    ///
    /// [[timeline]]
    /// at = "10s"
    /// action = "drain"
    /// site = "east"
    /// "#;
    /// let profile = Profile::from_toml(text, "two-sites.toml")?;
    /// let mut sim = Simulation::new(profile.sim_config())?;
    /// sim.run();
    /// assert!(sim.summary().offered > 5000);
    ///
    /// let typo = text.replace("count = 4", "cuont = 4");
    /// let err = Profile::from_toml(&typo, "two-sites.toml").unwrap_err();
    /// assert_eq!(err.position, Some((7, 15))); // east's backends, line 7
    /// assert!(err.to_string().contains("unknown field `cuont`"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_toml(text: &str, file: &str) -> Result<Profile, ProfileError> {
        let profile: Profile = toml::from_str(text).map_err(|e| {
            let (offset, key, message) = place(text, e.span().map(|s| s.start), e.message().trim());
            ProfileError {
                file: file.to_owned(),
                position: offset.map(|o| line_col(text, o)),
                key,
                message,
            }
        })?;
        profile.validate().map_err(|(key, message)| {
            let key = written_path(text, key);
            match locate(text, &key) {
                Some(span) => ProfileError {
                    file: file.to_owned(),
                    position: Some(line_col(text, span.start)),
                    key: Some(key),
                    message,
                },
                // A default the file does not write (a check across keys):
                // say so, at the top of the file.
                None => ProfileError {
                    file: file.to_owned(),
                    position: Some((1, 1)),
                    message: format!("{message} (`{key}` is not in the file: its default applies)"),
                    key: Some(key),
                },
            }
        })?;
        Ok(profile)
    }

    /// Parses and validates a profile read as bytes: text that is not UTF-8
    /// is an error that gives the byte offset, line and column of the first
    /// bad byte.
    ///
    /// ```
    /// use drainstorm::profile::Profile;
    ///
    /// let err = Profile::from_slice(b"name = \"a\"\nseed = \xff\n", "p.toml").unwrap_err();
    /// assert_eq!(err.position, Some((2, 8)));
    /// assert!(err.message.contains("byte 18"), "{err}");
    /// ```
    pub fn from_slice(bytes: &[u8], file: &str) -> Result<Profile, ProfileError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::from_toml(text, file),
            Err(e) => {
                let at = e.valid_up_to();
                let valid = std::str::from_utf8(&bytes[..at]).unwrap_or_default();
                Err(ProfileError {
                    file: file.to_owned(),
                    position: Some(line_col(valid, at)),
                    key: None,
                    message: format!(
                        "invalid UTF-8 at byte {at} (0x{:02x}): a profile is UTF-8 text",
                        bytes[at]
                    ),
                })
            }
        }
    }

    /// A bundled profile by name.
    pub fn bundled(name: &str) -> Option<Result<Profile, ProfileError>> {
        bundled(name).map(|text| Profile::from_toml(text, &format!("{name}.toml (bundled)")))
    }

    fn resolve_policy(&self, name: &str) -> Option<PolicyConfig> {
        self.policies
            .get(name)
            .cloned()
            .or_else(|| Policy::preset_named(name).map(|p| p.config().clone()))
    }

    fn policy_names(&self) -> String {
        let mut names: Vec<&str> = self.policies.keys().map(String::as_str).collect();
        names.extend(Policy::PRESETS);
        names.join(", ")
    }

    /// The scenario at the profile's [`scale`](Self::scale), and what was
    /// rounded to get there.
    pub fn scaling(&self) -> Scaled {
        self.scenario
            .scaled(self.scale)
            .expect("a validated profile's scale is in range")
    }

    /// This profile at its size: the scenario scaled, `scale` 1. It runs
    /// exactly as this one does (`drainstorm show` prints it).
    ///
    /// ```
    /// let mut p = drainstorm::profile::Profile::bundled("mm1").unwrap()?;
    /// p.scale = 3.0;
    /// let at_size = p.scaled();
    /// assert_eq!(at_size.scale, 1.0);
    /// assert_eq!(at_size.sim_config(), p.sim_config());
    /// # Ok::<(), drainstorm::profile::ProfileError>(())
    /// ```
    pub fn scaled(&self) -> Profile {
        Profile {
            scale: 1.0,
            scenario: self.scaling().config,
            ..self.clone()
        }
    }

    /// What every preset this profile uses by name (in a client group's
    /// `retry` or in `compare.policies`) is, as comment lines for `show`:
    /// where it comes from, what it does, and its settings as a
    /// `[policies]` table to copy under a name of one's own and edit (a
    /// profile's policy may not take a preset's name).
    ///
    /// ```
    /// use drainstorm::profile::Profile;
    ///
    /// let p = Profile::bundled("smtp-451").unwrap()?; // its senders use the smtp-mta preset
    /// let said = p.preset_notes().join("\n");
    /// assert!(said.contains("Postfix") && said.contains("no attempt timeout"), "{said}");
    /// assert!(said.contains("[policies.my-smtp-mta]"), "{said}");
    /// # Ok::<(), drainstorm::profile::ProfileError>(())
    /// ```
    pub fn preset_notes(&self) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        let used =
            self.compare
                .policies
                .iter()
                .cloned()
                .chain(self.scenario.clients.iter().filter_map(|g| match &g.retry {
                    RetrySpec::Preset(name) => Some(name.clone()),
                    RetrySpec::Config(_) => None,
                }));
        let mut out = Vec::new();
        for name in used {
            if self.policies.contains_key(&name) || seen.contains(&name) {
                continue;
            }
            let Some(preset) = crate::retry::Policy::preset_named(&name) else {
                continue;
            };
            out.push(format!(
                "policy `{name}`: the preset from {}: {}.",
                crate::retry::preset_source(&name).unwrap_or("drainstorm"),
                preset.config()
            ));
            #[derive(serde::Serialize)]
            struct Wrapped<'a> {
                policies: BTreeMap<String, &'a PolicyConfig>,
            }
            let table = Wrapped {
                policies: BTreeMap::from([(format!("my-{name}"), preset.config())]),
            };
            if let Ok(text) = toml::to_string(&table) {
                out.push("Its settings, to copy under a name of your own and edit:".into());
                out.extend(
                    text.lines()
                        .filter(|l| !l.is_empty())
                        .map(|l| format!("  {l}")),
                );
            }
            seen.push(name);
        }
        out
    }

    /// What running at [`scale`](Self::scale) means for this profile, in
    /// sentences: the size, and every count that had to be rounded. Empty
    /// at scale 1.
    ///
    /// ```
    /// let mut p = drainstorm::profile::Profile::bundled("mm1").unwrap()?;
    /// p.scale = 2.5;
    /// let notes = p.scale_notes();
    /// assert!(notes[0].starts_with("at scale 2.5"), "{notes:?}");
    /// assert!(notes.iter().any(|n| n.contains("backends[0].count` 1 × 2.5 = 2.5 → 3")), "{notes:?}");
    /// # Ok::<(), drainstorm::profile::ProfileError>(())
    /// ```
    pub fn scale_notes(&self) -> Vec<String> {
        if self.scale == 1.0 {
            return Vec::new();
        }
        let mut notes = vec![format!(
            "at scale {}: the extensive quantities of the profile as written (backends, load, client instances, load-balancer rates, backlogs and limits, the timeline's rates and weights) × {}",
            self.scale, self.scale
        )];
        for r in self.scaling().rounded {
            notes.push(format!(
                "rounded: `{}` {} × {} = {} → {}",
                r.path,
                r.from,
                self.scale,
                (r.exact * 1e6).round() / 1e6,
                r.to
            ));
        }
        notes
    }

    /// The simulation configuration at the profile's size, with each
    /// client group's policy resolved (profile policies by name, then
    /// presets).
    pub fn sim_config(&self) -> SimConfig {
        // A name of this profile's policies becomes its table; preset names
        // stay for the simulator to resolve.
        let resolve = |spec: &mut RetrySpec| {
            if let RetrySpec::Preset(name) = spec
                && let Some(c) = self.policies.get(name)
            {
                *spec = RetrySpec::Config(Box::new(c.clone()));
            }
        };
        let mut config = self.scaling().config;
        for g in &mut config.clients {
            resolve(&mut g.retry);
        }
        for t in &mut config.timeline {
            if let crate::sim::Action::SetRetry { retry, .. } = &mut t.action {
                resolve(retry);
            }
        }
        config
    }

    /// Every run of the comparison, in report order: balancers, then
    /// policies, then seeds.
    pub fn runs(&self) -> Vec<Run> {
        let base = self.sim_config();
        let balancers: Vec<Option<BalancerKind>> = if self.compare.balancers.is_empty() {
            vec![None]
        } else {
            self.compare.balancers.iter().copied().map(Some).collect()
        };
        let policies: Vec<Option<&String>> = if self.compare.policies.is_empty() {
            vec![None]
        } else {
            self.compare.policies.iter().map(Some).collect()
        };
        let mut runs = Vec::new();
        for b in &balancers {
            for p in &policies {
                for k in 0..u64::from(self.compare.seeds.max(1)) {
                    let mut config = base.clone();
                    config.seed = self.scenario.seed.wrapping_add(k);
                    if let Some(kind) = b {
                        for s in &mut config.sites {
                            s.balancer = *kind;
                        }
                    }
                    if let Some(name) = p {
                        let policy = self.resolve_policy(name).expect("validated");
                        for g in &mut config.clients {
                            g.retry = RetrySpec::Config(Box::new(policy.clone()));
                        }
                    }
                    runs.push(Run {
                        balancer: b.map_or_else(|| "configured".to_owned(), |k| k.name().into()),
                        policy: p.map_or_else(|| "configured".to_owned(), |n| n.clone()),
                        seed: config.seed,
                        config,
                    });
                }
            }
        }
        runs
    }

    /// What in this valid profile is probably a mistake, located like an
    /// error (`file` names the file, `text` is what was parsed).
    pub fn warnings(&self, text: &str, file: &str) -> Vec<ProfileError> {
        self.sim_config()
            .warnings()
            .into_iter()
            .map(|w| ProfileError {
                file: file.to_owned(),
                position: locate(text, &w.path).map(|s| line_col(text, s.start)),
                key: Some(w.path),
                message: w.message,
            })
            .collect()
    }

    /// The work of every run of the comparison.
    pub fn estimate(&self) -> crate::sim::WorkEstimate {
        let runs = self.runs();
        let mut total = crate::sim::WorkEstimate::ZERO;
        for run in &runs {
            total = total.plus(crate::sim::WorkEstimate::of(&run.config));
        }
        total
    }

    /// `clock_start` as seconds after midnight UTC, if it is set and well
    /// formed.
    ///
    /// ```
    /// let mut p = drainstorm::profile::Profile::bundled("cheyenne-2026").unwrap().unwrap();
    /// assert_eq!(p.clock_start_seconds(), Some(17 * 3600));
    /// p.clock_start = Some("25:00".into());
    /// assert_eq!(p.clock_start_seconds(), None);
    /// ```
    pub fn clock_start_seconds(&self) -> Option<u64> {
        let (h, m) = self.clock_start.as_deref()?.split_once(':')?;
        let ok = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
        if !ok(h) || !ok(m) {
            return None;
        }
        let (h, m): (u64, u64) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 3600 + m * 60)
    }

    /// The profile as TOML, every default filled in.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }
}

#[cfg(test)]
mod tests;
