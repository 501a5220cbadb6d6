//! A site's load balancer: admission (the in-flight cap, the accept rate
//! with its burst and backlog), the accept backlog itself, accept-rate
//! scaling, cold starts, and the balancer that picks a backend (its
//! backends' weights and slow start, a balancer swapped mid-run).
//!
//! Owns [`Site`] (with the time-weighted areas the recorder's per-site
//! rows come from) and [`Accepting`] (an attempt waiting in a backlog).
//! Handles `Accepted`, `Scale` and `BackendSlowStart`.

use super::*;
use crate::balancer::{Backend, BackendId, Balancer, BalancerKind, KindParams, Picker};
use crate::sim::config::SiteConfig;
use crate::sim::error::SimError;
use crate::sim::random::{Stream, mix, stream_seed};

/// Burst a load balancer's accept rate tolerates: 100 ms of early
/// arrivals.
pub(super) const BURST_NS: u64 = 100_000_000;

/// Period of load-balancer scaling decisions, ns.
pub(super) const SCALE_TICK: u64 = 1_000_000_000;

/// An attempt (or probe) waiting in a load balancer's accept backlog;
/// with an owner of type `(RequestSlot, u32)`, an attempt (request slot,
/// token) on its way to the backlog over the network, where no probe
/// travels as one.
#[derive(Clone, Copy)]
pub(super) struct Accepting<O = Owner> {
    pub(super) site: SiteId,
    pub(super) owner: O,
    /// The client instance that sent it (without a network, its limits
    /// count it as pending while it waits here).
    pub(super) instance: u32,
    pub(super) key: u64,
    pub(super) id: RequestId,
    pub(super) attempt: u64,
    /// Rejected by a `reset-load-balancer` before its turn came.
    pub(super) dropped: bool,
    /// Over a network: its client counts it as pending until word comes
    /// back that the site took it (a [`Reply::Taken`]), as a client
    /// counts a connection being opened.
    pub(super) pending: bool,
}

impl Accepting<(RequestSlot, u32)> {
    /// The attempt as its site's backlog holds it.
    pub(super) fn arrived(self) -> Accepting {
        let (r, token) = self.owner;
        Accepting {
            site: self.site,
            owner: Owner::Attempt(r, token),
            instance: self.instance,
            key: self.key,
            id: self.id,
            attempt: self.attempt,
            dropped: self.dropped,
            pending: self.pending,
        }
    }
}

/// A site: its load balancer's state and counters.
pub(super) struct Site {
    pub(super) name: String,
    pub(super) lb: Box<dyn Balancer>,
    pub(super) picker: Box<dyn Picker>,
    /// Whether `lb` reads in-flight counts (always, for a plugged-in one).
    pub(super) tracks_load: bool,
    /// Whether `lb` reads request keys (always, for a plugged-in one).
    pub(super) hashes: bool,
    /// Where its first backend is in the pool: its backends are the
    /// `backends` places from there on, in configuration order (see
    /// [`backend`](Self::backend) and [`local`](Self::local)).
    first_backend: PoolIndex,
    pub(super) backends: u32,
    pub(super) slots: u64,
    pub(super) max_in_flight: u32,
    /// Theoretical arrival time of the accept-rate limiter (GCRA), ns.
    pub(super) tat: u64,
    /// The current accept rate, new attempts per second; 0: unlimited.
    /// Set it with [`Site::set_rate`], which keeps `period` with it.
    pub(super) rate_cap: f64,
    /// `1e9 / rate_cap` as whole ns: the limiter's spacing, divided once
    /// per change of the rate rather than once per attempt (2 % of an
    /// attempt's time at the incident's size, measured).
    pub(super) period: u64,
    /// Attempts the accept backlog may hold beyond the rate.
    pub(super) backlog: u32,
    /// The backlog's accepts in the order they are due: (time, sequence,
    /// place). Only the first is in the event queue; the next goes in
    /// when it runs (`Simulation::schedule_accept`).
    pub(super) accepts: VecDeque<(u64, u64, BacklogPlace)>,
    /// The lowest accept rate (`max_new_per_sec`).
    pub(super) rate_floor: f64,
    pub(super) scaling: Option<crate::sim::config::LbScaling>,
    /// New attempts offered since the last scaling tick.
    pub(super) demand: u64,
    pub(super) in_flight: u32,
    pub(super) busy: u32,
    pub(super) queued: u32,
    pub(super) last: u64,
    pub(super) area_in_flight: u128,
    pub(super) area_busy: u128,
    /// Busy slot-time over the run (ns), for the autoscaler.
    pub(super) busy_total: u128,
    pub(super) area_queue: u128,
    pub(super) admitted: u64,
    pub(super) rejected: u64,
    pub(super) cold_until: u64,
    pub(super) cold_factor: f64,
    /// Its outlier detection, if configured.
    pub(super) outliers: Option<crate::balancer::OutlierDetector>,
    /// Backends it ejected, over the run.
    pub(super) ejections: u64,
    /// Its backend autoscaler, if configured.
    pub(super) autoscaler: Option<super::autoscale::Autoscaler>,
    /// Its backends' reported weights and the time between reports, if
    /// configured.
    pub(super) orca: Option<(crate::balancer::OrcaWeights, u64)>,
    /// Its adaptive concurrency filter, if configured.
    pub(super) limit: Option<Box<super::concurrency::SiteLimit>>,
}

