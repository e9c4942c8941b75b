//! The domain of one architecture or hyperparameter: categorical, integer or real.

use super::Value;
use crate::seed::Rng;
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// What values a parameter can take.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    /// One of a list of distinct choices (operators, kernel sizes, activation names…).
    Categorical {
        /// The choices, in order; a value is stored as the index into this list.
        choices: Vec<Value>,
    },
    /// A whole number in `low..=high`, sampled uniformly or log-uniformly.
    Int {
        /// Smallest value.
        low: i64,
        /// Largest value (inclusive).
        high: i64,
        /// Sample and encode on a log scale (requires `low > 0`).
        #[serde(default)]
        log: bool,
    },
    /// A real number in `[low, high]`, sampled uniformly or log-uniformly.
    Float {
        /// Smallest value.
        low: f64,
        /// Largest value.
        high: f64,
        /// Sample and encode on a log scale (requires `low > 0`).
        #[serde(default)]
        log: bool,
    },
}

/// A value of one parameter inside an [`Assignment`](super::Assignment).
///
/// Serialised compactly (optimizer states hold many of them): a choice index as a JSON integer,
/// a real as a JSON float, an integer as `{"i": n}`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamValue {
    /// Index of the chosen categorical value.
    Choice(usize),
    /// An integer value.
    Int(i64),
    /// A real value.
    Float(f64),
}

