//! Open-loop arrivals: a non-homogeneous Poisson process per client group,
//! generated window by window (in parallel with rayon) from per-(group,
//! window) seeded streams. Request keys are not part of these streams: the
//! engine draws a request's key from its id when a balancer needs it
//! ([`KeySampler`]).
//!
//! A Poisson process restarted at a window boundary is still the same
//! process (it is memoryless), so cutting time into windows changes nothing
//! statistically, and makes every window's arrivals a pure function of
//! (seed, group, window, curve version): any number of threads produce the
//! same arrivals.

use rand::{Rng, RngCore, SeedableRng};
use rand_distr::{Distribution, Exp1};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use super::config::{CurvePoint, KeyDist};
use super::random::{draw, mix, of_group, unit_open};
use super::zipf::ZipfSampler;

/// Length of one generation window, ns.
pub(crate) const WINDOW: u64 = 1_000_000_000;
/// Windows generated per batch (in parallel when rayon has threads).
pub(crate) const BATCH: u64 = 8;
/// Expected arrivals per batch from which the windows of a batch are drawn
/// in parallel.
const PARALLEL_MIN: f64 = 50_000.0;
/// Expected arrivals per batch above which windows are drawn one at a
/// time, in chunks of [`CHUNK`]: the buffer then holds at most a chunk,
/// whatever the rate (at 10^8 requests/s a batch would take 6.4 GB).
const CHUNKED_MIN: f64 = 4_000_000.0;
/// Arrivals drawn at a time from a window drawn in chunks.
const CHUNK: usize = 1 << 16;

/// Where the draw of one window stands: its stream paused between chunks.
#[derive(Debug)]
struct WindowDraw {
    rng: Xoshiro256PlusPlus,
    /// The last candidate time, ns.
    t: f64,
    hi: u64,
    max: f64,
    mean_gap: f64,
    /// A constant rate needs no thinning draw.
    constant: bool,
}

/// A rate that follows a piecewise-linear curve.
#[derive(Clone, Debug)]
pub(crate) struct RateCurve {
    pub(crate) rate: f64,
    pub(crate) points: Vec<(u64, f64)>,
}

impl RateCurve {
    pub(crate) fn new(rate: f64, curve: &[CurvePoint]) -> Self {
        Self {
            rate,
            points: curve.iter().map(|p| (p.at.0, p.factor)).collect(),
        }
    }

    /// Requests per second at `t` ns.
    pub(crate) fn at(&self, t: u64) -> f64 {
        let factor = match self.points.iter().position(|&(at, _)| at > t) {
            None => self.points.last().map_or(1.0, |p| p.1),
            Some(0) => self.points[0].1,
            Some(k) => {
                let (t0, f0) = self.points[k - 1];
                let (t1, f1) = self.points[k];
                f0 + (f1 - f0) * ((t - t0) as f64 / (t1 - t0) as f64)
            }
        };
        self.rate * factor
    }

    /// The largest rate at any time.
    pub(crate) fn peak(&self) -> f64 {
        self.points
            .iter()
            .map(|&(at, _)| self.at(at))
            .fold(self.at(0), f64::max)
    }

    /// The largest rate on `[lo, hi]`: a piecewise-linear function peaks at
    /// an end or a breakpoint.
    fn max_on(&self, lo: u64, hi: u64) -> f64 {
        let inner = self
            .points
            .iter()
            .filter(|&&(at, _)| at > lo && at < hi)
            .map(|&(at, _)| self.at(at));
        inner.fold(self.at(lo).max(self.at(hi)), f64::max)
    }
}

/// Draws request keys.
#[derive(Clone, Debug)]
pub(crate) enum KeySampler {
    Uniform(u64),
    Zipf(ZipfSampler),
}

impl KeySampler {
    pub(crate) fn new(dist: KeyDist) -> Self {
        match dist {
            KeyDist::Uniform { count } => Self::Uniform(count),
            KeyDist::Zipf { count, exponent } => Self::Zipf(ZipfSampler::new(count, exponent)),
        }
    }

    /// A key: the rank (uniform or Zipf) hashed, so hot keys spread over
    /// the hash space as real keys do.
    pub(crate) fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        let rank = match self {
            Self::Uniform(n) => ((u128::from(rng.next_u64()) * u128::from(*n)) >> 64) as u64,
            Self::Zipf(z) => z.sample(|| rng.next_u64()),
        };
        mix(rank ^ 0x5851_f42d_4c95_7f2d)
    }
}

/// The pending arrivals of one open-loop group.
#[derive(Debug)]
pub(crate) struct ArrivalSource {
    group: u64,
    seed: u64,
    pub(crate) curve: RateCurve,
    /// Bumped when the curve changes, so regenerated windows differ.
    version: u64,
    /// Arrival times (ns) not yet consumed, in order.
    buffer: Vec<u64>,
    next: usize,
    /// First window not yet generated.
    window: u64,
    /// Generation starts no earlier than this (after a curve change).
    floor: u64,
    /// The window being drawn in chunks, if any (it is `window - 1`).
    chunked: Option<WindowDraw>,
}

impl ArrivalSource {
    pub(crate) fn new(seed: u64, group: usize, curve: RateCurve) -> Self {
        Self {
            group: group as u64,
            seed,
            curve,
            version: 0,
            buffer: Vec::new(),
            next: 0,
            window: 0,
            floor: 0,
            chunked: None,
        }
    }

    /// The time of the next arrival at or before `end`, consumed.
    #[inline]
    pub(crate) fn pop(&mut self, end: u64) -> Option<u64> {
        loop {
            if let Some(&t) = self.buffer.get(self.next) {
                if t > end {
                    return None;
                }
                self.next += 1;
                return Some(t);
            }
            if self.chunked.is_none() && self.window.saturating_mul(WINDOW) > end {
                return None;
            }
            self.refill();
        }
    }

