//! Regularized (aging) evolution, as Real et al. (2019) define it.
//!
//! The first `population` proposals are random. Afterwards each proposal samples `sample`
//! individuals of the current population uniformly, takes the best as parent, and mutates one of
//! its parameters. Every result joins the population, and the oldest member leaves once the
//! population is larger than `population`.
//!
//! With `pareto: true` (or under the name `ParetoRegularizedEvolution`) the tournament compares
//! all objectives of the search: the winner has the lowest non-domination rank in the
//! population, then the largest crowding distance (NSGA-II's ranking), under constrained
//! domination when `constraints` are given. Aging is unchanged.
//!
//! The saved state is the random generator and a counter; the population (the last
//! `population` results told) is rebuilt from the told results when a search resumes.

use crate::nsga2::constraint::{Constraint, check_constraints};
use crate::nsga2::pareto::{Fitness, Ranking};
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
    /// Tournament by non-domination rank over every objective, then crowding distance.
    pub pareto: bool,
    /// Bounds on metrics (`[{metric: latency, max: 20}]`): infeasible members lose tournaments
    /// to feasible ones, and among themselves by total violation. Implies a ranked tournament.
    pub constraints: Vec<Constraint>,
}

impl Default for RegularizedArgs {
    fn default() -> Self {
        RegularizedArgs {
            population: 100,
            sample: 25,
            avoid_duplicates: true,
            float_sigma: 0.1,
            pareto: false,
            constraints: Vec::new(),
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
        check_constraints(&self.constraints)
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
            (
                "pareto",
                "tournament by Pareto rank then crowding (all objectives)",
            ),
            (
                "constraints",
                "metric bounds, e.g. [{metric: latency, max: 20}]",
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
    random_proposed: usize,
    /// The last `population` results told, oldest first.
    population: VecDeque<Member>,
    /// Ranking of `population` (ranked tournaments), computed when first needed.
    ranking: Option<Ranking>,
}

struct Member {
    params: Assignment,
    /// Primary score (`None`: the trial failed).
    score: Option<f64>,
    /// All objectives and constraints (ranked tournaments only).
    fitness: Option<Fitness>,
}

/// The saved state (older states also held the population; it is ignored and rebuilt).
#[derive(Serialize, Deserialize)]
struct State {
    rng: Option<Rng>,
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
            random_proposed: 0,
            population: VecDeque::new(),
            ranking: None,
        }
    }

    fn ranked(&self) -> bool {
        self.args.pareto || !self.args.constraints.is_empty()
    }

    fn child(&mut self) -> Option<Assignment> {
        if self.ranked() && self.ranking.is_none() {
            let fit: Vec<Fitness> = self
                .population
                .iter()
                .map(|m| m.fitness.clone().unwrap_or_else(Fitness::failed))
                .collect();
            self.ranking = Some(Ranking::of(&fit));
        }
        let pop = &self.population;
        let k = self.args.sample.min(pop.len());
        let picks = sample_indices(&mut self.rng, pop.len(), k);
        let parent_idx = match &self.ranking {
            Some(r) => picks.iter().min_by(|&a, &b| r.cmp(a, b))?,
            None => picks.iter().max_by(|&a, &b| {
                score(pop[a].score)
                    .total_cmp(&score(pop[b].score))
                    .then(b.cmp(&a))
            })?,
        };
        let parent = pop[parent_idx].params.clone();
        let (space, sigma) = (&self.space, self.args.float_sigma);
        fresh(
            space,
            &mut self.rng,
            &self.visited,
            self.args.avoid_duplicates,
            |rng| mutate_one(space, rng, &parent, sigma),
        )
    }
}

/// A new point from `draw`: drawn again (up to 100 times) while it was already proposed, then
/// a random point not yet proposed (`None` when a finite space is exhausted). Without
/// `avoid_duplicates`, the first draw.
pub(crate) fn fresh(
    space: &ParamSpace,
    rng: &mut Rng,
    visited: &Visited,
    avoid_duplicates: bool,
    mut draw: impl FnMut(&mut Rng) -> Assignment,
) -> Option<Assignment> {
    let mut child = draw(rng);
    if avoid_duplicates {
        let mut tries = 0;
        while visited.contains(&child) && tries < 100 {
            child = draw(rng);
            tries += 1;
        }
        if visited.contains(&child) {
            return sample_unvisited(space, rng, visited);
        }
    }
    Some(child)
}

impl Optimizer for RegularizedEvolution {
    fn next(&mut self, n: usize) -> Result<Vec<Assignment>, OptimError> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let a = if self.random_proposed < self.args.population {
                let a = sample_unvisited(&self.space, &mut self.rng, &self.visited);
                if a.is_some() {
                    self.random_proposed += 1;
                }
                a
            } else if self.population.is_empty() {
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
            self.learn(r);
        }
        Ok(())
    }

    fn exhausted(&self) -> bool {
        space_exhausted(&self.space, &self.visited)
    }

    fn state(&self) -> String {
        to_state(&State {
            rng: Some(self.rng.clone()),
            random_proposed: self.random_proposed,
        })
    }

