//! Passive outlier detection: Envoy's consecutive-errors ejection.

use super::BalancerError;

/// Parameters of an [`OutlierDetector`], with Envoy's defaults
/// (`config.cluster.v3.OutlierDetection`). Times are nanoseconds on the
/// caller's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutlierParams {
    /// Errors in a row that eject a backend (Envoy's `consecutive_5xx`,
    /// default 5; at least 1).
    pub consecutive_errors: u32,
    /// How long a first ejection lasts; the *k*-th lasts *k* times as long
    /// (Envoy's `base_ejection_time`, default 30 s; above 0).
    pub base_ejection_ns: u64,
    /// The longest an ejection lasts (Envoy's `max_ejection_time`, default
    /// 300 s; at least `base_ejection_ns`).
    pub max_ejection_ns: u64,
    /// The most backends ejected at once, as a percentage of the set (Envoy's
    /// `max_ejection_percent`, default 10; at most 100); one backend may
    /// always be ejected, whatever the percentage.
    pub max_ejection_percent: u32,
}

impl Default for OutlierParams {
    fn default() -> Self {
        Self {
            consecutive_errors: 5,
            base_ejection_ns: 30_000_000_000,
            max_ejection_ns: 300_000_000_000,
            max_ejection_percent: 10,
        }
    }
}

impl OutlierParams {
    /// Checks the ranges above; the error names the parameter.
    pub fn check(&self) -> Result<(), BalancerError> {
        let invalid = |name, value: String, allowed| {
            Err(BalancerError::InvalidParameter {
                name,
                value,
                allowed,
            })
        };
        if self.consecutive_errors == 0 {
            return invalid("consecutive_errors", "0".into(), "at least 1");
        }
        if self.base_ejection_ns == 0 {
            return invalid("base_ejection", "0".into(), "above 0");
        }
        if self.max_ejection_ns < self.base_ejection_ns {
            return invalid(
                "max_ejection",
                format!("{} ns", self.max_ejection_ns),
                "at least base_ejection",
            );
        }
        if self.max_ejection_percent > 100 {
            return invalid(
                "max_ejection_percent",
                self.max_ejection_percent.to_string(),
                "from 0 to 100",
            );
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Host {
    /// Errors in a row since the last success.
    errors: u32,
    /// How many times it has been ejected.
    ejections: u32,
    /// Ejected until then; 0 when not ejected.
    until: u64,
}

/// Which backends of a set (numbered `0..n`) to eject for answering with
/// errors, as Envoy's outlier detection does for `consecutive_5xx`.
///
/// The caller reports each answer ([`record`](Self::record)) and applies
/// the ejections to its balancer (a weight of 0 while ejected, through
/// [`Balancer::update`](super::Balancer::update)). A backend answering
/// `consecutive_errors` errors in a row is ejected for `base_ejection ×
/// k` (its *k*-th ejection), at most `max_ejection`, unless as many
/// backends as `max_ejection_percent` allows (at least one) are already
/// out; [`release`](Self::release) brings back those whose time is up.
/// It is single-owner state (`&mut self`), off the pick path: a proxy
/// keeps one per balancer where answers are seen, a simulator one per
/// load balancer. Envoy also lowers the multiplier *k* over healthy
/// intervals and detects by success rate and failure percentage; this
/// keeps *k* and detects consecutive errors only.
///
/// ```
/// use drainstorm_balancer::{OutlierDetector, OutlierParams};
///
/// let mut od = OutlierDetector::new(10, OutlierParams::default())?;
/// for t in 0..4 {
///     assert!(!od.record(3, false, t));
/// }
/// assert!(od.record(3, false, 4)); // the fifth error in a row
/// assert!(od.is_ejected(3));
/// // One backend of ten is the 10 % the defaults allow: 7 stays in.
/// for t in 5..10 {
///     assert!(!od.record(7, false, t));
/// }
/// assert!(od.release(30_000_000_004)); // 30 s later, 3 is back
/// assert!(!od.is_ejected(3));
/// # Ok::<(), drainstorm_balancer::BalancerError>(())
/// ```
#[derive(Clone, Debug)]
pub struct OutlierDetector {
    params: OutlierParams,
    hosts: Vec<Host>,
    ejected: usize,
    /// The most ejected at once.
    allowed: usize,
    /// The earliest `until` of an ejected backend (`u64::MAX`: none).
    next_release: u64,
}

impl OutlierDetector {
    /// A detector over backends `0..n`, none ejected.
    pub fn new(n: usize, params: OutlierParams) -> Result<Self, BalancerError> {
        params.check()?;
        let allowed = (n * params.max_ejection_percent as usize / 100).max(1);
        Ok(Self {
            params,
            hosts: vec![Host::default(); n],
            ejected: 0,
            allowed,
            next_release: u64::MAX,
        })
    }

    /// Records an answer from `backend` at `now`: an error (`ok` false) or
    /// not. Returns `true` if this ejected the backend. Out-of-range
    /// backends are ignored.
    pub fn record(&mut self, backend: usize, ok: bool, now: u64) -> bool {
        let Some(host) = self.hosts.get_mut(backend) else {
            return false;
        };
        if ok {
            host.errors = 0;
            return false;
        }
        host.errors = host.errors.saturating_add(1);
        if host.until != 0 || host.errors < self.params.consecutive_errors {
            return false;
        }
        if self.ejected >= self.allowed {
            return false;
        }
        host.ejections = host.ejections.saturating_add(1);
        let time = self
            .params
            .base_ejection_ns
            .saturating_mul(u64::from(host.ejections))
            .min(self.params.max_ejection_ns);
        host.until = now.saturating_add(time).max(1);
        host.errors = 0;
        self.ejected += 1;
        self.next_release = self.next_release.min(host.until);
        true
    }

    /// Brings back every ejected backend whose time is up at `now`.
    /// Returns `true` if any came back.
    pub fn release(&mut self, now: u64) -> bool {
        if now < self.next_release {
            return false;
        }
        let mut next = u64::MAX;
        let mut released = false;
        for host in &mut self.hosts {
            if host.until == 0 {
                continue;
            }
            if host.until <= now {
                host.until = 0;
                self.ejected -= 1;
                released = true;
            } else {
                next = next.min(host.until);
            }
        }
        self.next_release = next;
        released
    }

    /// When the earliest ejection ends, if any backend is ejected: when to
    /// call [`release`](Self::release) next.
    pub fn next_release(&self) -> Option<u64> {
        (self.next_release != u64::MAX).then_some(self.next_release)
    }

    /// When `backend`'s ejection ends, if it is ejected.
    pub fn ejected_until(&self, backend: usize) -> Option<u64> {
        self.hosts
            .get(backend)
            .and_then(|h| (h.until != 0).then_some(h.until))
    }

    /// Whether `backend` is ejected.
    pub fn is_ejected(&self, backend: usize) -> bool {
        self.hosts.get(backend).is_some_and(|h| h.until != 0)
    }

    /// How many backends are ejected.
    pub fn ejected(&self) -> usize {
        self.ejected
    }

    /// The most backends ejected at once.
    pub fn allowed(&self) -> usize {
        self.allowed
    }
}
