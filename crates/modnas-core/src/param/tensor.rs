//! Differentiable (tensor) architecture parameters.
//!
//! Gradient-based optimizers (DARTS, SNAS, ProxylessNAS…) learn tensors such as the α of a mixed
//! operator. The tensor library lives in another crate; the core only knows them through this
//! handle, so the parameter space can name, list and export them without depending on it.

use std::any::Any;
use std::fmt;

/// A handle on a tensor parameter owned by a tensor library.
pub trait TensorHandle: Send + Sync {
    /// Shape of the tensor.
    fn shape(&self) -> Vec<usize>;
    /// A copy of the values, flattened in row-major order.
    fn values(&self) -> Vec<f64>;
    /// Overwrites the values (row-major); `values.len()` must equal the number of elements.
    fn set_values(&self, values: &[f64]) -> Result<(), String>;
    /// The concrete handle, for the tensor library to get its tensor back.
    fn as_any(&self) -> &dyn Any;
}

impl fmt::Debug for dyn TensorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TensorHandle{:?}", self.shape())
    }
}
