//! Many runs at once, in parallel with rayon, gathered in a stable order.

use rayon::prelude::*;

use super::config::SimConfig;
use super::engine::Simulation;
use super::error::SimError;
use super::recorder::{Recorder, RowSink};
use super::summary::Summary;

/// The outcome of one run of a batch.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// The summary.
    pub summary: Summary,
    /// The recorder (series and histograms).
    pub recorder: Recorder,
}

/// Runs every configuration to its end, in parallel on rayon's current
/// pool; results come back in the order of `configs`, whatever the number
/// of threads. A configuration that does not validate yields its error in
/// its place.
pub fn run_batch(configs: &[SimConfig]) -> Vec<Result<RunResult, SimError>> {
    run_batch_with(configs, &|| {})
}

/// [`run_batch`], calling `done` (from any thread) as each run finishes:
/// a progress hook.
pub fn run_batch_with(
    configs: &[SimConfig],
    done: &(dyn Fn() + Sync),
) -> Vec<Result<RunResult, SimError>> {
    run_each(configs, &|_, _| Ok(()), done)
}

/// [`run_batch_with`] for long runs: run `i` streams its intervals to
/// `sink(i)` as they close and keeps at most `keep` rows in its recorder
/// (see [`Simulation::stream_rows`]), so memory does not grow with the
/// runs' length.
pub fn run_batch_streaming(
    configs: &[SimConfig],
    sink: &(dyn Fn(usize) -> Box<dyn RowSink> + Sync),
    keep: usize,
    done: &(dyn Fn() + Sync),
) -> Vec<Result<RunResult, SimError>> {
    run_each(configs, &|i, sim| sim.stream_rows(sink(i), keep), done)
}

/// Runs every configuration in parallel, after `prepare(i, sim)`.
fn run_each(
    configs: &[SimConfig],
    prepare: &(dyn Fn(usize, &mut Simulation) -> Result<(), SimError> + Sync),
    done: &(dyn Fn() + Sync),
) -> Vec<Result<RunResult, SimError>> {
    configs
        .par_iter()
        .enumerate()
        .with_max_len(1)
        .map(|(i, c)| {
            let mut sim = Simulation::new(c.clone())?;
            prepare(i, &mut sim)?;
            sim.run();
            done();
            Ok(RunResult {
                summary: sim.summary(),
                recorder: sim.into_recorder(),
            })
        })
        .collect()
}
