use std::fmt;

/// A retry-model parameter outside its allowed range.
///
/// Every constructor in [`retry`](super) validates into this error instead
/// of panicking; the message names the parameter, the value and the range.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RetryConfigError {
    /// The parameter's name, as in the configuration struct.
    pub name: &'static str,
    /// The value given, formatted.
    pub value: String,
    /// What is allowed.
    pub allowed: &'static str,
}

impl RetryConfigError {
    pub(crate) fn new(name: &'static str, value: impl fmt::Display, allowed: &'static str) -> Self {
        Self {
            name,
            value: value.to_string(),
            allowed,
        }
    }
}

impl fmt::Display for RetryConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} = {}: allowed {}",
            self.name, self.value, self.allowed
        )
    }
}

impl std::error::Error for RetryConfigError {}

/// Checks that `x` is finite and within `[lo, hi]`.
pub(crate) fn check_range(
    name: &'static str,
    x: f64,
    lo: f64,
    hi: f64,
    allowed: &'static str,
) -> Result<(), RetryConfigError> {
    if x.is_finite() && x >= lo && x <= hi {
        Ok(())
    } else {
        Err(RetryConfigError::new(name, x, allowed))
    }
}
