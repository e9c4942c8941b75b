//! Pruners: stop unpromising trials early from their intermediate results.
//!
//! An evaluation reports metrics at growing steps (epochs, budget used) through the
//! [`Reporter`](crate::estimator::Reporter) of its context; the search turns each report into a
//! [`Report`] (the objectives as scores, larger is better) and asks the run's pruner for a
//! [`Decision`]. A pruned trial is recorded as `pruned`, keeps the metrics of its last reported
//! step, and the optimizer is told it as an observation with that step's score.
//!
//! Every pruner's state is a function of the values it was shown, never of the decisions it
//! made: on resume the search rebuilds it by showing it again the stored steps of every finished
//! trial, so a resumed run decides as the uninterrupted one would. Several workers may report at
//! once; the search serialises the calls.
//!
//! Pruners are chosen by name under `prune:` (`prune: {type: ASHA, args: {eta: 3}}`) from the
//! registry filled by [`register_all`].

mod hub;
mod patience;
mod percentile;
mod rungs;
mod threshold;

pub use hub::{PruneHub, Taken, TrialReporter};
pub use patience::{Patience, PatienceArgs};
pub use percentile::{MedianArgs, Percentile, PercentileArgs};
pub use rungs::{Hyperband, HyperbandArgs, RungArgs, Rungs};
pub use threshold::{Threshold, ThresholdArgs};

pub use crate::estimator::Decision;
use crate::registry::{Registry, RegistryError};

/// One intermediate result as a pruner sees it.
#[derive(Clone, Copy, Debug)]
pub struct Report<'a> {
    /// Trial number.
    pub trial: u64,
    /// The step it was measured at.
    pub step: u64,
    /// Every objective as a score (larger is better), in the order of the objectives; `NaN`
    /// for one the step did not report (the primary objective is always there).
    pub scores: &'a [f64],
    /// The primary objective's metric value, as reported.
    pub value: f64,
}

impl Report<'_> {
    /// The primary objective's score.
    pub fn score(&self) -> f64 {
        self.scores[0]
    }
}

/// Decides, from intermediate results, which trials to stop.
pub trait Pruner: Send {
    /// Records `report` and says whether its trial should go on. A step reported again by the
    /// same trial replaces the earlier value.
    fn report(&mut self, report: &Report<'_>) -> Decision;
}

/// What pruner builders get.
#[derive(Clone, Debug, Default)]
pub struct PruneContext {
    /// The run seed.
    pub seed: u64,
    /// The number of objectives (multi-objective pruners need more than one).
    pub objectives: usize,
}

/// The pruner registry.
pub type PrunerRegistry = Registry<dyn Pruner, PruneContext>;

/// A new, empty pruner registry (names may end with `Pruner`).
pub fn new_registry() -> PrunerRegistry {
    Registry::new("pruner", &["pruner"])
}

/// Registers every pruner.
pub fn register_all(reg: &mut PrunerRegistry) -> Result<(), RegistryError> {
    percentile::register(reg)?;
    rungs::register(reg)?;
    threshold::register(reg)?;
    patience::register(reg)
}

/// The `q`-quantile (0 ≤ q ≤ 1) of `values`, linearly interpolated; `None` when empty.
pub(crate) fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Some(values[lo] + (values[hi] - values[lo]) * (pos - lo as f64))
}

/// Reports one single-objective value (for the pruners' tests).
#[cfg(test)]
pub(crate) fn report_value(p: &mut dyn Pruner, trial: u64, step: u64, v: f64) -> Decision {
    p.report(&Report {
        trial,
        step,
        scores: &[v],
        value: v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ComponentSpec, yaml};

    #[test]
    fn quantiles_interpolate() {
        assert_eq!(quantile(&mut [], 0.5), None);
        assert_eq!(quantile(&mut [3.0, 1.0, 2.0], 0.5), Some(2.0));
        assert_eq!(quantile(&mut [1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        assert_eq!(quantile(&mut [1.0, 2.0, 3.0, 4.0, 5.0], 0.25), Some(2.0));
    }

    /// Every registered pruner builds from its defaults (Hyperband needs `max_resource`) and
    /// answers reports.
    #[test]
    fn every_registered_pruner_builds_and_decides() {
        let mut reg = new_registry();
        register_all(&mut reg).unwrap();
        let ctx = PruneContext {
            seed: 0,
            objectives: 1,
        };
        assert!(reg.entries().len() >= 7);
        for e in reg.entries() {
            let args = match e.name {
                "Hyperband" => "{max_resource: 27}",
                "Threshold" => "{lower: 0.0}",
                _ => "{}",
            };
            let node = yaml::parse_str("c.yaml", &format!("p: {{type: {}, args: {args}}}", e.name))
                .unwrap();
            let spec = ComponentSpec::parse(node.get("p").unwrap(), "p").unwrap();
            let mut p = reg
                .build(&spec, &ctx)
                .unwrap_or_else(|err| panic!("{}: {err}", e.name));
            // Ten trials with straight learning curves: trial t scores t·step/100.
            let mut pruned = 0;
            for t in 0..10u64 {
                for step in 1..=27u64 {
                    let s = [t as f64 * step as f64 / 100.0];
                    let r = Report {
                        trial: t,
                        step,
                        scores: &s,
                        value: s[0],
                    };
                    if p.report(&r) == Decision::Prune {
                        pruned += 1;
                        break;
                    }
                }
            }
            assert!(pruned < 10, "{}: every trial pruned", e.name);
        }
    }

    #[test]
    fn bad_arguments_are_located_errors() {
        let mut reg = new_registry();
        register_all(&mut reg).unwrap();
        let ctx = PruneContext::default();
        for (text, field) in [
            ("{type: ASHA, args: {eta: 1}}", "eta"),
            ("{type: Percentile, args: {percentile: 120}}", "percentile"),
            ("{type: Hyperband, args: {}}", "max_resource"),
            ("{type: Threshold, args: {}}", "lower"),
            ("{type: Patience, args: {patience: 0}}", "patience"),
            ("{type: ASHA, args: {etta: 2}}", "etta"),
        ] {
            let node = yaml::parse_str("c.yaml", &format!("p: {text}")).unwrap();
            let spec = ComponentSpec::parse(node.get("p").unwrap(), "p").unwrap();
            let err = reg.build(&spec, &ctx).err().expect(text).to_string();
            assert!(err.contains(field), "{text}: {err}");
        }
    }
}
