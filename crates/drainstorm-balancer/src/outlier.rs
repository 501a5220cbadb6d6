//! Passive outlier detection: Envoy's consecutive-errors, success-rate
//! and failure-percentage ejection.

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
    /// The chance, in percent, that a backend found with
    /// `consecutive_errors` errors in a row is ejected (Envoy's
    /// `enforcing_consecutive_5xx`, default 100; at most 100).
    pub enforcing_consecutive_errors: u32,
    /// Time between sweeps (Envoy's `interval`, default 10 s; above 0):
    /// each [`sweep`](OutlierDetector::sweep) lowers the multiplier of the
    /// backends that are in, and detects by success rate and failure
    /// percentage over the answers since the last one.
    pub interval_ns: u64,
    /// Success-rate detection (Envoy's defaults: on).
    pub success_rate: SuccessRateParams,
    /// Failure-percentage detection (Envoy's defaults: off, as its
    /// enforcement is 0 %).
    pub failure_percentage: FailurePercentageParams,
}

/// Success-rate detection: at each sweep, among the backends with at least
/// `request_volume` answers since the last one — if there are at least
/// `minimum_hosts` of them — those whose success rate is under the mean
/// less `stdev_factor / 1000` standard deviations are ejected, each with a
/// chance of `enforcing` percent. Defaults are Envoy's: 5 hosts, 100
/// answers, 1900 (1.9 deviations), 100 %.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuccessRateParams {
    /// Envoy's `success_rate_minimum_hosts` (at least 1).
    pub minimum_hosts: u32,
    /// Envoy's `success_rate_request_volume` (at least 1).
    pub request_volume: u32,
    /// Envoy's `success_rate_stdev_factor`, in thousandths.
    pub stdev_factor: u32,
    /// Envoy's `enforcing_success_rate`, a percentage (0 turns it off).
    pub enforcing: u32,
}

impl Default for SuccessRateParams {
    fn default() -> Self {
        Self {
            minimum_hosts: 5,
            request_volume: 100,
            stdev_factor: 1900,
            enforcing: 100,
        }
    }
}

/// Failure-percentage detection: at each sweep, among the backends with at
/// least `request_volume` answers since the last one — if there are at
/// least `minimum_hosts` of them — those whose share of errors is at least
/// `threshold` percent are ejected, each with a chance of `enforcing`
/// percent. Defaults are Envoy's: 85 %, 5 hosts, 50 answers, and 0 %
/// enforcement (off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailurePercentageParams {
    /// Envoy's `failure_percentage_threshold`, a percentage.
    pub threshold: u32,
    /// Envoy's `failure_percentage_minimum_hosts` (at least 1).
    pub minimum_hosts: u32,
    /// Envoy's `failure_percentage_request_volume` (at least 1).
    pub request_volume: u32,
    /// Envoy's `enforcing_failure_percentage`, a percentage (0: off).
    pub enforcing: u32,
}

impl Default for FailurePercentageParams {
    fn default() -> Self {
        Self {
            threshold: 85,
            minimum_hosts: 5,
            request_volume: 50,
            enforcing: 0,
        }
    }
}

