//! Maglev hashing.
//!
//! Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
//! Balancer", NSDI 2016, §3.4. Every backend gets a permutation of the
//! table positions, `(offset + j·skip) mod M` with `offset` and `skip` drawn
//! from two hashes of its id; backends take turns claiming the next free
//! position of their permutation until all `M` positions are owned. A pick
//! is one hash, one multiply-shift range reduction and one table read: O(1).
//!
//! - `M` must be prime so that every `skip` generates a full permutation.
//!   The default, 65537, is the paper's smaller example size; the paper
//!   advises `M > 100·n` for balance within about 1 %.
//! - Weights follow Envoy's weighted Maglev: in every round a backend earns
//!   `w / w_max` of a turn, so shares are proportional to weight.
//! - Backends take turns in id order, so the table depends only on the
//!   member set and weights, not on the order they were listed in: removing
//!   a backend and adding it back restores the original table.
//! - Disruption: removing 1 of *n* backends reassigns its `M/n` positions
//!   plus others that change hands as the turn order shifts (the paper's
//!   Figure 12). Measured with `M = 65537` (keys moved, in units of `1/n`):
//!   1.01 at n = 8, 1.33 at n = 64, 2.8 at n = 257, 6.7 at n = 1024. Keep
//!   `M ≥ 1000·n` for a removal to move under `2/n` of the keys;
//!   `tests/balancer_props.rs` asserts these bounds.
//!
//! Building costs about `M·ln M` probes; a bitmap of claimed positions
//! (8 KiB for the default `M`) keeps each probe in L1 cache. Table entries
//! are the backends' ids (256 KiB for the default `M`), so a pick needs no
//! second lookup.

use super::hash::{mix64, reduce};
use super::members::Members;
use super::pool::sealed;
use super::{Backend, BackendId, BalancerError, Cursor, Pool};

/// Parameters of a [`Maglev`] balancer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaglevParams {
    /// Table size `M`: a prime up to 16 777 259 (the first prime above
    /// 2^24). Default 65537.
    pub table_size: u32,
}

impl Default for MaglevParams {
    fn default() -> Self {
        Self { table_size: 65537 }
    }
}

const MAX_TABLE_SIZE: u32 = 16_777_259;

fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2u32;
    while d.saturating_mul(d) <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 1;
    }
    true
}

/// The Maglev lookup table (see the [module docs](self)).
#[derive(Debug)]
pub struct MaglevTable {
    table: Box<[BackendId]>,
}

/// Maglev consistent hashing over a replaceable backend set.
pub type Maglev = Pool<MaglevTable>;

impl Pool<MaglevTable> {
    /// Builds a Maglev balancer with the default table size, 65537.
    pub fn new(backends: &[Backend]) -> Result<Self, BalancerError> {
        Self::with_params(backends, MaglevParams::default(), 0)
    }

    /// Builds a Maglev balancer with table size `table_size` (a prime).
    pub fn with_table_size(backends: &[Backend], table_size: u32) -> Result<Self, BalancerError> {
        Self::with_params(backends, MaglevParams { table_size }, 0)
    }
}

impl MaglevTable {
    /// The backend owning each table position.
    pub fn entries(&self) -> &[BackendId] {
        &self.table
    }
}

impl sealed::Strategy for MaglevTable {
    type Params = MaglevParams;
    const NAME: &'static str = "maglev";

    fn validate(params: &MaglevParams) -> Result<(), BalancerError> {
        if !(params.table_size <= MAX_TABLE_SIZE && is_prime(params.table_size)) {
            return Err(BalancerError::InvalidParameter {
                name: "table_size",
                value: params.table_size.to_string(),
                allowed: "a prime number up to 16777259 (default 65537)",
            });
        }
        Ok(())
    }

    fn build(members: &Members, params: &MaglevParams) -> Self {
        let m = u64::from(params.table_size);
        let mut order: Vec<u32> = members.active().to_vec();
        if order.is_empty() {
            return Self {
                table: Box::new([]),
            };
        }
        order.sort_unstable_by_key(|&i| members.id(i as usize));
        struct Turn {
            id: BackendId,
            weight: u64,
            credit: u64,
            position: u64,
            skip: u64,
        }
        let mut turns: Vec<Turn> = order
            .iter()
            .map(|&i| {
                let id = u64::from(members.id(i as usize).0);
                Turn {
                    id: members.id(i as usize),
                    weight: u64::from(members.weight(i as usize)),
                    credit: 0,
                    position: mix64(id ^ 0x6d61_676c_6576_3031) % m,
                    skip: mix64(id ^ 0x6d61_676c_6576_3032) % (m - 1) + 1,
                }
            })
            .collect();
        let max_weight = turns.iter().map(|t| t.weight).max().unwrap_or(1);
        let mut table = vec![BackendId(0); m as usize];
        let mut claimed = vec![0u64; (m as usize).div_ceil(64)];
        let mut filled = 0u64;
        'rounds: loop {
            for turn in &mut turns {
                turn.credit += turn.weight;
                if turn.credit < max_weight {
                    continue;
                }
                turn.credit -= max_weight;
                let mut c = turn.position;
                while claimed[(c >> 6) as usize] & (1 << (c & 63)) != 0 {
                    c += turn.skip;
                    if c >= m {
                        c -= m;
                    }
                }
                claimed[(c >> 6) as usize] |= 1 << (c & 63);
                table[c as usize] = turn.id;
                turn.position = c;
                filled += 1;
                if filled == m {
                    break 'rounds;
                }
            }
        }
        Self {
            table: table.into(),
        }
    }

    #[inline]
    fn pick(&self, _: &Members, key: u64, _: &mut Cursor) -> Option<BackendId> {
        if self.table.is_empty() {
            return None;
        }
        Some(self.table[reduce(mix64(key), self.table.len())])
    }
}

#[cfg(test)]
mod tests {
    use super::is_prime;

    #[test]
    fn primes() {
        assert!(is_prime(65537));
        assert!(is_prime(16_777_259));
        assert!(!is_prime(65536));
        assert!(!is_prime(1));
        assert!(is_prime(2));
    }
}
