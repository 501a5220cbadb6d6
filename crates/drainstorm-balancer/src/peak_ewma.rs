//! Power of two choices by Peak-EWMA latency: Finagle's and linkerd's
//! latency-aware balancer (tower's `PeakEwma`).

use std::sync::Arc;

use super::members::{Counts, Members};
use super::p2c::{Candidate, two_distinct};
use super::pool::sealed;
use super::{Backend, BackendId, BalancerError, Cursor, Pool};
use crate::sync::{AtomicU64, Ordering};

/// Parameters of [`PeakEwma`], with linkerd2-proxy's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeakEwmaParams {
    /// How fast an estimate forgets, in milliseconds: a latency observed
    /// `t` ago weighs `exp(−t / decay)` of what it did (default 10 000, 10
    /// s; above 0 and at most 10^9).
    pub decay_ms: f64,
    /// The estimate a backend starts with before its first answer, in
    /// milliseconds (default 30; at least 0 and at most 10^9).
    pub default_rtt_ms: f64,
}

impl Default for PeakEwmaParams {
    fn default() -> Self {
        Self {
            decay_ms: 10_000.0,
            default_rtt_ms: 30.0,
        }
    }
}

impl PeakEwmaParams {
    fn check(&self) -> Result<(), BalancerError> {
        let in_range =
            |v: f64, zero_ok: bool| v.is_finite() && v <= 1e9 && (v > 0.0 || (zero_ok && v == 0.0));
        if !in_range(self.decay_ms, false) {
            return Err(BalancerError::InvalidParameter {
                name: "decay_ms",
                value: self.decay_ms.to_string(),
                allowed: "a finite number of milliseconds above 0 and at most 10^9",
            });
        }
        if !in_range(self.default_rtt_ms, true) {
            return Err(BalancerError::InvalidParameter {
                name: "default_rtt_ms",
                value: self.default_rtt_ms.to_string(),
                allowed: "a finite number of milliseconds from 0 to 10^9",
            });
        }
        Ok(())
    }
}

/// An estimate after observing `latency` (ns) at `elapsed` ns since the
/// previous observation: the observation itself if it is above the
/// estimate (the *peak*), else the exponentially weighted mean.
///
/// ```
/// use drainstorm_balancer::peak_ewma_update;
///
/// assert_eq!(peak_ewma_update(10.0, 50.0, 0, 1e9), 50.0); // a peak: at once
/// let tau = 1e9;
/// let e = peak_ewma_update(50.0, 10.0, 1_000_000_000, tau); // one decay later
/// assert!((e - (50.0 / std::f64::consts::E + 10.0 * (1.0 - 1.0 / std::f64::consts::E))).abs() < 1e-9);
/// ```
#[inline]
pub fn peak_ewma_update(estimate: f64, latency: f64, elapsed_ns: u64, decay_ns: f64) -> f64 {
    if latency > estimate {
        latency
    } else {
        let w = (-(elapsed_ns as f64) / decay_ns).exp();
        estimate * w + latency * (1.0 - w)
    }
}

/// One backend's latency state: the estimate (an `f64`'s bits, in ns) and
/// when it was last observed (ns on the caller's clock).
#[derive(Debug)]
struct Cell {
    estimate: AtomicU64,
    stamp: AtomicU64,
}

/// The latency state of every counter slot, shared by the strategies of
/// successive snapshots, so a backend keeps its estimate across updates
/// that keep it.
#[derive(Debug)]
struct Latencies {
    cells: Box<[Cell]>,
}