impl Site {
    #[inline]
    pub(super) fn touch(&mut self, now: u64) {
        let dt = u128::from(now - self.last);
        if dt != 0 {
            self.area_in_flight += u128::from(self.in_flight) * dt;
            self.area_busy += u128::from(self.busy) * dt;
            self.busy_total += u128::from(self.busy) * dt;
            self.area_queue += u128::from(self.queued) * dt;
            self.last = now;
        }
    }
}

/// Everything about a site a host may want to look at.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SiteView {
    /// The site's name.
    pub name: String,
    /// The name of the balancer its load balancer uses.
    pub balancer: &'static str,
    /// Router weight set by drains, ramps and weight changes.
    pub weight: u32,
    /// Router weight published (0 when ejected by health checks); the
    /// clients' answers follow it `router.propagation` later.
    pub effective_weight: u32,
    /// Whether health checks consider it healthy.
    pub healthy: bool,
    /// Attempts held by its load balancer.
    pub in_flight: u32,
    /// Busy slots.
    pub busy: u32,
    /// Queued attempts.
    pub queued: u32,
    /// Backends its outlier detection holds out now.
    pub ejected: u32,
    /// Ejections its outlier detection made, over the run.
    pub ejections: u64,
    /// Backends its autoscaler has in service (all of them without one).
    pub in_service: u32,
    /// Backends its autoscaler is booting.
    pub booting: u32,
    /// Its adaptive concurrency filter's limit now (`None`: no filter).
    pub concurrency_limit: Option<u32>,
    /// Attempts its filter let on that have not yet been answered or
    /// cancelled (0 without a filter).
    pub concurrency_outstanding: u32,
}

/// The members of a site's balancer: its backends at their weights in
/// effect, numbered `0..n`.
pub(super) fn site_backends(backends: &[BackendState]) -> Vec<Backend> {
    (0..backends.len() as u32)
        .map(|i| {
            let b = &backends[i as usize];
            let weight = if b.ejected || b.standby || b.weight == 0 {
                0
            } else if b.orca_weight > 0 {
                b.orca_weight
            } else {
                b.weight
            };
            Backend::new(i, weight).with_hash_key(b.hash_key)
        })
        .collect()
}

impl Site {
    /// Where its backend `local` (the balancer's id for it, its place
    /// among the site's backends) is in the pool.
    #[inline]
    pub(super) fn backend(&self, local: BackendId) -> PoolIndex {
        debug_assert!(local.0 < self.backends, "one of the site's backends");
        PoolIndex::from(self.first_backend.index() + local.0 as usize)
    }

    /// The balancer's id for pool place `b`, one of its backends.
    #[inline]
    pub(super) fn local(&self, b: PoolIndex) -> BackendId {
        let local = b.index() - self.first_backend.index();
        debug_assert!(local < self.backends as usize, "one of the site's backends");
        BackendId(local as u32)
    }

    /// Its backends from its backend `from` on, in the pool: where they
    /// start, and how many there are.
    #[inline]
    pub(super) fn backends_from(&self, from: u32) -> (PoolIndex, u32) {
        debug_assert!(from <= self.backends, "within the site's backends");
        let first = PoolIndex::from(self.first_backend.index() + from as usize);
        (first, self.backends - from)
    }

    /// Sets the accept rate (0: unlimited) and the limiter's spacing.
    pub(super) fn set_rate(&mut self, rate: f64) {
        self.rate_cap = rate;
        self.period = if rate > 0.0 { (1e9 / rate) as u64 } else { 0 };
    }

