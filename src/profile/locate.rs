//! Where in a profile's text an error belongs: line and column, and the
//! full key path (`sites[1].backends[0].slots`), for errors from the TOML
//! parser, from serde (which sometimes points at a whole table) and from
//! validation (which names a path).

use std::ops::Range;

/// Every key of a document: (path, key span, value span).
type KeySpans = Vec<(String, Range<usize>, Range<usize>)>;

/// The largest char boundary of `text` at or below `offset`.
fn boundary(text: &str, offset: usize) -> usize {
    let mut i = offset.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The key whose value starts at (or contains) `offset`: the last `key =`
/// on its line before it.
pub(super) fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = boundary(text, offset);
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = &text[line_start..line_end];
    // A table header names its table.
    let trimmed = line.trim();
    if trimmed.starts_with('[') {
        let name = trimmed.trim_start_matches('[');
        let name = name.split(']').next().unwrap_or("").trim();
        return (!name.is_empty()).then(|| name.to_owned());
    }
    // The span may start at the key itself (`unknown field`).
    let here = &text[offset..line_end];
    let ident_len = here.find(|c: char| !is_key_char(c)).unwrap_or(here.len());
    if ident_len > 0 && here[ident_len..].trim_start().starts_with('=') {
        return Some(here[..ident_len].to_owned());
    }
    let upto = &line[..boundary(line, offset - line_start + 1)];
    // Prefer the key right before the offset; else the first key of the line.
    let eq = upto.rfind('=').or_else(|| line.find('='))?;
    let before = line[..eq].trim_end();
    let start = before
        .char_indices()
        .rev()
        .find(|&(_, c)| !(is_key_char(c) || c == '.'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let key = &before[start..];
    (!key.is_empty()).then(|| key.to_owned())
}

/// Every key of a TOML document with its path and spans: (path, key span,
/// value span), outer keys before inner ones.
fn keys_of(text: &str) -> Option<KeySpans> {
    use toml::de::{DeTable, DeValue};
    fn walk(
        prefix: &str,
        value: &DeValue<'_>,
        span: Range<usize>,
        key_span: Range<usize>,
        out: &mut Vec<(String, Range<usize>, Range<usize>)>,
    ) {
        out.push((prefix.to_owned(), key_span, span));
        match value {
            DeValue::Table(t) => {
                for (k, v) in t.iter() {
                    let path = if prefix.is_empty() {
                        k.get_ref().to_string()
                    } else {
                        format!("{prefix}.{}", k.get_ref())
                    };
                    walk(&path, v.get_ref(), v.span(), k.span(), out);
                }
            }
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("{prefix}[{i}]");
                    walk(&path, item.get_ref(), item.span(), item.span(), out);
                }
            }
            _ => {}
        }
    }
    let doc = DeTable::parse(text).ok()?;
    let mut out = Vec::new();
    let span = doc.span();
    walk(
        "",
        &DeValue::Table(doc.into_inner()),
        span.clone(),
        span,
        &mut out,
    );
    Some(out)
}

/// Where a parse error belongs: (offset, key path, message). serde points
/// some errors at a whole table (a missing field, a field or variant of a
/// flattened enum); this finds the key itself and its full path.
pub(super) fn place(
    text: &str,
    offset: Option<usize>,
    message: &str,
) -> (Option<usize>, Option<String>, String) {
    let Some(offset) = offset else {
        return (None, None, message.to_owned());
    };
    let message = &plain(message);
    let Some(keys) = keys_of(text) else {
        // Not even TOML: the line says what the key is.
        let key = key_at(text, offset);
        let message = match &key {
            Some(k) if message == "duplicate key" => format!("duplicate key `{k}`"),
            _ => message.to_owned(),
        };
        return (Some(offset), key, message);
    };
    let depth = |p: &str| p.matches(['.', '[']).count() + usize::from(!p.is_empty());
    let here = keys
        .iter()
        .filter(|(_, k, v)| k.contains(&offset) || v.contains(&offset))
        .max_by_key(|(p, k, v)| (depth(p), usize::MAX - (k.len() + v.len())));
    let table = here.map_or("", |(p, _, _)| p.as_str());
    let child = |name: &str| {
        let path = if table.is_empty() {
            name.to_owned()
        } else {
            format!("{table}.{name}")
        };
        // The direct child, else the first descendant of that name (a
        // field of an inline table inside an array).
        let nested = format!(".{name}");
        keys.iter()
            .find(|(p, _, _)| *p == path)
            .or_else(|| {
                keys.iter()
                    .find(|(p, _, _)| p.starts_with(table) && p.ends_with(&nested))
            })
            .cloned()
    };
    let quoted = |m: &str| m.split('`').nth(1).map(str::to_owned);
    if let Some(field) = message.strip_prefix("missing field ").and_then(quoted) {
        // serde points at the table that lacks it: a header, an inline
        // table, or the whole document.
        let owner = keys
            .iter()
            .filter(|(_, _, v)| v.contains(&offset) && text[v.clone()].starts_with(['[', '{']))
            .map(|(p, _, _)| p.as_str())
            .max_by_key(|p| depth(p))
            .unwrap_or("");
        let path = if owner.is_empty() {
            field
        } else {
            format!("{owner}.{field}")
        };
        return (Some(offset), Some(path), message.to_owned());
    }
    if message.starts_with("unknown field ")
        && let Some(field) = quoted(message)
    {
        if table == field || table.starts_with(&format!("{field}[")) {
            return (Some(offset), Some(field), message.to_owned());
        }
        if let Some((path, k, _)) = child(&field) {
            return (Some(k.start), Some(path), message.to_owned());
        }
    }
    if message.starts_with("unknown variant ")
        && let Some(variant) = quoted(message)
        && let Some((path, _, v)) = keys.iter().find(|(p, _, v)| {
            (p.as_str() == table || p.starts_with(&format!("{table}.")))
                && text[v.clone()].trim_matches(['"', '\'']) == variant
        })
    {
        return (Some(v.start), Some(path.clone()), message.to_owned());
    }
    // A table's own check names the parameter it refuses
    // (`invalid multiplier = NaN`).
    if let Some(name) = message
        .strip_prefix("invalid ")
        .and_then(|r| r.split_once(" = "))
        .map(|(name, _)| name)
        && let Some((path, k, _)) = child(name)
    {
        return (Some(k.start), Some(path), message.to_owned());
    }
    // A wrong value inside a table serde could only point at as a whole
    // (an internally tagged enum): find the value the message quotes.
    if let Some((_, _, v)) = here
        && text[v.clone()].starts_with(['[', '{'])
        && let Some(quoted_value) = message
            .strip_prefix("invalid type: string ")
            .map(|r| r.split(", expected").next().unwrap_or(r).to_owned())
            .or_else(|| {
                message
                    .strip_prefix("invalid value: ")
                    .or_else(|| message.strip_prefix("invalid type: "))
                    .and_then(|r| r.split('`').nth(1))
                    .map(str::to_owned)
            })
            .or_else(|| {
                // A value's own parser quotes it first (`5q`: unknown
                // unit `q`; `-1ms` is not a duration).
                message
                    .strip_prefix('`')
                    .and_then(|r| r.split_once('`'))
                    .map(|(v, _)| v.to_owned())
            })
        && let Some((path, _, v)) = keys.iter().rev().find(|(p, _, v)| {
            let written = text[v.clone()].trim_matches(['"', '\'']);
            let same = written == quoted_value.trim_matches(['"', '\''])
                || matches!(
                    (written.parse::<f64>(), quoted_value.parse::<f64>()),
                    (Ok(a), Ok(b)) if a == b
                );
            p.starts_with(table) && same && v.start >= offset
        })
    {
        return (Some(v.start), Some(path.clone()), message.to_owned());
    }
    let key = here
        .map(|(p, _, _)| p.clone())
        .filter(|p| !p.is_empty())
        .or_else(|| key_at(text, offset));
    (Some(offset), key, message.to_owned())
}

