//! Every file drainstorm writes, and every column of every CSV.
//!
//! Conventions for all of them: times are seconds, in columns ending in
//! `_s`; shares are fractions in [0, 1] (`lost`, `utilisation`); rates
//! end in `_per_s`; counts are integers; an empty cell is a value that
//! does not apply. `summary.json`'s layout is in [`schema`](super::schema)
//! and `explain.json`'s in [`why`](super::why).
//!
//! # `drainstorm run`
//!
//! `series.csv` — one row per run and recorder interval. Counts are
//! **per interval** (not cumulative): a request is counted in the
//! interval where the event happened.
//!
//! | column | meaning |
//! |---|---|
//! | `balancer`, `policy`, `seed` | the run |
//! | `time_s` | the interval's start |
//! | `offered` | requests that arrived (first attempts) |
//! | `attempts` | attempts sent (first tries and retries) that reached the router |
//! | `retries` | of which retries |
//! | `successes` | requests that succeeded |
//! | `failures` | requests that gave up: out of attempts, past their deadline, out of retry budget, told not to retry, or failed fast on a client limit |
//! | `refused` | requests the client refused itself (open breaker, adaptive throttling) |
//! | `overflows` | requests failed fast on a client concurrency limit (also in `failures`) |
//! | `lb_rejects` | attempts a site's load balancer rejected (in-flight or accept-rate limit) |
//! | `queue_rejects` | attempts a backend rejected (queue full) or that found no backend |
//! | `unroutable` | attempts with no site to go to |
//! | `timeouts` | attempts whose client timed out |
//! | `wasted` | attempts a backend served after their client had stopped waiting (over a network: whose answer reached a client that no longer waited, counted in the interval it arrived) |
//! | `errors` | attempts answered with an error that their client heard: served by a failing backend, or shed from a queue under controlled delay |
//! | `goodput_ratio` | `successes ÷ offered` in the interval (1 with nothing offered); above 1 when requests that arrived earlier succeed in it — a backlog draining |
//! | `amplification` | `attempts ÷ offered` in the interval |
//! | `mean_latency_s`, `p50_s`, `p99_s` | latency of the interval's successes, first attempt to success |
//!
//! `sites.csv` — one row per run, interval and site.
//!
//! | column | meaning |
//! |---|---|
//! | `balancer`, `policy`, `seed`, `time_s` | the run and the interval's start |
//! | `site` | the site |
//! | `admitted` | attempts its load balancer admitted in the interval |
//! | `rejected` | attempts it rejected in the interval (load balancer or backend queue) |
//! | `utilisation` | busy slots ÷ slots, time-averaged over the interval |
//! | `mean_queue` | attempts queued at its backends, time-averaged |
//! | `mean_in_flight` | attempts its load balancer held, time-averaged |
//! | `weight` | its router weight at the interval's end (0: out of rotation) |
//! | `healthy` | whether health checks saw it healthy at the interval's end |
//! | `accept_rate` | its load balancer's accept rate at the interval's end, new attempts a second (0: unlimited) |
//! | `in_service` | backends in its balancer's rotation by its autoscaler at the interval's end (all of them without one) |
//!
//! `timeline.csv` — one row per timeline action, as run.
//!
//! | column | meaning |
//! |---|---|
//! | `at_s` | when it applies |
//! | `action` | its kind (`drain`, `restore`, `set-site-weight`, …) |
//! | `target` | the site or client group it names |
//! | `parameters` | its other keys, `key=value` separated by `;` |
//!
//! # `drainstorm sweep` and `merge`
//!
//! `sweep.csv` — one row per run of the grid, in job order: first one
//! column per varied key (named by its key path, its value at the row's
//! point), then:
//!
//! | column | meaning |
//! |---|---|
//! | `balancer`, `policy`, `seed` | the run |
//! | `verdict` | `absorbed`, `degraded`, `collapsed`, `metastable` or `inconclusive` |
//! | `recovery` | `no-trigger`, `before-trigger-end`, `after` or `never` |
//! | `recovery_s` | seconds after the trigger's end it recovered (`after`), 0 before it |
//! | `collapsed_s` | time spent collapsed |
//! | `lost` | share of offered requests that did not succeed |
//! | `amplification`, `peak_amplification` | attempts ÷ offered over the run, and the largest of any interval |
//! | `p99_s` | 99th-percentile latency of the successes |
//! | `offered`, `attempts` | requests offered and attempts sent |
//!
//! # `drainstorm plan headroom` and `plan drain`
//!
//! `headroom.csv` and `drain.csv` — per combination a row `answer`, then a
//! row `curve` per point of its local curve. The value's column is
//! `factor` (headroom: the staying sites' capacity factor, 1 as written)
//! or `ramp_s` (drain: the linear ramp of every drain, seconds).
//!
//! | column | meaning |
//! |---|---|
//! | `balancer`, `policy` | the combination |
//! | `row` | `answer` or `curve` |
//! | `outcome` | on `answer` rows: `found`, `below-range`, `above-range`, `unconfirmed` (fresh seeds rejected every step up) or `not-monotone` |
//! | `factor` / `ramp_s` | the answer (or the curve point's value); for `above-range`, empty |
//! | `unsafe_below` / `unsafe_below_s` | the largest value found failing, just below the answer (the largest searched, for `above-range`) |
//! | `success`, `seeds` | search seeds that met the target at the value, of those judged |
//! | `interval_low`, `interval_high` | the exact (Clopper–Pearson) 95 % interval of P(success) from them |
//! | `fresh_success`, `fresh_seeds`, `fresh_first_seed` | the block of fresh seeds (never used by the search) the answer was checked on: successes, seeds, and the first seed (they follow on) |
//! | `claim_lower` | the exact one-sided lower bound on P(success) from the fresh block, at the plan's confidence: the claim |
//! | `rejected_blocks` | fresh blocks that rejected an answer before this one (the plan stepped up from each) |
//! | `binding`, `backend_utilisation`, `accept_utilisation` | headroom only: the limit the peak load uses most at the answer by capacity arithmetic, and the peak's share of the backends and of the accept rate |
//! | `<site>.backends_needed`, `<site>.accept_needed_per_s` | headroom only, one pair per site that stays in rotation: its backends and its load balancer's accept rate at the answer |
//! | `runs`, `simulated_s` | runs the combination took and their simulated time |
//!
//! `headroom.json` / `drain.json` hold the whole plan: the settings, every
//! factor judged on every seed (`probes`), the fresh blocks that rejected
//! an answer (`rejected`), the curve, and for headroom what each answer
//! asks of each site (`sites`), for drain the runbook's steps
//! (`schedule`: `at_s`, `site`, `weight`). `plan.html` draws each local
//! curve.
//!
//! # `drainstorm plan size`
//!
//! `size.csv` — one row per combination and size.
//!
//! | column | meaning |
//! |---|---|
//! | `balancer`, `policy` | the combination |
//! | `scale` | the size, as a factor of the profile's scale |
//! | `seeds` | seeds run at it |
//! | `absorbed`, `degraded`, `collapsed`, `metastable`, `inconclusive` | seeds with each verdict |
//! | `verdict` | the verdict most seeds got (a tie goes to the worse) |
//! | `lost`, `lost_min`, `lost_max` | share of requests lost: the mean over the seeds, the least and the most |
//! | `recovery_s` | the median recovery after the trigger's end (0: before it; empty: the median seed never recovered) |
//! | `recovered` | whether that median seed recovered |
//! | `offered` | requests offered, mean over the seeds |
//! | `converged_at` | the smallest size from which the combination's answers no longer change (empty: not by the largest) |
//!
//! # `drainstorm explain`
//!
//! `explain.csv` — one row per run kind of each combination.
//!
//! | column | meaning |
//! |---|---|
//! | `balancer`, `policy` | the combination |
//! | `run` | `as-written`, `without` (a candidate trigger left out), `without-any` (every candidate left out) or `ablated` (a sustaining effect stopped at the trigger's end) |
//! | `what` | the candidate's label or the effect's name (`retries`, `abandoned-work`, `load-balancers`, `health-checks`, `dns`, `client-state`) |
//! | `at_s` | when the candidate happens, or when the effect is ablated |
//! | `verdict` | the verdict most seeds got |
//! | `absorbed_seeds`, `seeds` | seeds absorbed, of those run |
//! | `lost` | mean share of requests lost |
//! | `recovery` | the median seed's recovery: `no-trigger`, `before-trigger-end`, `after`, `never` |
//! | `recovery_s` | seconds after the trigger's end (`after`), 0 before it |
//!
//! # The words used above
//!
//! A *wasted* attempt was served for a client that had stopped waiting;
//! an *error* is an attempt served with a failure (a backend's
//! `fail_probability`); a *refused* request was stopped by its own client
//! (breaker, throttle) before an attempt. *Lost* requests are offered
//! requests that never succeeded: failed, refused, or still unanswered at
//! the run's end.

#[cfg(test)]
mod tests {
    use super::super::{SERIES_HEADER, SITES_HEADER, TIMELINE_HEADER};

    const DOC: &str = include_str!("files.rs");

    /// Every column of the fixed headers is defined above, in backquotes.
    #[test]
    fn every_fixed_column_is_defined() {
        for header in [SERIES_HEADER, SITES_HEADER, TIMELINE_HEADER] {
            for column in header.trim().split(',') {
                assert!(DOC.contains(&format!("`{column}`")), "{column}");
            }
        }
    }
}
