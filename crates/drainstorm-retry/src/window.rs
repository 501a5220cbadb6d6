//! A sliding time window of two counters, in fixed buckets.
//!
//! The window `[now − span, now]` is cut into [`BUCKETS`] buckets of
//! `span / BUCKETS`; a bucket is cleared when time moves past it. Memory is
//! fixed whatever the traffic. Counts leave the window up to one bucket
//! early, never late.

use super::{SimDuration, SimTime};

/// Buckets per window: a tenth of the span each, as Finagle's and the SRE
/// book's windows are in spirit (fine enough to follow a load change,
/// coarse enough to cost nothing).
pub(crate) const BUCKETS: usize = 10;

#[derive(Clone, Debug)]
pub(crate) struct Window {
    width: u64,
    /// Index (time / width) of the newest bucket.
    head: u64,
    /// Where the newest bucket ends: until then, `advance` needs no division.
    head_end: u64,
    /// `head % BUCKETS`.
    slot: usize,
    counts: [[u64; 2]; BUCKETS],
    sums: [u64; 2],
}

impl Window {
    pub(crate) fn new(span: SimDuration) -> Self {
        Self {
            width: (span.0 / BUCKETS as u64).max(1),
            head: 0,
            head_end: (span.0 / BUCKETS as u64).max(1),
            slot: 0,
            counts: [[0; 2]; BUCKETS],
            sums: [0; 2],
        }
    }

    #[inline]
    fn advance(&mut self, now: SimTime) {
        if now.0 < self.head_end {
            return;
        }
        self.rotate(now);
    }

    #[cold]
    fn rotate(&mut self, now: SimTime) {
        let index = now.0 / self.width;
        self.head_end = index.saturating_add(1).saturating_mul(self.width);
        let stale = (index - self.head).min(BUCKETS as u64);
        for k in 1..=stale {
            let b = ((self.head + k) % BUCKETS as u64) as usize;
            for c in 0..2 {
                self.sums[c] -= self.counts[b][c];
                self.counts[b][c] = 0;
            }
        }
        self.head = index;
        self.slot = (index % BUCKETS as u64) as usize;
    }

    /// Adds `n` to counter `c` (0 or 1) at `now`.
    pub(crate) fn add(&mut self, now: SimTime, c: usize, n: u64) {
        self.advance(now);
        self.counts[self.slot][c] += n;
        self.sums[c] += n;
    }

    /// The two sums over the window ending at `now`.
    pub(crate) fn sums(&mut self, now: SimTime) -> [u64; 2] {
        self.advance(now);
        self.sums
    }

    pub(crate) fn clear(&mut self) {
        self.counts = [[0; 2]; BUCKETS];
        self.sums = [0; 2];
    }
}
