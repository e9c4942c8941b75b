//! Metrics computed from other metrics (and, for tensor estimators, from the model).

use crate::objective::Metrics;
use crate::param::{Assignment, ParamSpace};
use std::any::Any;

/// What a metric sees.
pub struct MetricInput<'a> {
    /// Metrics measured so far for this trial.
    pub metrics: &'a Metrics,
    /// The space.
    pub space: &'a ParamSpace,
    /// The trial's values.
    pub params: &'a Assignment,
    /// The model, for estimators that have one.
    pub model: Option<&'a dyn Any>,
}

/// A named property of an evaluated architecture (paper Appendix E).
pub trait Metric: Send + Sync {
    /// Computes the value.
    fn compute(&self, input: &MetricInput<'_>) -> Result<f64, String>;
}

/// What metric builders get (nothing yet).
pub struct MetricContext;

/// The metric registry.
pub type MetricRegistry = crate::registry::Registry<dyn Metric, MetricContext>;

/// A new, empty metric registry (names may end with `Metrics`).
pub fn new_registry() -> MetricRegistry {
    crate::registry::Registry::new("metric", &["metrics", "metric"])
}
