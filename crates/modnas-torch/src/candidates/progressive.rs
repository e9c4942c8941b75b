//! `ProgressiveShrinking` (Once-for-All; paper App. G.4): one elastic supernet trained in stages
//! from the largest network to smaller ones nested within it — first the widths open up, one
//! choice per stage, then the depths. At the start of every stage the channels of each elastic
//! width are re-ranked by importance (L1 norm) so that narrower subnets keep the most important
//! ones, and a new weight optimizer starts. Every step trains `n_subnet_batch` subnets sampled
//! from the stage's choices on the same batch, accumulating their gradients, optionally with
//! knowledge distillation from the largest network (`kd_ratio`). Candidates proposed by any
//! discrete optimizer are then evaluated with inherited weights after batch-norm recalibration,
//! as in SPOS. The supernet is checkpointed every epoch under `supernet/`.

use super::bench::{Bench, ElasticInfo, Epochs};
use super::spos::{evaluate_inherited, load_weights};
use crate::model::Model;
use crate::routine::checkpoint;
use crate::train::{loss, weight_optimizer};
use modnas_core::config::ConfigError;
use modnas_core::estimator::{Estimator, EvalContext};
use modnas_core::objective::Objective;
use modnas_core::param::{Assignment, ParamSpace, ParamValue};
use modnas_core::registry::Args;
use modnas_core::seed::{Rng, derive_seed, rng_from_seed};
use modnas_core::trial::{Evaluation, TrialFailure};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Mutex;
use tch::Tensor;

/// One stage of progressive shrinking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Epochs of the stage.
    pub epochs: usize,
    /// Every elastic width may take its `width` largest choices (1: the largest only).
    pub width: usize,
    /// Every elastic depth may take its `depth` largest choices.
    pub depth: usize,
}

/// Arguments of `ProgressiveShrinking`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProgressiveArgs {
    /// The stages; by default: the largest network, then one more width choice per stage, then
    /// one more depth choice per stage, `epochs_per_stage` epochs each.
    pub stages: Option<Vec<Stage>>,
    /// Epochs of each default stage.
    pub epochs_per_stage: usize,
    /// At most this many batches per epoch (quick runs).
    pub max_steps: Option<usize>,
    /// Subnets trained on every batch (their gradients accumulate into one step).
    pub n_subnet_batch: usize,
    /// Training batches that recalibrate batch norm for each candidate (0: none).
    pub num_bn_batch: usize,
    /// Re-rank the channels of every elastic width at the start of each stage.
    pub rerank: bool,
    /// Weight of knowledge distillation from the largest network (0: none).
    pub kd_ratio: f64,
    /// A trained supernet to use instead of training one (a `supernet/` directory or a
    /// `weights.ot` file).
    pub supernet: Option<PathBuf>,
}

impl Default for ProgressiveArgs {
    fn default() -> Self {
        ProgressiveArgs {
            stages: None,
            epochs_per_stage: 1,
            max_steps: None,
            n_subnet_batch: 2,
            num_bn_batch: 20,
            rerank: true,
            kd_ratio: 0.0,
            supernet: None,
        }
    }
}

impl Args for ProgressiveArgs {
    fn check(&self) -> Result<(), (String, String)> {
        super::bench::check_epochs(self.epochs_per_stage, self.max_steps)?;
        if let Some(st) = &self.stages {
            if st.is_empty() {
                return Err((
                    "stages".into(),
                    "`stages` must list at least one stage".into(),
                ));
            }
            if let Some(i) = st
                .iter()
                .position(|s| s.epochs == 0 || s.width == 0 || s.depth == 0)
            {
                return Err((
                    "stages".into(),
                    format!("stage {i}: `epochs`, `width` and `depth` must be at least 1"),
                ));
            }
        }
        if !(1..=64).contains(&self.n_subnet_batch) {
            return Err((
                "n_subnet_batch".into(),
                "`n_subnet_batch` must be between 1 and 64".into(),
            ));
        }
        if !(self.kd_ratio >= 0.0 && self.kd_ratio.is_finite()) {
            return Err(("kd_ratio".into(), "`kd_ratio` must be 0 or more".into()));
        }
        modnas_core::registry::at_most("num_bn_batch", self.num_bn_batch, 1_000_000)
    }
}

