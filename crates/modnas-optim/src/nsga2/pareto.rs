//! Ranking under constrained domination (Deb et al. 2002): non-dominated sorting and crowding
//! distance, shared by [`Nsga2`](super::Nsga2) and the Pareto mode of
//! [`RegularizedEvolution`](crate::regularized::RegularizedEvolution).
//!
//! Constrained domination: a feasible individual beats an infeasible one, of two infeasible ones
//! the smaller total violation wins, and feasible ones compare by Pareto dominance of their
//! scores (larger is better). A failed trial counts as infinitely infeasible.

use super::constraint::{Constraint, total_violation};
use modnas_core::trial::Observation;
use std::cmp::Ordering;

/// One individual as the multi-objective optimizers rank it.
#[derive(Clone, Debug, PartialEq)]
pub struct Fitness {
    /// Objective scores (larger is better); empty for a failed trial.
    pub scores: Vec<f64>,
    /// Total constraint violation: 0 when feasible, infinite for a failed trial.
    pub violation: f64,
}

impl Fitness {
    /// The fitness of a told result under `constraints`.
    pub fn of(obs: &Observation, constraints: &[Constraint]) -> Self {
        let scores: Option<Vec<f64>> = obs
            .objective_scores()
            .iter()
            .map(|s| s.filter(|v| v.is_finite()))
            .collect();
        match scores {
            Some(scores) if !scores.is_empty() => Fitness {
                violation: total_violation(constraints, &obs.metrics),
                scores,
            },
            _ => Fitness::failed(),
        }
    }

    /// The fitness of a failed trial (worse than anything else).
    pub fn failed() -> Self {
        Fitness {
            scores: Vec::new(),
            violation: f64::INFINITY,
        }
    }

    /// Whether every constraint holds.
    pub fn feasible(&self) -> bool {
        self.violation == 0.0
    }

    /// Constrained domination of `other` by `self`.
    pub fn dominates(&self, other: &Fitness) -> bool {
        match (self.feasible(), other.feasible()) {
            (true, false) => true,
            (false, true) => false,
            (false, false) => self.violation < other.violation,
            (true, true) => {
                self.scores.len() == other.scores.len()
                    && self.scores.iter().zip(&other.scores).all(|(a, b)| a >= b)
                    && self.scores.iter().zip(&other.scores).any(|(a, b)| a > b)
            }
        }
    }
}

/// Non-domination rank (0: the first front) and crowding distance (within its front) of every
/// individual.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ranking {
    /// Front of each individual, from 0.
    pub rank: Vec<usize>,
    /// Crowding distance of each individual in its front (infinite at the front's ends).
    pub crowding: Vec<f64>,
}

impl Ranking {
    /// Ranks `pop` (fast non-dominated sort, then crowding distance per front).
    pub fn of(pop: &[Fitness]) -> Self {
        let fronts = fronts(pop);
        let mut rank = vec![0; pop.len()];
        let mut crowding = vec![0.0; pop.len()];
        for (r, front) in fronts.iter().enumerate() {
            for (&i, d) in front.iter().zip(crowding_distance(pop, front)) {
                rank[i] = r;
                crowding[i] = d;
            }
        }
        Ranking { rank, crowding }
    }

    /// Ordering of individuals `a` and `b` from best to worst: lower rank, then larger crowding
    /// distance, then the smaller index.
    pub fn cmp(&self, a: usize, b: usize) -> Ordering {
        self.rank[a]
            .cmp(&self.rank[b])
            .then(self.crowding[b].total_cmp(&self.crowding[a]))
            .then(a.cmp(&b))
    }

    /// Indices of the `k` best individuals (the survivors of NSGA-II's selection), best first.
    pub fn best(&self, k: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.rank.len()).collect();
        idx.sort_by(|&a, &b| self.cmp(a, b));
        idx.truncate(k);
        idx
    }
}

