//! Trial states as Optuna stores them.

use modnas_core::trial::TrialState;

/// The state of an Optuna trial (the `trials.state` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptunaState {
    /// Evaluated, with a value for every objective.
    Complete,
    /// Stopped early by a pruner.
    Pruned,
    /// Evaluation failed (no values).
    Fail,
    /// Being evaluated.
    Running,
    /// Queued, not yet started.
    Waiting,
}

impl OptunaState {
    /// The name Optuna stores (`COMPLETE`, `PRUNED`, `FAIL`, `RUNNING`, `WAITING`).
    pub fn as_str(&self) -> &'static str {
        match self {
            OptunaState::Complete => "COMPLETE",
            OptunaState::Pruned => "PRUNED",
            OptunaState::Fail => "FAIL",
            OptunaState::Running => "RUNNING",
            OptunaState::Waiting => "WAITING",
        }
    }

    /// Whether Optuna considers the trial finished (it then needs `datetime_complete`).
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            OptunaState::Complete | OptunaState::Pruned | OptunaState::Fail
        )
    }
}

impl From<TrialState> for OptunaState {
    /// The state a modnas trial has in Optuna; a complete trial that lacks an objective is
    /// turned into [`OptunaState::Fail`] by the study mapping, not here.
    fn from(s: TrialState) -> Self {
        match s {
            TrialState::Waiting => OptunaState::Waiting,
            TrialState::Running => OptunaState::Running,
            TrialState::Complete => OptunaState::Complete,
            TrialState::Failed => OptunaState::Fail,
            TrialState::Pruned => OptunaState::Pruned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_modnas_state_has_its_optuna_name() {
        for (s, want, finished) in [
            (TrialState::Waiting, "WAITING", false),
            (TrialState::Running, "RUNNING", false),
            (TrialState::Complete, "COMPLETE", true),
            (TrialState::Failed, "FAIL", true),
            (TrialState::Pruned, "PRUNED", true),
        ] {
            let o = OptunaState::from(s);
            assert_eq!(o.as_str(), want);
            assert_eq!(o.is_finished(), finished, "{want}");
            assert_eq!(o.is_finished(), s.is_finished(), "{want}");
        }
    }
}
