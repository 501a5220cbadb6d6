//! The simulator's embedding API, determinism, timeouts that do (not)
//! cancel work, and configuration errors.

use std::sync::Arc;

use drainstorm::balancer::{
    Backend, BackendId, Balancer, BalancerError, BalancerKind, InFlight, Picker,
};
use drainstorm::retry::{Backoff, Policy, PolicyConfig, SimDuration, SimTime};
use drainstorm::sim::{Action, RetrySpec, SimConfig, SimError, Simulation, TimedAction, Workload};

fn fingerprint(sim: &Simulation) -> String {
    format!(
        "{:?}\n{:?}\n{:?}",
        sim.summary(),
        sim.recorder().series(),
        (0..sim.recorder().sites())
            .map(|s| sim.recorder().site_series(s).cloned().collect::<Vec<_>>())
            .collect::<Vec<_>>()
    )
}

/// A scenario busy enough to draw arrivals in parallel batches, with a
/// drain and a restore.
fn busy() -> SimConfig {
    let mut c = SimConfig::example();
    c.duration = SimDuration::from_secs(20);
    c.clients[0].workload = Workload::Open {
        rate: 7_000.0,
        curve: Vec::new(),
    };
    for s in &mut c.sites {
        s.backends[0].count = 40;
        s.max_in_flight = Some(400);
    }
    c.timeline = vec![
        TimedAction {
            at: SimTime(5_000_000_000),
            action: Action::Drain {
                site: "east".into(),
                ramp: SimDuration::ZERO,
            },
        },
        TimedAction {
            at: SimTime(12_000_000_000),
            action: Action::Restore {
                site: "east".into(),
                ramp: SimDuration::from_secs(2),
                cold_factor: 1.0,
                cold_for: SimDuration::ZERO,
            },
        },
    ];
    c
}

fn run_in_pool(threads: usize, config: SimConfig) -> String {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut sim = Simulation::new(config).unwrap();
        sim.run();
        fingerprint(&sim)
    })
}

#[test]
fn same_seed_same_summary_and_series() {
    let a = run_in_pool(1, busy());
    let b = run_in_pool(1, busy());
    assert!(a == b);
    let mut other = busy();
    other.seed += 1;
    assert!(a != run_in_pool(1, other), "the seed must matter");
}

#[test]
fn one_run_is_identical_on_one_and_two_threads() {
    assert!(run_in_pool(1, busy()) == run_in_pool(2, busy()));
}

#[test]
fn stepping_equals_running() {
    let mut stepped = Simulation::new(busy()).unwrap();
    let mut last = SimTime::ZERO;
    while let Some(t) = stepped.step() {
        assert!(t >= last, "events run in time order");
        last = t;
    }
    // Stepping stops at the last event; `run` moves the clock to the end.
    stepped.run();
    let mut ran = Simulation::new(busy()).unwrap();
    ran.run();
    assert!(fingerprint(&stepped) == fingerprint(&ran));
}

#[test]
fn injecting_a_drain_equals_scheduling_it() {
    let mut c = busy();
    c.timeline.clear();
    let mut scheduled = Simulation::new(c.clone()).unwrap();
    scheduled
        .schedule(
            SimTime(5_000_000_000),
            Action::Drain {
                site: "east".into(),
                ramp: SimDuration::ZERO,
            },
        )
        .unwrap();
    scheduled.run();
    let mut injected = Simulation::new(c).unwrap();
    injected.run_until(SimTime(5_000_000_000));
    injected
        .inject(Action::Drain {
            site: "east".into(),
            ramp: SimDuration::ZERO,
        })
        .unwrap();
    injected.run();
    assert_eq!(
        scheduled.summary().attempts,
        injected.summary().attempts,
        "same traffic either way"
    );
    // After the drain the east site gets nothing new.
    let east = injected.recorder().site_series(0).collect::<Vec<_>>();
    assert!(east[2].admitted > 1000);
    assert!(east[7..].iter().all(|r| r.admitted == 0 && r.weight == 0));
    let west = injected.recorder().site_series(1).collect::<Vec<_>>();
    assert!(west[7].admitted > 3000);
}

