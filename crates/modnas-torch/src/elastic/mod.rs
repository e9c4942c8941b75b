//! Elastic groups (Once-for-All; paper App. D): architecture parameters that change a network's
//! width and depth in place instead of choosing among candidate operations.
//!
//! - [`ElasticSpatial`]: the active channels of a hidden feature map, by slicing the layers that
//!   produce it and read it; channels ranked by L1 norm or batch-norm scale ([`Rank`]).
//! - [`ElasticSequential`]: how many of a run of shape-preserving blocks execute.
//!
//! A backbone (or a user's network, see [`crate::backbones::from_fn`]) creates its groups while it
//! is built and hands them to [`ElasticSet`] with the values they may take; the model turns each
//! into a categorical parameter of its space, applied by a Transform handler. When the model is
//! built from an architecture description instead ([`crate::model::Conversion::Fixed`]), the
//! backbone asks [`ElasticSet::fixed_choice`] for the chosen value and builds the narrow, shallow
//! network directly; [`inherit`] copies a supernet's weights into it.

mod inherit;
mod sequential;
mod spatial;

pub use inherit::{InheritReport, inherit, inherit_from_file};
pub use sequential::ElasticSequential;
pub use spatial::{ElasticSpatial, Rank};

use modnas_core::param::Value;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// What an elastic parameter changes.
#[derive(Clone, Debug)]
pub enum GroupKind {
    /// A feature map's width: the channel count of each choice.
    Spatial {
        /// The group (its tensors are not `Sync`, hence the lock).
        group: Arc<Mutex<ElasticSpatial>>,
        /// Channels of each choice.
        widths: Vec<i64>,
    },
    /// A run of blocks: the depth of each choice.
    Sequential {
        /// The group.
        group: ElasticSequential,
        /// Blocks of each choice.
        depths: Vec<usize>,
    },
}

impl GroupKind {
    /// Applies choice `i`.
    pub fn apply(&self, i: usize) {
        match self {
            GroupKind::Spatial { group, widths } => {
                if let Some(&w) = widths.get(i) {
                    lock(group).set_width(w);
                }
            }
            GroupKind::Sequential { group, depths } => {
                if let Some(&d) = depths.get(i) {
                    group.set_depth(d);
                }
            }
        }
    }

    /// The size of choice `i` (channels or blocks), to order choices from the largest network.
    pub fn size(&self, i: usize) -> i64 {
        match self {
            GroupKind::Spatial { widths, .. } => widths.get(i).copied().unwrap_or(0),
            GroupKind::Sequential { depths, .. } => depths.get(i).map_or(0, |&d| d as i64),
        }
    }

    /// Whether the group changes a width.
    pub fn is_spatial(&self) -> bool {
        matches!(self, GroupKind::Spatial { .. })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An elastic parameter: its name, the values it shows, and what it changes.
#[derive(Clone, Debug)]
pub struct ElasticParam {
    /// The parameter name (e.g. `stage2-block1.expansion`).
    pub name: String,
    /// The values of its choices as the search shows them (e.g. expansions 1, 3, 6).
    pub labels: Vec<Value>,
    /// What it changes.
    pub kind: GroupKind,
}

#[derive(Debug, Default)]
struct Inner {
    fixed: Option<serde_json::Map<String, serde_json::Value>>,
    used: BTreeSet<String>,
    params: Vec<ElasticParam>,
}

/// The elastic parameters of a network being built (shared by the builder and the model).
#[derive(Clone, Debug, Default)]
pub struct ElasticSet(Arc<Mutex<Inner>>);

impl ElasticSet {
    /// A set for a search space.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set that answers [`ElasticSet::fixed_choice`] from an architecture description.
    pub fn fixed(desc: serde_json::Map<String, serde_json::Value>) -> Self {
        ElasticSet(Arc::new(Mutex::new(Inner {
            fixed: Some(desc),
            ..Default::default()
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// For a network built from an architecture description: the index of the value `name` takes
    /// there among `labels` (an error when the description has no such entry or another value).
    /// In a search space: `None`, and the builder creates the group and calls [`ElasticSet::add`].
    pub fn fixed_choice(&self, name: &str, labels: &[Value]) -> Result<Option<usize>, String> {
        let mut inner = self.lock();
        let Some(desc) = &inner.fixed else {
            return Ok(None);
        };
        let shown: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        let v = desc.get(name).ok_or_else(|| {
            format!(
                "no entry for the elastic parameter `{name}` (one of {})",
                shown.join(", ")
            )
        })?;
        let i = Value::from_json(v)
            .and_then(|v| labels.iter().position(|l| l.same_as(&v)))
            .ok_or_else(|| {
                format!(
                    "entry `{name}` is {v}; expected one of {}",
                    shown.join(", ")
                )
            })?;
        inner.used.insert(name.to_string());
        Ok(Some(i))
    }

    /// Adds an elastic parameter of a search space. `labels` and the kind's sizes have one entry
    /// per choice.
    pub fn add(&self, name: &str, labels: Vec<Value>, kind: GroupKind) -> Result<(), String> {
        let n = match &kind {
            GroupKind::Spatial { group, widths } => {
                let max = lock(group).max();
                if let Some(w) = widths.iter().find(|&&w| w < 1 || w > max) {
                    return Err(format!(
                        "elastic parameter `{name}`: width {w} is outside 1..={max}"
                    ));
                }
                widths.len()
            }
            GroupKind::Sequential { group, depths } => {
                if let Some(d) = depths.iter().find(|&&d| d < 1 || d > group.max()) {
                    return Err(format!(
                        "elastic parameter `{name}`: depth {d} is outside 1..={}",
                        group.max()
                    ));
                }
                depths.len()
            }
        };
        if n == 0 || n != labels.len() {
            return Err(format!(
                "elastic parameter `{name}` needs one label per choice ({} labels, {n} choices)",
                labels.len()
            ));
        }
        let mut inner = self.lock();
        if inner.params.iter().any(|p| p.name == name) {
            return Err(format!("two elastic parameters are named `{name}`"));
        }
        inner.params.push(ElasticParam {
            name: name.to_string(),
            labels,
            kind,
        });
        Ok(())
    }

    /// The parameters, in the order they were added.
    pub fn params(&self) -> Vec<ElasticParam> {
        self.lock().params.clone()
    }

    /// The description entries the builder used (see [`ElasticSet::fixed_choice`]).
    pub fn used(&self) -> BTreeSet<String> {
        self.lock().used.clone()
    }

    /// Reranks the channels of every spatial group (see [`ElasticSpatial::rerank`]); the number of
    /// groups whose order changed.
    pub fn rerank(&self) -> usize {
        self.params()
            .iter()
            .filter(|p| match &p.kind {
                GroupKind::Spatial { group, .. } => lock(group).rerank(),
                GroupKind::Sequential { .. } => false,
            })
            .count()
    }
}
