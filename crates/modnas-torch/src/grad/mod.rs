//! Gradient-based architecture optimizers: DARTS (first and second order, one-level), SNAS,
//! ProxylessNAS-G / -GU and REINFORCE. Each prefers a mixed-operator kind, so switching method
//! is a one-line change (`optim: SNAS`).

mod darts;
mod proxyless;
mod reinforce;
mod snas;

pub use darts::{Darts, DartsArgs, hypergradient};
pub use proxyless::{ProxylessArgs, ProxylessNas};
pub use reinforce::{Reinforce, ReinforceArgs};
pub use snas::{Snas, SnasArgs};

use crate::mixed::{GateMode, MixKind};
use crate::model::Model;
use crate::train::{OptimSpec, Optimizer, TrainArgs, loss};
use modnas_core::registry::{Registry, RegistryError};
use tch::Tensor;

/// Batches for one architecture step.
pub struct ArchBatch<'a> {
    /// A training batch `(x, y)`.
    pub train: (&'a Tensor, &'a Tensor),
    /// A validation batch `(x, y)`.
    pub valid: (&'a Tensor, &'a Tensor),
}

/// A gradient-based (or sampling-based) optimizer of architecture parameters α.
pub trait ArchOptimizer: Send {
    /// The mixed-operator kind the method is defined with.
    fn mixed_op(&self) -> MixKind;

    /// Prepares a weight-training step (binary gates sample one path).
    fn before_weight_step(&mut self, model: &Model) {
        model.control.with(|s| s.gate_mode = GateMode::Sample);
    }

    /// One architecture update.
    fn step(
        &mut self,
        model: &mut Model,
        batch: &ArchBatch<'_>,
        weights: &Optimizer,
        train: &TrainArgs,
    ) -> Result<(), String>;

    /// Called at the start of each epoch (temperature schedules).
    fn begin_epoch(&mut self, _model: &Model, _epoch: usize, _epochs: usize) {}

    /// The optimizer of α (for checkpoints).
    fn arch_optimizer(&mut self) -> &mut Optimizer;

    /// Scalars to checkpoint besides the optimizer (a baseline…).
    fn extra_state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Restores [`ArchOptimizer::extra_state`].
    fn load_extra_state(&mut self, _v: &serde_json::Value) {}
}

/// What architecture-optimizer builders get.
pub struct ArchContext {
    /// The architecture parameters of the model.
    pub alphas: Vec<Tensor>,
    /// Seed.
    pub seed: u64,
}

impl ArchContext {
    /// Handles on α.
    pub fn alphas(&self) -> Vec<Tensor> {
        self.alphas.iter().map(Tensor::shallow_clone).collect()
    }
}

/// The registry of gradient-based optimizers.
pub type ArchRegistry = Registry<dyn ArchOptimizer, ArchContext>;

/// Registers every gradient-based optimizer.
pub fn register_all(reg: &mut ArchRegistry) -> Result<(), RegistryError> {
    darts::register(reg)?;
    snas::register(reg)?;
    proxyless::register(reg)?;
    reinforce::register(reg)
}

/// A registry with every gradient-based optimizer.
pub fn registry() -> ArchRegistry {
    let mut r = Registry::new("optimizer", &["optimizer", "optim"]);
    register_all(&mut r).expect("optimizer names are unique");
    r
}

/// The mixed-operator kind an optimizer name prefers, without building it.
pub fn preferred_mixed_op(name: &str) -> Option<MixKind> {
    let n = modnas_core::registry::normalize(name);
    let n = n.strip_suffix("optim").unwrap_or(&n);
    Some(match n {
        "darts" | "dartsfirstorder" | "dartsonelevel" | "directgrad" | "directgradbilevel" => {
            MixKind::SoftmaxSum
        }
        "snas" | "gumbelannealing" => MixKind::GumbelSum,
        "proxylessnas" | "proxylessnasg" | "binarygate" => MixKind::BinaryGate,
        "proxylessnasgu" | "binarygateuniform" => MixKind::BinaryGateUniform,
        "reinforce" => MixKind::BinaryGate,
        _ => return None,
    })
}

/// Adam on α with the given settings.
pub fn arch_adam(alphas: Vec<Tensor>, lr: f64, betas: (f64, f64), weight_decay: f64) -> Optimizer {
    Optimizer::new(
        OptimSpec::Adam {
            lr,
            betas,
            eps: 1e-8,
            weight_decay,
        },
        alphas,
    )
}

/// Runs `f` with the weights not requiring gradients (architecture steps that only need α's).
pub fn without_weight_grads<R>(model: &Model, f: impl FnOnce() -> R) -> R {
    let w = model.weights();
    for t in &w {
        let _ = t.set_requires_grad(false);
    }
    let r = f();
    for t in &w {
        let _ = t.set_requires_grad(true);
    }
    r
}

/// Runs `f` with α not requiring gradients (weight steps).
pub fn without_alpha_grads<R>(model: &Model, f: impl FnOnce() -> R) -> R {
    let a = model.alphas();
    for t in &a {
        let _ = t.set_requires_grad(false);
    }
    let r = f();
    for t in &a {
        let _ = t.set_requires_grad(true);
    }
    r
}

/// The cross-entropy loss of the model on a batch (training mode).
pub fn batch_loss(model: &Model, x: &Tensor, y: &Tensor) -> Tensor {
    loss(&model.forward(x, true), y, 0.0)
}

/// `g`, or zeros shaped like `like` where `g` is undefined: a gradient with respect to a tensor
/// that the differentiated value does not reach (an α of a path that was not sampled, a weight
/// only an auxiliary head uses) is zero.
pub(crate) fn or_zeros(g: Tensor, like: &Tensor) -> Tensor {
    if g.defined() {
        g
    } else {
        tch::no_grad(|| like.zeros_like())
    }
}

/// Gradients of `loss` with respect to `inputs`, zero for inputs it does not reach.
pub(crate) fn gradients(loss: &Tensor, inputs: &[Tensor], keep_graph: bool) -> Vec<Tensor> {
    Tensor::run_backward(&[loss], inputs, keep_graph, false)
        .into_iter()
        .zip(inputs)
        .map(|(g, x)| or_zeros(g, x))
        .collect()
}

/// Clears α's gradients.
pub fn zero_alpha_grads(model: &Model) {
    for a in model.alphas() {
        let mut g = a.grad();
        if g.defined() {
            let _ = g.detach_().zero_();
        }
    }
}
