//! ProxylessNAS with binary gates (Cai et al. 2019): each weight step trains one sampled path per
//! operator; each architecture step samples two candidates per operator, activates one, and
//! learns α through the binary-gate gradient ∂L/∂αᵢ = Σⱼ gⱼ pⱼ (δᵢⱼ − pᵢ) over the two. After the
//! update the sampled α are shifted so that the unsampled candidates keep their share of
//! probability (paper G.3: Adam, lr 6e-3, betas (0, 0.999), no weight decay). Where operators share
//! an α, "sampled" is the union of their draws: each of them adds gradient to its own pair.
//! `-GU` samples paths uniformly.

use super::{
    ArchBatch, ArchContext, ArchOptimizer, ArchRegistry, arch_adam, batch_loss,
    darts::set_alpha_grads, gradients, without_weight_grads,
};
use crate::mixed::{GateMode, MixKind, MixedOp};
use crate::model::Model;
use crate::train::{Optimizer, TrainArgs};
use modnas_core::registry::{Args, RegistryError};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Arguments of [`ProxylessNas`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxylessArgs {
    /// Candidates sampled per operator in an architecture step.
    pub n_samples: usize,
    /// Shift the sampled α so unsampled candidates keep their probability.
    pub renorm: bool,
    /// Adam learning rate of α.
    pub lr: f64,
    /// Adam betas.
    pub betas: (f64, f64),
    /// Adam weight decay of α.
    pub weight_decay: f64,
}

impl Default for ProxylessArgs {
    fn default() -> Self {
        ProxylessArgs {
            n_samples: 2,
            renorm: true,
            lr: 6e-3,
            betas: (0.0, 0.999),
            weight_decay: 0.0,
        }
    }
}

impl Args for ProxylessArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if self.n_samples < 1 {
            return Err(("n_samples".into(), "`n_samples` must be at least 1".into()));
        }
        if !(self.lr > 0.0) {
            return Err(("lr".into(), "`lr` must be positive".into()));
        }
        Ok(())
    }
}

/// ProxylessNAS-G or -GU.
pub struct ProxylessNas {
    args: ProxylessArgs,
    kind: MixKind,
    adam: Optimizer,
}

/// log Σ exp over the given entries of `a`.
fn log_sum_exp(a: &Tensor, idx: &[usize]) -> f64 {
    let v: Vec<f64> = Vec::try_from(a.to_kind(Kind::Double)).unwrap_or_default();
    let m = idx.iter().map(|&i| v[i]).fold(f64::NEG_INFINITY, f64::max);
    m + idx.iter().map(|&i| (v[i] - m).exp()).sum::<f64>().ln()
}

impl ArchOptimizer for ProxylessNas {
    fn mixed_op(&self) -> MixKind {
        self.kind
    }

    fn arch_optimizer(&mut self) -> &mut Optimizer {
        &mut self.adam
    }

    fn step(
        &mut self,
        model: &mut Model,
        batch: &ArchBatch<'_>,
        _weights: &Optimizer,
        _train: &TrainArgs,
    ) -> Result<(), String> {
        model
            .control
            .with(|s| s.gate_mode = GateMode::ArchGrad(self.args.n_samples));
        let alphas = model.alphas();
        let l = without_weight_grads(model, || batch_loss(model, batch.valid.0, batch.valid.1));
        let grads = gradients(&l, &alphas, false);
        // Which candidates each α was sampled over (the union over the operators sharing it), and
        // their log-sum-exp before the update.
        let mut sampled: Vec<(Tensor, Vec<usize>)> = Vec::new();
        model.visit_mixed(|_, m: &MixedOp| {
            if let Some(a) = m.alpha() {
                let s = m.sampled();
                match sampled
                    .iter_mut()
                    .find(|(b, _)| b.data_ptr() == a.data_ptr())
                {
                    Some((_, u)) => u.extend(s),
                    None => sampled.push((a.shallow_clone(), s)),
                }
            }
        });
        let before: Vec<(Tensor, Vec<usize>, f64)> = sampled
            .into_iter()
            .filter_map(|(a, mut u)| {
                u.sort_unstable();
                u.dedup();
                (u.len() > 1).then(|| {
                    let lse = tch::no_grad(|| log_sum_exp(&a, &u));
                    (a, u, lse)
                })
            })
            .collect();
        set_alpha_grads(model, &grads);
        self.adam.step();
        if self.args.renorm {
            tch::no_grad(|| {
                for (a, s, lse) in &before {
                    let shift = lse - log_sum_exp(a, s);
                    for &i in s {
                        let _ = a.get(i as i64).g_add_scalar_(shift);
                    }
                }
            });
        }
        model.control.with(|s| s.gate_mode = GateMode::Sample);
        Ok(())
    }
}

pub(crate) fn register(reg: &mut ArchRegistry) -> Result<(), RegistryError> {
    reg.add::<ProxylessArgs>("ProxylessNAS-G", &["ProxylessNAS", "BinaryGateOptim"], "ProxylessNAS with binary gates: one sampled path per weight step, binary-gate gradient on two.", |a, ctx: &ArchContext| {
        let adam = arch_adam(ctx.alphas(), a.lr, a.betas, a.weight_decay);
        Ok(Box::new(ProxylessNas { args: a, kind: MixKind::BinaryGate, adam }))
    })?;
    reg.add::<ProxylessArgs>(
        "ProxylessNAS-GU",
        &["BinaryGateUniformOptim"],
        "ProxylessNAS-GU: as ProxylessNAS-G with paths sampled uniformly.",
        |a, ctx: &ArchContext| {
            let adam = arch_adam(ctx.alphas(), a.lr, a.betas, a.weight_decay);
            Ok(Box::new(ProxylessNas {
                args: a,
                kind: MixKind::BinaryGateUniform,
                adam,
            }))
        },
    )
}
