//! Invariants of who a balancer may pick — subsets, outlier ejection,
//! reported weights — and of the hash balancers' balance and stability,
//! checked with proptest and large samples (how each picks:
//! `tests/balancer_props.rs`).

use std::collections::HashMap;

use drainstorm::balancer::{
    Backend, BackendId, Balancer, BoundedLoad, FailurePercentageParams, Maglev, OrcaParams,
    OrcaWeights, OutlierDetector, OutlierParams, Ring, SuccessRateParams, deterministic_subset,
    mix64, random_subset,
};
use proptest::prelude::*;

fn backends(weights: &[u32]) -> Vec<Backend> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| Backend::new(i as u32, w))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn subsets_are_of_equal_size_distinct_and_deterministic_per_client(
        n in 0u32..200, size in 0usize..40, client: u64, seed: u64,
    ) {
        let set = backends(&vec![1; n as usize]);
        let mut reversed = set.clone();
        reversed.reverse();
        for subset in [
            deterministic_subset(&set, client, size, seed),
            random_subset(&set, client, size),
        ] {
            prop_assert_eq!(subset.len(), size.min(n as usize));
            let distinct: std::collections::HashSet<_> = subset.iter().collect();
            prop_assert_eq!(distinct.len(), subset.len());
            prop_assert!(subset.iter().all(|id| id.0 < n));
        }
        prop_assert_eq!(
            deterministic_subset(&set, client, size, seed),
            deterministic_subset(&reversed, client, size, seed)
        );
        prop_assert_eq!(random_subset(&set, client, size), random_subset(&reversed, client, size));
    }

    #[test]
    fn deterministic_subsets_give_every_backend_one_client_per_round(
        per_round in 1u32..20, size in 1u32..10, rounds in 1u64..6, first_round in 0u64..1000, seed: u64,
    ) {
        // n = per_round · size backends: each whole round of clients
        // covers every backend exactly once.
        let set = backends(&vec![1; (per_round * size) as usize]);
        let mut clients_of = vec![0u64; set.len()];
        let first = first_round * u64::from(per_round);
        for client in first..first + rounds * u64::from(per_round) {
            for id in deterministic_subset(&set, client, size as usize, seed) {
                clients_of[id.0 as usize] += 1;
            }
        }
        prop_assert!(clients_of.iter().all(|&c| c == rounds), "{:?}", clients_of);
    }

    #[test]
    fn a_random_subset_moves_only_when_it_must(
        n in 2u32..150, size in 1usize..30, client: u64, leaving in 0u32..150,
    ) {
        let set = backends(&vec![1; n as usize]);
        let leaving = BackendId(leaving % n);
        let before = random_subset(&set, client, size);
        let rest: Vec<Backend> = set.iter().copied().filter(|b| b.id != leaving).collect();
        let after = random_subset(&rest, client, size);
        if before.contains(&leaving) {
            // One place changes hands: the others stay.
            let kept = before.iter().filter(|id| after.contains(id)).count();
            prop_assert_eq!(kept, before.len() - 1);
        } else {
            prop_assert_eq!(after, before);
        }
    }

    #[test]
    fn outlier_ejection_never_exceeds_its_share_and_lasts_base_times_k(
        n in 1usize..40,
        percent in 0u32..=100,
        consecutive in 1u32..5,
        sr in (1u32..6, 1u32..12, 0u32..3000, prop::bool::ANY),
        fp in (0u32..=100, 1u32..6, 1u32..12, prop::bool::ANY),
        answers in prop::collection::vec(
            (0usize..40, prop::bool::weighted(0.3), 0u64..3_000, prop::bool::weighted(0.05)),
            1..600,
        ),
    ) {
        let params = OutlierParams {
            consecutive_errors: consecutive,
            base_ejection_ns: 1_000,
            max_ejection_ns: 3_500,
            max_ejection_percent: percent,
            success_rate: SuccessRateParams {
                minimum_hosts: sr.0,
                request_volume: sr.1,
                stdev_factor: sr.2,
                enforcing: if sr.3 { 100 } else { 0 },
            },
            failure_percentage: FailurePercentageParams {
                threshold: fp.0,
                minimum_hosts: fp.1,
                request_volume: fp.2,
                enforcing: if fp.3 { 100 } else { 0 },
            },
            ..OutlierParams::default()
        };
        let mut od = OutlierDetector::new(n, params).unwrap();
        let allowed = (n * percent as usize / 100).max(1);
        prop_assert_eq!(od.allowed(), allowed);
        // A reference: per backend, errors in a row, its multiplier, until,
        // and the answers and errors since the last sweep.
        let mut errors = vec![0u32; n];
        let mut times = vec![0u64; n];
        let mut until = vec![0u64; n];
        let mut seen = vec![(0u32, 0u32); n];
        let mut now = 0u64;
        let eject = |i: usize, now: u64, times: &mut [u64], until: &mut [u64], errors: &mut [u32]| {
            if until[i] != 0 || until.iter().filter(|&&u| u != 0).count() >= allowed {
                return false;
            }
            times[i] += 1;
            until[i] = now + (1_000 * times[i]).min(3_500);
            errors[i] = 0;
            true
        };
        for (b, ok, step, sweep) in answers {
            now += step;
            od.release(now);
            for u in until.iter_mut() {
                if *u != 0 && *u <= now { *u = 0; }
            }
            if sweep {
                for i in 0..n {
                    if until[i] == 0 { times[i] = times[i].saturating_sub(1); }
                }
                let mut expect = Vec::new();
                let rates: Vec<(usize, f64)> = (0..n)
                    .filter(|&i| sr.3 && until[i] == 0 && seen[i].0 >= sr.1)
                    .map(|i| (i, 100.0 * f64::from(seen[i].0 - seen[i].1) / f64::from(seen[i].0)))
                    .collect();
                if sr.3 && rates.len() >= sr.0 as usize {
                    let k = rates.len() as f64;
                    let mean = rates.iter().map(|r| r.1).sum::<f64>() / k;
                    let var = rates.iter().map(|r| (r.1 - mean).powi(2)).sum::<f64>() / k;
                    let floor = mean - f64::from(sr.2) / 1000.0 * var.sqrt();
                    for (i, rate) in rates {
                        if rate < floor && eject(i, now, &mut times, &mut until, &mut errors) {
                            expect.push(i);
                        }
                    }
                }
                let enough = |i: usize, until: &[u64]| until[i] == 0 && seen[i].0 >= fp.2;
                if fp.3 && (0..n).filter(|&i| enough(i, &until)).count() >= fp.1 as usize {
                    for (i, &(answered, failed)) in seen.iter().enumerate() {
                        if enough(i, &until)
                            && u64::from(failed) * 100 >= u64::from(fp.0) * u64::from(answered)
                            && eject(i, now, &mut times, &mut until, &mut errors)
                        {
                            expect.push(i);
                        }
                    }
                }
                expect.sort_unstable();
                prop_assert_eq!(od.sweep(now), expect);
                seen.iter_mut().for_each(|s| *s = (0, 0));
            } else {
                let b = b % n;
                let ejected = od.record(b, ok, now);
                seen[b].0 += 1;
                let expect = if ok {
                    errors[b] = 0;
                    false
                } else {
                    seen[b].1 += 1;
                    errors[b] += 1;
                    errors[b] >= consecutive && eject(b, now, &mut times, &mut until, &mut errors)
                };
                prop_assert_eq!(ejected, expect);
            }
            prop_assert!(od.ejected() <= allowed);
            for (i, &u) in until.iter().enumerate() {
                prop_assert_eq!(od.is_ejected(i), u != 0);
                prop_assert_eq!(od.ejected_until(i), (u != 0).then_some(u));
                prop_assert_eq!(u64::from(od.multiplier(i)), times[i]);
            }
            let next = until.iter().copied().filter(|&u| u != 0).min();
            prop_assert_eq!(od.next_release(), next);
        }
    }

    #[test]
    fn reported_weights_follow_grpcs_formula_and_keep_their_order(
        reports in prop::collection::vec(
            (0usize..12, 0.0f64..500.0, 0.0f64..50.0, 0.0f64..2.0, 0u64..40),
            1..80,
        ),
        max in 1u32..1000,
    ) {
        const S: u64 = 1_000_000_000;
        let n = 12;
        let mut w = OrcaWeights::new(n, OrcaParams::default()).unwrap();
        // A reference: per backend, its weight and first and last report.
        let mut reference: Vec<Option<(f64, u64, u64)>> = vec![None; n];
        let mut now = 0u64;
        for (b, qps, eps, util, step) in reports {
            now += step * S;
            let used = w.report(b, qps, eps, util, now);
            prop_assert_eq!(used, qps > 0.0 && util > 0.0);
            if used {
                let weight = qps / (util + eps / qps);
                let since = match reference[b] {
                    Some((_, since, last)) if now - last <= 180 * S => since,
                    _ => now,
                };
                reference[b] = Some((weight, since, now));
            }
            let valid: Vec<Option<f64>> = reference
                .iter()
                .map(|r| r.and_then(|(w, since, last)| {
                    (now - last <= 180 * S && now - since >= 10 * S).then_some(w)
                }))
                .collect();
            for (i, v) in valid.iter().enumerate() {
                prop_assert_eq!(w.weight(i, now), *v);
            }
            let table = w.weights(now, max);
            prop_assert!(table.iter().all(|&x| (1..=max).contains(&x)));
            // A larger valid weight never scales to a smaller whole one.
            for i in 0..n {
                for j in 0..n {
                    if let (Some(a), Some(b)) = (valid[i], valid[j]) && a > b {
                        prop_assert!(table[i] >= table[j]);
                    }
                }
            }
        }
    }

    #[test]
    fn hashing_is_stable_and_minimal_on_removal(n in 2usize..40, removed_frac in 0.0f64..1.0) {
        let removed = ((n as f64) * removed_frac) as u32 % n as u32;
        let all = backends(&vec![1; n]);
        let fewer: Vec<Backend> = all.iter().copied().filter(|b| b.id.0 != removed).collect();
        for lb in [Box::new(Ring::new(&all).unwrap()) as Box<dyn Balancer>,
                   Box::new(BoundedLoad::new(&all).unwrap())] {
            let before: Vec<BackendId> = (0..2000u64).map(|k| lb.pick(k).unwrap()).collect();
            prop_assert_eq!(&before, &(0..2000u64).map(|k| lb.pick(k).unwrap()).collect::<Vec<_>>());
            lb.update(&fewer).unwrap();
            for (k, &b) in before.iter().enumerate() {
                let now = lb.pick(k as u64).unwrap();
                if b.0 != removed { prop_assert_eq!(now, b); } else { prop_assert_ne!(now, b); }
            }
            lb.update(&all).unwrap();
            let back: Vec<BackendId> = (0..2000u64).map(|k| lb.pick(k).unwrap()).collect();
            prop_assert_eq!(&before, &back);
        }
    }
}

