//! The Optimizer interface (the paper's Ω): ask with [`Optimizer::next`], tell with
//! [`Optimizer::step`].

use crate::config::ConfigError;
use crate::param::{Assignment, ParamSpace};
use crate::prune::Pruner;
use crate::trial::Observation;
use std::sync::Arc;

/// Errors of optimizers.
#[derive(Debug, thiserror::Error)]
pub enum OptimError {
    /// A saved state could not be read back.
    #[error("cannot restore the optimizer state: {0}")]
    State(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// What an optimizer is rebuilt from after a restart: every proposal ever made (in trial-number
/// order) and every result it had been told (in the order it was told).
#[derive(Clone, Debug, Default)]
pub struct History {
    /// All proposals, by trial number.
    pub proposed: Vec<Assignment>,
    /// Results already told.
    pub observed: Vec<Observation>,
}

/// A search algorithm over a [`ParamSpace`].
///
/// Optimizers are seeded and deterministic: the same seed and the same sequence of calls give the
/// same proposals. Their state is saved after every call and restored after a crash.
pub trait Optimizer: Send {
    /// Proposes up to `n` assignments to evaluate. Fewer (even none) means it waits for results
    /// (see [`Optimizer::exhausted`] for the difference with having nothing left to propose).
    fn next(&mut self, n: usize) -> Result<Vec<Assignment>, OptimError>;

    /// Learns from finished trials.
    fn step(&mut self, results: &[Observation]) -> Result<(), OptimError>;

    /// Whether it will never propose anything again (a finite space fully visited).
    fn exhausted(&self) -> bool {
        false
    }

    /// A snapshot of the state as JSON text (random generator included). Derived data that can
    /// be rebuilt from the [`History`] (visited sets, training data) may be left out.
    fn state(&self) -> String;

    /// Restores a snapshot made by [`Optimizer::state`].
    fn restore(&mut self, state: &str, history: &History) -> Result<(), OptimError>;

    /// The pruner this optimizer is designed to work with (BOHB: the Hyperband brackets its
    /// budgets come from), used when the configuration names no pruner; `None` (the default):
    /// no pruner unless one is configured.
    fn companion_pruner(&self) -> Option<Box<dyn Pruner>> {
        None
    }
}

/// What optimizer builders get.
pub struct OptimContext {
    /// The space to search.
    pub space: Arc<ParamSpace>,
    /// The optimizer's seed.
    pub seed: u64,
}

/// The optimizer registry.
pub type OptimRegistry = crate::registry::Registry<dyn Optimizer, OptimContext>;

/// A new, empty optimizer registry (names may end with `Optim` / `Optimizer`).
pub fn new_registry() -> OptimRegistry {
    crate::registry::Registry::new("optimizer", &["optimizer", "optim"])
}

/// Fails with a clear configuration error when the space has real-valued parameters and the
/// optimizer cannot handle them.
pub fn require_finite(space: &ParamSpace, optimizer: &str, hint: &str) -> Result<(), ConfigError> {
    if let Some(p) = space
        .params()
        .iter()
        .find(|p| p.domain.cardinality().is_none())
    {
        return Err(ConfigError::new(format!(
            "{optimizer} needs a finite space, but parameter `{}` is {}",
            p.name,
            p.domain.describe()
        ))
        .with_hint(hint.to_string()));
    }
    Ok(())
}
