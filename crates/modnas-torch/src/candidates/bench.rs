//! What the candidate estimators share: the network setup, a template of the search space (an
//! `Index` supernet that turns assignments into architecture descriptions), the data, and the
//! training and validation passes.

use crate::data::{Loader, Splits, load_splits};
use crate::grad::without_alpha_grads;
use crate::metrics::count;
use crate::mixed::MixKind;
use crate::model::{ArchDesc, Conversion, Model, ModelOptions};
use crate::setup::NetworkSetup;
use crate::train::{Optimizer, Stats, begin_epoch, evaluate, train_step};
use modnas_core::config::ConfigError;
use modnas_core::objective::Metrics;
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::seed::derive_seed;
use modnas_core::trial::TrialFailure;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tch::Tensor;

/// The network, its search space and its data, shared by the evaluations of a run.
pub struct Bench {
    /// The network setup.
    pub setup: Arc<NetworkSetup>,
    /// The estimator's seed.
    pub seed: u64,
    space: ParamSpace,
    elastic: Vec<ElasticInfo>,
    splits: Mutex<Option<Splits>>,
}

/// An elastic parameter of the space: its name, whether it is a width (else a depth), and the
/// size (channels or blocks) of each choice.
#[derive(Clone, Debug)]
pub struct ElasticInfo {
    /// The parameter.
    pub name: String,
    /// A width (spatial group), else a depth (sequential group).
    pub spatial: bool,
    /// Channels or blocks of each choice.
    pub sizes: Vec<i64>,
}

/// One weight step on a batch: `(model, weights, x, y, epoch, step)` to the loss and the logits.
pub type BatchStep<'a> = dyn FnMut(
        &mut Model,
        &mut Optimizer,
        &Tensor,
        &Tensor,
        usize,
        usize,
    ) -> Result<(f64, Tensor), String>
    + 'a;

/// Training passes of one evaluation.
pub struct Epochs<'a> {
    /// Epochs to train.
    pub epochs: usize,
    /// At most this many batches per epoch.
    pub max_steps: Option<usize>,
    /// Seed of the batches (each epoch derives its own).
    pub seed: u64,
    /// Set when the search is interrupted.
    pub cancel: &'a AtomicBool,
}

impl Bench {
    /// The bench of `setup`: its slots become `Index` operators over their candidates.
    pub fn new(setup: Arc<NetworkSetup>, seed: u64) -> Result<Bench, ConfigError> {
        let template = Self::build_model(&setup, Self::space_conversion(&setup), seed)
            .map_err(ConfigError::new)?;
        if template.space.is_empty() {
            return Err(ConfigError::new(
                "the network has no slot with more than one candidate: nothing to search",
            ));
        }
        let elastic = template
            .elastic
            .params()
            .iter()
            .map(|p| ElasticInfo {
                name: p.name.clone(),
                spatial: p.kind.is_spatial(),
                sizes: (0..p.labels.len()).map(|i| p.kind.size(i)).collect(),
            })
            .collect();
        Ok(Bench {
            elastic,
            space: template.space.clone(),
            setup,
            seed,
            splits: Mutex::new(None),
        })
    }

    fn space_conversion(setup: &NetworkSetup) -> Conversion {
        Conversion::Mixed {
            kind: MixKind::Index,
            candidates: setup.candidates.clone(),
        }
    }

    fn build_model(
        setup: &NetworkSetup,
        conversion: Conversion,
        seed: u64,
    ) -> Result<Model, String> {
        Model::build(
            setup.backbone.as_ref(),
            &ModelOptions {
                conversion,
                style: setup.style,
                seed,
                device: setup.device,
            },
        )
        .map_err(|e| e.to_string())
    }

    /// The elastic parameters of the space.
    pub fn elastic(&self) -> &[ElasticInfo] {
        &self.elastic
    }

    /// The categorical parameters of the slots.
    pub fn space(&self) -> &ParamSpace {
        &self.space
    }

    /// The architecture description of an assignment: every slot's (or share group's, or DAG
    /// edge's) operation, exactly as evaluated (a DAG keeps every edge whose operation is not
    /// `NIL`, not only the two strongest per node as a gradient search's export does).
    pub fn arch(&self, params: &Assignment) -> Result<ArchDesc, String> {
        self.space.validate(params).map_err(|e| e.to_string())?;
        Ok(self.space.to_json(params))
    }

    /// The network of one architecture, built on its own, initialised with `seed`.
    pub fn standalone(&self, desc: ArchDesc, seed: u64) -> Result<Model, String> {
        Self::build_model(&self.setup, Conversion::Fixed(desc), seed)
    }

    /// The whole search space as one network of `Index` operators (a weight-sharing supernet).
    pub fn supernet(&self, seed: u64) -> Result<Model, String> {
        Self::build_model(&self.setup, Self::space_conversion(&self.setup), seed)
    }

    /// Runs `f` on the data, loaded on first use.
    fn with_splits<R>(&self, f: impl FnOnce(&Splits) -> R) -> Result<R, String> {
        let mut s = self.splits.lock().unwrap_or_else(|p| p.into_inner());
        if s.is_none() {
            let loaded = load_splits(&self.setup.data, &self.setup.data_base, self.seed)
                .map_err(|e| e.to_string())?;
            let shape = self.setup.backbone.input_shape();
            if loaded.shape != shape {
                return Err(format!(
                    "the data has images of shape {:?}, the network expects {shape:?}",
                    loaded.shape
                ));
            }
            *s = Some(loaded);
        }
        match s.as_ref() {
            Some(splits) => Ok(f(splits)),
            None => Err("the data is not loaded".into()),
        }
    }