#[test]
fn a_drained_site_gets_no_new_requests_and_returns_on_restore() {
    let mut sim = Simulation::new(busy()).unwrap();
    sim.run();
    let east: Vec<_> = sim.recorder().site_series(0).collect();
    assert!(east[3].admitted > 0);
    assert!(east[6..12].iter().all(|r| r.admitted == 0));
    assert!(east[15].admitted > 0);
    // Ramped over 2 s: weight rises in steps, reaching the full weight.
    assert_eq!(east[19].weight, east[0].weight);
}

#[test]
fn timeouts_waste_work_unless_cancelled() {
    let mut c = SimConfig::example();
    c.duration = SimDuration::from_secs(20);
    // Overload: 2 × 4 single-slot backends at 10 ms = 800/s; send 1200/s
    // with deep queues and a 50 ms timeout.
    c.clients[0].workload = Workload::Open {
        rate: 1200.0,
        curve: Vec::new(),
    };
    for s in &mut c.sites {
        s.backends[0].queue = 200;
        s.max_in_flight = None;
    }
    c.clients[0].retry = RetrySpec::Config(Box::new(PolicyConfig {
        attempt_timeout: Some(SimDuration::from_millis(50)),
        ..PolicyConfig::new(Backoff::Immediate, 2)
    }));
    let mut kept = Simulation::new(c.clone()).unwrap();
    kept.run();
    let k = kept.summary();
    assert!(k.timeouts > 1000);
    assert!(k.wasted > 1000, "abandoned attempts are still served");
    assert_eq!(kept.recorder().totals().cancelled, 0);

    c.cancel_on_timeout = true;
    let mut cancelled = Simulation::new(c).unwrap();
    cancelled.run();
    let x = cancelled.summary();
    assert_eq!(x.wasted, 0, "nothing is served after its client left");
    assert_eq!(cancelled.recorder().totals().cancelled, x.timeouts);
    assert!(
        x.successes > k.successes,
        "cancelling frees capacity: {} vs {}",
        x.successes,
        k.successes
    );
}

/// A balancer of our own: always the backend with the lowest id, counting
/// in-flight requests through a built-in one it wraps. Clones share it.
#[derive(Clone)]
struct LowestId(Arc<dyn Balancer>);

struct LowestIdPicker(Box<dyn Picker>);

impl Picker for LowestIdPicker {
    fn pick(&mut self, _key: u64) -> Option<BackendId> {
        Some(BackendId(0))
    }
    fn start(&mut self, id: BackendId) -> bool {
        self.0.start(id)
    }
    fn finish(&mut self, id: BackendId) -> bool {
        self.0.finish(id)
    }
}

impl Balancer for LowestId {
    fn name(&self) -> &'static str {
        "lowest-id"
    }
    fn pick(&self, _key: u64) -> Option<BackendId> {
        Some(BackendId(0))
    }
    fn picker(&self) -> Box<dyn Picker> {
        Box::new(LowestIdPicker(self.0.picker()))
    }
    fn start(&self, id: BackendId) -> bool {
        self.0.start(id)
    }
    fn finish(&self, id: BackendId) -> bool {
        self.0.finish(id)
    }
    fn begin(&self, id: BackendId) -> Option<InFlight> {
        self.0.begin(id)
    }
    fn in_flight(&self, id: BackendId) -> Option<u64> {
        self.0.in_flight(id)
    }
    fn update(&self, backends: &[Backend]) -> Result<(), BalancerError> {
        self.0.update(backends)
    }
    fn backends(&self) -> Vec<Backend> {
        self.0.backends()
    }
}

