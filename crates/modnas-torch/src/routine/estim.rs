//! Estimators of the tensor layer: `Default` (train and validate) and `SuperNet` (weights and
//! architecture parameters updated alternately), chained in order on one model.

use crate::data::Loader;
use crate::grad::{ArchBatch, ArchOptimizer, without_alpha_grads};
use crate::model::Model;
use crate::train::{Optimizer, Stats, TrainArgs, begin_epoch, evaluate, train_step};
use modnas_core::registry::{Args, Registry, RegistryError};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};

/// Arguments of the `Default` estimator.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DefaultArgs {
    /// Training epochs.
    pub epochs: usize,
    /// Evaluate on the test set after the last epoch.
    pub test: bool,
    /// At most this many batches per epoch (quick runs).
    pub max_steps: Option<usize>,
}

impl Default for DefaultArgs {
    fn default() -> Self {
        DefaultArgs {
            epochs: 1,
            test: true,
            max_steps: None,
        }
    }
}

impl Args for DefaultArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if self.epochs == 0 || self.max_steps == Some(0) {
            return Err((
                "epochs".into(),
                "`epochs` (and `max_steps`) must be at least 1".into(),
            ));
        }
        modnas_core::registry::at_most("epochs", self.epochs, 100_000)
    }
}

/// Arguments of the `SuperNet` estimator (the reference's architecture-update schedule).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SuperNetArgs {
    /// Search epochs.
    pub epochs: usize,
    /// First epoch with architecture updates (earlier ones only train weights: a warm-up).
    pub arch_update_epoch_start: usize,
    /// Architecture updates every this many epochs.
    pub arch_update_epoch_intv: usize,
    /// An architecture update every this many weight steps (0: once at the end of the epoch).
    pub arch_update_intv: usize,
    /// Architecture steps per update.
    pub arch_update_batch: usize,
    /// At most this many batches per epoch (quick runs).
    pub max_steps: Option<usize>,
}

impl Default for SuperNetArgs {
    fn default() -> Self {
        SuperNetArgs {
            epochs: 1,
            arch_update_epoch_start: 0,
            arch_update_epoch_intv: 1,
            arch_update_intv: 1,
            arch_update_batch: 1,
            max_steps: None,
        }
    }
}

impl Args for SuperNetArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if self.epochs == 0
            || self.arch_update_epoch_intv == 0
            || self.arch_update_batch == 0
            || self.max_steps == Some(0)
        {
            return Err(("epochs".into(), "`epochs`, `arch_update_epoch_intv`, `arch_update_batch` and `max_steps` must be at least 1".into()));
        }
        modnas_core::registry::at_most("epochs", self.epochs, 100_000)?;
        modnas_core::registry::at_most("arch_update_batch", self.arch_update_batch, 10_000)
    }
}

/// What an estimator works with.
pub struct EstimRun<'a> {
    /// The model.
    pub model: &'a mut Model,
    /// The architecture optimizer (for `SuperNet`).
    pub optim: Option<&'a mut (dyn ArchOptimizer + 'static)>,
    /// The weight optimizer.
    pub weights: &'a mut Optimizer,
    /// Training settings.
    pub train: &'a TrainArgs,
    /// Training batches.
    pub train_loader: &'a mut Loader,
    /// Validation batches.
    pub valid_loader: &'a mut Loader,
    /// Test batches.
    pub test_loader: Option<&'a mut Loader>,
    /// Set when the run should stop (Ctrl-C): the epoch ends after its current batch.
    pub interrupt: &'a AtomicBool,
    /// Called after each training batch with (batches done, batches in the epoch, images done).
    pub on_batch: &'a mut dyn FnMut(usize, usize, usize),
}

/// Reports a finished training batch; true when the run should stop now.
fn batch_done(
    on_batch: &mut dyn FnMut(usize, usize, usize),
    interrupt: &AtomicBool,
    done: usize,
    total: usize,
    images: usize,
) -> bool {
    on_batch(done, total, images);
    interrupt.load(Ordering::SeqCst)
}

