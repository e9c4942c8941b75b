//! A full assignment of values to the parameters of a space.

use super::{ParamSpace, ParamValue};
use serde::{Deserialize, Serialize};

/// Values for every (non-tensor) parameter of a [`ParamSpace`], in the space's order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Assignment(pub Vec<ParamValue>);

/// An exact identity of an assignment, for "visited" sets.
pub type AssignmentKey = Vec<u64>;

impl Assignment {
    /// The values in parameter order.
    pub fn values(&self) -> &[ParamValue] {
        &self.0
    }

    /// The value of the `i`-th parameter.
    pub fn get(&self, i: usize) -> Option<&ParamValue> {
        self.0.get(i)
    }

    /// The value of parameter `name`.
    pub fn get_named(&self, space: &ParamSpace, name: &str) -> Option<ParamValue> {
        space.position(name).and_then(|i| self.0.get(i).copied())
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the assignment is empty (a space without parameters).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An exact key of the assignment.
    pub fn key(&self) -> AssignmentKey {
        self.0.iter().map(ParamValue::key_bits).collect()
    }
}
