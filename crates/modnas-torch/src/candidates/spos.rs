//! `SPOS` (single-path one-shot): one supernet is trained with a uniformly sampled path per
//! batch; then every candidate is evaluated with the weights it inherits, after batch-norm
//! recalibration on its own path. The trained supernet is kept in the run directory
//! (`supernet/`, checkpointed every epoch, so a killed run resumes its training) and can serve
//! other searches (`supernet: runs/NAME/supernet`).

use super::bench::{Bench, Epochs};
use super::recalibrate::recalibrate;
use crate::model::Model;
use crate::routine::checkpoint;
use crate::train::weight_optimizer;
use modnas_core::config::ConfigError;
use modnas_core::estimator::{Estimator, EvalContext};
use modnas_core::objective::Objective;
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::registry::Args;
use modnas_core::seed::{derive_seed, rng_from_seed};
use modnas_core::trial::{Evaluation, TrialFailure};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Arguments of `SPOS`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SposArgs {
    /// Supernet training epochs (before the first candidate is evaluated).
    pub epochs: usize,
    /// At most this many batches per supernet epoch (quick runs).
    pub max_steps: Option<usize>,
    /// Training batches that recalibrate batch-norm statistics for each candidate (0: none).
    pub num_bn_batch: usize,
    /// A trained supernet to use instead of training one: a `supernet/` directory of an earlier
    /// run, or a `weights.ot` file.
    pub supernet: Option<PathBuf>,
}

impl Default for SposArgs {
    fn default() -> Self {
        SposArgs {
            epochs: 1,
            max_steps: None,
            num_bn_batch: 20,
            supernet: None,
        }
    }
}

impl Args for SposArgs {
    fn check(&self) -> Result<(), (String, String)> {
        super::bench::check_epochs(self.epochs, self.max_steps)?;
        modnas_core::registry::at_most("num_bn_batch", self.num_bn_batch, 1_000_000)
    }
}

/// The SPOS estimator.
pub struct Spos {
    args: SposArgs,
    bench: Bench,
    supernet: Mutex<Option<Model>>,
}

impl Spos {
    /// The estimator over `bench`'s network.
    pub fn new(args: SposArgs, bench: Bench) -> Result<Spos, ConfigError> {
        if let Some(p) = &args.supernet
            && !p.exists()
        {
            return Err(ConfigError::new(format!(
                "estim.args.supernet: {} does not exist (give a `supernet/` directory of an earlier SPOS run or a weights.ot file)",
                p.display()
            )));
        }
        Ok(Spos {
            args,
            bench,
            supernet: Mutex::new(None),
        })
    }

    /// The trained supernet: loaded from `supernet:`, or trained (resuming from the run
    /// directory's checkpoints).
    fn trained(&self, ctx: &EvalContext<'_>) -> Result<Model, TrialFailure> {
        let mut model = self
            .bench
            .supernet(self.bench.seed)
            .map_err(TrialFailure::fatal)?;
        if let Some(p) = &self.args.supernet {
            load_weights(&mut model, p).map_err(TrialFailure::fatal)?;
            return Ok(model);
        }
        let mut weights = weight_optimizer(&model, &self.bench.setup.train);
        let dir = ctx.run_dir.map(|d| d.join("supernet"));
        let mut done = 0;
        if let Some(d) = &dir
            && let Some(&n) = checkpoint::available(d).last()
        {
            let n = n.min(self.args.epochs);
            checkpoint::load(d, &mut model, &mut weights, None, n).map_err(TrialFailure::fatal)?;
            tracing::info!("supernet: resumed after {n} of {} epochs", self.args.epochs);
            done = n;
        }
        if done < self.args.epochs {
            tracing::info!(
                "supernet: training {} epochs with one uniformly sampled path per batch",
                self.args.epochs - done
            );
        }
        let space = self.bench.space().clone();
        let seed = self.bench.seed;
        let epochs = Epochs {
            epochs: self.args.epochs,
            max_steps: self.args.max_steps,
            seed,
            cancel: ctx.cancel,
        };
        self.bench.train(
            &mut model,
            &mut weights,
            &epochs,
            done,
            &mut |m, w, x, y, epoch, step| {
                let mut rng = rng_from_seed(derive_seed(
                    seed,
                    "path",
                    (epoch as u64) << 32 | step as u64,
                ));
                m.apply(&space.sample(&mut rng))?;
                Ok(self.bench.plain_step(m, w, x, y))
            },
            &mut |m, w, done| match &dir {
                Some(d) => {
                    checkpoint::save(d, m, w, None, done)?;
                    checkpoint::prune(d, done).map(|()| false)
                }
                None => Ok(false),
            },
        )?;
        Ok(model)
    }
}

/// Loads supernet weights (see [`checkpoint::weights_file`]).
pub(super) fn load_weights(model: &mut Model, p: &Path) -> Result<(), String> {
    let file = checkpoint::weights_file(p);
    model
        .vs
        .load(&file)
        .map_err(|e| format!("cannot load the supernet from {}: {e}", file.display()))
}

/// Evaluates one candidate of a trained supernet: applies its choices, recalibrates batch norm on
/// `num_bn_batch` training batches (the same for every candidate) and validates it.
pub(super) fn evaluate_inherited(
    bench: &Bench,
    model: &mut Model,
    params: &Assignment,
    num_bn_batch: usize,
) -> Result<Evaluation, TrialFailure> {
    model.apply(params).map_err(TrialFailure::new)?;
    let mut loader = bench.train_loader(derive_seed(bench.seed, "recalibrate", 0))?;
    recalibrate(model, &mut loader, num_bn_batch);
    let valid = bench.validate(model)?;
    let desc = bench.arch(params).map_err(TrialFailure::new)?;
    Ok(Evaluation {
        metrics: bench.metrics(model, None, &valid),
        cost: None,
        attrs: serde_json::json!({ "arch": desc }),
    })
}

impl Estimator for Spos {
    fn space(&self) -> Option<ParamSpace> {
        Some(self.bench.space().clone())
    }

    fn metric_names(&self) -> Option<Vec<String>> {
        Some(Bench::metric_names(false))
    }

    fn default_objectives(&self) -> Vec<Objective> {
        vec![Objective::maximize("val_acc")]
    }

    fn evaluate(
        &self,
        ctx: &EvalContext<'_>,
        params: &Assignment,
    ) -> Result<Evaluation, TrialFailure> {
        let mut guard = self.supernet.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(self.trained(ctx)?);
        }
        let Some(model) = guard.as_mut() else {
            return Err(TrialFailure::fatal("the supernet is missing"));
        };
        evaluate_inherited(&self.bench, model, params, self.args.num_bn_batch)
    }

    fn describe(&self, _space: &ParamSpace, params: &Assignment) -> Option<String> {
        super::subnet::describe(&self.bench, params)
    }

    fn max_parallel(&self) -> Option<usize> {
        // One supernet, changed by every evaluation.
        Some(1)
    }
}
