//! SNAS (Xie et al. 2019): Gumbel-softmax relaxation with an annealed temperature; α learned on
//! the validation loss (paper G.3: initial temperature 5, annealing 4.5e-2 per epoch).

use super::{
    ArchBatch, ArchContext, ArchOptimizer, ArchRegistry, arch_adam, batch_loss,
    darts::set_alpha_grads, gradients, without_weight_grads,
};
use crate::mixed::MixKind;
use crate::model::Model;
use crate::train::{Optimizer, TrainArgs};
use modnas_core::registry::{Args, RegistryError};
use serde::{Deserialize, Serialize};

/// Arguments of [`Snas`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SnasArgs {
    /// Initial temperature.
    pub init_temp: f64,
    /// Exponential annealing rate per epoch: T = T₀·exp(−rate·epoch).
    pub anneal_rate: f64,
    /// Adam learning rate of α.
    pub lr: f64,
    /// Adam betas.
    pub betas: (f64, f64),
    /// Adam weight decay of α.
    pub weight_decay: f64,
}

impl Default for SnasArgs {
    fn default() -> Self {
        SnasArgs {
            init_temp: 5.0,
            anneal_rate: 4.5e-2,
            lr: 3e-4,
            betas: (0.5, 0.999),
            weight_decay: 1e-3,
        }
    }
}

impl Args for SnasArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if !(self.init_temp > 0.0) || !(self.anneal_rate >= 0.0) {
            return Err((
                "init_temp".into(),
                "`init_temp` must be positive and `anneal_rate` not negative".into(),
            ));
        }
        if !(self.lr > 0.0) {
            return Err(("lr".into(), "`lr` must be positive".into()));
        }
        Ok(())
    }
}

/// SNAS.
pub struct Snas {
    args: SnasArgs,
    adam: Optimizer,
}

impl ArchOptimizer for Snas {
    fn mixed_op(&self) -> MixKind {
        MixKind::GumbelSum
    }

    fn arch_optimizer(&mut self) -> &mut Optimizer {
        &mut self.adam
    }

    fn begin_epoch(&mut self, model: &Model, epoch: usize, _epochs: usize) {
        let t = self.args.init_temp * (-self.args.anneal_rate * epoch as f64).exp();
        model.control.with(|s| s.temperature = t);
    }

    fn step(
        &mut self,
        model: &mut Model,
        batch: &ArchBatch<'_>,
        _weights: &Optimizer,
        _train: &TrainArgs,
    ) -> Result<(), String> {
        let alphas = model.alphas();
        let l = without_weight_grads(model, || batch_loss(model, batch.valid.0, batch.valid.1));
        let grads = gradients(&l, &alphas, false);
        set_alpha_grads(model, &grads);
        self.adam.step();
        Ok(())
    }
}

pub(crate) fn register(reg: &mut ArchRegistry) -> Result<(), RegistryError> {
    reg.add::<SnasArgs>("SNAS", &["GumbelAnnealing", "GumbelAnnealingOptim"], "SNAS: Gumbel-softmax mixed operators with an annealed temperature; α on the validation loss.", |a, ctx: &ArchContext| {
        let adam = arch_adam(ctx.alphas(), a.lr, a.betas, a.weight_decay);
        Ok(Box::new(Snas { args: a, adam }))
    })
}
