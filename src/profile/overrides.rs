//! Overrides: `KEY=VALUE` changes to a profile, by dotted path with array
//! indices (`sites[1].backends[0].count=12`, `router.dns_ttl=30s`), parsed
//! and validated exactly like the file.
//!
//! The value is read as a TOML value (`12`, `1.5`, `true`, `"text"`,
//! `[1, 2]`, `{ count = 3 }`); anything that is not one is a string, so
//! `30s` and `maglev` need no quotes. A key the file does not write is
//! added (its table too), so any key with a default can be overridden; a
//! key the format does not know is refused by the same check that refuses
//! it in a file.

use std::fmt;
use std::str::FromStr;

use super::{Profile, ProfileError};

/// One `KEY=VALUE` change to a profile.
///
/// ```
/// use drainstorm::profile::{Override, Profile};
///
/// let base = Profile::bundled("mm1").unwrap()?;
/// let more: Override = "sites[0].backends[0].count=3".parse()?;
/// let profile = base.with_overrides(&[more])?;
/// assert_eq!(profile.scenario.sites[0].backends[0].count, 3);
///
/// let typo: Override = "sites[0].backends[0].cuont=3".parse()?;
/// let err = base.with_overrides(&[typo]).unwrap_err();
/// assert!(err.to_string().contains("unknown field `cuont`"), "{err}");
/// # Ok::<(), drainstorm::profile::ProfileError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// The flag it came from, for errors (`--set`, `--vary`).
    pub flag: String,
    /// The dotted key path as written.
    pub key: String,
    /// The path's parts.
    path: Vec<Step>,
    /// The value as written.
    pub value: String,
}

/// One step of a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

impl Override {
    /// An override of `key` by `value` (written as on the command line),
    /// `flag` naming where it came from in errors.
    pub fn new(flag: &str, key: &str, value: &str) -> Result<Override, ProfileError> {
        let written = if flag.strip_prefix("--") == Some(key) {
            format!("{flag} {value}")
        } else {
            format!("{flag} {key}={value}")
        };
        let fail = |message: String| ProfileError {
            file: written.clone(),
            position: None,
            key: Some(key.to_owned()),
            message,
        };
        let path = parse_path(key).map_err(fail)?;
        if value.trim().is_empty() {
            return Err(fail(
                "the value is empty: write KEY=VALUE, e.g. `router.dns_ttl=30s`".into(),
            ));
        }
        Ok(Override {
            flag: flag.to_owned(),
            key: key.to_owned(),
            path,
            value: value.to_owned(),
        })
    }

    /// The value as TOML: a TOML value if it reads as one, else a string.
    /// A value that reads as one TOML value followed by more keys (`300`,
    /// a newline, `rate = 5`) is refused rather than cut after its first
    /// line.
    fn toml_value(&self) -> Result<toml::Value, ProfileError> {
        let text = format!("v = {}", self.value.trim());
        match toml::from_str::<toml::Table>(&text) {
            Ok(mut t) if t.len() == 1 && t.contains_key("v") => Ok(t.remove("v").expect("present")),
            Ok(t) => Err(self.error(
                None,
                format!(
                    "the value holds more than one value (`{}` after a line break): give one value; a table is written `{{ a = 1, b = 2 }}`",
                    t.keys().find(|k| *k != "v").map_or("", String::as_str)
                ),
            )),
            Err(_) => Ok(toml::Value::String(self.value.trim().to_owned())),
        }
    }

    /// An error about this override.
    fn error(&self, key: Option<String>, message: String) -> ProfileError {
        ProfileError {
            file: self.to_string(),
            position: None,
            key: key.or_else(|| Some(self.key.clone())),
            message,
        }
    }

    /// Sets the value in a profile's TOML document.
    fn apply(&self, doc: &mut toml::Table) -> Result<(), ProfileError> {
        let mut root = toml::Value::Table(std::mem::take(doc));
        let result = self.set(&mut root, 0, String::new());
        if let toml::Value::Table(t) = root {
            *doc = t;
        }
        result
    }

