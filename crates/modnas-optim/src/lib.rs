//! # modnas-optim
//!
//! Search algorithms (the paper's Optimizer Ω) over a [`ParamSpace`](modnas_core::ParamSpace).
#![warn(missing_docs)]

pub mod surrogate;
