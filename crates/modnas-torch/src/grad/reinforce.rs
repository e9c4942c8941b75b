//! REINFORCE (ProxylessNAS-R): paths sampled from softmax(α), rewarded by their accuracy on a
//! validation batch, α moved along (R − b) ∇ log p(path) with a moving-average baseline b.
//!
//! The baseline follows ProxylessNAS: it starts at the first batch's mean reward and then moves
//! towards each new mean, b ← b + d·(mean − b) with d = `baseline_decay` (0.99), before the
//! advantages R − b are formed.

use super::{
    ArchBatch, ArchContext, ArchOptimizer, ArchRegistry, arch_adam, darts::set_alpha_grads,
    gradients,
};
use crate::mixed::{GateMode, MixKind, MixedOp};
use crate::model::Model;
use crate::train::{Optimizer, TrainArgs, accuracy};
use modnas_core::registry::{Args, RegistryError};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Arguments of [`Reinforce`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReinforceArgs {
    /// Paths sampled per architecture step.
    pub batch_size: usize,
    /// How far the baseline moves towards each batch's mean reward: b ← b + d·(mean − b), before
    /// the advantages (ProxylessNAS's `baseline_decay_weight`; 0.99).
    pub baseline_decay: f64,
    /// Adam learning rate of α.
    pub lr: f64,
    /// Adam betas.
    pub betas: (f64, f64),
}

impl Default for ReinforceArgs {
    fn default() -> Self {
        ReinforceArgs {
            batch_size: 10,
            baseline_decay: 0.99,
            lr: 1e-3,
            betas: (0.0, 0.999),
        }
    }
}

impl Args for ReinforceArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if self.batch_size < 1 {
            return Err((
                "batch_size".into(),
                "`batch_size` must be at least 1".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.baseline_decay) {
            return Err((
                "baseline_decay".into(),
                "`baseline_decay` must be in [0, 1] (the step of the baseline towards each mean reward)"
                    .into(),
            ));
        }
        if !(self.lr > 0.0) {
            return Err(("lr".into(), "`lr` must be positive".into()));
        }
        Ok(())
    }
}

/// REINFORCE.
pub struct Reinforce {
    args: ReinforceArgs,
    adam: Optimizer,
    baseline: Option<f64>,
}

impl Reinforce {
    /// REINFORCE over `alphas`.
    pub fn new(args: ReinforceArgs, alphas: Vec<Tensor>) -> Reinforce {
        let adam = arch_adam(alphas, args.lr, args.betas, 0.0);
        Reinforce {
            args,
            adam,
            baseline: None,
        }
    }

    /// The moving-average baseline (none before the first step).
    pub fn baseline(&self) -> Option<f64> {
        self.baseline
    }

    /// One update from sampled paths and their rewards: each sample is a reward and, for every
    /// α, the candidate its path took. Updates the baseline and sets α's gradients (left in
    /// `.grad`) before the Adam step.
    pub fn apply_rewards(&mut self, model: &Model, samples: &[(f64, Vec<(Tensor, usize)>)]) {
        if samples.is_empty() {
            return;
        }
        let n = samples.len() as f64;
        let mean = samples.iter().map(|s| s.0).sum::<f64>() / n;
        let b = match self.baseline {
            None => mean,
            Some(b) => b + self.args.baseline_decay * (mean - b),
        };
        self.baseline = Some(b);
        let alphas = model.alphas();
        let mut objective: Option<Tensor> = None;
        for (r, p) in samples {
            for (a, j) in p {
                let t = a.log_softmax(0, a.kind()).get(*j as i64) * (-(r - b) / n);
                objective = Some(match objective {
                    Some(o) => o + t,
                    None => t,
                });
            }
        }
        if let Some(o) = objective {
            let grads = gradients(&o, &alphas, false);
            set_alpha_grads(model, &grads);
            self.adam.step();
        }
    }
}

impl ArchOptimizer for Reinforce {
    fn mixed_op(&self) -> MixKind {
        MixKind::BinaryGate
    }

    fn arch_optimizer(&mut self) -> &mut Optimizer {
        &mut self.adam
    }

    fn extra_state(&self) -> serde_json::Value {
        serde_json::json!({"baseline": self.baseline})
    }

    fn load_extra_state(&mut self, v: &serde_json::Value) {
        self.baseline = v.get("baseline").and_then(|b| b.as_f64());
    }

    fn step(
        &mut self,
        model: &mut Model,
        batch: &ArchBatch<'_>,
        _weights: &Optimizer,
        _train: &TrainArgs,
    ) -> Result<(), String> {
        model.control.with(|s| s.gate_mode = GateMode::Sample);
        let mut samples = Vec::with_capacity(self.args.batch_size);
        for _ in 0..self.args.batch_size {
            let logits = tch::no_grad(|| model.forward(batch.valid.0, true));
            let reward = accuracy(&logits, batch.valid.1).0;
            // The choices of this pass only: operators that did not run (inner slots of a layer
            // candidate not taken) have no sampled path.
            let mut p = Vec::new();
            model.visit_mixed(|_, m: &MixedOp| {
                if let (Some(a), Some(&j)) = (m.alpha(), m.sampled().first()) {
                    p.push((a.shallow_clone(), j));
                }
            });
            samples.push((reward, p));
        }
        self.apply_rewards(model, &samples);
        Ok(())
    }
}

pub(crate) fn register(reg: &mut ArchRegistry) -> Result<(), RegistryError> {
    reg.add::<ReinforceArgs>("REINFORCE", &["REINFORCEOptim", "ProxylessNAS-R"], "REINFORCE on sampled paths rewarded by validation accuracy, with a moving-average baseline.", |a, ctx: &ArchContext| {
        Ok(Box::new(Reinforce::new(a, ctx.alphas())))
    })
}