    /// Sets the value below `here`, reached by the first `at` steps
    /// (written as `walked`).
    fn set(&self, here: &mut toml::Value, at: usize, walked: String) -> Result<(), ProfileError> {
        let Some(step) = self.path.get(at) else {
            *here = self.toml_value()?;
            return Ok(());
        };
        let next = join(&walked, step);
        match (here, step) {
            (toml::Value::Table(t), Step::Key(k)) => {
                if !t.contains_key(k) {
                    match self.path.get(at + 1) {
                        Some(Step::Index(_)) => {
                            return Err(self.error(
                                Some(next),
                                "the profile has no list here to index: set the whole list, e.g. `KEY=[...]`".into(),
                            ));
                        }
                        Some(Step::Key(_)) => {
                            t.insert(k.clone(), toml::Value::Table(toml::Table::new()));
                        }
                        None => {
                            t.insert(k.clone(), self.toml_value()?);
                            return Ok(());
                        }
                    }
                }
                self.set(t.get_mut(k).expect("present"), at + 1, next)
            }
            (toml::Value::Array(a), Step::Index(n)) => {
                let len = a.len();
                match a.get_mut(*n) {
                    Some(v) => self.set(v, at + 1, next),
                    None if len == 0 => Err(self.error(
                        Some(walked),
                        format!("index {n} is out of range: the list is empty"),
                    )),
                    None => Err(self.error(
                        Some(walked),
                        format!(
                            "index {n} is out of range: the list has {len} entr{} (allowed 0 to {})",
                            if len == 1 { "y" } else { "ies" },
                            len - 1
                        ),
                    )),
                }
            }
            (v, step) => {
                let (what, name) = match step {
                    Step::Key(k) => ("a table", format!("key `{k}`")),
                    Step::Index(n) => ("a list", format!("index {n}")),
                };
                let at = if walked.is_empty() {
                    "the top level".to_owned()
                } else {
                    format!("`{walked}`")
                };
                let is = match v {
                    toml::Value::Array(a) => format!("a list of {} entries", a.len()),
                    toml::Value::Table(_) => "a table".to_owned(),
                    v => format!("{} `{v}`", v.type_str()),
                };
                Err(self.error(
                    Some(next),
                    format!("{at} is {is}, not {what}: it has no {name}"),
                ))
            }
        }
    }
}

impl fmt::Display for Override {
    /// As written on the command line: `--set KEY=VALUE`, or `--scale K`
    /// for a flag that sets one key of its own name; a line break in the
    /// value is shown as `\n`, so that an error stays on one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.value.replace('\n', "\\n");
        if self.flag.strip_prefix("--") == Some(self.key.as_str()) {
            write!(f, "{} {value}", self.flag)
        } else {
            write!(f, "{} {}={value}", self.flag, self.key)
        }
    }
}

impl FromStr for Override {
    type Err = ProfileError;

    /// Reads `KEY=VALUE`, as `--set` takes it.
    fn from_str(text: &str) -> Result<Override, ProfileError> {
        let Some((key, value)) = text.split_once('=') else {
            return Err(ProfileError {
                file: format!("--set {text}"),
                position: None,
                key: None,
                message: "not KEY=VALUE: write e.g. `sites[1].backends[0].count=12` or `router.dns_ttl=30s`".into(),
            });
        };
        Override::new("--set", key.trim(), value.trim())
    }
}

/// `walked` followed by one more step, as a key path is written.
fn join(walked: &str, step: &Step) -> String {
    match step {
        Step::Key(k) if walked.is_empty() => k.clone(),
        Step::Key(k) => format!("{walked}.{k}"),
        Step::Index(n) => format!("{walked}[{n}]"),
    }
}

/// Reads `a.b[1].c` into steps.
fn parse_path(key: &str) -> Result<Vec<Step>, String> {
    const SHAPE: &str = "a key path is names joined by `.`, with list indices in brackets: `sites[1].backends[0].count`";
    if key.is_empty() {
        return Err(format!("the key is empty: {SHAPE}"));
    }
    let mut steps = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!("`{part}` is not a key name: {SHAPE}"));
        }
        steps.push(Step::Key(name.to_owned()));
        while !rest.is_empty() {
            let inner = rest
                .strip_prefix('[')
                .and_then(|r| r.split_once(']'))
                .filter(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            let Some((n, after)) = inner else {
                return Err(format!(
                    "`{part}`: a list index is a number in brackets: {SHAPE}"
                ));
            };
            let n = n
                .parse()
                .map_err(|_| format!("`{part}`: index {n} is too large"))?;
            steps.push(Step::Index(n));
            rest = after;
        }
    }
    Ok(steps)
}

