//! A split run's schedule, on one thread: window by window, each side in
//! turn.
//!
//! When every site is some distance away, the run is two logical
//! processes that exchange only messages across the network (`order.rs`).
//! A message takes at least the *lookahead* — the shortest way, out or
//! back, of any site — so nothing one side does within a window that
//! long reaches the other before the window ends. A conservative,
//! window-synchronised parallel run gives each side a thread: both work
//! through a window, meet at a barrier, and go on. The actions and the
//! paced drain, which steer both sides, run between windows, and a
//! window ends at every interval boundary, where both sides' counts close.
//!
//! [`Simulation::run_in_windows`] runs that schedule on one thread: in
//! each window the clients' side's events first, then the sites' side's,
//! each side's in its own order. If any state were shared between the
//! sides — a random stream, a counter one side reads and the other
//! writes, a message that arrives within the window it was sent in — the
//! result would differ from [`Simulation::run`]'s; the tests compare them
//! byte for byte. It also counts each side's work per window, which
//! bounds what a thread per side could gain ([`Windows::bound`]).

use std::collections::VecDeque;

use super::order::Process;
use super::parts::Threads;
use super::*;
use crate::sim::queue::order_key;
use crate::time::SimDuration;

/// What a run in windows did: its windows and each side's events, and
/// how they would fall on threads that each run some of the model's
/// parts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Windows {
    /// The longest a window lasts: the shortest way, out or back, of any
    /// site.
    pub lookahead: SimDuration,
    /// Windows that ran any event (each is a barrier in a parallel run).
    pub windows: u64,
    /// Events the clients' side ran (clients, the router, health checks).
    pub clients: u64,
    /// Events the sites' side ran (load balancers, backends).
    pub sites: u64,
    /// Actions and paced drain steps, run between windows.
    pub steering: u64,
    /// The sum over windows of the busier side's events: the events a run
    /// with a thread per side works through one after another.
    pub critical: u64,
    /// Per part of a finer split, its events: each site (its load
    /// balancer and backends), then each client group's instances in
    /// order, then the router with its health checks. The actions and
    /// the paced drain's steps are not counted.
    pub parts: Vec<u64>,
    /// Per split asked for ([`Simulation::run_in_windows_split`]), the
    /// sum over windows of its busiest thread's events.
    pub busiest: Vec<u64>,
}

impl Windows {
    /// The most a thread per side could speed the run up, counted in
    /// events: every event over the critical path's (and the steering's,
    /// which runs alone), before any barrier's cost.
    pub fn bound(&self) -> f64 {
        let all = self.clients + self.sites + self.steering;
        all as f64 / (self.critical + self.steering).max(1) as f64
    }

    /// What split `k` of a [`Simulation::run_in_windows_split`] could
    /// gain at most, counted as [`bound`](Self::bound) counts it.
    ///
    /// # Panics
    ///
    /// If the run was not asked for a split `k`.
    pub fn bound_of(&self, k: usize) -> f64 {
        let all = self.clients + self.sites + self.steering;
        all as f64 / (self.busiest[k] + self.steering).max(1) as f64
    }
}

impl Simulation {
    /// Runs to the end as a window-synchronised run with a thread per
    /// side would, on this thread, closes the last interval and returns
    /// what the windows held. The result is the same as
    /// [`run`](Self::run)'s.
    ///
    /// When every site is some distance away, the clients' side (the
    /// clients, the router and its health checks) and the sites' side
    /// (load balancers, backends) exchange only messages, each of which
    /// takes at least the shortest way, out or back, of any site: the
    /// lookahead. A window opens at the earliest event and lasts the
    /// lookahead at most, ending at an interval boundary or an action
    /// (which runs between windows); in each, the clients' side's events
    /// run first, then the sites' side's, each side's in its own order.
    /// It panics if an event of one side turns up among the other's
    /// within a window (a bug in the engine).
    ///
    /// An error if the run is not split: some site is no distance away
    /// (`rtt` under 2 ns), so the sides cannot work a window apart.
    ///
    /// ```
    /// use drainstorm::sim::{SimConfig, Simulation};
    /// use drainstorm::time::SimDuration;
    ///
    /// let mut config = SimConfig::example();
    /// for site in &mut config.sites {
    ///     site.rtt = SimDuration::from_millis(20);
    /// }
    /// let mut sim = Simulation::new(config.clone())?;
    /// let windows = sim.run_in_windows()?;
    /// assert_eq!(windows.lookahead, SimDuration::from_millis(10));
    /// assert!(windows.bound() > 1.0);
    ///
    /// let mut whole = Simulation::new(config)?;
    /// whole.run();
    /// assert_eq!(sim.summary(), whole.summary());
    /// # Ok::<(), drainstorm::sim::SimError>(())
    /// ```
    pub fn run_in_windows(&mut self) -> Result<Windows, SimError> {
        self.run_in_windows_split(&[])
    }

