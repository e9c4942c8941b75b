//! Grid search: every point of a finite space, in mixed-radix order (first parameter fastest).

use crate::support::{Visited, from_state, to_state};
use modnas_core::config::ConfigError;
use modnas_core::optimizer::{
    History, OptimContext, OptimError, OptimRegistry, Optimizer, require_finite,
};
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::registry::{Args, RegistryError};
use modnas_core::trial::Observation;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Arguments of [`GridSearch`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GridArgs {}

impl Args for GridArgs {}

/// Walks the mixed-radix index `0..N`.
pub struct GridSearch {
    space: Arc<ParamSpace>,
    total: u128,
    next_index: u128,
    visited: Visited,
}

#[derive(Serialize, Deserialize)]
struct State {
    next_index: String,
}

impl GridSearch {
    /// A grid search over a finite space.
    pub fn new(space: Arc<ParamSpace>) -> Result<Self, ConfigError> {
        require_finite(
            &space,
            "GridSearch",
            "give real-valued parameters a list of `choices`, or use RandomSearch / GP",
        )?;
        let total = space
            .cardinality()
            .map_err(|e| ConfigError::new(e.to_string()))?;
        Ok(GridSearch {
            space,
            total,
            next_index: 0,
            visited: Visited::default(),
        })
    }
}

impl Optimizer for GridSearch {
    fn next(&mut self, n: usize) -> Result<Vec<Assignment>, OptimError> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n && self.next_index < self.total {
            let a = self
                .space
                .assignment_at(self.next_index)
                .map_err(|e| OptimError::Other(e.to_string()))?;
            self.next_index += 1;
            if self.visited.insert(&a) {
                out.push(a);
            }
        }
        Ok(out)
    }

    fn step(&mut self, _results: &[Observation]) -> Result<(), OptimError> {
        Ok(())
    }

    fn exhausted(&self) -> bool {
        self.next_index >= self.total
    }

    fn state(&self) -> String {
        to_state(&State {
            next_index: self.next_index.to_string(),
        })
    }

    fn restore(&mut self, state: &str, history: &History) -> Result<(), OptimError> {
        let s: State = from_state(state)?;
        self.next_index = s
            .next_index
            .parse()
            .map_err(|_| OptimError::State("bad grid index".into()))?;
        self.visited = Visited::from_history(history);
        Ok(())
    }
}

/// Registers `GridSearch`.
pub fn register(reg: &mut OptimRegistry) -> Result<(), RegistryError> {
    reg.add::<GridArgs>(
        "GridSearch",
        &["Grid"],
        "Every point of a finite space in mixed-radix order (first parameter fastest). Good for small spaces that can be covered whole.",
        |_, ctx: &OptimContext| Ok(Box::new(GridSearch::new(ctx.space.clone())?)),
    )
}
