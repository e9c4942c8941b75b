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

use crate::model::Model;
use std::cell::RefCell;
use tch::{Kind, Tensor};

/// Counts of a model.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Counts {
    /// Parameters (expected over the architecture distribution).
    pub params: f64,
    /// Multiply-accumulates of one image (expected).
    pub macs: f64,
}

struct Counter {
    weight: Vec<Tensor>,
    params: f64,
    macs: f64,
    /// MACs on weighted paths, as a tensor.
    macs_t: Option<Tensor>,
    /// MACs outside any weighted path.
    macs_fixed: f64,
}

thread_local! {
    static COUNTER: RefCell<Option<Counter>> = const { RefCell::new(None) };
}

/// Whether a counting pass is running on this thread.
pub fn counting() -> bool {
    COUNTER.with(|c| c.borrow().is_some())
}

/// Adds a module's parameters and MACs, weighted by the current path weight.
pub fn add(params: i64, macs: f64) {
    COUNTER.with(|c| {
        if let Some(c) = c.borrow_mut().as_mut() {
            let w = c.weight.last().map(|t| t.double_value(&[])).unwrap_or(1.0);
            c.params += w * params as f64;
            c.macs += w * macs;
            match c.weight.last() {
                Some(t) => {
                    let term = t * macs;
                    c.macs_t = Some(match c.macs_t.take() {
                        Some(s) => s + term,
                        None => term,
                    });
                }
                None => c.macs_fixed += macs,
            }
        }
    });
}

/// Runs `f` on a path of weight `w` (a scalar tensor; multiplied into the enclosing weight).
pub fn with_weight<R>(w: &Tensor, f: impl FnOnce() -> R) -> R {
    COUNTER.with(|c| {
        if let Some(c) = c.borrow_mut().as_mut() {
            let next = match c.weight.last() {
                Some(outer) => outer * w,
                None => w.shallow_clone(),
            };
            c.weight.push(next);
        }
    });
    let r = f();
    COUNTER.with(|c| {
        if let Some(c) = c.borrow_mut().as_mut() {
            c.weight.pop();
        }
    });
    r
}

/// Counts `model` on one image of its input shape: the expected counts, and the expected MACs as
/// a tensor differentiable in α (`None` when no mixed operator weighs paths).
pub fn count(model: &Model, input_shape: [i64; 3]) -> (Counts, Option<Tensor>) {
    COUNTER.with(|c| {
        *c.borrow_mut() = Some(Counter {
            weight: Vec::new(),
            params: 0.0,
            macs: 0.0,
            macs_t: None,
            macs_fixed: 0.0,
        })
    });
    let x = Tensor::zeros(
        [1, input_shape[0], input_shape[1], input_shape[2]],
        (Kind::Float, model.device),
    );
    let x = match model.vs.variables().values().next() {
        Some(v) => x.to_kind(v.kind()),
        None => x,
    };
    let _ = model.forward(&x, false);
    let c = COUNTER.with(|c| c.borrow_mut().take());
    match c {
        Some(c) => (
            Counts {
                params: c.params,
                macs: c.macs,
            },
            c.macs_t.map(|t| t + c.macs_fixed),
        ),
        None => (Counts::default(), None),
    }
}
