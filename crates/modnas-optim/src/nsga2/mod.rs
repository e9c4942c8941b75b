//! NSGA-II (Deb et al. 2002) for multi-objective search, with constrained domination.
//!
//! The first `population` proposals are random. Every `population` results told form a batch of
//! offspring; the batch and the current parents are ranked (non-dominated sorting under
//! constrained domination, then crowding distance) and the best `population` become the new
//! parents. Each proposal picks two parents by binary tournament (lower rank, then larger
//! crowding distance), crosses them (uniform for categorical parameters, SBX for numeric ones)
//! and mutates the child (a new choice, or a polynomial step in the unit-scaled domain).
//! Proposals never wait once there are parents, so asynchronous workers stay busy.
//!
//! Objectives are those of the search, in order; `constraints` (optimizer arguments) make a
//! trial infeasible when a metric leaves its bounds. The saved state is the random generator and
//! a counter: parents are rebuilt from the told results when a search resumes.

pub mod constraint;
pub mod pareto;
pub mod variation;

use crate::regularized::fresh;
use crate::support::{Visited, from_state, sample_unvisited, space_exhausted, to_state};
use constraint::{Constraint, check_constraints};
use modnas_core::optimizer::{History, OptimContext, OptimError, OptimRegistry, Optimizer};
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::registry::{Args, RegistryError};
use modnas_core::seed::{Rng, rng_from_seed};
use modnas_core::trial::Observation;
use pareto::{Fitness, Ranking};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Arguments of [`Nsga2`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Nsga2Args {
    /// Parents kept per generation, and results per generation.
    pub population: usize,
    /// Probability that a child is a crossover of two parents (otherwise a mutant of one).
    pub crossover_prob: f64,
    /// Probability that each parameter mutates; default 1 / (number of parameters).
    pub mutation_prob: Option<f64>,
    /// Distribution index of SBX crossover (larger: children closer to their parents).
    pub eta_crossover: f64,
    /// Distribution index of polynomial mutation (larger: smaller steps).
    pub eta_mutation: f64,
    /// Bounds on metrics (`[{metric: latency, max: 20}]`); infeasible trials rank behind
    /// feasible ones, by total violation.
    pub constraints: Vec<Constraint>,
    /// Vary again (up to 100 times) when a child was already proposed.
    pub avoid_duplicates: bool,
}

impl Default for Nsga2Args {
    fn default() -> Self {
        Nsga2Args {
            population: 50,
            crossover_prob: 0.9,
            mutation_prob: None,
            eta_crossover: 20.0,
            eta_mutation: 20.0,
            constraints: Vec::new(),
            avoid_duplicates: true,
        }
    }
}

fn probability(field: &str, p: f64) -> Result<(), (String, String)> {
    if !(0.0..=1.0).contains(&p) {
        return Err((
            field.into(),
            format!("`{field}` must be a probability in [0, 1], got {p}"),
        ));
    }
    Ok(())
}

impl Args for Nsga2Args {
    fn check(&self) -> Result<(), (String, String)> {
        modnas_core::registry::at_most("population", self.population, 1_000_000)?;
        if self.population < 2 {
            return Err((
                "population".into(),
                "`population` must be at least 2".into(),
            ));
        }
        probability("crossover_prob", self.crossover_prob)?;
        if let Some(p) = self.mutation_prob {
            probability("mutation_prob", p)?;
        }
        for (f, v) in [
            ("eta_crossover", self.eta_crossover),
            ("eta_mutation", self.eta_mutation),
        ] {
            if !(v >= 0.0) || !v.is_finite() {
                return Err((f.into(), format!("`{f}` must be a finite number ≥ 0")));
            }
        }
        check_constraints(&self.constraints)
    }

    fn help() -> &'static [(&'static str, &'static str)] {
        &[
            ("population", "parents kept, and results per generation"),
            ("crossover_prob", "probability of crossing two parents"),
            (
                "mutation_prob",
                "per-parameter mutation probability (default 1/params)",
            ),
            ("eta_crossover", "SBX distribution index"),
            ("eta_mutation", "polynomial mutation distribution index"),
            (
                "constraints",
                "metric bounds, e.g. [{metric: latency, max: 20}]",
            ),
            (
                "avoid_duplicates",
                "vary again when a child was already proposed",
            ),
        ]
    }
}

/// Multi-objective genetic search: NSGA-II with constrained domination.
pub struct Nsga2 {
    space: Arc<ParamSpace>,
    args: Nsga2Args,
    rng: Rng,
    visited: Visited,
    random_proposed: usize,
    parents: Vec<(Assignment, Fitness)>,
    ranking: Ranking,
    offspring: Vec<(Assignment, Fitness)>,
}

