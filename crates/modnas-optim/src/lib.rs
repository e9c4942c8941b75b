//! # modnas-optim
//!
//! Search algorithms (the paper's Optimizer Ω) over a [`ParamSpace`](modnas_core::ParamSpace):
//! grid, random, generational evolution, regularized (aging) evolution (also Pareto-ranked),
//! SMBO with a surrogate model and an acquisition search, Gaussian-process Bayesian
//! optimisation, the tree-structured Parzen estimator (TPE), NSGA-II for several objectives and
//! CMA-ES for numeric spaces, and BOHB (Hyperband's budgets with a KDE model) for
//! estimators that report learning curves. All are seeded,
//! ask/tell, and save their state so a search resumes exactly after a crash.
#![warn(missing_docs)]

pub mod acquisition;
pub mod bayes;
pub mod bohb;
pub mod cmaes;
pub mod evolution;
pub mod grid;
pub mod models;
pub mod nsga2;
pub mod random;
pub mod regularized;
pub mod smbo;
pub mod support;
pub mod surrogate;
pub mod tpe;

use modnas_core::optimizer::OptimRegistry;
use modnas_core::registry::RegistryError;

/// Registers every optimizer of this crate.
pub fn register_all(reg: &mut OptimRegistry) -> Result<(), RegistryError> {
    grid::register(reg)?;
    random::register(reg)?;
    evolution::register(reg)?;
    regularized::register(reg)?;
    smbo::register(reg)?;
    nsga2::register(reg)?;
    cmaes::register(reg)?;
    bayes::register(reg)?;
    bohb::register(reg)?;
    tpe::register(reg)
}

/// A registry holding every optimizer of this crate.
pub fn registry() -> OptimRegistry {
    let mut r = modnas_core::optimizer::new_registry();
    register_all(&mut r).expect("optimizer names are unique");
    r
}
