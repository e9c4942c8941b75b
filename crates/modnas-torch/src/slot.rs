//! Slots: placeholders for the searchable layers of a network (the paper's Stub modules).
//!
//! A network marks a layer as searchable by creating a [`Slot`] where it would have created the
//! layer, with the shape the layer would have had:
//!
//! ```no_run
//! # use modnas_torch::slot::SlotSet;
//! let slots = SlotSet::new();
//! // was: let conv = nn::conv2d(p / "conv2", 16, 32, 3, Default::default());
//! let conv = slots.slot("conv2", 16, 32, 1);
//! ```
//!
//! Constructors later convert every slot into a concrete module (a primitive, a mixed operator
//! over candidates, a layer with more slots); the slot then forwards to it. A slot left
//! unconverted is reported by [`SlotSet::check_converted`] before anything runs.

pub use crate::op::SlotSpec;

use crate::op::Op;
use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use tch::Tensor;

struct Inner {
    spec: SlotSpec,
    entity: Mutex<Option<Box<dyn Op>>>,
}

/// A placeholder for a searchable layer; cheap to clone (clones share the entity).
#[derive(Clone)]
pub struct Slot(Arc<Inner>);

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Slot({}, {})", self.0.spec.name, self.0.spec.describe())
    }
}

impl Slot {
    /// Its specification.
    pub fn spec(&self) -> &SlotSpec {
        &self.0.spec
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.0.spec.name
    }

    /// Converts the slot: it will forward to `op`.
    pub fn set_entity(&self, op: Box<dyn Op>) {
        if let Ok(mut e) = self.0.entity.lock() {
            *e = Some(op);
        }
    }

    /// Whether the slot has been converted.
    pub fn is_converted(&self) -> bool {
        self.0.entity.lock().map(|e| e.is_some()).unwrap_or(false)
    }

    /// Runs `f` on the entity, if any.
    pub fn with_entity<R>(&self, f: impl FnOnce(&dyn Op) -> R) -> Option<R> {
        let e = self.0.entity.lock().ok()?;
        e.as_deref().map(f)
    }
}

impl Op for Slot {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let e = self.0.entity.lock().unwrap_or_else(|p| p.into_inner());
        match e.as_deref() {
            Some(op) => op.forward_t(x, train),
            // SlotSet::check_converted runs before any forward pass, so this is a programming error.
            None => panic!(
                "slot `{}` was never converted into a module",
                self.0.spec.name
            ),
        }
    }
    fn op_name(&self) -> String {
        self.with_entity(|e| e.op_name()).unwrap_or_default()
    }
    fn children(&self, f: &mut dyn FnMut(&dyn Op)) {
        let e = self.0.entity.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(op) = e.as_deref() {
            f(op);
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl tch::nn::ModuleT for Slot {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        Op::forward_t(self, xs, train)
    }
}

/// The slots of one model, in creation order.
#[derive(Clone, Default)]
pub struct SlotSet(Arc<Mutex<Vec<Slot>>>);

impl fmt::Debug for SlotSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SlotSet({} slots)", self.len())
    }
}

/// A slot left unconverted.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error(
    "slot `{name}` ({spec}) was never converted into a module; give it candidates (`mixed_op:`/`candidates:`), an architecture description entry, or a fixed primitive"
)]
pub struct UnconvertedSlot {
    /// The slot.
    pub name: String,
    /// Its shape.
    pub spec: String,
}

impl SlotSet {
    /// No slots yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a slot for a layer from `chn_in` to `chn_out` channels with `stride`.
    pub fn slot(&self, name: &str, chn_in: i64, chn_out: i64, stride: i64) -> Slot {
        self.slot_with(SlotSpec {
            name: name.to_string(),
            chn_in,
            chn_out,
            stride,
            kwargs: BTreeMap::new(),
            share: None,
        })
    }

    /// Creates a slot from a full specification (its name is made unique: `name`, `name_1`…).
    pub fn slot_with(&self, mut spec: SlotSpec) -> Slot {
        let mut v = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let base = if spec.name.is_empty() {
            v.len().to_string()
        } else {
            spec.name.clone()
        };
        let mut name = base.clone();
        let mut k = 1;
        while v.iter().any(|s| s.name() == name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        spec.name = name;
        let slot = Slot(Arc::new(Inner {
            spec,
            entity: Mutex::new(None),
        }));
        v.push(slot.clone());
        slot
    }

    /// All slots, in creation order.
    pub fn all(&self) -> Vec<Slot> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Slots not converted yet, in creation order.
    pub fn unconverted(&self) -> Vec<Slot> {
        self.all()
            .into_iter()
            .filter(|s| !s.is_converted())
            .collect()
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.0.lock().map(|v| v.len()).unwrap_or(0)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The slot called `name`.
    pub fn get(&self, name: &str) -> Option<Slot> {
        self.all().into_iter().find(|s| s.name() == name)
    }

    /// Fails on the first slot that was never converted.
    pub fn check_converted(&self) -> Result<(), UnconvertedSlot> {
        match self.unconverted().first() {
            Some(s) => Err(UnconvertedSlot {
                name: s.name().to_string(),
                spec: s.spec().describe(),
            }),
            None => Ok(()),
        }
    }
}
