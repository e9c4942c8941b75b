//! YAML text to [`Node`] trees (with positions), and JSON values back to YAML text.

use super::error::ConfigError;
use super::node::{Key, Node, NodeKind, Source, Span};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// The largest configuration file read, in bytes (16 MiB). Larger files are refused before
/// more than this is read, so pointing modnas at `/dev/zero` or a huge file fails at once.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// The deepest nesting of lists and maps in one document (including values copied in by
/// aliases and the key paths of `-o` and `defaults:`). Every tree is walked recursively, so
/// this bounds the stack they need.
pub const MAX_DEPTH: usize = 128;

/// The most values that anchors and aliases may copy in one document. An alias is a full copy
/// of its anchored value, so aliases of aliases multiply ("billion laughs"); this bounds the
/// memory and time a small file can ask for.
pub const MAX_ALIAS_COPIES: u64 = 1_000_000;

/// Reads and parses a YAML file (at most [`MAX_FILE_BYTES`]).
pub fn load_file(path: &Path) -> Result<Node, ConfigError> {
    let text = read_limited(path, MAX_FILE_BYTES)?;
    parse_source(Source {
        name: path.display().to_string(),
        path: Some(path.to_path_buf()),
        text,
    })
}

fn mib(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// Reads a text file of at most `limit` bytes, reading no more than `limit + 1` bytes of a
/// larger one (or of an endless one such as `/dev/zero`).
fn read_limited(path: &Path, limit: u64) -> Result<String, ConfigError> {
    let fail = |what: String| {
        ConfigError::new(format!(
            "cannot read configuration file `{}`: {what}",
            path.display()
        ))
    };
    let io = |e: std::io::Error| {
        fail(match e.kind() {
            std::io::ErrorKind::NotFound => "file not found".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => e.to_string(),
        })
    };
    let too_big = || {
        fail(format!(
            "the file is larger than {}, the limit for a configuration file",
            mib(limit)
        ))
    };
    let file = std::fs::File::open(path).map_err(io)?;
    if file
        .metadata()
        .is_ok_and(|m| m.is_file() && m.len() > limit)
    {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|_| fail("the file is not UTF-8 text".to_string()))
}

/// Parses YAML text from a named source.
pub fn parse_str(name: &str, text: &str) -> Result<Node, ConfigError> {
    parse_source(Source {
        name: name.to_string(),
        path: None,
        text: text.to_string(),
    })
}

/// Parses a source into a node (an empty document is an empty map).
pub fn parse_source(source: Source) -> Result<Node, ConfigError> {
    let source = Arc::new(source);
    let mut b = Builder {
        source: source.clone(),
        anchors: HashMap::new(),
        copies: 0,
    };
    let mut parser = Parser::new_from_str(&source.text);
    let mut doc: Option<Node> = None;
    loop {
        let (ev, mark) = next(&mut parser, &b)?;
        match ev {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart => {
                if doc.is_some() {
                    return Err(ConfigError::at_span(
                        &b.span(&mark),
                        "",
                        "only one YAML document per file is supported (found a second `---`)",
                    ));
                }
                let (ev, mark) = next(&mut parser, &b)?;
                if matches!(ev, Event::DocumentEnd) {
                    doc = Some(Node::empty_map(b.span(&mark)));
                } else {
                    doc = Some(b.node(&mut parser, ev, mark, 0)?.node);
                }
            }
            other => {
                let n = b.node(&mut parser, other, mark, 0)?.node;
                if doc.is_some() {
                    return Err(ConfigError::at(
                        &n,
                        "",
                        "only one YAML document per file is supported",
                    ));
                }
                doc = Some(n);
            }
        }
    }
    // The document as a whole is "the file": errors about it (a missing key, say) name the file
    // without pointing at one line.
    let whole = Span {
        source: source.clone(),
        line: 0,
        col: 0,
    };
    Ok(match doc {
        Some(n) if n.is_null() => Node::empty_map(whole),
        Some(mut n) if n.as_map().is_some() => {
            n.span = whole;
            n
        }
        Some(n) => n,
        None => Node::empty_map(whole),
    })
}

fn next(
    parser: &mut Parser<std::str::Chars<'_>>,
    b: &Builder,
) -> Result<(Event, Marker), ConfigError> {
    parser.next_token().map_err(|e| {
        let m = e.marker();
        // The scanner limits flow nesting itself (reading ahead, so before the events reach
        // the depth check); say so in the same words.
        if e.info().contains("recursion limit") {
            return nested_too_deeply(&b.span(m));
        }
        ConfigError::at_span(&b.span(m), "", format!("invalid YAML: {}", e.info())).with_hint(
            "check the indentation and that every `key: value` has a space after the colon",
        )
    })
}

struct Builder {
    source: Arc<Source>,
    /// Anchored values with their sizes.
    anchors: HashMap<usize, Built>,
    /// Values copied so far for anchors and aliases.
    copies: u64,
}

/// A node with its size (values in it, itself included) and height (levels of lists and maps
/// in it: 0 for a scalar).
#[derive(Clone)]
struct Built {
    node: Node,
    size: u64,
    height: usize,
}

fn nested_too_deeply(span: &Span) -> ConfigError {
    ConfigError::at_span(
        span,
        "",
        format!("nested too deeply: lists and maps may be nested at most {MAX_DEPTH} levels"),
    )
}

impl Builder {
    fn span(&self, m: &Marker) -> Span {
        Span {
            source: self.source.clone(),
            line: m.line() as u32,
            col: m.col() as u32 + 1,
        }
    }

    /// Counts `size` more copied values, failing past [`MAX_ALIAS_COPIES`].
    fn copy(&mut self, size: u64, span: &Span) -> Result<(), ConfigError> {
        self.copies = self.copies.saturating_add(size);
        if self.copies > MAX_ALIAS_COPIES {
            return Err(ConfigError::at_span(
                span,
                "",
                format!(
                    "too many alias expansions: the anchors and aliases of this document copy more than {MAX_ALIAS_COPIES} values"
                ),
            )
            .with_hint("every alias is a full copy of its anchored value, so aliases of aliases multiply; write the values out or use fewer levels of aliases"));
        }
        Ok(())
    }

    /// Remembers `b` under `anchor` (a copy, counted like an alias).
    fn anchor(&mut self, anchor: usize, b: &Built) -> Result<(), ConfigError> {
        if anchor > 0 {
            self.copy(b.size, &b.node.span)?;
            self.anchors.insert(anchor, b.clone());
        }
        Ok(())
    }

    /// Builds the node that starts with `ev`, `depth` levels of lists and maps down.
    fn node(
        &mut self,
        parser: &mut Parser<std::str::Chars<'_>>,
        ev: Event,
        mark: Marker,
        depth: usize,
    ) -> Result<Built, ConfigError> {
        let span = self.span(&mark);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let kind = resolve_scalar(&text, style, tag.as_ref().map(|t| t.suffix.as_str()))
                    .map_err(|m| ConfigError::at_span(&span, "", m))?;
                let b = Built {
                    node: Node::new(kind, span),
                    size: 1,
                    height: 0,
                };
                self.anchor(anchor, &b)?;
                Ok(b)
            }
            Event::Alias(id) => {
                let Some((size, height)) = self.anchors.get(&id).map(|b| (b.size, b.height)) else {
                    return Err(ConfigError::at_span(
                        &span,
                        "",
                        "alias refers to an unknown anchor",
                    ));
                };
                if depth + height > MAX_DEPTH {
                    return Err(nested_too_deeply(&span));
                }
                self.copy(size, &span)?;
                let mut b = self.anchors[&id].clone();
                b.node.span = span;
                Ok(b)
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if depth >= MAX_DEPTH => {
                Err(nested_too_deeply(&span))
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                let (mut size, mut height) = (1u64, 1usize);
                loop {
                    let (ev, m) = next(parser, self)?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    let item = self.node(parser, ev, m, depth + 1)?;
                    size = size.saturating_add(item.size);
                    height = height.max(item.height + 1);
                    items.push(item.node);
                }
                let b = Built {
                    node: Node::new(NodeKind::Seq(items), span),
                    size,
                    height,
                };
                self.anchor(anchor, &b)?;
                Ok(b)
            }
            Event::MappingStart(anchor, _) => {
                let mut entries: Vec<(Key, Node)> = Vec::new();
                let mut merged: Vec<(Key, Node)> = Vec::new();
                let (mut size, mut height) = (1u64, 1usize);
                loop {
                    let (ev, m) = next(parser, self)?;
                    if matches!(ev, Event::MappingEnd) {
                        break;
                    }
                    let key_node = self.node(parser, ev, m, depth + 1)?.node;
                    let key_name = match &key_node.kind {
                        NodeKind::Str(s) => s.clone(),
                        NodeKind::Int(i) => i.to_string(),
                        NodeKind::Bool(b) => b.to_string(),
                        NodeKind::Float(x) => x.to_string(),
                        NodeKind::Null => "null".to_string(),
                        _ => {
                            return Err(ConfigError::at(
                                &key_node,
                                "",
                                "map keys must be plain names, not lists or maps",
                            ));
                        }
                    };
                    let (ev, m) = next(parser, self)?;
                    let value = self.node(parser, ev, m, depth + 1)?;
                    size = size.saturating_add(value.size);
                    height = height.max(value.height + 1);
                    let value = value.node;
                    if key_name == "<<" {
                        let span = value.span.clone();
                        let sources = match value.kind {
                            NodeKind::Map(_) => vec![value],
                            NodeKind::Seq(v) => v,
                            kind => {
                                return Err(ConfigError::at(
                                    &Node::new(kind, span),
                                    "",
                                    "`<<` merges a map or a list of maps",
                                ));
                            }
                        };
                        for s in sources {
                            match s.kind {
                                NodeKind::Map(m) => merged.extend(m),
                                _ => {
                                    return Err(ConfigError::at(
                                        &s,
                                        "",
                                        "`<<` merges a map or a list of maps",
                                    ));
                                }
                            }
                        }
                        continue;
                    }
                    if let Some((first, _)) = entries.iter().find(|(k, _)| k.name == key_name) {
                        return Err(ConfigError::at(
                            &key_node,
                            "",
                            format!(
                                "key `{key_name}` appears twice in the same map (first at line {})",
                                first.span.line
                            ),
                        ));
                    }
                    entries.push((
                        Key {
                            name: key_name,
                            span: key_node.span,
                        },
                        value,
                    ));
                }
                for (k, v) in merged {
                    if !entries.iter().any(|(e, _)| e.name == k.name) {
                        entries.push((k, v));
                    }
                }
                let b = Built {
                    node: Node::new(NodeKind::Map(entries), span),
                    size,
                    height,
                };
                self.anchor(anchor, &b)?;
                Ok(b)
            }
            other => Err(ConfigError::at_span(
                &span,
                "",
                format!("unexpected YAML event {other:?}"),
            )),
        }
    }
}

