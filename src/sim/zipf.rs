//! A fast exact Zipf sampler: P(k) ∝ k^−s for ranks k in 1..=n.
//!
//! One alias table (Walker 1977, Vose 1991) over two kinds of cells:
//!
//! - the `HEAD` most popular ranks, which carry most draws (69 % of them
//!   for s = 0.9 and n = 10^6; over 99 % for s ≥ 1.5), each with its
//!   exact weight k^−s: one 64-bit draw and one table read;
//! - the other ranks in blocks `lo..=hi` about 1/64 of a factor e wide
//!   (`hi ≈ lo · e^(1/64)`), each weighted by its size times its first
//!   rank's weight `lo^−s`. A rank k drawn uniformly in the block is kept
//!   with probability `(lo/k)^s`, so P(k) ∝ lo^−s · (lo/k)^s = k^−s;
//!   otherwise the draw starts again. Every rank of a block is kept with
//!   at least `(lo/hi)^s ≈ e^(−s/64)`, so a precomputed bound decides
//!   nearly every draw without a transcendental function, and rejection
//!   is rare (under 1 % for s ≤ 0.64).
//!
//! A tail draw is three 64-bit draws (the cell, the rank in its block, the
//! keep test), a head draw one. The blocks need no sum over the tail: n
//! may be as large as `u64::MAX` (about 2 100 blocks).
//!
//! This replaced rejection-inversion (Hörmann and Derflinger, ACM TOMACS
//! 1996) for the tail, which took a draw to choose head or tail and then
//! about one `exp` and one `ln` per tail draw: a key of `cheyenne-2026`
//! (10^7 ranks at s = 0.6, 87 % of the draws in the tail), hashed,
//! costs 136 instructions instead of 270 (BENCHMARKS.md).
//!
//! Exact up to the alias table's 32-bit probabilities (each cell's share
//! is rounded to a multiple of 2^−32) and f64 arithmetic.

use std::sync::Arc;

/// Ranks served one per alias cell (at most).
const HEAD: u64 = 1 << 16;

/// Tail blocks per factor e of rank.
const BLOCKS_PER_E: f64 = 64.0;

/// Ranks `lo..lo + size` of the tail, in one alias cell.
#[derive(Clone, Copy, Debug)]
struct Block {
    lo: u64,
    size: u64,
    /// A keep draw (of 2^64) below this keeps any rank of the block:
    /// `(lo/hi)^s`, rounded down.
    sure: u64,
}

/// Draws ranks 1..=n with P(k) ∝ k^−s.
#[derive(Clone, Debug)]
pub(crate) struct ZipfSampler {
    /// Per cell: the chance (in 2^−32) of keeping it, and the cell to
    /// take otherwise. Cells below `head` are ranks `cell + 1`; the others
    /// are `blocks[cell − head]`.
    alias: Arc<[(u32, u32)]>,
    head: u32,
    blocks: Arc<[Block]>,
    s: f64,
}

impl ZipfSampler {
    /// `n ≥ 1` ranks, exponent `s > 0`.
    pub(crate) fn new(n: u64, s: f64) -> Self {
        Self::with_blocks(n, s, BLOCKS_PER_E)
    }

    /// As `new`, with `per_e` tail blocks per factor e of rank.
    fn with_blocks(n: u64, s: f64, per_e: f64) -> Self {
        let h = n.min(HEAD);
        let blocks = tail_blocks(h + 1, n, s, per_e);
        let weights: Vec<f64> = (1..=h)
            .map(|k| weight(k as f64, s))
            .chain(
                blocks
                    .iter()
                    .map(|b| b.size as f64 * weight(b.lo as f64, s)),
            )
            .collect();
        Self {
            alias: alias_table(&weights).into(),
            head: h as u32,
            blocks: blocks.into(),
            s,
        }
    }

