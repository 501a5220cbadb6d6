//! Turning a comparison's results into a table, JSON, CSV and an HTML page
//! with SVG charts. Needs the `cli` feature.

mod html;

use std::fmt::Write as _;

use serde::Serialize;

use crate::profile::{Profile, Run};
use crate::sim::{Recovery, RunResult, SimError, SiteInterval, Summary, Verdict, run_batch};

pub use self::html::{html, html_with_why};
pub use self::story::spoken;

mod csv_rows;
pub mod files;
pub mod journal;
mod plan_page;
pub mod schema;
mod story;
pub mod sweep;
mod sweep_map;
mod sweep_words;
pub mod why;

pub use self::plan_page::{CurveChart, plan_page};
pub use self::sweep_map::sweep_map;

pub use self::csv_rows::{CsvRows, SERIES_HEADER, SITES_HEADER, TIMELINE_HEADER, exact_seconds};

/// The finished runs of a profile's comparison, in the profile's order.
#[derive(Debug)]
pub struct Comparison {
    /// The profile.
    pub profile: Profile,
    /// Each run with its result.
    pub runs: Vec<(Run, RunResult)>,
}

/// One (balancer, policy) combination over its seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// Balancer name.
    pub balancer: String,
    /// Retry-policy name.
    pub policy: String,
    /// The worst verdict over the seeds.
    pub verdict: Verdict,
    /// Seeds whose verdict was collapsed or metastable.
    pub collapsed_runs: usize,
    /// Seeds run.
    pub runs: usize,
    /// Goodput lost, % of offered requests (mean over seeds).
    pub lost_pct: f64,
    /// Lowest and highest lost % over the seeds.
    pub lost_pct_range: (f64, f64),
    /// Largest per-interval amplification over the seeds.
    pub peak_amplification: f64,
    /// Mean amplification (mean over seeds).
    pub mean_amplification: f64,
    /// Mean latency of successful requests, s (mean over seeds).
    pub mean_latency: f64,
    /// 99th-percentile latency, s (mean over seeds).
    pub p99: f64,
    /// 99.9th-percentile latency, s (mean over seeds).
    pub p999: f64,
    /// Minutes collapsed (mean over seeds).
    pub collapsed_minutes: f64,
    /// When the run recovered from its trigger (the worst seed).
    pub recovery: Recovery,
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (n, s) = xs.fold((0usize, 0.0), |(n, s), x| (n + 1, s + x));
    if n == 0 { 0.0 } else { s / n as f64 }
}

impl Comparison {
    /// Runs every run of `profile` in memory (in parallel, see
    /// [`run_batch`]) and keeps the results, in the profile's order; the
    /// first run that fails is the error. The command line streams its
    /// rows to disk instead; this is for tests, benchmarks and hosts.
    pub fn run(profile: Profile) -> Result<Self, SimError> {
        let runs = profile.runs();
        let configs: Vec<_> = runs.iter().map(|r| r.config.clone()).collect();
        let runs = runs
            .into_iter()
            .zip(run_batch(&configs))
            .map(|(run, result)| result.map(|r| (run, r)))
            .collect::<Result<_, _>>()?;
        Ok(Self { profile, runs })
    }

