//! Configuration: YAML files merged in order, `-o` overrides, defaults, routine sections, and
//! typed reading with errors that name file, line, column, key and the valid choices.

mod de;
mod duration;
mod error;
mod fields;
mod merge;
mod node;
mod space;
mod spec;
pub mod yaml;

pub use de::from_node;
pub use duration::Seconds;
pub use error::{ConfigError, choices_hint};
pub use fields::Fields;
pub use merge::{apply_defaults, apply_override, apply_override_from, apply_routine, merge};
pub use node::{Key, Node, NodeKind, Source, Span};
pub use space::{domain_from_node, space_from_node};
pub use spec::ComponentSpec;

use std::path::Path;

/// The commands whose sections (`search:`, `tune:`…) a configuration file may hold.
pub const ROUTINES: &[&str] = &["search", "tune", "train"];

/// Loads the files in order, merges them, applies the `-o` overrides, the section of `routine`
/// and the `defaults:` section.
pub fn load(files: &[&Path], overrides: &[String], routine: &str) -> Result<Node, ConfigError> {
    let mut root: Option<Node> = None;
    for f in files {
        let node = yaml::load_file(f)?;
        if node.as_map().is_none() {
            return Err(ConfigError::at(
                &node,
                "",
                format!(
                    "a configuration file must be a map of settings, found {}",
                    node.describe()
                ),
            ));
        }
        match &mut root {
            None => root = Some(node),
            Some(r) => merge(r, node),
        }
    }
    let mut root = root.unwrap_or_else(|| Node::empty_map(Span::builtin()));
    apply_routine(&mut root, routine, ROUTINES);
    for o in overrides {
        apply_override(&mut root, o)?;
    }
    apply_defaults(&mut root)?;
    Ok(root)
}
