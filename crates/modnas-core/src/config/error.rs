//! Configuration errors: where, what, and how to fix it.

use super::node::{Node, Span};
use crate::suggest::{did_you_mean, quoted_list};
use std::fmt;

/// A configuration error, located in its file (or on the command line).
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError {
    /// Where the offending value (or the map missing a key) was written.
    pub span: Option<Span>,
    /// Dotted path of the offending value, e.g. `optim.args.population`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it: a close valid name, the valid choices.
    pub hint: Option<String>,
}

impl ConfigError {
    /// An error with a message only; the location is added as it travels up.
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError {
            span: None,
            path: String::new(),
            message: message.into(),
            hint: None,
        }
    }

    /// An error about `node` at `path`.
    pub fn at(node: &Node, path: &str, message: impl Into<String>) -> Self {
        Self::at_span(&node.span, path, message)
    }

    /// An error at `span`.
    pub fn at_span(span: &Span, path: &str, message: impl Into<String>) -> Self {
        ConfigError {
            span: Some(span.clone()),
            path: path.to_string(),
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Fills in the location when it is not known yet.
    pub fn located(mut self, span: &Span, path: &str) -> Self {
        if self.span.is_none() {
            self.span = Some(span.clone());
            if self.path.is_empty() {
                self.path = path.to_string();
            }
        }
        self
    }

    /// "unknown KIND `name`" with a suggestion (among `candidates`, e.g. names and aliases) and
    /// the valid choices.
    pub fn unknown_name(
        kind: &str,
        name: &str,
        valid: &[impl AsRef<str>],
        candidates: &[impl AsRef<str>],
    ) -> Self {
        let valid: Vec<&str> = valid.iter().map(AsRef::as_ref).collect();
        let candidates: Vec<&str> = candidates.iter().map(AsRef::as_ref).collect();
        let mut e = ConfigError::new(format!("unknown {kind} `{name}`"));
        e.hint = Some(match did_you_mean(name, &candidates) {
            Some(s) => format!("did you mean `{s}`? valid choices: {}", quoted_list(&valid)),
            None => format!("valid choices: {}", quoted_list(&valid)),
        });
        e
    }
}

/// "did you mean `x`? valid choices: …"
pub fn choices_hint(wanted: &str, valid: &[&str]) -> String {
    match did_you_mean(wanted, valid) {
        Some(s) => format!("did you mean `{s}`? valid choices: {}", quoted_list(valid)),
        None => format!("valid choices: {}", quoted_list(valid)),
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.span {
            Some(span) => write!(f, "{span}: ")?,
            None => write!(f, "configuration: ")?,
        }
        if !self.path.is_empty() {
            write!(f, "`{}`: ", self.path)?;
        }
        write!(f, "{}", self.message)?;
        if let Some(span) = &self.span
            && let Some(line) = span.source_line()
        {
            let col = span.col.max(1) as usize;
            let pad: String = line
                .chars()
                .take(col - 1)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n    | {line}\n    | {pad}^")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n    = {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl serde::de::Error for ConfigError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ConfigError::new(msg.to_string())
    }

    fn invalid_type(unexp: serde::de::Unexpected<'_>, exp: &dyn serde::de::Expected) -> Self {
        ConfigError::new(format!(
            "expected {}, found {}",
            friendly_expected(&exp.to_string()),
            friendly_unexpected(&unexp)
        ))
    }

    fn invalid_value(unexp: serde::de::Unexpected<'_>, exp: &dyn serde::de::Expected) -> Self {
        ConfigError::new(format!(
            "expected {}, found {}",
            friendly_expected(&exp.to_string()),
            friendly_unexpected(&unexp)
        ))
    }

    fn invalid_length(len: usize, exp: &dyn serde::de::Expected) -> Self {
        ConfigError::new(format!("expected {exp}, found {len} elements"))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        ConfigError::new(format!("unknown value `{variant}`"))
            .with_hint(choices_hint(variant, expected))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let hint = match did_you_mean(field, expected) {
            Some(s) => format!(
                "did you mean `{s}`? valid keys here: {}",
                quoted_list(expected)
            ),
            None if expected.is_empty() => "no keys are accepted here".to_string(),
            None => format!("valid keys here: {}", quoted_list(expected)),
        };
        ConfigError::new(format!("unknown key `{field}`")).with_hint(hint)
    }

    fn missing_field(field: &'static str) -> Self {
        ConfigError::new(format!("missing required key `{field}`"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        ConfigError::new(format!("key `{field}` is given twice"))
    }
}

fn friendly_unexpected(u: &serde::de::Unexpected<'_>) -> String {
    use serde::de::Unexpected as U;
    match u {
        U::Bool(b) => format!("the boolean `{b}`"),
        U::Unsigned(i) => format!("the integer `{i}`"),
        U::Signed(i) => format!("the integer `{i}`"),
        U::Float(x) => format!("the number `{x}`"),
        U::Str(s) => format!("the string `{s}`"),
        U::Unit => "nothing (null)".into(),
        U::Seq => "a list".into(),
        U::Map => "a map".into(),
        other => other.to_string(),
    }
}

fn friendly_expected(e: &str) -> String {
    match e {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" => "`true` or `false`".into(),
        s if s.starts_with("struct ") => "a map".into(),
        s if s.starts_with("a sequence") => "a list".into(),
        s => s.to_string(),
    }
}
