//! Controlled delay and adaptive LIFO at the backends' queues
//! (`QueueDiscipline::Codel`): no served request waited past its
//! deadline, the excess is shed and counted as errors, the newest are
//! served first while a queue stands, and the counts stay whole.

use drainstorm::retry::{Backoff, PolicyConfig, SimDuration};
use drainstorm::sim::{QueueDiscipline, RetrySpec, SimConfig, Simulation, Summary, Workload};
use proptest::prelude::*;

fn ms(v: u64) -> SimDuration {
    SimDuration::from_millis(v)
}

/// `example()` (two sites of 4 backends, 10 ms each: 800 requests/s) at
/// `factor` times its capacity, with deep queues under `discipline`, no
/// load-balancer limits and one attempt per request with a 2 s timeout.
fn overloaded(factor: f64, discipline: QueueDiscipline, seed: u64) -> SimConfig {
    let mut c = SimConfig::example();
    c.seed = seed;
    c.duration = SimDuration::from_secs(6);
    c.clients[0].workload = Workload::open(800.0 * factor);
    c.clients[0].retry = RetrySpec::Config(Box::new(PolicyConfig {
        attempt_timeout: Some(SimDuration::from_secs(2)),
        ..PolicyConfig::new(Backoff::Immediate, 1)
    }));
    for s in &mut c.sites {
        s.max_in_flight = None;
        s.backends[0].queue = 400;
        s.backends[0].discipline = discipline;
    }
    c
}

fn codel(target: u64, interval: u64, adaptive_lifo: bool) -> QueueDiscipline {
    QueueDiscipline::Codel {
        target: ms(target),
        interval: ms(interval),
        adaptive_lifo,
    }
}

/// What a run came to: its summary, its served requests' mean wait in a
/// queue (ns) and the attempts answered with an error.
struct Ran {
    summary: Summary,
    wait: f64,
    errors: u64,
}

fn run(c: SimConfig) -> Ran {
    let mut sim = Simulation::new(c).unwrap();
    sim.run();
    let t = sim.recorder().totals();
    let wait = t.server_wait_ns as f64 / t.completions.max(1) as f64;
    let errors = sim.recorder().series().iter().map(|r| r.errors).sum();
    Ran {
        summary: sim.summary(),
        wait,
        errors,
    }
}

#[test]
fn a_fifo_queue_serves_stale_work_and_controlled_delay_sheds_it() {
    let fifo = run(overloaded(1.5, QueueDiscipline::Fifo, 1));
    let shed = run(overloaded(1.5, codel(5, 100, false), 1));
    // FIFO at 1.5 × capacity: the queues fill, each request waits about
    // 100 × 10 ms before service.
    assert!(fifo.wait > 5e8, "FIFO waits {} ns", fifo.wait);
    assert_eq!(fifo.errors, 0);
    // Under controlled delay no served request waited past its interval.
    assert!(shed.wait <= 1e8, "controlled delay waits {} ns", shed.wait);
    assert!(
        shed.errors > 0,
        "the excess is shed and answered with errors"
    );
    // What is served arrives in time: fewer time-outs.
    let (a, b) = (shed.summary.timeouts, fifo.summary.timeouts);
    assert!(a < b, "{a} time-outs vs {b}");
}

#[test]
fn a_standing_queue_serves_its_newest_first() {
    // With a long interval nothing is shed, so the order alone differs:
    // LIFO serves most requests at once and leaves a few to age.
    let fifo = run(overloaded(1.2, codel(900, 1000, false), 2));
    let lifo = run(overloaded(1.2, codel(900, 1000, true), 2));
    assert!(
        lifo.wait < fifo.wait / 2.0,
        "LIFO waits {} ns, FIFO order {} ns",
        lifo.wait,
        fifo.wait
    );
    assert!(lifo.summary.p50 < fifo.summary.p50);
}

#[test]
fn fail_at_scales_values_are_the_default_of_a_codel_table() {
    let d: QueueDiscipline = toml::from_str("kind = \"codel\"").unwrap();
    assert_eq!(d, QueueDiscipline::FAIL_AT_SCALE);
    let fifo: QueueDiscipline = toml::from_str("kind = \"fifo\"").unwrap();
    assert!(fifo.is_fifo());
    let err = toml::from_str::<QueueDiscipline>("kind = \"codel\"\ntarget = \"5\"").unwrap_err();
    assert!(err.to_string().contains("has no unit"), "{err}");
}

#[test]
fn a_target_above_its_interval_is_refused_where_it_is() {
    let c = overloaded(1.0, codel(200, 100, true), 1);
    let err = Simulation::new(c).expect_err("refused").to_string();
    assert!(
        err.contains("sites[0].backends[0].discipline.target"),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(debug_assertions) { 6 } else { 24 }))]

    /// Whatever the load, the deadlines and the order: the counts of every
    /// site stay whole at every step (a shed job leaves its queue and its
    /// holds once), no served request waited past the interval, and a run
    /// is the same run again.
    #[test]
    fn the_counts_stay_whole_and_no_one_waits_past_the_interval(
        factor in 0.5f64..3.0,
        target in 1u64..50,
        extra in 0u64..200,
        lifo in any::<bool>(),
        cancel in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let interval = target + extra;
        let mut c = overloaded(factor, codel(target, interval, lifo), seed);
        c.cancel_on_timeout = cancel;
        let mut sim = Simulation::new(c.clone()).unwrap();
        while sim.step().is_some() {
            for s in sim.sites() {
                prop_assert!(s.busy <= 4 && s.queued <= 4 * 400, "{s:?}");
                prop_assert!(s.busy + s.queued <= s.in_flight, "{s:?}");
            }
        }
        sim.finish();
        let t = sim.recorder().totals();
        prop_assert!(t.server_wait_ns <= u128::from(t.completions) * u128::from(interval) * 1_000_000);
        let again = run(c).summary;
        prop_assert_eq!(format!("{:?}", sim.summary()), format!("{again:?}"));
    }
}
