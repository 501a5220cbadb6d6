//! ns per pick for every balancer, on one thread and on two threads sharing
//! one balancer (with a share-nothing control), and rebuild times.
//!
//! `cargo bench --bench pick`; figures are in BENCHMARKS.md. Groups are
//! `pick/N`, `shared-path/64`, `shared-threads/64`, `guard/64`, `threads/N`
//! and `rebuild/1024`: each holds every balancer at one backend count, so
//! criterion's report (`target/criterion/report/index.html`) draws them
//! side by side.
//!
//! - `shared-threads/64`: `Balancer::pick` (no handle) on one thread
//!   (`KIND/1`), on two threads sharing one balancer (`KIND/2-shared`), and
//!   on two threads with a balancer each (`KIND/2-control`, share-nothing:
//!   what the machine gives two threads). Times are per pick on one thread
//!   and per pair of concurrent picks on two.
//! - `guard/64`: a request's bookkeeping, `begin` and the guard's drop
//!   against a handle's `start` and `finish`.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use drainstorm::balancer::{
    Backend, BackendId, Balancer, BalancerKind, BoundedLoad, ConcurrencyParams, GradientController,
    LeastConn, LeastRequest, LeastRequestParams, Maglev, OrcaParams, OrcaWeights, OutlierDetector,
    OutlierParams, PeakEwma, Picker, PowerOfTwo, Ring, SmoothWrr, deterministic_subset, mix64,
    random_subset, zone_split,
};

const SIZES: [usize; 3] = [8, 64, 1024];
const KEYS: usize = 4096;

fn backends(n: usize) -> Vec<Backend> {
    // Weights 1..4 cycling, as the workload.
    (0..n as u32).map(|i| Backend::new(i, i % 4 + 1)).collect()
}

fn keys() -> Vec<u64> {
    (0..KEYS as u64).map(|i| mix64(i ^ 0xb1a5)).collect()
}

/// Builds a balancer with every backend carrying some load, so that the
/// least-connections scan runs over all of them (no early exit on 0).
fn loaded(kind: BalancerKind, n: usize) -> Arc<dyn Balancer> {
    let lb: Arc<dyn Balancer> = Arc::from(kind.build(&backends(n), 1).unwrap());
    for i in 0..n as u32 {
        for _ in 0..(i % 7 + 1) {
            lb.start(BackendId(i));
        }
    }
    lb
}

fn run_picks(picker: &mut dyn Picker, keys: &[u64], iters: u64) {
    for i in 0..iters as usize {
        black_box(picker.pick(keys[i & (KEYS - 1)]));
    }
}

/// Concrete handle types, so the single-thread figure has no virtual call.
/// The loop is timed as a whole (`iter_custom`): criterion's per-iteration
/// closure call costs several ns here, more than a pick itself.
macro_rules! bench_handle {
    ($group:expr, $name:expr, $n:expr, $lb:expr, $keys:expr) => {{
        let lb = $lb;
        for i in 0..$n as u32 {
            for _ in 0..(i % 7 + 1) {
                lb.start(BackendId(i));
            }
        }
        let mut h = lb.handle();
        $group.bench_with_input(BenchmarkId::from_parameter($name), &$n, |b, _| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for i in 0..iters as usize {
                    black_box(h.pick($keys[i & (KEYS - 1)]));
                }
                start.elapsed()
            })
        });
    }};
}

fn single_thread(c: &mut Criterion) {
    let keys = keys();
    // One group per backend count: criterion's report draws the balancers
    // of a group side by side.
    for n in SIZES {
        let mut group = c.benchmark_group(format!("pick/{n}"));
        let b = backends(n);
        bench_handle!(group, "smooth-wrr", n, SmoothWrr::new(&b).unwrap(), keys);
        bench_handle!(group, "least-conn", n, LeastConn::new(&b).unwrap(), keys);
        bench_handle!(group, "p2c", n, PowerOfTwo::with_seed(&b, 1).unwrap(), keys);
        bench_handle!(group, "ring", n, Ring::new(&b).unwrap(), keys);
        bench_handle!(group, "maglev", n, Maglev::new(&b).unwrap(), keys);
        bench_handle!(
            group,
            "bounded-load",
            n,
            BoundedLoad::new(&b).unwrap(),
            keys
        );
        bench_handle!(
            group,
            "least-request",
            n,
            LeastRequest::with_seed(&b, 1).unwrap(),
            keys
        );
        bench_handle!(group, "peak-ewma", n, peak_ewma_taught(&b), keys);
        group.finish();
    }

    let mut group = c.benchmark_group("shared-path/64");
    for n in [64usize] {
        for kind in BalancerKind::ALL {
            let lb = loaded(kind, n);
            group.bench_with_input(BenchmarkId::from_parameter(kind.name()), &n, |b, _| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for i in 0..iters as usize {
                        black_box(lb.pick(keys[i & (KEYS - 1)]));
                    }
                    start.elapsed()
                })
            });
        }
    }
    group.finish();
}

