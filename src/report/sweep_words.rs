//! A sweep in words: the varied keys as people name them (with units),
//! their values as people read them (`2.7 s`, not `2666666666ns`), the
//! profile's own point, and where each combination tips — what the map
//! and the sweep's table say besides the colours.

use super::sweep::JournalHeader;
use crate::plan::Cell;
use crate::profile::Profile;
use crate::retry::parse_duration;
use crate::sim::Verdict;

/// The unit of a key's values, from its last part (durations: seconds).
fn unit(key: &str, sample: &str) -> Option<&'static str> {
    let last = key.rsplit('.').next().unwrap_or(key);
    let last = last.split('[').next().unwrap_or(last);
    if sample.parse::<f64>().is_err() && parse_duration(sample).is_ok() {
        return Some("s");
    }
    Some(match last {
        "rate" => "requests/s",
        "max_new_per_sec" | "max_per_sec" => "new attempts/s",
        "count" => "backends",
        "instances" => "clients",
        "scale" => "× the size",
        "slots" => "slots",
        "queue" | "accept_backlog" => "places",
        _ => return None,
    })
}

/// A varied key as an axis names it: `rate (requests/s) — clients[0].workload.rate`.
pub(super) fn axis_label(key: &str, sample: &str) -> String {
    let last = key.rsplit('.').next().unwrap_or(key);
    match unit(key, sample) {
        Some(u) => format!("{last} ({u}) — {key}"),
        None => format!("{last} — {key}"),
    }
}

/// A value as people read it: a duration in seconds or minutes with three
/// significant figures (`2.67 s`, `45 min`), anything else as written.
pub(super) fn value_words(v: &str) -> String {
    if let Ok(x) = v.parse::<f64>() {
        // `400.0` as a profile writes a float: `400`.
        return if x.fract() == 0.0 && x.abs() < 1e15 {
            format!("{x:.0}")
        } else {
            v.to_owned()
        };
    }
    match parse_duration(v) {
        Ok(d) => {
            let s = d.as_secs_f64();
            let short = |x: f64| {
                let r = format!("{x:.3}");
                let r = r.trim_end_matches('0').trim_end_matches('.');
                r.to_owned()
            };
            if s >= 120.0 {
                format!("{} min", short((s / 60.0 * 100.0).round() / 100.0))
            } else {
                format!("{} s", short((s * 100.0).round() / 100.0))
            }
        }
        Err(_) => v.to_owned(),
    }
}

/// A value as a number (durations in seconds), if it is one.
pub(super) fn number(v: &str) -> Option<f64> {
    v.parse::<f64>()
        .ok()
        .or_else(|| parse_duration(v).ok().map(|d| d.as_secs_f64()))
}

/// The profile's own value of each varied key, as `--set` would write it
/// (`None` for a key the profile leaves to its default).
pub(super) fn profile_point(header: &JournalHeader) -> Vec<Option<String>> {
    let Ok(profile) = Profile::from_toml(&header.profile_toml, "the sweep's profile") else {
        return vec![None; header.keys.len()];
    };
    let Ok(doc) = toml::Table::try_from(&profile) else {
        return vec![None; header.keys.len()];
    };
    header
        .keys
        .iter()
        .map(|key| {
            let mut here = toml::Value::Table(doc.clone());
            for part in key.split('.') {
                let (name, rest) = part.split_at(part.find('[').unwrap_or(part.len()));
                here = here.get(name)?.clone();
                for index in rest.split(']').filter_map(|s| s.strip_prefix('[')) {
                    here = here.get(index.parse::<usize>().ok()?)?.clone();
                }
            }
            Some(match here {
                toml::Value::String(s) => s,
                other => other.to_string(),
            })
        })
        .collect()
}

/// Where the profile's own point falls in the grid: for each key, the
/// index of the grid value equal to (or, for numbers, nearest) the
/// profile's, with whether it is exactly on the grid.
pub(super) fn nearest(grid: &[&String], own: &Option<String>) -> Option<(usize, bool)> {
    let own = own.as_ref()?;
    if let Some(i) = grid.iter().position(|v| *v == own) {
        return Some((i, true));
    }
    let x = number(own)?;
    let i = grid
        .iter()
        .enumerate()
        .filter_map(|(i, v)| number(v).map(|g| (i, (g - x).abs())))
        .min_by(|a, b| a.1.total_cmp(&b.1))?
        .0;
    Some((i, number(grid[i]) == Some(x)))
}

