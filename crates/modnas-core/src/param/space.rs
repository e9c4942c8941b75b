//! The ordered parameter space.

use super::{Assignment, Domain, ParamValue, TensorHandle, Value};
use crate::seed::Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// One named parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Param {
    /// Unique name within the space.
    pub name: String,
    /// Its values.
    pub domain: Domain,
}

/// A differentiable parameter known by its handle.
#[derive(Clone)]
pub struct TensorParam {
    /// Unique name within the space (shared with the other parameters' names).
    pub name: String,
    /// The tensor.
    pub handle: Arc<dyn TensorHandle>,
}

/// Errors about parameter spaces and assignments.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SpaceError {
    /// The domain of a parameter is invalid.
    #[error("parameter `{name}`: {reason}")]
    BadDomain {
        /// Parameter name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// An assignment names a parameter the space does not have.
    #[error("unknown parameter `{name}`{hint}")]
    UnknownParam {
        /// The unknown name.
        name: String,
        /// A "did you mean" suffix, possibly empty.
        hint: String,
    },
    /// An assignment lacks a parameter.
    #[error("missing value for parameter `{0}`")]
    MissingParam(String),
    /// A value does not fit its parameter.
    #[error("parameter `{name}`: {reason}")]
    BadValue {
        /// Parameter name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The space is not finite, so it has no mixed-radix index.
    #[error("the space is not finite: parameter `{0}` is real-valued")]
    NotFinite(String),
    /// The finite space is too large to be indexed.
    #[error("the space has more than 2^128 points")]
    TooLarge,
}

/// The parameter space: an ordered set of uniquely named parameters.
///
/// Order is registration order. The mixed-radix index of an assignment treats the **first**
/// parameter as the least significant digit, so grid search varies the first parameter fastest.
///
/// ```
/// use modnas_core::param::{Domain, ParamSpace, ParamValue, Value};
/// let mut space = ParamSpace::new();
/// space.add("op", Domain::Categorical { choices: vec![Value::from("conv"), Value::from("pool")] }).unwrap();
/// space.add("width", Domain::Int { low: 1, high: 3, log: false }).unwrap();
/// assert_eq!(space.cardinality().unwrap(), 6);
/// let a = space.assignment_at(3).unwrap();
/// assert_eq!(a.values(), &[ParamValue::Choice(1), ParamValue::Int(2)]);
/// assert_eq!(space.index_of(&a).unwrap(), 3);
/// ```
#[derive(Clone, Default)]
pub struct ParamSpace {
    params: Vec<Param>,
    tensors: Vec<TensorParam>,
    by_name: HashMap<String, usize>,
    counter: usize,
}

impl std::fmt::Debug for ParamSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParamSpace")
            .field("params", &self.params)
            .field(
                "tensors",
                &self.tensors.iter().map(|t| &t.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ParamSpace {
    /// An empty space.
    pub fn new() -> Self {
        Self::default()
    }

    fn unique_name(&self, wanted: &str, letter: char) -> String {
        let base = if wanted.is_empty() {
            format!("{letter}_{}", self.counter)
        } else {
            wanted.to_string()
        };
        if !self.name_taken(&base) {
            return base;
        }
        (1..)
            .map(|k| format!("{base}_{k}"))
            .find(|n| !self.name_taken(n))
            .unwrap_or(base)
    }

    fn name_taken(&self, name: &str) -> bool {
        self.by_name.contains_key(name) || self.tensors.iter().any(|t| t.name == name)
    }

    /// Adds a parameter and returns the unique name it was given: `name`, or `name_1`, `name_2`…
    /// when taken, or `c_<n>` / `n_<n>` (categorical / numeric) when `name` is empty.
    pub fn add(&mut self, name: &str, domain: Domain) -> Result<String, SpaceError> {
        domain.check().map_err(|reason| SpaceError::BadDomain {
            name: name.to_string(),
            reason,
        })?;
        let letter = if domain.is_categorical() { 'c' } else { 'n' };
        let name = self.unique_name(name, letter);
        self.counter += 1;
        self.by_name.insert(name.clone(), self.params.len());
        self.params.push(Param {
            name: name.clone(),
            domain,
        });
        Ok(name)
    }

    /// Adds a differentiable tensor parameter (named `t_<n>` when `name` is empty).
    pub fn add_tensor(&mut self, name: &str, handle: Arc<dyn TensorHandle>) -> String {
        let name = self.unique_name(name, 't');
        self.counter += 1;
        self.tensors.push(TensorParam {
            name: name.clone(),
            handle,
        });
        name
    }

    /// The (non-tensor) parameters in order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The tensor parameters in order.
    pub fn tensors(&self) -> &[TensorParam] {
        &self.tensors
    }

    /// Number of (non-tensor) parameters.
    pub fn len(&self) -> usize {
        self.params.len()
    }

    /// Whether there are no (non-tensor) parameters.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// The position of parameter `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The parameter called `name`.
    pub fn get(&self, name: &str) -> Option<&Param> {
        self.position(name).map(|i| &self.params[i])
    }

    /// Number of points of a finite space; `Err` when a parameter is real-valued.
    pub fn cardinality(&self) -> Result<u128, SpaceError> {
        let mut n: u128 = 1;
        for p in &self.params {
            let c = p
                .domain
                .cardinality()
                .ok_or_else(|| SpaceError::NotFinite(p.name.clone()))?;
            n = n.checked_mul(c).ok_or(SpaceError::TooLarge)?;
        }
        Ok(n)
    }

    /// Whether every parameter has finitely many values.
    pub fn is_finite(&self) -> bool {
        self.cardinality().is_ok()
    }

    /// The mixed-radix index of `a`, first parameter least significant.
    pub fn index_of(&self, a: &Assignment) -> Result<u128, SpaceError> {
        let mut index: u128 = 0;
        let mut radix: u128 = 1;
        for (p, v) in self.params.iter().zip(a.values()) {
            let c = p
                .domain
                .cardinality()
                .ok_or_else(|| SpaceError::NotFinite(p.name.clone()))?;
            let d = p.domain.digit_of(v).ok_or_else(|| SpaceError::BadValue {
                name: p.name.clone(),
                reason: format!("{v:?} is not {}", p.domain.describe()),
            })?;
            index = index
                .checked_add(d.checked_mul(radix).ok_or(SpaceError::TooLarge)?)
                .ok_or(SpaceError::TooLarge)?;
            radix = radix.checked_mul(c).ok_or(SpaceError::TooLarge)?;
        }
        Ok(index)
    }

    /// The assignment with mixed-radix index `index` (inverse of [`ParamSpace::index_of`]).
    pub fn assignment_at(&self, mut index: u128) -> Result<Assignment, SpaceError> {
        let total = self.cardinality()?;
        if index >= total {
            return Err(SpaceError::BadValue {
                name: "<index>".into(),
                reason: format!("index {index} is outside a space of {total} points"),
            });
        }
        let mut values = Vec::with_capacity(self.params.len());
        for p in &self.params {
            let c = p.domain.cardinality().unwrap_or(1);
            values.push(p.domain.value_at(index % c));
            index /= c;
        }
        Ok(Assignment(values))
    }

    /// Draws every parameter independently and uniformly.
    pub fn sample(&self, rng: &mut Rng) -> Assignment {
        Assignment(self.params.iter().map(|p| p.domain.sample(rng)).collect())
    }

    /// Length of the feature vector made by [`ParamSpace::encode`].
    pub fn feature_len(&self) -> usize {
        self.params
            .iter()
            .map(|p| match &p.domain {
                Domain::Categorical { choices } => choices.len(),
                _ => 1,
            })
            .sum()
    }

    /// Encodes an assignment as features for surrogate models: one-hot for categoricals,
    /// numerics scaled to `[0, 1]` (on the log scale for log parameters).
    pub fn encode(&self, a: &Assignment) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.feature_len());
        self.encode_into(a, &mut out);
        out
    }

    /// [`ParamSpace::encode`] appending to `out`.
    pub fn encode_into(&self, a: &Assignment, out: &mut Vec<f64>) {
        for (p, v) in self.params.iter().zip(a.values()) {
            match (&p.domain, v) {
                (Domain::Categorical { choices }, ParamValue::Choice(i)) => {
                    out.extend((0..choices.len()).map(|k| if k == *i { 1.0 } else { 0.0 }))
                }
                (Domain::Categorical { choices }, _) => {
                    out.extend(std::iter::repeat_n(0.0, choices.len()))
                }
                (d, v) => out.push(d.to_unit(v)),
            }
        }
    }

    /// Checks that `a` has one valid value per parameter.
    pub fn validate(&self, a: &Assignment) -> Result<(), SpaceError> {
        if a.len() != self.params.len() {
            return Err(SpaceError::BadValue {
                name: "<assignment>".into(),
                reason: format!(
                    "has {} values for {} parameters",
                    a.len(),
                    self.params.len()
                ),
            });
        }
        for (p, v) in self.params.iter().zip(a.values()) {
            if !p.domain.contains(v) {
                return Err(SpaceError::BadValue {
                    name: p.name.clone(),
                    reason: format!("{v:?} is not {}", p.domain.describe()),
                });
            }
        }
        Ok(())
    }

    /// Renders an assignment as `name → value` (choices as their values), in parameter order.
    pub fn to_json(&self, a: &Assignment) -> serde_json::Map<String, serde_json::Value> {
        self.params
            .iter()
            .zip(a.values())
            .map(|(p, v)| (p.name.clone(), p.domain.render(v).to_json()))
            .collect()
    }

    /// Renders an assignment as ordered `(name, value)` pairs.
    pub fn render(&self, a: &Assignment) -> Vec<(String, Value)> {
        self.params
            .iter()
            .zip(a.values())
            .map(|(p, v)| (p.name.clone(), p.domain.render(v)))
            .collect()
    }

    /// Reads an assignment from a `name → value` map (the output of [`ParamSpace::to_json`]).
    pub fn from_json(
        &self,
        map: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Assignment, SpaceError> {
        for k in map.keys() {
            if self.position(k).is_none() {
                let names: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
                let hint = crate::suggest::did_you_mean(k, &names)
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                return Err(SpaceError::UnknownParam {
                    name: k.clone(),
                    hint,
                });
            }
        }
        let mut values = Vec::with_capacity(self.params.len());
        for p in &self.params {
            let raw = map
                .get(&p.name)
                .ok_or_else(|| SpaceError::MissingParam(p.name.clone()))?;
            let v = Value::from_json(raw).ok_or_else(|| SpaceError::BadValue {
                name: p.name.clone(),
                reason: format!("expected a scalar, found {raw}"),
            })?;
            values.push(p.domain.parse(&v).map_err(|reason| SpaceError::BadValue {
                name: p.name.clone(),
                reason,
            })?);
        }
        Ok(Assignment(values))
    }

    /// A one-line rendering such as `op=conv, width=2`.
    pub fn format(&self, a: &Assignment) -> String {
        self.render(a)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The descriptors of the parameters (without tensor handles), for storage.
    pub fn describe(&self) -> Vec<Param> {
        self.params.clone()
    }

    /// Rebuilds a space from stored descriptors.
    pub fn from_params(params: Vec<Param>) -> Result<Self, SpaceError> {
        let mut s = Self::new();
        for p in params {
            let given = s.add(&p.name, p.domain)?;
            if given != p.name {
                return Err(SpaceError::BadDomain {
                    name: p.name,
                    reason: "the name is used twice".into(),
                });
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::rng_from_seed;

    fn space() -> ParamSpace {
        let mut s = ParamSpace::new();
        s.add(
            "a",
            Domain::Categorical {
                choices: vec!["x".into(), "y".into(), "z".into()],
            },
        )
        .unwrap();
        s.add(
            "b",
            Domain::Int {
                low: 2,
                high: 3,
                log: false,
            },
        )
        .unwrap();
        s.add(
            "c",
            Domain::Categorical {
                choices: vec![Value::Int(3), Value::Int(5)],
            },
        )
        .unwrap();
        s
    }

    #[test]
    fn mixed_radix_first_param_least_significant() {
        let s = space();
        assert_eq!(s.cardinality().unwrap(), 12);
        let a1 = s.assignment_at(1).unwrap();
        assert_eq!(a1.values()[0], ParamValue::Choice(1));
        let a3 = s.assignment_at(3).unwrap();
        assert_eq!(
            a3.values(),
            &[
                ParamValue::Choice(0),
                ParamValue::Int(3),
                ParamValue::Choice(0)
            ]
        );
        for i in 0..12 {
            assert_eq!(s.index_of(&s.assignment_at(i).unwrap()).unwrap(), i);
        }
        assert!(s.assignment_at(12).is_err());
    }

    #[test]
    fn names_are_unique() {
        let mut s = ParamSpace::new();
        let d = Domain::Categorical {
            choices: vec!["a".into()],
        };
        assert_eq!(s.add("op", d.clone()).unwrap(), "op");
        assert_eq!(s.add("op", d.clone()).unwrap(), "op_1");
        assert_eq!(s.add("op", d.clone()).unwrap(), "op_2");
        assert_eq!(s.add("", d.clone()).unwrap(), "c_3");
        assert_eq!(
            s.add(
                "",
                Domain::Float {
                    low: 0.0,
                    high: 1.0,
                    log: false
                }
            )
            .unwrap(),
            "n_4"
        );
    }

    #[test]
    fn bad_domains_are_rejected() {
        let mut s = ParamSpace::new();
        assert!(s.add("e", Domain::Categorical { choices: vec![] }).is_err());
        assert!(
            s.add(
                "d",
                Domain::Categorical {
                    choices: vec!["a".into(), "a".into()]
                }
            )
            .is_err()
        );
        assert!(
            s.add(
                "l",
                Domain::Float {
                    low: 0.0,
                    high: 1.0,
                    log: true
                }
            )
            .is_err()
        );
        assert!(
            s.add(
                "r",
                Domain::Int {
                    low: 5,
                    high: 1,
                    log: false
                }
            )
            .is_err()
        );
    }

    #[test]
    fn sampling_is_seeded_and_valid() {
        let mut s = space();
        s.add(
            "lr",
            Domain::Float {
                low: 1e-5,
                high: 1e-1,
                log: true,
            },
        )
        .unwrap();
        let mut r1 = rng_from_seed(3);
        let mut r2 = rng_from_seed(3);
        for _ in 0..200 {
            let a = s.sample(&mut r1);
            assert_eq!(a, s.sample(&mut r2));
            s.validate(&a).unwrap();
        }
    }

    #[test]
    fn log_sampling_covers_decades_evenly() {
        let mut s = ParamSpace::new();
        s.add(
            "lr",
            Domain::Float {
                low: 1e-4,
                high: 1.0,
                log: true,
            },
        )
        .unwrap();
        let mut rng = rng_from_seed(1);
        let n = 20000;
        let below = (0..n)
            .filter(|_| match s.sample(&mut rng).values()[0] {
                ParamValue::Float(x) => x < 1e-2,
                _ => false,
            })
            .count();
        let frac = below as f64 / n as f64;
        assert!((frac - 0.5).abs() < 0.02, "fraction below 1e-2: {frac}");
    }

    #[test]
    fn encoding_is_one_hot_and_scaled() {
        let mut s = space();
        s.add(
            "lr",
            Domain::Float {
                low: 1e-4,
                high: 1.0,
                log: true,
            },
        )
        .unwrap();
        let a = s
            .from_json(
                &serde_json::json!({"a": "y", "b": 3, "c": 5, "lr": 0.01})
                    .as_object()
                    .unwrap()
                    .clone(),
            )
            .unwrap();
        let f = s.encode(&a);
        assert_eq!(f.len(), s.feature_len());
        assert_eq!(&f[..3], &[0.0, 1.0, 0.0]);
        assert_eq!(f[3], 1.0);
        assert_eq!(&f[4..6], &[0.0, 1.0]);
        assert!((f[6] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn json_round_trip_and_errors() {
        let mut s = space();
        s.add(
            "lr",
            Domain::Float {
                low: 0.0,
                high: 1.0,
                log: false,
            },
        )
        .unwrap();
        let mut rng = rng_from_seed(9);
        for _ in 0..50 {
            let a = s.sample(&mut rng);
            let j = s.to_json(&a);
            let text = serde_json::to_string(&j).unwrap();
            let back: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&text).unwrap();
            assert_eq!(s.from_json(&back).unwrap(), a);
        }
        let bad = serde_json::json!({"a": "q", "b": 3, "c": 5, "lr": 0.1});
        let e = s.from_json(bad.as_object().unwrap()).unwrap_err();
        assert!(e.to_string().contains("not one of the choices"), "{e}");
        let bad = serde_json::json!({"aa": "x", "b": 3, "c": 5, "lr": 0.1});
        let e = s.from_json(bad.as_object().unwrap()).unwrap_err();
        assert!(e.to_string().contains("did you mean `a`"), "{e}");
        let bad = serde_json::json!({"a": "x", "b": 9, "c": 5, "lr": 0.1});
        assert!(s.from_json(bad.as_object().unwrap()).is_err());
    }

    #[test]
    fn real_spaces_are_not_finite() {
        let mut s = space();
        s.add(
            "x",
            Domain::Float {
                low: 0.0,
                high: 1.0,
                log: false,
            },
        )
        .unwrap();
        assert_eq!(s.cardinality(), Err(SpaceError::NotFinite("x".into())));
    }
}
