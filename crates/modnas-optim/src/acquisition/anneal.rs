//! Simulated annealing over the space (paper G.3: T from 1e4 to 1e-4, ×0.95, 128 chains).

use super::{Acquisition, TopK};
use crate::support::{Visited, from_state, mutate_one, to_state};
use crate::surrogate::Surrogate;
use modnas_core::optimizer::OptimError;
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::registry::Args;
use modnas_core::seed::Rng;
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// Arguments of [`Annealing`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnnealingArgs {
    /// Starting temperature.
    pub temp_init: f64,
    /// Final temperature.
    pub temp_end: f64,
    /// Cooling factor per step (exponential schedule).
    pub cool: f64,
    /// Parallel chains.
    pub chains: usize,
    /// Keep the chains' positions from one call to the next.
    pub keep_history: bool,
    /// Stop after this many steps without a change in the best-k set (`null`: run the whole schedule).
    pub early_stop: Option<usize>,
}

impl Default for AnnealingArgs {
    fn default() -> Self {
        AnnealingArgs {
            temp_init: 1e4,
            temp_end: 1e-4,
            cool: 0.95,
            chains: 128,
            keep_history: true,
            early_stop: None,
        }
    }
}

impl Args for AnnealingArgs {
    fn check(&self) -> Result<(), (String, String)> {
        modnas_core::registry::at_most("chains", self.chains, 100_000)?;
        if !(self.temp_init > 0.0) || !(self.temp_end > 0.0) || self.temp_end >= self.temp_init {
            return Err((
                "temp_end".into(),
                "temperatures must satisfy 0 < temp_end < temp_init".into(),
            ));
        }
        if !(self.cool > 0.0 && self.cool < 1.0) {
            return Err((
                "cool".into(),
                "`cool` must be between 0 and 1 (exclusive)".into(),
            ));
        }
        if self.chains == 0 {
            return Err(("chains".into(), "`chains` must be at least 1".into()));
        }
        Ok(())
    }
}

/// Parallel simulated-annealing chains.
pub struct Annealing {
    args: AnnealingArgs,
    chains: Vec<Assignment>,
}

impl Annealing {
    /// A new search.
    pub fn new(args: AnnealingArgs) -> Self {
        Annealing {
            args,
            chains: Vec::new(),
        }
    }
}

impl Acquisition for Annealing {
    fn propose(
        &mut self,
        space: &ParamSpace,
        model: &dyn Surrogate,
        k: usize,
        visited: &Visited,
        rng: &mut Rng,
    ) -> Vec<Assignment> {
        if !self.args.keep_history || self.chains.len() != self.args.chains {
            self.chains = (0..self.args.chains).map(|_| space.sample(rng)).collect();
        }
        let mut buf = Vec::with_capacity(space.feature_len());
        let score = |a: &Assignment, buf: &mut Vec<f64>| {
            buf.clear();
            space.encode_into(a, buf);
            model.predict(buf)
        };
        let mut scores: Vec<f64> = self.chains.iter().map(|a| score(a, &mut buf)).collect();
        let mut top = TopK::new(k);
        for (a, s) in self.chains.iter().zip(&scores) {
            top.offer(*s, a, visited);
        }
        let mut temp = self.args.temp_init;
        let mut unchanged = 0usize;
        while temp > self.args.temp_end {
            let mut improved = false;
            for (chain, current) in self.chains.iter_mut().zip(scores.iter_mut()) {
                let cand = mutate_one(space, rng, chain, 0.1);
                let s = score(&cand, &mut buf);
                let accept = s >= *current || rng.random::<f64>() < ((s - *current) / temp).exp();
                let before = top.items.first().map(|x| x.0);
                top.offer(s, &cand, visited);
                if top.items.first().map(|x| x.0) != before {
                    improved = true;
                }
                if accept {
                    *chain = cand;
                    *current = s;
                }
            }
            temp *= self.args.cool;
            unchanged = if improved { 0 } else { unchanged + 1 };
            if self.args.early_stop.is_some_and(|e| unchanged >= e) {
                break;
            }
        }
        top.into_vec()
    }

    fn state(&self) -> String {
        to_state(&self.chains)
    }

    fn restore(&mut self, state: &str) -> Result<(), OptimError> {
        if !state.is_empty() {
            self.chains = from_state(state)?;
        }
        Ok(())
    }
}