#[derive(Serialize, Deserialize)]
struct State {
    rng: Rng,
    random_proposed: usize,
}

impl Nsga2 {
    /// A new search.
    pub fn new(space: Arc<ParamSpace>, seed: u64, args: Nsga2Args) -> Self {
        Nsga2 {
            space,
            args,
            rng: rng_from_seed(seed),
            visited: Visited::default(),
            random_proposed: 0,
            parents: Vec::new(),
            ranking: Ranking::default(),
            offspring: Vec::new(),
        }
    }

    /// The current parents (trial values and fitness), best first.
    pub fn parents(&self) -> &[(Assignment, Fitness)] {
        &self.parents
    }

    fn child(&mut self) -> Option<Assignment> {
        let d = self
            .space
            .params()
            .iter()
            .filter(|p| p.domain.cardinality() != Some(1))
            .count()
            .max(1);
        let pm = self.args.mutation_prob.unwrap_or(1.0 / d as f64);
        let (space, args, parents, ranking) =
            (&self.space, &self.args, &self.parents, &self.ranking);
        let tournament = |rng: &mut Rng| {
            let a = rng.random_range(0..parents.len());
            let b = rng.random_range(0..parents.len());
            if ranking.cmp(a, b).is_le() { a } else { b }
        };
        fresh(
            space,
            &mut self.rng,
            &self.visited,
            args.avoid_duplicates,
            |rng| {
                let p1 = tournament(rng);
                let p2 = tournament(rng);
                let child = if rng.random_bool(args.crossover_prob) {
                    variation::crossover(
                        space,
                        rng,
                        &parents[p1].0,
                        &parents[p2].0,
                        args.eta_crossover,
                    )
                } else {
                    parents[p1].0.clone()
                };
                variation::mutate(space, rng, &child, pm, args.eta_mutation)
            },
        )
    }

    fn learn(&mut self, r: &Observation) {
        self.offspring
            .push((r.params.clone(), Fitness::of(r, &self.args.constraints)));
        if self.offspring.len() >= self.args.population {
            let mut pool = std::mem::take(&mut self.parents);
            pool.append(&mut self.offspring);
            let fit: Vec<Fitness> = pool.iter().map(|(_, f)| f.clone()).collect();
            let keep = Ranking::of(&fit).best(self.args.population);
            let mut slots: Vec<Option<(Assignment, Fitness)>> =
                pool.into_iter().map(Some).collect();
            self.parents = keep.iter().filter_map(|&i| slots[i].take()).collect();
            let fit: Vec<Fitness> = self.parents.iter().map(|(_, f)| f.clone()).collect();
            self.ranking = Ranking::of(&fit);
        }
    }
}

impl Optimizer for Nsga2 {
    fn next(&mut self, n: usize) -> Result<Vec<Assignment>, OptimError> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let a = if self.random_proposed < self.args.population {
                let a = sample_unvisited(&self.space, &mut self.rng, &self.visited);
                if a.is_some() {
                    self.random_proposed += 1;
                }
                a
            } else if self.parents.is_empty() || space_exhausted(&self.space, &self.visited) {
                None // wait for the first generation's results, or nothing is left
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
            self.learn(r);
        }
        Ok(())
    }

    fn exhausted(&self) -> bool {
        space_exhausted(&self.space, &self.visited)
    }

    fn state(&self) -> String {
        to_state(&State {
            rng: self.rng.clone(),
            random_proposed: self.random_proposed,
        })
    }

    fn restore(&mut self, state: &str, history: &History) -> Result<(), OptimError> {
        let s: State = from_state(state)?;
        self.parents.clear();
        self.offspring.clear();
        self.ranking = Ranking::default();
        for r in &history.observed {
            self.learn(r);
        }
        self.rng = s.rng;
        self.random_proposed = s.random_proposed;
        self.visited = Visited::from_history(history);
        Ok(())
    }
}

/// Registers `NSGA2`.
pub fn register(reg: &mut OptimRegistry) -> Result<(), RegistryError> {
    reg.add::<Nsga2Args>(
        "NSGA2",
        &["NSGAII"],
        "NSGA-II (Deb et al. 2002): multi-objective genetic search by non-dominated sorting and crowding distance, with constraints (`constraints: [{metric, max|min}]`). Good for Pareto fronts (accuracy against latency) on any space.",
        |a, ctx: &OptimContext| Ok(Box::new(Nsga2::new(ctx.space.clone(), ctx.seed, a))),
    )
}
