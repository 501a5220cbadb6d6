//! `explain` on profiles built so that the answer is known
//! (`tests/explain/*.toml`, each saying why in its comment): a storm
//! sustained by retries, one by abandoned work, one by health-check
//! ejections, and a system vulnerable without any trigger — and, in each,
//! which timeline action (or load rise) triggered it.

use drainstorm::plan::{Effect, ExplainPlan, Explanation, Trigger};
use drainstorm::profile::Profile;
use drainstorm::sim::Verdict;

fn explain(name: &str, seeds: u32) -> Explanation {
    let path = format!("{}/tests/explain/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let profile = Profile::from_toml(&text, &path).unwrap();
    let plan = ExplainPlan::run(&profile, seeds, &|_| {}).unwrap();
    assert_eq!(plan.explanations.len(), 1);
    let e = plan.explanations.into_iter().next().unwrap();
    eprintln!("{name}: {e:#?}");
    e
}

#[test]
fn a_storm_kept_up_by_retries_is_named_so() {
    let e = explain("retries", 2);
    assert_eq!(e.base.verdict, Verdict::Metastable);
    // The only candidate is the load's rise; without it, absorbed.
    assert_eq!(e.candidates.len(), 1);
    assert!(e.candidates[0].load);
    assert_eq!(e.trigger, Trigger::Candidates { which: vec![0] });
    assert_eq!(e.sustained_by, [Effect::Retries]);
    let stopped = e.ablation(Effect::Retries).unwrap();
    assert!(stopped.recovery_s() < 60.0, "{stopped:?}");
    assert!(e.base.recovery_s().is_infinite());
    // Only what can act was tried: the load balancer's reset (it has a
    // rate), not cancellation (on already), health checks or DNS.
    assert!(e.ablation(Effect::LoadBalancers).is_some());
    for none in [
        Effect::AbandonedWork,
        Effect::HealthChecks,
        Effect::Dns,
        Effect::ClientState,
    ] {
        assert!(e.ablation(none).is_none(), "{none:?}");
    }
}

#[test]
fn a_storm_kept_up_by_abandoned_work_is_named_so() {
    let e = explain("abandoned", 2);
    assert!(
        matches!(e.base.verdict, Verdict::Metastable | Verdict::Collapsed),
        "{:?}",
        e.base
    );
    assert_eq!(e.trigger, Trigger::Candidates { which: vec![0] });
    assert_eq!(e.sustained_by, [Effect::AbandonedWork]);
    let cancelled = e.ablation(Effect::AbandonedWork).unwrap();
    assert!(
        cancelled.recovery_s() * 4.0 < e.base.recovery_s(),
        "{cancelled:?} vs {:?}",
        e.base
    );
    assert!(e.ablation(Effect::Retries).is_none());
}

#[test]
fn a_storm_kept_up_by_ejections_is_named_so_and_its_trigger_is_the_drain() {
    let e = explain("ejections", 2);
    assert_eq!(e.base.verdict, Verdict::Metastable);
    // Three moments: the harmless failure change (20 s), the drain (40 s)
    // and the restore (60 s).
    assert_eq!(e.candidates.len(), 3);
    assert_eq!(e.trigger, Trigger::Candidates { which: vec![1] });
    assert_eq!(e.without[0].verdict, Verdict::Metastable);
    assert_eq!(e.sustained_by, [Effect::HealthChecks]);
}

#[test]
fn a_system_overloaded_on_its_own_is_not_blamed_on_its_timeline() {
    let e = explain("vulnerable", 1);
    assert!(
        matches!(e.base.verdict, Verdict::Metastable | Verdict::Collapsed),
        "{:?}",
        e.base
    );
    assert_eq!(e.trigger, Trigger::NotTheTimeline);
    assert_ne!(e.without[0].verdict, Verdict::Absorbed);
    // The margin is judged at the first collapse, where the backends were
    // busy all the time.
    assert!(e.margin.backend_utilisation > 0.95, "{:?}", e.margin);
}
