//! One varied key of a sweep: `KEY=LO..HI:STEPS` (evenly spaced numbers or
//! durations, both ends included) or `KEY=a,b,c` (a list of values).

use std::fmt;
use std::str::FromStr;

use crate::profile::{Override, ProfileError};
use crate::retry::{SimDuration, parse_duration};

/// Most values one axis may take.
pub const MAX_STEPS: usize = 10_000;

/// A key and the values a sweep gives it, in order.
///
/// ```
/// use drainstorm::plan::Axis;
///
/// let a: Axis = "sites[0].backends[0].count=8..16:5".parse()?;
/// assert_eq!(a.values, ["8", "10", "12", "14", "16"]);
/// let d: Axis = "router.dns_ttl=10s..30s:3".parse()?;
/// assert_eq!(d.values, ["10s", "20s", "30s"]);
/// let l: Axis = "sites[0].balancer=maglev,ring".parse()?;
/// assert_eq!(l.values, ["maglev", "ring"]);
/// assert!("clients[0].workload.rate=90..60:4".parse::<Axis>().is_err()); // empty range
/// # Ok::<(), drainstorm::profile::ProfileError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Axis {
    /// The key path, as for `--set`.
    pub key: String,
    /// The values, as `--set` would take them.
    pub values: Vec<String>,
    /// As written (`KEY=8..16:5`), for errors and the sweep's identity.
    pub spec: String,
}

impl Axis {
    /// The override that sets this axis to its `i`-th value.
    pub fn at(&self, i: usize) -> Override {
        Override::new("--vary", &self.key, &self.values[i]).expect("checked when parsed")
    }

    fn error(spec: &str, key: Option<&str>, message: String) -> ProfileError {
        ProfileError {
            file: format!("--vary {spec}"),
            position: None,
            key: key.map(str::to_owned),
            message,
        }
    }
}

impl fmt::Display for Axis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec)
    }
}

impl FromStr for Axis {
    type Err = ProfileError;

    fn from_str(spec: &str) -> Result<Axis, ProfileError> {
        const SHAPE: &str = "write KEY=LO..HI:STEPS (e.g. `sites[1].backends[0].count=8..16:5`, `router.dns_ttl=10s..60s:6`) or KEY=a,b,c";
        let Some((key, values)) = spec.split_once('=') else {
            return Err(Axis::error(spec, None, format!("not KEY=VALUES: {SHAPE}")));
        };
        let (key, values) = (key.trim(), values.trim());
        let fail = |m: String| Axis::error(spec, Some(key), m);
        let values = match values.split_once("..") {
            Some((lo, rest)) => {
                let Some((hi, steps)) = rest.rsplit_once(':') else {
                    return Err(fail(format!("a range needs a number of steps: {SHAPE}")));
                };
                let steps: usize = steps
                    .trim()
                    .parse()
                    .map_err(|_| fail(format!("steps `{steps}` is not a whole number: {SHAPE}")))?;
                if steps == 0 || steps > MAX_STEPS {
                    return Err(fail(format!("{steps} steps: allowed 1 to {MAX_STEPS}")));
                }
                range(lo.trim(), hi.trim(), steps).map_err(fail)?
            }
            None => {
                let list: Vec<String> = values.split(',').map(|v| v.trim().to_owned()).collect();
                if list.iter().any(String::is_empty) {
                    return Err(fail(format!("an empty value in the list: {SHAPE}")));
                }
                if list.len() > MAX_STEPS {
                    return Err(fail(format!(
                        "{} values: allowed at most {MAX_STEPS}",
                        list.len()
                    )));
                }
                list
            }
        };
        // The key path is checked here; the values when applied.
        Override::new("--vary", key, &values[0])
            .map_err(|e| Axis::error(spec, Some(key), e.message))?;
        Ok(Axis {
            key: key.to_owned(),
            values,
            spec: spec.to_owned(),
        })
    }
}