fn max_over_mean(lb: &dyn Balancer, backends: usize, keys: u64) -> f64 {
    let mut count = vec![0u64; backends];
    for k in 0..keys {
        count[lb.pick(mix64(k ^ 0xfeed)).unwrap().0 as usize] += 1;
    }
    let mean = keys as f64 / backends as f64;
    *count.iter().max().unwrap() as f64 / mean
}

const KEYS: u64 = if cfg!(debug_assertions) {
    200_000
} else {
    1_000_000
};

#[test]
fn ring_balance_64_equal_backends() {
    let lb = Ring::new(&backends(&[1; 64])).unwrap();
    let r = max_over_mean(&lb, 64, KEYS);
    assert!(r <= 1.35, "ring max/mean = {r}");
}

#[test]
fn maglev_balance_64_equal_backends() {
    let lb = Maglev::new(&backends(&[1; 64])).unwrap();
    let r = max_over_mean(&lb, 64, KEYS);
    assert!(r <= 1.05, "maglev max/mean = {r}");
}

#[test]
fn maglev_removal_moves_few_keys_and_readding_restores() {
    // Measured disruption (keys moved × n, mean over removed backends, M =
    // 65537): 1.01 at n = 8, 1.33 at 64, 2.76 at 257, 6.7 at 1024. It grows
    // as M/n shrinks, as in Eisenbud et al. Figure 12; hence the bounds.
    for (n, bound) in [(8usize, 2.0), (64, 2.0), (257, 4.0), (1024, 8.0)] {
        let all = backends(&vec![1; n]);
        let lb = Maglev::new(&all).unwrap();
        let keys = 100_000u64;
        let before: Vec<BackendId> = (0..keys).map(|k| lb.pick(k).unwrap()).collect();
        let removed = (n / 2) as u32;
        let fewer: Vec<Backend> = all.iter().copied().filter(|b| b.id.0 != removed).collect();
        lb.update(&fewer).unwrap();
        let moved = (0..keys)
            .filter(|&k| lb.pick(k).unwrap() != before[k as usize])
            .count() as f64
            / keys as f64;
        assert!(moved <= bound / n as f64, "n={n}: {moved} of keys moved");
        let mut reordered = all.clone();
        reordered.reverse();
        lb.update(&reordered).unwrap();
        assert!((0..keys).all(|k| lb.pick(k).unwrap() == before[k as usize]));
    }
}

