use std::fmt;

use super::BackendId;

/// Why a balancer could not be built or updated.
///
/// A failed [`update`](super::Balancer::update) leaves the balancer exactly as
/// it was: the previous snapshot stays published.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BalancerError {
    /// The backend list was empty. Give at least one backend; to take all
    /// traffic away, set every weight to 0 instead (picks then return `None`).
    NoBackends,
    /// Two backends share an id. Ids must be unique within one list.
    DuplicateId(BackendId),
    /// More backends than the balancer supports ([`MAX_BACKENDS`](super::MAX_BACKENDS)).
    TooManyBackends {
        /// How many were given.
        count: usize,
        /// The largest number accepted.
        max: usize,
    },
    /// A construction parameter is outside its allowed range.
    InvalidParameter {
        /// The parameter's name, as in the builder method.
        name: &'static str,
        /// The value given, formatted.
        value: String,
        /// What is allowed.
        allowed: &'static str,
    },
}

impl fmt::Display for BalancerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoBackends => write!(f, "no backends given: a balancer needs at least one"),
            Self::DuplicateId(id) => write!(f, "backend id {} appears more than once", id.0),
            Self::TooManyBackends { count, max } => {
                write!(f, "{count} backends given, at most {max} are supported")
            }
            Self::InvalidParameter {
                name,
                value,
                allowed,
            } => write!(f, "invalid {name} = {value}: allowed {allowed}"),
        }
    }
}

impl std::error::Error for BalancerError {}