    fn restore(&mut self, state: &str, history: &History) -> Result<(), OptimError> {
        let s: State = from_state(state)?;
        self.rng = s
            .rng
            .ok_or_else(|| OptimError::State("missing generator state".into()))?;
        self.random_proposed = s.random_proposed;
        self.population.clear();
        let keep = history.observed.len().saturating_sub(self.args.population);
        for r in &history.observed[keep..] {
            self.learn(r);
        }
        self.visited = Visited::from_history(history);
        Ok(())
    }
}

impl RegularizedEvolution {
    fn learn(&mut self, r: &Observation) {
        let fitness = self
            .ranked()
            .then(|| Fitness::of(r, &self.args.constraints));
        self.population.push_back(Member {
            params: r.params.clone(),
            score: r.score.filter(|v| v.is_finite()),
            fitness,
        });
        while self.population.len() > self.args.population {
            self.population.pop_front();
        }
        self.ranking = None;
    }
}

/// Registers `RegularizedEvolution`.
pub fn register(reg: &mut OptimRegistry) -> Result<(), RegistryError> {
    reg.add::<RegularizedArgs>(
        "RegularizedEvolution",
        &["AgingEvolution", "REA"],
        "Regularized (aging) evolution (Real et al. 2019): tournament of S from the last P results, mutate the winner, the oldest dies. Good for architecture spaces, noisy scores and asynchronous workers.",
        |a, ctx: &OptimContext| Ok(Box::new(RegularizedEvolution::new(ctx.space.clone(), ctx.seed, a))),
    )?;
    reg.add::<RegularizedArgs>(
        "ParetoRegularizedEvolution",
        &["ParetoREA"],
        "Regularized evolution over several objectives (`pareto: true`): tournament by non-domination rank, then crowding distance, with constraints (`constraints: [{metric, max|min}]`). Good for accuracy/latency trade-offs on architecture spaces with asynchronous workers.",
        |mut a, ctx: &OptimContext| {
            a.pareto = true;
            Ok(Box::new(RegularizedEvolution::new(ctx.space.clone(), ctx.seed, a)))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use modnas_core::param::{Domain, Value};

    fn space() -> Arc<ParamSpace> {
        let mut s = ParamSpace::new();
        for i in 0..6 {
            s.add(
                &format!("e{i}"),
                Domain::Categorical {
                    choices: (0..5).map(Value::Int).collect(),
                },
            )
            .unwrap();
        }
        Arc::new(s)
    }

    fn obs(number: u64, a: &Assignment) -> Observation {
        let score = a.0.iter().filter(|v| **v == ParamValue::Choice(0)).count() as f64;
        let lat = number as f64 % 7.0;
        Observation {
            number,
            params: a.clone(),
            score: Some(score),
            scores: vec![Some(score), Some(-lat)],
            metrics: [("latency".to_string(), lat)].into(),
            steps: Vec::new(),
        }
    }

    use modnas_core::param::ParamValue;

    /// Runs `trials` proposals one at a time; returns the optimizer and its history.
    fn drive(args: &RegularizedArgs, trials: u64) -> (RegularizedEvolution, History) {
        let mut o = RegularizedEvolution::new(space(), 5, args.clone());
        let mut h = History::default();
        for n in 0..trials {
            let a = o.next(1).unwrap().remove(0);
            let r = obs(n, &a);
            o.step(std::slice::from_ref(&r)).unwrap();
            h.proposed.push(a);
            h.observed.push(r);
        }
        (o, h)
    }

    #[test]
    fn state_stays_small_and_the_population_is_rebuilt() {
        for args in [
            RegularizedArgs {
                population: 10,
                sample: 3,
                ..Default::default()
            },
            RegularizedArgs {
                population: 10,
                sample: 3,
                pareto: true,
                constraints: vec![Constraint {
                    metric: "latency".into(),
                    max: Some(4.0),
                    min: None,
                }],
                ..Default::default()
            },
        ] {
            let (short, _) = drive(&args, 12);
            let (mut long, h) = drive(&args, 300);
            // The same fields, whatever the run length (the population is not saved).
            assert!(
                long.state().len() <= short.state().len() + 8,
                "{} vs {}",
                long.state().len(),
                short.state().len()
            );
            let mut resumed = RegularizedEvolution::new(space(), 99, args.clone());
            resumed.restore(&long.state(), &h).unwrap();
            assert_eq!(resumed.population.len(), 10);
            assert_eq!(resumed.next(20).unwrap(), long.next(20).unwrap());
        }
    }

    #[test]
    fn states_saved_with_the_population_still_restore() {
        let args = RegularizedArgs {
            population: 10,
            sample: 3,
            ..Default::default()
        };
        let (mut o, h) = drive(&args, 30);
        let mut old: serde_json::Value = serde_json::from_str(&o.state()).unwrap();
        old["population"] = serde_json::json!([[[0, 1, 2, 3, 4, 0], 1.0]]);
        let mut resumed = RegularizedEvolution::new(space(), 1, args);
        resumed.restore(&old.to_string(), &h).unwrap();
        assert_eq!(resumed.next(15).unwrap(), o.next(15).unwrap());
    }
}
