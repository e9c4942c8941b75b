//! Merging configuration files, `-o key=value` overrides, `defaults:` and routine sections.

use super::error::ConfigError;
use super::node::{Key, Node, NodeKind, Source, Span};
use super::yaml::{MAX_DEPTH, parse_source};
use std::path::PathBuf;
use std::sync::Arc;

/// Merges `over` into `base`: maps merge key by key (recursively), anything else is replaced.
/// A key written `name+` appends its list to the list at `name`.
pub fn merge(base: &mut Node, over: Node) {
    match (&mut base.kind, over.kind) {
        (NodeKind::Map(b), NodeKind::Map(o)) => {
            for (k, v) in o {
                if let Some(stem) = k.name.strip_suffix('+')
                    && let Some((_, existing)) = b.iter_mut().find(|(bk, _)| bk.name == stem)
                    && let (NodeKind::Seq(items), NodeKind::Seq(more)) =
                        (&mut existing.kind, &v.kind)
                {
                    items.extend(more.iter().cloned());
                    continue;
                }
                let k = match k.name.strip_suffix('+') {
                    Some(stem) => Key {
                        name: stem.to_string(),
                        span: k.span,
                    },
                    None => k,
                };
                match b.iter_mut().find(|(bk, _)| bk.name == k.name) {
                    Some((_, existing)) if existing.as_map().is_some() && v.as_map().is_some() => {
                        merge(existing, v)
                    }
                    Some(slot) => *slot = (k, v),
                    None => b.push((k, v)),
                }
            }
        }
        (_, kind) => {
            base.kind = kind;
            base.span = over.span;
        }
    }
}

/// Applies one `-o a.b.c=value` override; `value` is parsed as YAML.
pub fn apply_override(root: &mut Node, spec: &str) -> Result<(), ConfigError> {
    apply_override_from(root, spec, &format!("command line (-o {spec})"))
}

/// Applies `a.b.c=value` given by a command-line flag described as `source_name` in errors.
pub fn apply_override_from(
    root: &mut Node,
    spec: &str,
    source_name: &str,
) -> Result<(), ConfigError> {
    let source_name = source_name.to_string();
    let cmd_span = Span {
        source: Arc::new(Source {
            name: source_name.clone(),
            path: None,
            text: String::new(),
        }),
        line: 0,
        col: 0,
    };
    let Some((path, value)) = spec.split_once('=') else {
        return Err(ConfigError::at_span(
            &cmd_span,
            "",
            "an override must look like `key.path=value`",
        )
        .with_hint("for example: -o stop.max_trials=100"));
    };
    let path = path.trim();
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(ConfigError::at_span(
            &cmd_span,
            "",
            format!("`{path}` is not a valid key path"),
        )
        .with_hint("key paths are names separated by dots, e.g. optim.args.population"));
    }
    let value_node = parse_source(Source {
        name: source_name,
        path: Some(PathBuf::from("./-o")),
        text: value.to_string(),
    })
    .map_err(|e| ConfigError {
        path: path.to_string(),
        ..e
    })?;
    // A lone scalar parses as itself; an empty value is null.
    let value_node = if value.trim().is_empty() {
        Node::new(NodeKind::Null, value_node.span)
    } else {
        value_node
    };
    set_path(root, path, value_node, &cmd_span)
}

fn set_path(root: &mut Node, path: &str, value: Node, span: &Span) -> Result<(), ConfigError> {
    let parts: Vec<&str> = path.split('.').collect();
    check_depth(parts.len(), &value, span)?;
    set_parts(root, &parts, 0, value, span)
}

/// Fails when `value` placed `levels` maps down would nest deeper than [`MAX_DEPTH`].
fn check_depth(levels: usize, value: &Node, span: &Span) -> Result<(), ConfigError> {
    let total = levels.saturating_add(value.height());
    if total > MAX_DEPTH {
        return Err(ConfigError::at_span(
            span,
            "",
            format!(
                "nested too deeply: this key path of {levels} names with its value nests {total} levels; lists and maps may be nested at most {MAX_DEPTH} levels"
            ),
        ));
    }
    Ok(())
}