    /// Site `config`, whose backends are `backends[first..]`, with its
    /// load balancer: `plugged` (a host's, given the site's backends) or
    /// the configured kind seeded with `seed`.
    pub(super) fn build(
        config: &SiteConfig,
        backends: &[BackendState],
        first: PoolIndex,
        plugged: Option<Box<dyn Balancer>>,
        seed: u64,
    ) -> Result<Self, SimError> {
        let n = (backends.len() - first.index()) as u32;
        let slots = backends[first.index()..]
            .iter()
            .map(|b| u64::from(b.slots))
            .sum();
        let members = site_backends(&backends[first.index()..]);
        let wrap = |source| SimError::Balancer {
            site: config.name.clone(),
            source,
        };
        // A plugged-in balancer keeps its counts where its host can see
        // them; the engine's own pickers keep theirs as plain integers
        // (the event loop is their only owner).
        let (lb, picker, tracks_load, hashes) = match plugged {
            Some(lb) => {
                lb.update(&members).map_err(wrap)?;
                let picker = lb.picker();
                (lb, picker, true, true)
            }
            None => {
                let lb = config
                    .balancer
                    .build_with(&members, seed, &config.balancer_params)
                    .map_err(wrap)?;
                let picker = lb.local_picker();
                (
                    lb,
                    picker,
                    config.balancer.tracks_load(),
                    config.balancer.hashes_keys(),
                )
            }
        };
        let mut site = Site {
            name: config.name.clone(),
            picker,
            lb,
            tracks_load,
            hashes,
            first_backend: first,
            backends: n,
            slots,
            max_in_flight: config.max_in_flight.unwrap_or(u32::MAX),
            tat: 0,
            backlog: config.accept_backlog,
            rate_cap: 0.0,
            period: 0,
            rate_floor: config.max_new_per_sec.unwrap_or(0.0),
            accepts: VecDeque::new(),
            scaling: config.scaling.clone(),
            demand: 0,
            in_flight: 0,
            busy: 0,
            queued: 0,
            last: 0,
            area_in_flight: 0,
            area_busy: 0,
            busy_total: 0,
            area_queue: 0,
            admitted: 0,
            rejected: 0,
            cold_until: 0,
            cold_factor: 1.0,
            outliers: match &config.outlier_detection {
                Some(od) => Some(
                    crate::balancer::OutlierDetector::seeded(
                        n as usize,
                        od.params(),
                        mix(seed ^ 0x0d),
                    )
                    .map_err(wrap)?,
                ),
                None => None,
            },
            ejections: 0,
            autoscaler: config
                .autoscaling
                .map(|a| super::autoscale::Autoscaler::new(a, n)),
            orca: match &config.orca {
                Some(o) => Some((
                    crate::balancer::OrcaWeights::new(n as usize, o.params()).map_err(wrap)?,
                    o.update_period.0,
                )),
                None => None,
            },
            limit: match &config.adaptive_concurrency {
                Some(a) => Some(Box::new(super::concurrency::SiteLimit::new(
                    crate::balancer::GradientController::new(a.params(), 0, mix(seed ^ 0x0c))
                        .map_err(wrap)?,
                ))),
                None => None,
            },
        };
        site.set_rate(config.max_new_per_sec.unwrap_or(0.0));
        Ok(site)
    }
}

impl Simulation {
    /// Admission at a site's load balancer: the in-flight cap, then the
    /// accept rate (GCRA with 100 ms of burst, and a backlog whose
    /// attempts wait their turn). Returns the wait before the load
    /// balancer accepts, or `None` if it rejects. An admitted attempt is
    /// held (counted in flight) from now.
    #[inline]
    pub(super) fn admit_at_site(&mut self, s: SiteId, probe: bool) -> Option<u64> {
        let now = self.now;
        let site = &mut self.sites[s];
        site.demand += 1;
        if site.in_flight >= site.max_in_flight {
            return None;
        }
        let mut delay = 0;
        if site.rate_cap > 0.0 {
            let period = site.period;
            let tat = site.tat.max(now);
            delay = tat.saturating_sub(BURST_NS).saturating_sub(now);
            if delay > u64::from(site.backlog).saturating_mul(period) {
                return None;
            }
            site.tat = tat + period;
        }
        site.touch(now);
        site.in_flight += 1;
        site.admitted += u64::from(!probe);
        Some(delay)
    }

    /// Lets go of an attempt the site held but could not place.
    pub(super) fn unhold(&mut self, s: SiteId) {
        let site = &mut self.sites[s];
        site.touch(self.now);
        site.in_flight -= 1;
    }

