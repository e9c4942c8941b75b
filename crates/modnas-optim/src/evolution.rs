//! Generational evolution (the paper's G.3 genetic algorithm).
//!
//! A population is proposed and evaluated as a whole. Then survival drops the `n_eliminate`
//! worst (or, with `survival: oldest`, the oldest) individuals, selection keeps the `n_select`
//! best, uniform crossover of `n_parents` random parents makes `n_offsprings` children at a time
//! until `n_crossover` unvisited children exist, and each gene of a child mutates with
//! probability `mutation_prob`. The children form the next generation.

use crate::support::{
    Visited, from_state, mutate_value, sample_unvisited, space_exhausted, to_state,
};
use modnas_core::optimizer::{History, OptimContext, OptimError, OptimRegistry, Optimizer};
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::registry::{Args, RegistryError};
use modnas_core::seed::{Rng, rng_from_seed};
use modnas_core::trial::Observation;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Which individuals survival removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Survival {
    /// The worst (the classic genetic algorithm).
    #[default]
    Worst,
    /// The oldest (the reference code's generational "regularized" variant).
    Oldest,
}

/// Arguments of [`Evolution`] (defaults: the paper's G.3 settings).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvolutionArgs {
    /// Individuals per generation.
    pub pop_size: usize,
    /// Parents per crossover.
    pub n_parents: usize,
    /// Children per crossover.
    pub n_offsprings: usize,
    /// Best individuals kept as parents.
    pub n_select: usize,
    /// Individuals removed by survival before selection.
    pub n_eliminate: usize,
    /// Children bred per generation (default: `pop_size`).
    pub n_crossover: Option<usize>,
    /// Probability that a gene mutates.
    pub mutation_prob: f64,
    /// Attempts to find an unvisited child.
    pub max_it: usize,
    /// Which individuals survival removes.
    pub survival: Survival,
}

impl Default for EvolutionArgs {
    fn default() -> Self {
        EvolutionArgs {
            pop_size: 100,
            n_parents: 2,
            n_offsprings: 1,
            n_select: 10,
            n_eliminate: 1,
            n_crossover: None,
            mutation_prob: 0.01,
            max_it: 1000,
            survival: Survival::Worst,
        }
    }
}

impl Args for EvolutionArgs {
    fn check(&self) -> Result<(), (String, String)> {
        use modnas_core::registry::at_most;
        at_most("pop_size", self.pop_size, 1_000_000)?;
        at_most("n_crossover", self.n_crossover.unwrap_or(0), 1_000_000)?;
        at_most("n_parents", self.n_parents, 1_000)?;
        at_most("n_offsprings", self.n_offsprings, 1_000)?;
        at_most("max_it", self.max_it, 10_000_000)?;
        let err = |f: &str, m: &str| Err((f.to_string(), m.to_string()));
        if self.pop_size < 2 {
            return err("pop_size", "`pop_size` must be at least 2");
        }
        if self.n_parents == 0 {
            return err("n_parents", "`n_parents` must be at least 1");
        }
        if self.n_offsprings == 0 {
            return err("n_offsprings", "`n_offsprings` must be at least 1");
        }
        if self.n_select == 0 || self.n_select > self.pop_size {
            return err("n_select", "`n_select` must be between 1 and `pop_size`");
        }
        if self.n_eliminate >= self.pop_size {
            return err(
                "n_eliminate",
                "`n_eliminate` must be smaller than `pop_size`",
            );
        }
        if !(0.0..=1.0).contains(&self.mutation_prob) {
            return err("mutation_prob", "`mutation_prob` must be between 0 and 1");
        }
        if self.n_crossover == Some(0) {
            return err("n_crossover", "`n_crossover` must be at least 1");
        }
        Ok(())
    }

