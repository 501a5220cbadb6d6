//! `map.html`: a sweep drawn. For one varied key, the share of runs per
//! verdict and the median recovery time against the key, one line per
//! combination; for two keys, the metastability map — a heat map per
//! combination whose cells show the verdict mix over the seeds and
//! P(metastable). One self-contained page: inline SVG and CSS, no scripts.

use std::fmt::Write as _;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::html::{PALETTE, escape};
use super::sweep::JournalHeader;
use super::sweep_words::{axis_label, nearest, profile_point, tipping, value_words};
use crate::plan::{Cell, SweepRow, cells};
use crate::retry::parse_duration;
use crate::sim::Verdict;

/// The verdicts drawn, in stacking order, with their colours.
const VERDICTS: [(Verdict, RGBColor); 5] = [
    (Verdict::Absorbed, RGBColor(120, 190, 120)),
    (Verdict::Degraded, RGBColor(240, 205, 90)),
    (Verdict::Collapsed, RGBColor(235, 130, 80)),
    (Verdict::Metastable, RGBColor(150, 30, 30)),
    (Verdict::Inconclusive, RGBColor(190, 190, 190)),
];

const FONT: u32 = 14;

/// One line of a chart: (balancer, policy, points).
type Line = (String, String, Vec<(f64, f64)>);

/// The values as numbers (plain, or durations in seconds), if all are.
fn numeric(values: &[String]) -> Option<Vec<f64>> {
    values
        .iter()
        .map(|v| {
            v.parse::<f64>()
                .ok()
                .or_else(|| parse_duration(v).ok().map(|d| d.as_secs_f64()))
        })
        .collect()
}