    /// A load balancer accepts an attempt from its backlog and forwards it
    /// to a backend, whether or not its client still waits (it cannot
    /// know) — unless timeouts cancel. Returns a failure for its client
    /// (or its probe) if no backend could take it, or over a network the
    /// word that it was taken if its client counts it as pending.
    pub(super) fn on_accepted(&mut self, p: BacklogPlace) -> Option<Reply> {
        self.accepting.free(p);
        let a = &self.accepting[p];
        let (s, owner, instance, key, id, attempt) =
            (a.site, a.owner, a.instance, a.key, a.id, a.attempt);
        // Over a network, the site no longer holds it in its backlog.
        self.forget_held(owner);
        if self.accepting[p].dropped {
            return None;
        }
        if let Owner::Attempt(..) = owner
            && self.network.is_none()
        {
            // The id names the group even if the request has ended since.
            // (Over a network the client counts what is pending itself.)
            self.clients.groups[id.group()].limits(instance).pend_done();
        }
        // Without a network a cancellation is known at once; over one, it
        // arrives as an event of its own (`on_cancel`), and the site
        // answers every attempt.
        let waiting = self.answers(owner);
        if self.cancel && !waiting {
            self.unhold(s);
            self.recorder.totals.cancelled += 1;
            return None;
        }
        let forwarded = match owner {
            Owner::Probe(..) => match self.place(s, key, owner, (id, attempt)) {
                Some((j, immediate)) => Forward::Placed(j, immediate),
                None => Forward::Refused,
            },
            Owner::Attempt(r, token) => self.forward(s, key, (r, token), (id, attempt)),
        };
        let j = match forwarded {
            Forward::Placed(j, _) => j,
            refused => {
                self.unhold(s);
                self.count_refusal(s, &refused);
                return waiting.then_some(Reply::failed(owner, s));
            }
        };
        if let Owner::Attempt(r, token) = owner {
            if self.network.is_some() {
                self.held_at(r, token, Held::Job(j));
                // Its client counts it as pending until it hears this.
                return self.accepting[p]
                    .pending
                    .then_some(Reply::Taken(r, token, s));
            } else if waiting {
                self.clients.requests[r].job = j;
            }
        }
        None
    }

    /// Rejects an attempt waiting in a backlog now, as its load balancer
    /// would when the backlog is reset: the site lets go of it, and
    /// returns the failure its client (or probe) sees if it still waits.
    pub(super) fn drop_accepting(&mut self, p: BacklogPlace) -> Option<Reply> {
        let a = &self.accepting[p];
        let (s, owner, instance, id) = (a.site, a.owner, a.instance, a.id);
        self.unhold(s);
        self.recorder.current.lb_rejects += 1;
        self.sites[s].rejected += 1;
        if let Owner::Attempt(..) = owner
            && self.network.is_none()
        {
            self.clients.groups[id.group()].limits(instance).pend_done();
        }
        self.answers(owner).then_some(Reply::failed(owner, s))
    }

    pub(super) fn on_scale(&mut self) {
        let now = self.now;
        for site in &mut self.sites {
            let Some(sc) = &site.scaling else {
                continue;
            };
            let target = (site.demand as f64 * sc.headroom).clamp(site.rate_floor, sc.max_per_sec);
            let step = site.rate_cap * sc.growth;
            site.set_rate(if target > site.rate_cap {
                (site.rate_cap + step).min(target)
            } else {
                (site.rate_cap - step).max(target)
            });
            site.demand = 0;
        }
        self.push(now + SCALE_TICK, Ev::Scale);
    }

    /// Publishes a site's backend weights in effect to its balancer.
    pub(super) fn publish_backends(&mut self, s: SiteId) {
        let (first, n) = self.sites[s].backends_from(0);
        let members = site_backends(self.pool.span(first, n));
        self.sites[s]
            .lb
            .update(&members)
            .expect("same ids as at build");
    }

    pub(super) fn on_backend_slow_start(&mut self, s: SiteId) {
        let (now, slow_start) = (self.now, self.pool.slow_start);
        let (first, n) = self.sites[s].backends_from(0);
        let mut ramping = false;
        for b in self.pool.span_mut(first, n) {
            let Some(since) = b.slow_since else {
                continue;
            };
            let frac = (now - since) as f64 / slow_start as f64;
            if frac >= 1.0 {
                b.weight = b.target;
                b.slow_since = None;
            } else {
                b.weight = ((b.target as f64 * frac) as u32).max(1);
                ramping = true;
            }
        }
        self.publish_backends(s);
        if ramping {
            self.push(now + (slow_start / 10).max(1), Ev::BackendSlowStart(s));
        }
    }

    pub(super) fn set_balancer(&mut self, s: SiteId, kind: BalancerKind, params: &KindParams) {
        let site = &self.sites[s];
        let (first, n) = site.backends_from(0);
        let members = site_backends(self.pool.span(first, n));
        let seed =
            mix(stream_seed(self.config.seed, Stream::Balancer) ^ (s.index() as u64) ^ 0x5e7);
        let lb = kind
            .build_with(&members, seed, params)
            .expect("the same backends built a balancer before; parameters are validated");
        let mut picker = lb.local_picker();
        // Carry the in-flight counts over: every live job at a backend.
        for (i, b) in (0..).zip(self.pool.span(first, n)) {
            let live = b.busy + b.queue.len() as u32 - b.cancelled_in_queue;
            for _ in 0..live {
                picker.start(BackendId(i));
            }
        }
        let site = &mut self.sites[s];
        site.lb = lb;
        site.picker = picker;
        site.tracks_load = kind.tracks_load();
        site.hashes = kind.hashes_keys();
    }
}
