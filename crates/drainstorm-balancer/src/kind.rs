//! Choosing a balancer at run time, by name.

use std::fmt;
use std::str::FromStr;

use super::{
    Backend, Balancer, BalancerError, BoundedLoad, BoundedParams, LeastConn, LeastRequest,
    LeastRequestParams, Maglev, MaglevParams, PeakEwma, PeakEwmaParams, PowerOfTwo, Ring,
    RingParams, SmoothWrr,
};

/// Every balancer of this module, by name: what profiles and the simulator
/// use to build one without naming its type.
///
/// ```
/// use drainstorm_balancer::{Backend, BalancerKind};
///
/// let kind: BalancerKind = "maglev".parse().unwrap();
/// let lb = kind.build(&[Backend::new(1, 1), Backend::new(2, 1)], 7)?;
/// assert_eq!(lb.name(), "maglev");
/// assert!(lb.pick(42).is_some());
/// # Ok::<(), drainstorm_balancer::BalancerError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum BalancerKind {
    /// [`SmoothWrr`]: `"smooth-wrr"`.
    SmoothWrr,
    /// [`LeastConn`]: `"least-conn"`.
    LeastConn,
    /// [`PowerOfTwo`]: `"p2c"`.
    #[cfg_attr(feature = "serde", serde(rename = "p2c"))]
    PowerOfTwo,
    /// [`Ring`]: `"ring"`.
    Ring,
    /// [`Maglev`]: `"maglev"`.
    Maglev,
    /// [`BoundedLoad`]: `"bounded-load"`.
    BoundedLoad,
    /// [`LeastRequest`]: `"least-request"`.
    LeastRequest,
    /// [`PeakEwma`]: `"peak-ewma"`.
    PeakEwma,
}

impl BalancerKind {
    /// All kinds, in the order reports list them.
    pub const ALL: [BalancerKind; 8] = [
        Self::SmoothWrr,
        Self::LeastConn,
        Self::PowerOfTwo,
        Self::Ring,
        Self::Maglev,
        Self::BoundedLoad,
        Self::LeastRequest,
        Self::PeakEwma,
    ];

    /// The kind's name, as accepted by [`FromStr`].
    pub const fn name(self) -> &'static str {
        match self {
            Self::SmoothWrr => "smooth-wrr",
            Self::LeastConn => "least-conn",
            Self::PowerOfTwo => "p2c",
            Self::Ring => "ring",
            Self::Maglev => "maglev",
            Self::BoundedLoad => "bounded-load",
            Self::LeastRequest => "least-request",
            Self::PeakEwma => "peak-ewma",
        }
    }

    /// Whether the kind routes by key (consistent hashing).
    pub const fn hashes_keys(self) -> bool {
        matches!(self, Self::Ring | Self::Maglev | Self::BoundedLoad)
    }

    /// Whether the kind reads in-flight counts (so its users must report
    /// starts and finishes).
    pub const fn tracks_load(self) -> bool {
        matches!(
            self,
            Self::LeastConn
                | Self::PowerOfTwo
                | Self::BoundedLoad
                | Self::LeastRequest
                | Self::PeakEwma
        )
    }

    /// Builds a balancer of this kind with `params` (each kind reads the
    /// fields it has; unset fields take their defaults); `seed` feeds the
    /// kinds that randomise. Out-of-range parameters are an error.
    pub fn build_with(
        self,
        backends: &[Backend],
        seed: u64,
        params: &KindParams,
    ) -> Result<Box<dyn Balancer>, BalancerError> {
        let points = |default: u32| params.points_per_weight.unwrap_or(default);
        Ok(match self {
            Self::SmoothWrr => Box::new(SmoothWrr::new(backends)?),
            Self::LeastConn => Box::new(LeastConn::new(backends)?),
            Self::PowerOfTwo => Box::new(PowerOfTwo::with_seed(backends, seed)?),
            Self::Ring => Box::new(Ring::with_params(
                backends,
                RingParams {
                    points_per_weight: points(RingParams::default().points_per_weight),
                },
                seed,
            )?),
            Self::Maglev => Box::new(Maglev::with_params(
                backends,
                MaglevParams {
                    table_size: params
                        .table_size
                        .unwrap_or(MaglevParams::default().table_size),
                },
                seed,
            )?),
            Self::BoundedLoad => {
                let d = BoundedParams::default();
                Box::new(BoundedLoad::with_params(
                    backends,
                    BoundedParams {
                        epsilon: params.epsilon.unwrap_or(d.epsilon),
                        points_per_weight: points(d.points_per_weight),
                    },
                    seed,
                )?)
            }
            Self::LeastRequest => {
                let d = LeastRequestParams::default();
                Box::new(LeastRequest::with_params(
                    backends,
                    LeastRequestParams {
                        choice_count: params.choice_count.unwrap_or(d.choice_count),
                        active_request_bias: params
                            .active_request_bias
                            .unwrap_or(d.active_request_bias),
                    },
                    seed,
                )?)
            }
            Self::PeakEwma => {
                let d = PeakEwmaParams::default();
                Box::new(PeakEwma::with_params(
                    backends,
                    PeakEwmaParams {
                        decay_ms: params.decay_ms.unwrap_or(d.decay_ms),
                        default_rtt_ms: params.default_rtt_ms.unwrap_or(d.default_rtt_ms),
                    },
                    seed,
                )?)
            }
        })
    }

    /// Builds a balancer of this kind with default parameters; `seed` feeds
    /// the kinds that randomise.
    pub fn build(
        self,
        backends: &[Backend],
        seed: u64,
    ) -> Result<Box<dyn Balancer>, BalancerError> {
        self.build_with(backends, seed, &KindParams::default())
    }
}

impl fmt::Display for BalancerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parameters of the kinds that have any; `None` keeps the default. In a
/// profile: `balancer_params = { epsilon = 0.1 }`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct KindParams {
    /// Ring and bounded-load: points per unit of weight.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub points_per_weight: Option<u32>,
    /// Maglev: lookup-table size (a prime).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub table_size: Option<u32>,
    /// Bounded-load: no backend above (1 + ε) × the mean load.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub epsilon: Option<f64>,
    /// Least-request: random backends compared per pick (Envoy's
    /// `choice_count`).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub choice_count: Option<u32>,
    /// Least-request: how strongly requests in flight lower a backend's
    /// share when weights differ (Envoy's `active_request_bias`).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub active_request_bias: Option<f64>,
    /// Peak-EWMA: how fast a latency estimate forgets, in milliseconds.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub decay_ms: Option<f64>,
    /// Peak-EWMA: a backend's latency estimate before its first answer, in
    /// milliseconds.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub default_rtt_ms: Option<f64>,
}

/// The error of parsing a [`BalancerKind`] from an unknown name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownBalancer(pub String);

impl fmt::Display for UnknownBalancer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown balancer {:?}: expected one of ", self.0)?;
        for (i, kind) in BalancerKind::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(kind.name())?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownBalancer {}

impl FromStr for BalancerKind {
    type Err = UnknownBalancer;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownBalancer(s.to_owned()))
    }
}
