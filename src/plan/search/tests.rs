//! The search's tests: judges whose answers are known.

use super::*;
use crate::plan::seeds_needed;
use crate::sim::Verdict;

fn trial(success: bool) -> Trial {
    Trial {
        success,
        verdict: if success {
            Verdict::Absorbed
        } else {
            Verdict::Collapsed
        },
        simulated_s: 1.0,
    }
}

/// Seed `s` succeeds from `thresholds[s mod len]` up.
fn threshold_judge(thresholds: Vec<f64>) -> impl Fn(f64, u64) -> Trial + Sync {
    move |f, seed| trial(f >= thresholds[seed as usize % thresholds.len()])
}

/// 8 seeds for the search and 8 fresh, no curve: the search alone.
fn eight() -> SearchSettings {
    SearchSettings {
        seeds: 8,
        fresh_seeds: 8,
        curve_seeds: 0,
        ..SearchSettings::default()
    }
}

#[test]
fn finds_the_known_answer_from_any_guess() {
    let thresholds: Vec<f64> = (0..8).map(|s| 1.1 + 0.02 * s as f64).collect();
    let truth = 1.1 + 0.02 * 7.0;
    let judge = threshold_judge(thresholds);
    for guess in [0.2, 0.9, 1.24, 1.5, 3.0, 7.9] {
        let s = search(&judge, 0, guess, &eight());
        let Outcome::Found {
            factor,
            unsafe_below,
            success,
            seeds,
            fresh,
        } = s.outcome
        else {
            panic!("{guess}: {:?}", s.outcome);
        };
        assert!(
            unsafe_below < truth && truth <= factor,
            "{guess}: {unsafe_below} {factor}"
        );
        assert!(factor - unsafe_below <= 0.02 * factor + 1e-12, "{guess}");
        assert_eq!((success, seeds), (8, 8));
        // Eight fresh seeds (8..16, the same thresholds) all succeed:
        // they support P ≥ 0.69 only.
        assert_eq!((fresh.first_seed, fresh.success, fresh.seeds), (8, 8, 8));
        assert!((fresh.lower - 0.05f64.powf(1.0 / 8.0)).abs() < 1e-9);
        // Fewer runs than judging every factor on all 8 seeds, although
        // here every seed needs a different factor (the worst case).
        let factors = s.probes.len() as u32;
        let searched = s.runs - 8;
        assert!(
            3 * searched < 2 * 8 * factors,
            "{guess}: {searched} runs at {factors} factors"
        );
    }
}

#[test]
fn the_default_claim_rests_on_59_seeds_and_59_fresh_ones() {
    let judge = threshold_judge(vec![1.0, 1.1, 1.2]);
    let s = search(&judge, 100, 1.0, &SearchSettings::default());
    let Outcome::Found {
        success,
        seeds,
        fresh,
        ..
    } = s.outcome
    else {
        panic!("{:?}", s.outcome)
    };
    assert_eq!((success, seeds), (59, 59));
    assert_eq!(
        (fresh.first_seed, fresh.success, fresh.seeds),
        (159, 59, 59)
    );
    assert!(fresh.lower >= 0.95, "{fresh:?}");
}

#[test]
fn an_answer_fresh_seeds_reject_steps_up_and_says_so() {
    // The search's seeds (0..8) all succeed from 1.0; the fresh ones
    // (8 and up) need 1.1: the search tunes itself to its seeds, and
    // the fresh block catches it.
    let judge = |f: f64, seed: u64| trial(f >= if seed < 8 { 1.0 } else { 1.1 });
    let s = search(&judge, 0, 1.0, &eight());
    let Outcome::Found { factor, fresh, .. } = s.outcome else {
        panic!("{:?}", s.outcome)
    };
    assert!(!s.rejected.is_empty());
    assert!(s.rejected.iter().all(|c| c.factor < 1.1 && c.success < 8));
    // At or above 1.1, by at most the last step (8 % after 2 % and 4 %).
    assert!((1.1..1.1 * 1.08).contains(&factor), "{factor}");
    // Every block is new: no fresh seed judged twice.
    let mut firsts: Vec<u64> = s.rejected.iter().map(|c| c.first_seed).collect();
    firsts.push(fresh.first_seed);
    for w in firsts.windows(2) {
        assert_eq!(w[1], w[0] + 8, "{firsts:?}");
    }
    // A block that never passes ends unconfirmed, within the steps.
    let never = |f: f64, seed: u64| trial(seed < 8 && f >= 1.0);
    let s = search(&never, 0, 1.0, &eight());
    assert!(
        matches!(s.outcome, Outcome::Unconfirmed { .. }),
        "{:?}",
        s.outcome
    );
    assert_eq!(s.rejected.len() as u32, eight().max_steps + 1);
    assert!(s.rejected.windows(2).all(|w| w[0].factor < w[1].factor));
}