    /// The rows, best first: by verdict, then goodput lost, then p99.
    pub fn rows(&self) -> Vec<Row> {
        let mut keys: Vec<(String, String)> = Vec::new();
        for (run, _) in &self.runs {
            let k = (run.balancer.clone(), run.policy.clone());
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        let mut rows: Vec<Row> = keys
            .into_iter()
            .map(|(balancer, policy)| {
                let sums: Vec<&Summary> = self
                    .runs
                    .iter()
                    .filter(|(r, _)| r.balancer == balancer && r.policy == policy)
                    .map(|(_, res)| &res.summary)
                    .collect();
                let lost: Vec<f64> = sums.iter().map(|s| s.lost * 100.0).collect();
                Row {
                    verdict: sums.iter().map(|s| s.verdict).max().expect("≥ 1 run"),
                    collapsed_runs: sums
                        .iter()
                        .filter(|s| matches!(s.verdict, Verdict::Collapsed | Verdict::Metastable))
                        .count(),
                    runs: sums.len(),
                    lost_pct: mean(lost.iter().copied()),
                    lost_pct_range: (
                        lost.iter().copied().fold(f64::INFINITY, f64::min),
                        lost.iter().copied().fold(0.0, f64::max),
                    ),
                    peak_amplification: sums
                        .iter()
                        .map(|s| s.peak_amplification)
                        .fold(0.0, f64::max),
                    mean_amplification: mean(sums.iter().map(|s| s.amplification)),
                    mean_latency: mean(sums.iter().map(|s| s.mean_latency)),
                    p99: mean(sums.iter().map(|s| s.p99)),
                    p999: mean(sums.iter().map(|s| s.p999)),
                    collapsed_minutes: mean(sums.iter().map(|s| s.collapsed_minutes())),
                    recovery: sums
                        .iter()
                        .map(|s| s.recovery)
                        .reduce(Recovery::worse)
                        .expect("≥ 1 run"),
                    balancer,
                    policy,
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            a.verdict
                .cmp(&b.verdict)
                .then(a.lost_pct.total_cmp(&b.lost_pct))
                .then(a.p99.total_cmp(&b.p99))
        });
        rows
    }

    /// The summary document (`summary.json`, `--json`), in the layout of
    /// [`schema`] (version [`schema::SCHEMA_VERSION`]): no wall-clock
    /// figures, so it is identical for any thread count.
    pub fn json(&self) -> String {
        schema::document(self)
    }

    /// The profile's timeline, one row per action (`timeline.csv`).
    pub fn timeline_csv(&self) -> String {
        let mut w = CsvRows::new(Vec::new());
        for a in &self.scenario().timeline {
            let _ = w.action(a);
        }
        String::from(TIMELINE_HEADER)
            + &String::from_utf8_lossy(&w.into_inner().unwrap_or_default())
    }

    /// Per-interval series of every run, one row per (run, interval).
    pub fn series_csv(&self) -> String {
        let mut w = CsvRows::new(Vec::new());
        for (run, res) in &self.runs {
            for row in res.recorder.series() {
                let _ = w.series(run, row);
            }
        }
        String::from(SERIES_HEADER) + &String::from_utf8_lossy(&w.into_inner().unwrap_or_default())
    }

    /// Per-interval, per-site series of every run.
    pub fn sites_csv(&self) -> String {
        let mut w = CsvRows::new(Vec::new());
        for (run, res) in &self.runs {
            let r = &res.recorder;
            for (i, row) in r.series().iter().enumerate() {
                let sites: Vec<SiteInterval> = (0..r.sites())
                    .filter_map(|s| r.site_interval(i, s).cloned())
                    .collect();
                let _ = w.sites(run, row, &sites);
            }
        }
        String::from(SITES_HEADER) + &String::from_utf8_lossy(&w.into_inner().unwrap_or_default())
    }

    /// The verdict rule the runs were judged by, with the trigger's end:
    /// printed under the table in the terminal and in `report.html`.
    pub fn rule_line(&self) -> String {
        let trigger = self
            .runs
            .first()
            .and_then(|(run, _)| run.config.trigger_end())
            .map_or("no trigger end".to_owned(), |t| {
                match self.profile.clock_start_seconds() {
                    Some(_) => format!(
                        "trigger's end {} UTC",
                        html::time_label(&self.profile, t.as_secs_f64())
                    ),
                    None => format!("trigger's end at {} s", t.as_secs_f64()),
                }
            });
        format!(
            "Verdicts ({trigger}): {}",
            self.profile.scenario.recorder.rule()
        )
    }

    /// The size of the system the runs modelled, in one sentence: sites,
    /// backends, client instances and the peak load (and the scale, when
    /// the profile runs at a size other than the one it is written at).
    /// Said under the title in the terminal and in `report.html`.
    pub fn size_line(&self) -> String {
        let config = self.scenario();
        let backends: u64 = config.sites.iter().map(|s| s.backend_count()).sum();
        let instances: u64 = config
            .clients
            .iter()
            .map(|g| u64::from(g.instance_count()))
            .sum();
        let peak: f64 = config.clients.iter().map(|g| g.peak_rate()).sum();
        let n = |k: u64, what: &str| format!("{k} {what}{}", if k == 1 { "" } else { "s" });
        let mut line = format!(
            "Size: {}, {}, {}, {} requests/s at the load's peak",
            n(config.sites.len() as u64, "site"),
            n(backends, "backend"),
            n(instances, "client instance"),
            (peak * 100.0).round() / 100.0
        );
        let trips = config.sites.iter().map(|s| s.rtt.as_secs_f64());
        let (near, far) = trips.fold((f64::MAX, 0.0f64), |(a, b), t| (a.min(t), b.max(t)));
        let ms = |t: f64| format!("{}", (t * 1e5).round() / 100.0);
        if far > 0.0 {
            line += &if near == far {
                format!(", {} ms round trip to every site", ms(far))
            } else {
                format!(", {}–{} ms round trips to the sites", ms(near), ms(far))
            };
        }
        if self.profile.scale != 1.0 {
            line += &format!(" (scale {} of the profile as written)", self.profile.scale);
        }
        line + "."
    }

    /// The scenario the runs ran: the profile's at its scale (the first
    /// run's, before its balancer and policy were chosen).
    pub fn scenario(&self) -> crate::sim::SimConfig {
        self.profile.sim_config()
    }

    /// A warning for a profile that compresses time (`time_scale`), said
    /// under the title in the terminal and in `report.html`; `None` for
    /// real time.
    pub fn time_note(&self) -> Option<String> {
        self.profile.time_scale.map(|k| {
            format!(
                "This profile compresses time: one simulated second stands for {k} s, so its time axis is not the modelled system's (timeouts and service times stay in real units)."
            )
        })
    }

    /// The table as printed in a terminal; `colour` highlights the best
    /// row in green and the worst in red.
    pub fn table(&self, colour: bool) -> String {
        self.table_for_width(colour, None)
    }

    /// [`table`](Self::table) fitted to `width` characters: the least
    /// needed columns (p99.9, mean amp, mean, peak amp, collapsed) are left
    /// out, in that order, until it fits, and a last line names them.
    /// `None`: every column.
    pub fn table_for_width(&self, colour: bool, width: Option<usize>) -> String {
        let rows = self.rows();
        let seeds = rows.first().map_or(1, |r| r.runs);
        let mut out = String::new();
        let header = [
            "balancer",
            "policy",
            "verdict",
            "lost %",
            "peak amp",
            "mean amp",
            "mean",
            "p99",
            "p99.9",
            "collapsed",
            "recovery",
        ];
        let cells: Vec<[String; 11]> = rows
            .iter()
            .map(|r| {
                let verdict = if seeds > 1 {
                    format!("{} ({}/{})", r.verdict, r.collapsed_runs, r.runs)
                } else {
                    r.verdict.to_string()
                };
                let lost = if seeds > 1 {
                    format!(
                        "{:.1} [{:.1}–{:.1}]",
                        r.lost_pct, r.lost_pct_range.0, r.lost_pct_range.1
                    )
                } else {
                    format!("{:.2}", r.lost_pct)
                };
                [
                    r.balancer.clone(),
                    r.policy.clone(),
                    verdict,
                    lost,
                    format!("{:.2}", r.peak_amplification),
                    format!("{:.2}", r.mean_amplification),
                    seconds(r.mean_latency),
                    seconds(r.p99),
                    seconds(r.p999),
                    format!("{:.1} min", r.collapsed_minutes),
                    r.recovery.to_string(),
                ]
            })
            .collect();
        let fit = width;
        let width: Vec<usize> = (0..11)
            .map(|c| {
                cells
                    .iter()
                    .map(|r| r[c].chars().count())
                    .chain([header[c].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut shown = [true; 11];
        let mut hidden = Vec::new();
        if let Some(max) = fit {
            let total = |shown: &[bool; 11]| {
                (0..11)
                    .filter(|&c| shown[c])
                    .map(|c| width[c] + 2)
                    .sum::<usize>()
                    - 2
            };
            // p99.9, mean amp, mean, peak amp, collapsed.
            for c in [8, 5, 6, 4, 9] {
                if total(&shown) <= max {
                    break;
                }
                shown[c] = false;
                hidden.push(header[c]);
            }
        }
        let line = |cols: &[String]| {
            let mut l = String::new();
            for (c, text) in cols.iter().enumerate() {
                if !shown[c] {
                    continue;
                }
                let pad = width[c] - text.chars().count();
                if c < 3 {
                    l += text;
                    l += &" ".repeat(pad);
                } else {
                    l += &" ".repeat(pad);
                    l += text;
                }
                l += "  ";
            }
            l.trim_end().to_owned()
        };
        out += &line(&header.map(String::from));
        out.push('\n');
        for (row, r) in cells.iter().zip(&rows) {
            let text = line(row);
            // The colour says what the verdict means, not the row's rank.
            let paint = match r.verdict {
                Verdict::Absorbed => "32",
                Verdict::Degraded | Verdict::Inconclusive => "33",
                Verdict::Collapsed => "31",
                Verdict::Metastable => "1;31",
            };
            if colour {
                let _ = writeln!(out, "\x1b[{paint}m{text}\x1b[0m");
            } else {
                out += &text;
                out.push('\n');
            }
        }
        if let (Some(max), false) = (fit, hidden.is_empty()) {
            let _ = writeln!(out, "(hidden to fit {max} columns: {})", hidden.join(", "));
        }
        out
    }
}

/// A latency in the unit that reads best.
pub fn seconds(s: f64) -> String {
    if s >= 10.0 {
        format!("{s:.0} s")
    } else if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 0.1 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{:.1} ms", s * 1000.0)
    }
}
