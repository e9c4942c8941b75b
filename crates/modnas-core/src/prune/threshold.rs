//! Threshold pruning: stop a trial whose value leaves a fixed range.

use super::{Decision, PruneContext, Pruner, PrunerRegistry, Report};
use crate::registry::{Args, RegistryError};
use serde::{Deserialize, Serialize};

/// Arguments of [`Threshold`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThresholdArgs {
    /// Prune when the primary metric's value is below this.
    pub lower: Option<f64>,
    /// Prune when the primary metric's value is above this.
    pub upper: Option<f64>,
    /// Steps before this one are never pruned.
    pub warmup_steps: u64,
}

impl Args for ThresholdArgs {
    fn check(&self) -> Result<(), (String, String)> {
        match (self.lower, self.upper) {
            (None, None) => Err((
                "lower".into(),
                "give `lower`, `upper` or both (the range of values a trial may report)".into(),
            )),
            (Some(l), Some(u)) if l > u => {
                Err(("lower".into(), format!("lower ({l}) is above upper ({u})")))
            }
            _ => Ok(()),
        }
    }
    fn help() -> &'static [(&'static str, &'static str)] {
        &[
            ("lower", "prune when the primary metric is below this"),
            ("upper", "prune when the primary metric is above this"),
            ("warmup_steps", "steps before this one are never pruned"),
        ]
    }
}

/// Prunes on the primary metric's raw value: below `lower`, above `upper`, or not a number.
pub struct Threshold(ThresholdArgs);

impl Pruner for Threshold {
    fn report(&mut self, r: &Report<'_>) -> Decision {
        if r.step < self.0.warmup_steps {
            return Decision::Continue;
        }
        let v = r.value;
        let out = v.is_nan()
            || self.0.lower.is_some_and(|l| v < l)
            || self.0.upper.is_some_and(|u| v > u);
        if out {
            Decision::Prune
        } else {
            Decision::Continue
        }
    }
}

pub(super) fn register(reg: &mut PrunerRegistry) -> Result<(), RegistryError> {
    reg.add::<ThresholdArgs>(
        "Threshold",
        &[],
        "Prunes a trial whose primary metric leaves [lower, upper] (or is NaN).",
        |a, _: &PruneContext| Ok(Box::new(Threshold(a))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_the_range_is_pruned() {
        let mut p = Threshold(ThresholdArgs {
            lower: Some(0.0),
            upper: Some(10.0),
            warmup_steps: 2,
        });
        let mut d = |step, v: f64| {
            p.report(&Report {
                trial: 0,
                step,
                scores: &[-v],
                value: v,
            })
        };
        assert_eq!(d(1, 100.0), Decision::Continue);
        assert_eq!(d(2, 5.0), Decision::Continue);
        assert_eq!(d(2, 10.0), Decision::Continue);
        assert_eq!(d(3, 10.5), Decision::Prune);
        assert_eq!(d(3, -0.1), Decision::Prune);
        assert_eq!(d(3, f64::NAN), Decision::Prune);
    }
}
