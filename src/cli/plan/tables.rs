//! A plan's rows: the table the terminal shows and the CSV.

use std::fmt::Write as _;

use drainstorm::plan::{CurvePoint, Outcome, Search};

/// One combination's line of a plan.
pub(super) struct Row<'a> {
    pub(super) balancer: &'a str,
    pub(super) policy: &'a str,
    pub(super) search: &'a Search,
    /// Extra CSV columns.
    pub(super) extra: Vec<String>,
    /// The extra table column.
    pub(super) shown: String,
}

/// An outcome as table cells: (answer, unsafe at, search, fresh, claim),
/// values written by `fmt`.
fn cells(outcome: &Outcome, fmt: &dyn Fn(f64) -> String) -> [String; 5] {
    let dash = || "—".to_owned();
    match outcome {
        Outcome::Found {
            factor,
            unsafe_below,
            success,
            seeds,
            fresh,
        } => [
            fmt(*factor),
            fmt(*unsafe_below),
            format!("{success}/{seeds}"),
            format!("{}/{}", fresh.success, fresh.seeds),
            format!("P ≥ {:.3}", fresh.lower),
        ],
        Outcome::BelowRange { min_factor, fresh } => [
            format!("≤{}", fmt(*min_factor)),
            dash(),
            dash(),
            format!("{}/{}", fresh.success, fresh.seeds),
            format!("P ≥ {:.3}", fresh.lower),
        ],
        Outcome::Unconfirmed { factor, fresh } => [
            dash(),
            dash(),
            dash(),
            format!("{}/{}", fresh.success, fresh.seeds),
            format!("not confirmed at {}", fmt(*factor)),
        ],
        Outcome::AboveRange { max_factor } => [
            format!(">{}", fmt(*max_factor)),
            fmt(*max_factor),
            dash(),
            dash(),
            "not met at the maximum".into(),
        ],
        Outcome::NotMonotone { .. } => [
            dash(),
            dash(),
            dash(),
            dash(),
            "not monotone (below)".into(),
        ],
    }
}

