//! Registries of components chosen by name in configuration files.
//!
//! Each module fills a registry with an explicit `register_all(&mut Registry<…>)` function. Names
//! compare ignoring case, `-`, `_` and spaces, and a registry may strip a kind suffix, so the
//! paper's names work: `RandomSearchOptim`, `random_search` and `RandomSearch` are one optimizer.
//!
//! ```
//! use modnas_core::registry::{Args, Registry};
//! use serde::{Deserialize, Serialize};
//!
//! trait Greeter: Send { fn greet(&self) -> String; }
//! struct Hello(String);
//! impl Greeter for Hello { fn greet(&self) -> String { format!("hello {}", self.0) } }
//!
//! #[derive(Default, Serialize, Deserialize)]
//! #[serde(default, deny_unknown_fields)]
//! struct HelloArgs { name: String }
//! impl Args for HelloArgs {}
//!
//! let mut reg: Registry<dyn Greeter, ()> = Registry::new("greeter", &["greeter"]);
//! reg.add::<HelloArgs>("HelloGreeter", &[], "Says hello.", |a, _ctx| Ok(Box::new(Hello(a.name)))).unwrap();
//! let node = modnas_core::config::yaml::parse_str("c.yaml", "g: {type: hello_greeter, args: {name: you}}").unwrap();
//! let spec = modnas_core::config::ComponentSpec::parse(node.get("g").unwrap(), "g").unwrap();
//! assert_eq!(reg.build(&spec, &()).unwrap().greet(), "hello you");
//! ```

use crate::config::{ComponentSpec, ConfigError, from_node};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Arguments of a component: deserialised from `args:`, checked once, listed by `modnas list`.
pub trait Args: DeserializeOwned + Serialize + Default {
    /// Checks values that types alone cannot (ranges, consistency); `Err((field, message))`.
    fn check(&self) -> Result<(), (String, String)> {
        Ok(())
    }
    /// One line of help per argument, for `modnas list`.
    fn help() -> &'static [(&'static str, &'static str)] {
        &[]
    }
}

/// For [`Args::check`]: `field` must not exceed `max` (sizes that allocate memory or threads).
pub fn at_most(field: &str, value: usize, max: usize) -> Result<(), (String, String)> {
    if value > max {
        Err((
            field.to_string(),
            format!("`{field}` must be at most {max}, got {value}"),
        ))
    } else {
        Ok(())
    }
}

/// Registry errors (programming errors in `register_all` functions).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RegistryError {
    /// Two components share a normalised name.
    #[error("{kind} `{name}` is registered twice")]
    Duplicate {
        /// Registry kind.
        kind: String,
        /// The name.
        name: String,
    },
}

/// Description of one argument for listings.
#[derive(Clone, Debug, Serialize)]
pub struct ArgInfo {
    /// Argument name.
    pub name: String,
    /// Its default value.
    pub default: serde_json::Value,
    /// One line of help.
    pub help: String,
}

type BuildFn<T, C> = Box<dyn Fn(&ComponentSpec, &C) -> Result<Box<T>, ConfigError> + Send + Sync>;

/// One registered component.
pub struct Entry<T: ?Sized, C> {
    /// Canonical name.
    pub name: &'static str,
    /// Other accepted names.
    pub aliases: &'static [&'static str],
    /// One-line description.
    pub summary: &'static str,
    args: fn() -> Vec<ArgInfo>,
    build: BuildFn<T, C>,
}

impl<T: ?Sized, C> Entry<T, C> {
    /// The arguments with their defaults.
    pub fn args(&self) -> Vec<ArgInfo> {
        (self.args)()
    }
}

/// A registry of components of one kind (`T`), built with a context `C`.
pub struct Registry<T: ?Sized, C> {
    kind: &'static str,
    suffixes: &'static [&'static str],
    entries: Vec<Entry<T, C>>,
}

/// Normalises a name: lower case, without `-`, `_` and spaces.
pub fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The node at a relative path such as `command[2]` or `terms[0].metric`.
fn find<'a>(root: &'a crate::config::Node, path: &str) -> Option<&'a crate::config::Node> {
    let mut cur = root;
    for part in path.split('.') {
        let (key, indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        for idx in indices.split('[').filter(|s| !s.is_empty()) {
            let i: usize = idx.trim_end_matches(']').parse().ok()?;
            match &cur.kind {
                crate::config::NodeKind::Seq(items) => cur = items.get(i)?,
                _ => return None,
            }
        }
    }
    Some(cur)
}