impl Latencies {
    fn new(len: usize) -> Self {
        Self {
            cells: (0..len)
                .map(|_| Cell {
                    estimate: AtomicU64::new(0),
                    stamp: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    /// The latest time any answer reported: "now" for a new member's
    /// default estimate (the kernel has no clock of its own).
    fn latest(&self) -> u64 {
        self.cells
            .iter()
            .map(|c| c.stamp.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0)
    }

    fn reset(&self, slot: usize, estimate: f64, now: u64) {
        let cell = &self.cells[slot];
        cell.estimate.store(estimate.to_bits(), Ordering::Relaxed);
        cell.stamp.store(now, Ordering::Relaxed);
    }
}

/// The Peak-EWMA strategy: power of two choices by expected latency.
///
/// Draws two distinct active backends at random (as
/// [`PowerOfTwo`](super::PowerOfTwo) does) and sends the request to the one
/// with the lower cost `estimate · (in flight + 1) / weight`, the first
/// drawn on ties. A backend's estimate is its latency as a *peak-sensitive*
/// moving average ([`peak_ewma_update`]): a slower answer than the
/// estimate replaces it at once, faster ones pull it down with weight `1 −
/// exp(−Δt / decay)`. At a pick, an estimate is decayed towards 0 by the
/// time since its last answer (`exp(−Δt / decay)`), as Finagle's
/// `PeakEwma` does on every read, so a backend that stopped being picked
/// for being slow is tried again. "Now" cancels out of the comparison of
/// two decayed costs, which only the time between the two candidates'
/// last answers decides: one `exp` per pick, and no clock.
///
/// Latencies come from [`Picker::finish_observed`](super::Picker::finish_observed)
/// (or [`Balancer::finish_observed`](super::Balancer::finish_observed)), with
/// the caller's own clock: the kernel reads no clock. A plain `finish`
/// counts the request done and teaches nothing.
///
/// Finagle's design, described in linkerd's "Beyond Round Robin: Load
/// Balancing for Latency" (2016), and tower's `PeakEwma`; tower's own
/// benchmark reports p99.9 of 105 ms for it against 857 ms for
/// least-loaded P2C.
///
/// # Memory ordering
///
/// A backend's estimate and stamp are two `AtomicU64`s, read and written
/// `Relaxed`: like the in-flight counts they publish no other data, and an
/// estimate is written whole (an `f64`'s bits), so a pick reads some
/// estimate that some observation wrote. An observation updates the
/// estimate with a compare-and-swap loop, so concurrent observations of
/// one backend are all applied; each weighs itself by the stamp it read,
/// so two that race may both count the same elapsed time (the estimate
/// is then nearer their latencies than a sequential pair would leave it).
/// A pick writes nothing. The state lives beside the strategy, shared
/// through an `Arc` by the strategies of later snapshots, indexed by
/// counter slot; a member that keeps its id keeps its slot and its
/// estimate, a new member (or a slot's next owner) starts at
/// `default_rtt_ms`. When the slot range grows, the state is copied into
/// a larger table: an observation made through a stale snapshot while an
/// update copies may be lost.
#[derive(Debug)]
pub struct PeakEwmaPicks {
    candidates: Box<[Candidate]>,
    latencies: Arc<Latencies>,
    decay_ns: f64,
}

/// Peak-EWMA power of two choices over a replaceable backend set.
pub type PeakEwma = Pool<PeakEwmaPicks>;

impl Pool<PeakEwmaPicks> {
    /// Builds a Peak-EWMA balancer with linkerd's defaults (decay 10 s,
    /// default latency 30 ms) whose random draws come from `seed`.
    ///
    /// ```
    /// use drainstorm_balancer::{Backend, BackendId, Balancer, PeakEwma, Picker};
    ///
    /// let lb = PeakEwma::with_seed(&[Backend::new(0, 1), Backend::new(1, 1)], 3)?;
    /// let mut picker = lb.picker();
    /// // Backend 0 answers in 400 ms at t = 1 s: it is now the slow one.
    /// picker.start(BackendId(0));
    /// picker.finish_observed(BackendId(0), 400_000_000, 1_000_000_000);
    /// assert!((0..100).all(|_| picker.pick(0) == Some(BackendId(1))));
    /// # Ok::<(), drainstorm_balancer::BalancerError>(())
    /// ```
    pub fn with_seed(backends: &[Backend], seed: u64) -> Result<Self, BalancerError> {
        Self::with_params(backends, PeakEwmaParams::default(), seed)
    }
}

impl PeakEwmaPicks {
    fn default_ns(params: &PeakEwmaParams) -> f64 {
        params.default_rtt_ms * 1e6
    }

    fn around(members: &Members, params: &PeakEwmaParams, latencies: Arc<Latencies>) -> Self {
        Self {
            candidates: Candidate::all_active(members),
            latencies,
            decay_ns: params.decay_ms * 1e6,
        }
    }

    /// The cost of `c` as of its last answer (its estimate times its
    /// load, per unit of weight), and when that was.
    #[inline]
    fn cost<C: Counts>(&self, c: &Candidate, counts: &C) -> (f64, u64) {
        let cell = &self.latencies.cells[c.slot as usize];
        let estimate = f64::from_bits(cell.estimate.load(Ordering::Relaxed));
        let stamp = cell.stamp.load(Ordering::Relaxed);
        let load = f64::from(c.load(counts)) + 1.0;
        (estimate * load / f64::from(c.weight), stamp)
    }

    /// Whether `b` costs less than `a` once both are decayed to the same
    /// instant: the older of the two decays by the time between their
    /// last answers (an `exp` of a non-positive number, so no overflow).
    #[inline]
    fn cheaper(&self, (a, at_a): (f64, u64), (b, at_b): (f64, u64)) -> bool {
        if at_a == at_b {
            b < a
        } else if at_a > at_b {
            b * (-((at_a - at_b) as f64) / self.decay_ns).exp() < a
        } else {
            b < a * (-((at_b - at_a) as f64) / self.decay_ns).exp()
        }
    }
}

impl sealed::Strategy for PeakEwmaPicks {
    type Params = PeakEwmaParams;
    const NAME: &'static str = "peak-ewma";
    const OBSERVES: bool = true;

    fn validate(params: &PeakEwmaParams) -> Result<(), BalancerError> {
        params.check()
    }

    fn build(members: &Members, params: &PeakEwmaParams) -> Self {
        let latencies = Latencies::new(members.slot_span());
        for &slot in members.slots() {
            latencies.reset(slot.index as usize, Self::default_ns(params), 0);
        }
        Self::around(members, params, Arc::new(latencies))
    }

    fn rebuild(
        members: &Members,
        params: &PeakEwmaParams,
        old_members: &Members,
        old: &Self,
    ) -> Self {
        let old_table = &old.latencies;
        let now = old_table.latest();
        let kept = |i: usize| old_members.index_of(members.id(i)).is_some();
        let table = if members.slot_span() <= old_table.cells.len() {
            Arc::clone(old_table)
        } else {
            let table = Latencies::new(members.slot_span().next_power_of_two());
            for (i, slot) in members.slots().iter().enumerate() {
                let s = slot.index as usize;
                if kept(i) {
                    let (from, to) = (&old_table.cells[s], &table.cells[s]);
                    let estimate = from.estimate.load(Ordering::Relaxed);
                    to.estimate.store(estimate, Ordering::Relaxed);
                    to.stamp
                        .store(from.stamp.load(Ordering::Relaxed), Ordering::Relaxed);
                }
            }
            Arc::new(table)
        };
        for (i, slot) in members.slots().iter().enumerate() {
            if !kept(i) {
                table.reset(slot.index as usize, Self::default_ns(params), now);
            }
        }
        Self::around(members, params, table)
    }

    #[inline]
    fn pick<C: Counts>(
        &self,
        _: &Members,
        counts: &C,
        _key: u64,
        cursor: &mut Cursor,
    ) -> Option<BackendId> {
        let n = self.candidates.len();
        match n {
            0 => return None,
            1 => return Some(self.candidates[0].id),
            _ => {}
        }
        let (a, b) = two_distinct(&mut cursor.rng, n);
        let (ca, cb) = (&self.candidates[a], &self.candidates[b]);
        let better_b = self.cheaper(self.cost(ca, counts), self.cost(cb, counts));
        Some(if better_b { cb.id } else { ca.id })
    }

    fn observe(&self, members: &Members, index: usize, latency_ns: u64, now_ns: u64) {
        let table = &*self.latencies;
        let Some(cell) = table.cells.get(members.slot_index(index)) else {
            return;
        };
        let elapsed = now_ns.saturating_sub(cell.stamp.load(Ordering::Relaxed));
        let latency = latency_ns as f64;
        // Never fails: the closure always returns a value.
        let _ = cell
            .estimate
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                let next = peak_ewma_update(f64::from_bits(bits), latency, elapsed, self.decay_ns);
                Some(next.to_bits())
            });
        cell.stamp.fetch_max(now_ns, Ordering::Relaxed);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::Balancer;

    const MS: u64 = 1_000_000;

    fn pair() -> PeakEwma {
        PeakEwma::with_seed(&[Backend::new(0, 1), Backend::new(1, 1)], 5).unwrap()
    }

    #[test]
    fn a_slow_answer_counts_at_once_and_fades_with_time() {
        let lb = pair();
        let mut p = lb.picker();
        p.start(BackendId(0));
        p.finish_observed(BackendId(0), 300 * MS, 1000 * MS);
        assert!((0..50).all(|_| p.pick(0) == Some(BackendId(1))));
        // A minute of 1 ms answers from 0 (six decay times: 300 · e^-6 =
        // 0.7 ms of the peak left) pulls its estimate under the 30 ms that
        // 1 answers in.
        for t in 1..=600u64 {
            p.start(BackendId(0));
            p.finish_observed(BackendId(0), MS, (1000 + 100 * t) * MS);
        }
        p.start(BackendId(1));
        p.finish_observed(BackendId(1), 30 * MS, 61_000 * MS);
        assert!((0..50).all(|_| p.pick(0) == Some(BackendId(0))));
    }

    #[test]
    fn estimates_survive_an_update_that_keeps_the_backend() {
        let lb = pair();
        let mut p = lb.picker();
        p.start(BackendId(1));
        p.finish_observed(BackendId(1), 500 * MS, 10 * MS);
        // A third backend joins and the slot range grows: 1 keeps its
        // estimate, 2 starts at the default.
        lb.update(&[Backend::new(0, 1), Backend::new(1, 1), Backend::new(2, 1)])
            .unwrap();
        let picks: Vec<_> = (0..300).map(|_| p.pick(0).unwrap()).collect();
        assert!(!picks.contains(&BackendId(1)));
        assert!(picks.contains(&BackendId(0)) && picks.contains(&BackendId(2)));
        // A slot's next owner starts afresh: 1 leaves, 3 takes its slot.
        lb.update(&[Backend::new(0, 1), Backend::new(2, 1), Backend::new(3, 1)])
            .unwrap();
        assert!((0..300).any(|_| p.pick(0) == Some(BackendId(3))));
    }

    #[test]
    fn plain_finishes_teach_nothing() {
        let lb = pair();
        let mut p = lb.picker();
        p.start(BackendId(0));
        p.finish(BackendId(0));
        assert_eq!(lb.in_flight(BackendId(0)), Some(0));
        let zero = (0..1000)
            .filter(|_| p.pick(0) == Some(BackendId(0)))
            .count();
        assert!((400..600).contains(&zero), "{zero}");
    }

    #[test]
    fn out_of_range_parameters_are_refused_by_name() {
        for (params, name) in [
            (
                PeakEwmaParams {
                    decay_ms: 0.0,
                    ..Default::default()
                },
                "decay_ms",
            ),
            (
                PeakEwmaParams {
                    default_rtt_ms: -1.0,
                    ..Default::default()
                },
                "default_rtt_ms",
            ),
            (
                PeakEwmaParams {
                    default_rtt_ms: f64::INFINITY,
                    ..Default::default()
                },
                "default_rtt_ms",
            ),
        ] {
            match PeakEwma::with_params(&[Backend::new(0, 1)], params, 0) {
                Err(BalancerError::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
                other => panic!("{params:?}: {other:?}"),
            }
        }
    }
}
