//! The series of every run, streamed to disk as intervals close: each run
//! writes its own part files in the hidden folder of the result set, and
//! the parts are joined, in run order, into `series.csv` and `sites.csv`
//! once every run has finished. Memory holds one buffered line per run in
//! flight, not the series; the CSVs still hold every interval.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use drainstorm::profile::Run;
use drainstorm::report::{CsvRows, SERIES_HEADER, SITES_HEADER};
use drainstorm::sim::{Interval, RowSink, SiteInterval};

/// Rows each run keeps in memory for the report's charts: enough for every
/// interval of the bundled profiles; longer runs are merged pairwise.
pub const CHART_ROWS: usize = 2048;

/// The part files of run `i` in `dir`.
fn parts(dir: &Path, i: usize) -> (PathBuf, PathBuf) {
    (
        dir.join(format!(".series-{i}.part")),
        dir.join(format!(".sites-{i}.part")),
    )
}

/// Writes one run's rows into its part files. The first write error is
/// kept for [`join`] to report (a sink cannot fail the run).
pub struct CsvParts {
    run: Run,
    series: CsvRows<BufWriter<File>>,
    sites: CsvRows<BufWriter<File>>,
    error: Arc<Mutex<Option<String>>>,
}

impl CsvParts {
    /// The sink of run `i` (`run` labels its rows), writing into `dir`.
    pub fn new(
        dir: &Path,
        i: usize,
        run: Run,
        error: Arc<Mutex<Option<String>>>,
    ) -> std::io::Result<Self> {
        let (series, sites) = parts(dir, i);
        Ok(Self {
            run,
            series: CsvRows::new(BufWriter::new(File::create(series)?)),
            sites: CsvRows::new(BufWriter::new(File::create(sites)?)),
            error,
        })
    }

    fn keep(&self, e: impl std::fmt::Display) {
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert_with(|| format!("writing the series: {e}"));
        }
    }
}

/// The sink of a run whose part files could not be created: the error is
/// already kept; the rows are dropped.
pub struct Discard;

impl RowSink for Discard {
    fn row(&mut self, _: &Interval, _: &[SiteInterval]) {}
}

/// A sink that also advances a progress bar by each interval's length, in
/// simulated seconds.
struct Progress {
    inner: Box<dyn RowSink>,
    bar: indicatif::ProgressBar,
    /// The run's interval, ns.
    step: u64,
    /// Nanoseconds not yet shown.
    pending: u64,
}

impl RowSink for Progress {
    fn row(&mut self, interval: &Interval, sites: &[SiteInterval]) {
        self.inner.row(interval, sites);
        self.pending += self.step;
        if self.pending >= 1_000_000_000 {
            self.bar.inc(self.pending / 1_000_000_000);
            self.pending %= 1_000_000_000;
        }
    }
}

/// `sink`, advancing `bar` as the run's intervals (of `step` ns) close.
pub fn with_progress(
    sink: Box<dyn RowSink>,
    bar: &indicatif::ProgressBar,
    step: u64,
) -> Box<dyn RowSink> {
    Box::new(Progress {
        inner: sink,
        bar: bar.clone(),
        step,
        pending: 0,
    })
}

/// The sink of run `i`: its part files, or [`Discard`] with the error
/// kept.
pub fn sink(
    dir: &Path,
    i: usize,
    run: &Run,
    error: &Arc<Mutex<Option<String>>>,
) -> Box<dyn RowSink> {
    match CsvParts::new(dir, i, run.clone(), error.clone()) {
        Ok(s) => Box::new(s),
        Err(e) => {
            if let Ok(mut slot) = error.lock() {
                slot.get_or_insert_with(|| format!("{}: {e}", dir.display()));
            }
            Box::new(Discard)
        }
    }
}

impl RowSink for CsvParts {
    fn row(&mut self, interval: &Interval, sites: &[SiteInterval]) {
        if let Err(e) = self.series.series(&self.run, interval) {
            self.keep(e);
        }
        if let Err(e) = self.sites.sites(&self.run, interval, sites) {
            self.keep(e);
        }
    }
}

impl Drop for CsvParts {
    fn drop(&mut self) {
        if let Err(e) = self.series.flush().and_then(|()| self.sites.flush()) {
            self.keep(e);
        }
    }
}

/// Joins the parts of `runs` runs into `series.csv` and `sites.csv` in
/// `dir`, removing the parts.
pub fn join(dir: &Path, runs: usize) -> Result<(), String> {
    let fail = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
    for (name, header, pick) in [
        ("series.csv", SERIES_HEADER, 0),
        ("sites.csv", SITES_HEADER, 1),
    ] {
        let path = dir.join(name);
        let mut out = BufWriter::new(File::create(&path).map_err(|e| fail(&path, e))?);
        out.write_all(header.as_bytes())
            .map_err(|e| fail(&path, e))?;
        for i in 0..runs {
            let (series, sites) = parts(dir, i);
            let part = if pick == 0 { series } else { sites };
            let mut input = File::open(&part).map_err(|e| fail(&part, e))?;
            std::io::copy(&mut input, &mut out).map_err(|e| fail(&path, e))?;
            drop(input);
            std::fs::remove_file(&part).map_err(|e| fail(&part, e))?;
        }
        out.flush().map_err(|e| fail(&path, e))?;
    }
    Ok(())
}
