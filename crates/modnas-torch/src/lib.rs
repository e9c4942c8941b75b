//! # modnas-torch
//!
//! The tensor layer: Slots and search-space generation, primitives, mixed operators, layers,
//! backbones, data, training, supernet estimators and gradient-based optimizers, on libtorch.

pub mod backbones;
pub mod candidates;
pub mod counter;
pub mod dag;
pub mod data;
pub mod elastic;
pub mod grad;
pub mod layers;
pub mod metrics;
pub mod mixed;
pub mod model;
pub mod op;
pub mod ops;
pub mod routine;
pub mod setup;
pub mod slot;
pub mod train;
