//! The observations of each budget: what a trial's learning curve says about it at each of
//! Hyperband's budgets.

use modnas_core::param::Assignment;
use modnas_core::trial::Observation;

/// Hyperband's budgets from `min` by factor `eta`, below `max`, then `max` itself.
pub fn budget_levels(min: u64, eta: f64, max: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut r = min.max(1) as f64;
    while out.len() < 64 {
        let level = r.round() as u64;
        if level >= max {
            break;
        }
        if out.last() != Some(&level) {
            out.push(level);
        }
        r *= eta;
    }
    out.push(max.max(1));
    out
}

/// One told trial as the model needs it.
#[derive(Clone, Debug)]
pub struct Told {
    /// Its values.
    pub params: Assignment,
    /// Its final score (`None`: failed).
    pub score: Option<f64>,
    /// `(step, score)` of its intermediate results, in step order.
    pub steps: Vec<(u64, f64)>,
}

impl Told {
    /// From an observation (non-finite scores count as failures).
    pub fn of(o: &Observation) -> Self {
        let mut steps: Vec<(u64, f64)> = o
            .steps
            .iter()
            .copied()
            .filter(|(_, s)| s.is_finite())
            .collect();
        steps.sort_by_key(|(s, _)| *s);
        Told {
            params: o.params.clone(),
            score: o.score.filter(|s| s.is_finite()),
            steps,
        }
    }

    /// The trial's score at `budget` (`top`: whether it is the full budget), `NEG_INFINITY`
    /// for a failed trial, `None` when it did not reach the budget.
    ///
    /// A trial reaches a budget when one of its steps is at or beyond it; a trial that reported
    /// no steps is taken as evaluated at every budget. Its value there is that of its first
    /// step at or beyond the budget (as Hyperband's rungs record it), except at the full budget,
    /// where it is the final score.
    pub fn at(&self, budget: u64, top: bool) -> Option<f64> {
        let reached = self.steps.last().is_none_or(|(s, _)| *s >= budget);
        if !reached {
            return None;
        }
        let Some(score) = self.score else {
            return Some(f64::NEG_INFINITY);
        };
        if top {
            return Some(score);
        }
        Some(
            self.steps
                .iter()
                .find(|(s, _)| *s >= budget)
                .map(|(_, v)| *v)
                .unwrap_or(score),
        )
    }
}

/// The points observed at each budget: per budget, `(index into told, score)`.
pub fn per_budget(told: &[Told], levels: &[u64]) -> Vec<Vec<(usize, f64)>> {
    levels
        .iter()
        .enumerate()
        .map(|(k, &b)| {
            let top = k + 1 == levels.len();
            told.iter()
                .enumerate()
                .filter_map(|(i, t)| t.at(b, top).map(|v| (i, v)))
                .collect()
        })
        .collect()
}

/// The index of the largest budget that holds at least `needed` points.
pub fn model_budget(points: &[Vec<(usize, f64)>], needed: usize) -> Option<usize> {
    (0..points.len()).rev().find(|&k| points[k].len() >= needed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_hyperband() {
        assert_eq!(budget_levels(1, 3.0, 27), vec![1, 3, 9, 27]);
        assert_eq!(budget_levels(1, 3.0, 28), vec![1, 3, 9, 27, 28]);
        assert_eq!(budget_levels(2, 2.0, 10), vec![2, 4, 8, 10]);
        assert_eq!(budget_levels(5, 3.0, 5), vec![5]);
    }

    #[test]
    fn values_at_budgets() {
        let t = Told {
            params: Assignment(vec![]),
            score: Some(0.9),
            steps: vec![(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4)],
        };
        assert_eq!(t.at(1, false), Some(0.1));
        assert_eq!(t.at(3, false), Some(0.3));
        assert_eq!(t.at(9, false), None);
        assert_eq!(t.at(4, true), Some(0.9));
        let jumped = Told {
            steps: vec![(5, 0.5)],
            ..t.clone()
        };
        assert_eq!(jumped.at(3, false), Some(0.5));
        let failed = Told {
            score: None,
            ..t.clone()
        };
        assert_eq!(failed.at(3, false), Some(f64::NEG_INFINITY));
        assert_eq!(failed.at(9, true), None);
        let no_steps = Told { steps: vec![], ..t };
        assert_eq!(no_steps.at(1, false), Some(0.9));
        assert_eq!(no_steps.at(27, true), Some(0.9));
    }
}
