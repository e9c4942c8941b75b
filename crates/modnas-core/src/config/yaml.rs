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
    if bytes % (1 << 20) == 0 {
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
                    doc = Some(b.node(&mut parser, ev, mark)?);
                }
            }
            other => {
                let n = b.node(&mut parser, other, mark)?;
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
        ConfigError::at_span(&b.span(m), "", format!("invalid YAML: {}", e.info())).with_hint(
            "check the indentation and that every `key: value` has a space after the colon",
        )
    })
}

struct Builder {
    source: Arc<Source>,
    anchors: HashMap<usize, Node>,
}

impl Builder {
    fn span(&self, m: &Marker) -> Span {
        Span {
            source: self.source.clone(),
            line: m.line() as u32,
            col: m.col() as u32 + 1,
        }
    }

    fn node(
        &mut self,
        parser: &mut Parser<std::str::Chars<'_>>,
        ev: Event,
        mark: Marker,
    ) -> Result<Node, ConfigError> {
        let span = self.span(&mark);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let kind = resolve_scalar(&text, style, tag.as_ref().map(|t| t.suffix.as_str()))
                    .map_err(|m| ConfigError::at_span(&span, "", m))?;
                let n = Node::new(kind, span);
                if anchor > 0 {
                    self.anchors.insert(anchor, n.clone());
                }
                Ok(n)
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(n) => {
                    let mut n = n.clone();
                    n.span = span;
                    Ok(n)
                }
                None => Err(ConfigError::at_span(
                    &span,
                    "",
                    "alias refers to an unknown anchor",
                )),
            },
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (ev, m) = next(parser, self)?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(parser, ev, m)?);
                }
                let n = Node::new(NodeKind::Seq(items), span);
                if anchor > 0 {
                    self.anchors.insert(anchor, n.clone());
                }
                Ok(n)
            }
            Event::MappingStart(anchor, _) => {
                let mut entries: Vec<(Key, Node)> = Vec::new();
                let mut merged: Vec<(Key, Node)> = Vec::new();
                loop {
                    let (ev, m) = next(parser, self)?;
                    if matches!(ev, Event::MappingEnd) {
                        break;
                    }
                    let key_node = self.node(parser, ev, m)?;
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
                    let value = self.node(parser, ev, m)?;
                    if key_name == "<<" {
                        let sources = match &value.kind {
                            NodeKind::Map(_) => vec![value],
                            NodeKind::Seq(v) => v.clone(),
                            _ => {
                                return Err(ConfigError::at(
                                    &value,
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
                let n = Node::new(NodeKind::Map(entries), span);
                if anchor > 0 {
                    self.anchors.insert(anchor, n.clone());
                }
                Ok(n)
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
    let v = if let Some(h) = body.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(o) = body.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        body.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
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
        && !s.starts_with(['-', '.', '~', '+'])
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
                out.push_str(&key_text(k));
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
            "none": null
        });
        let text = emit(&v);
        let back = parse_str("emitted", &text).unwrap().to_json();
        assert_eq!(back, v, "{text}");
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
