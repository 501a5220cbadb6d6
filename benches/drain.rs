//! `cargo bench --bench drain`: runs the bundled incident profile's
//! comparison and prints the same table as `cargo run --release`, so that
//! `cargo bench` shows how each strategy absorbs the drain as well as how
//! fast it picks.

use std::time::Instant;

use drainstorm::profile::{DEFAULT, Profile};
use drainstorm::report::Comparison;
use drainstorm::sim::run_batch;

fn main() {
    let profile = Profile::bundled(DEFAULT)
        .expect("bundled")
        .expect("the bundled profile is valid");
    let runs = profile.runs();
    let configs: Vec<_> = runs.iter().map(|r| r.config.clone()).collect();
    let start = Instant::now();
    let results = run_batch(&configs);
    let wall = start.elapsed();
    let runs = runs
        .into_iter()
        .zip(results)
        .map(|(run, res)| (run, res.expect("runs of a valid profile succeed")))
        .collect();
    let comparison = Comparison { profile, runs };
    println!(
        "drain/{}: {} runs in {:.1} s on {} threads\n",
        comparison.profile.name,
        comparison.runs.len(),
        wall.as_secs_f64(),
        rayon::current_num_threads()
    );
    print!("{}", comparison.table(false));
}
