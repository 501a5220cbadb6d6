//! A run whose every site is some distance away, run window by window
//! with each side in turn ([`Simulation::run_in_windows`], the schedule
//! of a run with a thread per side), records what the whole run records:
//! for every bundled profile, and for random networks, loads and
//! mitigations.

use drainstorm::profile::Profile;
use drainstorm::retry::{Backoff, LimitsConfig, PolicyConfig};
use drainstorm::sim::{
    Action, BackendGroup, CurvePoint, HealthCheckConfig, RetrySpec, ServiceTime, SimConfig,
    Simulation, SiteConfig, TimedAction, Workload,
};
use drainstorm::time::{SimDuration, SimTime};
use proptest::prelude::*;

/// Everything a run recorded, as text to compare.
fn recorded(sim: &Simulation) -> String {
    let r = sim.recorder();
    let sites: Vec<Vec<_>> = (0..r.sites())
        .map(|s| r.site_series(s).cloned().collect())
        .collect();
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}",
        sim.summary(),
        r.totals(),
        r.series(),
        sites
    )
}

/// `config` run whole and in windows: what each recorded, and the
/// windows' figures.
fn both(config: SimConfig) -> (String, String, drainstorm::sim::Windows) {
    let mut whole = Simulation::new(config.clone()).unwrap();
    whole.run();
    let mut sim = Simulation::new(config).unwrap();
    let windows = sim.run_in_windows().unwrap();
    (recorded(&whole), recorded(&sim), windows)
}

#[test]
fn every_bundled_profile_runs_in_windows_as_it_runs_whole() {
    for (name, _) in drainstorm::profile::BUNDLED {
        let profile = Profile::bundled(name).unwrap().unwrap();
        let runs = profile.runs();
        // The first and the last of each comparison, through the first
        // half hour after the incident's drain (at 45 min).
        for run in [runs.first().unwrap(), runs.last().unwrap()] {
            let mut config = run.config.clone();
            config.duration = config.duration.min(SimDuration::from_secs(75 * 60));
            for (i, site) in config.sites.iter_mut().enumerate() {
                site.rtt = SimDuration::from_millis(20 + 15 * i as u64);
            }
            let (whole, windows, w) = both(config);
            assert!(
                whole == windows,
                "{name}, {} + {}: {w:?}",
                run.balancer,
                run.policy
            );
            assert!(w.windows > 0 && w.clients > 0 && w.sites > 0, "{w:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// However far the sites (each at least 2 µs away), the timeouts, the
    /// retries, the backlogs, the client limits, the cancellations, the
    /// probes, the drains, paced or not, and the router's weights reaching
    /// the clients at once or later.
    #[test]
    fn any_split_run_in_windows_is_the_whole_run(
        rtts in prop::collection::vec(2u64..200_000, 1..6),
        rate in 50.0..2500.0f64,
        attempts in 1u32..=4,
        timeout in prop::option::of(20u64..400),
        cancel in any::<bool>(),
        accept in prop::option::of(50.0..400.0f64),
        backlog in 0u32..50,
        pending in prop::option::of(1u32..10),
        probes in any::<bool>(),
        paced in any::<bool>(),
        propagation in prop::option::of(1u64..3_000),
        seed in 0u64..1000,
    ) {
        let mut c = SimConfig::example();
        c.duration = SimDuration::from_secs(8);
        c.seed = seed;
        c.cancel_on_timeout = cancel;
        c.router.propagation = SimDuration::from_millis(propagation.unwrap_or(0));
        c.router.health_check = probes.then(|| {
            HealthCheckConfig::new(SimDuration::from_millis(500), SimDuration::from_millis(200))
        });
        c.sites = rtts
            .iter()
            .enumerate()
            .map(|(i, &rtt)| SiteConfig {
                rtt: SimDuration::from_micros(rtt),
                max_new_per_sec: accept,
                accept_backlog: backlog,
                ..SiteConfig::new(
                    &format!("s{i}"),
                    vec![BackendGroup {
                        queue: 4,
                        ..BackendGroup::new(10, ServiceTime::Exponential {
                            mean: SimDuration::from_millis(20),
                        })
                    }],
                )
            })
            .collect();
        c.clients[0].instances = Some(3);
        c.clients[0].workload = Workload::Open {
            rate,
            curve: vec![
                CurvePoint { at: SimTime::ZERO, factor: 1.0 },
                CurvePoint { at: SimTime::from_secs(6), factor: 0.0 },
            ],
        };
        c.clients[0].retry = RetrySpec::Config(Box::new(PolicyConfig {
            attempt_timeout: timeout.map(SimDuration::from_millis),
            limits: LimitsConfig { max_pending_requests: pending, ..LimitsConfig::default() },
            ..PolicyConfig::new(Backoff::Immediate, attempts)
        }));
        let action = if paced {
            Action::PacedDrain {
                site: "s0".into(),
                step: 0.25,
                every: SimDuration::from_secs(1),
                window: SimDuration::ZERO,
                max_utilisation: Some(0.8),
                max_reject_rate: None,
                max_timeout_rate: None,
                back_off: true,
            }
        } else {
            Action::Drain { site: "s0".into(), ramp: SimDuration::from_secs(1) }
        };
        c.timeline = vec![TimedAction { at: SimTime::from_secs(2), action }];
        let (whole, windows, w) = both(c);
        prop_assert!(whole == windows, "{:?}\n{}\n{}", w, whole, windows);
        prop_assert!(w.bound() >= 1.0 && w.bound() <= 2.0, "{:?}", w);
    }
}
