//! # drainstorm
//!
//! A lock-free load-balancing kernel, client retry models, and a
//! deterministic simulator that shows how each balancing strategy absorbs a
//! datacenter drain — and whether the retries that follow turn it into a
//! storm that outlives its cause.
//!
//! This crate is built in layers that each stand alone:
//!
//! - [`balancer`] (the crate `drainstorm-balancer`, re-exported): the
//!   `Balancer` trait and its lock-free implementations (smooth weighted
//!   round-robin, least connections, power of two choices by count or by
//!   Peak-EWMA latency, Envoy's weighted least request, ring, Maglev and
//!   bounded-load consistent hashing),
//!   usable in a real proxy or another
//!   simulator. Taken alone it brings 5 crates besides itself.
//! - [`retry`] (the crate `drainstorm-retry`, re-exported): client retry
//!   models (backoff with jitter, attempt limits, deadlines, pushback,
//!   budgets, breakers, adaptive throttling) as pure functions of state,
//!   outcome, time and the caller's generator; 3 crates besides itself.
//!   [`time`]: its simulated instants and spans.
//! - [`sim`]: the deterministic discrete-event simulator (clients, a router
//!   with DNS TTL and health checks, site load balancers, backends, a
//!   scenario timeline, a recorder and verdicts), built on the two above.
//!   Its module documentation states the contracts: units (simulated
//!   nanoseconds), event order ((time, insertion) FIFO), and determinism
//!   (a run is a pure function of configuration and seed, on any number of
//!   threads).
//! - [`profile`]: the TOML scenario format, its validation, and the bundled
//!   profiles.
//! - [`plan`]: sweeps, headroom and drain plans, the size ladder and
//!   `explain`, over many runs.
//! - `report` (feature `report`, on with the default `cli`): tables, JSON,
//!   CSV, the HTML reports and sweep journals.
//!
//! The library depends on none of the command-line tool's crates (clap,
//! indicatif, mimalloc, …): build it with `default-features = false` to
//! leave them out (37 crates besides itself), and add `features =
//! ["report"]` for the reports.
//!
//! # Quick start
//!
//! ## Replay a drain from code and read the verdict
//!
//! A bundled profile (or your own TOML) gives the runs of a comparison;
//! each is a [`sim::SimConfig`] you can run, change or step through.
//!
//! ```
//! use drainstorm::profile::Profile;
//! use drainstorm::retry::SimDuration;
//! use drainstorm::sim::Simulation;
//!
//! let profile = Profile::bundled("flash-crowd").unwrap()?;
//! let run = profile.runs().swap_remove(0);
//! let mut config = run.config;
//! config.duration = SimDuration::from_secs(30); // a short look
//! let mut sim = Simulation::new(config)?;
//! sim.run();
//! let summary = sim.summary();
//! println!(
//!     "{} + {}: {} ({:.1} % lost, amplification {:.2})",
//!     run.balancer, run.policy, summary.verdict, summary.lost * 100.0, summary.amplification
//! );
//! assert!(summary.offered > 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`sim::Simulation`] also steps (`run_until`), takes actions as the run
//! goes (`inject`: a drain, a weight change, a new retry policy), and
//! accepts your own balancers and retry policies
//! ([`sim::Simulation::builder`]).
//!
//! ## A balancer in a proxy
//!
//! Every balancer is lock-free on its pick path; one
//! [`balancer::Handle`] per worker thread caches the backend set, and any
//! thread may replace the set at any time.
//!
//! ```
//! use drainstorm::balancer::{Backend, BackendId, Balancer, LeastConn};
//!
//! let lb = LeastConn::new(&[Backend::new(1, 1), Backend::new(2, 1)])?;
//! let mut handle = lb.handle();
//! let first = handle.pick(0).unwrap();
//! let busy = lb.begin(first).unwrap(); // counted in flight until dropped
//! let second = handle.pick(0).unwrap();
//! assert_ne!(first, second); // the least loaded
//! drop(busy);
//! lb.update(&[Backend::new(1, 1), Backend::new(2, 0)])?; // drain backend 2
//! assert_eq!(handle.pick(0), Some(BackendId(1)));
//! # Ok::<(), drainstorm::balancer::BalancerError>(())
//! ```
//!
//! ## A retry policy in a client
//!
//! A [`retry::Policy`] decides, as a pure function of its state, the time
//! you pass and your generator, whether an attempt may go and what follows
//! an outcome.
//!
//! ```
//! use drainstorm::retry::{Decision, Outcome, Policy, RetryPolicy, SimTime};
//! use rand::SeedableRng;
//!
//! let mut policy = Policy::grpc();
//! let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
//! let now = SimTime::ZERO;
//! policy.admit(now, &mut rng).expect("nothing refuses the first attempt");
//! let mut request = policy.begin(now);
//! match policy.on_outcome(now, &mut request, Outcome::Timeout, &mut rng) {
//!     Decision::Retry(delay) => println!("retry in {delay}"),
//!     other => println!("{other:?}"),
//! }
//! ```

#![warn(missing_docs)]

pub use drainstorm_balancer as balancer;
pub mod plan;
pub mod profile;
#[cfg(feature = "report")]
pub mod report;
pub use drainstorm_retry as retry;
pub mod sim;
/// Simulated time: instants ([`time::SimTime`]) and spans
/// ([`time::SimDuration`]) in nanoseconds, with no clock behind them.
pub use drainstorm_retry::time;

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
