//! Configuration trees that remember where every value came from.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A configuration source: a file, or a command-line argument.
#[derive(Debug, PartialEq)]
pub struct Source {
    /// File path, or a description such as `command line (-o stop.max_trials=5)`.
    pub name: String,
    /// The file, when it is one (used to resolve relative paths).
    pub path: Option<PathBuf>,
    /// The text, for quoting the offending line in errors.
    pub text: String,
}

/// Where a value was written.
#[derive(Clone, Debug)]
pub struct Span {
    /// Its source.
    pub source: Arc<Source>,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub col: u32,
}

impl PartialEq for Span {
    fn eq(&self, other: &Self) -> bool {
        self.source.name == other.source.name && self.line == other.line && self.col == other.col
    }
}

impl Span {
    /// A span for values made by the program itself (defaults).
    pub fn builtin() -> Span {
        Span {
            source: Arc::new(Source {
                name: "<built-in default>".into(),
                path: None,
                text: String::new(),
            }),
            line: 0,
            col: 0,
        }
    }

    /// The directory relative paths written at this place are resolved against: the directory of
    /// the file, or the working directory for command-line values.
    pub fn base_dir(&self) -> PathBuf {
        self.source
            .path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// The source line this span points into.
    pub fn source_line(&self) -> Option<&str> {
        if self.line == 0 {
            return None;
        }
        self.source.text.lines().nth(self.line as usize - 1)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.source.name)
        } else {
            write!(f, "{}:{}:{}", self.source.name, self.line, self.col)
        }
    }
}

/// A map key with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    /// The key.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// The value of a node.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A real number.
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    Seq(Vec<Node>),
    /// A map with string keys, in written order.
    Map(Vec<(Key, Node)>),
}

/// A configuration value with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The value.
    pub kind: NodeKind,
    /// Where it was written.
    pub span: Span,
}

impl Node {
    /// A node.
    pub fn new(kind: NodeKind, span: Span) -> Self {
        Node { kind, span }
    }

    /// An empty map at `span`.
    pub fn empty_map(span: Span) -> Self {
        Node::new(NodeKind::Map(Vec::new()), span)
    }

    /// "a map", "a list", "the string `x`"… for error messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Null => "nothing (null)".into(),
            NodeKind::Bool(b) => format!("the boolean `{b}`"),
            NodeKind::Int(i) => format!("the integer `{i}`"),
            NodeKind::Float(x) => format!("the number `{x}`"),
            NodeKind::Str(s) => format!("the string `{s}`"),
            NodeKind::Seq(_) => "a list".into(),
            NodeKind::Map(_) => "a map".into(),
        }
    }

    /// The entries when this is a map.
    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The entries when this is a map (mutable).
    pub fn as_map_mut(&mut self) -> Option<&mut Vec<(Key, Node)>> {
        match &mut self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The string when this is one.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is null.
    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }

    /// The value at `key` of a map.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// The key entry at `key` of a map.
    pub fn get_key(&self, key: &str) -> Option<&Key> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(k, _)| k)
    }

    /// Removes and returns the value at `key` of a map.
    pub fn remove(&mut self, key: &str) -> Option<(Key, Node)> {
        let m = self.as_map_mut()?;
        let i = m.iter().position(|(k, _)| k.name == key)?;
        Some(m.remove(i))
    }

    /// Sets `key` of a map (replacing in place or appending).
    pub fn set(&mut self, key: Key, value: Node) {
        if let Some(m) = self.as_map_mut() {
            if let Some(slot) = m.iter_mut().find(|(k, _)| k.name == key.name) {
                *slot = (key, value);
            } else {
                m.push((key, value));
            }
        }
    }

    /// Levels of lists and maps in this value (0 for a scalar, 1 for a list of scalars…).
    ///
    /// Walks the tree with an explicit stack, so it is safe on a tree of any depth.
    pub fn height(&self) -> usize {
        let mut max = 0;
        let mut stack: Vec<(&Node, usize)> = vec![(self, 0)];
        while let Some((n, above)) = stack.pop() {
            match &n.kind {
                NodeKind::Seq(items) => {
                    max = max.max(above + 1);
                    stack.extend(items.iter().map(|c| (c, above + 1)));
                }
                NodeKind::Map(entries) => {
                    max = max.max(above + 1);
                    stack.extend(entries.iter().map(|(_, c)| (c, above + 1)));
                }
                _ => {}
            }
        }
        max
    }

    /// The value as JSON (positions dropped).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.kind {
            NodeKind::Null => J::Null,
            NodeKind::Bool(b) => J::Bool(*b),
            NodeKind::Int(i) => J::from(*i),
            NodeKind::Float(x) => serde_json::Number::from_f64(*x)
                .map(J::Number)
                .unwrap_or(J::Null),
            NodeKind::Str(s) => J::String(s.clone()),
            NodeKind::Seq(v) => J::Array(v.iter().map(Node::to_json).collect()),
            NodeKind::Map(m) => J::Object(
                m.iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Builds a node from JSON, every part placed at `span`.
    pub fn from_json(v: &serde_json::Value, span: &Span) -> Node {
        use serde_json::Value as J;
        let kind = match v {
            J::Null => NodeKind::Null,
            J::Bool(b) => NodeKind::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => NodeKind::Int(i),
                None => NodeKind::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => NodeKind::Str(s.clone()),
            J::Array(a) => NodeKind::Seq(a.iter().map(|x| Node::from_json(x, span)).collect()),
            J::Object(o) => NodeKind::Map(
                o.iter()
                    .map(|(k, x)| {
                        (
                            Key {
                                name: k.clone(),
                                span: span.clone(),
                            },
                            Node::from_json(x, span),
                        )
                    })
                    .collect(),
            ),
        };
        Node::new(kind, span.clone())
    }
}