#[test]
fn the_local_curve_shows_the_answer_and_its_neighbours() {
    let judge = threshold_judge((0..20).map(|s| 1.0 + 0.005 * f64::from(s)).collect());
    let settings = SearchSettings {
        seeds: 20,
        fresh_seeds: 20,
        curve_seeds: 20,
        ..SearchSettings::default()
    };
    let s = search(&judge, 0, 1.0, &settings);
    let f = s.outcome.factor().expect("found");
    assert_eq!(s.curve.len(), 5, "{:?}", s.curve);
    let at = s.curve.iter().find(|p| p.factor == f).expect("the answer");
    assert_eq!((at.success, at.seeds), (20, 20));
    // Below the answer fewer seeds succeed, above it all do.
    assert!(s.curve[0].success < 20 && s.curve[4].success == 20);
    for p in &s.curve {
        assert!(p.interval.0 <= p.success as f64 / 20.0 && p.success as f64 / 20.0 <= p.interval.1);
    }
}

#[test]
fn a_late_failing_seed_moves_the_answer_up() {
    // Seed 7 needs far more than the others: the probes (seeds 0 and 1)
    // pass long before it does.
    let mut thresholds = vec![1.0; 8];
    thresholds[7] = 2.0;
    let s = search(&threshold_judge(thresholds), 0, 1.0, &eight());
    let Outcome::Found {
        factor,
        unsafe_below,
        ..
    } = s.outcome
    else {
        panic!("{:?}", s.outcome)
    };
    assert!(
        unsafe_below < 2.0 && (2.0..=2.0 * 1.021).contains(&factor),
        "{unsafe_below} {factor}"
    );
}

#[test]
fn a_lower_target_tolerates_failures() {
    // 93 seeds: one may fail for P ≥ 0.95 at 95 %.
    let n = seeds_needed(0.95, 0.95, 1);
    assert_eq!(n, 93);
    let mut thresholds = vec![1.0; n as usize];
    thresholds[5] = 3.0;
    let settings = SearchSettings {
        seeds: n,
        fresh_seeds: n,
        curve_seeds: 0,
        ..SearchSettings::default()
    };
    let s = search(&threshold_judge(thresholds), 0, 1.0, &settings);
    let Outcome::Found {
        factor,
        success,
        seeds,
        ..
    } = s.outcome
    else {
        panic!("{:?}", s.outcome)
    };
    assert!(factor < 1.03, "{factor}");
    assert_eq!((success, seeds), (92, 93));
}

#[test]
fn out_of_range_and_non_monotone_answers_say_so() {
    let settings = eight();
    let s = search(&threshold_judge(vec![100.0]), 0, 1.0, &settings);
    assert_eq!(s.outcome, Outcome::AboveRange { max_factor: 8.0 });
    let s = search(&threshold_judge(vec![0.01]), 0, 1.0, &settings);
    assert!(
        matches!(s.outcome, Outcome::BelowRange { min_factor, fresh } if min_factor == 0.1 && fresh.success == 8),
        "{:?}",
        s.outcome
    );
    // Seed 3 fails in a band above the others' threshold.
    let judge = |f: f64, seed: u64| trial(f >= 1.0 && !(seed == 3 && (1.3..1.6).contains(&f)));
    let s = search(&judge, 0, 1.2, &settings);
    assert!(
        matches!(s.outcome, Outcome::NotMonotone { seed: 3, .. }),
        "{:?}",
        s.outcome
    );
}

#[test]
fn failed_probes_never_pass_where_failures_are_allowed() {
    // Seed s succeeds from its own threshold up, thresholds spread over
    // [1, 2): the answer is the threshold of the seed at rank
    // `required`. With enough seeds a point may fail one or more and
    // still be safe, but a probe that fails must not be taken as safe
    // (an earlier rule passed two failed probes and then failed the
    // confirmation of one provisional answer after another).
    for n in [20_u32, 30, 40, 60, 93, 150] {
        let thresholds: Vec<f64> = (0..n)
            .map(|s| 1.0 + f64::from((s * 7919) % n) / f64::from(n))
            .collect();
        let settings = SearchSettings {
            seeds: n,
            fresh_seeds: n,
            curve_seeds: 0,
            ..SearchSettings::default()
        };
        let mut sorted = thresholds.clone();
        sorted.sort_by(f64::total_cmp);
        let required = settings.required(n) as usize;
        let truth = sorted[required - 1];
        for guess in [0.3, 1.0, 1.5, 4.0] {
            let s = search(&threshold_judge(thresholds.clone()), 0, guess, &settings);
            let Outcome::Found {
                factor,
                unsafe_below,
                success,
                seeds,
                ..
            } = s.outcome
            else {
                panic!("n = {n}, guess {guess}: {:?}", s.outcome);
            };
            assert!(
                unsafe_below < truth && truth <= factor,
                "n = {n}, guess {guess}: answer {factor}, unsafe at {unsafe_below}, truth {truth}"
            );
            assert!(
                success as usize >= required && seeds <= n,
                "{success}/{seeds}"
            );
            // Bounded: at most five factors' worth of seeds and the
            // fresh block.
            assert!(s.runs <= 6 * n, "n = {n}, guess {guess}: {} runs", s.runs);
        }
    }
}

#[test]
fn exact_intervals_match_known_values() {
    let (lo, hi) = exact_interval(5, 10);
    assert!((lo - 0.1871).abs() < 1e-3 && (hi - 0.8129).abs() < 1e-3);
    assert_eq!(exact_interval(0, 0), (0.0, 1.0));
    let (lo, hi) = exact_interval(0, 8);
    assert!(lo == 0.0 && (hi - 0.3694).abs() < 1e-3);
}
