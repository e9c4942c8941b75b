//! # modnas-bench
//!
//! Estimators that need no tensor library: benchmark lookup tables (NAS-Bench-201 and any table
//! in the documented CSV + YAML format), synthetic test functions, and external programs.
#![warn(missing_docs)]

pub mod external;
pub mod lookup;
pub mod synthetic;
pub mod table;

use modnas_core::estimator::EstimRegistry;
use modnas_core::registry::RegistryError;

/// Registers every estimator of this crate.
pub fn register_all(reg: &mut EstimRegistry) -> Result<(), RegistryError> {
    lookup::register(reg)?;
    synthetic::register(reg)?;
    external::register(reg)
}