/// Where a run is within an epoch (for progress displays).
#[derive(Clone, Debug)]
pub struct BatchProgress<'s> {
    /// The estimator.
    pub estim: &'s str,
    /// The epoch (from 0).
    pub epoch: usize,
    /// Epochs of this estimator.
    pub epochs: usize,
    /// Training batches done in this epoch.
    pub batch: usize,
    /// Training batches in this epoch.
    pub batches: usize,
    /// Training images done in this epoch.
    pub images: usize,
}

/// Training batches an epoch runs: the loader's, at most `max_steps`.
fn batches(loader: &Loader, max_steps: Option<usize>) -> usize {
    let n = loader.batches_per_epoch();
    max_steps.map_or(n, |m| m.min(n))
}

/// One epoch's results.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EpochResult {
    /// Training loss and accuracy.
    pub train: Stats,
    /// Validation loss and accuracy.
    pub valid: Stats,
    /// Test loss and accuracy (after the last epoch of a `Default` estimator with `test`).
    pub test: Option<Stats>,
    /// Seconds of training and evaluation.
    pub seconds: f64,
    /// Stopped by an interrupt before the epoch ended (the result is incomplete).
    #[serde(skip)]
    pub interrupted: bool,
}

/// An estimator of the tensor layer.
pub trait TorchEstim: Send {
    /// Epochs to run.
    fn epochs(&self) -> usize;
    /// Runs epoch `epoch` (from 0).
    fn run_epoch(&mut self, r: &mut EstimRun<'_>, epoch: usize) -> Result<EpochResult, String>;
}

/// Default: trains the weights and validates.
pub struct DefaultEstim(pub DefaultArgs);

impl TorchEstim for DefaultEstim {
    fn epochs(&self) -> usize {
        self.0.epochs
    }

    fn run_epoch(&mut self, r: &mut EstimRun<'_>, epoch: usize) -> Result<EpochResult, String> {
        let start = std::time::Instant::now();
        begin_epoch(r.model, r.weights, r.train, epoch, self.0.epochs);
        let mut train = Stats::default();
        let mut steps = 0;
        let (total, mut images) = (batches(r.train_loader, self.0.max_steps), 0);
        while let Some((x, y)) = r.train_loader.next_batch(false) {
            let (l, logits) =
                without_alpha_grads(r.model, || train_step(r.model, r.weights, r.train, &x, &y));
            check_loss(l)?;
            train.add(l, &logits, &y);
            steps += 1;
            images += y.size()[0] as usize;
            if batch_done(r.on_batch, r.interrupt, steps, total, images) {
                return Ok(EpochResult {
                    interrupted: true,
                    ..Default::default()
                });
            }
            if self.0.max_steps.is_some_and(|m| steps >= m) {
                while r.train_loader.next_batch(false).is_some() {}
                break;
            }
        }
        let valid = evaluate(r.model, r.valid_loader);
        let test = match (
            &mut r.test_loader,
            self.0.test && epoch + 1 == self.0.epochs,
        ) {
            (Some(t), true) => Some(evaluate(r.model, t)),
            _ => None,
        };
        Ok(EpochResult {
            train,
            valid,
            test,
            seconds: start.elapsed().as_secs_f64(),
            interrupted: false,
        })
    }
}

fn check_loss(l: f64) -> Result<(), String> {
    if l.is_finite() {
        Ok(())
    } else {
        Err(format!(
            "the training loss became {l}; lower the learning rate or clip gradients (`trainer.grad_clip`)"
        ))
    }
}

/// SuperNet: each training step may first update α on a validation batch (per the schedule),
/// then updates the weights on the training batch.
pub struct SuperNetEstim(pub SuperNetArgs);

impl TorchEstim for SuperNetEstim {
    fn epochs(&self) -> usize {
        self.0.epochs
    }