/// Every (balancer, policy) in job order.
fn combos(cells: &[Cell]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for c in cells {
        let k = (c.balancer.clone(), c.policy.clone());
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

/// The page.
pub fn sweep_map(header: &JournalHeader, rows: &[SweepRow]) -> String {
    let cells = cells(rows);
    let mut page = String::new();
    let title = format!("drainstorm sweep — {}", escape(&header.profile));
    let _ = write!(
        page,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2430; background: #f6f7f9; }}
header {{ background: #1d2430; color: #fff; padding: 22px 40px; }}
header h1 {{ margin: 0 0 6px; font-size: 24px; }}
header p {{ margin: 0; color: #c9d1de; }}
main {{ max-width: 1240px; margin: 0 auto; padding: 20px 40px 60px; }}
section {{ background: #fff; border-radius: 8px; box-shadow: 0 1px 3px rgba(0,0,0,.08); padding: 16px 20px; margin: 16px 0; }}
h2 {{ font-size: 18px; margin: 0 0 10px; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 14px; }}
.grid figure {{ margin: 0; }}
.grid figcaption {{ font-size: 14px; color: #3d4554; margin: 2px 8px 8px; }}
.grid svg, .wide svg {{ width: 100%; height: auto; }}
.legend span {{ display: inline-block; width: 14px; height: 12px; margin: 0 5px 0 14px; vertical-align: middle; border-radius: 2px; }}
.note {{ color: #5b6474; font-size: 14px; }}
</style></head><body>
<header><h1>{title}</h1><p>{} runs: {} × {} seed{} per point and combination (the same seeds at every point)</p></header>
<main>
"#,
        rows.len(),
        header
            .vary
            .iter()
            .map(|v| format!("--vary {}", escape(v)))
            .collect::<Vec<_>>()
            .join(" × "),
        header.seeds,
        if header.seeds == 1 { "" } else { "s" },
    );
    let legend: String = VERDICTS
        .iter()
        .map(|(v, c)| {
            format!(
                "<span style=\"background: rgb({},{},{})\"></span>{v}",
                c.0, c.1, c.2
            )
        })
        .collect();
    match header.keys.len() {
        1 => one_key(&mut page, header, &cells),
        2 => {
            let own = profile_point(header);
            let marked = match (&own[0], &own[1]) {
                (Some(y), Some(x)) => format!(
                    " The outlined cell is the profile as written ({} {}, {} {}; the nearest cell where it falls between two).",
                    escape(short(&header.keys[0])),
                    escape(&value_words(y)),
                    escape(short(&header.keys[1])),
                    escape(&value_words(x))
                ),
                _ => String::new(),
            };
            let _ = write!(
                page,
                "<section><h2>The metastability map</h2><p class=\"legend\">Each cell: the verdicts of its seeds, stacked{legend}; the figure is P(metastable) where it is above 0.{marked}</p><div class=\"grid\">"
            );
            for (b, p) in combos(&cells) {
                let mine: Vec<&Cell> = cells
                    .iter()
                    .filter(|c| c.balancer == b && c.policy == p)
                    .collect();
                let _ = write!(
                    page,
                    "<figure>{}<figcaption>{b} + {p}: {}.</figcaption></figure>",
                    heat_map(header, &format!("{b} + {p}"), &mine, &own),
                    escape(&tipping(header, &mine))
                );
            }
            page.push_str("</div></section>");
        }
        n => {
            let _ = write!(
                page,
                "<section><p class=\"note\">{n} keys varied: the map draws one or two; every run is in sweep.csv.</p></section>"
            );
        }
    }
    page.push_str("</main></body></html>\n");
    page
}

/// A key's last part: `rate` for `clients[0].workload.rate`.
fn short(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// Line charts against the one varied key.
fn one_key(page: &mut String, header: &JournalHeader, cells: &[Cell]) {
    let combos = combos(cells);
    let balancers: Vec<&String> = {
        let mut v: Vec<&String> = Vec::new();
        for (b, _) in &combos {
            if !v.contains(&b) {
                v.push(b);
            }
        }
        v
    };
    let policies: Vec<&String> = {
        let mut v: Vec<&String> = Vec::new();
        for (_, p) in &combos {
            if !v.contains(&p) {
                v.push(p);
            }
        }
        v
    };
    let style_of = |b: &str, p: &str| {
        let colour = PALETTE[balancers.iter().position(|x| *x == b).unwrap_or(0) % PALETTE.len()];
        let dash = policies.iter().position(|x| *x == p).unwrap_or(0);
        (colour, dash)
    };
    let mut legend = String::from("<p class=\"legend\">");
    for b in &balancers {
        let (c, _) = style_of(b, "");
        let _ = write!(
            legend,
            "<span style=\"background: rgb({},{},{}); height: 4px\"></span>{}",
            c.0,
            c.1,
            c.2,
            escape(b)
        );
    }
    let _ = write!(
        legend,
        "<br>Policies: {}</p>",
        policies
            .iter()
            .enumerate()
            .map(|(i, p)| format!(
                "{} ({})",
                escape(p),
                ["solid", "dashed", "dotted", "long dashes"][i % 4]
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let key = &axis_label(&header.keys[0], &cells[0].values[0]);
    let mut said = String::from("<ul class=\"note\">");
    for (b, p) in &combos {
        let mine: Vec<&Cell> = cells
            .iter()
            .filter(|c| &c.balancer == b && &c.policy == p)
            .collect();
        let _ = write!(
            said,
            "<li>{} + {}: {}.</li>",
            escape(b),
            escape(p),
            escape(&tipping(header, &mine))
        );
    }
    said.push_str("</ul>");
    let own = match &profile_point(header)[0] {
        Some(v) => format!(
            "<p class=\"note\">The profile as written: {} {}.</p>",
            escape(short(&header.keys[0])),
            escape(&value_words(v))
        ),
        None => String::new(),
    };
    let _ = write!(
        page,
        "<section><h2>Verdicts against {}</h2>{legend}{said}{own}<div class=\"grid\">",
        escape(key)
    );
    let points: Vec<&Cell> = {
        let mut seen = Vec::new();
        let mut out: Vec<&Cell> = Vec::new();
        for c in cells {
            if !seen.contains(&c.point) {
                seen.push(c.point);
                out.push(c);
            }
        }
        out
    };
    let labels: Vec<String> = points.iter().map(|c| c.values[0].clone()).collect();
    let xs = numeric(&labels).unwrap_or_else(|| (0..labels.len()).map(|i| i as f64).collect());
    let is_numeric = numeric(&labels).is_some();
    let series = |f: &dyn Fn(&Cell) -> Option<f64>| -> Vec<Line> {
        combos
            .iter()
            .map(|(b, p)| {
                let pts = points
                    .iter()
                    .zip(&xs)
                    .filter_map(|(pc, &x)| {
                        cells
                            .iter()
                            .find(|c| c.point == pc.point && &c.balancer == b && &c.policy == p)
                            .and_then(f)
                            .map(|y| (x, y))
                    })
                    .collect();
                (b.clone(), p.clone(), pts)
            })
            .collect()
    };
    for (v, _) in &VERDICTS[..4] {
        let v = *v;
        let lines = series(&|c: &Cell| Some(c.share(v)));
        page.push_str(&line_chart(
            &format!("P({v})"),
            key,
            &labels,
            &xs,
            is_numeric,
            1.0,
            &lines,
            &style_of,
        ));
    }
    let rec = series(&|c: &Cell| c.median_recovery_s.map(|s| s / 60.0));
    let top = rec
        .iter()
        .flat_map(|l| l.2.iter().map(|p| p.1))
        .fold(1.0, f64::max)
        * 1.1;
    page.push_str(&line_chart(
        "median recovery after the trigger's end, min (missing: not recovered)",
        key,
        &labels,
        &xs,
        is_numeric,
        top,
        &rec,
        &style_of,
    ));
    page.push_str("</div></section>");
}

#[allow(clippy::too_many_arguments)]
fn line_chart(
    title: &str,
    key: &str,
    labels: &[String],
    xs: &[f64],
    is_numeric: bool,
    top: f64,
    lines: &[Line],
    style_of: &dyn Fn(&str, &str) -> (RGBColor, usize),
) -> String {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.03).max(0.5);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (420, 300)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(44)
            .build_cartesian_2d((lo - pad)..(hi + pad), 0f64..top * 1.02)
        else {
            return String::new();
        };
        let label = |x: &f64| {
            if is_numeric {
                format!("{x}")
            } else {
                let i = x.round();
                if (x - i).abs() < 1e-9 && i >= 0.0 && (i as usize) < labels.len() {
                    labels[i as usize].clone()
                } else {
                    String::new()
                }
            }
        };
        let _ = chart
            .configure_mesh()
            .x_desc(key)
            .x_label_formatter(&label)
            .x_labels(if is_numeric { 8 } else { labels.len().min(12) })
            .label_style(("sans-serif", FONT))
            .axis_desc_style(("sans-serif", FONT))
            .light_line_style(RGBColor(238, 238, 238))
            .draw();
        for (b, p, pts) in lines {
            let (colour, dash) = style_of(b, p);
            let style = colour.stroke_width(2);
            let _ = match dash % 4 {
                0 => chart
                    .draw_series(LineSeries::new(pts.iter().copied(), style))
                    .map(|_| ()),
                1 => chart
                    .draw_series(DashedLineSeries::new(pts.iter().copied(), 7, 4, style))
                    .map(|_| ()),
                2 => chart
                    .draw_series(DashedLineSeries::new(pts.iter().copied(), 2, 3, style))
                    .map(|_| ()),
                _ => chart
                    .draw_series(DashedLineSeries::new(pts.iter().copied(), 14, 5, style))
                    .map(|_| ()),
            };
            let _ = chart.draw_series(pts.iter().map(|&p| Circle::new(p, 2, colour.filled())));
        }
        let _ = root.present();
    }
    svg
}

/// One combination's heat map over two keys.
fn heat_map(
    header: &JournalHeader,
    title: &str,
    cells: &[&Cell],
    own: &[Option<String>],
) -> String {
    let mut xs: Vec<&String> = Vec::new();
    let mut ys: Vec<&String> = Vec::new();
    for c in cells {
        if !xs.contains(&&c.values[1]) {
            xs.push(&c.values[1]);
        }
        if !ys.contains(&&c.values[0]) {
            ys.push(&c.values[0]);
        }
    }
    let (nx, ny) = (xs.len() as f64, ys.len() as f64);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (600, 460)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(48)
            .y_label_area_size(74)
            .build_cartesian_2d(0f64..nx, 0f64..ny)
        else {
            return String::new();
        };
        let xl = |x: &f64| {
            let i = (x - 0.5).round();
            if (x - 0.5 - i).abs() < 1e-9 && i >= 0.0 && (i as usize) < xs.len() {
                value_words(xs[i as usize])
            } else {
                String::new()
            }
        };
        let yl = |y: &f64| {
            let i = (y - 0.5).round();
            if (y - 0.5 - i).abs() < 1e-9 && i >= 0.0 && (i as usize) < ys.len() {
                value_words(ys[i as usize])
            } else {
                String::new()
            }
        };
        let _ = chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(axis_label(&header.keys[1], xs[0]))
            .y_desc(axis_label(&header.keys[0], ys[0]))
            .x_label_formatter(&xl)
            .y_label_formatter(&yl)
            .x_labels(xs.len() * 2 + 1)
            .y_labels(ys.len() * 2 + 1)
            .label_style(("sans-serif", FONT))
            .axis_desc_style(("sans-serif", FONT))
            .draw();
        for c in cells {
            let x = xs.iter().position(|v| **v == c.values[1]).unwrap_or(0) as f64;
            let y = ys.iter().position(|v| **v == c.values[0]).unwrap_or(0) as f64;
            // Stack the verdict shares bottom to top, inset a little.
            let (x0, x1) = (x + 0.03, x + 0.97);
            let mut bottom = y + 0.03;
            for (v, colour) in VERDICTS {
                let h = c.share(v) * 0.94;
                if h > 0.0 {
                    let _ = chart.draw_series(std::iter::once(Rectangle::new(
                        [(x0, bottom), (x1, bottom + h)],
                        colour.filled(),
                    )));
                    bottom += h;
                }
            }
            let meta = c.share(Verdict::Metastable);
            if meta > 0.0 && nx <= 16.0 {
                let _ = chart.draw_series(std::iter::once(Rectangle::new(
                    [(x + 0.22, y + 0.36), (x + 0.78, y + 0.64)],
                    WHITE.mix(0.85).filled(),
                )));
                let _ = chart.draw_series(std::iter::once(Text::new(
                    format!("{meta:.2}"),
                    (x + 0.5, y + 0.5),
                    ("sans-serif", 11)
                        .into_font()
                        .color(&RGBColor(20, 20, 20))
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                )));
            }
        }
        // The profile as written: its cell outlined.
        if let (Some((x, _)), Some((y, _))) = (nearest(&xs, &own[1]), nearest(&ys, &own[0])) {
            let (x, y) = (x as f64, y as f64);
            let _ = chart.draw_series(std::iter::once(Rectangle::new(
                [(x + 0.01, y + 0.01), (x + 0.99, y + 0.99)],
                ShapeStyle::from(&BLACK).stroke_width(3),
            )));
        }
        let _ = root.present();
    }
    svg
}
