//! Reading maps key by key, rejecting unknown keys with suggestions.

use super::de::from_node;
use super::error::{ConfigError, choices_hint};
use super::node::Node;
use serde::de::DeserializeOwned;

/// Reads the keys of one map; [`Fields::finish`] rejects any key that was not asked for.
pub struct Fields<'a> {
    node: &'a Node,
    path: String,
    known: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    /// Starts reading `node` (a map, or null for an empty map) found at `path`.
    pub fn new(node: &'a Node, path: &str) -> Result<Self, ConfigError> {
        if node.as_map().is_none() && !node.is_null() {
            return Err(ConfigError::at(
                node,
                path,
                format!("expected a map, found {}", node.describe()),
            ));
        }
        Ok(Fields {
            node,
            path: path.to_string(),
            known: Vec::new(),
        })
    }

    /// The dotted path of `key` in this map.
    pub fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The map itself.
    pub fn node(&self) -> &'a Node {
        self.node
    }

    /// The raw node at `key`, if given (and not null).
    pub fn raw(&mut self, key: &'static str) -> Option<&'a Node> {
        self.known.push(key);
        self.node.get(key).filter(|n| !n.is_null())
    }

    /// Declares a key that is read by other means.
    pub fn allow(&mut self, key: &'static str) {
        self.known.push(key);
    }

    /// The typed value at `key`, if given.
    pub fn opt<T: DeserializeOwned>(
        &mut self,
        key: &'static str,
    ) -> Result<Option<T>, ConfigError> {
        match self.raw(key) {
            None => Ok(None),
            Some(n) => from_node(n, &self.path_of(key)).map(Some),
        }
    }

    /// The typed value at `key`; an error when it is missing.
    pub fn req<T: DeserializeOwned>(&mut self, key: &'static str) -> Result<T, ConfigError> {
        match self.raw(key) {
            Some(n) => from_node(n, &self.path_of(key)),
            None => Err(ConfigError::at(
                self.node,
                &self.path,
                format!("missing required key `{key}`"),
            )),
        }
    }

    /// The raw node at `key`; an error when it is missing.
    pub fn req_raw(&mut self, key: &'static str) -> Result<&'a Node, ConfigError> {
        self.raw(key).ok_or_else(|| {
            ConfigError::at(
                self.node,
                &self.path,
                format!("missing required key `{key}`"),
            )
        })
    }

    /// Fails on the first key that was never asked for.
    pub fn finish(self) -> Result<(), ConfigError> {
        if let Some(entries) = self.node.as_map() {
            for (k, _) in entries {
                if !self.known.contains(&k.name.as_str()) {
                    let where_ = if self.path.is_empty() {
                        "at the top level".to_string()
                    } else {
                        format!("in `{}`", self.path)
                    };
                    return Err(ConfigError::at_span(
                        &k.span,
                        &self.path,
                        format!("unknown key `{}` {where_}", k.name),
                    )
                    .with_hint(
                        choices_hint(&k.name, &self.known).replace("valid choices", "valid keys"),
                    ));
                }
            }
        }
        Ok(())
    }
}