impl Default for OutlierParams {
    fn default() -> Self {
        Self {
            consecutive_errors: 5,
            base_ejection_ns: 30_000_000_000,
            max_ejection_ns: 300_000_000_000,
            max_ejection_percent: 10,
            enforcing_consecutive_errors: 100,
            interval_ns: 10_000_000_000,
            success_rate: SuccessRateParams::default(),
            failure_percentage: FailurePercentageParams::default(),
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
        if self.interval_ns == 0 {
            return invalid("interval", "0".into(), "above 0");
        }
        let (sr, fp) = (&self.success_rate, &self.failure_percentage);
        for (name, value) in [
            ("max_ejection_percent", self.max_ejection_percent),
            (
                "enforcing_consecutive_errors",
                self.enforcing_consecutive_errors,
            ),
            ("enforcing_success_rate", sr.enforcing),
            ("failure_percentage_threshold", fp.threshold),
            ("enforcing_failure_percentage", fp.enforcing),
        ] {
            if value > 100 {
                return invalid(name, value.to_string(), "from 0 to 100");
            }
        }
        for (name, value) in [
            ("success_rate_minimum_hosts", sr.minimum_hosts),
            ("success_rate_request_volume", sr.request_volume),
            ("failure_percentage_minimum_hosts", fp.minimum_hosts),
            ("failure_percentage_request_volume", fp.request_volume),
        ] {
            if value == 0 {
                return invalid(name, "0".into(), "at least 1");
            }
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
    /// Answers and errors since the last sweep.
    answers: u32,
    failures: u32,
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
/// load balancer.
///
/// Every `interval` the caller calls [`sweep`](Self::sweep), as Envoy's
/// interval timer does: a backend that is in has its multiplier *k*
/// lowered by one, and backends are ejected by success rate (under the
/// others' mean by more than `stdev_factor` deviations) and failure
/// percentage over the answers since the last sweep (see
/// [`SuccessRateParams`], [`FailurePercentageParams`]). An enforcement
/// under 100 % is drawn from a generator seeded at construction
/// ([`seeded`](Self::seeded)), so a detector repeats.
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
    /// The enforcement draws' generator state.
    rng: u64,
}

impl OutlierDetector {
    /// A detector over backends `0..n`, none ejected.
    pub fn new(n: usize, params: OutlierParams) -> Result<Self, BalancerError> {
        Self::seeded(n, params, 0)
    }

    /// A detector over backends `0..n`, none ejected, whose enforcement
    /// draws (for enforcements under 100 %) come from `seed`.
    pub fn seeded(n: usize, params: OutlierParams, seed: u64) -> Result<Self, BalancerError> {
        params.check()?;
        let allowed = (n * params.max_ejection_percent as usize / 100).max(1);
        Ok(Self {
            params,
            hosts: vec![Host::default(); n],
            ejected: 0,
            allowed,
            next_release: u64::MAX,
            rng: seed,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &OutlierParams {
        &self.params
    }

    /// Whether a detection enforced at `percent` ejects this time.
    fn enforced(&mut self, percent: u32) -> bool {
        if percent >= 100 {
            return true;
        }
        if percent == 0 {
            return false;
        }
        // SplitMix64: a draw in 0..100 per detection.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((u128::from(z) * 100) >> 64) < u128::from(percent)
    }

    /// Ejects backend `i` at `now` if the ejected share allows; returns
    /// whether it did.
    fn eject(&mut self, i: usize, now: u64) -> bool {
        if self.ejected >= self.allowed || self.hosts[i].until != 0 {
            return false;
        }
        let host = &mut self.hosts[i];
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

    /// Records an answer from `backend` at `now`: an error (`ok` false) or
    /// not. Returns `true` if this ejected the backend. Out-of-range
    /// backends are ignored.
    pub fn record(&mut self, backend: usize, ok: bool, now: u64) -> bool {
        let Some(host) = self.hosts.get_mut(backend) else {
            return false;
        };
        host.answers = host.answers.saturating_add(1);
        if ok {
            host.errors = 0;
            return false;
        }
        host.failures = host.failures.saturating_add(1);
        host.errors = host.errors.saturating_add(1);
        if host.until != 0 || host.errors < self.params.consecutive_errors {
            return false;
        }
        if self.ejected >= self.allowed {
            return false;
        }
        if !self.enforced(self.params.enforcing_consecutive_errors) {
            // Envoy starts counting again when it does not enforce.
            self.hosts[backend].errors = 0;
            return false;
        }
        self.eject(backend, now)
    }

    /// The interval's sweep at `now` (call it every `interval_ns`): lowers
    /// by one the multiplier of every backend that is in, detects by
    /// success rate and failure percentage over the answers since the last
    /// sweep, and starts the next interval's counts. Returns the backends
    /// it ejected, in order. It does not bring back backends whose time is
    /// up: [`release`](Self::release) does.
    pub fn sweep(&mut self, now: u64) -> Vec<usize> {
        for host in &mut self.hosts {
            if host.until == 0 {
                host.ejections = host.ejections.saturating_sub(1);
            }
        }
        let mut ejected = Vec::new();
        let sr = self.params.success_rate;
        if sr.enforcing > 0 {
            // Success rates (percent) of the backends with enough answers.
            let rates: Vec<(usize, f64)> = self
                .hosts
                .iter()
                .enumerate()
                .filter(|(_, h)| h.until == 0 && h.answers >= sr.request_volume)
                .map(|(i, h)| {
                    let ok = f64::from(h.answers - h.failures);
                    (i, 100.0 * ok / f64::from(h.answers))
                })
                .collect();
            if rates.len() >= sr.minimum_hosts as usize {
                let n = rates.len() as f64;
                let mean = rates.iter().map(|r| r.1).sum::<f64>() / n;
                let var = rates.iter().map(|r| (r.1 - mean).powi(2)).sum::<f64>() / n;
                let floor = mean - f64::from(sr.stdev_factor) / 1000.0 * var.sqrt();
                for (i, rate) in rates {
                    if rate < floor && self.enforced(sr.enforcing) && self.eject(i, now) {
                        ejected.push(i);
                    }
                }
            }
        }
        let fp = self.params.failure_percentage;
        if fp.enforcing > 0 {
            let enough = |h: &Host| h.until == 0 && h.answers >= fp.request_volume;
            let hosts = self.hosts.iter().filter(|h| enough(h)).count();
            if hosts >= fp.minimum_hosts as usize {
                for i in 0..self.hosts.len() {
                    let h = self.hosts[i];
                    let failed = u64::from(h.failures) * 100;
                    if enough(&h)
                        && failed >= u64::from(fp.threshold) * u64::from(h.answers)
                        && self.enforced(fp.enforcing)
                        && self.eject(i, now)
                    {
                        ejected.push(i);
                    }
                }
            }
        }
        for host in &mut self.hosts {
            host.answers = 0;
            host.failures = 0;
        }
        ejected.sort_unstable();
        ejected
    }

    /// How many times `backend` has been ejected, less one for every
    /// sweep it was in since: its next ejection lasts one more base time.
    pub fn multiplier(&self, backend: usize) -> u32 {
        self.hosts.get(backend).map_or(0, |h| h.ejections)
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