    fn help() -> &'static [(&'static str, &'static str)] {
        &[
            ("pop_size", "individuals per generation"),
            ("n_parents", "parents per crossover"),
            ("n_offsprings", "children per crossover"),
            ("n_select", "best individuals kept as parents"),
            ("n_eliminate", "individuals removed by survival"),
            ("n_crossover", "children per generation (null: pop_size)"),
            ("mutation_prob", "per-gene mutation probability"),
            ("max_it", "attempts to find unvisited children"),
            (
                "survival",
                "`worst` (genetic algorithm) or `oldest` (generational aging variant)",
            ),
        ]
    }
}

/// Arguments of the generational aging variant: those of [`Evolution`], with `survival: oldest`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgingArgs(pub EvolutionArgs);

impl Default for AgingArgs {
    fn default() -> Self {
        AgingArgs(EvolutionArgs {
            survival: Survival::Oldest,
            ..EvolutionArgs::default()
        })
    }
}

impl Args for AgingArgs {
    fn check(&self) -> Result<(), (String, String)> {
        self.0.check()
    }

    fn help() -> &'static [(&'static str, &'static str)] {
        EvolutionArgs::help()
    }
}

/// The generational genetic algorithm.
pub struct Evolution {
    space: Arc<ParamSpace>,
    args: EvolutionArgs,
    rng: Rng,
    visited: Visited,
    st: State,
}

/// The score of an individual (failed trials stay distinct from pending ones, and nothing
/// non-finite goes into the saved state).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
enum Score {
    Pending,
    Failed,
    Value(f64),
}

impl Score {
    fn key(self) -> f64 {
        match self {
            Score::Value(v) => v,
            _ => f64::NEG_INFINITY,
        }
    }
}

#[derive(Clone, Serialize, Deserialize, Default)]
struct State {
    rng: Option<Rng>,
    generation: u64,
    /// The current generation, with scores as they arrive.
    population: Vec<(Assignment, Score)>,
    /// How many of the population were proposed.
    proposed: usize,
}

impl Evolution {
    /// A new search.
    pub fn new(space: Arc<ParamSpace>, seed: u64, args: EvolutionArgs) -> Self {
        let mut e = Evolution {
            space,
            args,
            rng: rng_from_seed(seed),
            visited: Visited::default(),
            st: State::default(),
        };
        e.st.population = e.random_population(e.args.pop_size);
        e
    }

