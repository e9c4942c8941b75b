//! # modnas-core
//!
//! The framework's core, free of any tensor library: parameter spaces, the Transform routine
//! (update events and handlers), registries of named components, configuration with located
//! errors, the Optimizer / Estimator / Metric / Callback interfaces, the trial journal interface
//! and the search routine that ties them together (paper Algorithm 2).
#![warn(missing_docs)]

pub mod callback;
pub mod config;
pub mod estimator;
pub mod journal;
pub mod metric;
pub mod objective;
pub mod optimizer;
pub mod output;
pub mod param;
pub mod prune;
pub mod registry;
pub mod search;
pub mod seed;
pub mod stop;
pub mod suggest;
pub mod transform;
pub mod trial;

pub use objective::{Direction, Metrics, Objective, Objectives};
pub use param::{Assignment, Domain, ParamSpace, ParamValue, Value};