/// Resolves a scalar as the YAML 1.2 core schema does (quoted scalars are always strings).
fn resolve_scalar(text: &str, style: TScalarStyle, tag: Option<&str>) -> Result<NodeKind, String> {
    if let Some(tag) = tag {
        return match tag {
            "str" => Ok(NodeKind::Str(text.to_string())),
            "int" => text
                .trim()
                .parse()
                .map(NodeKind::Int)
                .map_err(|_| format!("`{text}` is not an integer")),
            "float" => parse_float(text.trim())
                .map(NodeKind::Float)
                .ok_or_else(|| format!("`{text}` is not a number")),
            "bool" => match text.trim() {
                "true" | "True" | "TRUE" => Ok(NodeKind::Bool(true)),
                "false" | "False" | "FALSE" => Ok(NodeKind::Bool(false)),
                _ => Err(format!("`{text}` is not a boolean")),
            },
            "null" => Ok(NodeKind::Null),
            other => Err(format!("unsupported YAML tag `!!{other}`")),
        };
    }
    if style != TScalarStyle::Plain {
        return Ok(NodeKind::Str(text.to_string()));
    }
    Ok(match text {
        "" | "~" | "null" | "Null" | "NULL" => NodeKind::Null,
        "true" | "True" | "TRUE" => NodeKind::Bool(true),
        "false" | "False" | "FALSE" => NodeKind::Bool(false),
        _ => {
            if let Some(i) = parse_int(text) {
                NodeKind::Int(i)
            } else if let Some(x) = parse_float(text) {
                NodeKind::Float(x)
            } else {
                NodeKind::Str(text.to_string())
            }
        }
    })
}

