//! The report page's two smaller charts: the latency percentiles of every
//! combination, and each site's rotation over one run.

use plotters::prelude::*;

use super::*;

/// p50 / p99 / p99.9 per combination on a log axis, one named line per
/// combination in table order.
pub(super) fn latency_chart(c: &Comparison, rows: &[Row]) -> String {
    let find = |r: &Row| {
        c.runs
            .iter()
            .find(|(run, _)| run.balancer == r.balancer && run.policy == r.policy)
            .map(|(_, res)| &res.summary)
    };
    let values: Vec<(String, f64, f64, f64)> = rows
        .iter()
        .filter_map(|r| find(r).map(|s| (r, s)))
        .map(|(r, s)| {
            (
                format!("{} + {}", r.balancer, r.policy),
                s.p50.max(1e-4),
                s.p99.max(1e-4),
                s.p999.max(1e-4),
            )
        })
        .collect();
    let hi = values.iter().map(|v| v.3).fold(1e-3, f64::max) * 2.0;
    let lo = values.iter().map(|v| v.1).fold(hi, f64::min) / 2.0;
    let n = values.len().max(1);
    let names: Vec<String> = values.iter().map(|v| v.0.clone()).collect();
    let height = 90 + 24 * n as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, height)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(
                "Latency of successful requests: p50, p99, p99.9",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(230)
            .build_cartesian_2d((lo..hi).log_scale(), -0.5f64..n as f64 - 0.5)
        else {
            return String::new();
        };
        let _ = chart
            .configure_mesh()
            .x_desc("seconds (log scale)")
            .y_labels(n)
            .y_label_formatter(&|y| {
                // Row k sits at n - 1 - k: the table's first row on top.
                let k = n as f64 - 1.0 - *y;
                if (k - k.round()).abs() < 0.01 && k >= -0.01 {
                    names.get(k.round() as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .label_style(("sans-serif", AXIS_FONT))
            .axis_desc_style(("sans-serif", AXIS_FONT))
            .light_line_style(RGBColor(238, 238, 238))
            .draw();
        for (k, v) in values.iter().enumerate() {
            let y = (n - 1 - k) as f64;
            let _ = chart.draw_series(std::iter::once(PathElement::new(
                vec![(v.1, y), (v.3, y)],
                RGBColor(180, 180, 180).stroke_width(2),
            )));
            for (x, colour) in [(v.1, PALETTE[0]), (v.2, PALETTE[1]), (v.3, PALETTE[3])] {
                let _ = chart.draw_series(std::iter::once(Circle::new((x, y), 5, colour.filled())));
            }
        }
        let _ = root.present();
    }
    svg
}

/// Each site's state over time for one run: in rotation, drained (weight
/// 0) or ejected by health checks.
pub(super) fn rotation_chart(profile: &Profile, run: &Run, res: &RunResult, title: &str) -> String {
    let sites: Vec<&str> = run.config.sites.iter().map(|s| s.name.as_str()).collect();
    let u = unit(run.config.duration.as_secs_f64());
    let step = res.recorder.interval().as_secs_f64() / u;
    let end = run.config.duration.as_secs_f64() / u;
    let height = 70 + 28 * sites.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, height)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(50)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..end, -0.5f64..sites.len() as f64 - 0.5)
        else {
            return String::new();
        };
        let _ = chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(sites.len())
            .y_label_formatter(&|y| {
                let k = y.round();
                if (y - k).abs() < 0.01 && k >= 0.0 {
                    sites
                        .get(k as usize)
                        .map_or(String::new(), |s| (*s).to_owned())
                } else {
                    String::new()
                }
            })
            .x_desc(time_axis(profile))
            .x_label_formatter(&|x| time_label(profile, *x * u))
            .label_style(("sans-serif", AXIS_FONT))
            .axis_desc_style(("sans-serif", AXIS_FONT))
            .draw();
        for (s, _) in sites.iter().enumerate() {
            let rects = res
                .recorder
                .site_series(s)
                .enumerate()
                .map(|(i, row)| {
                    let colour = if !row.healthy {
                        RGBColor(214, 39, 40)
                    } else if row.weight == 0 {
                        RGBColor(189, 189, 189)
                    } else {
                        RGBColor(116, 196, 118)
                    };
                    let x = i as f64 * step;
                    Rectangle::new(
                        [(x, s as f64 - 0.35), (x + step, s as f64 + 0.35)],
                        colour.filled(),
                    )
                })
                .collect::<Vec<_>>();
            let _ = chart.draw_series(rects);
        }
        let _ = root.present();
    }
    svg
}