    /// Training batches (shuffled with `seed`, augmented as configured).
    pub fn train_loader(&self, seed: u64) -> Result<Loader, TrialFailure> {
        self.with_splits(|splits| {
            Loader::new(
                &splits.train,
                &splits.mean,
                &splits.std,
                self.setup.data.batch_size,
                true,
                self.setup.data.augment,
                seed,
                self.setup.device,
            )
        })
        .map_err(TrialFailure::fatal)
    }

    /// Validation batches, in order.
    pub fn valid_loader(&self) -> Result<Loader, TrialFailure> {
        self.with_splits(|splits| {
            Loader::new(
                &splits.valid,
                &splits.mean,
                &splits.std,
                self.setup.data.batch_size,
                false,
                Default::default(),
                0,
                self.setup.device,
            )
        })
        .map_err(TrialFailure::fatal)
    }

    /// One plain weight step of `model` on a batch (architecture parameters frozen): the loss and
    /// the logits.
    pub fn plain_step(
        &self,
        model: &Model,
        weights: &mut Optimizer,
        x: &Tensor,
        y: &Tensor,
    ) -> (f64, Tensor) {
        without_alpha_grads(model, || {
            train_step(model, weights, &self.setup.train, x, y)
        })
    }

    /// Trains `model` from epoch `first_epoch` to `e.epochs`; `step` makes every weight step
    /// (e.g. path sampling, then [`Bench::plain_step`]), `after_epoch(model, weights, done)` runs
    /// after every epoch (checkpoints, reports; `true` stops the training). Returns the last
    /// epoch's training statistics.
    pub fn train(
        &self,
        model: &mut Model,
        weights: &mut Optimizer,
        e: &Epochs<'_>,
        first_epoch: usize,
        step: &mut BatchStep<'_>,
        after_epoch: &mut dyn FnMut(&Model, &Optimizer, usize) -> Result<bool, String>,
    ) -> Result<Stats, TrialFailure> {
        let mut stats = Stats::default();
        for epoch in first_epoch..e.epochs {
            begin_epoch(model, weights, &self.setup.train, epoch, e.epochs);
            let es = derive_seed(e.seed, "epoch", epoch as u64);
            tch::manual_seed(es as i64);
            let mut loader = self.train_loader(derive_seed(es, "train", 0))?;
            stats = Stats::default();
            let mut steps = 0;
            while let Some((x, y)) = loader.next_batch(false) {
                if e.cancel.load(Ordering::SeqCst) {
                    return Err(TrialFailure::cancelled());
                }
                let (l, logits) =
                    step(model, weights, &x, &y, epoch, steps).map_err(TrialFailure::new)?;
                if !l.is_finite() {
                    return Err(TrialFailure::new(format!(
                        "the training loss became {l}; lower the learning rate or clip gradients (`trainer.grad_clip`)"
                    )));
                }
                stats.add(l, &logits, &y);
                steps += 1;
                if e.max_steps.is_some_and(|m| steps >= m) {
                    break;
                }
            }
            if after_epoch(model, weights, epoch + 1).map_err(TrialFailure::new)? {
                break;
            }
        }
        Ok(stats)
    }

    /// Validation statistics of `model`.
    pub fn validate(&self, model: &Model) -> Result<Stats, TrialFailure> {
        Ok(evaluate(model, &mut self.valid_loader()?))
    }

    /// The metrics of a candidate: validation (and training) loss and accuracy in percent, its
    /// parameters and multiply-accumulates of one image, in millions.
    pub fn metrics(&self, model: &Model, train: Option<&Stats>, valid: &Stats) -> Metrics {
        let mut m = Metrics::new();
        m.insert("val_acc".into(), 100.0 * valid.acc1);
        m.insert("val_acc5".into(), 100.0 * valid.acc5);
        m.insert("val_loss".into(), valid.loss);
        if let Some(t) = train {
            m.insert("train_acc".into(), 100.0 * t.acc1);
            m.insert("train_loss".into(), t.loss);
        }
        let (c, _) = tch::no_grad(|| count(model, self.setup.backbone.input_shape()));
        m.insert("params_m".into(), c.params / 1e6);
        m.insert("macs_m".into(), c.macs / 1e6);
        m
    }

    /// The metric names of [`Bench::metrics`].
    pub fn metric_names(with_train: bool) -> Vec<String> {
        let mut v = vec!["val_acc", "val_acc5", "val_loss", "params_m", "macs_m"];
        if with_train {
            v.extend(["train_acc", "train_loss"]);
        }
        v.into_iter().map(String::from).collect()
    }
}

/// The shared check of `epochs` and `max_steps` arguments (both at least 1, epochs bounded).
pub fn check_epochs(epochs: usize, max_steps: Option<usize>) -> Result<(), (String, String)> {
    if epochs == 0 || max_steps == Some(0) {
        return Err((
            "epochs".into(),
            "`epochs` (and `max_steps`) must be at least 1".into(),
        ));
    }
    modnas_core::registry::at_most("epochs", epochs, 100_000)
}
