//! Simulator throughput and memory.
//!
//! `cargo bench --bench sim` prints, for a scenario near saturation with
//! retries (4 sites × 16 backends, 95 % load, timeouts, backoff):
//!
//! - simulated attempts per second of wall time, single thread, median of
//!   five runs;
//! - the same with the backends' queues under controlled delay
//!   (`disciplines`), alternating with FIFO;
//! - the peak resident memory of a run and of one ten times longer, each
//!   in a fresh process (`/proc/self/status` VmHWM).
//!
//! `cargo bench --bench sim -- quick` runs each part once.

use std::process::Command;
use std::time::Instant;

use drainstorm::balancer::BalancerKind;
use drainstorm::retry::{Backoff, Jitter, PolicyConfig, SimDuration};
use drainstorm::sim::{
    BackendGroup, ClientGroup, KeyDist, QueueDiscipline, RecorderConfig, RetrySpec, RouterConfig,
    ServiceTime, SimConfig, Simulation, SiteConfig, Workload,
};

/// The near-saturation scenario, `seconds` long.
fn scenario(seconds: u64, balancer: BalancerKind) -> SimConfig {
    scenario_keys(
        seconds,
        balancer,
        KeyDist::Zipf {
            count: 1_000_000,
            exponent: 0.9,
        },
    )
}

/// The scenario with its request keys drawn from `keys`.
fn scenario_keys(seconds: u64, balancer: BalancerKind, keys: KeyDist) -> SimConfig {
    let ms = SimDuration::from_millis;
    let site = |i: usize| SiteConfig {
        balancer,
        max_in_flight: Some(16 * 40),
        ..SiteConfig::new(
            &format!("dc{i}"),
            vec![BackendGroup {
                slots: 4,
                queue: 32,
                ..BackendGroup::new(16, ServiceTime::Exponential { mean: ms(20) })
            }],
        )
    };
    // Capacity: 4 sites × 16 backends × 4 slots / 20 ms = 12 800/s.
    let retry = PolicyConfig {
        attempt_timeout: Some(ms(250)),
        deadline: Some(SimDuration::from_secs(2)),
        ..PolicyConfig::new(
            Backoff::exponential(ms(10), 2.0, ms(1000), Jitter::Full).expect("valid"),
            3,
        )
    };
    SimConfig {
        seed: 7,
        duration: SimDuration::from_secs(seconds),
        sites: (0..4).map(site).collect(),
        clients: vec![ClientGroup {
            name: "clients".into(),
            workload: Workload::Open {
                rate: 0.95 * 12_800.0,
                curve: Vec::new(),
            },
            keys,
            retry: RetrySpec::Config(Box::new(retry)),
            instances: None,
        }],
        router: RouterConfig::default(),
        cancel_on_timeout: false,
        recorder: RecorderConfig::default(),
        timeline: Vec::new(),
    }
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn throughput(reps: usize) {
    println!(
        "sim/attempts-per-second (single thread, 4 sites × 16 backends × 4 slots, 95% load, 3 attempts, 250 ms timeout)"
    );
    let uniform = KeyDist::Uniform { count: 1 << 32 };
    let cases = [
        ("smooth-wrr", scenario(100, BalancerKind::SmoothWrr)),
        ("least-conn", scenario(100, BalancerKind::LeastConn)),
        ("p2c", scenario(100, BalancerKind::PowerOfTwo)),
        ("maglev", scenario(100, BalancerKind::Maglev)),
        (
            "least-conn, uniform keys",
            scenario_keys(100, BalancerKind::LeastConn, uniform),
        ),
    ];
    for (name, config) in cases {
        let mut rates = Vec::new();
        let mut attempts = 0;
        for _ in 0..reps {
            let mut sim = Simulation::new(config.clone()).expect("valid");
            let start = Instant::now();
            sim.run();
            let wall = start.elapsed().as_secs_f64();
            let s = sim.summary();
            attempts = s.attempts;
            rates.push(s.attempts as f64 / wall);
        }
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        println!(
            "  {:<26} {:>9} attempts  median {:>6.2} M attempts/s  (min {:.2}, max {:.2}, {} runs)",
            name,
            attempts,
            median / 1e6,
            rates[0] / 1e6,
            rates[rates.len() - 1] / 1e6,
            reps
        );
    }
}

/// The same scenario, least-conn, with each backend queue served FIFO and
/// under controlled delay: what the discipline costs per attempt (the
/// runs differ too: shed attempts are retried), alternating the cases
/// in each round.
fn disciplines(reps: usize) {
    let ms = SimDuration::from_millis;
    println!("sim/disciplines (single thread, the scenario above, least-conn)");
    let with = |d: QueueDiscipline| {
        let mut c = scenario(100, BalancerKind::LeastConn);
        for s in &mut c.sites {
            for g in &mut s.backends {
                g.discipline = d;
            }
        }
        c
    };
    let cases = [
        ("fifo", with(QueueDiscipline::Fifo)),
        ("codel 5 ms / 100 ms", with(QueueDiscipline::FAIL_AT_SCALE)),
        (
            "codel 50 ms / 250 ms, FIFO order",
            with(QueueDiscipline::Codel {
                target: ms(50),
                interval: ms(250),
                adaptive_lifo: false,
            }),
        ),
    ];
    let mut rates = vec![Vec::new(); cases.len()];
    let mut attempts = vec![0; cases.len()];
    for _ in 0..reps {
        for (k, (_, config)) in cases.iter().enumerate() {
            let mut sim = Simulation::new(config.clone()).expect("valid");
            let start = Instant::now();
            sim.run();
            let wall = start.elapsed().as_secs_f64();
            attempts[k] = sim.summary().attempts;
            rates[k].push(attempts[k] as f64 / wall);
        }
    }
    for (k, (name, _)) in cases.iter().enumerate() {
        let r = &mut rates[k];
        r.sort_by(f64::total_cmp);
        println!(
            "  {:<34} {:>9} attempts  median {:>6.2} M attempts/s  ({} runs)",
            name,
            attempts[k],
            r[r.len() / 2] / 1e6,
            reps
        );
    }
}

/// A share-nothing control: `units` fixed chunks of integer work split
/// over `threads` threads. Its speed-up is what the VM gives two threads.
fn control(threads: usize, units: usize) -> f64 {
    let start = Instant::now();
    let per = units / threads;
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ t as u64;
                for _ in 0..per * 40_000_000 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                }
                std::hint::black_box(x);
            });
        }
    });
    start.elapsed().as_secs_f64()
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a pool")
        .install(f)
}

