//! Trials: one evaluation of one assignment, as recorded in the journal.

use crate::objective::Metrics;
use crate::param::Assignment;
use serde::{Deserialize, Serialize};

/// Life cycle of a trial.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrialState {
    /// Proposed, not yet claimed by a worker.
    Waiting,
    /// Being evaluated.
    Running,
    /// Evaluated; metrics recorded.
    Complete,
    /// Evaluation failed; the reason is recorded.
    Failed,
}

impl TrialState {
    /// The lowercase name stored in journals.
    pub fn as_str(&self) -> &'static str {
        match self {
            TrialState::Waiting => "waiting",
            TrialState::Running => "running",
            TrialState::Complete => "complete",
            TrialState::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "waiting" => TrialState::Waiting,
            "running" => TrialState::Running,
            "complete" => TrialState::Complete,
            "failed" => TrialState::Failed,
            _ => return None,
        })
    }

    /// Whether the trial is over (complete or failed).
    pub fn is_finished(&self) -> bool {
        matches!(self, TrialState::Complete | TrialState::Failed)
    }
}

/// One trial.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Number within the run, from 0, in proposal order.
    pub number: u64,
    /// The evaluated values.
    pub params: Assignment,
    /// The trial's own seed (derived from the run seed and the number).
    pub seed: u64,
    /// Where it is in its life cycle.
    pub state: TrialState,
    /// Metrics, when complete.
    pub metrics: Metrics,
    /// Simulated cost reported by the estimator (e.g. a benchmark table's training time).
    pub cost: Option<f64>,
    /// Why it failed.
    pub error: Option<String>,
    /// How many times evaluation was started.
    pub attempts: u32,
    /// Who evaluated it.
    pub worker: Option<String>,
    /// Unix time of proposal.
    pub created_at: f64,
    /// Unix time evaluation (last) started.
    pub started_at: Option<f64>,
    /// Unix time it finished.
    pub finished_at: Option<f64>,
    /// Whether the optimizer has been told the result.
    pub told: bool,
    /// Other results of the evaluation (see [`Evaluation::attrs`]).
    #[serde(default)]
    pub attrs: serde_json::Value,
}

impl Trial {
    /// Wall-clock seconds of the (last) evaluation.
    pub fn duration(&self) -> Option<f64> {
        Some(self.finished_at? - self.started_at?)
    }
}

/// A trial to be created.
#[derive(Clone, Debug)]
pub struct NewTrial {
    /// Its values.
    pub params: Assignment,
    /// Its seed.
    pub seed: u64,
}

/// The result of evaluating a trial.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct Evaluation {
    /// Metric values.
    pub metrics: Metrics,
    /// Simulated cost (seconds of training in a benchmark table, say).
    pub cost: Option<f64>,
    /// Other results worth keeping (an architecture description, say); JSON, `null` when none.
    #[serde(default)]
    pub attrs: serde_json::Value,
}

/// Why an evaluation did not produce metrics.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{reason}")]
pub struct TrialFailure {
    /// What went wrong, with whatever detail helps (the last lines of stderr…).
    pub reason: String,
    /// The evaluation was interrupted, not failed: the trial goes back to the queue.
    pub cancelled: bool,
    /// The failure will repeat for every trial (a missing program, a broken setup): stop the search.
    pub fatal: bool,
}

impl TrialFailure {
    /// An ordinary failure: recorded, and the search goes on.
    pub fn new(reason: impl Into<String>) -> Self {
        TrialFailure {
            reason: reason.into(),
            cancelled: false,
            fatal: false,
        }
    }

    /// An interruption: the trial will be evaluated again.
    pub fn cancelled() -> Self {
        TrialFailure {
            reason: "cancelled".into(),
            cancelled: true,
            fatal: false,
        }
    }

    /// A failure that will repeat for every trial.
    pub fn fatal(reason: impl Into<String>) -> Self {
        TrialFailure {
            reason: reason.into(),
            cancelled: false,
            fatal: true,
        }
    }
}

/// What the journal records when a trial ends.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Metrics (and cost).
    Complete(Evaluation),
    /// The reason of the failure.
    Failed(String),
}

/// A finished trial as the optimizer sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// Trial number.
    pub number: u64,
    /// The values.
    pub params: Assignment,
    /// Primary objective as a score (larger is better); `None` for a failed trial.
    pub score: Option<f64>,
    /// All metrics.
    pub metrics: Metrics,
}
