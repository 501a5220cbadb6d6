//! Simulated time: nanoseconds in a `u64`, shared by the retry models and
//! the simulator.
//!
//! Nothing in drainstorm's kernel reads a clock: callers pass `now` in. A
//! `u64` of nanoseconds spans 584 years, so a simulated incident never
//! wraps; arithmetic saturates instead of panicking.

use std::fmt;
use std::ops::{Add, Sub};

/// An instant: nanoseconds since the start of a simulation (or any epoch
/// the host chooses).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

/// A span of simulated time in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(pub u64);

impl SimTime {
    /// The epoch.
    pub const ZERO: SimTime = SimTime(0);

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Seconds since the epoch.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 * 1e-9
    }

    /// The time elapsed since `earlier`, or zero if `earlier` is later.
    pub const fn since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    /// No time.
    pub const ZERO: SimDuration = SimDuration(0);
    /// The longest span.
    pub const MAX: SimDuration = SimDuration(u64::MAX);

    /// From nanoseconds.
    pub const fn from_nanos(n: u64) -> Self {
        Self(n)
    }

    /// From microseconds (saturating).
    pub const fn from_micros(us: u64) -> Self {
        Self(us.saturating_mul(1_000))
    }

    /// From milliseconds (saturating).
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms.saturating_mul(1_000_000))
    }

    /// From seconds (saturating).
    pub const fn from_secs(s: u64) -> Self {
        Self(s.saturating_mul(1_000_000_000))
    }

    /// From fractional seconds, rounded to the nearest nanosecond; `None`
    /// for negative, NaN or out-of-range values.
    pub fn try_from_secs_f64(s: f64) -> Option<Self> {
        let ns = (s * 1e9).round();
        (ns >= 0.0 && ns < u64::MAX as f64).then_some(Self(ns as u64))
    }

    /// Nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Seconds.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 * 1e-9
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}

impl Sub<SimDuration> for SimTime {
    type Output = SimTime;
    fn sub(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_sub(d.0))
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, d: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(d.0))
    }
}

impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        if ns >= 1_000_000_000 {
            write!(f, "{}s", self.as_secs_f64())
        } else if ns >= 1_000_000 {
            write!(f, "{}ms", ns as f64 / 1e6)
        } else if ns >= 1_000 {
            write!(f, "{}µs", ns as f64 / 1e3)
        } else {
            write!(f, "{ns}ns")
        }
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={}s", self.as_secs_f64())
    }
}

/// Parses a span written with a unit: `"250ms"`, `"1.5s"`, `"2m"`, `"1h"`,
/// `"10us"`, `"100ns"`. Fractions are allowed; the result is rounded to the
/// nearest nanosecond.
///
/// ```
/// use drainstorm::retry::{SimDuration, parse_duration};
///
/// assert_eq!(parse_duration("250ms"), Ok(SimDuration::from_millis(250)));
/// assert_eq!(parse_duration("1.5s"), Ok(SimDuration::from_millis(1500)));
/// assert!(parse_duration("-1s").is_err());
/// assert!(parse_duration("5 parsecs").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<SimDuration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "ns" => 1e0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        "" => {
            return Err(format!(
                "`{text}` has no unit: write e.g. \"250ms\", \"2s\", \"5m\" (units ns, us, ms, s, m, h)"
            ));
        }
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (allowed: ns, us, ms, s, m, h)"
            ));
        }
    };
    let value: f64 = number
        .replace('_', "")
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (a number followed by a unit)"))?;
    let ns = (value * scale).round();
    if !ns.is_finite() || ns >= u64::MAX as f64 {
        return Err(format!("`{text}` is too long (at most 584 years)"));
    }
    Ok(SimDuration(ns as u64))
}

fn write_span(ns: u64, f: &mut dyn fmt::Write) -> fmt::Result {
    const UNITS: [(u64, &str); 5] = [
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
    ];
    if ns != 0 {
        for (scale, unit) in UNITS {
            if ns.is_multiple_of(scale) {
                return write!(f, "{}{unit}", ns / scale);
            }
        }
    }
    write!(f, "{ns}ns")
}

struct SpanVisitor;

impl serde::de::Visitor<'_> for SpanVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as \"250ms\", \"2s\" or \"5m\", or a number of seconds")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u64, E> {
        parse_duration(v).map(|d| d.0).map_err(E::custom)
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
        SimDuration::try_from_secs_f64(v)
            .map(|d| d.0)
            .ok_or_else(|| E::custom(format!("{v} seconds is not a duration (≥ 0, finite)")))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(SimDuration::from_secs(v).0)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v)
            .map(|s| SimDuration::from_secs(s).0)
            .map_err(|_| E::custom(format!("{v} seconds is negative")))
    }
}

/// Durations serialize as a whole number of the largest unit that divides
/// them exactly (`"250ms"`, `"90s"`, `"2h"`); they deserialize from such a
/// string or from a number of seconds.
impl serde::Serialize for SimDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut text = String::new();
        write_span(self.0, &mut text).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }
}

impl<'de> serde::Deserialize<'de> for SimDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SpanVisitor).map(SimDuration)
    }
}

/// Instants serialize like a [`SimDuration`] since the epoch.
impl serde::Serialize for SimTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SimDuration(self.0).serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for SimTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SpanVisitor).map(SimTime)
    }
}

impl SimTime {
    /// The instant `d` after the epoch.
    pub const fn from_duration(d: SimDuration) -> Self {
        SimTime(d.0)
    }
}
