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

pub use crate::op::{Op, OpStyle, OpsOrder, SlotSpec};

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
