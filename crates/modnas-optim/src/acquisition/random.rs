//! Random-sampling acquisition: score random unvisited points, keep the best.

use super::{Acquisition, TopK};
use crate::support::{Visited, sample_unvisited};
use crate::surrogate::Surrogate;
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::registry::Args;
use modnas_core::seed::Rng;
use serde::{Deserialize, Serialize};

/// Arguments of [`RandomSampling`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RandomSamplingArgs {
    /// Points scored per call.
    pub n_samples: usize,
}

impl Default for RandomSamplingArgs {
    fn default() -> Self {
        RandomSamplingArgs { n_samples: 1000 }
    }
}

impl Args for RandomSamplingArgs {
    fn check(&self) -> Result<(), (String, String)> {
        modnas_core::registry::at_most("n_samples", self.n_samples, 10_000_000)?;
        if self.n_samples == 0 {
            return Err(("n_samples".into(), "`n_samples` must be at least 1".into()));
        }
        Ok(())
    }
}

/// Random-sampling acquisition.
pub struct RandomSampling {
    args: RandomSamplingArgs,
}

impl RandomSampling {
    /// A new search.
    pub fn new(args: RandomSamplingArgs) -> Self {
        RandomSampling { args }
    }
}

impl Acquisition for RandomSampling {
    fn propose(
        &mut self,
        space: &ParamSpace,
        model: &dyn Surrogate,
        k: usize,
        visited: &Visited,
        rng: &mut Rng,
    ) -> Vec<Assignment> {
        let mut top = TopK::new(k);
        let mut buf = Vec::new();
        for _ in 0..self.args.n_samples {
            let Some(a) = sample_unvisited(space, rng, visited) else {
                break;
            };
            buf.clear();
            space.encode_into(&a, &mut buf);
            top.offer(model.predict(&buf), &a, visited);
        }
        top.into_vec()
    }
}
