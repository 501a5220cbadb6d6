//! Invariants of how each balancer picks — smooth weighted round-robin,
//! least-connections, power of two choices, least-request, peak-EWMA —
//! checked with proptest and large samples (who may be picked:
//! `tests/membership_props.rs`).

use drainstorm::balancer::{
    Backend, BackendId, Balancer, LeastConn, LeastRequest, LeastRequestParams, PeakEwma,
    PeakEwmaParams, PowerOfTwo, SmoothWrr, peak_ewma_update,
};
use proptest::prelude::*;

fn backends(weights: &[u32]) -> Vec<Backend> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| Backend::new(i as u32, w))
        .collect()
}

/// Checks |count·W − t·w| < W for every backend after every pick.
fn assert_smooth(weights: &[u64], picks: &[u32]) {
    let total: u64 = weights.iter().sum();
    let mut count = vec![0u64; weights.len()];
    for (t, &p) in picks.iter().enumerate() {
        count[p as usize] += 1;
        let t = t as u128 + 1;
        for (i, (&c, &w)) in count.iter().zip(weights).enumerate() {
            let lag = (u128::from(c) * u128::from(total)).abs_diff(t * u128::from(w));
            assert!(
                lag < u128::from(total),
                "backend {i} (w={w}) has {c} picks after {t} (weights {weights:?})"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn wrr_prefix_and_cycle_bounds(weights in prop::collection::vec(0u32..40, 1..12)) {
        prop_assume!(weights.iter().any(|&w| w > 0));
        let lb = SmoothWrr::new(&backends(&weights)).unwrap();
        let mut h = lb.handle();
        let g = weights.iter().fold(0u32, |a, &b| gcd(a, b));
        let reduced: Vec<u64> = weights.iter().map(|&w| u64::from(w / g)).collect();
        let cycle: u64 = reduced.iter().sum();
        let picks: Vec<u32> = (0..cycle * 3).map(|_| h.pick(0).unwrap().0).collect();
        assert_smooth(&reduced, &picks[..cycle as usize]);
        for chunk in picks.chunks(cycle as usize) {
            let mut count = vec![0u64; weights.len()];
            for &p in chunk { count[p as usize] += 1; }
            prop_assert_eq!(&count, &reduced);
        }
    }

    #[test]
    fn wrr_large_weights_do_not_overflow(
        weights in prop::collection::vec(prop_oneof![Just(0u32), 1u32..10, (u32::MAX - 1000)..=u32::MAX], 1..6)
    ) {
        prop_assume!(weights.iter().any(|&w| w > 0));
        let lb = SmoothWrr::new(&backends(&weights)).unwrap();
        let mut h = lb.handle();
        for _ in 0..10_000 {
            let id = h.pick(0).unwrap();
            prop_assert!(weights[id.0 as usize] > 0);
        }
    }

    #[test]
    fn least_conn_minimises_load_per_weight(
        // Small weights take the exact-score scan; huge ones (lcm beyond
        // 32 bits) the cross-multiplication scan.
        setup in prop::collection::vec(
            (prop_oneof![0u32..5, (u32::MAX - 100)..=u32::MAX], 0u64..20), 1..20)
    ) {
        let weights: Vec<u32> = setup.iter().map(|s| s.0).collect();
        let lb = LeastConn::new(&backends(&weights)).unwrap();
        for (i, &(_, load)) in setup.iter().enumerate() {
            for _ in 0..load { lb.start(BackendId(i as u32)); }
        }
        match lb.pick(0) {
            None => prop_assert!(weights.iter().all(|&w| w == 0)),
            Some(id) => {
                let (w, l) = setup[id.0 as usize];
                prop_assert!(w > 0);
                for &(w2, l2) in setup.iter().filter(|s| s.0 > 0) {
                    // l/w <= l2/w2
                    prop_assert!(u128::from(w2) * u128::from(l) <= u128::from(w) * u128::from(l2));
                }
            }
        }
    }

    #[test]
    fn least_conn_scan_spans_chunks_drains_and_rotation(
        // Hundreds of backends: counters span several 256-slot chunks;
        // drained backends split the scan into runs; equal and mixed
        // weights give different score multipliers.
        n in 250usize..700,
        equal in any::<bool>(),
        seed: u64,
    ) {
        let mut x = seed | 1;
        let mut next = move || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
        let weights: Vec<u32> = (0..n)
            .map(|_| match next() % 8 { 0 => 0, r if !equal => (r % 4) as u32 + 1, _ => 2 })
            .collect();
        let loads: Vec<u64> = (0..n).map(|_| 1 + next() % 9).collect();
        let lb = LeastConn::new(&backends(&weights)).unwrap();
        for (i, &l) in loads.iter().enumerate() {
            for _ in 0..l { lb.start(BackendId(i as u32)); }
        }
        let min = |w: &[u32], l: &[u64]| {
            w.iter().zip(l).filter(|p| *p.0 > 0).map(|(&w, &l)| (l, w))
                .min_by(|a, b| (u128::from(a.0) * u128::from(b.1)).cmp(&(u128::from(b.0) * u128::from(a.1))))
        };
        let mut loads = loads;
        let mut h = lb.handle();
        for _ in 0..50 {
            match h.pick(0) {
                None => prop_assert!(weights.iter().all(|&w| w == 0)),
                Some(id) => {
                    let i = id.0 as usize;
                    let (bl, bw) = min(&weights, &loads).unwrap();
                    prop_assert!(weights[i] > 0);
                    // loads[i] / weights[i] == bl / bw
                    prop_assert_eq!(u128::from(loads[i]) * u128::from(bw), u128::from(bl) * u128::from(weights[i]));
                    h.start(id);
                    loads[i] += 1;
                }
            }
        }
    }

    #[test]
    fn p2c_never_takes_the_more_loaded_candidate(
        loads in prop::collection::vec(0u64..50, 2..30), seed: u64
    ) {
        let weights = vec![1u32; loads.len()];
        let lb = PowerOfTwo::with_seed(&backends(&weights), seed).unwrap();
        for (i, &l) in loads.iter().enumerate() {
            for _ in 0..l { lb.start(BackendId(i as u32)); }
        }
        // The chosen backend is never the single most loaded one unless all
        // others tie with it, and never more loaded than the least loaded
        // backend of a fresh pair: check via counts over many picks.
        let max = *loads.iter().max().unwrap();
        let maxes = loads.iter().filter(|&&l| l == max).count();
        let mut h = lb.handle();
        for _ in 0..200 {
            let id = h.pick(0).unwrap();
            if maxes == 1 && loads[id.0 as usize] == max {
                prop_assert!(false, "picked the strictly most loaded backend");
            }
        }
    }

    #[test]
    fn least_request_dynamic_weight_is_envoys_formula(
        weight in 0u32..=u32::MAX,
        active in 0u32..=u32::MAX,
        bias in prop_oneof![Just(0.0f64), Just(1.0), 0.0f64..=100.0],
    ) {
        let p = LeastRequestParams { active_request_bias: bias, ..Default::default() };
        // weight / (active + 1)^bias, computed as Envoy writes it.
        let reference = f64::from(weight) / (f64::from(active) + 1.0).powf(bias);
        let got = p.effective_weight(weight, active);
        prop_assert!(
            (got - reference).abs() <= reference * 1e-12,
            "{got} against {reference}"
        );
    }

    #[test]
    fn least_request_never_takes_the_strictly_most_loaded(
        loads in prop::collection::vec(0u64..50, 2..30),
        choices in 2u32..=8,
        seed: u64,
    ) {
        let lb = LeastRequest::with_params(
            &backends(&vec![2u32; loads.len()]),
            LeastRequestParams { choice_count: choices, ..Default::default() },
            seed,
        ).unwrap();
        for (i, &l) in loads.iter().enumerate() {
            for _ in 0..l { lb.start(BackendId(i as u32)); }
        }
        let max = *loads.iter().max().unwrap();
        let min = *loads.iter().min().unwrap();
        let strict = loads.iter().filter(|&&l| l == max).count() == 1;
        let mut h = lb.handle();
        for _ in 0..300 {
            let l = loads[h.pick(0).unwrap().0 as usize];
            prop_assert!(!(strict && l == max), "picked the strictly most loaded backend");
            if choices as usize >= loads.len() {
                // Every backend is a choice: the pick is a least loaded one.
                prop_assert_eq!(l, min);
            }
        }
    }

    #[test]
    fn least_request_shares_unequal_weights_by_dynamic_weight(
        weights in prop::collection::vec(0u32..6, 2..6),
        loads in prop::collection::vec(0u32..6, 6),
        bias in prop_oneof![Just(0.0f64), Just(1.0), 0.0f64..3.0],
        seed: u64,
    ) {
        // Active weights that differ (equal ones take two choices).
        let active: Vec<u32> = weights.iter().copied().filter(|&w| w > 0).collect();
        prop_assume!(active.iter().any(|&w| w != active[0]));
        let params = LeastRequestParams { active_request_bias: bias, ..Default::default() };
        let lb = LeastRequest::with_params(&backends(&weights), params, seed).unwrap();
        let mut expected = Vec::new();
        for (i, &w) in weights.iter().enumerate() {
            for _ in 0..loads[i] { lb.start(BackendId(i as u32)); }
            expected.push(if w == 0 { 0.0 } else { params.effective_weight(w, loads[i]) });
        }
        let total: f64 = expected.iter().sum();
        let picks = 20_000u32;
        let mut seen = vec![0u32; weights.len()];
        let mut h = lb.handle();
        for _ in 0..picks { seen[h.pick(0).unwrap().0 as usize] += 1; }
        for (i, (&s, &e)) in seen.iter().zip(&expected).enumerate() {
            let p = e / total;
            // Six standard deviations of a binomial share, and drained
            // backends never.
            let sd = (p * (1.0 - p) / f64::from(picks)).sqrt();
            let share = f64::from(s) / f64::from(picks);
            prop_assert!(
                (share - p).abs() <= 6.0 * sd + 1e-9,
                "backend {}: share {} against {} (weights {:?}, loads {:?})", i, share, p, weights, loads
            );
        }
    }

    #[test]
    fn peak_ewma_takes_peaks_at_once_and_moves_towards_the_rest_with_time(
        estimate in 0.0f64..1e10,
        latency in 0.0f64..1e10,
        elapsed in 0u64..100_000_000_000,
        more in 1u64..1_000_000_000,
        decay in 1e6f64..1e11,
    ) {
        let next = peak_ewma_update(estimate, latency, elapsed, decay);
        if latency > estimate {
            prop_assert_eq!(next, latency);
        } else {
            // Between the two, weighted as exp(-elapsed / decay) says.
            prop_assert!(latency - 1e-6 <= next && next <= estimate + 1e-6);
            let w = (-(elapsed as f64) / decay).exp();
            let reference = w * estimate + (1.0 - w) * latency;
            prop_assert!((next - reference).abs() <= 1e-9 * estimate.max(1.0));
            // Later is nearer the new latency.
            let later = peak_ewma_update(estimate, latency, elapsed + more, decay);
            prop_assert!(later <= next + 1e-6);
        }
    }

    #[test]
    fn peak_ewma_never_takes_the_strictly_most_costly(
        latencies_ms in prop::collection::vec(1u64..500, 2..20),
        seed: u64,
    ) {
        let n = latencies_ms.len();
        let lb = PeakEwma::with_params(
            &backends(&vec![1u32; n]),
            PeakEwmaParams { decay_ms: 1000.0, ..Default::default() },
            seed,
        ).unwrap();
        // Every backend answers once, at the same instant, so their costs
        // (nothing in flight) are their latencies.
        for (i, &ms) in latencies_ms.iter().enumerate() {
            lb.start(BackendId(i as u32));
            lb.finish_observed(BackendId(i as u32), ms * 1_000_000, 5_000_000_000);
        }
        let max = *latencies_ms.iter().max().unwrap();
        let strict = latencies_ms.iter().filter(|&&l| l == max).count() == 1;
        let mut h = lb.handle();
        for _ in 0..300 {
            let l = latencies_ms[h.pick(0).unwrap().0 as usize];
            prop_assert!(!(strict && l == max), "picked the strictly slowest backend");
        }
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[test]
fn wrr_matches_nginx_example() {
    let lb = SmoothWrr::new(&backends(&[5, 1, 1])).unwrap();
    let picks: Vec<u32> = (0..14).map(|_| lb.pick(0).unwrap().0).collect();
    assert_eq!(picks, [0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0]);
}

#[test]
fn wrr_pfair_builder_for_large_cycles_keeps_the_bound() {
    // W·n above 2^18 selects the Pfair builder: 64 backends with W ≈ 400k.
    let weights: Vec<u32> = (0..64).map(|i| 5000 + 97 * i + (i % 3)).collect();
    let lb = SmoothWrr::new(&backends(&weights)).unwrap();
    let mut h = lb.handle();
    let w64: Vec<u64> = weights.iter().map(|&w| u64::from(w)).collect();
    let total: u64 = w64.iter().sum();
    let picks: Vec<u32> = (0..total).map(|_| h.pick(0).unwrap().0).collect();
    assert_smooth(&w64, &picks);
}

#[test]
fn wrr_scaled_table_error_is_within_the_documented_bound() {
    // Sum far above 2^20: weights are scaled, error < 2n/2^20 of each share.
    let weights = [u32::MAX, u32::MAX / 3, 7_000_000, 1];
    let lb = SmoothWrr::new(&backends(&weights)).unwrap();
    let mut h = lb.handle();
    let n = 1 << 21;
    let mut count = [0u64; 4];
    for _ in 0..n {
        count[h.pick(0).unwrap().0 as usize] += 1;
    }
    let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
    for (i, &w) in weights.iter().enumerate() {
        let share = count[i] as f64 / n as f64;
        let exact = f64::from(w) / total;
        assert!(
            (share - exact).abs() < 8.0 / (1 << 20) as f64,
            "backend {i}: {share} vs {exact}"
        );
        assert!(count[i] > 0, "a backend with weight > 0 must be picked");
    }
}

#[test]
fn least_conn_ties_rotate() {
    let lb = LeastConn::new(&backends(&[1, 1, 1, 1])).unwrap();
    let mut h = lb.handle();
    let picks: Vec<u32> = (0..8).map(|_| h.pick(0).unwrap().0).collect();
    assert_eq!(picks, [0, 1, 2, 3, 0, 1, 2, 3]);
}

#[test]
fn least_conn_all_drained_is_none() {
    let lb = LeastConn::new(&backends(&[0, 0, 0])).unwrap();
    assert_eq!(lb.pick(0), None);
    assert_eq!(lb.handle().pick(0), None);
}

#[test]
fn p2c_starves_a_hot_backend() {
    let lb = PowerOfTwo::with_seed(&backends(&[1; 10]), 3).unwrap();
    for _ in 0..1000 {
        lb.start(BackendId(0));
    }
    let mut h = lb.handle();
    let hot = (0..100_000)
        .filter(|_| h.pick(0) == Some(BackendId(0)))
        .count();
    assert_eq!(
        hot, 0,
        "the hot backend is always the worse of any pair it is in"
    );
}

#[test]
fn p2c_respects_weights() {
    // Backend 0 has weight 4 and 4 in flight; 1 has weight 1 and 2 in flight:
    // 4/4 < 2/1, so 0 wins every pair.
    let lb = PowerOfTwo::with_seed(&[Backend::new(0, 4), Backend::new(1, 1)], 9).unwrap();
    for _ in 0..4 {
        lb.start(BackendId(0));
    }
    lb.start(BackendId(1));
    lb.start(BackendId(1));
    let mut h = lb.handle();
    assert!((0..1000).all(|_| h.pick(0) == Some(BackendId(0))));
}
