//! Parameter domains as Optuna distributions, and values in Optuna's internal form.
//!
//! Every modnas domain has an exact counterpart: a real range is a `FloatDistribution` (no
//! step), an integer range an `IntDistribution` with step 1 (modnas integers have no other
//! step), a categorical a `CategoricalDistribution` whose choices are the modnas choices
//! (strings, integers, floats, booleans, as JSON). Optuna stores every value as a float: a
//! categorical value as the index of its choice, an integer as itself (so integers beyond
//! 2^53 lose precision there, as they do in Optuna itself).

use super::pyjson;
use modnas_core::param::{Domain, ParamValue, Value};

/// An Optuna distribution.
#[derive(Clone, Debug, PartialEq)]
pub enum Distribution {
    /// `FloatDistribution(low, high, log, step=None)`.
    Float {
        /// Smallest value.
        low: f64,
        /// Largest value.
        high: f64,
        /// Log scale.
        log: bool,
    },
    /// `IntDistribution(low, high, log, step=1)`.
    Int {
        /// Smallest value.
        low: i64,
        /// Largest value.
        high: i64,
        /// Log scale.
        log: bool,
    },
    /// `CategoricalDistribution(choices)`.
    Categorical {
        /// The choices, in order.
        choices: Vec<Value>,
    },
}

impl Distribution {
    /// The distribution of a modnas domain.
    pub fn of(domain: &Domain) -> Self {
        match domain {
            Domain::Float { low, high, log } => Distribution::Float {
                low: *low,
                high: *high,
                log: *log,
            },
            Domain::Int { low, high, log } => Distribution::Int {
                low: *low,
                high: *high,
                log: *log,
            },
            Domain::Categorical { choices } => Distribution::Categorical {
                choices: choices.clone(),
            },
        }
    }

    /// The `distribution_json` text Optuna reads back with `json_to_distribution`.
    pub fn to_json(&self) -> String {
        match self {
            Distribution::Float { low, high, log } => format!(
                r#"{{"name": "FloatDistribution", "attributes": {{"step": null, "low": {}, "high": {}, "log": {log}}}}}"#,
                pyjson::float(*low),
                pyjson::float(*high)
            ),
            Distribution::Int { low, high, log } => format!(
                r#"{{"name": "IntDistribution", "attributes": {{"log": {log}, "step": 1, "low": {low}, "high": {high}}}}}"#
            ),
            Distribution::Categorical { choices } => {
                let list = serde_json::Value::Array(choices.iter().map(Value::to_json).collect());
                format!(
                    r#"{{"name": "CategoricalDistribution", "attributes": {{"choices": {}}}}}"#,
                    pyjson::dumps(&list)
                )
            }
        }
    }

    /// The float Optuna stores for `v` (`trial_params.param_value`): the value itself, or the
    /// index of a categorical choice; `None` when `v` is not of this distribution's kind.
    pub fn internal(&self, v: &ParamValue) -> Option<f64> {
        match (self, v) {
            (Distribution::Float { .. }, ParamValue::Float(x)) => Some(*x),
            (Distribution::Int { .. }, ParamValue::Int(i)) => Some(*i as f64),
            (Distribution::Categorical { choices }, ParamValue::Choice(i))
                if *i < choices.len() =>
            {
                Some(*i as f64)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn each_domain_kind_becomes_its_optuna_distribution() {
        let lin = Distribution::of(&Domain::Float {
            low: -5.0,
            high: 5.0,
            log: false,
        });
        assert_eq!(
            lin.to_json(),
            r#"{"name": "FloatDistribution", "attributes": {"step": null, "low": -5.0, "high": 5.0, "log": false}}"#
        );
        let log = parse(
            &Distribution::of(&Domain::Float {
                low: 1e-5,
                high: 0.1,
                log: true,
            })
            .to_json(),
        );
        assert_eq!(log["name"], "FloatDistribution");
        assert_eq!(log["attributes"]["low"].as_f64(), Some(1e-5));
        assert_eq!(log["attributes"]["high"].as_f64(), Some(0.1));
        assert_eq!(log["attributes"]["log"], true);
        assert!(log["attributes"]["step"].is_null());

        let int = Distribution::of(&Domain::Int {
            low: 2,
            high: 64,
            log: true,
        });
        assert_eq!(
            int.to_json(),
            r#"{"name": "IntDistribution", "attributes": {"log": true, "step": 1, "low": 2, "high": 64}}"#
        );

        let cat = Distribution::of(&Domain::Categorical {
            choices: vec![
                Value::Str("relu".into()),
                Value::Int(3),
                Value::Float(2.5),
                Value::Bool(true),
            ],
        });
        assert_eq!(
            cat.to_json(),
            r#"{"name": "CategoricalDistribution", "attributes": {"choices": ["relu", 3, 2.5, true]}}"#
        );
    }

    #[test]
    fn values_are_stored_as_optuna_floats() {
        let cat = Distribution::Categorical {
            choices: vec![Value::Str("a".into()), Value::Str("b".into())],
        };
        assert_eq!(cat.internal(&ParamValue::Choice(1)), Some(1.0));
        assert_eq!(cat.internal(&ParamValue::Choice(2)), None);
        assert_eq!(cat.internal(&ParamValue::Float(1.0)), None);
        let int = Distribution::Int {
            low: -3,
            high: 3,
            log: false,
        };
        assert_eq!(int.internal(&ParamValue::Int(-2)), Some(-2.0));
        assert_eq!(int.internal(&ParamValue::Choice(0)), None);
        let float = Distribution::Float {
            low: 0.0,
            high: 1.0,
            log: false,
        };
        assert_eq!(float.internal(&ParamValue::Float(0.125)), Some(0.125));
        assert_eq!(float.internal(&ParamValue::Int(0)), None);
    }
}