/// The path as the profile writes it: a check that names a parameter
/// without its sub-table (`policies.p.max_tokens` for
/// `policies.p.budget.max_tokens`) gets the one written key it means.
pub(super) fn written_path(text: &str, key: String) -> String {
    let Some(keys) = keys_of(text) else {
        return key;
    };
    if key.is_empty() || keys.iter().any(|(p, _, _)| *p == key) {
        return key;
    }
    // The sub-table may be missing before the last part or before the
    // last two (`window.time` of `policies.p.breaker.window.time`): the
    // longest prefix first.
    for (cut, _) in key.rmatch_indices('.') {
        let (prefix, rest) = (&key[..cut], &key[cut..]);
        let under = format!("{prefix}.");
        let mut found = keys
            .iter()
            .map(|(p, _, _)| p)
            .filter(|p| p.starts_with(&under) && p.ends_with(rest));
        match (found.next(), found.next()) {
            (Some(one), None) => return one.clone(),
            (Some(_), Some(_)) => return key,
            _ => {}
        }
    }
    key
}

/// serde's words for a table shape, in the profile's words.
fn plain(message: &str) -> String {
    message
        .replace(
            "internally tagged enum ServiceTime",
            "a table such as { dist = \"exponential\", mean = \"10ms\" }",
        )
        .replace(
            "internally tagged enum Workload",
            "a table such as { kind = \"open\", rate = 100 }",
        )
        .replace(
            "internally tagged enum KeyDist",
            "a table such as { dist = \"zipf\", count = 1000, exponent = 0.9 }",
        )
        .replace(
            "struct TimedAction",
            "a timeline entry such as { at = \"10m\", action = \"drain\", site = \"east\" }",
        )
        .replace("internally tagged enum ", "a table for ")
}

/// Finds the span of a key path (`a.b[2].c`) in a TOML document: the
/// deepest part of the path that exists.
pub(super) fn locate(text: &str, path: &str) -> Option<Range<usize>> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).ok()?;
    let mut span = None;
    let mut table: Option<&DeTable> = Some(doc.get_ref());
    let mut value: Option<&DeValue> = None;
    for part in path.split('.') {
        let (key, indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            let t = match (table, value) {
                (Some(t), _) => t,
                (None, Some(DeValue::Table(t))) => t,
                _ => break,
            };
            let Some((k, v)) = t.iter().find(|(k, _)| k.get_ref().as_ref() == key) else {
                break;
            };
            span = Some(
                if matches!(v.get_ref(), DeValue::Table(_) | DeValue::Array(_)) {
                    k.span()
                } else {
                    v.span()
                },
            );
            table = None;
            value = Some(v.get_ref());
        }
        for index in indices
            .split(']')
            .filter_map(|s| s.strip_prefix('['))
            .filter_map(|s| s.parse::<usize>().ok())
        {
            let Some(DeValue::Array(items)) = value else {
                break;
            };
            let Some(item) = items.get(index) else {
                break;
            };
            span = Some(item.span());
            value = Some(item.get_ref());
        }
    }
    span
}