    fn run_epoch(&mut self, r: &mut EstimRun<'_>, epoch: usize) -> Result<EpochResult, String> {
        let a = &self.0;
        let start = std::time::Instant::now();
        begin_epoch(r.model, r.weights, r.train, epoch, a.epochs);
        let Some(optim) = r.optim.as_deref_mut() else {
            return Err("the SuperNet estimator needs an architecture optimizer (`optim:`)".into());
        };
        optim.begin_epoch(r.model, epoch, a.epochs);
        let active = epoch >= a.arch_update_epoch_start
            && (epoch - a.arch_update_epoch_start).is_multiple_of(a.arch_update_epoch_intv);
        let mut train = Stats::default();
        let mut step = 0usize;
        let mut last: Option<(tch::Tensor, tch::Tensor)> = None;
        let (total, mut images) = (batches(r.train_loader, a.max_steps), 0);
        while let Some((x, y)) = r.train_loader.next_batch(false) {
            if active && a.arch_update_intv > 0 && step.is_multiple_of(a.arch_update_intv) {
                for _ in 0..a.arch_update_batch {
                    let (xv, yv) = r
                        .valid_loader
                        .next_batch(true)
                        .ok_or("the validation set is empty")?;
                    optim.step(
                        r.model,
                        &ArchBatch {
                            train: (&x, &y),
                            valid: (&xv, &yv),
                        },
                        r.weights,
                        r.train,
                    )?;
                }
            }
            optim.before_weight_step(r.model);
            let (l, logits) =
                without_alpha_grads(r.model, || train_step(r.model, r.weights, r.train, &x, &y));
            check_loss(l)?;
            train.add(l, &logits, &y);
            step += 1;
            images += y.size()[0] as usize;
            if batch_done(r.on_batch, r.interrupt, step, total, images) {
                return Ok(EpochResult {
                    interrupted: true,
                    ..Default::default()
                });
            }
            let stop = a.max_steps.is_some_and(|m| step >= m);
            last = Some((x, y));
            if stop {
                while r.train_loader.next_batch(false).is_some() {}
                break;
            }
        }
        if active
            && a.arch_update_intv == 0
            && let Some((x, y)) = &last
        {
            for _ in 0..a.arch_update_batch {
                let (xv, yv) = r
                    .valid_loader
                    .next_batch(true)
                    .ok_or("the validation set is empty")?;
                optim.step(
                    r.model,
                    &ArchBatch {
                        train: (x, y),
                        valid: (&xv, &yv),
                    },
                    r.weights,
                    r.train,
                )?;
            }
        }
        // Evaluate the supernet as derived so far (binary gates take their most likely paths).
        let valid = evaluate(r.model, r.valid_loader);
        Ok(EpochResult {
            train,
            valid,
            test: None,
            seconds: start.elapsed().as_secs_f64(),
            interrupted: false,
        })
    }
}

/// What estimator builders get (nothing).
pub struct EstimCtx;

/// The registry of tensor-layer estimators.
pub type TorchEstimRegistry = Registry<dyn TorchEstim, EstimCtx>;

/// Registers the estimators.
pub fn register_all(reg: &mut TorchEstimRegistry) -> Result<(), RegistryError> {
    reg.add::<DefaultArgs>(
        "Default",
        &["DefaultEstim", "Train", "Augment"],
        "Trains the weights for `epochs` and validates every epoch; tests after the last.",
        |a, _| Ok(Box::new(DefaultEstim(a))),
    )?;
    reg.add::<SuperNetArgs>(
        "SuperNet",
        &["SuperNetEstim", "Supernet"],
        "Alternates architecture steps (validation batches) and weight steps (training batches) on one supernet: DARTS, SNAS, ProxylessNAS, REINFORCE.",
        |a, _| Ok(Box::new(SuperNetEstim(a))),
    )
}

/// A registry with every tensor-layer estimator.
pub fn registry() -> TorchEstimRegistry {
    let mut r = Registry::new("estimator", &["estimator", "estim"]);
    register_all(&mut r).expect("estimator names are unique");
    r
}