/// The fronts of `pop` under constrained domination, best first; each front in index order.
pub fn fronts(pop: &[Fitness]) -> Vec<Vec<usize>> {
    let n = pop.len();
    let mut dominated_by = vec![0usize; n];
    let mut dominates: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in 0..n {
        for j in (i + 1)..n {
            if pop[i].dominates(&pop[j]) {
                dominates[i].push(j);
                dominated_by[j] += 1;
            } else if pop[j].dominates(&pop[i]) {
                dominates[j].push(i);
                dominated_by[i] += 1;
            }
        }
    }
    let mut out = Vec::new();
    let mut current: Vec<usize> = (0..n).filter(|&i| dominated_by[i] == 0).collect();
    while !current.is_empty() {
        let mut next = Vec::new();
        for &i in &current {
            for &j in &dominates[i] {
                dominated_by[j] -= 1;
                if dominated_by[j] == 0 {
                    next.push(j);
                }
            }
        }
        next.sort_unstable();
        out.push(std::mem::replace(&mut current, next));
    }
    out
}

/// Crowding distance of each member of `front` (same order): the sum over objectives of the
/// normalised gap between its neighbours; infinite at each objective's extremes. Individuals
/// without scores (failed trials) get 0.
pub fn crowding_distance(pop: &[Fitness], front: &[usize]) -> Vec<f64> {
    let mut d = vec![0.0; front.len()];
    let scored: Vec<usize> = (0..front.len())
        .filter(|&k| !pop[front[k]].scores.is_empty())
        .collect();
    if scored.is_empty() {
        return d;
    }
    let m = pop[front[scored[0]]].scores.len();
    for obj in 0..m {
        let val = |k: usize| pop[front[k]].scores.get(obj).copied().unwrap_or(0.0);
        let mut order = scored.clone();
        order.sort_by(|&a, &b| val(a).total_cmp(&val(b)).then(a.cmp(&b)));
        let (lo, hi) = (val(order[0]), val(order[order.len() - 1]));
        d[order[0]] = f64::INFINITY;
        d[order[order.len() - 1]] = f64::INFINITY;
        if hi > lo {
            for w in 1..order.len().saturating_sub(1) {
                d[order[w]] += (val(order[w + 1]) - val(order[w - 1])) / (hi - lo);
            }
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(s: &[f64], v: f64) -> Fitness {
        Fitness {
            scores: s.to_vec(),
            violation: v,
        }
    }

    #[test]
    fn fronts_of_a_small_population() {
        let pop = vec![
            fit(&[1.0, 5.0], 0.0), // front 0
            fit(&[2.0, 4.0], 0.0), // front 0
            fit(&[1.5, 3.0], 0.0), // dominated by 1
            fit(&[1.0, 2.0], 0.0), // dominated by 2
            fit(&[9.0, 9.0], 3.0), // infeasible, violation 3
            fit(&[9.0, 9.0], 1.0), // infeasible, violation 1
            Fitness::failed(),
        ];
        assert_eq!(
            fronts(&pop),
            vec![vec![0, 1], vec![2], vec![3], vec![5], vec![4], vec![6]]
        );
        let r = Ranking::of(&pop);
        assert_eq!(r.rank, vec![0, 0, 1, 2, 4, 3, 5]);
        assert_eq!(r.best(3), vec![0, 1, 2]);
    }

    #[test]
    fn feasible_beats_infeasible_and_smaller_violation_wins() {
        let a = fit(&[0.0, 0.0], 0.0);
        let b = fit(&[10.0, 10.0], 0.5);
        let c = fit(&[10.0, 10.0], 0.7);
        assert!(a.dominates(&b) && !b.dominates(&a));
        assert!(b.dominates(&c) && !c.dominates(&b));
        assert!(c.dominates(&Fitness::failed()));
        assert!(!a.dominates(&a.clone()));
    }

    #[test]
    fn crowding_prefers_the_ends_and_sparse_regions() {
        let pop = vec![
            fit(&[0.0, 10.0], 0.0),
            fit(&[1.0, 9.0], 0.0),
            fit(&[1.2, 8.8], 0.0),
            fit(&[5.0, 5.0], 0.0),
            fit(&[10.0, 0.0], 0.0),
        ];
        let d = crowding_distance(&pop, &[0, 1, 2, 3, 4]);
        assert!(d[0].is_infinite() && d[4].is_infinite());
        assert!(d[3] > d[1] && d[3] > d[2], "{d:?}");
        let r = Ranking::of(&pop);
        assert_eq!(r.best(3)[..2], [0, 4]);
        assert_eq!(r.best(3)[2], 3);
    }
}
