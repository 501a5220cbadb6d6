//! What a window-synchronised parallel run of the incident would see,
//! counted on one thread (`Simulation::run_in_windows`).
//!
//! `cargo bench --bench windows` runs the incident's least-conn +
//! immediate run, its first two hours, at 1 and 10 times its size with
//! every site 20 or 80 ms away, window by window, and prints each side's
//! events per window, a window's time on one thread, and what a thread
//! per side could gain at most; at 80 ms, the same for finer splits of
//! the model's parts (sites, client instances, the router) over 2, 4, 16
//! and 64 threads. `cargo bench --bench windows -- quick` runs the
//! bundled size only. Figures: BENCHMARKS.md ("One run across cores").

use std::time::Instant;

use drainstorm::sim::{SimConfig, Simulation};
use drainstorm::time::SimDuration;

/// The incident's least-conn + immediate run at `scale` times its size,
/// its first two hours (the drain at 45 min and the storm after it),
/// with every site `rtt_ms` away, run in windows: what a thread per side
/// would each work through, and the time a window takes on one thread.
fn windows(scales: &[f64]) {
    use drainstorm::profile::Profile;
    println!("windows (cheyenne-2026 least-conn + immediate, first 2 h, every site rtt away)");
    for &scale in scales {
        for rtt_ms in [20, 80] {
            let mut profile = Profile::bundled("cheyenne-2026").unwrap().unwrap();
            profile.scale = scale;
            let run = profile
                .scaled()
                .runs()
                .into_iter()
                .find(|r| r.balancer == "least-conn" && r.policy == "immediate")
                .expect("the incident compares it");
            let mut config = run.config;
            config.duration = SimDuration::from_secs(2 * 3600);
            for site in &mut config.sites {
                site.rtt = SimDuration::from_millis(rtt_ms);
            }
            let mut sim = Simulation::new(config.clone()).expect("valid");
            let start = Instant::now();
            let w = sim.run_in_windows().expect("every site is away");
            let wall = start.elapsed().as_secs_f64();
            let events = w.clients + w.sites + w.steering;
            println!(
                "  x{scale} at {rtt_ms} ms: {} windows, {:.0} events each ({:.0} clients' + {:.0} sites'), {:.1} us each on one thread; a thread per side: at most {:.2}x",
                w.windows,
                events as f64 / w.windows as f64,
                w.clients as f64 / w.windows as f64,
                w.sites as f64 / w.windows as f64,
                wall * 1e6 / w.windows as f64,
                w.bound()
            );
            if rtt_ms == 80 {
                finer(config, &w.parts);
            }
        }
    }
}

/// The incident run `config` again, split finer: its parts (each site,
/// each client instance, the router) over 2, 4, 16 and 64 threads, each
/// part to the thread with the fewest events so far, largest first (by
/// `parts`, each part's events in a run before); and over 2 threads, one
/// with every site and as many client instances as even the two out.
fn finer(config: SimConfig, parts: &[u64]) {
    let sites = config.sites.len();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|&p| std::cmp::Reverse(parts[p]));
    let threads = [2, 4, 16, 64];
    let all: u64 = parts.iter().sum();
    let mut sites_and_some = vec![1; parts.len()];
    let mut load = 0;
    for p in 0..parts.len() - 1 {
        if p < sites || load + parts[p] <= all / 2 {
            sites_and_some[p] = 0;
            load += parts[p];
        }
    }
    let mut splits: Vec<Vec<usize>> = threads
        .iter()
        .map(|&n| {
            let mut load = vec![0u64; n];
            let mut split = vec![0; parts.len()];
            for &p in &order {
                let t = (0..n).min_by_key(|&t| load[t]).expect("a thread");
                load[t] += parts[p];
                split[p] = t;
            }
            split
        })
        .collect();
    splits.push(sites_and_some);
    let mut sim = Simulation::new(config).expect("valid");
    let w = sim
        .run_in_windows_split(&splits)
        .expect("every site is away");
    let biggest = parts.iter().max().copied().unwrap_or(0);
    print!(
        "    {} parts (the biggest {:.1} % of the events); split finer, at most",
        parts.len(),
        100.0 * biggest as f64 / all as f64
    );
    for (k, n) in threads.iter().enumerate() {
        print!(" {:.2}x on {n}", w.bound_of(k));
    }
    println!(
        "; the sites with some instances, the other instances: {:.2}x on 2",
        w.bound_of(threads.len())
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    windows(if quick { &[1.0] } else { &[1.0, 10.0] });
}