/// The default stages over a space: the largest network, then widths, then depths.
pub fn default_stages(elastic: &[ElasticInfo], epochs: usize) -> Vec<Stage> {
    let most = |spatial: bool| {
        elastic
            .iter()
            .filter(|e| e.spatial == spatial)
            .map(|e| e.sizes.len())
            .max()
            .unwrap_or(1)
    };
    let (w, d) = (most(true), most(false));
    let mut v = vec![Stage {
        epochs,
        width: 1,
        depth: 1,
    }];
    v.extend((2..=w).map(|width| Stage {
        epochs,
        width,
        depth: 1,
    }));
    v.extend((2..=d).map(|depth| Stage {
        epochs,
        width: w,
        depth,
    }));
    v
}

/// The progressive-shrinking estimator.
pub struct Progressive {
    args: ProgressiveArgs,
    bench: Bench,
    stages: Vec<Stage>,
    supernet: Mutex<Option<Model>>,
}

impl Progressive {
    /// The estimator over `bench`'s network, which must have elastic parameters.
    pub fn new(args: ProgressiveArgs, bench: Bench) -> Result<Progressive, ConfigError> {
        if bench.elastic().is_empty() {
            return Err(ConfigError::new(
                "ProgressiveShrinking needs a network with elastic width or depth (e.g. `model: MobileNetV2-Elastic`)",
            ));
        }
        if let Some(p) = &args.supernet
            && !p.exists()
        {
            return Err(ConfigError::new(format!(
                "estim.args.supernet: {} does not exist",
                p.display()
            )));
        }
        let stages = args
            .stages
            .clone()
            .unwrap_or_else(|| default_stages(bench.elastic(), args.epochs_per_stage));
        Ok(Progressive {
            args,
            bench,
            stages,
            supernet: Mutex::new(None),
        })
    }

    /// The stages this estimator trains.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// A subnet of `stage`: every elastic parameter uniformly among its allowed largest choices,
    /// every other parameter uniformly; `largest` takes each elastic parameter's largest choice.
    fn sample(&self, stage: &Stage, rng: &mut Rng, largest: bool) -> Assignment {
        let space = self.bench.space();
        let mut a = space.sample(rng);
        for e in self.bench.elastic() {
            let Some(i) = space.position(&e.name) else {
                continue;
            };
            let mut order: Vec<usize> = (0..e.sizes.len()).collect();
            order.sort_by(|&x, &y| e.sizes[y].cmp(&e.sizes[x]).then(x.cmp(&y)));
            let k = if e.spatial { stage.width } else { stage.depth };
            let allowed = &order[..k.clamp(1, order.len())];
            let c = if largest {
                allowed[0]
            } else {
                allowed[rng.random_range(0..allowed.len())]
            };
            a.0[i] = ParamValue::Choice(c);
        }
        a
    }