    /// A rank in 1..=n from 64-bit draws of `next` (one when the rank is
    /// in the head, three or more otherwise).
    #[inline]
    pub(crate) fn sample(&self, mut next: impl FnMut() -> u64) -> u64 {
        loop {
            let r = next();
            let cell = (((r >> 32) * self.alias.len() as u64) >> 32) as usize;
            let (keep, other) = self.alias[cell];
            let cell = if (r as u32) < keep {
                cell as u32
            } else {
                other
            };
            if cell < self.head {
                return u64::from(cell) + 1;
            }
            if let Some(k) = self.in_block(cell - self.head, &mut next) {
                return k;
            }
        }
    }

    /// A rank of tail block `b`, or `None` if the keep test rejects it.
    fn in_block(&self, b: u32, next: &mut impl FnMut() -> u64) -> Option<u64> {
        let block = self.blocks[b as usize];
        let k = block.lo + ((u128::from(next()) * u128::from(block.size)) >> 64) as u64;
        let u = next();
        if u < block.sure {
            return Some(k);
        }
        let keep = weight(k as f64 / block.lo as f64, self.s);
        let u01 = (u >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        (u01 < keep).then_some(k)
    }
}

/// `x^−s`.
fn weight(x: f64, s: f64) -> f64 {
    (-s * x.ln()).exp()
}

/// Blocks tiling ranks `a..=n` (none if `a > n`), each about `1/per_e`
/// of a factor e wide.
fn tail_blocks(a: u64, n: u64, s: f64, per_e: f64) -> Vec<Block> {
    let ratio = (1.0 / per_e).exp();
    let mut blocks = Vec::new();
    let mut lo = a;
    while lo <= n {
        let wide = (lo as f64 * ratio).floor();
        let hi = if wide >= n as f64 {
            n
        } else {
            (wide as u64).clamp(lo, n)
        };
        // Rounded down, and a hair below, so `sure` never keeps a rank
        // the exact test would reject.
        let least = weight(hi as f64 / lo as f64, s) * (1.0 - 1e-12);
        blocks.push(Block {
            lo,
            size: hi - lo + 1,
            sure: (least * 2f64.powi(64)) as u64,
        });
        if hi == n {
            break;
        }
        lo = hi + 1;
    }
    blocks
}

/// Vose's alias method over `weights`.
fn alias_table(weights: &[f64]) -> Vec<(u32, u32)> {
    let n = weights.len();
    // From the end: the head's ranks smallest weight first, for accuracy,
    // after the tail's blocks (whose weights grow with their rank for
    // s < 1, so this is not smallest first for them). A table of head
    // ranks alone is summed as before the tail joined it, and draws the
    // same bytes.
    let sum: f64 = weights.iter().rev().sum();
    let scale = n as f64 / sum;
    let mut prob: Vec<f64> = weights.iter().map(|w| w * scale).collect();
    let mut table: Vec<(u32, u32)> = (0..n as u32).map(|i| (u32::MAX, i)).collect();
    let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| prob[i] < 1.0);
    while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
        small.pop();
        table[s] = ((prob[s] * 2f64.powi(32)) as u32, l as u32);
        prob[l] -= 1.0 - prob[s];
        if prob[l] < 1.0 {
            large.pop();
            small.push(l);
        }
    }
    // What is left has probability 1 up to rounding: always kept.
    table
}

#[cfg(test)]
mod tests {
    use rand::RngCore;

    use super::*;
    use crate::sim::random::SplitMix;

    fn splitmix(seed: u64) -> impl FnMut() -> u64 {
        let mut rng = SplitMix(seed);
        move || rng.next_u64()
    }

    /// Exact probabilities of the bins [1], [2], [3..4], [5..8], … by summing.
    fn exact_bins(n: u64, s: f64) -> Vec<f64> {
        let mut bins = vec![0.0; 64];
        let mut total = 0.0;
        for k in (1..=n).rev() {
            let p = (k as f64).powf(-s);
            bins[(64 - (k - 1).leading_zeros()) as usize] += p;
            total += p;
        }
        bins.iter().map(|b| b / total).collect()
    }

