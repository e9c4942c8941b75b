//! The interface every module of a search space implements ([`Op`]), the shape of a slot
//! ([`SlotSpec`]) and the global style of primitives. A leaf module: slots, primitives, mixed
//! operators and layers all build on it.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::Debug;
use tch::Tensor;

/// What a slot stands for: its shape and any extra arguments of the original layer.
#[derive(Clone, Debug, PartialEq)]
pub struct SlotSpec {
    /// Unique name (also the variable-store path of what it becomes).
    pub name: String,
    /// Input channels.
    pub chn_in: i64,
    /// Output channels.
    pub chn_out: i64,
    /// Stride.
    pub stride: i64,
    /// Extra arguments of the original layer (`expansion`, `groups`…).
    pub kwargs: BTreeMap<String, serde_json::Value>,
    /// Slots with the same share key share their architecture parameters (DARTS cells).
    pub share: Option<String>,
}

impl SlotSpec {
    /// `in=16 out=32 stride=1`.
    pub fn describe(&self) -> String {
        format!(
            "in={} out={} stride={}",
            self.chn_in, self.chn_out, self.stride
        )
    }
}

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