/// The answer table, with what it means under it.
pub(super) fn table(
    title: &str,
    (answer, extra): (&str, &str),
    rows: &[Row<'_>],
    fmt: &dyn Fn(f64) -> String,
    notes: &[String],
) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{title}\n");
    let mut lines: Vec<Vec<String>> = vec![
        [
            "balancer",
            "policy",
            answer,
            "unsafe at",
            "search",
            "fresh",
            "claim",
            extra,
            "runs",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for r in rows {
        let mut l = vec![r.balancer.to_owned(), r.policy.to_owned()];
        l.extend(cells(&r.search.outcome, fmt));
        l.push(r.shown.clone());
        l.push(r.search.runs.to_string());
        lines.push(l);
    }
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    // Text left, numbers right; the extra column only where it says something.
    let right = [false, false, true, true, true, true, false, false, true];
    for l in &lines {
        let mut out = String::new();
        for (c, cell) in l.iter().enumerate() {
            let w = widths[c];
            if w == 0 {
                continue;
            }
            if !out.is_empty() {
                out.push_str("  ");
            }
            if right[c] {
                let _ = write!(out, "{cell:>w$}");
            } else {
                let _ = write!(out, "{cell:<w$}");
            }
        }
        let _ = writeln!(t, "{}", out.trim_end());
    }
    let _ = writeln!(t);
    for r in rows {
        let name = format!("{} + {}", r.balancer, r.policy);
        if let Outcome::NotMonotone {
            seed,
            absorbed_at,
            failed_at,
        } = &r.search.outcome
        {
            let _ = writeln!(
                t,
                "{name}: not monotone, no answer: seed {seed} met the target at {} but not at {}.",
                fmt(*absorbed_at),
                fmt(*failed_at)
            );
        }
        for c in &r.search.rejected {
            let _ = writeln!(
                t,
                "{name}: fresh seeds rejected {} ({}/{} from seed {}); stepped up.",
                fmt(c.factor),
                c.success,
                c.seeds,
                c.first_seed
            );
        }
        if let Some((a, b)) = dip(&r.search.curve) {
            let _ = writeln!(
                t,
                "{name}: the local curve is not monotone: {}/{} at {} but {}/{} at {} (plan.html).",
                a.success,
                a.seeds,
                fmt(a.factor),
                b.success,
                b.seeds,
                fmt(b.factor)
            );
        }
    }
    for n in notes {
        let _ = writeln!(t, "{n}");
    }
    t
}

/// Two points of a curve where more capacity did worse, if any.
fn dip(curve: &[CurvePoint]) -> Option<(&CurvePoint, &CurvePoint)> {
    curve
        .windows(2)
        .find(|w| w[1].success < w[0].success)
        .map(|w| (&w[0], &w[1]))
}

/// The CSV: per combination a row `answer` (the outcome, its seeds and
/// fresh block, `extra`, runs and simulated seconds) and a row `curve` per
/// point of its local curve. `answer` names the value's column, and its
/// scale from the search's unit (60: minutes written as seconds).
pub(super) fn outcome_csv(
    (answer, unit): (&str, f64),
    extra: &[String],
    rows: &[Row<'_>],
) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let below = if unit == 1.0 {
        "unsafe_below".to_owned()
    } else {
        format!("unsafe_below_{}", answer.rsplit('_').next().unwrap_or("s"))
    };
    let mut head: Vec<String> = [
        "balancer",
        "policy",
        "row",
        "outcome",
        answer,
        &below,
        "success",
        "seeds",
        "interval_low",
        "interval_high",
        "fresh_success",
        "fresh_seeds",
        "fresh_first_seed",
        "claim_lower",
        "rejected_blocks",
    ]
    .map(str::to_owned)
    .to_vec();
    head.extend(extra.iter().cloned());
    head.extend(["runs".to_owned(), "simulated_s".to_owned()]);
    let _ = w.write_record(&head);
    let num = |x: f64| format!("{}", x * unit);
    for row in rows {
        let mut r: Vec<String> = vec![
            row.balancer.to_owned(),
            row.policy.to_owned(),
            "answer".into(),
        ];
        let (kind, value, unsafe_below, k, n, fresh) = match &row.search.outcome {
            Outcome::Found {
                factor,
                unsafe_below,
                success,
                seeds,
                fresh,
            } => (
                "found",
                num(*factor),
                num(*unsafe_below),
                Some(*success),
                Some(*seeds),
                Some(fresh),
            ),
            Outcome::BelowRange { min_factor, fresh } => (
                "below-range",
                num(*min_factor),
                String::new(),
                None,
                None,
                Some(fresh),
            ),
            Outcome::Unconfirmed { factor, fresh } => (
                "unconfirmed",
                num(*factor),
                String::new(),
                None,
                None,
                Some(fresh),
            ),
            Outcome::AboveRange { max_factor } => (
                "above-range",
                String::new(),
                num(*max_factor),
                None,
                None,
                None,
            ),
            Outcome::NotMonotone { .. } => (
                "not-monotone",
                String::new(),
                String::new(),
                None,
                None,
                None,
            ),
        };
        let interval = match (k, n) {
            (Some(k), Some(n)) => drainstorm::plan::exact_interval(k, n),
            _ => (f64::NAN, f64::NAN),
        };
        let opt = |x: Option<String>| x.unwrap_or_default();
        r.extend([
            kind.to_owned(),
            value,
            unsafe_below,
            opt(k.map(|k| k.to_string())),
            opt(n.map(|n| n.to_string())),
            opt(k.map(|_| interval.0.to_string())),
            opt(k.map(|_| interval.1.to_string())),
            opt(fresh.map(|f| f.success.to_string())),
            opt(fresh.map(|f| f.seeds.to_string())),
            opt(fresh.map(|f| f.first_seed.to_string())),
            opt(fresh.map(|f| f.lower.to_string())),
            row.search.rejected.len().to_string(),
        ]);
        r.extend(row.extra.iter().cloned());
        r.extend([
            row.search.runs.to_string(),
            row.search.simulated_s.to_string(),
        ]);
        let _ = w.write_record(&r);
        for p in &row.search.curve {
            let mut c: Vec<String> = vec![
                row.balancer.to_owned(),
                row.policy.to_owned(),
                "curve".into(),
                String::new(),
                num(p.factor),
                String::new(),
                p.success.to_string(),
                p.seeds.to_string(),
                p.interval.0.to_string(),
                p.interval.1.to_string(),
            ];
            c.resize(head.len(), String::new());
            let _ = w.write_record(&c);
        }
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}
