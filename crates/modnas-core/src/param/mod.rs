//! Parameters and the parameter space (the paper's architecture parameter space 𝒜).

mod assignment;
mod domain;
mod space;
mod tensor;
mod value;

pub use assignment::{Assignment, AssignmentKey};
pub use domain::{Domain, ParamValue};
pub use space::{Param, ParamSpace, SpaceError, TensorParam};
pub use tensor::TensorHandle;
pub use value::Value;