fn parse_int(t: &str) -> Option<i64> {
    let (neg, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    // Parsed as the magnitude in i128 then negated, so that i64::MIN can be written.
    let v: i128 = if let Some(h) = body.strip_prefix("0x") {
        i128::from(u64::from_str_radix(h, 16).ok()?)
    } else if let Some(o) = body.strip_prefix("0o") {
        i128::from(u64::from_str_radix(o, 8).ok()?)
    } else if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        i128::from(body.parse::<u64>().ok()?)
    } else {
        return None;
    };
    i64::try_from(if neg { -v } else { v }).ok()
}

fn parse_float(t: &str) -> Option<f64> {
    match t {
        ".inf" | ".Inf" | ".INF" | "+.inf" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut mantissa_digits = i - digits_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f0 = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        mantissa_digits += i - f0;
    }
    if mantissa_digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let e0 = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e0 {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    t.parse().ok()
}

/// Writes a JSON value as block-style YAML (strings quoted whenever they could be misread).
pub fn emit(v: &serde_json::Value) -> String {
    let mut out = String::new();
    emit_into(v, 0, &mut out, true);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn scalar(v: &serde_json::Value) -> Option<String> {
    use serde_json::Value as J;
    Some(match v {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => {
            if let Some(x) = n.as_f64().filter(|_| n.is_f64()) {
                if x.fract() == 0.0 && x.abs() < 1e15 {
                    format!("{x:.1}")
                } else {
                    format!("{x}")
                }
            } else {
                n.to_string()
            }
        }
        J::String(s) => quote(s),
        J::Array(a) if a.is_empty() => "[]".into(),
        J::Object(o) if o.is_empty() => "{}".into(),
        _ => return None,
    })
}

fn quote(s: &str) -> String {
    let plain_ok = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '|' | '~' | '+')
        })
        && !s.starts_with(['-', '.', '~', '+', '|'])
        && matches!(
            resolve_scalar(s, TScalarStyle::Plain, None),
            Ok(NodeKind::Str(_))
        );
    if plain_ok {
        s.to_string()
    } else {
        serde_json::Value::String(s.to_string()).to_string()
    }
}