#[test]
fn weights_shape_hash_shares() {
    let weights = [1u32, 2, 3, 4];
    let total = 10.0;
    for lb in [
        Box::new(Ring::new(&backends(&weights)).unwrap()) as Box<dyn Balancer>,
        Box::new(Maglev::new(&backends(&weights)).unwrap()),
    ] {
        let mut count: HashMap<BackendId, u64> = HashMap::new();
        for k in 0..KEYS {
            *count.entry(lb.pick(k).unwrap()).or_default() += 1;
        }
        for (i, &w) in weights.iter().enumerate() {
            let share = count[&BackendId(i as u32)] as f64 / KEYS as f64;
            let want = f64::from(w) / total;
            assert!(
                (share - want).abs() < 0.1 * want + 0.01,
                "{}: backend {i} share {share}",
                lb.name()
            );
        }
    }
}

#[test]
fn bounded_load_caps_every_backend() {
    // Every key hashes to few distinct ring positions: a hot spot. Without
    // finishing anything, no backend may exceed ceil(1.25 · mean).
    let lb = BoundedLoad::new(&backends(&[1; 16])).unwrap();
    let mut h = lb.handle();
    for i in 0..4000u64 {
        let id = h.pick(i % 3).unwrap();
        h.start(id);
        let m = (i + 1) as f64;
        let cap = (1.25 * m / 16.0).ceil() as u64;
        for b in 0..16 {
            assert!(
                lb.in_flight(BackendId(b)).unwrap() <= cap,
                "after {m} requests"
            );
        }
    }
}
