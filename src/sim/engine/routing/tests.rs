//! The router's weights on their way to the clients' answers.

use super::*;
use crate::sim::config::{Action, HealthCheckConfig, TimedAction};
use crate::time::SimDuration;

/// Each site's weight, from an instant on.
type Timeline = Vec<(u64, Vec<u64>)>;

/// Each instant at which `states` changed, with its last state there.
fn changes(states: &[(u64, Vec<u64>)]) -> Timeline {
    let mut out: Timeline = Vec::new();
    for (t, w) in states {
        if out.last().is_some_and(|(lt, _)| lt == t) {
            out.pop();
        }
        out.push((*t, w.clone()));
    }
    out.dedup_by(|b, a| a.1 == b.1);
    out
}

/// A run of `example()`'s two sites, weighted random, whose router
/// publishes its weights `propagation` ms on: every event stepped, the
/// published weights and those the clients' answers follow after each.
fn weights_over_time(propagation: u64) -> (Timeline, Timeline) {
    let mut c = SimConfig::example();
    c.duration = SimDuration::from_secs(60);
    c.router.mode = RouterMode::WeightedRandom;
    c.router.slow_start = SimDuration::from_secs(4);
    c.router.propagation = SimDuration::from_millis(propagation);
    c.router.health_check = Some(HealthCheckConfig::new(
        SimDuration::from_millis(500),
        SimDuration::from_millis(200),
    ));
    let at = |secs, action| TimedAction {
        at: SimTime::from_secs(secs),
        action,
    };
    let east = || "east".to_string();
    c.timeline = vec![
        // Health checks eject east, then return it (slow start).
        at(
            10,
            Action::SetBackendFailure {
                site: east(),
                backends: None,
                fail_probability: 1.0,
            },
        ),
        at(
            20,
            Action::SetBackendFailure {
                site: east(),
                backends: None,
                fail_probability: 0.0,
            },
        ),
        // A drain over 3 s, a restore at once (slow start again).
        at(
            35,
            Action::Drain {
                site: east(),
                ramp: SimDuration::from_secs(3),
            },
        ),
        at(
            45,
            Action::Restore {
                site: east(),
                ramp: SimDuration::ZERO,
                cold_factor: 1.0,
                cold_for: SimDuration::ZERO,
            },
        ),
    ];
    let mut sim = Simulation::new(c).unwrap();
    let (mut published, mut answers) = (Vec::new(), Vec::new());
    while let Some(t) = sim.step() {
        let router = &sim.router;
        published.push((
            t.0,
            router
                .members
                .iter()
                .map(|m| u64::from(m.published))
                .collect(),
        ));
        answers.push((t.0, router.site_draw.weights()));
    }
    (changes(&published), changes(&answers))
}

#[test]
fn the_answers_follow_the_published_weights_a_propagation_later() {
    let (published, answers) = weights_over_time(0);
    // Ejected, back in ten slow-start steps, drained in steps, restored
    // in steps: many changes, each in the answers at once.
    assert!(published.len() > 20, "{published:?}");
    let ejected = |t: u64, w: &[u64]| (10_000_000_000..35_000_000_000).contains(&t) && w[0] == 0;
    assert!(
        published.iter().any(|(t, w)| ejected(*t, w)),
        "{published:?}"
    );
    assert_eq!(answers, published);
    for d in [1, 700, 2_500] {
        let (published, answers) = weights_over_time(d);
        let shifted: Timeline = published
            .iter()
            .map(|(t, w)| (t + d * 1_000_000, w.clone()))
            .filter(|(t, _)| *t < 60_000_000_000)
            .collect();
        // The first state is the built one, in both at once.
        assert_eq!(answers[0], published[0], "{d} ms");
        assert_eq!(answers[1..], shifted[1..], "{d} ms");
    }
}
