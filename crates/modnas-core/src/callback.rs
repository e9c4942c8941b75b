//! Callbacks observe the search: progress display, logging, custom reporting.

use crate::objective::Objectives;
use crate::param::ParamSpace;
use crate::trial::Trial;

/// A view of the search for callbacks.
pub struct Status<'a> {
    /// The space.
    pub space: &'a ParamSpace,
    /// The objectives.
    pub objectives: &'a Objectives,
    /// Trials finished (complete or failed), over the whole run.
    pub finished: u64,
    /// Failed trials, over the whole run.
    pub failed: u64,
    /// The trial budget, if any.
    pub max_trials: Option<u64>,
    /// The best trial so far (primary objective).
    pub best: Option<&'a Trial>,
    /// Seconds spent in the run (all sessions).
    pub elapsed: f64,
    /// Simulated cost accumulated.
    pub cost: f64,
}

/// Observes a search.
pub trait Callback: Send {
    /// Before the first proposal of this session.
    fn on_start(&mut self, _status: &Status<'_>) {}
    /// After each trial finishes (and is durable in the journal).
    fn on_trial_end(&mut self, _trial: &Trial, _status: &Status<'_>) {}
    /// After the last trial of this session.
    fn on_end(&mut self, _status: &Status<'_>) {}
}