#[test]
fn a_plugged_in_balancer_and_policy_are_used() {
    let inner = BalancerKind::LeastConn
        .build(&[Backend::new(0, 1)], 0)
        .unwrap();
    let lb = LowestId(Arc::from(inner));
    let mut sim = Simulation::builder(SimConfig::example())
        .balancer("east", Box::new(lb.clone()))
        .policy("web", Box::new(Policy::naive()))
        .build()
        .unwrap();
    sim.run();
    assert_eq!(sim.sites()[0].balancer, "lowest-id");
    // The simulator gave our balancer the site's four backends.
    assert_eq!(lb.backends().len(), 4);
    let east: Vec<_> = sim.recorder().site_series(0).collect();
    // One backend of four does all the work: utilisation ≤ 1/4, and the
    // site saturates (250 requests/s offered, 100/s served).
    assert!(
        east.iter().skip(2).all(|r| r.utilisation <= 0.2501),
        "{east:?}"
    );
    assert!(
        east.iter().skip(2).all(|r| r.utilisation > 0.24),
        "{east:?}"
    );
    // `naive` retries at once, up to four attempts: east's rejections come
    // back as retries.
    assert!(sim.summary().amplification > 1.2);
}

#[test]
fn bad_configurations_name_the_key() {
    type Breakage = fn(&mut SimConfig);
    let cases: Vec<(Breakage, &str)> = vec![
        (|c| c.duration = SimDuration::ZERO, "duration"),
        (|c| c.sites.clear(), "sites"),
        (|c| c.sites[1].name = "east".into(), "sites[1].name"),
        (
            |c| c.sites[0].backends[0].slots = 0,
            "sites[0].backends[0].slots",
        ),
        (
            |c| c.sites[0].backends[0].speed = f64::NAN,
            "sites[0].backends[0].speed",
        ),
        (
            |c| c.sites[0].max_in_flight = Some(0),
            "sites[0].max_in_flight",
        ),
        (
            |c| c.sites[0].backends[0].fail_probability = 1.5,
            "sites[0].backends[0].fail_probability",
        ),
        (
            |c| c.clients[0].retry = RetrySpec::Preset("telepathy".into()),
            "clients[0].retry",
        ),
        (
            |c| {
                c.clients[0].workload = Workload::Open {
                    rate: -1.0,
                    curve: Vec::new(),
                }
            },
            "clients[0].workload.rate",
        ),
        (
            |c| {
                c.timeline.push(TimedAction {
                    at: SimTime(1),
                    action: Action::Drain {
                        site: "north".into(),
                        ramp: SimDuration::ZERO,
                    },
                })
            },
            "timeline[0].site",
        ),
        (
            |c| c.recorder.interval = SimDuration::from_nanos(10),
            "recorder.interval",
        ),
        (
            |c| c.sites[0].backends[0].count = 1 << 21,
            "sites[0].backends[0].count",
        ),
    ];
    for (break_it, path) in cases {
        let mut c = SimConfig::example();
        break_it(&mut c);
        let err = Simulation::new(c).expect_err(path);
        assert_eq!(err.path(), Some(path), "{err}");
        assert!(err.to_string().contains("allowed"), "{err}");
    }
    let e = Simulation::new(SimConfig::example())
        .unwrap()
        .inject(Action::Drain {
            site: "mars".into(),
            ramp: SimDuration::ZERO,
        })
        .unwrap_err();
    assert!(matches!(e, SimError::Invalid { .. }));
    assert!(e.to_string().contains("east, west"), "{e}");
}

#[test]
fn closed_loop_clients_follow_the_response_time_law() {
    // N clients, think time Z, response time R: throughput X = N / (Z + R).
    let mut c = SimConfig::example();
    c.duration = SimDuration::from_secs(200);
    c.clients[0].workload = Workload::Closed {
        clients: 20,
        think: SimDuration::from_millis(90),
    };
    let mut sim = Simulation::new(c).unwrap();
    sim.run();
    let s = sim.summary();
    let x = s.successes as f64 / s.seconds;
    let expected = 20.0 / (0.090 + s.mean_latency);
    let error = (x - expected).abs() / expected;
    assert!(error < 0.02, "X = {x:.1}/s, N/(Z+R) = {expected:.1}/s");
    assert!(x > 150.0, "{x}");
}