/// `steps` evenly spaced values from `lo` to `hi`: numbers, or durations
/// if both ends have a unit.
fn range(lo: &str, hi: &str, steps: usize) -> Result<Vec<String>, String> {
    if let (Ok(a), Ok(b)) = (lo.parse::<f64>(), hi.parse::<f64>()) {
        if !(a.is_finite() && b.is_finite()) {
            return Err(format!("`{lo}..{hi}`: the ends must be finite numbers"));
        }
        if b < a || (steps > 1 && a == b) {
            return Err(format!(
                "`{lo}..{hi}` is an empty range: HI must be above LO (or one step: `{lo}..{lo}:1`)"
            ));
        }
        if steps == 1 && a != b {
            return Err(format!(
                "`{lo}..{hi}` in one step: use at least 2 steps, or `{lo}..{lo}:1`"
            ));
        }
        let integers = !lo.contains(['.', 'e', 'E']) && !hi.contains(['.', 'e', 'E']);
        if integers && let (Ok(a), Ok(b)) = (lo.parse::<i64>(), hi.parse::<i64>()) {
            let gaps = steps.saturating_sub(1).max(1) as i64;
            if (b - a) % gaps != 0 {
                return Err(format!(
                    "{lo}..{hi} in {steps} steps does not fall on whole numbers (each step would be {}): choose STEPS so that (HI − LO) ÷ (STEPS − 1) is whole, or write `{lo}.0` for a key that takes fractions",
                    (b - a) as f64 / gaps as f64
                ));
            }
            let step = (b - a) / gaps;
            return Ok((0..steps as i64)
                .map(|i| (a + step * i).to_string())
                .collect());
        }
        let gaps = steps.saturating_sub(1).max(1) as f64;
        return Ok((0..steps)
            .map(|i| format!("{:?}", a + (b - a) * i as f64 / gaps))
            .collect());
    }
    match (parse_duration(lo), parse_duration(hi)) {
        (Ok(a), Ok(b)) => {
            if b.0 < a.0 || (steps > 1 && a == b) {
                return Err(format!(
                    "`{lo}..{hi}` is an empty range: HI must be above LO"
                ));
            }
            if steps == 1 && a != b {
                return Err(format!("`{lo}..{hi}` in one step: use at least 2 steps"));
            }
            Ok((0..steps)
                .map(|i| {
                    let gaps = steps.saturating_sub(1).max(1) as u128;
                    let ns = u128::from(a.0) + u128::from(b.0 - a.0) * i as u128 / gaps;
                    match ns {
                        0 => "0s".to_owned(),
                        ns => SimDuration(ns as u64).to_string(),
                    }
                })
                .collect())
        }
        (Err(e), _) | (_, Err(e)) => Err(format!(
            "`{lo}..{hi}`: the ends are numbers, or durations with a unit ({e})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_lists() {
        let a: Axis = "x=0.5..1.5:3".parse().unwrap();
        assert_eq!(a.values, ["0.5", "1.0", "1.5"]);
        assert!("x=1..2:1".parse::<Axis>().is_err());
        let a: Axis = "x=7..7:1".parse().unwrap();
        assert_eq!(a.values, ["7"]);
        let a: Axis = "timeline[0].ramp=0s..10m:3".parse().unwrap();
        assert_eq!(a.values, ["0s", "5m", "10m"]);
        let a: Axis = "x=a, b ,c".parse().unwrap();
        assert_eq!(a.values, ["a", "b", "c"]);
    }

    #[test]
    fn bad_axes_say_what_is_wrong() {
        for (spec, says) in [
            ("x", "not KEY=VALUES"),
            ("x=1..5", "needs a number of steps"),
            ("x=1..5:0", "allowed 1 to 10000"),
            ("x=1..5:many", "not a whole number"),
            ("x=5..1:3", "empty range"),
            ("x=1..1:3", "empty range"),
            ("x=1..4:3", "whole numbers"),
            ("x=a..b:3", "numbers, or durations"),
            ("x=1s..5:3", "numbers, or durations"),
            ("x=a,,b", "empty value"),
            ("x[=1..2:2", "list index"),
            ("x=1..2:100000", "allowed 1 to 10000"),
        ] {
            let err = spec.parse::<Axis>().unwrap_err().to_string();
            assert!(err.starts_with(&format!("--vary {spec}")), "{spec}: {err}");
            assert!(err.contains(says), "{spec}: {err}");
        }
    }
}