impl Profile {
    /// This profile with `overrides` applied in order, then parsed and
    /// validated as a file would be. An error names the override (its flag,
    /// key and value), the key at fault and what is allowed.
    pub fn with_overrides(&self, overrides: &[Override]) -> Result<Profile, ProfileError> {
        if overrides.is_empty() {
            return Ok(self.clone());
        }
        self.overridden(overrides)
            .map_err(|e| self.blame(overrides, e))
    }

    /// This profile written as TOML and read back, validated as a file
    /// would be: for a profile changed in code (its comparison, its seed),
    /// the check a file gets.
    ///
    /// ```
    /// use drainstorm::profile::Profile;
    ///
    /// let mut p = Profile::bundled("mm1").unwrap()?;
    /// p.compare.seeds = 0;
    /// assert!(p.checked().unwrap_err().to_string().contains("allowed 1 to 1000"));
    /// # Ok::<(), drainstorm::profile::ProfileError>(())
    /// ```
    pub fn checked(&self) -> Result<Profile, ProfileError> {
        self.overridden(&[]).map_err(|mut e| {
            e.file = self.name.clone();
            e.position = None;
            e
        })
    }

    /// The overridden profile; a validation error is not yet blamed.
    fn overridden(&self, overrides: &[Override]) -> Result<Profile, ProfileError> {
        let cannot = |e: &dyn fmt::Display| ProfileError {
            file: self.name.clone(),
            position: None,
            key: None,
            message: format!("cannot write the profile as TOML: {e}"),
        };
        let mut doc = toml::Table::try_from(self).map_err(|e| cannot(&e))?;
        for o in overrides {
            o.apply(&mut doc)?;
        }
        let text = toml::to_string(&doc).map_err(|e| cannot(&e))?;
        Profile::from_toml(&text, "")
    }