    /// The trained supernet: loaded from `supernet:`, or trained stage by stage (resuming from
    /// the run directory's checkpoints).
    fn trained(&self, ctx: &EvalContext<'_>) -> Result<Model, TrialFailure> {
        let mut model = self
            .bench
            .supernet(self.bench.seed)
            .map_err(TrialFailure::fatal)?;
        if let Some(p) = &self.args.supernet {
            load_weights(&mut model, p).map_err(TrialFailure::fatal)?;
            return Ok(model);
        }
        let total: usize = self.stages.iter().map(|s| s.epochs).sum();
        let dir = ctx.run_dir.map(|d| d.join("supernet"));
        let mut done = dir
            .as_deref()
            .and_then(|d| checkpoint::available(d).last().copied())
            .unwrap_or(0)
            .min(total);
        let mut loaded = done == 0;
        if done > 0 {
            tracing::info!("supernet: resumed after {done} of {total} epochs");
        }
        let train = &self.bench.setup.train;
        let mut start = 0;
        for (k, stage) in self.stages.iter().enumerate() {
            let end = start + stage.epochs;
            if done >= end {
                start = end;
                continue;
            }
            let mut weights = weight_optimizer(&model, train);
            let first = done - start;
            if !loaded {
                if let Some(d) = &dir {
                    checkpoint::load(d, &mut model, &mut weights, None, done)
                        .map_err(TrialFailure::fatal)?;
                }
                loaded = true;
                if first == 0 {
                    weights = weight_optimizer(&model, train);
                }
            }
            if first == 0 && self.args.rerank {
                let moved = model.elastic.rerank();
                tracing::debug!("stage {k}: {moved} elastic widths re-ranked");
            }
            tracing::info!(
                "supernet: stage {}/{} (widths: {} largest, depths: {} largest), {} epochs, {} subnets per batch",
                k + 1,
                self.stages.len(),
                stage.width,
                stage.depth,
                stage.epochs - first,
                self.args.n_subnet_batch
            );
            let seed = derive_seed(self.bench.seed, "stage", k as u64);
            let epochs = Epochs {
                epochs: stage.epochs,
                max_steps: self.args.max_steps,
                seed,
                cancel: ctx.cancel,
            };
            let n = self.args.n_subnet_batch;
            let kd = self.args.kd_ratio;
            self.bench.train(
                &mut model,
                &mut weights,
                &epochs,
                first,
                &mut |m, w, x, y, epoch, step| {
                    let mut rng = rng_from_seed(derive_seed(
                        seed,
                        "path",
                        (epoch as u64) << 32 | step as u64,
                    ));
                    w.zero_grad();
                    let teacher = if kd > 0.0 {
                        m.apply(&self.sample(stage, &mut rng, true))?;
                        Some(tch::no_grad(|| m.forward(x, true)).softmax(-1, None))
                    } else {
                        None
                    };
                    let mut sum = 0.0;
                    let mut logits = None;
                    for _ in 0..n {
                        m.apply(&self.sample(stage, &mut rng, false))?;
                        let out = m.forward(x, true);
                        let mut l = loss(&out, y, train.label_smoothing);
                        if let Some(t) = &teacher {
                            l += soft_cross_entropy(&out, t) * kd;
                        }
                        l.backward();
                        sum += l.double_value(&[]);
                        logits = Some(out.detach());
                    }
                    if let Some(c) = train.grad_clip {
                        w.clip_grad_norm(c);
                    }
                    w.step();
                    let logits = logits.ok_or("no subnet was trained")?;
                    Ok((sum / n as f64, logits))
                },
                &mut |m, w, d| match &dir {
                    Some(dir) => {
                        checkpoint::save(dir, m, w, None, start + d)?;
                        checkpoint::prune(dir, start + d).map(|()| false)
                    }
                    None => Ok(false),
                },
            )?;
            done = end;
            start = end;
        }
        if !loaded && let Some(d) = &dir {
            // Every stage was already trained: the newest checkpoint is the supernet.
            let mut weights = weight_optimizer(&model, train);
            checkpoint::load(d, &mut model, &mut weights, None, done)
                .map_err(TrialFailure::fatal)?;
        }
        Ok(model)
    }
}

/// The cross-entropy of `logits` against the probabilities `target` (knowledge distillation).
fn soft_cross_entropy(logits: &Tensor, target: &Tensor) -> Tensor {
    -(logits.log_softmax(-1, None) * target)
        .sum_dim_intlist(&[-1i64][..], false, None)
        .mean(None)
}

impl Estimator for Progressive {
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
        Some(1)
    }
}
