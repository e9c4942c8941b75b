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

    /// The metrics it reads (a missing one stops the search instead of failing every trial).
    fn requires(&self) -> Vec<String> {
        Vec::new()
    }
}

/// What metric builders get (nothing yet).
pub struct MetricContext;

/// The metric registry.
pub type MetricRegistry = crate::registry::Registry<dyn Metric, MetricContext>;

/// A new, empty metric registry (names may end with `Metrics`).
pub fn new_registry() -> MetricRegistry {
    crate::registry::Registry::new("metric", &["metrics", "metric"])
}

/// One term of an aggregated metric.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Term {
    /// The metric.
    pub metric: String,
    /// Weight (sum) or exponent (product).
    #[serde(default = "one")]
    pub weight: f64,
    /// The value is divided by this first.
    #[serde(default = "one")]
    pub base: f64,
    /// Exponent used instead of `weight` when the value exceeds `base` (product only; MnasNet's β).
    #[serde(default)]
    pub above: Option<f64>,
}

fn one() -> f64 {
    1.0
}

/// Arguments of the aggregation metrics.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AggArgs {
    /// The terms.
    pub terms: Vec<Term>,
}

impl crate::registry::Args for AggArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if self.terms.is_empty() {
            return Err((
                "terms".into(),
                "give at least one term, e.g. `terms: [{metric: val_acc}]`".into(),
            ));
        }
        if self
            .terms
            .iter()
            .any(|t| t.base == 0.0 || !t.base.is_finite())
        {
            return Err(("terms".into(), "`base` must be a non-zero number".into()));
        }
        Ok(())
    }

    fn help() -> &'static [(&'static str, &'static str)] {
        &[("terms", "list of {metric, weight: 1, base: 1, above: null}")]
    }
}

fn value(input: &MetricInput<'_>, t: &Term) -> Result<f64, String> {
    input
        .metrics
        .get(&t.metric)
        .copied()
        .ok_or_else(|| format!("metric `{}` is not available", t.metric))
}

/// `Σ weight · value / base`.
pub struct SumAgg(AggArgs);

impl Metric for SumAgg {
    fn requires(&self) -> Vec<String> {
        self.0.terms.iter().map(|t| t.metric.clone()).collect()
    }

    fn compute(&self, input: &MetricInput<'_>) -> Result<f64, String> {
        self.0
            .terms
            .iter()
            .map(|t| value(input, t).map(|v| t.weight * v / t.base))
            .sum()
    }
}

/// `Π (value / base)^e` with `e = above` when `value > base` (if given), else `weight`
/// (MnasNet-style multi-objective reward).
pub struct ProdAgg(AggArgs);

impl Metric for ProdAgg {
    fn requires(&self) -> Vec<String> {
        self.0.terms.iter().map(|t| t.metric.clone()).collect()
    }

    fn compute(&self, input: &MetricInput<'_>) -> Result<f64, String> {
        let mut p = 1.0;
        for t in &self.0.terms {
            let v = value(input, t)?;
            let e = match t.above {
                Some(b) if v > t.base => b,
                _ => t.weight,
            };
            p *= (v / t.base).powf(e);
        }
        Ok(p)
    }
}

/// Registers the aggregation metrics.
pub fn register_all(reg: &mut MetricRegistry) -> Result<(), crate::registry::RegistryError> {
    reg.add::<AggArgs>(
        "SumAgg",
        &["SumAggMetrics", "WeightedSum"],
        "Weighted sum of metrics: Σ weight·value/base.",
        |a, _| Ok(Box::new(SumAgg(a))),
    )?;
    reg.add::<AggArgs>(
        "ProdAgg",
        &["ProdAggMetrics", "MnasNetReward"],
        "Product of powers of metrics: Π (value/base)^e, e = `above` when value > base else `weight` (MnasNet reward).",
        |a, _| Ok(Box::new(ProdAgg(a))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::param::ParamSpace;

    #[test]
    fn aggregations() {
        let m: Metrics = [("acc".to_string(), 0.8), ("lat".to_string(), 40.0)].into();
        let space = ParamSpace::new();
        let a = crate::param::Assignment(vec![]);
        let input = MetricInput {
            metrics: &m,
            space: &space,
            params: &a,
            model: None,
        };
        let t = |metric: &str, weight: f64, base: f64, above: Option<f64>| Term {
            metric: metric.into(),
            weight,
            base,
            above,
        };
        let s = SumAgg(AggArgs {
            terms: vec![t("acc", 2.0, 1.0, None), t("lat", -1.0, 20.0, None)],
        });
        assert!((s.compute(&input).unwrap() - (1.6 - 2.0)).abs() < 1e-12);
        // MnasNet: acc · (lat/target)^w with w = -0.07 both sides.
        let p = ProdAgg(AggArgs {
            terms: vec![t("acc", 1.0, 1.0, None), t("lat", -0.07, 80.0, Some(-0.07))],
        });
        assert!((p.compute(&input).unwrap() - 0.8 * 0.5f64.powf(-0.07)).abs() < 1e-12);
        let bad = SumAgg(AggArgs {
            terms: vec![t("nope", 1.0, 1.0, None)],
        });
        assert!(bad.compute(&input).unwrap_err().contains("nope"));
    }
}
