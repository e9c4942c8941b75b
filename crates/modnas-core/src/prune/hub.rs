//! Where a search's running evaluations report their steps: the run's pruner, and the steps
//! kept until their trial is recorded.

use super::{Pruner, Report};
use crate::estimator::{Decision, Reporter};
use crate::objective::{Metrics, Objectives};
use crate::trial::Step;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
struct State {
    pruner: Option<Box<dyn Pruner>>,
    /// Steps of the trials being evaluated, by trial.
    steps: BTreeMap<u64, BTreeMap<u64, Metrics>>,
    /// Trials answered [`Decision::Prune`] and not yet taken.
    pruned: BTreeSet<u64>,
}

/// Collects intermediate results from every worker and asks the pruner (one call at a time).
pub struct PruneHub {
    objectives: Objectives,
    state: Mutex<State>,
}

/// What an evaluation left with the hub.
#[derive(Debug, Default)]
pub struct Taken {
    /// Its steps, in step order.
    pub steps: Vec<Step>,
    /// Whether it was told to stop.
    pub pruned: bool,
}

impl PruneHub {
    /// A hub for `objectives`, with `pruner` (`None`: steps are kept, nothing is pruned).
    pub fn new(pruner: Option<Box<dyn Pruner>>, objectives: Objectives) -> Self {
        PruneHub {
            objectives,
            state: Mutex::new(State {
                pruner,
                ..Default::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The pruner back, with its state.
    pub fn into_pruner(self) -> Option<Box<dyn Pruner>> {
        self.state
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .pruner
    }

    /// Whether there is a pruner.
    pub fn prunes(&self) -> bool {
        self.lock().pruner.is_some()
    }

    /// The pruner's view of a step; `None` when it lacks the primary objective.
    fn scores(&self, metrics: &Metrics) -> Option<(Vec<f64>, f64)> {
        let primary = self.objectives.primary();
        let value = *metrics.get(&primary.metric)?;
        let scores = self
            .objectives
            .0
            .iter()
            .map(|o| o.score(metrics).unwrap_or(f64::NAN))
            .collect();
        Some((scores, value))
    }

    fn ask(state: &mut State, trial: u64, step: u64, scored: Option<(Vec<f64>, f64)>) -> Decision {
        match (state.pruner.as_mut(), scored) {
            (Some(p), Some((scores, value))) => p.report(&Report {
                trial,
                step,
                scores: &scores,
                value,
            }),
            _ => Decision::Continue,
        }
    }

    /// Shows the pruner the stored steps of a finished trial (rebuilding its state on resume).
    pub fn replay(&self, trial: u64, steps: &[Step]) {
        let mut st = self.lock();
        for s in steps {
            let scored = self.scores(&s.metrics);
            Self::ask(&mut st, trial, s.step, scored);
        }
    }

    /// Records a step of `trial` and asks the pruner.
    pub fn report(&self, trial: u64, step: u64, metrics: &Metrics) -> Decision {
        let scored = self.scores(metrics);
        let mut st = self.lock();
        st.steps
            .entry(trial)
            .or_default()
            .insert(step, metrics.clone());
        if st.pruned.contains(&trial) {
            return Decision::Prune;
        }
        let d = Self::ask(&mut st, trial, step, scored);
        if d == Decision::Prune {
            st.pruned.insert(trial);
        }
        d
    }

    /// Whether `trial` was told to stop.
    pub fn is_pruned(&self, trial: u64) -> bool {
        self.lock().pruned.contains(&trial)
    }

    /// Takes what the evaluation of `trial` left (its steps, whether it was pruned).
    pub fn take(&self, trial: u64) -> Taken {
        let mut st = self.lock();
        let pruned = st.pruned.remove(&trial);
        let steps = st
            .steps
            .remove(&trial)
            .unwrap_or_default()
            .into_iter()
            .map(|(step, metrics)| Step { step, metrics })
            .collect();
        Taken { steps, pruned }
    }

    /// The reporter handed to the evaluation of `trial`.
    pub fn reporter(&self, trial: u64) -> TrialReporter<'_> {
        TrialReporter { hub: self, trial }
    }
}

/// The [`Reporter`] of one trial's evaluation.
pub struct TrialReporter<'a> {
    hub: &'a PruneHub,
    trial: u64,
}

impl Reporter for TrialReporter<'_> {
    fn report(&self, step: u64, metrics: &Metrics) -> Decision {
        self.hub.report(self.trial, step, metrics)
    }

    fn pruned(&self) -> bool {
        self.hub.is_pruned(self.trial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::Objective;
    use crate::prune::{RungArgs, Rungs};

    fn m(v: f64) -> Metrics {
        [("loss".to_string(), v)].into()
    }

    #[test]
    fn steps_are_kept_and_scored_in_the_objective_direction() {
        let pruner = Rungs::new(
            &RungArgs {
                eta: 2.0,
                max_resource: Some(4),
                ..Default::default()
            },
            1,
        );
        let hub = PruneHub::new(
            Some(Box::new(pruner)),
            Objectives(vec![Objective::minimize("loss")]),
        );
        assert_eq!(hub.report(0, 1, &m(0.5)), Decision::Continue);
        // Larger loss is worse: pruned, and stays pruned.
        assert_eq!(hub.reporter(1).report(1, &m(0.9)), Decision::Prune);
        assert!(hub.reporter(1).pruned());
        assert_eq!(hub.report(1, 2, &m(0.1)), Decision::Prune);
        // A step without the objective is kept but not judged.
        assert_eq!(
            hub.report(2, 1, &[("acc".to_string(), 1.0)].into()),
            Decision::Continue
        );
        let t = hub.take(1);
        assert!(t.pruned);
        assert_eq!(
            t.steps.iter().map(|s| s.step).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert!(!hub.is_pruned(1));
        assert!(hub.take(1).steps.is_empty());
    }
}