    fn random_population(&mut self, n: usize) -> Vec<(Assignment, Score)> {
        let mut seen = self.visited.clone();
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match sample_unvisited(&self.space, &mut self.rng, &seen) {
                Some(a) => {
                    seen.insert(&a);
                    out.push((a, Score::Pending));
                }
                None => break,
            }
        }
        out
    }

    fn breed(&mut self) {
        let mut pop: Vec<(Assignment, f64)> = self
            .st
            .population
            .drain(..)
            .map(|(a, s)| (a, s.key()))
            .collect();
        // Survival.
        let n_elim = self.args.n_eliminate.min(pop.len().saturating_sub(1));
        match self.args.survival {
            Survival::Oldest => {
                pop.drain(..n_elim);
            }
            Survival::Worst => {
                for _ in 0..n_elim {
                    if let Some(worst) =
                        (0..pop.len()).min_by(|&a, &b| pop[a].1.total_cmp(&pop[b].1))
                    {
                        pop.remove(worst);
                    }
                }
            }
        }
        // Selection: the best n_select (stable for ties: earlier first).
        let mut order: Vec<usize> = (0..pop.len()).collect();
        order.sort_by(|&a, &b| pop[b].1.total_cmp(&pop[a].1).then(a.cmp(&b)));
        let parents: Vec<Assignment> = order
            .into_iter()
            .take(self.args.n_select)
            .map(|i| pop[i].0.clone())
            .collect();
        // Crossover.
        let target = self.args.n_crossover.unwrap_or(self.args.pop_size);
        let mut taken = self.visited.clone();
        let mut children: Vec<Assignment> = Vec::with_capacity(target);
        let mut it = 0;
        while children.len() < target && it < self.args.max_it && !parents.is_empty() {
            it += 1;
            let chosen: Vec<&Assignment> = (0..self.args.n_parents)
                .map(|_| &parents[self.rng.random_range(0..parents.len())])
                .collect();
            for _ in 0..self.args.n_offsprings {
                let genes = (0..self.space.len())
                    .map(|g| chosen[self.rng.random_range(0..chosen.len())].0[g])
                    .collect();
                let child = Assignment(genes);
                if taken.insert(&child) {
                    children.push(child);
                }
            }
        }
        // Mutation: each gene with probability mutation_prob; retry when the mutant was seen.
        let mut next_pop: Vec<(Assignment, Score)> = Vec::with_capacity(children.len());
        let mut seen = self.visited.clone();
        for child in children {
            let mut chosen = child.clone();
            for _ in 0..self.args.max_it {
                let mut m = child.clone();
                for (g, p) in self.space.params().iter().enumerate() {
                    if self.rng.random::<f64>() < self.args.mutation_prob {
                        m.0[g] = mutate_value(&p.domain, &mut self.rng, &m.0[g], 0.1);
                    }
                }
                if !seen.contains(&m) {
                    chosen = m;
                    break;
                }
            }
            if seen.insert(&chosen) {
                next_pop.push((chosen, Score::Pending));
            }
        }
        // Top up with random individuals when breeding could not find enough new ones.
        while next_pop.len() < target {
            match sample_unvisited(&self.space, &mut self.rng, &seen) {
                Some(a) => {
                    seen.insert(&a);
                    next_pop.push((a, Score::Pending));
                }
                None => break,
            }
        }
        self.st.population = next_pop;
        self.st.proposed = 0;
        self.st.generation += 1;
    }
}

impl Optimizer for Evolution {
    fn next(&mut self, n: usize) -> Result<Vec<Assignment>, OptimError> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n && self.st.proposed < self.st.population.len() {
            let a = self.st.population[self.st.proposed].0.clone();
            self.st.proposed += 1;
            self.visited.insert(&a);
            out.push(a);
        }
        Ok(out)
    }

    fn step(&mut self, results: &[Observation]) -> Result<(), OptimError> {
        for r in results {
            let key = r.params.key();
            if let Some(slot) = self
                .st
                .population
                .iter_mut()
                .find(|(a, s)| *s == Score::Pending && a.key() == key)
            {
                slot.1 = match r.score {
                    Some(v) if v.is_finite() => Score::Value(v),
                    _ => Score::Failed,
                };
            }
        }
        if self.st.proposed == self.st.population.len()
            && self.st.population.iter().all(|(_, s)| *s != Score::Pending)
        {
            self.breed();
        }
        Ok(())
    }

    fn exhausted(&self) -> bool {
        self.st.population.is_empty() && space_exhausted(&self.space, &self.visited)
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

/// Registers `Evolution` and its generational aging variant.
pub fn register(reg: &mut OptimRegistry) -> Result<(), RegistryError> {
    reg.add::<EvolutionArgs>(
        "Evolution",
        &["Genetic", "GeneticAlgorithm"],
        "Generational genetic algorithm: survival, selection, uniform crossover, per-gene mutation (paper G.3). Good for large categorical spaces with whole generations evaluated in parallel.",
        |a, ctx: &OptimContext| Ok(Box::new(Evolution::new(ctx.space.clone(), ctx.seed, a))),
    )?;
    reg.add::<AgingArgs>(
        "GenerationalAgingEvolution",
        &[],
        "Evolution whose survival removes the oldest (the reference code's generational aging variant). Good for noisy scores, where a lucky individual should not live forever.",
        |a, ctx: &OptimContext| {
            // This variant is defined by its survival rule.
            let args = EvolutionArgs { survival: Survival::Oldest, ..a.0 };
            Ok(Box::new(Evolution::new(ctx.space.clone(), ctx.seed, args)))
        },
    )
}
