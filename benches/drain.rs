//! `cargo bench --bench drain`: runs the bundled incident profile's
//! comparison and prints the same table as `cargo run --release`, so that
//! `cargo bench` shows how each strategy absorbs the drain as well as how
//! fast it picks.

use std::time::Instant;

use drainstorm::profile::{DEFAULT, Profile};
use drainstorm::report::Comparison;

fn main() {
    let profile = Profile::bundled(DEFAULT)
        .expect("bundled")
        .expect("the bundled profile is valid");
    let start = Instant::now();
    let comparison = Comparison::run(profile).expect("runs of a valid profile succeed");
    let wall = start.elapsed();
    println!(
        "drain/{}: {} runs in {:.1} s on {} threads\n",
        comparison.profile.name,
        comparison.runs.len(),
        wall.as_secs_f64(),
        rayon::current_num_threads()
    );
    print!("{}", comparison.table(false));
}
