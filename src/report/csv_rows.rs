//! The rows of `series.csv`, `sites.csv` and `timeline.csv`, written with
//! the `csv` crate (names with commas or quotes are quoted). Times are
//! exact decimal seconds (`time_s`, `at_s`); ratios are rounded to four
//! decimals, shares of time to three.
//!
//! Load them in pandas:
//!
//! ```python
//! import pandas as pd
//! series = pd.read_csv("drainstorm-out/cheyenne-2026/series.csv")
//! timeline = pd.read_csv("drainstorm-out/cheyenne-2026/timeline.csv")
//! ```

use std::io::Write;

use serde::Serialize;

use crate::profile::Run;
use crate::sim::{Interval, SiteInterval, TimedAction};

/// The first line of `series.csv`.
pub const SERIES_HEADER: &str = "balancer,policy,seed,time_s,offered,attempts,retries,successes,failures,refused,overflows,lb_rejects,queue_rejects,unroutable,timeouts,wasted,errors,goodput_ratio,amplification,mean_latency_s,p50_s,p99_s\n";

/// The first line of `sites.csv`.
pub const SITES_HEADER: &str = "balancer,policy,seed,time_s,site,admitted,rejected,utilisation,mean_queue,mean_in_flight,weight,healthy,accept_rate,in_service\n";

/// The first line of `timeline.csv`.
pub const TIMELINE_HEADER: &str = "at_s,action,target,parameters\n";

/// Nanoseconds as exact decimal seconds: `15`, `0.25`, `2700.000001`.
///
/// ```
/// use drainstorm::report::exact_seconds;
///
/// assert_eq!(exact_seconds(15_000_000_000), "15");
/// assert_eq!(exact_seconds(250_000_000), "0.25");
/// ```
pub fn exact_seconds(ns: u64) -> String {
    let (whole, frac) = (ns / 1_000_000_000, ns % 1_000_000_000);
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:09}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

#[derive(Serialize)]
struct SeriesRecord<'a> {
    balancer: &'a str,
    policy: &'a str,
    seed: u64,
    time_s: String,
    offered: u64,
    attempts: u64,
    retries: u64,
    successes: u64,
    failures: u64,
    refused: u64,
    overflows: u64,
    lb_rejects: u64,
    queue_rejects: u64,
    unroutable: u64,
    timeouts: u64,
    wasted: u64,
    errors: u64,
    goodput_ratio: f64,
    amplification: f64,
    mean_latency_s: f64,
    p50_s: f64,
    p99_s: f64,
}

#[derive(Serialize)]
struct SiteRecord<'a> {
    balancer: &'a str,
    policy: &'a str,
    seed: u64,
    time_s: String,
    site: &'a str,
    admitted: u64,
    rejected: u64,
    utilisation: f64,
    mean_queue: f64,
    mean_in_flight: f64,
    weight: u32,
    healthy: bool,
    accept_rate: f64,
    in_service: u32,
}

#[derive(Serialize)]
struct TimelineRecord<'a> {
    at_s: String,
    action: &'a str,
    target: &'a str,
    parameters: String,
}

/// A CSV writer for the rows of the three files (no header line: the
/// `…_HEADER` constants are the headers).
pub struct CsvRows<W: Write> {
    w: csv::Writer<W>,
}

impl<W: Write> CsvRows<W> {
    /// Rows into `w`.
    pub fn new(w: W) -> Self {
        Self {
            w: csv::WriterBuilder::new().has_headers(false).from_writer(w),
        }
    }

    /// A line of `series.csv`: `row` of `run`.
    pub fn series(&mut self, run: &Run, row: &Interval) -> csv::Result<()> {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        self.w.serialize(SeriesRecord {
            balancer: &run.balancer,
            policy: &run.policy,
            seed: run.seed,
            time_s: exact_seconds(row.start.0),
            offered: row.offered,
            attempts: row.attempts,
            retries: row.retries,
            successes: row.successes,
            failures: row.failures,
            refused: row.refused,
            overflows: row.overflows,
            lb_rejects: row.lb_rejects,
            queue_rejects: row.queue_rejects,
            unroutable: row.unroutable,
            timeouts: row.timeouts,
            wasted: row.wasted,
            errors: row.errors,
            goodput_ratio: round(row.goodput_ratio(), 4),
            amplification: round(ratio(row.attempts, row.offered), 4),
            mean_latency_s: round(ratio(row.latency_sum_ns, row.successes) / 1e9, 6),
            p50_s: row.p50_ns as f64 / 1e9,
            p99_s: row.p99_ns as f64 / 1e9,
        })
    }

    /// The lines of `sites.csv` for `row` of `run`.
    pub fn sites(&mut self, run: &Run, row: &Interval, sites: &[SiteInterval]) -> csv::Result<()> {
        for (site, x) in run.config.sites.iter().zip(sites) {
            self.w.serialize(SiteRecord {
                balancer: &run.balancer,
                policy: &run.policy,
                seed: run.seed,
                time_s: exact_seconds(row.start.0),
                site: &site.name,
                admitted: x.admitted,
                rejected: x.rejected,
                utilisation: round(x.utilisation, 4),
                mean_queue: round(x.mean_queue, 3),
                mean_in_flight: round(x.mean_in_flight, 3),
                weight: x.weight,
                healthy: x.healthy,
                accept_rate: round(x.accept_rate, 1),
                in_service: x.in_service,
            })?;
        }
        Ok(())
    }

    /// A line of `timeline.csv`: the action, its site or group, and its
    /// other keys as `key=value` pairs separated by `; `.
    pub fn action(&mut self, a: &TimedAction) -> csv::Result<()> {
        let fields = super::schema::action(a);
        let name = fields.get("action").and_then(|v| v.as_str()).unwrap_or("");
        let target = fields
            .get("site")
            .or_else(|| fields.get("group"))
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let parameters: Vec<String> = fields
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "at_s" | "action" | "site" | "group"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        self.w.serialize(TimelineRecord {
            at_s: exact_seconds(a.at.0),
            action: name,
            target,
            parameters: parameters.join("; "),
        })
    }

    /// Flushes and returns the writer.
    pub fn into_inner(self) -> std::io::Result<W> {
        self.w
            .into_inner()
            .map_err(|e| std::io::Error::new(e.error().kind(), e.error().to_string()))
    }

    /// Flushes what is buffered.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}
