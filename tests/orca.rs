//! Backend-reported weights (ORCA) at a site: a balancer that reads
//! weights learns the backends' real capacity from their reports, and
//! nothing changes before the first weight is valid.

use drainstorm::balancer::BalancerKind;
use drainstorm::sim::{
    BackendGroup, Orca, ServiceTime, SimConfig, Simulation, SiteConfig, Summary, Workload,
};
use drainstorm::time::SimDuration;

/// One site under smooth weighted round robin: five backends of 20 ms and
/// five three times as fast, all configured with weight 1 (capacity 1000
/// requests/s), offered 700 requests/s for a minute.
fn mixed(orca: Option<Orca>) -> SimConfig {
    let service = ServiceTime::Exponential {
        mean: SimDuration::from_millis(20),
    };
    let group = |speed| BackendGroup {
        queue: 40,
        speed,
        ..BackendGroup::new(5, service)
    };
    let mut c = SimConfig::example();
    c.duration = SimDuration::from_secs(60);
    c.sites = vec![SiteConfig {
        balancer: BalancerKind::SmoothWrr,
        orca,
        ..SiteConfig::new("only", vec![group(1.0), group(3.0)])
    }];
    c.clients[0].workload = Workload::open(700.0);
    c
}

fn run(c: SimConfig) -> Summary {
    let mut sim = Simulation::new(c).unwrap();
    sim.run();
    sim.summary()
}

#[test]
fn reported_weights_send_the_fast_backends_their_share() {
    // Equal shares give the slow backends 70 requests/s each against 50
    // they can serve: their queues fill and attempts time out. Weights
    // from reports (after the 10 s blackout) follow capacity.
    let plain = run(mixed(None));
    let weighed = run(mixed(Some(Orca::default())));
    assert!(plain.lost > 0.03, "{}", plain.lost);
    assert!(
        weighed.lost * 3.0 < plain.lost,
        "{} lost with reported weights, {} without",
        weighed.lost,
        plain.lost
    );
    assert!(weighed.p99 < plain.p99, "{} vs {}", weighed.p99, plain.p99);
}

#[test]
fn nothing_changes_before_a_weight_is_valid() {
    let mut o = Orca::default();
    o.blackout_period = SimDuration::from_secs(3600);
    let plain = run(mixed(None));
    let waiting = run(mixed(Some(o)));
    assert_eq!(format!("{plain:?}"), format!("{waiting:?}"));
}

#[test]
fn bad_settings_are_refused_by_key() {
    let mut o = Orca::default();
    o.error_utilization_penalty = -1.0;
    let Err(e) = Simulation::new(mixed(Some(o))) else {
        panic!("a negative penalty was accepted");
    };
    assert!(
        e.to_string()
            .contains("sites[0].orca.error_utilization_penalty"),
        "{e}"
    );
    let mut o = Orca::default();
    o.update_period = SimDuration::ZERO;
    let Err(e) = Simulation::new(mixed(Some(o))) else {
        panic!("a zero period was accepted");
    };
    assert!(e.to_string().contains("sites[0].orca.update_period"), "{e}");
}