impl Serialize for ParamValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match *self {
            ParamValue::Choice(i) => s.serialize_u64(i as u64),
            ParamValue::Float(x) => s.serialize_f64(x),
            ParamValue::Int(i) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("i", &i)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for ParamValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ParamValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a choice index, a real number or {\"i\": integer}")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ParamValue, E> {
                Ok(ParamValue::Choice(v as usize))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ParamValue, E> {
                usize::try_from(v)
                    .map(ParamValue::Choice)
                    .map_err(|_| E::custom("a choice index cannot be negative"))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<ParamValue, E> {
                Ok(ParamValue::Float(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<ParamValue, A::Error> {
                match m.next_entry::<String, i64>()? {
                    Some((k, v)) if k == "i" => Ok(ParamValue::Int(v)),
                    _ => Err(serde::de::Error::custom("expected {\"i\": integer}")),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl ParamValue {
    /// A 64-bit key that identifies this value exactly (used to detect repeated proposals).
    pub fn key_bits(&self) -> u64 {
        match *self {
            ParamValue::Choice(i) => i as u64,
            ParamValue::Int(i) => i as u64,
            ParamValue::Float(x) => x.to_bits(),
        }
    }
}

/// A number for messages: plain when moderate, scientific when huge or tiny.
fn num(x: f64) -> String {
    if x != 0.0 && (x.abs() >= 1e15 || x.abs() < 1e-6) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

impl Domain {
    /// Checks the domain itself; returns a sentence describing the problem.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Domain::Categorical { choices } => {
                if choices.is_empty() {
                    return Err("a categorical parameter needs at least one choice".into());
                }
                for (i, a) in choices.iter().enumerate() {
                    if let Value::Float(x) = a
                        && !x.is_finite()
                    {
                        return Err(format!("choice `{a}` is not a finite number"));
                    }
                    if choices[..i].iter().any(|b| b.same_as(a)) {
                        return Err(format!("choice `{a}` is listed twice"));
                    }
                }
                Ok(())
            }
            Domain::Int { low, high, log } => {
                if low > high {
                    return Err(format!("low ({low}) is greater than high ({high})"));
                }
                if *log && *low <= 0 {
                    return Err(format!("a log-scale parameter needs low > 0, got {low}"));
                }
                Ok(())
            }
            Domain::Float { low, high, log } => {
                if !low.is_finite() || !high.is_finite() {
                    return Err("bounds must be finite numbers".into());
                }
                if low > high {
                    return Err(format!("low ({low}) is greater than high ({high})"));
                }
                if !(high - low).is_finite() {
                    return Err(format!(
                        "the range [{}, {}] is too wide to sample",
                        num(*low),
                        num(*high)
                    ));
                }
                if *log && *low <= 0.0 {
                    return Err(format!("a log-scale parameter needs low > 0, got {low}"));
                }
                Ok(())
            }
        }
    }

    /// Number of distinct values, or `None` for a real-valued domain.
    pub fn cardinality(&self) -> Option<u128> {
        match self {
            Domain::Categorical { choices } => Some(choices.len() as u128),
            Domain::Int { low, high, .. } => Some((*high as i128 - *low as i128 + 1) as u128),
            Domain::Float { low, high, .. } => {
                if low == high {
                    Some(1)
                } else {
                    None
                }
            }
        }
    }

    /// The `digit`-th value of a finite domain, in order.
    pub fn value_at(&self, digit: u128) -> ParamValue {
        match self {
            Domain::Categorical { .. } => ParamValue::Choice(digit as usize),
            Domain::Int { low, .. } => ParamValue::Int(*low + digit as i64),
            Domain::Float { low, .. } => ParamValue::Float(*low),
        }
    }

    /// The position of `v` in a finite domain.
    pub fn digit_of(&self, v: &ParamValue) -> Option<u128> {
        match (self, v) {
            (Domain::Categorical { choices }, ParamValue::Choice(i)) if *i < choices.len() => {
                Some(*i as u128)
            }
            (Domain::Int { low, high, .. }, ParamValue::Int(i)) if i >= low && i <= high => {
                Some((*i - *low) as u128)
            }
            (Domain::Float { low, high, .. }, ParamValue::Float(_)) if low == high => Some(0),
            _ => None,
        }
    }

    /// Draws a value uniformly (log-uniformly for log-scale numerics).
    pub fn sample(&self, rng: &mut Rng) -> ParamValue {
        match self {
            Domain::Categorical { choices } => {
                ParamValue::Choice(rng.random_range(0..choices.len()))
            }
            Domain::Int { low, high, log } => {
                if *log {
                    let (a, b) = ((*low as f64 - 0.5).max(0.5).ln(), (*high as f64 + 0.5).ln());
                    let x = rng.random_range(a..b).exp().round() as i64;
                    ParamValue::Int(x.clamp(*low, *high))
                } else {
                    ParamValue::Int(rng.random_range(*low..=*high))
                }
            }
            Domain::Float { low, high, log } => {
                if low == high {
                    return ParamValue::Float(*low);
                }
                if *log {
                    ParamValue::Float(
                        rng.random_range(low.ln()..high.ln())
                            .exp()
                            .clamp(*low, *high),
                    )
                } else {
                    ParamValue::Float(rng.random_range(*low..*high))
                }
            }
        }
    }

    /// Whether `v` is a valid value of this domain.
    pub fn contains(&self, v: &ParamValue) -> bool {
        match (self, v) {
            (Domain::Categorical { choices }, ParamValue::Choice(i)) => *i < choices.len(),
            (Domain::Int { low, high, .. }, ParamValue::Int(i)) => i >= low && i <= high,
            (Domain::Float { low, high, .. }, ParamValue::Float(x)) => x >= low && x <= high,
            _ => false,
        }
    }

    /// Maps a numeric value to `[0, 1]` (on the log scale for log parameters).
    pub fn to_unit(&self, v: &ParamValue) -> f64 {
        let (x, lo, hi, log) = match (self, v) {
            (Domain::Int { low, high, log }, ParamValue::Int(i)) => {
                (*i as f64, *low as f64, *high as f64, *log)
            }
            (Domain::Float { low, high, log }, ParamValue::Float(x)) => (*x, *low, *high, *log),
            _ => return 0.0,
        };
        if hi <= lo {
            return 0.5;
        }
        if log {
            (x.ln() - lo.ln()) / (hi.ln() - lo.ln())
        } else {
            (x - lo) / (hi - lo)
        }
    }

    /// Inverse of [`Domain::to_unit`] for numeric domains (the unit value is clamped to `[0, 1]`).
    pub fn from_unit(&self, u: f64) -> ParamValue {
        let u = u.clamp(0.0, 1.0);
        match self {
            Domain::Int { low, high, log } => {
                let (lo, hi) = (*low as f64, *high as f64);
                let x = if *log {
                    (lo.ln() + u * (hi.ln() - lo.ln())).exp()
                } else {
                    lo + u * (hi - lo)
                };
                ParamValue::Int((x.round() as i64).clamp(*low, *high))
            }
            Domain::Float { low, high, log } => {
                let x = if *log {
                    (low.ln() + u * (high.ln() - low.ln())).exp()
                } else {
                    low + u * (high - low)
                };
                ParamValue::Float(x.clamp(*low, *high))
            }
            Domain::Categorical { choices } => {
                ParamValue::Choice(((u * choices.len() as f64) as usize).min(choices.len() - 1))
            }
        }
    }

    /// The value rendered as a plain scalar (the choice itself for categoricals).
    pub fn render(&self, v: &ParamValue) -> Value {
        match (self, v) {
            (Domain::Categorical { choices }, ParamValue::Choice(i)) => {
                choices.get(*i).cloned().unwrap_or(Value::Int(*i as i64))
            }
            (_, ParamValue::Int(i)) => Value::Int(*i),
            (_, ParamValue::Float(x)) => Value::Float(*x),
            (_, ParamValue::Choice(i)) => Value::Int(*i as i64),
        }
    }

    /// Reads a plain scalar back into a value of this domain.
    pub fn parse(&self, v: &Value) -> Result<ParamValue, String> {
        let out = match (self, v) {
            (Domain::Categorical { choices }, _) => {
                match choices.iter().position(|c| c.same_as(v)) {
                    Some(i) => ParamValue::Choice(i),
                    None => {
                        let list: Vec<String> = choices.iter().map(|c| format!("`{c}`")).collect();
                        return Err(format!(
                            "`{v}` is not one of the choices {}",
                            list.join(", ")
                        ));
                    }
                }
            }
            (Domain::Int { .. }, Value::Int(i)) => ParamValue::Int(*i),
            (Domain::Int { .. }, Value::Float(x)) if x.fract() == 0.0 => ParamValue::Int(*x as i64),
            (Domain::Float { .. }, Value::Int(i)) => ParamValue::Float(*i as f64),
            (Domain::Float { .. }, Value::Float(x)) => ParamValue::Float(*x),
            (Domain::Int { .. }, _) => return Err(format!("expected an integer, found `{v}`")),
            (Domain::Float { .. }, _) => return Err(format!("expected a number, found `{v}`")),
        };
        if self.contains(&out) {
            Ok(out)
        } else {
            Err(format!("`{v}` is outside {}", self.describe()))
        }
    }

    /// A short description such as `one of [a, b]` or `an integer in [1, 8]`.
    pub fn describe(&self) -> String {
        match self {
            Domain::Categorical { choices } => {
                let c: Vec<String> = choices.iter().map(|c| c.to_string()).collect();
                format!("one of [{}]", c.join(", "))
            }
            Domain::Int { low, high, log } => {
                format!(
                    "an integer in [{low}, {high}]{}",
                    if *log { " (log scale)" } else { "" }
                )
            }
            Domain::Float { low, high, log } => {
                format!(
                    "a number in [{}, {}]{}",
                    num(*low),
                    num(*high),
                    if *log { " (log scale)" } else { "" }
                )
            }
        }
    }

    /// Whether this is a real-valued (continuous) domain.
    pub fn is_continuous(&self) -> bool {
        matches!(self, Domain::Float { low, high, .. } if low != high)
    }

    /// Whether this is a categorical domain.
    pub fn is_categorical(&self) -> bool {
        matches!(self, Domain::Categorical { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_serialisation_round_trips() {
        let vals = [
            ParamValue::Choice(3),
            ParamValue::Float(1.0),
            ParamValue::Float(1e-5),
            ParamValue::Float(-0.25),
            ParamValue::Int(-7),
            ParamValue::Int(4),
        ];
        let text = serde_json::to_string(&vals).unwrap();
        assert_eq!(text, r#"[3,1.0,0.00001,-0.25,{"i":-7},{"i":4}]"#);
        let back: Vec<ParamValue> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, vals);
    }
}
