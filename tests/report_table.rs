//! The comparison table fitted to a terminal's width.

use drainstorm::profile::Profile;
use drainstorm::report::Comparison;
use drainstorm::retry::SimDuration;
use drainstorm::sim::run_batch;

fn comparison() -> Comparison {
    let mut profile = Profile::bundled("flash-crowd").unwrap().unwrap();
    profile.duration = SimDuration::from_secs(20);
    profile.compare.balancers.truncate(2);
    let runs = profile.runs();
    let configs: Vec<_> = runs.iter().map(|r| r.config.clone()).collect();
    let results = run_batch(&configs);
    Comparison {
        runs: runs
            .into_iter()
            .zip(results)
            .map(|(r, res)| (r, res.unwrap()))
            .collect(),
        profile,
    }
}

#[test]
fn a_narrow_terminal_gets_the_columns_that_fit_and_is_told_which_are_hidden() {
    let c = comparison();
    let full = c.table(false);
    let widest = full.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest > 80, "{full}");
    assert!(full.contains("p99.9") && !full.contains("hidden"));

    let narrow = c.table_for_width(false, Some(80));
    for line in narrow.lines() {
        assert!(line.chars().count() <= 80, "{line}");
    }
    let header = narrow.lines().next().unwrap();
    for kept in ["balancer", "policy", "verdict", "lost %", "recovery"] {
        assert!(header.contains(kept), "{header}");
    }
    assert!(!header.contains("p99.9"), "{header}");
    let note = narrow.lines().last().unwrap();
    assert!(
        note.starts_with("(hidden to fit 80 columns: p99.9"),
        "{note}"
    );

    // Wide enough: nothing hidden, the same table.
    assert_eq!(c.table_for_width(false, Some(widest)), full);
}