    /// The error of an overridden profile, said of the override it belongs
    /// to.
    fn blame(&self, overrides: &[Override], e: ProfileError) -> ProfileError {
        let key = e.key.clone().unwrap_or_default();
        let related = |o: &Override| {
            let within = |a: &str, b: &str| {
                a == b || a.starts_with(&format!("{b}.")) || a.starts_with(&format!("{b}["))
            };
            within(&key, &o.key) || within(&o.key, &key)
        };
        if !e.file.is_empty() {
            return e; // already about an override (a path that does not exist)
        }
        // The override at fault: the last whose key is, contains or lies
        // within the error's key; else the first after which the profile
        // no longer validates (the last, if only all of them together
        // fail).
        let culprit = overrides
            .iter()
            .rev()
            .find(|o| related(o))
            .unwrap_or_else(|| {
                let n = (1..overrides.len())
                    .find(|&n| self.overridden(&overrides[..n]).is_err())
                    .unwrap_or(overrides.len());
                &overrides[n - 1]
            });
        let message = match e.message.strip_suffix(")") {
            // "(`key` is not in the file: its default applies)" is about
            // the generated text, not the user's file.
            Some(m) if m.contains(" is not in the file: its default applies") => m
                .rsplit_once(" (`")
                .map_or(e.message.clone(), |(m, _)| m.to_owned()),
            _ => e.message,
        };
        ProfileError {
            file: culprit.to_string(),
            position: None,
            key: e.key,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::BUNDLED;

    fn set(p: &Profile, text: &str) -> Result<Profile, ProfileError> {
        p.with_overrides(&[text.parse()?])
    }

    fn mm1() -> Profile {
        Profile::bundled("mm1").unwrap().unwrap()
    }

    #[test]
    fn a_profile_written_and_read_back_is_the_same_profile() {
        // Every override goes through the profile written as TOML: that
        // must change nothing but the override.
        for (name, _) in BUNDLED {
            let p = Profile::bundled(name).unwrap().unwrap();
            let same = set(&p, &format!("seed={}", p.scenario.seed)).unwrap();
            assert_eq!(same, p, "{name}");
        }
    }

    #[test]
    fn values_of_every_shape_reach_their_key() {
        let c = Profile::bundled("cheyenne-2026").unwrap().unwrap();
        let p = set(&c, "sites[1].backends[0].count=12").unwrap();
        assert_eq!(p.scenario.sites[1].backends[0].count, 12);
        assert_eq!(
            p.scenario.sites[0].backends[0].count,
            c.scenario.sites[0].backends[0].count
        );
        let p = set(&c, "router.dns_ttl=45s").unwrap();
        assert_eq!(
            p.scenario.router.dns_ttl,
            crate::time::SimDuration::from_secs(45)
        );
        let p = set(&c, "clients[0].workload.rate=120").unwrap();
        assert_ne!(
            p.scenario.clients[0].workload,
            c.scenario.clients[0].workload
        );
        let p = set(&c, "compare.balancers=[\"maglev\"]").unwrap();
        assert_eq!(p.compare.balancers.len(), 1);
        let p = set(&c, "sites[0].balancer=maglev").unwrap();
        assert_eq!(p.scenario.sites[0].balancer.name(), "maglev");
        // A key the file leaves to its default is added.
        let p = set(&mm1(), "time_scale=60").unwrap();
        assert_eq!(p.time_scale, Some(60.0));
        let p = set(&c, "policies.backoff.max_attempts=2").unwrap();
        assert_eq!(p.policies["backoff"].max_attempts, 2);
    }

    #[test]
    fn errors_name_the_override_the_key_and_what_is_allowed() {
        let c = Profile::bundled("cheyenne-2026").unwrap().unwrap();
        for (text, has) in [
            ("sites[1].backends[0].cuont=3", "unknown field `cuont`"),
            (
                "sites[9].weight=3",
                "index 9 is out of range: the list has 4 entries (allowed 0 to 3)",
            ),
            (
                "sites[0].backends[0].count=many",
                "invalid type: string \"many\"",
            ),
            ("router.dns_ttl=30", "bare number"),
            ("compare.seeds=0", "allowed 1 to 1000"),
            (
                "name.first=x",
                "`name` is string `\"cheyenne-2026\"`, not a table",
            ),
            ("router[0]=x", "`router` is a table, not a list"),
            ("sites[0].name=elsewhere", "elsewhere"),
            ("sites.x=1", "`sites` is a list of 4 entries, not a table"),
            ("nope[1]=2", "no list here"),
            (
                "clients[0].workload.rate=300\nseed = 9",
                "holds more than one value (`seed` after a line break)",
            ),
        ] {
            let err = set(&c, text).unwrap_err().to_string();
            let shown = text.replace('\n', "\\n");
            assert!(err.starts_with(&format!("--set {shown}")), "{text}: {err}");
            assert!(err.contains(has), "{text}: {err}");
        }
        // The key of the error is the full path.
        let err = set(&c, "compare.seeds=0").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("compare.seeds"));
        for text in ["", "=3", "a..b=1", "a[x]=1", "a[1=2", "count"] {
            let err = text.parse::<Override>().map(|o| set(&c, &o.to_string()));
            assert!(err.is_err(), "{text}");
        }
    }

    #[test]
    fn a_line_break_inside_a_string_is_kept() {
        let p = set(&mm1(), "description=one\ntwo").unwrap();
        assert_eq!(p.description, "one\ntwo");
    }

    #[test]
    fn a_cross_key_error_blames_the_override_that_caused_it() {
        let c = Profile::bundled("cheyenne-2026").unwrap().unwrap();
        let sets: Vec<Override> = ["seed=4", "sites[0].name=elsewhere", "seed=5"]
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
        let err = c.with_overrides(&sets).unwrap_err().to_string();
        assert!(err.starts_with("--set sites[0].name=elsewhere"), "{err}");
    }
}
