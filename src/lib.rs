//! # drainstorm
//!
//! A lock-free load-balancing kernel, client retry models, and a
//! deterministic simulator that shows how each balancing strategy absorbs a
//! datacenter drain — and whether the retries that follow turn it into a
//! storm that outlives its cause.
//!
//! This crate is built in layers that each stand alone:
//!
//! - [`balancer`]: the `Balancer` trait and its lock-free implementations
//!   (smooth weighted round-robin, least connections, power of two choices,
//!   ring, Maglev and bounded-load consistent hashing), usable in a real
//!   proxy or another simulator.
//! - [`retry`]: client retry models (backoff with jitter, attempt limits,
//!   deadlines, pushback, budgets, breakers, adaptive throttling) as pure
//!   functions of state, outcome, time and the caller's generator.
//! - [`sim`]: the deterministic discrete-event simulator (clients, a router
//!   with DNS TTL and health checks, site load balancers, backends, a
//!   scenario timeline, a recorder and verdicts), built on the two above.
//!   Its module documentation states the contracts: units (simulated
//!   nanoseconds), event order ((time, insertion) FIFO), and determinism
//!   (a run is a pure function of configuration and seed, on any number of
//!   threads).
//! - [`profile`]: the TOML scenario format, its validation, and the bundled
//!   profiles.
//! - `report` (feature `cli`): tables, JSON, CSV and the HTML report.
//!
//! The library depends on none of the command-line tool's crates (clap,
//! indicatif, plotters, serde_json, mimalloc): build it with
//! `default-features = false` to leave them out.

#![warn(missing_docs)]

pub mod balancer;
pub mod profile;
#[cfg(feature = "cli")]
pub mod report;
pub mod retry;
pub mod sim;
mod sync;

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