/// Where one combination tips, in a sentence (without its name): for one
/// key, the values up to which every seed was absorbed from the smallest;
/// for two, that for each value of the second key.
pub(super) fn tipping(header: &JournalHeader, cells: &[&Cell]) -> String {
    let first = |c: &&Cell| c.values[0].clone();
    let mut ys: Vec<String> = Vec::new();
    for c in cells {
        if !ys.contains(&first(c)) {
            ys.push(first(c));
        }
    }
    let safe = |c: &Cell| c.share(Verdict::Absorbed) == 1.0;
    // The largest value of the first key up to which every cell in
    // `column` was absorbed, counting from the first value.
    let up_to = |column: &[&&Cell]| -> Option<String> {
        let mut last = None;
        for y in &ys {
            match column.iter().find(|c| &c.values[0] == y) {
                Some(c) if safe(c) => last = Some(value_words(y)),
                _ => break,
            }
        }
        last
    };
    let y_unit = unit(&header.keys[0], &ys[0]).map_or(String::new(), |u| format!(" {u}"));
    let name0 = header.keys[0].rsplit('.').next().unwrap_or(&header.keys[0]);
    // What a column says: every seed absorbed at the first key's values up
    // to one, at all of them, or at none.
    let answer = |column: &[&&Cell]| match up_to(column) {
        Some(v) if column.iter().all(|c| safe(c)) => format!("every {name0} up to {v}{y_unit}"),
        Some(v) => format!("{name0} ≤ {v}{y_unit}"),
        None => format!("no {name0}"),
    };
    if header.keys.len() == 1 {
        let column: Vec<&&Cell> = cells.iter().collect();
        return format!("every seed absorbed at {}", answer(&column));
    }
    let mut xs: Vec<String> = Vec::new();
    for c in cells {
        if !xs.contains(&c.values[1]) {
            xs.push(c.values[1].clone());
        }
    }
    let name1 = header.keys[1].rsplit('.').next().unwrap_or(&header.keys[1]);
    // Runs of equal answers over consecutive values of the second key.
    let mut parts: Vec<(String, String, String)> = Vec::new();
    for x in &xs {
        let column: Vec<&&Cell> = cells.iter().filter(|c| &c.values[1] == x).collect();
        let said = answer(&column);
        match parts.last_mut() {
            Some((_, to, a)) if *a == said => *to = value_words(x),
            _ => parts.push((value_words(x), value_words(x), said)),
        }
    }
    let said: Vec<String> = parts
        .into_iter()
        .map(|(from, to, answer)| {
            if from == to {
                format!("{answer} with {name1} {from}")
            } else {
                format!("{answer} with {name1} {from}–{to}")
            }
        })
        .collect();
    format!("every seed absorbed at {}", said.join("; at "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_keys_read_as_people_read_them() {
        assert_eq!(value_words("2666666666ns"), "2.67 s");
        assert_eq!(value_words("45m"), "45 min");
        assert_eq!(value_words("8s"), "8 s");
        assert_eq!(value_words("300"), "300");
        assert_eq!(value_words("400.0"), "400");
        assert_eq!(value_words("maglev"), "maglev");
        assert_eq!(
            axis_label("clients[0].workload.rate", "200"),
            "rate (requests/s) — clients[0].workload.rate"
        );
        assert_eq!(
            axis_label("timeline[0].ramp", "0s"),
            "ramp (s) — timeline[0].ramp"
        );
        assert_eq!(
            axis_label("sites[1].balancer", "ring"),
            "balancer — sites[1].balancer"
        );
    }

    #[test]
    fn the_profiles_point_is_found_on_the_grid_or_nearest_to_it() {
        let grid = ["200".to_owned(), "400".to_owned(), "600".to_owned()];
        let g: Vec<&String> = grid.iter().collect();
        assert_eq!(nearest(&g, &Some("400".into())), Some((1, true)));
        assert_eq!(nearest(&g, &Some("380".into())), Some((1, false)));
        assert_eq!(nearest(&g, &None), None);
    }
}
