//! Parameter and multiply-accumulate (MAC) counts of a model, per module, with mixed operators
//! weighted by their candidates' probabilities.
//!
//! Counting runs one forward pass on a single dummy image in a counting mode: every convolution,
//! linear layer and batch norm adds its parameters and MACs, multiplied by the probability of the
//! path it is on. A mixed operator runs each candidate with probability `p > 0` (its softmax,
//! or the chosen candidate for `Index`) under that weight. The expected counts are also kept as
//! a tensor that depends on α, so they can be differentiated (a cost term of an architecture loss).
//!
//! Layers the tensor layer does not know (a user's own `tch::nn` modules) are not counted.

use crate::counter;
use crate::model::Model;
use tch::{Kind, Tensor};

pub use crate::counter::{add, counting, with_weight};

/// Counts of a model.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Counts {
    /// Parameters (expected over the architecture distribution).
    pub params: f64,
    /// Multiply-accumulates of one image (expected).
    pub macs: f64,
}

/// Counts `model` on one image of its input shape: the expected counts, and the expected MACs as
/// a tensor differentiable in α (`None` when no mixed operator weighs paths).
pub fn count(model: &Model, input_shape: [i64; 3]) -> (Counts, Option<Tensor>) {
    counter::begin();
    let x = Tensor::zeros(
        [1, input_shape[0], input_shape[1], input_shape[2]],
        (Kind::Float, model.device),
    );
    let x = match model.vs.variables().values().next() {
        Some(v) => x.to_kind(v.kind()),
        None => x,
    };
    let _ = model.forward(&x, false);
    match counter::finish() {
        Some((params, macs, macs_t)) => (Counts { params, macs }, macs_t),
        None => (Counts::default(), None),
    }
}
