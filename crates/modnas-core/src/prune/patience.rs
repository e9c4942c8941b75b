//! Patience pruning: stop a trial whose own learning curve stopped improving.

use super::{Decision, PruneContext, Pruner, PrunerRegistry, Report};
use crate::registry::{Args, RegistryError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Arguments of [`Patience`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PatienceArgs {
    /// Prune when the last `patience` reported steps did not beat the best score before them.
    pub patience: usize,
    /// An improvement must exceed this (in score units).
    pub min_delta: f64,
    /// Steps before this one are neither judged nor counted.
    pub warmup_steps: u64,
}

impl Default for PatienceArgs {
    fn default() -> Self {
        PatienceArgs {
            patience: 3,
            min_delta: 0.0,
            warmup_steps: 0,
        }
    }
}

impl Args for PatienceArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if self.patience == 0 {
            return Err(("patience".into(), "patience must be at least 1".into()));
        }
        if !(self.min_delta.is_finite() && self.min_delta >= 0.0) {
            return Err((
                "min_delta".into(),
                format!("min_delta must be 0 or more, got {}", self.min_delta),
            ));
        }
        Ok(())
    }
    fn help() -> &'static [(&'static str, &'static str)] {
        &[
            (
                "patience",
                "prune after this many steps without beating the trial's earlier best",
            ),
            ("min_delta", "an improvement must exceed this"),
            (
                "warmup_steps",
                "steps before this one are neither judged nor counted",
            ),
        ]
    }
}

/// Prunes a trial whose last `patience` steps did not improve on its best before them.
pub struct Patience {
    args: PatienceArgs,
    /// Per trial, its scores by step.
    curves: BTreeMap<u64, BTreeMap<u64, f64>>,
}

impl Pruner for Patience {
    fn report(&mut self, r: &Report<'_>) -> Decision {
        if r.step < self.args.warmup_steps {
            return Decision::Continue;
        }
        let curve = self.curves.entry(r.trial).or_default();
        curve.insert(r.step, r.score());
        let scores: Vec<f64> = curve.range(..=r.step).map(|(_, &v)| v).collect();
        let n = scores.len();
        if n <= self.args.patience {
            return Decision::Continue;
        }
        let split = n - self.args.patience;
        let before = scores[..split]
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let recent = scores[split..]
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        if recent > before + self.args.min_delta {
            Decision::Continue
        } else {
            Decision::Prune
        }
    }
}

pub(super) fn register(reg: &mut PrunerRegistry) -> Result<(), RegistryError> {
    reg.add::<PatienceArgs>(
        "Patience",
        &["EarlyStopping"],
        "Prunes a trial whose last `patience` steps did not beat its own best before them.",
        |a, _: &PruneContext| {
            Ok(Box::new(Patience {
                args: a,
                curves: BTreeMap::new(),
            }))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_curve_is_pruned_after_the_patience() {
        let mut p = Patience {
            args: PatienceArgs {
                patience: 2,
                min_delta: 0.05,
                warmup_steps: 1,
            },
            curves: BTreeMap::new(),
        };
        let mut d = |t, step, v: f64| {
            p.report(&Report {
                trial: t,
                step,
                scores: &[v],
                value: v,
            })
        };
        // Step 0 is warm-up and not counted.
        assert_eq!(d(0, 0, 9.0), Decision::Continue);
        assert_eq!(d(0, 1, 0.5), Decision::Continue);
        assert_eq!(d(0, 2, 0.6), Decision::Continue);
        // Best before the last two is 0.5; 0.6 beats it by more than 0.05.
        assert_eq!(d(0, 3, 0.6), Decision::Continue);
        // Best before the last two (steps 3, 4) is 0.6; 0.64 is within min_delta.
        assert_eq!(d(0, 4, 0.64), Decision::Prune);
        // Another trial has its own curve.
        assert_eq!(d(1, 1, 0.0), Decision::Continue);
    }
}
