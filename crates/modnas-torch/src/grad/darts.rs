//! DARTS (Liu et al. 2019): α learned by gradient descent on the validation loss, with the
//! second-order approximation of the best-response weights (the default, as in the paper's
//! bi-level setting; `order: 1`, or `DirectGradBiLevel`, for first order).
//!
//! Second order: w' = w − ξ (momentum·v + ∇w L_train + wd·w) (a virtual SGD step), and
//! ∇α = ∇α L_val(w', α) − ξ ∇²α,w L_train(w, α) · ∇w' L_val(w', α), the Hessian-vector product by
//! central differences: [∇α L_train(w⁺) − ∇α L_train(w⁻)] / (2ε), w± = w ± ε ∇w' L_val, ε = 0.01/‖∇w' L_val‖.

use super::{
    ArchBatch, ArchContext, ArchOptimizer, ArchRegistry, arch_adam, batch_loss, gradients,
    or_zeros, without_weight_grads, zero_alpha_grads,
};
use crate::mixed::MixKind;
use crate::model::Model;
use crate::train::{Optimizer, TrainArgs};
use modnas_core::registry::{Args, RegistryError};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Arguments of [`Darts`] (defaults: paper G.3; second order, as bi-level DARTS there).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DartsArgs {
    /// 1: first order; 2: second order (unrolled; the default).
    pub order: u8,
    /// Update α with the training loss, on the training batch (one-level DARTS).
    pub one_level: bool,
    /// Adam learning rate of α.
    pub lr: f64,
    /// Adam betas.
    pub betas: (f64, f64),
    /// Adam weight decay of α.
    pub weight_decay: f64,
    /// ξ of the virtual step (default: the weights' current learning rate).
    pub xi: Option<f64>,
    /// Radius of the finite-difference Hessian-vector product, relative to the norm of the
    /// vector (DARTS: 0.01).
    pub hvp_radius: f64,
}

impl Default for DartsArgs {
    fn default() -> Self {
        DartsArgs {
            order: 2,
            one_level: false,
            lr: 3e-4,
            betas: (0.5, 0.999),
            weight_decay: 1e-3,
            xi: None,
            hvp_radius: 0.01,
        }
    }
}

impl Args for DartsArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if !matches!(self.order, 1 | 2) {
            return Err((
                "order".into(),
                "`order` is 1 (first order) or 2 (second order)".into(),
            ));
        }
        if self.order == 2 && self.one_level {
            return Err((
                "one_level".into(),
                "one-level DARTS has no second-order term; use order: 1".into(),
            ));
        }
        if !(self.lr > 0.0) {
            return Err(("lr".into(), "`lr` must be positive".into()));
        }
        if !(self.hvp_radius > 0.0) {
            return Err(("hvp_radius".into(), "`hvp_radius` must be positive".into()));
        }
        Ok(())
    }
}

/// Arguments of first-order DARTS: one-level (`DirectGrad`) or bi-level (`DirectGradBiLevel`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectGradArgs {
    /// Adam learning rate of α.
    pub lr: f64,
    /// Adam betas.
    pub betas: (f64, f64),
    /// Adam weight decay of α.
    pub weight_decay: f64,
}

impl Default for DirectGradArgs {
    fn default() -> Self {
        let d = DartsArgs::default();
        DirectGradArgs {
            lr: d.lr,
            betas: d.betas,
            weight_decay: d.weight_decay,
        }
    }
}

impl Args for DirectGradArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if !(self.lr > 0.0) {
            return Err(("lr".into(), "`lr` must be positive".into()));
        }
        Ok(())
    }
}

/// DARTS.
pub struct Darts {
    args: DartsArgs,
    adam: Optimizer,
}

impl Darts {
    /// DARTS over `alphas`.
    pub fn new(args: DartsArgs, alphas: Vec<Tensor>) -> Darts {
        let adam = arch_adam(alphas, args.lr, args.betas, args.weight_decay);
        Darts { args, adam }
    }
}

fn copy_all(dst: &[Tensor], src: &[Tensor]) {
    tch::no_grad(|| {
        for (d, s) in dst.iter().zip(src) {
            d.shallow_clone().copy_(s);
        }
    });
}

