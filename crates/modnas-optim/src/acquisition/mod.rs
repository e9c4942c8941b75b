//! Acquisition searches: find the assignments a surrogate model predicts best (SMBO).

mod anneal;
mod random;

pub use anneal::{Annealing, AnnealingArgs};
pub use random::{RandomSampling, RandomSamplingArgs};

use crate::support::Visited;
use crate::surrogate::Surrogate;
use modnas_core::optimizer::OptimError;
use modnas_core::param::{Assignment, AssignmentKey, ParamSpace};
use modnas_core::registry::{Registry, RegistryError};
use modnas_core::seed::Rng;
use std::collections::HashSet;

/// Searches a surrogate model for promising assignments.
pub trait Acquisition: Send {
    /// Up to `k` assignments not in `visited`, best predicted first.
    fn propose(
        &mut self,
        space: &ParamSpace,
        model: &dyn Surrogate,
        k: usize,
        visited: &Visited,
        rng: &mut Rng,
    ) -> Vec<Assignment>;
    /// Serialisable state (e.g. persistent annealing chains).
    fn state(&self) -> String {
        String::new()
    }
    /// Restores [`Acquisition::state`].
    fn restore(&mut self, _state: &str) -> Result<(), OptimError> {
        Ok(())
    }
}

/// What acquisition builders get (nothing yet).
pub struct AcquisitionContext;

/// The acquisition registry.
pub type AcquisitionRegistry = Registry<dyn Acquisition, AcquisitionContext>;

/// Registers every acquisition search.
pub fn register_all(reg: &mut AcquisitionRegistry) -> Result<(), RegistryError> {
    reg.add::<AnnealingArgs>(
        "Annealing",
        &["SimulatedAnnealing", "SA", "SimulatedAnnealingModelOptim"],
        "Parallel simulated-annealing chains over the space, one parameter changed per move (AutoTVM-style).",
        |a, _| Ok(Box::new(Annealing::new(a))),
    )?;
    reg.add::<RandomSamplingArgs>(
        "RandomSampling",
        &["RandomSamplingModelOptim"],
        "Scores random unvisited points and keeps the best.",
        |a, _| Ok(Box::new(RandomSampling::new(a))),
    )
}

/// A new acquisition registry filled with every acquisition search.
pub fn registry() -> AcquisitionRegistry {
    let mut r = Registry::new("acquisition", &["modeloptim"]);
    register_all(&mut r).expect("acquisition names are unique");
    r
}

/// The best `k` distinct candidates, kept sorted (best first).
pub(crate) struct TopK {
    k: usize,
    items: Vec<(f64, Assignment)>,
    keys: HashSet<AssignmentKey>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        TopK {
            k,
            items: Vec::with_capacity(k + 1),
            keys: HashSet::new(),
        }
    }

    /// Offers a candidate; `true` if it entered the set.
    pub(crate) fn offer(&mut self, score: f64, a: &Assignment, visited: &Visited) -> bool {
        if self.k == 0 || !score.is_finite() {
            return false;
        }
        if self.items.len() == self.k && score <= self.items[self.k - 1].0 {
            return false;
        }
        let key = a.key();
        if self.keys.contains(&key) || visited.contains(a) {
            return false;
        }
        let pos = self.items.partition_point(|(s, _)| *s >= score);
        self.items.insert(pos, (score, a.clone()));
        self.keys.insert(key);
        if self.items.len() > self.k
            && let Some((_, out)) = self.items.pop()
        {
            self.keys.remove(&out.key());
        }
        true
    }

    pub(crate) fn into_vec(self) -> Vec<Assignment> {
        self.items.into_iter().map(|(_, a)| a).collect()
    }
}
