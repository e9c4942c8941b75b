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
    /// Stopped early by the pruner; the metrics of its last reported step are kept.
    Pruned,
}

impl TrialState {
    /// The lowercase name stored in journals.
    pub fn as_str(&self) -> &'static str {
        match self {
            TrialState::Waiting => "waiting",
            TrialState::Running => "running",
            TrialState::Complete => "complete",
            TrialState::Failed => "failed",
            TrialState::Pruned => "pruned",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "waiting" => TrialState::Waiting,
            "running" => TrialState::Running,
            "complete" => TrialState::Complete,
            "failed" => TrialState::Failed,
            "pruned" => TrialState::Pruned,
            _ => return None,
        })
    }

    /// Whether the trial is over (complete, failed or pruned).
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            TrialState::Complete | TrialState::Failed | TrialState::Pruned
        )
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
    /// How many times evaluation was started, not counting evaluations handed back to the queue
    /// (interrupted by Ctrl-C, or stopped by a failure that says nothing about the trial): after
    /// a resume, one more than the number of times the process died while evaluating it.
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

/// One intermediate result of a trial: the metrics it reported at a step (an epoch, a budget,
/// any fidelity; steps grow during an evaluation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The step (epoch, resource used so far).
    pub step: u64,
    /// What was measured at that step.
    pub metrics: Metrics,
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
    /// The failure will repeat for every trial (a missing program, a broken setup such as a trial
    /// directory that cannot be created): the search stops, and the trial goes back to the queue
    /// (it is neither failed nor told to the optimizer), so it runs once the problem is fixed.
    pub fatal: bool,
    /// Metrics the evaluation produced before it failed (its finite ones are kept with the
    /// failed trial).
    pub metrics: Metrics,
}

impl TrialFailure {
    /// An ordinary failure: recorded, and the search goes on.
    pub fn new(reason: impl Into<String>) -> Self {
        TrialFailure {
            reason: reason.into(),
            cancelled: false,
            fatal: false,
            metrics: Metrics::new(),
        }
    }

    /// An interruption: the trial will be evaluated again.
    pub fn cancelled() -> Self {
        TrialFailure {
            reason: "cancelled".into(),
            cancelled: true,
            fatal: false,
            metrics: Metrics::new(),
        }
    }

    /// A failure that will repeat for every trial, or a failure to set the evaluation up: the
    /// search stops and the trial will be evaluated again when the run is resumed.
    pub fn fatal(reason: impl Into<String>) -> Self {
        TrialFailure {
            reason: reason.into(),
            cancelled: false,
            fatal: true,
            metrics: Metrics::new(),
        }
    }
}

impl TrialFailure {
    /// The same failure, with the metrics the evaluation produced.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }
}

/// The most bytes of a failure reason kept in the journal.
pub const MAX_REASON_BYTES: usize = 16 * 1024;

/// `text` cut to at most `max_bytes` bytes (at character boundaries), keeping its start and its
/// end with a note of how much was left out in between.
pub fn shorten(text: &str, max_bytes: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max_bytes {
        return std::borrow::Cow::Borrowed(text);
    }
    let note_room = 48;
    let keep = max_bytes.saturating_sub(note_room);
    let mut head = keep / 2;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - (keep - keep / 2);
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    let out = format!(
        "{}\n[... {} bytes left out ...]\n{}",
        &text[..head],
        tail - head,
        &text[tail..]
    );
    if out.len() <= max_bytes {
        std::borrow::Cow::Owned(out)
    } else {
        // Too small a limit for a note: the start only.
        let mut cut = max_bytes;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        std::borrow::Cow::Owned(text[..cut].to_string())
    }
}

/// What the journal records when a trial ends.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Metrics (and cost).
    Complete(Evaluation),
    /// The reason of the failure.
    Failed(String),
    /// The reason of the failure, and the (finite) metrics the evaluation produced anyway.
    FailedWithMetrics {
        /// Why it failed.
        reason: String,
        /// What was measured.
        metrics: Metrics,
    },
    /// Stopped early by the pruner: the metrics of its last reported step (and the cost and
    /// attributes the evaluation returned, if any).
    Pruned(Evaluation),
}

/// A finished trial as the optimizer sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observation {
    /// Trial number.
    pub number: u64,
    /// The values.
    pub params: Assignment,
    /// Primary objective as a score (larger is better); `None` for a failed trial. A pruned
    /// trial is observed with the score of its last reported step (a lower bound on what it
    /// would have reached for most learning curves).
    pub score: Option<f64>,
    /// Every objective as a score (larger is better), in objective order (the first is
    /// [`Observation::score`]); `None` where a metric is missing or the trial failed. Empty
    /// when the caller knows only the primary score: use [`Observation::objective_scores`].
    pub scores: Vec<Option<f64>>,
    /// All metrics.
    pub metrics: Metrics,
    /// The intermediate results the trial reported, as `(step, primary score)` pairs (larger
    /// is better) in step order, for multi-fidelity optimizers; steps without the primary
    /// metric are left out. Empty when it reported none or the caller does not know them.
    pub steps: Vec<(u64, f64)>,
}

impl Observation {
    /// The scores of all objectives: [`Observation::scores`], or the primary score alone when
    /// that is empty.
    pub fn objective_scores(&self) -> std::borrow::Cow<'_, [Option<f64>]> {
        if self.scores.is_empty() {
            std::borrow::Cow::Owned(vec![self.score])
        } else {
            std::borrow::Cow::Borrowed(&self.scores)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_keeps_start_and_end_within_the_limit() {
        assert_eq!(shorten("short", 100), "short");
        let long = format!("BEGIN{}END", "é".repeat(100_000));
        for max in [60, 100, 1000, MAX_REASON_BYTES] {
            let s = shorten(&long, max);
            assert!(s.len() <= max, "{} > {max}", s.len());
            assert!(s.starts_with("BEGIN"), "{max}");
            assert!(s.ends_with("END"), "{max}");
            assert!(s.contains("bytes left out"), "{max}");
        }
        assert!(shorten(&long, 10).len() <= 10);
        assert_eq!(shorten(&long, 0), "");
    }
}
