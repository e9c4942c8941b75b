//! The Estimator interface (the paper's ω and η): it evaluates an assignment into metrics.

use crate::objective::{Metrics, Objective};
use crate::param::{Assignment, ParamSpace};
use crate::trial::{Evaluation, TrialFailure};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// What an evaluation knows about its trial.
pub struct EvalContext<'a> {
    /// Trial number.
    pub trial: u64,
    /// The trial's seed.
    pub seed: u64,
    /// The space the assignment belongs to.
    pub space: &'a ParamSpace,
    /// The run directory, when the run has one.
    pub run_dir: Option<&'a Path>,
    /// Set when the search is interrupted: long evaluations should stop and return
    /// [`TrialFailure::cancelled`].
    pub cancel: &'a AtomicBool,
    /// Where the evaluation reports intermediate results (per epoch, per budget); the answer
    /// says whether to go on. [`NoReport`] when nobody listens.
    pub reporter: &'a dyn Reporter,
}

/// What the pruner answers to an intermediate result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Go on evaluating.
    Continue,
    /// Stop now: the trial is recorded as pruned with the metrics of its last reported step,
    /// whatever the evaluation returns afterwards (a failure included), unless it was cancelled
    /// (interrupted trials go back to the queue).
    Prune,
}

/// Receives a trial's intermediate results while it is evaluated.
///
/// Estimators that train (networks, external programs printing step lines, multi-fidelity
/// functions) call [`Reporter::report`] after each step and stop soon after a
/// [`Decision::Prune`]; the values are kept in the journal as the trial's learning curve.
pub trait Reporter: Send + Sync {
    /// Reports the metrics measured at `step` (steps should grow; a step reported again
    /// replaces the earlier value).
    fn report(&self, step: u64, metrics: &Metrics) -> Decision;

    /// Whether a step was answered with [`Decision::Prune`].
    fn pruned(&self) -> bool {
        false
    }
}

/// A reporter that keeps nothing and always answers [`Decision::Continue`].
pub struct NoReport;

impl Reporter for NoReport {
    fn report(&self, _step: u64, _metrics: &Metrics) -> Decision {
        Decision::Continue
    }
}

/// Evaluates assignments into metrics: by training a network, looking up a benchmark table,
/// or running an external program.
pub trait Estimator: Send + Sync {
    /// The space this estimator defines (a benchmark table knows its own), if any.
    fn space(&self) -> Option<ParamSpace> {
        None
    }

    /// The metrics every evaluation reports, when known in advance (benchmark tables): objectives
    /// are then checked against them before the search starts.
    fn metric_names(&self) -> Option<Vec<String>> {
        None
    }

    /// The objectives to use when the configuration names none.
    fn default_objectives(&self) -> Vec<Objective> {
        Vec::new()
    }

    /// Evaluates one assignment.
    fn evaluate(
        &self,
        ctx: &EvalContext<'_>,
        params: &Assignment,
    ) -> Result<Evaluation, TrialFailure>;

    /// A human-readable description of an assignment (e.g. a NAS-Bench-201 cell string).
    fn describe(&self, _space: &ParamSpace, _params: &Assignment) -> Option<String> {
        None
    }

    /// Facts worth printing next to a result, e.g. the seed-mean accuracy of an architecture in a
    /// benchmark table and the table's optimum, as `(label, value)` pairs.
    fn facts(&self, _space: &ParamSpace, _params: &Assignment) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The most evaluations this estimator can run at once (`None`: no limit).
    fn max_parallel(&self) -> Option<usize> {
        None
    }
}

/// What estimator builders get.
pub struct EstimContext {
    /// The space given in the configuration's `space:` section, if any.
    pub space: Option<ParamSpace>,
    /// Seed of the estimator.
    pub seed: u64,
    /// Directory that relative paths in the estimator's arguments are resolved against.
    pub base_dir: PathBuf,
}

impl EstimContext {
    /// Resolves a path from the configuration.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}

/// The estimator registry.
pub type EstimRegistry = crate::registry::Registry<dyn Estimator, EstimContext>;

/// A new, empty estimator registry (names may end with `Estim` / `Estimator`).
pub fn new_registry() -> EstimRegistry {
    crate::registry::Registry::new("estimator", &["estimator", "estim"])
}
