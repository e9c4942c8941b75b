//! Zero-cost proxies: scores of an untrained network that rank architectures without training
//! them (Abdelfattah et al. 2021), computed on a freshly initialised candidate.
//!
//! - `synflow` (Tanaka et al. 2020): with every weight replaced by its magnitude and the network
//!   in double precision and evaluation mode (batch norms at their initial statistics), the sum
//!   of the outputs on an all-ones image is R = 1ᵀ(∏|θ|)1; the score is Σ |θ ⊙ ∂R/∂θ|. It needs
//!   no data. Reported as its natural logarithm (`synflow`), since R spans hundreds of orders
//!   of magnitude over a space.
//! - `grad_norm`: Σ over weight tensors of ‖∂L/∂θ‖₂ on one training batch.
//! - `snip` (Lee et al. 2019): Σ |θ ⊙ ∂L/∂θ| on one training batch.
//!
//! Architecture parameters are not weights: they take no part in any score.

use crate::model::Model;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// A zero-cost proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proxy {
    /// ln Σ |θ ⊙ ∂R/∂θ| of the sign-free network on an all-ones input (data-free).
    Synflow,
    /// Σ ‖∂L/∂θ‖₂ on one batch.
    GradNorm,
    /// Σ |θ ⊙ ∂L/∂θ| on one batch.
    Snip,
}

impl Proxy {
    /// The metric name of the proxy.
    pub fn metric(self) -> &'static str {
        match self {
            Proxy::Synflow => "synflow",
            Proxy::GradNorm => "grad_norm",
            Proxy::Snip => "snip",
        }
    }

    /// Whether the proxy reads a batch of training data.
    pub fn needs_data(self) -> bool {
        !matches!(self, Proxy::Synflow)
    }
}

fn weight_grads(model: &Model, loss: &Tensor) -> Vec<(Tensor, Tensor)> {
    let w = model.weights();
    let g = Tensor::run_backward(&[loss], &w, false, true);
    w.into_iter().zip(g).filter(|(_, g)| g.defined()).collect()
}

fn finite(name: &str, v: f64) -> Result<f64, String> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("the {name} score is {v}"))
    }
}

/// The SynFlow score of `model` (ln of the sum; `model` is consumed: its weights are replaced
/// by their magnitudes and it is cast to double precision).
pub fn synflow(mut model: Model) -> Result<f64, String> {
    model.to_double();
    tch::no_grad(|| {
        for w in model.weights() {
            let _ = w.shallow_clone().abs_();
        }
    });
    let [c, h, wd] = model.input_shape;
    let x = Tensor::ones([1, c, h, wd], (Kind::Double, model.device));
    let r = model.forward(&x, false).sum(Kind::Double);
    let score = tch::no_grad(|| {
        weight_grads(&model, &r)
            .iter()
            .map(|(w, g)| (w * g).abs().sum(Kind::Double).double_value(&[]))
            .sum::<f64>()
    });
    if !(score > 0.0) {
        return Err(format!(
            "the synflow score is {score}: no weight reaches the output"
        ));
    }
    finite("synflow", score.ln())
}

/// `grad_norm` and `snip` of `model` on the batch `(x, y)`, in training mode; `None` for a proxy
/// not asked for.
pub fn gradient_scores(
    model: &Model,
    x: &Tensor,
    y: &Tensor,
    want: &[Proxy],
) -> Result<Vec<(Proxy, f64)>, String> {
    let logits = model.forward(x, true);
    let loss = logits.cross_entropy_for_logits(y);
    let pairs = weight_grads(model, &loss);
    let mut out = Vec::new();
    tch::no_grad(|| -> Result<(), String> {
        for &p in want {
            let v = match p {
                Proxy::GradNorm => pairs
                    .iter()
                    .map(|(_, g)| g.norm().double_value(&[]))
                    .sum::<f64>(),
                Proxy::Snip => pairs
                    .iter()
                    .map(|(w, g)| (w * g).abs().sum(Kind::Double).double_value(&[]))
                    .sum::<f64>(),
                Proxy::Synflow => continue,
            };
            out.push((p, finite(p.metric(), v)?));
        }
        Ok(())
    })?;
    Ok(out)
}