/// The batch: 6 balancers × 2 policies of the incident profile at a tenth
/// of its size, 200 s each.
fn batch_configs() -> Vec<SimConfig> {
    let mut profile = drainstorm::profile::Profile::bundled("cheyenne-2026")
        .expect("bundled")
        .expect("valid");
    profile.compare.policies = vec!["immediate".into(), "backoff-budget".into()];
    // At a tenth of the bundled size: the size of the figures in
    // BENCHMARKS.md, so builds stay comparable across the resize.
    profile.scale = 0.1;
    profile
        .runs()
        .into_iter()
        .map(|r| {
            let mut c = r.config;
            c.duration = SimDuration::from_secs(200);
            c
        })
        .collect()
}

fn parallel(reps: usize) {
    println!(
        "sim/batch (12 runs: 6 balancers × 2 policies, cheyenne-2026 at scale 0.1 cut to 200 s) and a share-nothing control"
    );
    let configs = batch_configs();
    assert_eq!(configs.len(), 12);
    let mut rows = Vec::new();
    for _ in 0..reps {
        let t1 = in_pool(1, || {
            let s = Instant::now();
            drainstorm::sim::run_batch(&configs);
            s.elapsed().as_secs_f64()
        });
        let t2 = in_pool(2, || {
            let s = Instant::now();
            drainstorm::sim::run_batch(&configs);
            s.elapsed().as_secs_f64()
        });
        let c1 = control(1, 2);
        let c2 = control(2, 2);
        rows.push((t1, t2, c1, c2));
    }
    for (t1, t2, c1, c2) in &rows {
        println!(
            "  batch 1 thread {t1:6.2} s  2 threads {t2:6.2} s  speed-up {:.2}×   control speed-up {:.2}×",
            t1 / t2,
            c1 / c2
        );
    }
    // Each column's own median (the control's is not paired with the
    // batch's median run).
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "  median: batch speed-up {:.2}×, control {:.2}×",
        median(rows.iter().map(|r| r.0 / r.1).collect()),
        median(rows.iter().map(|r| r.2 / r.3).collect())
    );

    println!("sim/large-run (the near-saturation scenario for 1000 s) on 1 and 2 threads");
    let big = scenario(1000, BalancerKind::LeastConn);
    for threads in [1, 2] {
        let (attempts, wall) = in_pool(threads, || {
            let mut sim = Simulation::new(big.clone()).expect("valid");
            let s = Instant::now();
            sim.run();
            (sim.summary().attempts, s.elapsed().as_secs_f64())
        });
        println!(
            "  {threads} thread{}: {attempts} attempts in {wall:.2} s = {:.2} M attempts/s",
            if threads == 1 { " " } else { "s" },
            attempts as f64 / wall / 1e6
        );
    }
}

fn memory_child(seconds: u64) {
    let mut sim = Simulation::new(scenario(seconds, BalancerKind::LeastConn)).expect("valid");
    sim.run();
    let s = sim.summary();
    println!("{} {}", s.attempts, peak_rss_kib().unwrap_or(0));
}

fn memory() {
    let exe = std::env::current_exe().expect("own path");
    let measure = |seconds: u64| -> Option<(u64, u64)> {
        let out = Command::new(&exe)
            .args(["--memory-child", &seconds.to_string()])
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        let mut it = text.split_whitespace().map(|w| w.parse::<u64>().ok());
        Some((it.next()??, it.next()??))
    };
    println!("sim/peak-memory (VmHWM of a fresh process, least-conn)");
    let (Some((a1, m1)), Some((a10, m10))) = (measure(60), measure(600)) else {
        println!("  could not measure (no /proc?)");
        return;
    };
    println!("  60 s run:  {a1:>9} attempts  peak {m1:>7} KiB");
    println!(
        "  600 s run: {a10:>9} attempts  peak {m10:>7} KiB  ({:+.1}%)",
        100.0 * (m10 as f64 - m1 as f64) / m1 as f64
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--memory-child") {
        let seconds = args.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(60);
        return memory_child(seconds);
    }
    let quick = args.iter().any(|a| a == "quick");
    // `cargo bench` passes `--bench`; any other filter word selects parts.
    let wants = |part: &str| {
        let filters: Vec<&String> = args[1..]
            .iter()
            .filter(|a| !a.starts_with("--") && *a != "quick")
            .collect();
        filters.is_empty() || filters.iter().any(|f| part.contains(f.as_str()))
    };
    if wants("throughput") {
        // One thread in all: arrivals too, which rayon would otherwise
        // draw on a second core.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("a pool");
        pool.install(|| throughput(if quick { 1 } else { 5 }));
    }
    if wants("disciplines") {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("a pool");
        pool.install(|| disciplines(if quick { 1 } else { 5 }));
    }
    if wants("memory") {
        memory();
    }
    if wants("parallel") {
        parallel(if quick { 1 } else { 3 });
    }
}
