//! The comparison table fitted to a terminal's width.

use drainstorm::profile::Profile;
use drainstorm::report::Comparison;
use drainstorm::retry::SimDuration;

fn comparison() -> Comparison {
    let mut profile = Profile::bundled("flash-crowd").unwrap().unwrap();
    profile.scenario.duration = SimDuration::from_secs(20);
    profile.compare.balancers.truncate(2);
    Comparison::run(profile).unwrap()
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

#[test]
fn a_comparison_of_one_combination_is_spoken_of_as_one() {
    let mut profile = Profile::bundled("flash-crowd").unwrap().unwrap();
    profile.scenario.duration = SimDuration::from_secs(20);
    profile.compare.balancers.truncate(1);
    profile.compare.policies.truncate(1);
    let c = Comparison::run(profile).unwrap();
    let rows = c.rows();
    assert_eq!(rows.len(), 1);
    let page = drainstorm::report::html(&c);
    let start = page.find("<h2>What happened</h2>").expect("a conclusion");
    let said = &page[start..start + page[start..].find("</section>").unwrap()];
    let one = format!(
        "Its one combination, {} + {}, ",
        rows[0].balancer, rows[0].policy
    );
    assert!(said.contains(&one), "{said}");
    for counted in ["All 1", "1 of 1", "the best,"] {
        assert!(!said.contains(counted), "{said}");
    }
}

#[test]
fn the_report_opens_with_its_conclusion_and_names_what_it_draws() {
    let c = comparison();
    let page = drainstorm::report::html(&c);
    let start = page.find("<h2>What happened</h2>").expect("a conclusion");
    let said = &page[start..start + page[start..].find("</section>").unwrap()];
    let rows = c.rows();
    let absorbed = rows
        .iter()
        .filter(|r| r.verdict == drainstorm::sim::Verdict::Absorbed)
        .count();
    if absorbed == rows.len() {
        assert!(said.contains("All "), "{said}");
    } else if absorbed == 0 {
        assert!(said.contains("No combination absorbed it"), "{said}");
    } else {
        assert!(
            said.contains(&format!("{absorbed} of {}", rows.len())),
            "{said}"
        );
    }
    assert!(said.contains(&rows[0].balancer), "{said}");
    // The latency chart names every combination; the legend every balancer.
    for r in &rows {
        assert!(page.contains(&format!("{} + {}", r.balancer, r.policy)));
    }
    assert!(page.contains("class=\"legend\""));
}

#[test]
fn every_timeline_action_is_labelled_on_the_charts() {
    let mut c = comparison();
    let site = c.profile.scenario.sites[0].name.clone();
    c.profile.scenario.timeline = vec![drainstorm::sim::TimedAction {
        at: drainstorm::retry::SimTime(5_000_000_000),
        action: drainstorm::sim::Action::SetAcceptRate {
            site: site.clone(),
            max_new_per_sec: 12.5,
        },
    }];
    let page = drainstorm::report::html(&c);
    let label = format!("{site} accept 12.5/s");
    // Once per time chart: goodput and amplification, per policy.
    let charts = 2 * c.profile.compare.policies.len().max(1);
    assert_eq!(page.matches(&label).count(), charts, "{label}");
}