    /// [`run_in_windows`](Self::run_in_windows), counting as well how
    /// each window's events would fall on threads under each of
    /// `splits`: a split gives each part (as [`Windows::parts`] lists
    /// them) the thread that runs it. Such a split is finer than a thread
    /// per side, and is not the model as it is: every client instance
    /// reads the router's health checks and site weights at once, so
    /// each part would need a router of its own.
    ///
    /// An error, besides `run_in_windows`'s, if a split does not name a
    /// thread for every part.
    pub fn run_in_windows_split(&mut self, splits: &[Vec<usize>]) -> Result<Windows, SimError> {
        let parts = self.part_count();
        if let Some(split) = splits.iter().find(|s| s.len() != parts) {
            return Err(SimError::invalid(
                "split",
                format!("a thread for {} parts", split.len()),
                format!("a thread for each of the {parts} parts"),
            ));
        }
        let lookahead = match self.network.as_deref() {
            Some(net) if self.order.is_split() => net.lookahead(),
            _ => {
                return Err(SimError::invalid(
                    "sites[].rtt",
                    "0 ns or 1 ns at some site",
                    "every site at least 2 ns away, to run in windows",
                ));
            }
        };
        Ok(self.run_windows(lookahead, splits))
    }

    /// Runs to the end in windows of `lookahead` ns at most, counting
    /// `splits`.
    fn run_windows(&mut self, lookahead: u64, splits: &[Vec<usize>]) -> Windows {
        let mut w = Windows {
            lookahead: SimDuration::from_nanos(lookahead),
            ..Windows::default()
        };
        let starts = self.part_starts();
        let mut threads = Threads::new(self.part_count(), splits);
        let everything = order_key(self.end, u64::MAX);
        // The sites' side's events the clients' side passed, in order.
        let mut parked: VecDeque<(u128, Ev)> = VecDeque::new();
        while let Some(first) = self.next_keyed(|key| key <= everything) {
            // A window opens at the earliest event (closing the intervals
            // before it) and ends a lookahead later, at the next
            // interval boundary, or at the end.
            let start = (first.0 >> 64) as u64;
            self.advance(start);
            let last = (start + lookahead - 1)
                .min(self.next_boundary - 1)
                .min(self.end);
            let (mut clients, mut steer) = (0, None);
            let mut next = Some(first);
            while let Some((key, ev)) = next {
                match ev.process() {
                    Process::Clients => {
                        self.advance((key >> 64) as u64);
                        threads.ran(self.part_of(ev, &starts));
                        self.run_event(ev);
                        clients += 1;
                    }
                    Process::Sites => parked.push_back((key, ev)),
                    Process::Steering => {
                        steer = Some((key, ev));
                        break;
                    }
                }
                next = self.next_keyed(|key| key <= order_key(last, u64::MAX));
            }
            // The sites' side from the window's start: what the clients'
            // side passed, and what those events schedule, in order, up
            // to the steering event that ended the window, if one did.
            let limit = steer.map_or(order_key(last, u64::MAX), |(key, _)| key - 1);
            let mut sites = 0;
            loop {
                let before = parked.front().map_or(limit, |p| p.0 - 1).min(limit);
                let Some((key, ev)) = self
                    .next_keyed(|key| key <= before)
                    .or_else(|| parked.pop_front())
                else {
                    break;
                };
                assert_eq!(
                    ev.process(),
                    Process::Sites,
                    "an event of another side within a window: {ev:?} at {}",
                    key >> 64
                );
                self.advance((key >> 64) as u64);
                threads.ran(self.part_of(ev, &starts));
                self.run_event(ev);
                sites += 1;
            }
            w.windows += 1;
            w.clients += clients;
            w.sites += sites;
            w.critical += clients.max(sites);
            threads.close();
            if let Some((key, ev)) = steer {
                self.advance((key >> 64) as u64);
                self.dispatch(ev);
                w.steering += 1;
            }
        }
        if self.end > self.now {
            self.advance(self.end);
        }
        self.finish();
        w.parts = threads.parts;
        w.busiest = threads.busiest;
        w
    }

