//! The `paced-drain` action: a site's weight goes down a step at a time
//! while the sites left in rotation stay within their limits, holds (or
//! backs off) when they do not, and gives way to the next action on the
//! site.

use drainstorm::profile::Profile;
use drainstorm::retry::SimTime;
use drainstorm::sim::Simulation;

/// Two sites of 4 backends at 10 ms; `rate` requests per second; east is
/// drained from 10 s by `paced`.
fn profile(rate: u32, paced: &str, after: &str) -> Simulation {
    let text = format!(
        r#"
name = "paced"
seed = 5
duration = "120s"

[recorder]
interval = "1s"

[[sites]]
name = "east"
weight = 100
backends = [{{ count = 4, slots = 1, queue = 50, service = {{ dist = "exponential", mean = "10ms" }} }}]

[[sites]]
name = "west"
weight = 100
backends = [{{ count = 4, slots = 1, queue = 50, service = {{ dist = "exponential", mean = "10ms" }} }}]

[[clients]]
name = "web"
retry = "envoy"
workload = {{ kind = "open", rate = {rate} }}

[[timeline]]
at = "10s"
action = "paced-drain"
site = "east"
{paced}
{after}
"#
    );
    let p = Profile::from_toml(&text, "paced.toml").unwrap_or_else(|e| panic!("{e}"));
    Simulation::new(p.sim_config()).unwrap()
}

/// East's router weight at each whole second from 0 to 120.
fn weights(mut sim: Simulation) -> Vec<u32> {
    (0..=120)
        .map(|t| {
            sim.run_until(SimTime(t * 1_000_000_000));
            sim.sites()[0].weight
        })
        .collect()
}

#[test]
fn healthy_sites_let_it_step_down_to_zero() {
    // 100/s against west's 400/s: far below every limit.
    let w = weights(profile(
        100,
        "step = 0.25\nevery = \"5s\"\nmax_utilisation = 0.8",
        "",
    ));
    assert_eq!(w[9], 100);
    assert_eq!(w[16], 75, "{w:?}");
    assert_eq!(w[21], 50, "{w:?}");
    assert_eq!(w[26], 25, "{w:?}");
    assert_eq!(w[31], 0, "{w:?}");
    assert!(w[31..].iter().all(|&x| x == 0));
    // Never up, never below zero: monotone.
    assert!(w.windows(2).all(|p| p[1] <= p[0]), "{w:?}");
}

#[test]
fn an_overloaded_site_holds_the_drain() {
    // 600/s: west alone (400/s of backends) would be overloaded; the
    // utilisation limit holds east's weight once west runs hot.
    let w = weights(profile(
        600,
        "step = 0.25\nevery = \"5s\"\nmax_utilisation = 0.8",
        "",
    ));
    assert!(w[120] > 0, "held above zero: {w:?}");
    assert!(w[120] < 100, "but it went down some: {w:?}");
    // An abrupt drain of the same load would put it all on west.
    let strict = weights(profile(
        600,
        "step = 0.25\nevery = \"5s\"\nmax_utilisation = 0.01",
        "",
    ));
    assert!(
        strict.iter().all(|&x| x == 100),
        "a limit always broken holds it at once: {strict:?}"
    );
}

#[test]
fn back_off_gives_weight_back_but_never_above_the_start() {
    let w = weights(profile(
        600,
        "step = 0.25\nevery = \"5s\"\nmax_utilisation = 0.8\nback_off = true",
        "",
    ));
    assert!(w.iter().all(|&x| x <= 100), "{w:?}");
    let ups = w.windows(2).filter(|p| p[1] > p[0]).count();
    assert!(ups > 0, "backed off at least once: {w:?}");
}

#[test]
fn the_next_action_on_the_site_takes_over() {
    let restore = "[[timeline]]\nat = \"17s\"\naction = \"restore\"\nsite = \"east\"";
    let w = weights(profile(
        100,
        "step = 0.25\nevery = \"5s\"\nmax_utilisation = 0.8",
        restore,
    ));
    assert_eq!(w[16], 75, "{w:?}");
    assert!(
        w[17..].iter().all(|&x| x == 100),
        "restored and no more steps: {w:?}"
    );
}
