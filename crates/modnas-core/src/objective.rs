//! Metrics, objectives and their directions.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Named metric values of one evaluation, e.g. `val_acc`, `latency`, `loss`.
pub type Metrics = BTreeMap<String, f64>;

/// Whether larger or smaller values of a metric are better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// Larger is better.
    #[serde(rename = "max", alias = "maximize", alias = "maximise")]
    Maximize,
    /// Smaller is better.
    #[serde(rename = "min", alias = "minimize", alias = "minimise")]
    Minimize,
}

/// One objective: a metric and its direction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    /// The metric name.
    pub metric: String,
    /// Its direction.
    #[serde(default = "default_direction")]
    pub direction: Direction,
}

fn default_direction() -> Direction {
    Direction::Maximize
}

impl Objective {
    /// An objective to maximise.
    pub fn maximize(metric: &str) -> Self {
        Objective {
            metric: metric.into(),
            direction: Direction::Maximize,
        }
    }

    /// An objective to minimise.
    pub fn minimize(metric: &str) -> Self {
        Objective {
            metric: metric.into(),
            direction: Direction::Minimize,
        }
    }

    /// The metric turned into a score where larger is better; `None` when absent or not finite.
    pub fn score(&self, metrics: &Metrics) -> Option<f64> {
        let v = *metrics.get(&self.metric)?;
        if !v.is_finite() {
            return None;
        }
        Some(match self.direction {
            Direction::Maximize => v,
            Direction::Minimize => -v,
        })
    }

    /// Whether metric value `a` is strictly better than `b`.
    pub fn better(&self, a: f64, b: f64) -> bool {
        match self.direction {
            Direction::Maximize => a > b,
            Direction::Minimize => a < b,
        }
    }
}

/// The objectives of a search; the first one is primary (single-objective optimizers use it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Objectives(pub Vec<Objective>);

impl Objectives {
    /// The primary objective.
    pub fn primary(&self) -> &Objective {
        &self.0[0]
    }

    /// Scores of every objective (larger is better), or `None` when one is missing.
    pub fn scores(&self, metrics: &Metrics) -> Option<Vec<f64>> {
        self.0.iter().map(|o| o.score(metrics)).collect()
    }

    /// Number of objectives.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none (never, once checked).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Indices of the non-dominated points (scores: larger is better). Ties are kept.
///
/// ```
/// use modnas_core::objective::pareto_front;
/// let pts = vec![vec![1.0, 5.0], vec![2.0, 4.0], vec![1.5, 3.0], vec![2.0, 4.0]];
/// assert_eq!(pareto_front(&pts), vec![0, 1, 3]);
/// ```
pub fn pareto_front(points: &[Vec<f64>]) -> Vec<usize> {
    let dominates = |a: &[f64], b: &[f64]| {
        a.iter().zip(b).all(|(x, y)| x >= y) && a.iter().zip(b).any(|(x, y)| x > y)
    };
    (0..points.len())
        .filter(|&i| !(0..points.len()).any(|j| j != i && dominates(&points[j], &points[i])))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_follow_direction() {
        let m: Metrics = [("acc".to_string(), 0.9), ("lat".to_string(), 3.0)].into();
        assert_eq!(Objective::maximize("acc").score(&m), Some(0.9));
        assert_eq!(Objective::minimize("lat").score(&m), Some(-3.0));
        assert_eq!(Objective::minimize("nope").score(&m), None);
        let nan: Metrics = [("acc".to_string(), f64::NAN)].into();
        assert_eq!(Objective::maximize("acc").score(&nan), None);
    }

    #[test]
    fn pareto_front_2d() {
        // (acc up, -latency up)
        let pts = vec![
            vec![0.9, -5.0],
            vec![0.8, -1.0],
            vec![0.85, -6.0],
            vec![0.7, -1.0],
            vec![0.95, -9.0],
        ];
        assert_eq!(pareto_front(&pts), vec![0, 1, 4]);
    }
}
