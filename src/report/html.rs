//! `report.html`: one self-contained page (inline SVG, inline CSS, no
//! scripts, no network).

use std::fmt::Write as _;

use plotters::prelude::*;

use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Comparison, Row, seconds, story};
use crate::profile::{Profile, Run};
use crate::sim::{Action, RunResult, Verdict};

mod charts;
use self::charts::{latency_chart, rotation_chart};

/// The charts' colours, one per balancer (shared with the sweep map).
pub(super) const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

const SHADE: RGBColor = RGBColor(255, 224, 178);

/// Text made safe for HTML.
pub(super) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The windows to shade: from each drain to the matching restore (or the
/// end of the run).
fn drain_windows(c: &Comparison) -> Vec<(f64, f64)> {
    let end = c.profile.scenario.duration.as_secs_f64();
    let mut out = Vec::new();
    for (i, t) in c.profile.scenario.timeline.iter().enumerate() {
        if let Action::Drain { site, .. } | Action::PacedDrain { site, .. } = &t.action {
            let until = c.profile.scenario.timeline[i + 1..]
                .iter()
                .find(|u| matches!(&u.action, Action::Restore { site: s, .. } if s == site))
                .map_or(end, |u| u.at.as_secs_f64());
            out.push((t.at.as_secs_f64(), until));
        }
    }
    out
}

/// What the time axis of the charts shows.
fn time_axis(profile: &Profile) -> String {
    match (profile.clock_start.is_some(), profile.time_scale) {
        (true, None) => "time of day (UTC)".into(),
        (false, None) => "simulated time (s)".into(),
        (true, Some(k)) => format!("time of day (UTC; 1 simulated s stands for {k} s)"),
        (false, Some(k)) => format!("simulated time (s; 1 simulated s stands for {k} s)"),
    }
}

/// A tick on the time axis: clock time (UTC) when the profile sets
/// `clock_start`, simulated seconds otherwise.
pub(super) fn time_label(profile: &Profile, x: f64) -> String {
    match profile.clock_start_seconds() {
        Some(start) => {
            let t = (start + x.max(0.0) as u64) % 86_400;
            format!("{:02}:{:02}", t / 3600, t / 60 % 60)
        }
        None => {
            let x = (x * 1000.0).round() / 1000.0;
            format!("{x}")
        }
    }
}

/// The first seed's run of each combination, grouped by policy.
fn first_runs<'a>(c: &'a Comparison, policy: &str) -> Vec<&'a (Run, RunResult)> {
    let mut seen: Vec<&str> = Vec::new();
    c.runs
        .iter()
        .filter(|(r, _)| r.policy == policy)
        .filter(|(r, _)| {
            if seen.contains(&r.balancer.as_str()) {
                false
            } else {
                seen.push(&r.balancer);
                true
            }
        })
        .collect()
}

fn policies(c: &Comparison) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (r, _) in &c.runs {
        if !out.contains(&r.policy) {
            out.push(r.policy.clone());
        }
    }
    out
}

type Metric = fn(&crate::sim::Interval) -> Option<f64>;

/// The time axis' unit, s: hours for runs of four hours or more, minutes
/// for ten minutes or more, else seconds, so that ticks fall on round
/// clock times.
fn unit(end: f64) -> f64 {
    if end >= 4.0 * 3600.0 {
        3600.0
    } else if end >= 600.0 {
        60.0
    } else {
        1.0
    }
}

/// Axis text, readable at 100 % zoom once the chart is drawn full width.
const AXIS_FONT: u32 = 14;

/// The colour of balancer `name` in every chart: its place in the
/// profile's comparison.
fn colour_of(c: &Comparison, name: &str) -> RGBColor {
    let k = balancers(c).iter().position(|n| *n == name).unwrap_or(0);
    PALETTE[k % PALETTE.len()]
}

/// The balancers compared, in the profile's order.
fn balancers(c: &Comparison) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for (r, _) in &c.runs {
        if !names.contains(&r.balancer.as_str()) {
            names.push(&r.balancer);
        }
    }
    names
}

