//! Median and percentile stopping: stop a trial whose value at a step is below a percentile of
//! the other trials' values at that step.

use super::{Decision, PruneContext, Pruner, PrunerRegistry, Report, quantile};
use crate::registry::{Args, RegistryError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Arguments of [`Percentile`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PercentileArgs {
    /// A trial whose score is below this percentile (0–100) of the others' scores at the same
    /// step is pruned: 50 is the median rule, 25 prunes the worst quarter.
    pub percentile: f64,
    /// Steps before this one are never pruned.
    pub warmup_steps: u64,
    /// No decision at a step until this many other trials reported it.
    pub min_trials: usize,
}

impl Default for PercentileArgs {
    fn default() -> Self {
        PercentileArgs {
            percentile: 50.0,
            warmup_steps: 0,
            min_trials: 5,
        }
    }
}

impl Args for PercentileArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if !(0.0..=100.0).contains(&self.percentile) {
            return Err((
                "percentile".into(),
                format!(
                    "percentile must be within 0 and 100, got {}",
                    self.percentile
                ),
            ));
        }
        Ok(())
    }
    fn help() -> &'static [(&'static str, &'static str)] {
        &[
            (
                "percentile",
                "prune below this percentile (0-100) of the other trials at the same step",
            ),
            ("warmup_steps", "steps before this one are never pruned"),
            (
                "min_trials",
                "other trials that must have reported a step before it is judged",
            ),
        ]
    }
}

/// Arguments of the median stopping rule (a [`Percentile`] at 50).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MedianArgs {
    /// Steps before this one are never pruned.
    pub warmup_steps: u64,
    /// No decision at a step until this many other trials reported it.
    pub min_trials: usize,
}

impl Default for MedianArgs {
    fn default() -> Self {
        let p = PercentileArgs::default();
        MedianArgs {
            warmup_steps: p.warmup_steps,
            min_trials: p.min_trials,
        }
    }
}

impl Args for MedianArgs {
    fn help() -> &'static [(&'static str, &'static str)] {
        &PercentileArgs::help()[1..]
    }
}

/// Percentile stopping (the median stopping rule at 50).
pub struct Percentile {
    args: PercentileArgs,
    /// Per step, each trial's score there.
    at: BTreeMap<u64, BTreeMap<u64, f64>>,
}

impl Percentile {
    /// A percentile pruner.
    pub fn new(args: PercentileArgs) -> Self {
        Percentile {
            args,
            at: BTreeMap::new(),
        }
    }
}

impl Pruner for Percentile {
    fn report(&mut self, r: &Report<'_>) -> Decision {
        let here = self.at.entry(r.step).or_default();
        here.insert(r.trial, r.score());
        if r.step < self.args.warmup_steps {
            return Decision::Continue;
        }
        let mut others: Vec<f64> = here
            .iter()
            .filter(|&(&t, _)| t != r.trial)
            .map(|(_, &v)| v)
            .collect();
        if others.len() < self.args.min_trials.max(1) {
            return Decision::Continue;
        }
        match quantile(&mut others, self.args.percentile / 100.0) {
            Some(q) if r.score() < q => Decision::Prune,
            _ => Decision::Continue,
        }
    }
}

pub(super) fn register(reg: &mut PrunerRegistry) -> Result<(), RegistryError> {
    reg.add::<MedianArgs>(
        "MedianStopping",
        &["Median"],
        "Prunes a trial below the median of the other trials at the same step (median stopping rule).",
        |a, _: &PruneContext| {
            Ok(Box::new(Percentile::new(PercentileArgs {
                percentile: 50.0,
                warmup_steps: a.warmup_steps,
                min_trials: a.min_trials,
            })))
        },
    )?;
    reg.add::<PercentileArgs>(
        "Percentile",
        &[],
        "Prunes a trial below a percentile of the other trials at the same step.",
        |a, _: &PruneContext| Ok(Box::new(Percentile::new(a))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::prune::report_value as rep;

    #[test]
    fn median_rule_on_a_hand_computed_example() {
        let mut p = Percentile::new(PercentileArgs {
            min_trials: 3,
            ..Default::default()
        });
        // Three trials at step 1: 0.1, 0.5, 0.9 (too few others for each at first).
        assert_eq!(rep(&mut p, 0, 1, 0.1), Decision::Continue);
        assert_eq!(rep(&mut p, 1, 1, 0.5), Decision::Continue);
        assert_eq!(rep(&mut p, 2, 1, 0.9), Decision::Continue);
        // Median of the others {0.1, 0.5, 0.9} is 0.5: 0.4 is pruned, 0.5 and 0.6 go on.
        assert_eq!(rep(&mut p, 3, 1, 0.4), Decision::Prune);
        assert_eq!(rep(&mut p, 4, 1, 0.5), Decision::Continue);
        // Others now {0.1, 0.5, 0.9, 0.4, 0.5}: median 0.5.
        assert_eq!(rep(&mut p, 5, 1, 0.45), Decision::Prune);
        // Step 2 has no values yet: no decision.
        assert_eq!(rep(&mut p, 5, 2, 0.0), Decision::Continue);
    }

    #[test]
    fn percentile_and_warmup() {
        let mut p = Percentile::new(PercentileArgs {
            percentile: 25.0,
            warmup_steps: 2,
            min_trials: 1,
        });
        for (t, v) in [(0, 1.0), (1, 2.0), (2, 3.0), (3, 4.0), (4, 5.0)] {
            rep(&mut p, t, 1, v);
            rep(&mut p, t, 2, v);
        }
        // Step 1 is in the warm-up, whatever the value.
        assert_eq!(rep(&mut p, 9, 1, -100.0), Decision::Continue);
        // The 25th percentile of {1, 2, 3, 4, 5} is 2.
        assert_eq!(rep(&mut p, 9, 2, 1.9), Decision::Prune);
        assert_eq!(rep(&mut p, 8, 2, 2.0), Decision::Continue);
    }
}