    /// Runs an event of a window: out of line, so that a profiler's
    /// inclusive count at each of its two calls (`valgrind
    /// --tool=callgrind`) is each side's work.
    #[inline(never)]
    fn run_event(&mut self, ev: Ev) {
        self.dispatch(ev);
    }
}

#[cfg(test)]
mod tests {
    use super::super::order::tests::{recorded, stormy};
    use super::*;

    #[test]
    fn a_run_in_windows_records_what_a_whole_run_does() {
        for hedged in [false, true] {
            let mut whole = Simulation::new(stormy(hedged)).unwrap();
            whole.run();
            let mut sim = Simulation::new(stormy(hedged)).unwrap();
            let w = sim.run_in_windows().unwrap();
            assert_eq!(recorded(&sim), recorded(&whole), "hedged: {hedged}");
            // Sites 20 and 40 ms away: 10 ms windows over 20 s of fading
            // load (1 956 of them, hedged or not).
            assert_eq!(w.lookahead, SimDuration::from_millis(10));
            assert!(w.windows >= 1_500, "{w:?}");
            // The drain, the reset and the restore.
            assert_eq!(w.steering, 3);
            let events = whole.recorder().totals().events;
            assert_eq!(w.clients + w.sites + w.steering, events);
            assert!(w.critical < w.clients + w.sites);
            assert!(w.bound() > 1.0 && w.bound() <= 2.0, "{w:?}");
        }
    }

    #[test]
    fn a_split_counts_each_windows_busiest_thread() {
        let mut sim = Simulation::new(stormy(false)).unwrap();
        // Two sites, four client instances, the router.
        assert_eq!(sim.part_count(), 7);
        let one = vec![0; 7];
        let per_side = vec![0, 0, 1, 1, 1, 1, 1];
        let each = (0..7).collect::<Vec<_>>();
        let w = sim.run_in_windows_split(&[one, per_side, each]).unwrap();
        assert_eq!(w.parts.iter().sum::<u64>(), w.clients + w.sites);
        // One thread waits for every event; a thread per side for the
        // busier side, window by window.
        assert_eq!(w.busiest[0], w.clients + w.sites);
        assert_eq!(w.bound_of(0), 1.0);
        assert_eq!(w.busiest[1], w.critical);
        assert!(w.bound_of(2) > w.bound());
        // Every part ran events: each instance took a share of the
        // requests, each site some, the router its probes.
        assert!(w.parts.iter().all(|&n| n > 0), "{:?}", w.parts);
        // Each instance's share is a quarter of the clients' side's, give
        // or take a tenth.
        let clients: u64 = w.parts[2..6].iter().sum();
        for &n in &w.parts[2..6] {
            assert!(
                (n as f64 / clients as f64 - 0.25).abs() < 0.025,
                "{:?}",
                w.parts
            );
        }
    }

    #[test]
    fn a_split_names_a_thread_for_every_part() {
        let mut sim = Simulation::new(stormy(false)).unwrap();
        let err = sim.run_in_windows_split(&[vec![0; 3]]).unwrap_err();
        assert!(err.to_string().contains("each of the 7 parts"), "{err}");
    }

    #[test]
    #[should_panic(expected = "an event of another side within a window")]
    fn a_window_longer_than_the_shortest_way_lets_an_answer_in() {
        let mut sim = Simulation::new(stormy(false)).unwrap();
        // Windows of 40 ms hold the nearer site's round trip (20 ms): a
        // probe's answer, a turned-away attempt's.
        sim.run_windows(40_000_000, &[]);
    }

    #[test]
    fn a_run_with_a_site_no_distance_away_does_not_run_in_windows() {
        let mut sim = Simulation::new(crate::sim::SimConfig::example()).unwrap();
        let err = sim.run_in_windows().unwrap_err().to_string();
        assert!(err.contains("sites[].rtt"), "{err}");
    }
}
