//! Helpers shared by the optimizers: visited sets, sampling without repeats, mutation.

use modnas_core::optimizer::{History, OptimError};
use modnas_core::param::{Assignment, AssignmentKey, Domain, ParamSpace, ParamValue};
use modnas_core::seed::Rng;
use rand::RngExt;
use std::collections::HashSet;

/// The assignments proposed so far.
#[derive(Default, Clone, Debug)]
pub struct Visited {
    keys: HashSet<AssignmentKey>,
}

impl Visited {
    /// Everything proposed in `history`.
    pub fn from_history(history: &History) -> Self {
        let mut v = Visited::default();
        for a in &history.proposed {
            v.insert(a);
        }
        v
    }

    /// Adds `a`; `false` if it was there already.
    pub fn insert(&mut self, a: &Assignment) -> bool {
        self.keys.insert(a.key())
    }

    /// Whether `a` was proposed.
    pub fn contains(&self, a: &Assignment) -> bool {
        self.keys.contains(&a.key())
    }

    /// How many distinct assignments were proposed.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether nothing was proposed yet.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Whether every point of a finite space has been proposed.
pub fn space_exhausted(space: &ParamSpace, visited: &Visited) -> bool {
    space
        .cardinality()
        .is_ok_and(|c| visited.len() as u128 >= c)
}

/// A uniformly drawn assignment that was not proposed before; `None` when a finite space is
/// exhausted. Does not mark it visited.
pub fn sample_unvisited(
    space: &ParamSpace,
    rng: &mut Rng,
    visited: &Visited,
) -> Option<Assignment> {
    if space_exhausted(space, visited) {
        return None;
    }
    for _ in 0..64 {
        let a = space.sample(rng);
        if !visited.contains(&a) {
            return Some(a);
        }
    }
    match space.cardinality() {
        Ok(card) if card <= 1 << 24 => {
            // Nearly exhausted: draw uniformly among the points left.
            let free: Vec<u128> = (0..card)
                .filter(|&i| space.assignment_at(i).is_ok_and(|a| !visited.contains(&a)))
                .collect();
            if free.is_empty() {
                return None;
            }
            let pick = free[rng.random_range(0..free.len())];
            space.assignment_at(pick).ok()
        }
        // A huge (or real-valued) space where 64 draws all repeated: accept a repeat.
        _ => Some(space.sample(rng)),
    }
}

/// Changes exactly one parameter (chosen uniformly among those that can change) to another
/// value: a different choice for categoricals and small integer ranges, a Gaussian step of
/// `sigma` (in the unit-scaled domain) otherwise.
pub fn mutate_one(space: &ParamSpace, rng: &mut Rng, a: &Assignment, sigma: f64) -> Assignment {
    let mutable: Vec<usize> = space
        .params()
        .iter()
        .enumerate()
        .filter(|(_, p)| p.domain.cardinality() != Some(1))
        .map(|(i, _)| i)
        .collect();
    let mut out = a.clone();
    if mutable.is_empty() {
        return out;
    }
    let i = mutable[rng.random_range(0..mutable.len())];
    out.0[i] = mutate_value(&space.params()[i].domain, rng, &a.0[i], sigma);
    out
}

/// A new value for one parameter, different from `v` where possible.
pub fn mutate_value(domain: &Domain, rng: &mut Rng, v: &ParamValue, sigma: f64) -> ParamValue {
    match domain.cardinality() {
        Some(c) if c <= 16 || domain.is_categorical() => {
            if c <= 1 {
                return *v;
            }
            let cur = domain.digit_of(v).unwrap_or(0);
            let mut d = rng.random_range(0..(c - 1) as u64) as u128;
            if d >= cur {
                d += 1;
            }
            domain.value_at(d)
        }
        _ => {
            let u = domain.to_unit(v) + gaussian(rng) * sigma;
            let u = if u < 0.0 {
                -u
            } else if u > 1.0 {
                2.0 - u
            } else {
                u
            };
            let nv = domain.from_unit(u);
            if nv == *v { domain.sample(rng) } else { nv }
        }
    }
}

/// A standard normal draw (Box–Muller).
pub fn gaussian(rng: &mut Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Removes the first proposal equal to `a` from `pending` (a result came back for it).
pub fn remove_pending(pending: &mut Vec<Assignment>, a: &Assignment) {
    let key = a.key();
    if let Some(i) = pending.iter().position(|p| p.key() == key) {
        pending.remove(i);
    }
}

/// Serialises a state to JSON (states are plain data, so this cannot fail in practice).
pub fn to_state<T: serde::Serialize>(s: &T) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Reads a state back.
pub fn from_state<T: serde::de::DeserializeOwned>(v: &str) -> Result<T, OptimError> {
    serde_json::from_str(v).map_err(|e| OptimError::State(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use modnas_core::param::Value;
    use modnas_core::seed::rng_from_seed;

    #[test]
    fn sampling_without_repeats_exhausts_exactly() {
        let mut s = ParamSpace::new();
        s.add(
            "a",
            Domain::Categorical {
                choices: vec![Value::Int(0), Value::Int(1), Value::Int(2)],
            },
        )
        .unwrap();
        s.add(
            "b",
            Domain::Int {
                low: 0,
                high: 3,
                log: false,
            },
        )
        .unwrap();
        let mut rng = rng_from_seed(1);
        let mut v = Visited::default();
        for _ in 0..12 {
            let a = sample_unvisited(&s, &mut rng, &v).unwrap();
            assert!(v.insert(&a));
        }
        assert!(sample_unvisited(&s, &mut rng, &v).is_none());
    }

    #[test]
    fn mutation_changes_exactly_one_value() {
        let mut s = ParamSpace::new();
        for i in 0..6 {
            s.add(
                &format!("e{i}"),
                Domain::Categorical {
                    choices: (0..5).map(Value::Int).collect(),
                },
            )
            .unwrap();
        }
        s.add(
            "x",
            Domain::Float {
                low: 0.0,
                high: 1.0,
                log: false,
            },
        )
        .unwrap();
        let mut rng = rng_from_seed(2);
        for _ in 0..500 {
            let a = s.sample(&mut rng);
            let m = mutate_one(&s, &mut rng, &a, 0.1);
            let diff = a.0.iter().zip(&m.0).filter(|(x, y)| x != y).count();
            assert_eq!(diff, 1);
            s.validate(&m).unwrap();
        }
    }
}
