//! Constraints on metrics (`constraints: [{metric: latency, max: 20}]`) and their violation.

use modnas_core::objective::Metrics;
use serde::{Deserialize, Serialize};

/// A bound on one metric: a trial is feasible when every bound holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constraint {
    /// The metric.
    pub metric: String,
    /// Largest allowed value.
    #[serde(default)]
    pub max: Option<f64>,
    /// Smallest allowed value.
    #[serde(default)]
    pub min: Option<f64>,
}

impl Constraint {
    /// How far `metrics` are outside this bound (0 when inside); infinite when the metric is
    /// missing or not finite.
    pub fn violation(&self, metrics: &Metrics) -> f64 {
        let Some(&v) = metrics.get(&self.metric) else {
            return f64::INFINITY;
        };
        if !v.is_finite() {
            return f64::INFINITY;
        }
        let over = self.max.map_or(0.0, |m| (v - m).max(0.0));
        let under = self.min.map_or(0.0, |m| (m - v).max(0.0));
        over + under
    }
}

/// The sum of the violations of every constraint (0: feasible).
pub fn total_violation(constraints: &[Constraint], metrics: &Metrics) -> f64 {
    constraints.iter().map(|c| c.violation(metrics)).sum()
}

/// For [`Args::check`](modnas_core::registry::Args::check): every constraint names a metric and
/// has finite, consistent bounds.
pub fn check_constraints(constraints: &[Constraint]) -> Result<(), (String, String)> {
    for (i, c) in constraints.iter().enumerate() {
        let field = format!("constraints[{i}]");
        if c.metric.trim().is_empty() {
            return Err((field, "a constraint needs a `metric`".into()));
        }
        if c.max.is_none() && c.min.is_none() {
            return Err((
                field,
                format!(
                    "the constraint on `{}` needs `max` or `min` (or both)",
                    c.metric
                ),
            ));
        }
        if c.max.is_some_and(|m| !m.is_finite()) || c.min.is_some_and(|m| !m.is_finite()) {
            return Err((field, "constraint bounds must be finite numbers".into()));
        }
        if let (Some(lo), Some(hi)) = (c.min, c.max)
            && lo > hi
        {
            return Err((
                field,
                format!("the constraint on `{}` has `min` > `max`", c.metric),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violation_is_the_distance_outside_the_bounds() {
        let c = Constraint {
            metric: "latency".into(),
            max: Some(20.0),
            min: Some(1.0),
        };
        let m = |v: f64| -> Metrics { [("latency".to_string(), v)].into() };
        assert_eq!(c.violation(&m(10.0)), 0.0);
        assert_eq!(c.violation(&m(25.0)), 5.0);
        assert_eq!(c.violation(&m(0.5)), 0.5);
        assert_eq!(c.violation(&Metrics::new()), f64::INFINITY);
        assert_eq!(c.violation(&m(f64::NAN)), f64::INFINITY);
        assert_eq!(total_violation(&[c.clone(), c], &m(22.0)), 4.0);
    }

    #[test]
    fn bad_constraints_are_rejected_with_their_field() {
        let ok = Constraint {
            metric: "latency".into(),
            max: Some(20.0),
            min: None,
        };
        assert!(check_constraints(std::slice::from_ref(&ok)).is_ok());
        let none = Constraint {
            max: None,
            ..ok.clone()
        };
        let (field, msg) = check_constraints(&[ok.clone(), none]).unwrap_err();
        assert_eq!(field, "constraints[1]");
        assert!(msg.contains("`max` or `min`"), "{msg}");
        let crossed = Constraint {
            min: Some(30.0),
            ..ok
        };
        assert!(check_constraints(&[crossed]).unwrap_err().1.contains("min"));
    }
}
