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

    /// Seconds since the epoch: divided by 10⁹, so that whole and decimal
    /// times come out exact (60 s is 60, not 60.00000000000001).
    ///
    /// ```
    /// assert_eq!(drainstorm_retry::SimTime(60_000_000_000).as_secs_f64(), 60.0);
    /// ```
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
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

    /// Whether the span is empty.
    ///
    /// ```
    /// use drainstorm_retry::SimDuration;
    ///
    /// assert!(SimDuration::ZERO.is_zero());
    /// assert!(!SimDuration::from_nanos(1).is_zero());
    /// ```
    pub const fn is_zero(&self) -> bool {
        self.0 == 0
    }

    /// Nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Seconds, divided by 10⁹ (exact for whole and decimal durations).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
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
    /// Exact, in the largest unit that divides it: `1500ms`, `254m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_span(self.0, f)
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("t=")?;
        write_span(self.0, f)
    }
}

/// Parses a duration: one or more `<number><unit>` terms, as the
/// [humantime](https://docs.rs/humantime) crate reads them — `"250ms"`,
/// `"1.5s"`, `"2m"`, `"1m30s"`, `"4h 14m"`, `"10us"`, `"100ns"`. Units:
/// `ns`, `us`/`µs`, `ms`, `s`/`sec`, `m`/`min`, `h`/`hr`, `d`, `w` (and
/// their long forms). A bare number has no unit and is refused, in every
/// key: write `"30s"`, not `30`.
///
/// ```
/// use drainstorm_retry::{SimDuration, parse_duration};
///
/// assert_eq!(parse_duration("250ms"), Ok(SimDuration::from_millis(250)));
/// assert_eq!(parse_duration("1.5s"), Ok(SimDuration::from_millis(1500)));
/// assert_eq!(parse_duration("4h 14m"), parse_duration("254m"));
/// assert_eq!(parse_duration("1m30s"), Ok(SimDuration::from_secs(90)));
/// assert!(parse_duration("30").unwrap_err().contains("no unit"));
/// assert!(parse_duration("-1s").is_err());
/// assert!(parse_duration("5 parsecs").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<SimDuration, String> {
    const UNITS: &str = "ns, us, ms, s, m, h, d, w";
    const EXAMPLE: &str = "write e.g. \"250ms\", \"2s\", \"1m30s\"";
    use humantime::DurationError as E;
    match humantime::parse_duration(text.trim()) {
        Ok(d) => u64::try_from(d.as_nanos())
            .map(SimDuration)
            .map_err(|_| format!("`{text}` is too long (at most 584 years)")),
        Err(E::Empty) => Err(format!("`{text}` is empty: {EXAMPLE}")),
        Err(E::UnknownUnit { unit, .. }) if unit.is_empty() => {
            Err(format!("`{text}` has no unit: {EXAMPLE} (units {UNITS})"))
        }
        Err(E::UnknownUnit { unit, .. }) => Err(format!(
            "`{text}`: unknown unit `{unit}` (allowed: {UNITS})"
        )),
        Err(E::NumberOverflow) => Err(format!("`{text}` is too long (at most 584 years)")),
        Err(_) => Err(format!(
            "`{text}` is not a duration (numbers with units, not negative): {EXAMPLE}"
        )),
    }
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

/// Durations and instants as a profile writes them (`"250ms"`, `"2s"`).
#[cfg(feature = "serde")]
mod serde_impls {
    use std::fmt;

    use super::{SimDuration, SimTime, parse_duration, write_span};

    struct SpanVisitor;

    impl SpanVisitor {
        fn bare<E: serde::de::Error>(v: impl fmt::Display) -> E {
            E::custom(format!(
                "`{v}` is a bare number: write it with a unit, e.g. \"{v}s\" or \"{v}ms\""
            ))
        }
    }

    impl serde::de::Visitor<'_> for SpanVisitor {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration with a unit, such as \"250ms\", \"2s\" or \"1m30s\"")
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u64, E> {
            parse_duration(v).map(|d| d.0).map_err(E::custom)
        }

        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
            Err(Self::bare(v))
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Err(Self::bare(v))
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            Err(Self::bare(v))
        }
    }

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
}

impl SimTime {
    /// The instant `d` after the epoch.
    pub const fn from_duration(d: SimDuration) -> Self {
        SimTime(d.0)
    }

    /// The instant `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        SimTime(ms.saturating_mul(1_000_000))
    }

    /// The instant `s` seconds after the epoch.
    ///
    /// ```
    /// use drainstorm_retry::{SimDuration, SimTime};
    ///
    /// let t = SimTime::from_secs(20);
    /// assert_eq!(t + SimDuration::from_secs(5), SimTime::from_secs(25));
    /// assert_eq!(SimTime::from_secs(25).since(t), SimDuration::from_secs(5));
    /// ```
    pub const fn from_secs(s: u64) -> Self {
        SimTime(s.saturating_mul(1_000_000_000))
    }
}
