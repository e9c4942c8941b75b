//! When a search stops.

use crate::config::{ConfigError, Fields, Node, Seconds};
use serde::Serialize;
use std::fmt;

/// Stop criteria; the search stops at the first one met.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StopCriteria {
    /// Total number of trials (complete or failed) in the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_trials: Option<u64>,
    /// Wall-clock seconds spent in the run, over all sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_time: Option<f64>,
    /// Simulated cost (sum of the estimator's per-trial cost, e.g. a table's training time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cost: Option<f64>,
    /// Stop once the primary objective reaches this metric value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
    /// Stop after this many finished trials without improving the primary objective.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patience: Option<u64>,
}

/// Why a search stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The trial budget is used.
    MaxTrials,
    /// The wall-clock budget is used.
    MaxTime,
    /// The simulated-cost budget is used.
    MaxCost,
    /// The target was reached.
    Target,
    /// No improvement for `patience` trials.
    Patience,
    /// The optimizer has nothing left to propose.
    Exhausted,
    /// The user interrupted the search.
    Interrupted,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::MaxTrials => "trial budget reached",
            StopReason::MaxTime => "time budget reached",
            StopReason::MaxCost => "simulated-cost budget reached",
            StopReason::Target => "target reached",
            StopReason::Patience => "no improvement within the patience",
            StopReason::Exhausted => "search space exhausted",
            StopReason::Interrupted => "interrupted",
        })
    }
}

impl StopCriteria {
    /// Reads the `stop:` section.
    pub fn from_node(node: &Node, path: &str) -> Result<StopCriteria, ConfigError> {
        let mut f = Fields::new(node, path)?;
        let s = StopCriteria {
            max_trials: f.opt("max_trials")?,
            max_time: f.opt::<Seconds>("max_time")?.map(|s| s.0),
            max_cost: f.opt("max_cost")?,
            target: f.opt("target")?,
            patience: f.opt("patience")?,
        };
        for (key, bad) in [
            ("max_trials", s.max_trials == Some(0)),
            ("patience", s.patience == Some(0)),
            ("max_cost", s.max_cost.is_some_and(|c| !(c > 0.0))),
        ] {
            if bad {
                let n = node.get(key).unwrap_or(node);
                return Err(ConfigError::at(
                    n,
                    &f.path_of(key),
                    format!("`{key}` must be positive"),
                ));
            }
        }
        f.finish()?;
        Ok(s)
    }

    /// Whether any criterion is set.
    pub fn is_bounded(&self) -> bool {
        self.max_trials.is_some()
            || self.max_time.is_some()
            || self.max_cost.is_some()
            || self.target.is_some()
            || self.patience.is_some()
    }
}
