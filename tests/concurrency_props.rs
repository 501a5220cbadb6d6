//! Envoy's gradient controller ([`GradientController`]) under random
//! traffic: the limit stays in its bounds and is pinned in a minRTT
//! window, a request is let on exactly when the outstanding count is
//! under the limit, every update follows the gradient formula over the
//! samples the test itself kept, and a window ends with their percentile
//! as the minRTT and the limit it deferred.

use drainstorm::balancer::{ConcurrencyParams, GradientController};
use proptest::prelude::*;

const MS: u64 = 1_000_000;

#[derive(Clone, Debug)]
enum Op {
    Forward,
    /// Answer the outstanding request at this position (modulo their count).
    Answer(usize),
    Cancel(usize),
    /// Let this many milliseconds pass.
    Wait(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Forward),
        4 => any::<usize>().prop_map(Op::Answer),
        1 => any::<usize>().prop_map(Op::Cancel),
        3 => (1u64..400).prop_map(Op::Wait),
    ]
}

fn percentile(samples: &[u64], p: f64) -> u64 {
    let mut s = samples.to_vec();
    s.sort_unstable();
    let rank = (p / 100.0 * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// Envoy's `calculateNewLimit`, restated.
fn gradient_limit(p: &ConcurrencyParams, limit: u32, min_rtt: u64, sample: u64) -> u32 {
    let buffered = min_rtt as f64 * (1.0 + p.buffer_percent / 100.0);
    let g = if sample == 0 {
        2.0
    } else {
        (buffered / sample as f64).clamp(0.5, 2.0)
    };
    let l = f64::from(limit) * g;
    ((l + l.sqrt()) as u32).clamp(p.min_concurrency, p.max_concurrency_limit)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_controller_follows_envoys_rules(
        ops in prop::collection::vec(op(), 1..600),
        request_count in 1u32..20,
        min_concurrency in 1u32..6,
        percentile_p in 1.0f64..100.0,
        buffer in 0.0f64..100.0,
        jitter in 0.0f64..50.0,
        seed in any::<u64>(),
    ) {
        let p = ConcurrencyParams {
            request_count,
            min_concurrency,
            max_concurrency_limit: 40,
            sample_aggregate_percentile: percentile_p,
            buffer_percent: buffer,
            jitter_percent: jitter,
            concurrency_update_interval_ns: 100 * MS,
            min_rtt_interval_ns: 2_000 * MS,
            fixed_min_rtt_ns: None,
        };
        let mut c = GradientController::new(p, 0, seed).unwrap();
        let mut now = 0u64;
        let mut sent: Vec<u64> = Vec::new();
        // The samples since the last update or window start, and when the
        // last window started.
        let mut pending: Vec<u64> = Vec::new();
        let mut epoch = 0u64;
        let mut deferred = min_concurrency;
        let mut next_update = Some(100 * MS);
        // Updates in a row that left the limit at the minimum.
        let mut at_minimum = 0;
        for op in ops {
            match op {
                Op::Forward => {
                    let under = (sent.len() as u32) < c.limit();
                    prop_assert_eq!(c.try_forward(), under);
                    if under {
                        sent.push(now);
                    }
                }
                Op::Answer(i) | Op::Cancel(i) if sent.is_empty() => {
                    let _ = i;
                }
                Op::Answer(i) => {
                    let at = sent.swap_remove(i % sent.len());
                    let in_window = c.in_min_rtt_window();
                    c.record(at, now);
                    if at >= epoch {
                        pending.push(now - at);
                    }
                    if in_window && !c.in_min_rtt_window() {
                        prop_assert_eq!(pending.len(), request_count as usize);
                        prop_assert_eq!(c.min_rtt(), Some(percentile(&pending, percentile_p)));
                        prop_assert_eq!(c.limit(), deferred, "the deferred limit is back");
                        pending.clear();
                        next_update = Some(now + 100 * MS);
                        at_minimum = 0;
                    }
                }
                Op::Cancel(i) => {
                    sent.swap_remove(i % sent.len());
                    c.cancel();
                }
                Op::Wait(ms) => {
                    let until = now + ms * MS;
                    while let Some(due) = c.next_deadline().filter(|&d| d <= until) {
                        prop_assert!(due >= now, "a timer armed in the past");
                        let (limit, in_window) = (c.limit(), c.in_min_rtt_window());
                        c.advance(due);
                        now = due;
                        // The update timer runs every interval from the
                        // end of the last window, and stops in a window.
                        let updated = next_update == Some(due);
                        if updated {
                            next_update = (!in_window).then_some(due + 100 * MS);
                        }
                        let mut expected = limit;
                        if updated && !in_window && !pending.is_empty() {
                            let sample = percentile(&pending, percentile_p);
                            let min_rtt = c.min_rtt().unwrap();
                            prop_assert_eq!(c.sample_rtt(), Some(sample));
                            expected = gradient_limit(&p, limit, min_rtt, sample);
                            pending.clear();
                            at_minimum = if limit == min_concurrency && expected == min_concurrency {
                                at_minimum + 1
                            } else {
                                0
                            };
                            if at_minimum >= 5 {
                                prop_assert!(c.in_min_rtt_window(), "five updates at the minimum");
                            }
                        }
                        if in_window {
                            prop_assert!(c.in_min_rtt_window(), "only answers close a window");
                        } else if c.in_min_rtt_window() {
                            // A window opened, after the update at the same
                            // instant if there was one.
                            deferred = expected;
                            at_minimum = 0;
                            pending.clear();
                            epoch = due;
                        } else {
                            prop_assert_eq!(c.limit(), expected);
                        }
                    }
                    now = until;
                }
            }
            prop_assert_eq!(c.outstanding() as usize, sent.len());
            prop_assert!((min_concurrency..=40).contains(&c.limit()));
            if c.in_min_rtt_window() {
                prop_assert_eq!(c.limit(), min_concurrency);
            }
        }
    }
}
