//! Training: optimizers, schedules, losses, the weight-training step and evaluation.

pub mod optim;
pub mod trainer;

pub use optim::{OptimSpec, Optimizer, Schedule};
pub use trainer::{
    Stats, TrainArgs, accuracy, begin_epoch, evaluate, loss, train_step, weight_optimizer,
};
