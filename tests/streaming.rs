//! A streaming run: every interval goes to a sink as it closes, the
//! recorder keeps a bounded, merged copy, and the verdict and totals are
//! those of the run that kept everything.

use std::sync::{Arc, Mutex};

use drainstorm::retry::{SimDuration, SimTime};
use drainstorm::sim::{
    Action, Interval, RowSink, SimConfig, Simulation, SiteInterval, TimedAction, run_batch,
    run_batch_streaming,
};

type Rows = Arc<Mutex<Vec<(Interval, Vec<SiteInterval>)>>>;

struct Keep(Rows);

impl RowSink for Keep {
    fn row(&mut self, interval: &Interval, sites: &[SiteInterval]) {
        self.0
            .lock()
            .unwrap()
            .push((interval.clone(), sites.to_vec()));
    }
}

/// Two sites, 1 s intervals for 10 minutes, a drain at 2 min and a
/// restore at 4 min (the trigger's end): 600 intervals.
fn config() -> SimConfig {
    let mut c = SimConfig::example();
    c.duration = SimDuration::from_secs(600);
    c.recorder.interval = SimDuration::from_secs(1);
    c.recorder.warm_up = SimDuration::from_secs(5);
    let east = c.sites[0].name.clone();
    c.timeline = vec![
        TimedAction {
            at: SimTime(120_000_000_000),
            action: Action::Drain {
                site: east.clone(),
                ramp: SimDuration::ZERO,
            },
        },
        TimedAction {
            at: SimTime(240_000_000_000),
            action: Action::Restore {
                site: east,
                ramp: SimDuration::ZERO,
                cold_factor: 1.0,
                cold_for: SimDuration::ZERO,
            },
        },
    ];
    c
}

#[test]
fn a_streamed_run_is_judged_as_the_full_one_and_keeps_a_bounded_copy() {
    let mut full = Simulation::new(config()).unwrap();
    full.run();
    let rows: Rows = Arc::default();
    let mut streamed = Simulation::new(config()).unwrap();
    streamed
        .stream_rows(Box::new(Keep(rows.clone())), 50)
        .unwrap();
    streamed.run();

    // The same verdict, totals and percentiles.
    assert_eq!(streamed.summary(), full.summary());
    assert!(full.summary().trigger_end.is_some());

    // The sink saw every interval at full resolution.
    let rows = rows.lock().unwrap();
    let r = full.recorder();
    assert_eq!(rows.len(), r.series().len());
    for (i, (row, sites)) in rows.iter().enumerate() {
        assert_eq!(row, &r.series()[i]);
        for (s, site) in sites.iter().enumerate() {
            assert_eq!(Some(site), r.site_interval(i, s));
        }
    }

    // The kept copy: at most 50 rows, each covering a power of two of
    // intervals, with the same counts in total.
    let kept = streamed.recorder();
    assert!(kept.series().len() <= 50, "{}", kept.series().len());
    assert_eq!(kept.interval(), SimDuration::from_secs(16));
    let total = |rows: &[Interval]| rows.iter().map(|r| r.offered).sum::<u64>();
    assert_eq!(total(kept.series()), total(r.series()));
    let admitted =
        |rec: &drainstorm::sim::Recorder| rec.site_series(1).map(|x| x.admitted).sum::<u64>();
    assert_eq!(admitted(kept), admitted(r));
    // Kept rows start at multiples of their width.
    for (i, row) in kept.series().iter().enumerate() {
        assert_eq!(row.start.0, i as u64 * kept.interval().0);
    }
}

#[test]
fn streaming_starts_before_the_first_interval_or_not_at_all() {
    let mut sim = Simulation::new(config()).unwrap();
    sim.run_until(SimTime(3_000_000_000));
    let rows: Rows = Arc::default();
    assert!(sim.stream_rows(Box::new(Keep(rows)), 10).is_err());
}

#[test]
fn a_streamed_batch_matches_the_kept_batch() {
    let configs: Vec<SimConfig> = (1..=3).map(|seed| SimConfig { seed, ..config() }).collect();
    let sinks: Vec<Rows> = (0..3).map(|_| Rows::default()).collect();
    let streamed = run_batch_streaming(&configs, &|i| Box::new(Keep(sinks[i].clone())), 64, &|| {});
    let kept = run_batch(&configs);
    for ((s, k), rows) in streamed.iter().zip(&kept).zip(&sinks) {
        let (s, k) = (s.as_ref().unwrap(), k.as_ref().unwrap());
        assert_eq!(s.summary, k.summary);
        assert_eq!(rows.lock().unwrap().len(), k.recorder.series().len());
    }
}
