//! Random search: uniform draws, never repeating a point until a finite space is exhausted.

use crate::support::{Visited, from_state, sample_unvisited, space_exhausted, to_state};
use modnas_core::optimizer::{History, OptimContext, OptimError, OptimRegistry, Optimizer};
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::registry::{Args, RegistryError};
use modnas_core::seed::{Rng, rng_from_seed};
use modnas_core::trial::Observation;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Arguments of [`RandomSearch`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RandomArgs {}

impl Args for RandomArgs {}

/// Uniform random search without repeats.
pub struct RandomSearch {
    space: Arc<ParamSpace>,
    rng: Rng,
    visited: Visited,
}

#[derive(Serialize, Deserialize)]
struct State {
    rng: Rng,
}

impl RandomSearch {
    /// A random search seeded with `seed`.
    pub fn new(space: Arc<ParamSpace>, seed: u64) -> Self {
        RandomSearch {
            space,
            rng: rng_from_seed(seed),
            visited: Visited::default(),
        }
    }
}

impl Optimizer for RandomSearch {
    fn next(&mut self, n: usize) -> Result<Vec<Assignment>, OptimError> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match sample_unvisited(&self.space, &mut self.rng, &self.visited) {
                Some(a) => {
                    self.visited.insert(&a);
                    out.push(a);
                }
                None => break,
            }
        }
        Ok(out)
    }

    fn step(&mut self, _results: &[Observation]) -> Result<(), OptimError> {
        Ok(())
    }

    fn exhausted(&self) -> bool {
        space_exhausted(&self.space, &self.visited)
    }

    fn state(&self) -> String {
        to_state(&State {
            rng: self.rng.clone(),
        })
    }

    fn restore(&mut self, state: &str, history: &History) -> Result<(), OptimError> {
        let s: State = from_state(state)?;
        self.rng = s.rng;
        self.visited = Visited::from_history(history);
        Ok(())
    }
}

/// Registers `RandomSearch`.
pub fn register(reg: &mut OptimRegistry) -> Result<(), RegistryError> {
    reg.add::<RandomArgs>(
        "RandomSearch",
        &["Random"],
        "Uniform random search, no repeats until a finite space is exhausted. Good as a baseline, for a start, and for many parallel workers.",
        |_, ctx: &OptimContext| Ok(Box::new(RandomSearch::new(ctx.space.clone(), ctx.seed))),
    )
}
