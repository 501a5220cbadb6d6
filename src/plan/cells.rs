//! A sweep's rows gathered per grid point and combination: the verdict mix
//! over the seeds, which the metastability map draws.

use super::sweep::SweepRow;
use crate::sim::{Recovery, Verdict};

/// The runs of one (point, balancer, policy) over its seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// The grid point.
    pub point: usize,
    /// The axes' values there.
    pub values: Vec<String>,
    /// The balancer.
    pub balancer: String,
    /// The retry policy.
    pub policy: String,
    /// Runs (seeds) gathered.
    pub runs: u32,
    /// Runs per verdict, in [`Verdict`] order: absorbed, degraded,
    /// collapsed, metastable, inconclusive.
    pub verdicts: [u32; 5],
    /// Median recovery time after the trigger's end over the seeds, s (0
    /// for a run that recovered before it ended); `None` when the median
    /// seed never recovered, or there is no trigger.
    pub median_recovery_s: Option<f64>,
}

impl Cell {
    /// The share of runs with `verdict`.
    pub fn share(&self, verdict: Verdict) -> f64 {
        f64::from(self.verdicts[verdict as usize]) / f64::from(self.runs.max(1))
    }
}

/// Gathers rows (in any order) into cells, ordered by point, then by the
/// combinations' first appearance in job order.
///
/// ```
/// use drainstorm::plan::{SweepRow, cells};
/// use drainstorm::sim::{Recovery, Verdict};
///
/// let row = |job, seed, verdict, recovery| SweepRow {
///     job, point: 0, values: vec!["1".into()], balancer: "maglev".into(),
///     policy: "backoff".into(), seed, verdict, recovery, collapsed_s: 0.0,
///     lost: 0.0, amplification: 1.0, peak_amplification: 1.0, p99_s: 0.1,
///     offered: 10, attempts: 10,
/// };
/// let rows = [
///     row(0, 1, Verdict::Absorbed, Recovery::BeforeTriggerEnd),
///     row(1, 2, Verdict::Metastable, Recovery::Never),
///     row(2, 3, Verdict::Collapsed, Recovery::After { seconds: 60.0 }),
/// ];
/// let c = &cells(&rows)[0];
/// assert_eq!(c.runs, 3);
/// assert_eq!(c.share(Verdict::Metastable), 1.0 / 3.0);
/// assert_eq!(c.median_recovery_s, Some(60.0));
/// ```
pub fn cells(rows: &[SweepRow]) -> Vec<Cell> {
    let mut sorted: Vec<&SweepRow> = rows.iter().collect();
    sorted.sort_by_key(|r| r.job);
    let mut out: Vec<Cell> = Vec::new();
    let mut recoveries: Vec<Vec<f64>> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for r in sorted {
        let key = (r.point, r.balancer.as_str(), r.policy.as_str());
        let i = *index.entry(key).or_insert_with(|| {
            out.push(Cell {
                point: r.point,
                values: r.values.clone(),
                balancer: r.balancer.clone(),
                policy: r.policy.clone(),
                runs: 0,
                verdicts: [0; 5],
                median_recovery_s: None,
            });
            recoveries.push(Vec::new());
            out.len() - 1
        });
        out[i].runs += 1;
        out[i].verdicts[r.verdict as usize] += 1;
        match r.recovery {
            Recovery::BeforeTriggerEnd => recoveries[i].push(0.0),
            Recovery::After { seconds } => recoveries[i].push(seconds),
            Recovery::Never => recoveries[i].push(f64::INFINITY),
            Recovery::NoTrigger => {}
        }
    }
    for (c, mut rec) in out.iter_mut().zip(recoveries) {
        if rec.is_empty() {
            continue;
        }
        rec.sort_by(f64::total_cmp);
        let m = rec[(rec.len() - 1) / 2];
        c.median_recovery_s = m.is_finite().then_some(m);
    }
    out.sort_by_key(|c| c.point);
    out
}
