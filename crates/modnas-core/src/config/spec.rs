//! Component specifications: `Name`, `{type: Name, args: {...}}` or `[Name, {args}]`.

use super::error::ConfigError;
use super::node::{Node, NodeKind, Span};

/// A component chosen by name, with its arguments.
#[derive(Clone, Debug)]
pub struct ComponentSpec {
    /// The name as written.
    pub name: String,
    /// Where the name was written.
    pub name_span: Span,
    /// The arguments (an empty map when none are given).
    pub args: Node,
    /// Dotted path of the spec in the configuration, e.g. `optim`.
    pub path: String,
}

impl ComponentSpec {
    /// Dotted path of the arguments.
    pub fn args_path(&self) -> String {
        format!("{}.args", self.path)
    }

    /// The component given in argument `key` (itself a spec), or `default` with no arguments.
    pub fn nested(&self, key: &str, default: &str) -> Result<ComponentSpec, ConfigError> {
        let path = format!("{}.{key}", self.args_path());
        match self.args.get(key) {
            Some(n) if !n.is_null() => ComponentSpec::parse(n, &path),
            _ => Ok(ComponentSpec {
                name: default.to_string(),
                name_span: self.name_span.clone(),
                args: Node::empty_map(self.name_span.clone()),
                path,
            }),
        }
    }

    /// Reads a spec in any of its three forms.
    pub fn parse(node: &Node, path: &str) -> Result<ComponentSpec, ConfigError> {
        let form_hint =
            "write a component as `Name`, `{type: Name, args: {...}}` or `[Name, {args}]`";
        match &node.kind {
            NodeKind::Str(s) => Ok(ComponentSpec {
                name: s.clone(),
                name_span: node.span.clone(),
                args: Node::empty_map(node.span.clone()),
                path: path.to_string(),
            }),
            NodeKind::Map(entries) => {
                let mut name = None;
                let mut args = None;
                for (k, v) in entries {
                    match k.name.as_str() {
                        "type" => match &v.kind {
                            NodeKind::Str(s) => name = Some((s.clone(), v.span.clone())),
                            _ => {
                                return Err(ConfigError::at(
                                    v,
                                    &format!("{path}.type"),
                                    format!("expected a component name, found {}", v.describe()),
                                ));
                            }
                        },
                        "args" => {
                            if v.as_map().is_none() && !v.is_null() {
                                return Err(ConfigError::at(
                                    v,
                                    &format!("{path}.args"),
                                    format!("expected a map of arguments, found {}", v.describe()),
                                ));
                            }
                            args = Some(v.clone());
                        }
                        other => {
                            return Err(ConfigError::at_span(&k.span, path, format!("unknown key `{other}` in a component specification"))
                                .with_hint(format!("the arguments go under `args:`, e.g. `{path}: {{type: Name, args: {{{other}: ...}}}}`")));
                        }
                    }
                }
                let (name, name_span) = name.ok_or_else(|| {
                    ConfigError::at(node, path, "missing `type`: which component?")
                        .with_hint(form_hint)
                })?;
                let args = match args {
                    Some(a) if a.is_null() => Node::empty_map(a.span),
                    Some(a) => a,
                    None => Node::empty_map(node.span.clone()),
                };
                Ok(ComponentSpec {
                    name,
                    name_span,
                    args,
                    path: path.to_string(),
                })
            }
            NodeKind::Seq(items) if !items.is_empty() && items.len() <= 2 => {
                let name = items[0].as_str().ok_or_else(|| {
                    ConfigError::at(
                        &items[0],
                        path,
                        format!("expected a component name, found {}", items[0].describe()),
                    )
                    .with_hint(form_hint)
                })?;
                let args = match items.get(1) {
                    Some(a) if a.as_map().is_some() => a.clone(),
                    Some(a) if a.is_null() => Node::empty_map(a.span.clone()),
                    Some(a) => {
                        return Err(ConfigError::at(
                            a,
                            path,
                            format!("expected a map of arguments, found {}", a.describe()),
                        ));
                    }
                    None => Node::empty_map(node.span.clone()),
                };
                Ok(ComponentSpec {
                    name: name.to_string(),
                    name_span: items[0].span.clone(),
                    args,
                    path: path.to_string(),
                })
            }
            _ => Err(ConfigError::at(
                node,
                path,
                format!("expected a component, found {}", node.describe()),
            )
            .with_hint(form_hint)),
        }
    }
}