fn set_parts(
    cur: &mut Node,
    parts: &[&str],
    i: usize,
    value: Node,
    span: &Span,
) -> Result<(), ConfigError> {
    let part = parts[i];
    let last = i + 1 == parts.len();
    let so_far = parts[..=i].join(".");
    if cur.is_null() {
        cur.kind = NodeKind::Map(Vec::new());
    }
    let described = cur.describe();
    match &mut cur.kind {
        NodeKind::Seq(items) => {
            let idx: usize = part.parse().map_err(|_| {
                ConfigError::at_span(
                    span,
                    &so_far,
                    format!("`{part}` is not a list index (the value here is a list)"),
                )
            })?;
            let len = items.len();
            let slot = items.get_mut(idx).ok_or_else(|| {
                ConfigError::at_span(
                    span,
                    &so_far,
                    format!("index {idx} is past the end of a list of {len}"),
                )
            })?;
            if last {
                *slot = value;
                Ok(())
            } else {
                set_parts(slot, parts, i + 1, value, span)
            }
        }
        NodeKind::Map(entries) => {
            let pos = match entries.iter().position(|(k, _)| k.name == part) {
                Some(p) => p,
                None => {
                    entries.push((
                        Key {
                            name: part.to_string(),
                            span: span.clone(),
                        },
                        Node::new(NodeKind::Null, span.clone()),
                    ));
                    entries.len() - 1
                }
            };
            let slot = &mut entries[pos];
            if last {
                slot.0.span = span.clone();
                if slot.1.as_map().is_some() && value.as_map().is_some() {
                    merge(&mut slot.1, value);
                } else {
                    slot.1 = value;
                }
                Ok(())
            } else {
                set_parts(&mut slot.1, parts, i + 1, value, span)
            }
        }
        _ => Err(ConfigError::at_span(
            span,
            &parts[..i].join("."),
            format!("cannot set `{part}` inside {described}"),
        )),
    }
}

/// Applies and removes the `defaults:` section: a map from dotted key paths (where `*` matches any
/// key) to values that are set only where the configuration does not already give one.
pub fn apply_defaults(root: &mut Node) -> Result<(), ConfigError> {
    let Some((key, defaults)) = root.remove("defaults") else {
        return Ok(());
    };
    let Some(entries) = defaults.as_map() else {
        return Err(ConfigError::at(
            &defaults,
            "defaults",
            format!(
                "expected a map of `key.path: value`, found {}",
                defaults.describe()
            ),
        )
        .with_hint(format!(
            "see line {} of {}",
            key.span.line, key.span.source.name
        )));
    };
    for (k, v) in entries {
        let parts: Vec<&str> = k.name.split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(ConfigError::at_span(
                &k.span,
                "defaults",
                format!("`{}` is not a valid key path", k.name),
            ));
        }
        check_depth(parts.len(), v, &k.span)?;
        fill_default(root, &parts, v);
    }
    Ok(())
}

fn fill_default(node: &mut Node, parts: &[&str], value: &Node) {
    let Some((first, rest)) = parts.split_first() else {
        return;
    };
    if *first == "*" {
        if let Some(entries) = node.as_map_mut() {
            for (_, child) in entries.iter_mut() {
                if rest.is_empty() {
                    continue;
                }
                fill_default(child, rest, value);
            }
        }
        return;
    }
    if node.is_null() {
        node.kind = NodeKind::Map(Vec::new());
    }
    let Some(entries) = node.as_map_mut() else {
        return;
    };
    match entries.iter_mut().find(|(k, _)| k.name == *first) {
        Some((_, child)) => {
            if !rest.is_empty() {
                fill_default(child, rest, value);
            }
        }
        None => {
            let key = Key {
                name: first.to_string(),
                span: value.span.clone(),
            };
            if rest.is_empty() {
                entries.push((key, value.clone()));
            } else {
                let mut child = Node::empty_map(value.span.clone());
                fill_default(&mut child, rest, value);
                entries.push((key, child));
            }
        }
    }
}