/// The gradient of the validation loss with respect to α: first order, or with DARTS's
/// second-order term (virtual step of size `xi` with the weight optimizer's momentum and decay;
/// the Hessian-vector product by central differences at `hvp_radius / ‖∇w′ L_val‖`).
///
/// Gradients with respect to tensors the losses do not reach are zero; a weight without a
/// training gradient (used only by an auxiliary head, say) takes no virtual step, as the weight
/// optimizer would not move it either.
pub fn hypergradient(
    model: &Model,
    batch: &ArchBatch<'_>,
    weights: &Optimizer,
    order: u8,
    xi: f64,
    hvp_radius: f64,
) -> Vec<Tensor> {
    let alphas = model.alphas();
    if order == 1 {
        let l = without_weight_grads(model, || batch_loss(model, batch.valid.0, batch.valid.1));
        return gradients(&l, &alphas, false);
    }
    let w = model.weights();
    let (momentum, wd) = weights.momentum_and_decay();
    // ∇w L_train(w, α).
    let l_train = batch_loss(model, batch.train.0, batch.train.1);
    let g = Tensor::run_backward(&[l_train], &w, false, false);
    let backup: Vec<Tensor> = tch::no_grad(|| w.iter().map(Tensor::copy).collect());
    // Virtual step w' = w − ξ (m·v + g + wd·w).
    tch::no_grad(|| {
        for (i, (p, gi)) in w.iter().zip(&g).enumerate() {
            if !gi.defined() {
                continue;
            }
            let mut d = gi.shallow_clone();
            if wd != 0.0 {
                d = &d + p * wd;
            }
            if momentum != 0.0
                && let Some(v) = weights.momentum_buffer(i)
            {
                d = &d + v * momentum;
            }
            let _ = p.shallow_clone().g_sub_(&(d * xi));
        }
    });
    // ∇α L_val(w', α) and ∇w' L_val(w', α).
    let l_val = batch_loss(model, batch.valid.0, batch.valid.1);
    let mut inputs: Vec<Tensor> = alphas.iter().map(Tensor::shallow_clone).collect();
    inputs.extend(w.iter().map(Tensor::shallow_clone));
    let grads = gradients(&l_val, &inputs, false);
    let (d_alpha, d_w) = grads.split_at(alphas.len());
    let norm = tch::no_grad(|| {
        d_w.iter()
            .map(|t| {
                t.pow_tensor_scalar(2)
                    .sum(tch::Kind::Double)
                    .double_value(&[])
            })
            .sum::<f64>()
            .sqrt()
    });
    let eps = hvp_radius / norm.max(1e-12);
    // Central differences of ∇α L_train around w. Both sides draw the same random numbers
    // (drop-path masks, dropout): otherwise the difference of two different random networks,
    // divided by 2ε, would swamp the derivative.
    let side_seed = tch::no_grad(|| {
        Tensor::randint(1 << 53, [1], (tch::Kind::Int64, tch::Device::Cpu)).int64_value(&[0])
    });
    let grad_at = |sign: f64| -> Vec<Tensor> {
        tch::manual_seed(side_seed);
        tch::no_grad(|| {
            for ((p, b), d) in w.iter().zip(&backup).zip(d_w) {
                p.shallow_clone().copy_(&(b + d * (sign * eps)));
            }
        });
        let l = without_weight_grads(model, || batch_loss(model, batch.train.0, batch.train.1));
        gradients(&l, &alphas, false)
    };
    let g_plus = grad_at(1.0);
    let g_minus = grad_at(-1.0);
    copy_all(&w, &backup);
    d_alpha
        .iter()
        .zip(g_plus.iter().zip(&g_minus))
        .map(|(da, (gp, gm))| tch::no_grad(|| da - (gp - gm) * (xi / (2.0 * eps))))
        .collect()
}

/// Sets α's gradients to `grads` (by a backward pass of Σ α·g, which gives exactly g), plus the
/// gradient of the MACs penalty when the model has one.
pub(crate) fn set_alpha_grads(model: &Model, grads: &[Tensor]) {
    zero_alpha_grads(model);
    let alphas = model.alphas();
    let mut total: Option<Tensor> = None;
    for (a, g) in alphas.iter().zip(grads) {
        let g = or_zeros(g.shallow_clone(), a);
        let t = (a * g.detach()).sum(a.kind());
        total = Some(match total {
            Some(s) => s + t,
            None => t,
        });
    }
    // The cost term: λ·E[MACs], differentiable in α.
    if model.macs_penalty > 0.0
        && let (_, Some(macs)) =
            super::without_weight_grads(model, || crate::metrics::count(model, model.input_shape))
    {
        let c = macs * (model.macs_penalty / 1e6);
        total = Some(match total {
            Some(s) => s + c,
            None => c,
        });
    }
    if let Some(t) = total {
        t.backward();
    }
}

impl ArchOptimizer for Darts {
    fn mixed_op(&self) -> MixKind {
        MixKind::SoftmaxSum
    }

    fn arch_optimizer(&mut self) -> &mut Optimizer {
        &mut self.adam
    }

    fn step(
        &mut self,
        model: &mut Model,
        batch: &ArchBatch<'_>,
        weights: &Optimizer,
        _train: &TrainArgs,
    ) -> Result<(), String> {
        let b = if self.args.one_level {
            ArchBatch {
                train: batch.train,
                valid: batch.train,
            }
        } else {
            ArchBatch {
                train: batch.train,
                valid: batch.valid,
            }
        };
        let xi = self.args.xi.unwrap_or_else(|| weights.lr());
        let grads = hypergradient(
            model,
            &b,
            weights,
            self.args.order,
            xi,
            self.args.hvp_radius,
        );
        set_alpha_grads(model, &grads);
        self.adam.step();
        Ok(())
    }
}

pub(crate) fn register(reg: &mut ArchRegistry) -> Result<(), RegistryError> {
    reg.add::<DartsArgs>(
        "DARTS",
        &["DARTSOptim"],
        "DARTS: α by gradient descent on the validation loss, second order by default (the unrolled virtual step; `order: 1` for first order).",
        |a, ctx: &ArchContext| Ok(Box::new(Darts::new(a, ctx.alphas()))),
    )?;
    reg.add::<DirectGradArgs>(
        "DirectGradBiLevel",
        &["DirectGradBiLevelOptim", "DARTSFirstOrder"],
        "First-order DARTS: α by gradient descent on the validation loss at the current weights.",
        |g, ctx: &ArchContext| {
            let a = DartsArgs {
                order: 1,
                one_level: false,
                lr: g.lr,
                betas: g.betas,
                weight_decay: g.weight_decay,
                ..DartsArgs::default()
            };
            Ok(Box::new(Darts::new(a, ctx.alphas())))
        },
    )?;
    reg.add::<DirectGradArgs>(
        "DirectGrad",
        &["DARTSOneLevel", "DirectGradOptim"],
        "One-level DARTS: α updated with the training loss.",
        |g, ctx: &ArchContext| {
            let a = DartsArgs {
                order: 1,
                one_level: true,
                lr: g.lr,
                betas: g.betas,
                weight_decay: g.weight_decay,
                ..DartsArgs::default()
            };
            Ok(Box::new(Darts::new(a, ctx.alphas())))
        },
    )
}