/// Keys longer than this (in bytes, as written) are emitted as explicit `? key` entries.
const MAX_PLAIN_KEY: usize = 1000;

fn key_text(k: &str) -> String {
    quote(k)
}

fn emit_into(v: &serde_json::Value, indent: usize, out: &mut String, top: bool) {
    use serde_json::Value as J;
    let pad = " ".repeat(indent);
    match v {
        J::Object(o) if !o.is_empty() => {
            for (i, (k, x)) in o.iter().enumerate() {
                // The first key of a nested map follows its parent key on the same line.
                if i > 0 || (top && !out.is_empty()) {
                    out.push_str(&pad);
                }
                let key = key_text(k);
                if key.len() > MAX_PLAIN_KEY {
                    // The parser takes at most 1024 characters as an implicit key; a longer key
                    // is written as an explicit one (`? key` then `: value`).
                    out.push_str("? ");
                    out.push_str(&key);
                    out.push('\n');
                    out.push_str(&pad);
                } else {
                    out.push_str(&key);
                }
                out.push(':');
                match scalar(x) {
                    Some(s) => {
                        out.push(' ');
                        out.push_str(&s);
                        out.push('\n');
                    }
                    None => {
                        out.push('\n');
                        out.push_str(&" ".repeat(indent + 2));
                        emit_into(x, indent + 2, out, false);
                    }
                }
            }
        }
        J::Array(a) if !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(&pad);
                }
                out.push_str("- ");
                match scalar(x) {
                    Some(s) => {
                        out.push_str(&s);
                        out.push('\n');
                    }
                    None => emit_into(x, indent + 2, out, false),
                }
            }
        }
        other => {
            out.push_str(&scalar(other).unwrap_or_default());
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_resolve_like_yaml_1_2() {
        let n = parse_str(
            "t.yaml",
            "a: 1\nb: -2.5\nc: 1e-5\nd: true\ne: ~\nf: '3'\ng: text\nh: .inf\ni: 0x10\nj: 1_000\n",
        )
        .unwrap();
        assert_eq!(n.get("a").unwrap().kind, NodeKind::Int(1));
        assert_eq!(n.get("b").unwrap().kind, NodeKind::Float(-2.5));
        assert_eq!(n.get("c").unwrap().kind, NodeKind::Float(1e-5));
        assert_eq!(n.get("d").unwrap().kind, NodeKind::Bool(true));
        assert_eq!(n.get("e").unwrap().kind, NodeKind::Null);
        assert_eq!(n.get("f").unwrap().kind, NodeKind::Str("3".into()));
        assert_eq!(n.get("g").unwrap().kind, NodeKind::Str("text".into()));
        assert_eq!(n.get("h").unwrap().kind, NodeKind::Float(f64::INFINITY));
        assert_eq!(n.get("i").unwrap().kind, NodeKind::Int(16));
        assert_eq!(n.get("j").unwrap().kind, NodeKind::Str("1_000".into()));
        let n = parse_str(
            "t.yaml",
            "min: -9223372036854775808\nmax: 9223372036854775807\nover: 9223372036854775808\nh: -0x8000000000000000\n",
        )
        .unwrap();
        assert_eq!(n.get("min").unwrap().kind, NodeKind::Int(i64::MIN));
        assert_eq!(n.get("max").unwrap().kind, NodeKind::Int(i64::MAX));
        assert_eq!(
            n.get("over").unwrap().kind,
            NodeKind::Float(9223372036854775808.0)
        );
        assert_eq!(n.get("h").unwrap().kind, NodeKind::Int(i64::MIN));
    }

    #[test]
    fn positions_are_one_based() {
        let n = parse_str("t.yaml", "top:\n  inner: 5\n").unwrap();
        let top = n.get("top").unwrap();
        let (k, v) = &top.as_map().unwrap()[0];
        assert_eq!((k.span.line, k.span.col), (2, 3));
        assert_eq!((v.span.line, v.span.col), (2, 10));
    }

    #[test]
    fn duplicate_keys_and_bad_yaml_are_errors() {
        let e = parse_str("t.yaml", "a: 1\nb: 2\na: 3\n").unwrap_err();
        assert!(e.message.contains("appears twice"), "{e}");
        assert_eq!(e.span.unwrap().line, 3);
        let e = parse_str("t.yaml", "a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.message.contains("invalid YAML"), "{e}");
    }

    #[test]
    fn anchors_and_merge_keys() {
        let n = parse_str("t.yaml", "base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n").unwrap();
        let u = n.get("use").unwrap();
        assert_eq!(u.get("x").unwrap().kind, NodeKind::Int(1));
        assert_eq!(u.get("y").unwrap().kind, NodeKind::Int(3));
    }

    #[test]
    fn empty_documents_are_empty_maps() {
        assert_eq!(parse_str("t.yaml", "").unwrap().as_map().unwrap().len(), 0);
        assert_eq!(
            parse_str("t.yaml", "# only a comment\n")
                .unwrap()
                .as_map()
                .unwrap()
                .len(),
            0
        );
    }

    #[test]
    fn emit_round_trips() {
        let v = serde_json::json!({
            "name": "run",
            "seed": 3,
            "lr": 0.001,
            "whole": 2.0,
            "flags": [true, false],
            "nested": {"a": [1, {"b": "yes", "c": "1.5"}], "empty": {}, "list": []},
            "odd": "a: b",
            "|block": "|literal",
            "pipe|inside": "a|b",
            "k".repeat(1500): {"long": ["x".repeat(1500)], "k".repeat(1200): 1},
            "l".repeat(1100): "v",
            "none": null
        });
        let text = emit(&v);
        let back = parse_str("emitted", &text).unwrap().to_json();
        assert_eq!(back, v, "{text}");
    }

    fn bomb(levels: usize) -> String {
        let mut s = String::from("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..=levels {
            let p = format!("*l{}", i - 1);
            s.push_str(&format!("l{i}: &l{i} [{}]\n", vec![p; 9].join(", ")));
        }
        s
    }

    #[test]
    fn alias_bombs_stop_at_the_copy_limit() {
        // Four levels copy about 130 000 values (anchors included): allowed.
        let n = parse_str("b.yaml", &bomb(4)).unwrap();
        let l4 = n.get("l4").unwrap().to_json().to_string();
        assert_eq!(l4.matches("lol").count(), 9usize.pow(5));
        for levels in [6, 7, 12] {
            let e = parse_str("b.yaml", &bomb(levels)).unwrap_err();
            assert!(e.message.contains("too many alias expansions"), "{e}");
            let span = e.span.unwrap();
            assert!(span.line >= 6, "{levels}: at line {}", span.line);
        }
        // Anchors inside anchors are copies too.
        let mut nested = String::new();
        for i in 0..100 {
            nested.push_str(&format!("{}- &a{i}\n", "  ".repeat(i)));
        }
        nested.push_str(&format!(
            "{}- [{}]\n",
            "  ".repeat(100),
            vec!["x"; 20_000].join(", ")
        ));
        let e = parse_str("n.yaml", &nested).unwrap_err();
        assert!(e.message.contains("too many alias expansions"), "{e}");
    }

    #[test]
    fn nesting_is_limited_in_every_form() {
        let ok = format!("x:\n{}v\n", "- ".repeat(MAX_DEPTH - 1));
        let n = parse_str("d.yaml", &ok).unwrap();
        assert_eq!(n.height(), MAX_DEPTH);
        for text in [
            format!("x:\n{}v\n", "- ".repeat(MAX_DEPTH)),
            format!("x:\n{}v\n", "- ".repeat(100_000)),
            format!("x: {}v{}\n", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH)),
            format!("x: {}v{}\n", "[".repeat(10_000), "]".repeat(10_000)),
            format!(
                "x: {}v{}\n",
                "{a: ".repeat(MAX_DEPTH),
                "}".repeat(MAX_DEPTH)
            ),
            (0..MAX_DEPTH + 1)
                .map(|i| format!("{}k:\n", "  ".repeat(i)))
                .collect(),
        ] {
            let e = parse_str("d.yaml", &text).unwrap_err();
            assert!(e.message.contains("nested too deeply"), "{e}");
            assert!(e.span.as_ref().is_some_and(|s| s.line > 0), "{e}");
        }
        // Aliases cannot stack deep values onto each other.
        let half = MAX_DEPTH / 2 + 1;
        let text = format!(
            "a: &a {}v{}\nb: {}*a{}\n",
            "[".repeat(half),
            "]".repeat(half),
            "[".repeat(half),
            "]".repeat(half)
        );
        let e = parse_str("d.yaml", &text).unwrap_err();
        assert!(e.message.contains("nested too deeply"), "{e}");
        assert_eq!(e.span.unwrap().line, 2);
    }

    #[test]
    fn files_are_read_up_to_a_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yaml");
        std::fs::write(&p, "a: 1\n# padding\n").unwrap();
        assert_eq!(read_limited(&p, 15).unwrap(), "a: 1\n# padding\n");
        let e = read_limited(&p, 14).unwrap_err();
        assert!(e.message.contains("larger than 14 bytes"), "{e}");
        let e = read_limited(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(e.message.contains("larger than 1 MiB"), "{e}");
        std::fs::write(&p, b"a: \xff\n").unwrap();
        let e = read_limited(&p, 16).unwrap_err();
        assert!(e.message.contains("not UTF-8"), "{e}");
        let e = read_limited(&dir.path().join("none.yaml"), 16).unwrap_err();
        assert!(e.message.contains("file not found"), "{e}");
    }
}