/// Weighted least request's two paths at 64 backends: equal weights (k
/// random choices; k = 2 is p2c's draw) and the weights 1..4 of the other
/// groups (a draw over every backend's dynamic weight), with bias 1 (a
/// division per backend) and 0.5 (a power).
fn least_request(c: &mut Criterion) {
    let keys = keys();
    let n = 64;
    let mut group = c.benchmark_group("least-request/64");
    let equal: Vec<Backend> = (0..n as u32).map(|i| Backend::new(i, 1)).collect();
    for (name, b, choice_count, active_request_bias) in [
        ("equal-2", &equal, 2, 1.0),
        ("equal-5", &equal, 5, 1.0),
        ("weighted-bias-1", &backends(n), 2, 1.0),
        ("weighted-bias-0.5", &backends(n), 2, 0.5),
    ] {
        let params = LeastRequestParams {
            choice_count,
            active_request_bias,
        };
        bench_handle!(
            group,
            name,
            n,
            LeastRequest::with_params(b, params, 1).unwrap(),
            keys
        );
    }
    group.finish();
}

/// A Peak-EWMA balancer whose every backend has answered once, each at
/// its own time (latencies 1–64 ms, answers 1 µs apart from 1 s): every
/// pick compares two estimates of different ages, so it pays its `exp`.
fn peak_ewma_taught(b: &[Backend]) -> PeakEwma {
    let lb = PeakEwma::with_seed(b, 1).unwrap();
    for (i, backend) in b.iter().enumerate() {
        let i = i as u64;
        lb.start(backend.id);
        lb.finish_observed(
            backend.id,
            (i % 64 + 1) * 1_000_000,
            1_000_000_000 + i * 1_000,
        );
    }
    lb
}

/// A request's bookkeeping through a handle at 64 backends: start and
/// finish (p2c), against start and a finish that reports its latency
/// (Peak-EWMA's observation: a compare-and-swap of the estimate, a
/// `fetch_max` of the stamp and of the clock, and an `exp`).
fn observe(c: &mut Criterion) {
    let b = backends(64);
    let mut group = c.benchmark_group("observe/64");
    let p2c = PowerOfTwo::with_seed(&b, 1).unwrap();
    let mut h = p2c.handle();
    group.bench_function("p2c-start-finish", |bench| {
        bench.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                let id = BackendId((i % 64) as u32);
                h.start(id);
                black_box(h.finish(id));
            }
            start.elapsed()
        })
    });
    let ewma = peak_ewma_taught(&b);
    let mut h = ewma.handle();
    group.bench_function("peak-ewma-start-finish-observed", |bench| {
        bench.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                let id = BackendId((i % 64) as u32);
                h.start(id);
                let now = 2_000_000_000 + i * 1_000;
                black_box(h.finish_observed(id, (i % 50 + 1) * 1_000_000, now));
            }
            start.elapsed()
        })
    });
    group.finish();
}

/// One client's subset of 32 of 1 024 backends: deterministic (a shuffle
/// of the round) and random (a hash per backend and a selection).
fn subsets(c: &mut Criterion) {
    let b = backends(1024);
    let mut group = c.benchmark_group("subset/1024");
    let mut client = 0u64;
    group.bench_function("deterministic-32", |bench| {
        bench.iter(|| {
            client += 1;
            black_box(deterministic_subset(&b, client, 32, 7))
        })
    });
    group.bench_function("random-32", |bench| {
        bench.iter(|| {
            client += 1;
            black_box(random_subset(&b, client, 32))
        })
    });
    group.finish();
}