/// The balancers' colours, as one legend above a section's charts.
fn legend(c: &Comparison) -> String {
    let mut out = String::from("<p class=\"legend\">");
    for n in balancers(c) {
        let RGBColor(r, g, b) = colour_of(c, n);
        let _ = write!(
            out,
            "<span style=\"background:rgb({r},{g},{b})\"></span>{}",
            escape(n)
        );
    }
    out + "</p>"
}

/// A line chart over time: one line per balancer, the best and the worst
/// of the policy drawn bold and the others faint, drain windows shaded,
/// every timeline action marked and labelled, and `threshold` (a value
/// and its label) drawn as a dashed line.
fn time_chart(
    c: &Comparison,
    policy: &str,
    title: &str,
    y_label: &str,
    metric: Metric,
    y_max: Option<f64>,
    threshold: Option<(f64, &str)>,
) -> String {
    let runs = first_runs(c, policy);
    let u = unit(c.profile.scenario.duration.as_secs_f64());
    let end = c.profile.scenario.duration.as_secs_f64() / u;
    // Best and worst of this policy, by the table's order.
    let order: Vec<String> = c
        .rows()
        .into_iter()
        .filter(|r| r.policy == policy)
        .map(|r| r.balancer)
        .collect();
    let lines: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .map(|(run, res)| {
            let pts = res
                .recorder
                .series()
                .iter()
                .filter_map(|i| metric(i).map(|y| (i.start.as_secs_f64() / u, y)))
                .collect();
            (run.balancer.clone(), pts)
        })
        .collect();
    let top = y_max.unwrap_or_else(|| {
        lines
            .iter()
            .flat_map(|(_, p)| p.iter().map(|q| q.1))
            .fold(1.0, f64::max)
            * 1.15
    });
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 320)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(58)
            .build_cartesian_2d(0f64..end, 0f64..top)
        else {
            return String::new();
        };
        let x_label = |x: &f64| time_label(&c.profile, *x * u);
        let _ = chart
            .configure_mesh()
            .x_desc(time_axis(&c.profile))
            .x_label_formatter(&x_label)
            .x_labels(10)
            .y_desc(y_label)
            .label_style(("sans-serif", AXIS_FONT))
            .axis_desc_style(("sans-serif", AXIS_FONT))
            .light_line_style(RGBColor(238, 238, 238))
            .draw();
        let _ =
            chart.draw_series(drain_windows(c).into_iter().map(|(a, b)| {
                Rectangle::new([(a / u, 0.0), (b / u, top)], SHADE.mix(0.6).filled())
            }));
        if let Some((y, label)) = threshold {
            let grey = RGBColor(90, 90, 90);
            let _ = chart.draw_series(DashedLineSeries::new(
                [(0.0, y), (end, y)],
                6,
                4,
                grey.stroke_width(1),
            ));
            let _ = chart.draw_series(std::iter::once(Text::new(
                label.to_owned(),
                (end * 0.995, y),
                ("sans-serif", 12)
                    .into_font()
                    .color(&grey)
                    .pos(Pos::new(HPos::Right, VPos::Bottom)),
            )));
        }
        // Faint lines first, so the best and the worst stay on top.
        let bold = |name: &str| {
            order.first().map(String::as_str) == Some(name)
                || order.last().map(String::as_str) == Some(name)
        };
        let mut drawn: Vec<&(String, Vec<(f64, f64)>)> = lines.iter().collect();
        drawn.sort_by_key(|(name, _)| bold(name));
        for (name, pts) in drawn {
            let colour = colour_of(c, name);
            let style = if bold(name) {
                colour.stroke_width(2)
            } else {
                colour.mix(0.35).stroke_width(1)
            };
            let _ = chart.draw_series(LineSeries::new(pts.iter().copied(), style));
        }
        let ink = RGBColor(40, 40, 40);
        for (k, (at, label)) in story::marks(&c.scenario().timeline).into_iter().enumerate() {
            let at = at / u;
            let _ = chart.draw_series(DashedLineSeries::new(
                [(at, 0.0), (at, top)],
                4,
                3,
                ink.stroke_width(1),
            ));
            // Labels alternate between two heights so neighbours do not
            // overlap; they sit right of their line, or left near the end.
            let y = top * if k % 2 == 0 { 0.97 } else { 0.89 };
            let (h, dx) = if at > end * 0.7 {
                (HPos::Right, -end * 0.004)
            } else {
                (HPos::Left, end * 0.004)
            };
            let _ = chart.draw_series(std::iter::once(Text::new(
                label,
                (at + dx, y),
                ("sans-serif", 12)
                    .into_font()
                    .color(&ink)
                    .pos(Pos::new(h, VPos::Top)),
            )));
        }
        let _ = root.present();
    }
    svg
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Absorbed => "ok",
        Verdict::Degraded => "warn",
        Verdict::Collapsed => "bad",
        Verdict::Metastable => "worse",
        Verdict::Inconclusive => "warn",
    }
}