#[test]
fn runs_that_differ_only_in_balancer_see_the_same_arrivals() {
    let offered = |kind| {
        let mut c = SimConfig::example();
        for s in &mut c.sites {
            s.balancer = kind;
        }
        let mut sim = Simulation::new(c).unwrap();
        sim.run();
        sim.recorder()
            .series()
            .iter()
            .map(|i| i.offered)
            .collect::<Vec<_>>()
    };
    let reference = offered(BalancerKind::LeastConn);
    assert!(reference.iter().sum::<u64>() > 10_000);
    for kind in BalancerKind::ALL {
        assert_eq!(offered(kind), reference, "{kind}");
    }
}

/// Envoy's least request with its default two choices over equal weights
/// is the power of two choices: the same run, to the last counter; more
/// choices change the run and stay whole.
#[test]
fn least_request_with_two_choices_runs_as_p2c() {
    let run = |kind, choices: Option<u32>| {
        let mut c = busy();
        for s in &mut c.sites {
            s.balancer = kind;
            s.balancer_params.choice_count = choices;
        }
        let mut sim = Simulation::new(c).unwrap();
        sim.run();
        assert!(sim.summary().successes > 10_000);
        fingerprint(&sim)
    };
    let p2c = run(BalancerKind::PowerOfTwo, None);
    assert_eq!(run(BalancerKind::LeastRequest, None), p2c);
    assert_ne!(run(BalancerKind::LeastRequest, Some(4)), p2c);
}

/// Peak-EWMA learns what the engine tells it: each site has one backend
/// ten times slower than its four others (a gray failure, same weight),
/// which counts of requests in flight see only once a queue stands and
/// latencies see at its first answer.
#[test]
fn peak_ewma_learns_the_engines_latencies_and_routes_around_a_slow_backend() {
    let run = |kind| {
        let mut c = SimConfig::example();
        c.duration = SimDuration::from_secs(60);
        for s in &mut c.sites {
            s.balancer = kind;
            let mut slow = s.backends[0].clone();
            slow.count = 1;
            slow.speed = 0.1;
            s.backends.push(slow);
        }
        let mut sim = Simulation::new(c).unwrap();
        sim.run();
        sim.summary().mean_latency
    };
    let (p2c, peak) = (run(BalancerKind::PowerOfTwo), run(BalancerKind::PeakEwma));
    assert!(
        peak < 0.8 * p2c,
        "Peak-EWMA {peak:.4} s against p2c {p2c:.4} s"
    );
}

/// Requests carry keys only while some balancer hashes them. A switch to a
/// hashing balancer mid-run gives the requests under way the keys they
/// would have had from the start: the run equals one in which a plugged-in
/// balancer (which may hash) made every request draw its key.
#[test]
fn a_switch_to_hashing_gives_requests_under_way_their_keys() {
    let mut c = SimConfig::example();
    for s in &mut c.sites {
        s.balancer = BalancerKind::SmoothWrr;
    }
    // Overloaded, so that retries and queued attempts span the switch
    // (immediate retries with no concurrency limit: Envoy's preset would
    // hold at most 3 retries at once).
    c.clients[0].workload = Workload::Open {
        rate: 950.0,
        curve: Vec::new(),
    };
    c.clients[0].retry = RetrySpec::Preset("naive".into());
    c.timeline.push(TimedAction {
        at: SimTime(10_000_000_000),
        action: Action::SetBalancer {
            site: "east".into(),
            balancer: BalancerKind::Maglev,
            params: Default::default(),
        },
    });
    let mut lazy = Simulation::new(c.clone()).unwrap();
    lazy.run();
    let west = BalancerKind::SmoothWrr
        .build(&[Backend::new(0, 1)], 0)
        .unwrap();
    let mut eager = Simulation::builder(c)
        .balancer("west", west)
        .build()
        .unwrap();
    eager.run();
    let s = lazy.summary();
    assert!(s.amplification > 1.05, "retries span the switch: {s:?}");
    assert_eq!(fingerprint(&lazy), fingerprint(&eager));
}