/// One update of backend-reported weights over 64 backends: 64 reports,
/// then the scaled weights (what a site does once per update period).
fn orca(c: &mut Criterion) {
    let mut w = OrcaWeights::new(64, OrcaParams::default()).unwrap();
    let mut t = 0u64;
    c.bench_function("orca/64/update", |bench| {
        bench.iter(|| {
            t += 1_000_000_000;
            for i in 0..64u64 {
                let util = 0.2 + (mix64(t ^ i) % 700) as f64 / 1000.0;
                w.report(i as usize, 50.0 + i as f64, (i % 3) as f64, util, t);
            }
            black_box(w.weights(t, 100))
        })
    });
}

/// Envoy's zone split of one zone's traffic over 8 zones, the zone short
/// of capacity (what a zone-aware router works out again when a site's
/// weight moves).
fn zones(c: &mut Criterion) {
    let healthy = [1.0, 3.0, 2.0, 2.0, 4.0, 2.0, 2.0, 1.0];
    let clients = [2.0; 8];
    c.bench_function("zone/8/split", |bench| {
        bench.iter(|| black_box(zone_split(black_box(0), &healthy, &clients)))
    });
}

/// Envoy's adaptive concurrency filter per request, outside a minRTT
/// window: a forward and its answer, one request outstanding at a time,
/// 1 ms apart (so one in 100 runs a limit update, which takes the
/// interval's percentile).
fn concurrency(c: &mut Criterion) {
    let params = ConcurrencyParams {
        fixed_min_rtt_ns: Some(10_000_000),
        ..ConcurrencyParams::default()
    };
    let mut g = GradientController::new(params, 0, 1).unwrap();
    let mut t = 0u64;
    c.bench_function("concurrency/forward+answer", |bench| {
        bench.iter(|| {
            t += 1_000_000;
            if g.try_forward() {
                g.record(t - 9_000_000 - mix64(t) % 4_000_000, t);
            }
            g.advance(t);
            black_box(g.limit())
        })
    });
}

/// Outlier detection's bookkeeping per answer, 64 backends: answers
/// that are all fine, and one in ten an error (ejections and releases
/// come and go: 2 errors in a row eject for 1 µs of the answers' clock).
fn outliers(c: &mut Criterion) {
    let mut group = c.benchmark_group("outlier/64");
    let params = OutlierParams {
        consecutive_errors: 2,
        base_ejection_ns: 1_000,
        max_ejection_ns: 10_000,
        max_ejection_percent: 10,
        ..OutlierParams::default()
    };
    for (name, every) in [("all-ok", u64::MAX), ("one-in-ten-errors", 10)] {
        let mut od = OutlierDetector::new(64, params).unwrap();
        let mut t = 0u64;
        group.bench_function(name, |bench| {
            bench.iter(|| {
                t += 1;
                let b = (mix64(t) % 64) as usize;
                od.release(t);
                black_box(od.record(b, !t.is_multiple_of(every), t))
            })
        });
    }
    // A sweep over 64 backends with 200 answers each, one of them failing
    // half: success rate and failure percentage both enforced.
    let mut sweeping = OutlierParams::default();
    sweeping.failure_percentage.enforcing = 100;
    group.bench_function("sweep", |bench| {
        bench.iter_batched_ref(
            || {
                let mut od = OutlierDetector::new(64, sweeping).unwrap();
                for t in 0..200u64 * 64 {
                    let b = (t % 64) as usize;
                    od.record(b, b != 7 || t % 2 == 0, t);
                }
                od
            },
            |od| black_box(od.sweep(1 << 40)),
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn shared_scaling(c: &mut Criterion) {
    let keys = Arc::new(keys());
    let n = 64;
    let mut group = c.benchmark_group("shared-threads/64");
    for kind in BalancerKind::ALL {
        scaling(&mut group, kind, n, &keys, false);
    }
    group.finish();

    let mut group = c.benchmark_group("guard/64");
    for kind in [BalancerKind::LeastConn, BalancerKind::BoundedLoad] {
        let lb = loaded(kind, n);
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{}/begin+drop", kind.name())),
            &n,
            |b, _| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for i in 0..iters {
                        drop(black_box(lb.begin(BackendId((i % 64) as u32))));
                    }
                    start.elapsed()
                })
            },
        );
        let mut h = lb.picker();
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{}/start+finish", kind.name())),
            &n,
            |b, _| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for i in 0..iters {
                        let id = BackendId((i % 64) as u32);
                        black_box(h.start(id));
                        black_box(h.finish(id));
                    }
                    start.elapsed()
                })
            },
        );
    }
    group.finish();
}