/// The whole report page.
pub fn html(c: &Comparison) -> String {
    html_with_why(c, None)
}

/// [`html`], with a "Why" section after "What happened" — from an
/// explanation (`drainstorm explain`), or read back from one made earlier
/// of the same scenario — whose conclusion joins the opening sentences.
pub fn html_with_why(c: &Comparison, why: Option<&super::why::Why>) -> String {
    let rows = c.rows();
    let mut page = String::new();
    let name = escape(&c.profile.name);
    let _ = write!(
        page,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>drainstorm — {name}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2430; background: #f6f7f9; }}
header {{ background: #1d2430; color: #fff; padding: 24px 40px; }}
header h1 {{ margin: 0 0 6px; font-size: 26px; }}
header p {{ margin: 0; color: #c9d1de; }}
main {{ max-width: 1180px; margin: 0 auto; padding: 24px 40px 60px; }}
section {{ background: #fff; border-radius: 8px; box-shadow: 0 1px 3px rgba(0,0,0,.08); padding: 18px 22px; margin: 18px 0; }}
h2 {{ font-size: 19px; margin: 0 0 12px; }}
table {{ border-collapse: collapse; width: 100%; font-size: 14px; }}
th, td {{ padding: 6px 9px; border-bottom: 1px solid #e6e8ec; text-align: right; white-space: nowrap; }}
th:nth-child(-n+4), td:nth-child(-n+4) {{ text-align: left; }}
th {{ background: #f0f2f5; font-weight: 600; }}
.verdict {{ font-weight: 600; border-radius: 4px; padding: 2px 7px; }}
.ok {{ background: #dff3e0; color: #1e6b24; }} .warn {{ background: #fff1cc; color: #7a5a00; }}
.bad {{ background: #fde0dc; color: #a42b1e; }} .worse {{ background: #a42b1e; color: #fff; }}
.charts {{ display: grid; grid-template-columns: 1fr; gap: 12px; }}
.charts svg {{ width: 100%; height: auto; }}
.legend {{ font-size: 15px; }}
.legend span {{ display: inline-block; width: 18px; height: 4px; margin: 0 6px 0 16px; vertical-align: middle; }}
.conclusion {{ font-size: 17px; line-height: 1.5; }}
.states span {{ width: 14px; height: 12px; border-radius: 6px; }}
.note {{ color: #5b6474; font-size: 14px; }}
table.why td, table.why th {{ text-align: left; }}
table.why tr.said td {{ border-bottom: 1px solid #e6e8ec; white-space: normal; color: #3d4554; font-size: 13px; padding-top: 0; }}
table.why tr:not(.said) td {{ border-bottom: none; }}
details summary {{ cursor: pointer; color: #5b6474; }}
</style></head><body>
<header><h1>drainstorm — {name}</h1><p>{}</p><p class="note">{}</p>{}</header>
<main>
"#,
        escape(&c.profile.description),
        escape(&c.size_line()),
        c.time_note().map_or(String::new(), |n| format!(
            "<p><strong>{}</strong></p>",
            escape(&n)
        )),
    );
    let mut said = story::conclusion(c);
    if let Some(why) = why {
        said.extend(why.conclusion.iter().cloned());
    }
    if !said.is_empty() {
        let _ = write!(
            page,
            "<section><h2>What happened</h2><p class=\"conclusion\">{}</p></section>",
            escape(&said.join(" "))
        );
    }
    if let Some(why) = why {
        page += &super::why::section(why);
    }
    let _ = write!(
        page,
        "<section><h2>Comparison, best first</h2><table><thead><tr><th>#</th><th>balancer</th><th>policy</th><th>verdict</th><th>lost %</th><th>peak amp</th><th>mean amp</th><th>mean</th><th>p99</th><th>p99.9</th><th>collapsed</th><th>recovery</th></tr></thead><tbody>"
    );
    for (i, r) in rows.iter().enumerate() {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><span class=\"verdict {}\">{}</span>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1} min</td><td>{}</td></tr>",
            i + 1,
            escape(&r.balancer),
            escape(&r.policy),
            verdict_class(r.verdict),
            r.verdict,
            if r.runs > 1 {
                format!(" {}/{} seeds collapsed", r.collapsed_runs, r.runs)
            } else {
                String::new()
            },
            r.lost_pct,
            r.peak_amplification,
            r.mean_amplification,
            seconds(r.mean_latency),
            seconds(r.p99),
            seconds(r.p999),
            r.collapsed_minutes,
            r.recovery,
        );
    }
    let _ = writeln!(
        page,
        "</tbody></table><p class=\"note\">Lost: offered requests that never succeeded. Amplification: attempts ÷ requests. {}.</p></section>",
        escape(&c.rule_line()),
    );

    let collapse = format!(
        "collapse: {:.0} % of offered",
        c.profile.scenario.recorder.collapse_ratio * 100.0
    );
    let _ = write!(
        page,
        "<section><h2>Goodput ÷ offered over time</h2><p class=\"note\">One chart per retry policy, one line per balancer (first seed): the best and the worst of each policy bold, the others faint. Shaded: a site out of rotation; dashed: each timeline action, and the collapse threshold.</p>{}<div class=\"charts\">",
        legend(c)
    );
    for p in policies(c) {
        page += &time_chart(
            c,
            &p,
            &format!("policy: {p}"),
            "goodput / offered",
            |i| (i.offered > 0).then(|| i.goodput_ratio().min(1.5)),
            Some(1.2),
            Some((c.profile.scenario.recorder.collapse_ratio, &collapse)),
        );
    }
    let _ = write!(
        page,
        "</div></section>\n<section><h2>Amplification over time</h2><p class=\"note\">Attempts sent per request offered in each interval.</p>{}<div class=\"charts\">",
        legend(c)
    );
    for p in policies(c) {
        page += &time_chart(
            c,
            &p,
            &format!("policy: {p}"),
            "attempts / offered",
            |i| (i.offered > 0).then(|| i.attempts as f64 / i.offered as f64),
            None,
            None,
        );
    }
    page += "</div></section>\n<section><h2>Latency percentiles</h2><p class=\"legend states\"><span style=\"background:#1f77b4\"></span>p50<span style=\"background:#ff7f0e\"></span>p99<span style=\"background:#d62728\"></span>p99.9</p>";
    page += &latency_chart(c, &rows);
    page += "</section>\n<section><h2>Sites in rotation</h2><p class=\"legend states\"><span style=\"background:#74c476\"></span>in rotation<span style=\"background:#bdbdbd\"></span>drained (weight 0)<span style=\"background:#d62728\"></span>ejected by health checks</p><div class=\"charts\">";
    let pick = |r: &Row| {
        c.runs
            .iter()
            .find(|(run, _)| run.balancer == r.balancer && run.policy == r.policy)
    };
    if let (Some(best), Some(worst)) = (rows.first(), rows.last()) {
        for (label, row) in [("best", best), ("worst", worst)] {
            if let Some((run, res)) = pick(row) {
                page += &rotation_chart(
                    &c.profile,
                    run,
                    res,
                    &format!(
                        "{label}: {} + {} ({})",
                        row.balancer, row.policy, row.verdict
                    ),
                );
            }
        }
    }
    page += "</div></section>\n<p class=\"note\">Generated by drainstorm from a deterministic simulation: the same profile and seed give the same page.</p></main></body></html>\n";
    page
}