    /// 2·10^6 draws of `z` (over 1..=n, exponent s) land in bins of
    /// doubling width as the exact distribution says: a bin of
    /// probability p has a standard deviation of sqrt(p/2e6); allow 5 of
    /// them plus 1e-4.
    fn assert_follows(z: &ZipfSampler, n: u64, s: f64, seed: u64) {
        let mut next = splitmix(seed);
        let draws = 2_000_000;
        let mut bins = vec![0u64; 64];
        for _ in 0..draws {
            let k = z.sample(&mut next);
            assert!((1..=n).contains(&k));
            bins[(64 - (k - 1).leading_zeros()) as usize] += 1;
        }
        for (b, (&got, want)) in bins.iter().zip(exact_bins(n, s)).enumerate() {
            let got = got as f64 / draws as f64;
            let tolerance = 5.0 * (want / draws as f64).sqrt() + 1e-4;
            assert!(
                (got - want).abs() <= tolerance,
                "n = {n}, s = {s}, bin {b}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn draws_follow_the_exact_distribution() {
        // The head, the boundary at 2^16 and the tail are all checked.
        for (n, s) in [
            (1_000_000u64, 0.9),
            (300_000, 1.0),
            (200_000, 1.7),
            (50, 0.6),
        ] {
            assert_follows(&ZipfSampler::new(n, s), n, s, n ^ s.to_bits());
        }
    }

    #[test]
    fn ranks_at_the_head_boundary_have_their_probabilities() {
        // Ranks 65 536 (last alias cell) and 65 537 (first tail rank) are
        // almost equally likely; with s = 0.1 they are hit often enough
        // to compare: 256 ranks on each side, about 5 000 draws each.
        let (n, s) = (200_000u64, 0.1);
        let z = ZipfSampler::new(n, s);
        let mut next = splitmix(9);
        let (mut below, mut above) = (0u64, 0u64);
        for _ in 0..4_000_000 {
            match z.sample(&mut next) {
                k if (HEAD - 255..=HEAD).contains(&k) => below += 1,
                k if (HEAD + 1..=HEAD + 256).contains(&k) => above += 1,
                _ => {}
            }
        }
        let ratio = above as f64 / below as f64;
        assert!((ratio - 1.0).abs() < 0.08, "{below} vs {above}");
    }

    #[test]
    fn blocks_tile_the_tail() {
        for (n, s) in [
            (HEAD + 1, 0.9),
            (HEAD + 2, 0.9),
            (10_000_000, 0.9),
            (1 << 40, 1.3),
            (u64::MAX - 1, 0.5),
            (u64::MAX, 2.0),
        ] {
            let blocks = tail_blocks(HEAD + 1, n, s, BLOCKS_PER_E);
            assert_eq!(blocks[0].lo, HEAD + 1);
            let last = blocks.last().expect("a tail");
            assert_eq!(last.lo + (last.size - 1), n, "n = {n}");
            for pair in blocks.windows(2) {
                assert_eq!(pair[0].lo + pair[0].size, pair[1].lo, "n = {n}");
            }
            let most = BLOCKS_PER_E * (n as f64 / (HEAD + 1) as f64).ln() + 2.0;
            assert!(blocks.len() as f64 <= most, "n = {n}: {}", blocks.len());
            for b in &blocks {
                assert!(b.size >= 1);
                let hi = b.lo + (b.size - 1);
                let least = (b.lo as f64 / hi as f64).powf(s);
                assert!((b.sure as f64) <= least * 2f64.powi(64), "{b:?}");
            }
        }
        assert!(tail_blocks(HEAD + 1, HEAD, 0.9, BLOCKS_PER_E).is_empty());
    }

    #[test]
    fn coarse_blocks_keep_ranks_by_their_weight() {
        // Blocks two factors of e wide: a block's last rank is kept with
        // (1/e^2)^s, so keeping every rank, or deciding on `sure` alone,
        // puts visibly too much (or too little) mass in the upper bins.
        for (n, s) in [(2_000_000u64, 0.9), (500_000, 1.7), (3_000_000, 0.3)] {
            let z = ZipfSampler::with_blocks(n, s, 0.5);
            assert!(z.blocks.len() > 1);
            assert_follows(&z, n, s, n ^ s.to_bits() ^ 1);
        }
    }
}