/// Removes every routine section (`search:`, `tune:`, `train:`…) and merges the one named
/// `routine` into the root, so one file can hold settings for several commands.
pub fn apply_routine(root: &mut Node, routine: &str, all_routines: &[&str]) {
    let mut chosen = None;
    for r in all_routines {
        if let Some((_, section)) = root.remove(r)
            && *r == routine
        {
            chosen = Some(section);
        }
    }
    if let Some(section) = chosen
        && section.as_map().is_some()
    {
        merge(root, section);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::parse_str;

    fn j(n: &Node) -> serde_json::Value {
        n.to_json()
    }

    #[test]
    fn files_merge_in_order() {
        let mut a = parse_str(
            "a.yaml",
            "optim: {type: Random, args: {x: 1, y: 2}}\nlist: [1, 2]\n",
        )
        .unwrap();
        let b = parse_str("b.yaml", "optim: {args: {y: 3}}\nlist: [9]\n").unwrap();
        merge(&mut a, b);
        assert_eq!(
            j(&a),
            serde_json::json!({"optim": {"type": "Random", "args": {"x": 1, "y": 3}}, "list": [9]})
        );
        let c = parse_str("c.yaml", "list+: [10]\n").unwrap();
        merge(&mut a, c);
        assert_eq!(j(&a)["list"], serde_json::json!([9, 10]));
        // The merged value remembers the file it came from.
        assert_eq!(
            a.get("optim")
                .unwrap()
                .get("args")
                .unwrap()
                .get("y")
                .unwrap()
                .span
                .source
                .name,
            "b.yaml"
        );
    }

    #[test]
    fn overrides() {
        let mut a = parse_str(
            "a.yaml",
            "stop: {max_trials: 5}\nobjectives: [{metric: a}, {metric: b}]\n",
        )
        .unwrap();
        apply_override(&mut a, "stop.max_trials=50").unwrap();
        apply_override(&mut a, "optim.args.population=20").unwrap();
        apply_override(&mut a, "objectives.1.metric=c").unwrap();
        apply_override(&mut a, "name=my run").unwrap();
        apply_override(&mut a, "estim.args={table: t.csv}").unwrap();
        assert_eq!(
            j(&a),
            serde_json::json!({
                "stop": {"max_trials": 50},
                "objectives": [{"metric": "a"}, {"metric": "c"}],
                "optim": {"args": {"population": 20}},
                "name": "my run",
                "estim": {"args": {"table": "t.csv"}}
            })
        );
        let v = a.get("stop").unwrap().get("max_trials").unwrap();
        assert!(v.span.source.name.contains("-o stop.max_trials=50"));
        assert!(apply_override(&mut a, "novalue").is_err());
        assert!(apply_override(&mut a, "a..b=1").is_err());
        let e = apply_override(&mut a, "objectives.7.metric=x").unwrap_err();
        assert!(e.message.contains("past the end"), "{e}");
        let e = apply_override(&mut a, "name.inner=1").unwrap_err();
        assert!(e.message.contains("cannot set"), "{e}");
    }

    #[test]
    fn defaults_with_wildcards() {
        let mut a = parse_str(
            "a.yaml",
            "defaults:\n  estim.*.epochs: 3\n  stop.max_trials: 10\nestim:\n  warm: {type: A}\n  main: {type: B, epochs: 7}\nstop: {max_trials: 4}\n",
        )
        .unwrap();
        apply_defaults(&mut a).unwrap();
        assert_eq!(
            j(&a),
            serde_json::json!({
                "estim": {"warm": {"type": "A", "epochs": 3}, "main": {"type": "B", "epochs": 7}},
                "stop": {"max_trials": 4}
            })
        );
    }

    #[test]
    fn routine_sections() {
        let mut a = parse_str("a.yaml", "seed: 1\nsearch: {seed: 2}\ntune: {seed: 3}\n").unwrap();
        apply_routine(&mut a, "search", &["search", "tune", "train"]);
        assert_eq!(j(&a), serde_json::json!({"seed": 2}));
    }
}