fn args_info<A: Args>() -> Vec<ArgInfo> {
    let defaults = serde_json::to_value(A::default()).unwrap_or(serde_json::Value::Null);
    let help = A::help();
    match defaults {
        serde_json::Value::Object(m) => m
            .into_iter()
            .map(|(name, default)| {
                let help = help
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, h)| h.to_string())
                    .unwrap_or_default();
                ArgInfo {
                    name,
                    default,
                    help,
                }
            })
            .collect(),
        _ => Vec::new(),
    }
}

impl<T: ?Sized, C> Registry<T, C> {
    /// An empty registry of `kind` (e.g. "optimizer"); names may end with one of `suffixes`
    /// (e.g. "optim"), which lookups ignore.
    pub fn new(kind: &'static str, suffixes: &'static [&'static str]) -> Self {
        Registry {
            kind,
            suffixes,
            entries: Vec::new(),
        }
    }

    /// The kind of component.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    fn key(&self, name: &str) -> String {
        let n = normalize(name);
        for s in self.suffixes {
            if let Some(stem) = n.strip_suffix(s)
                && !stem.is_empty()
            {
                return stem.to_string();
            }
        }
        n
    }

    /// Registers a component whose arguments are `A`.
    pub fn add<A: Args + 'static>(
        &mut self,
        name: &'static str,
        aliases: &'static [&'static str],
        summary: &'static str,
        build: impl Fn(A, &C) -> Result<Box<T>, ConfigError> + Send + Sync + 'static,
    ) -> Result<(), RegistryError> {
        self.add_with_spec::<A>(name, aliases, summary, move |a, _spec, ctx| build(a, ctx))
    }

    /// Registers a component whose builder also reads its raw specification (for arguments that
    /// are components themselves, such as the surrogate model of SMBO).
    pub fn add_with_spec<A: Args + 'static>(
        &mut self,
        name: &'static str,
        aliases: &'static [&'static str],
        summary: &'static str,
        build: impl Fn(A, &ComponentSpec, &C) -> Result<Box<T>, ConfigError> + Send + Sync + 'static,
    ) -> Result<(), RegistryError> {
        for n in std::iter::once(name).chain(aliases.iter().copied()) {
            let k = self.key(n);
            if self.entries.iter().any(|e| {
                std::iter::once(e.name)
                    .chain(e.aliases.iter().copied())
                    .any(|m| self.key(m) == k)
            }) {
                return Err(RegistryError::Duplicate {
                    kind: self.kind.to_string(),
                    name: n.to_string(),
                });
            }
        }
        let build: BuildFn<T, C> = Box::new(move |spec: &ComponentSpec, ctx: &C| {
            let args_path = spec.args_path();
            let args: A = from_node(&spec.args, &args_path)?;
            if let Err((field, message)) = args.check() {
                let at = spec.args.get(&field).unwrap_or(&spec.args);
                let path = if spec.args.get(&field).is_some() {
                    format!("{args_path}.{field}")
                } else {
                    args_path.clone()
                };
                return Err(ConfigError::at(at, &path, message));
            }
            build(args, spec, ctx).map_err(|e| {
                if e.span.is_some() {
                    return e;
                }
                if e.path.is_empty() {
                    return e.located(&spec.name_span, &spec.path);
                }
                // The innermost part of the field path that the arguments hold (`command[2]` of a
                // command written as one string is the string itself).
                let mut prefix = e.path.as_str();
                let node = loop {
                    if let Some(n) = find(&spec.args, prefix) {
                        break n;
                    }
                    match prefix.rfind(['.', '[']) {
                        Some(i) => prefix = &prefix[..i],
                        None => break &spec.args,
                    }
                };
                let p = format!("{args_path}.{}", e.path);
                ConfigError {
                    span: Some(node.span.clone()),
                    path: p,
                    ..e
                }
            })
        });
        self.entries.push(Entry {
            name,
            aliases,
            summary,
            args: args_info::<A>,
            build,
        });
        Ok(())
    }

    /// The entry for `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Entry<T, C>> {
        let k = self.key(name);
        self.entries.iter().find(|e| {
            std::iter::once(e.name)
                .chain(e.aliases.iter().copied())
                .any(|m| self.key(m) == k)
        })
    }

    /// All entries in registration order.
    pub fn entries(&self) -> &[Entry<T, C>] {
        &self.entries
    }

    /// Canonical names.
    pub fn names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|e| e.name).collect()
    }

    /// Builds the component of `spec`; unknown names get a suggestion and the valid choices.
    pub fn build(&self, spec: &ComponentSpec, ctx: &C) -> Result<Box<T>, ConfigError> {
        let entry = self.get(&spec.name).ok_or_else(|| {
            let all: Vec<&str> = self
                .entries
                .iter()
                .flat_map(|e| std::iter::once(e.name).chain(e.aliases.iter().copied()))
                .collect();
            ConfigError::unknown_name(self.kind, &spec.name, &self.names(), &all)
                .located(&spec.name_span, &spec.path)
        })?;
        (entry.build)(spec, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::parse_str;
    use serde::Deserialize;

    trait Thing: Send {
        fn v(&self) -> i64;
    }
    struct T(i64);
    impl Thing for T {
        fn v(&self) -> i64 {
            self.0
        }
    }

    #[derive(Default, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct A {
        x: i64,
    }
    impl Args for A {
        fn check(&self) -> Result<(), (String, String)> {
            if self.x < 0 {
                Err(("x".into(), "x must be ≥ 0".into()))
            } else {
                Ok(())
            }
        }
    }

    fn reg() -> Registry<dyn Thing, ()> {
        let mut r: Registry<dyn Thing, ()> = Registry::new("optimizer", &["optim", "optimizer"]);
        r.add::<A>("RandomSearch", &["Random"], "", |a, _| Ok(Box::new(T(a.x))))
            .unwrap();
        r.add::<A>("RegularizedEvolution", &[], "", |a, _| {
            Ok(Box::new(T(a.x + 100)))
        })
        .unwrap();
        r
    }

    fn build(r: &Registry<dyn Thing, ()>, text: &str) -> Result<i64, ConfigError> {
        let n = parse_str("c.yaml", text).unwrap();
        let spec = ComponentSpec::parse(n.get("optim").unwrap(), "optim")?;
        r.build(&spec, &()).map(|t| t.v())
    }

    #[test]
    fn names_are_normalised() {
        let r = reg();
        for n in [
            "RandomSearchOptim",
            "random_search",
            "random-search",
            "Random Search",
            "RANDOMSEARCH",
            "random",
        ] {
            assert!(r.get(n).is_some(), "{n}");
        }
        assert_eq!(
            r.get("regularized_evolution_optim").unwrap().name,
            "RegularizedEvolution"
        );
        assert!(r.get("optim").is_none());
    }

    #[test]
    fn duplicates_are_refused() {
        let mut r = reg();
        let e = r
            .add::<A>("random_search", &[], "", |a, _| Ok(Box::new(T(a.x))))
            .unwrap_err();
        assert!(matches!(e, RegistryError::Duplicate { .. }));
    }

    #[test]
    fn build_forms_and_errors() {
        let r = reg();
        assert_eq!(build(&r, "optim: RandomSearch").unwrap(), 0);
        assert_eq!(
            build(&r, "optim: {type: RandomSearch, args: {x: 3}}").unwrap(),
            3
        );
        assert_eq!(
            build(&r, "optim: [RegularizedEvolution, {x: 1}]").unwrap(),
            101
        );
        let e = build(&r, "optim: {type: RandomSerch}").unwrap_err();
        assert_eq!(e.message, "unknown optimizer `RandomSerch`");
        assert!(e.hint.unwrap().starts_with("did you mean `RandomSearch`?"));
        let e = build(&r, "optim: {type: RandomSearch, args: {y: 3}}").unwrap_err();
        assert!(e.message.contains("unknown key `y`"), "{e}");
        let e = build(&r, "optim:\n  type: RandomSearch\n  args:\n    x: -4\n").unwrap_err();
        assert_eq!(e.path, "optim.args.x");
        assert_eq!(e.span.unwrap().line, 4);
        let e = build(&r, "optim: {type: RandomSearch, population: 3}").unwrap_err();
        assert!(
            e.hint.unwrap().contains("args"),
            "arguments belong under args"
        );
    }

    #[test]
    fn args_are_listed_with_defaults() {
        let r = reg();
        let args = r.entries()[0].args();
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].name, "x");
        assert_eq!(args[0].default, serde_json::json!(0));
    }
}
