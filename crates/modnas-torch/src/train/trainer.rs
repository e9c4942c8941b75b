//! Training and evaluation of a model's weights.

use super::optim::{OptimSpec, Optimizer, Schedule};
use crate::data::Loader;
use crate::model::Model;
use modnas_core::registry::Args;
use serde::{Deserialize, Serialize};
use tch::{Kind, Reduction, Tensor};

/// Arguments of the `trainer:` section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainArgs {
    /// The weight optimizer.
    pub optimizer: OptimSpec,
    /// The learning-rate schedule (over the estimator's epochs).
    pub lr_scheduler: Schedule,
    /// Clip the global gradient norm to this value.
    pub grad_clip: Option<f64>,
    /// Label smoothing of the cross-entropy loss.
    pub label_smoothing: f64,
    /// Weight of the auxiliary head's loss (networks that have one).
    pub aux_weight: f64,
    /// Drop-path probability, reached linearly at the last epoch (DARTS cells).
    pub drop_path: f64,
    /// CPU threads used by libtorch (default: the machine's).
    pub threads: Option<i32>,
}

impl Default for TrainArgs {
    fn default() -> Self {
        TrainArgs {
            optimizer: OptimSpec::Sgd {
                lr: 0.025,
                momentum: 0.9,
                nesterov: false,
                weight_decay: 3e-4,
            },
            lr_scheduler: Schedule::Cosine { eta_min: 0.001 },
            grad_clip: Some(5.0),
            label_smoothing: 0.0,
            aux_weight: 0.0,
            drop_path: 0.0,
            threads: None,
        }
    }
}

impl Args for TrainArgs {
    fn check(&self) -> Result<(), (String, String)> {
        self.optimizer
            .check()
            .map_err(|m| ("optimizer".to_string(), m))?;
        if self.grad_clip.is_some_and(|c| !(c > 0.0)) {
            return Err(("grad_clip".into(), "`grad_clip` must be positive".into()));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err((
                "label_smoothing".into(),
                "`label_smoothing` must be in [0, 1)".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.drop_path) || self.aux_weight < 0.0 {
            return Err((
                "drop_path".into(),
                "`drop_path` must be in [0, 1) and `aux_weight` not negative".into(),
            ));
        }
        if self.threads.is_some_and(|t| t < 1) {
            return Err(("threads".into(), "`threads` must be at least 1".into()));
        }
        Ok(())
    }
}

/// Loss and accuracy over some batches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Mean loss.
    pub loss: f64,
    /// Top-1 accuracy (fraction).
    pub acc1: f64,
    /// Top-5 accuracy (fraction).
    pub acc5: f64,
    /// Examples.
    pub n: i64,
}

impl Stats {
    /// Adds a batch.
    pub fn add(&mut self, loss: f64, logits: &Tensor, y: &Tensor) {
        let n = y.size()[0];
        let (a1, a5) = accuracy(logits, y);
        let tot = (self.n + n) as f64;
        self.loss = (self.loss * self.n as f64 + loss * n as f64) / tot;
        self.acc1 = (self.acc1 * self.n as f64 + a1 * n as f64) / tot;
        self.acc5 = (self.acc5 * self.n as f64 + a5 * n as f64) / tot;
        self.n += n;
    }
}

/// Top-1 and top-5 accuracy of a batch.
pub fn accuracy(logits: &Tensor, y: &Tensor) -> (f64, f64) {
    tch::no_grad(|| {
        let k = logits.size()[1].min(5);
        let (_, top) = logits.topk(k, 1, true, true);
        let hit = top.eq_tensor(&y.unsqueeze(1));
        let a1 = hit
            .narrow(1, 0, 1)
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[]);
        let a5 = hit
            .any_dim(1, false)
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[]);
        (a1, a5)
    })
}

/// Cross entropy with label smoothing.
pub fn loss(logits: &Tensor, y: &Tensor, label_smoothing: f64) -> Tensor {
    logits.cross_entropy_loss::<Tensor>(y, None, Reduction::Mean, -100, label_smoothing)
}

/// A weight optimizer for `model` from the settings.
pub fn weight_optimizer(model: &Model, a: &TrainArgs) -> Optimizer {
    Optimizer::new(a.optimizer.clone(), model.weights())
}

/// Sets the learning rate and drop-path probability of `epoch` out of `epochs`.
pub fn begin_epoch(model: &Model, opt: &mut Optimizer, a: &TrainArgs, epoch: usize, epochs: usize) {
    opt.set_lr(a.lr_scheduler.lr(a.optimizer.lr(), epoch, epochs));
    model
        .drop_path
        .set(a.drop_path * epoch as f64 / epochs.max(1) as f64);
}

/// One weight update on a batch; returns the loss and the logits.
pub fn train_step(
    model: &Model,
    opt: &mut Optimizer,
    a: &TrainArgs,
    x: &Tensor,
    y: &Tensor,
) -> (f64, Tensor) {
    opt.zero_grad();
    let logits = model.forward(x, true);
    let mut l = loss(&logits, y, a.label_smoothing);
    if let Some(aux) = model.net.take_aux()
        && a.aux_weight > 0.0
    {
        l = &l + loss(&aux, y, a.label_smoothing) * a.aux_weight;
    }
    l.backward();
    if let Some(c) = a.grad_clip {
        opt.clip_grad_norm(c);
    }
    opt.step();
    (l.double_value(&[]), logits.detach())
}

/// Evaluates on every example of `loader` (one whole pass from its start).
pub fn evaluate(model: &Model, loader: &mut Loader) -> Stats {
    let mut s = Stats::default();
    loader.rewind();
    tch::no_grad(|| {
        while let Some((x, y)) = loader.next_batch(false) {
            let logits = model.forward(&x, false);
            let l = loss(&logits, &y, 0.0).double_value(&[]);
            s.add(l, &logits, &y);
        }
    });
    s
}
