//! Operations and the primitive catalogue.
//!
//! Every candidate of a search space is an [`Op`]: a module with a forward pass, a short name used
//! in architecture descriptions, and its children for traversals (parameter and FLOP counts,
//! exports). Primitives are built from a [`SlotSpec`] (input/output channels, stride) by name:
//! see [`build_primitive`] for the catalogue.

mod basic;
pub mod catalogue;
mod mobile;

pub use basic::{Chain, FactorizedReduce, Identity, Layer, Pool, PoolKind, Zero};
pub use catalogue::{
    CATALOGUE_EXAMPLES, LayerCandidate, Primitive, build_primitive, is_candidate_name,
    is_zero_name, parse_layer_name, parse_name,
};
pub use mobile::{InvertedResidual, MobileV3Block};

use crate::slot::SlotSpec;
use std::any::Any;
use std::fmt::Debug;
use tch::Tensor;

/// A module of a search space: a primitive, a mixed operator, a layer, a whole network.
pub trait Op: Send + Debug {
    /// The forward pass; `train` selects batch statistics, sampling, drop-path…
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor;

    /// The name in architecture descriptions (`SC3`, `NIL`…), empty for anonymous modules.
    fn op_name(&self) -> String {
        String::new()
    }

    /// Calls `f` on every direct child.
    fn children(&self, _f: &mut dyn FnMut(&dyn Op)) {}

    /// Whether the operation begins with a ReLU of its input. Mixed operators then compute that
    /// ReLU once for all such candidates (one tensor kept for the backward pass instead of one
    /// per candidate) and call [`Op::forward_after_relu`].
    fn leading_relu(&self) -> bool {
        false
    }

    /// The forward pass from `relu(x)`, already computed (only called when
    /// [`Op::leading_relu`] is true).
    fn forward_after_relu(&self, xr: &Tensor, train: bool) -> Tensor {
        self.forward_t(xr, train)
    }

    /// `s · self(x)` for a scalar tensor `s`, with `s` folded into the operation's final batch
    /// norm; `None` when it does not end with one. `x` is already `relu(input)` when
    /// `after_relu` (see [`Op::leading_relu`]). Mixed operators weight candidates this way.
    fn forward_scaled(
        &self,
        _x: &Tensor,
        _train: bool,
        _s: &Tensor,
        _after_relu: bool,
    ) -> Option<Tensor> {
        None
    }

    /// The concrete type.
    fn as_any(&self) -> &dyn Any;
}

/// The order of activation, weight and batch norm in convolutional primitives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpsOrder {
    /// ReLU → conv → BN (DARTS).
    #[default]
    ActWeightBn,
    /// BN → ReLU → conv.
    BnActWeight,
    /// conv → BN → ReLU.
    WeightBnAct,
    /// conv → BN (the block around the slot applies the activation, as in ResNet).
    WeightBn,
}

/// The global style of primitives (the reference code's `ops:` section).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpStyle {
    /// Order of activation, weight and batch norm.
    pub ops_order: OpsOrder,
    /// Batch norms have a learnable scale and shift.
    pub affine: bool,
    /// Convolutions have a bias.
    pub conv_bias: bool,
}

impl Default for OpStyle {
    fn default() -> Self {
        OpStyle {
            ops_order: OpsOrder::ActWeightBn,
            affine: true,
            conv_bias: false,
        }
    }
}

/// Errors building operations.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OpError {
    /// The name is not in the catalogue.
    #[error("unknown primitive `{name}`{hint}")]
    Unknown {
        /// The name.
        name: String,
        /// A "did you mean" suffix.
        hint: String,
    },
    /// The primitive cannot be built for this slot.
    #[error("primitive `{name}` cannot be built for slot `{slot}` ({spec}): {reason}")]
    Shape {
        /// The primitive.
        name: String,
        /// The slot.
        slot: String,
        /// The slot's shape.
        spec: String,
        /// Why.
        reason: String,
    },
}

/// Builds the primitive `name` for `spec` under `path`.
pub fn build(
    path: &tch::nn::Path,
    name: &str,
    spec: &SlotSpec,
    style: &OpStyle,
) -> Result<Box<dyn Op>, OpError> {
    build_primitive(path, name, spec, style)
}