    #[cold]
    fn refill(&mut self) {
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        self.next = 0;
        if let Some(mut draw) = self.chunked.take() {
            if !self.draw(&mut draw, &mut buffer, CHUNK) {
                self.chunked = Some(draw);
            }
            self.buffer = buffer;
            return;
        }
        let first = self.window;
        let lo = first * WINDOW;
        let expected = self.curve.max_on(lo, lo + BATCH * WINDOW) * (BATCH * WINDOW) as f64 / 1e9;
        // Waking the pool costs tens of microseconds: worth it only for
        // large batches; very large ones are drawn a chunk at a time. Each
        // way, each window is the same pure function.
        if expected >= CHUNKED_MIN {
            if let Some(mut draw) = self.start(first)
                && !self.draw(&mut draw, &mut buffer, CHUNK)
            {
                self.chunked = Some(draw);
            }
            self.window = first + 1;
        } else if expected >= PARALLEL_MIN {
            let windows: Vec<Vec<u64>> = (first..first + BATCH)
                .into_par_iter()
                .map(|w| {
                    let mut out = Vec::new();
                    self.generate(w, &mut out);
                    out
                })
                .collect();
            for w in windows {
                buffer.extend_from_slice(&w);
            }
            self.window = first + BATCH;
        } else {
            for w in first..first + BATCH {
                self.generate(w, &mut buffer);
            }
            self.window = first + BATCH;
        }
        self.buffer = buffer;
    }

    /// Appends the arrivals of window `w` (those at or after `floor`) to
    /// `out`.
    fn generate(&self, w: u64, out: &mut Vec<u64>) {
        if let Some(mut draw) = self.start(w) {
            out.reserve((draw.max * 1.1) as usize + 4);
            self.draw(&mut draw, out, usize::MAX);
        }
    }

    /// The draw of window `w` (from `floor`), before its first arrival;
    /// `None` if it has none.
    fn start(&self, w: u64) -> Option<WindowDraw> {
        let lo = (w * WINDOW).max(self.floor);
        let hi = (w + 1) * WINDOW;
        if lo >= hi {
            return None;
        }
        let max = self.curve.max_on(lo, hi);
        if max <= 0.0 {
            return None;
        }
        let rng = Xoshiro256PlusPlus::seed_from_u64(draw(
            self.seed,
            of_group(self.group, w),
            self.version,
        ));
        Some(WindowDraw {
            rng,
            t: lo as f64,
            hi,
            max,
            mean_gap: 1e9 / max,
            constant: self.curve.points.is_empty(),
        })
    }

    /// Appends up to `limit` arrivals of a window's draw to `out`; true
    /// when the window has no more.
    fn draw(&self, d: &mut WindowDraw, out: &mut Vec<u64>, limit: usize) -> bool {
        let mut n = 0;
        while n < limit {
            let gap: f64 = Exp1.sample(&mut d.rng);
            d.t += gap * d.mean_gap;
            if d.t >= d.hi as f64 {
                return true;
            }
            let at = d.t as u64;
            if d.constant || unit_open(d.rng.next_u64()) * d.max <= self.curve.at(at) {
                out.push(at);
                n += 1;
            }
        }
        false
    }

    /// Replaces the curve from `now` on: arrivals after `now` are drawn
    /// again from the new curve.
    pub(crate) fn set_curve(&mut self, now: u64, curve: RateCurve) {
        self.curve = curve;
        self.version += 1;
        self.buffer.clear();
        self.next = 0;
        self.chunked = None;
        self.floor = now + 1;
        self.window = now / WINDOW;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimTime;

    /// Every arrival of `windows` windows, popped one at a time.
    fn popped(source: &mut ArrivalSource, windows: u64) -> Vec<u64> {
        let end = windows * WINDOW - 1;
        std::iter::from_fn(|| source.pop(end)).collect()
    }

    #[test]
    fn a_window_drawn_in_chunks_is_the_window_drawn_at_once() {
        // 10^6/s: a batch would hold 8 × 10^6 arrivals, so the source
        // draws a window at a time, a chunk at a time.
        let curve = RateCurve::new(
            1e6,
            &[
                CurvePoint {
                    at: SimTime(0),
                    factor: 1.0,
                },
                CurvePoint {
                    at: SimTime(3 * WINDOW),
                    factor: 0.5,
                },
            ],
        );
        let mut source = ArrivalSource::new(7, 1, curve.clone());
        let got = popped(&mut source, 3);
        assert!(
            source.buffer.capacity() <= 2 * CHUNK,
            "{}",
            source.buffer.capacity()
        );
        let reference = ArrivalSource::new(7, 1, curve);
        let mut expected = Vec::new();
        for w in 0..3 {
            reference.generate(w, &mut expected);
        }
        assert!(expected.len() > 2_000_000);
        assert_eq!(got, expected);
        assert!(got.windows(2).all(|p| p[0] <= p[1]));
    }

    #[test]
    fn a_curve_change_mid_chunk_draws_afresh_from_then() {
        let mut source = ArrivalSource::new(1, 0, RateCurve::new(1e6, &[]));
        let first: Vec<u64> = std::iter::from_fn(|| source.pop(WINDOW / 10)).collect();
        assert!(source.chunked.is_some());
        source.set_curve(WINDOW / 10, RateCurve::new(10.0, &[]));
        assert!(source.chunked.is_none());
        let rest = popped(&mut source, 10);
        assert!(first.len() > 50_000);
        assert!(rest.len() < 300, "{}", rest.len());
        assert!(rest.iter().all(|&t| t > WINDOW / 10));
    }
}
