//! What can go wrong building or driving a simulation.

use std::fmt;

use crate::balancer::BalancerError;

/// A configuration value out of range, a dangling reference, or a balancer
/// that refused its backends.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A value outside what is allowed.
    #[error("invalid {path} = {value}: allowed {allowed}")]
    Invalid {
        /// Where, as a key path: `sites[1].backends[0].slots`.
        path: String,
        /// The value given, formatted.
        value: String,
        /// What is allowed.
        allowed: String,
    },
    /// A balancer could not be built over a site's backends.
    #[error("site `{site}`: {source}")]
    Balancer {
        /// The site's name.
        site: String,
        /// Why.
        source: BalancerError,
    },
}

impl SimError {
    pub(crate) fn invalid(
        path: impl Into<String>,
        value: impl fmt::Display,
        allowed: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            path: path.into(),
            value: short_number(value.to_string()),
            allowed: allowed.into(),
        }
    }

    /// The same error with `prefix.` in front of its key path.
    pub(crate) fn within(self, prefix: &str) -> Self {
        match self {
            Self::Invalid {
                path,
                value,
                allowed,
            } => Self::Invalid {
                path: format!("{prefix}.{path}"),
                value,
                allowed,
            },
            other => other,
        }
    }

    /// The key path of an [`Invalid`](Self::Invalid) error.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::Invalid { path, .. } => Some(path),
            Self::Balancer { .. } => None,
        }
    }
}

/// A number Rust printed in full (`1e300` as 301 digits, `1e-12` as
/// fourteen zeros) in scientific notation; anything else as it is.
fn short_number(text: String) -> String {
    match text.parse::<f64>() {
        Ok(v) if text.len() > 16 && v.is_finite() => format!("{v:e}"),
        _ => text,
    }
}