/// Runs `iters` picks on each of two threads, through a handle each
/// (`handles`) or the shared path (`Balancer::pick`); returns the wall
/// time, so the reported time is per pair of concurrent picks.
fn two_threads(
    lbs: [Arc<dyn Balancer>; 2],
    keys: &Arc<Vec<u64>>,
    iters: u64,
    handles: bool,
) -> Duration {
    let barrier = Arc::new(Barrier::new(3));
    let workers: Vec<_> = lbs
        .into_iter()
        .map(|lb| {
            let (barrier, keys) = (Arc::clone(&barrier), Arc::clone(keys));
            thread::spawn(move || {
                // A shared-path thread picks once first, so that its view
                // exists before the clock starts, as a handle does.
                let mut picker = handles.then(|| lb.picker());
                if !handles {
                    black_box(lb.pick(0));
                }
                barrier.wait();
                match picker.as_mut() {
                    Some(p) => run_picks(p.as_mut(), &keys, iters),
                    None => {
                        for i in 0..iters as usize {
                            black_box(lb.pick(keys[i & (KEYS - 1)]));
                        }
                    }
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for w in workers {
        w.join().unwrap();
    }
    start.elapsed()
}

fn thread_scaling(c: &mut Criterion) {
    let keys = Arc::new(keys());
    for n in SIZES {
        let mut group = c.benchmark_group(format!("threads/{n}"));
        for kind in BalancerKind::ALL {
            scaling(&mut group, kind, n, &keys, true);
        }
        group.finish();
    }
}

/// `KIND/1`, `KIND/2-shared` and `KIND/2-control` for one balancer of `n`
/// backends, through handles or the shared path.
fn scaling(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    kind: BalancerKind,
    n: usize,
    keys: &Arc<Vec<u64>>,
    handles: bool,
) {
    let lb = loaded(kind, n);
    group.bench_with_input(
        BenchmarkId::from_parameter(format!("{}/1", kind.name())),
        &n,
        |b, _| {
            b.iter_custom(|iters| {
                let mut picker = lb.picker();
                let start = Instant::now();
                if handles {
                    run_picks(picker.as_mut(), keys, iters);
                } else {
                    for i in 0..iters as usize {
                        black_box(lb.pick(keys[i & (KEYS - 1)]));
                    }
                }
                start.elapsed()
            })
        },
    );
    group.bench_with_input(
        BenchmarkId::from_parameter(format!("{}/2-shared", kind.name())),
        &n,
        |b, _| b.iter_custom(|iters| two_threads([lb.clone(), lb.clone()], keys, iters, handles)),
    );
    let other = loaded(kind, n);
    group.bench_with_input(
        BenchmarkId::from_parameter(format!("{}/2-control", kind.name())),
        &n,
        |b, _| {
            b.iter_custom(|iters| two_threads([lb.clone(), other.clone()], keys, iters, handles))
        },
    );
}

fn rebuild(c: &mut Criterion) {
    let mut group = c.benchmark_group("rebuild/1024");
    let n = 1024;
    let all = backends(n);
    let fewer: Vec<Backend> = all[1..].to_vec();
    for kind in BalancerKind::ALL {
        let lb = kind.build(&all, 1).unwrap();
        group.bench_with_input(BenchmarkId::from_parameter(kind.name()), &n, |b, _| {
            let mut flip = false;
            b.iter(|| {
                flip = !flip;
                lb.update(if flip { &fewer } else { &all }).unwrap()
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(900))
        .sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = single_thread, least_request, observe, subsets, outliers, orca, zones, concurrency, shared_scaling, thread_scaling, rebuild }
criterion_main!(benches);
