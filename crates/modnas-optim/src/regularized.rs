//! Regularized (aging) evolution, as Real et al. (2019) define it.
//!
//! The first `population` proposals are random. Afterwards each proposal samples `sample`
//! individuals of the current population uniformly, takes the best as parent, and mutates one of
//! its parameters. Every result joins the population, and the oldest member leaves once the
//! population is larger than `population`.

use crate::support::{
    Visited, from_state, mutate_one, sample_unvisited, space_exhausted, to_state,
};
use modnas_core::optimizer::{History, OptimContext, OptimError, OptimRegistry, Optimizer};
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::registry::{Args, RegistryError};
use modnas_core::seed::{Rng, rng_from_seed};
use modnas_core::trial::Observation;
use rand::seq::index::sample as sample_indices;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;

/// Arguments of [`RegularizedEvolution`] (defaults: Real et al. 2019).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegularizedArgs {
    /// Population size P.
    pub population: usize,
    /// Tournament sample size S.
    pub sample: usize,
    /// Re-mutate (up to 100 times) when a child was already evaluated.
    pub avoid_duplicates: bool,
    /// Step size of mutations of real-valued parameters, in the unit-scaled domain.
    pub float_sigma: f64,
}

impl Default for RegularizedArgs {
    fn default() -> Self {
        RegularizedArgs {
            population: 100,
            sample: 25,
            avoid_duplicates: true,
            float_sigma: 0.1,
        }
    }
}

impl Args for RegularizedArgs {
    fn check(&self) -> Result<(), (String, String)> {
        modnas_core::registry::at_most("population", self.population, 1_000_000)?;
        if self.population < 2 {
            return Err((
                "population".into(),
                "`population` must be at least 2".into(),
            ));
        }
        if self.sample == 0 || self.sample > self.population {
            return Err((
                "sample".into(),
                "`sample` must be between 1 and `population`".into(),
            ));
        }
        if !(self.float_sigma > 0.0) {
            return Err((
                "float_sigma".into(),
                "`float_sigma` must be positive".into(),
            ));
        }
        Ok(())
    }

    fn help() -> &'static [(&'static str, &'static str)] {
        &[
            (
                "population",
                "population size P (the oldest leaves beyond it)",
            ),
            ("sample", "tournament size S"),
            (
                "avoid_duplicates",
                "re-mutate children that were already evaluated",
            ),
            (
                "float_sigma",
                "mutation step of real parameters (unit scale)",
            ),
        ]
    }
}

/// Aging evolution with tournament selection.
pub struct RegularizedEvolution {
    space: Arc<ParamSpace>,
    args: RegularizedArgs,
    rng: Rng,
    visited: Visited,
    st: State,
}

#[derive(Clone, Serialize, Deserialize, Default)]
struct State {
    rng: Option<Rng>,
    /// Members with their scores (`None`: the trial failed).
    population: VecDeque<(Assignment, Option<f64>)>,
    random_proposed: usize,
}

fn score(s: Option<f64>) -> f64 {
    s.unwrap_or(f64::NEG_INFINITY)
}

impl RegularizedEvolution {
    /// A new search.
    pub fn new(space: Arc<ParamSpace>, seed: u64, args: RegularizedArgs) -> Self {
        RegularizedEvolution {
            space,
            args,
            rng: rng_from_seed(seed),
            visited: Visited::default(),
            st: State::default(),
        }
    }

    fn child(&mut self) -> Option<Assignment> {
        let pop = &self.st.population;
        let k = self.args.sample.min(pop.len());
        let picks = sample_indices(&mut self.rng, pop.len(), k);
        let parent_idx = picks
            .iter()
            .max_by(|&a, &b| score(pop[a].1).total_cmp(&score(pop[b].1)).then(b.cmp(&a)))?;
        let parent = pop[parent_idx].0.clone();
        let mut child = mutate_one(&self.space, &mut self.rng, &parent, self.args.float_sigma);
        if self.args.avoid_duplicates {
            let mut tries = 0;
            while self.visited.contains(&child) && tries < 100 {
                child = mutate_one(&self.space, &mut self.rng, &parent, self.args.float_sigma);
                tries += 1;
            }
            if self.visited.contains(&child) {
                return sample_unvisited(&self.space, &mut self.rng, &self.visited);
            }
        }
        Some(child)
    }
}

impl Optimizer for RegularizedEvolution {
    fn next(&mut self, n: usize) -> Result<Vec<Assignment>, OptimError> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let a = if self.st.random_proposed < self.args.population {
                let a = sample_unvisited(&self.space, &mut self.rng, &self.visited);
                if a.is_some() {
                    self.st.random_proposed += 1;
                }
                a
            } else if self.st.population.is_empty() {
                None // wait for the first results
            } else {
                self.child()
            };
            match a {
                Some(a) => {
                    self.visited.insert(&a);
                    out.push(a);
                }
                None => break,
            }
        }
        Ok(out)
    }

    fn step(&mut self, results: &[Observation]) -> Result<(), OptimError> {
        for r in results {
            self.st
                .population
                .push_back((r.params.clone(), r.score.filter(|v| v.is_finite())));
            while self.st.population.len() > self.args.population {
                self.st.population.pop_front();
            }
        }
        Ok(())
    }

    fn exhausted(&self) -> bool {
        space_exhausted(&self.space, &self.visited)
    }

    fn state(&self) -> String {
        let mut s = self.st.clone();
        s.rng = Some(self.rng.clone());
        to_state(&s)
    }

    fn restore(&mut self, state: &str, history: &History) -> Result<(), OptimError> {
        let mut s: State = from_state(state)?;
        self.rng = s
            .rng
            .take()
            .ok_or_else(|| OptimError::State("missing generator state".into()))?;
        self.st = s;
        self.visited = Visited::from_history(history);
        Ok(())
    }
}

/// Registers `RegularizedEvolution`.
pub fn register(reg: &mut OptimRegistry) -> Result<(), RegistryError> {
    reg.add::<RegularizedArgs>(
        "RegularizedEvolution",
        &["AgingEvolution", "REA"],
        "Regularized (aging) evolution (Real et al. 2019): tournament of S from the last P results, mutate the winner, the oldest dies. Good for architecture spaces, noisy scores and asynchronous workers.",
        |a, ctx: &OptimContext| Ok(Box::new(RegularizedEvolution::new(ctx.space.clone(), ctx.seed, a))),
    )
}
