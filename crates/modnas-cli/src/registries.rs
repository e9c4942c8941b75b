//! Every component registry, filled by each crate's `register_all`.

use modnas_core::estimator::EstimRegistry;
use modnas_core::metric::MetricRegistry;
use modnas_core::optimizer::OptimRegistry;
use modnas_core::prune::PrunerRegistry;

/// The registries of components that configuration files choose by name.
pub struct Registries {
    /// Optimizers.
    pub optim: OptimRegistry,
    /// Estimators.
    pub estim: EstimRegistry,
    /// Derived metrics.
    pub metric: MetricRegistry,
    /// Pruners.
    pub prune: PrunerRegistry,
}

impl Registries {
    /// All registries, filled; the network estimators (`SubNet`, `SPOS`) then need a `model:`
    /// and fail to build without one (see [`Registries::for_network`]).
    pub fn all() -> Self {
        let mut optim = modnas_core::optimizer::new_registry();
        modnas_optim::register_all(&mut optim).expect("optimizer names are unique");
        let mut metric = modnas_core::metric::new_registry();
        modnas_core::metric::register_all(&mut metric).expect("metric names are unique");
        let mut prune = modnas_core::prune::new_registry();
        modnas_core::prune::register_all(&mut prune).expect("pruner names are unique");
        Registries {
            optim,
            estim: estimators(
                #[cfg(feature = "torch")]
                None,
            ),
            metric,
            prune,
        }
    }
}

/// Every estimator; the network estimators evaluate candidates of `net` (none: they need one).
fn estimators(
    #[cfg(feature = "torch")] net: Option<std::sync::Arc<modnas_torch::setup::NetworkSetup>>,
) -> EstimRegistry {
    let mut estim = modnas_core::estimator::new_registry();
    modnas_bench::register_all(&mut estim).expect("estimator names are unique");
    #[cfg(feature = "torch")]
    modnas_torch::candidates::register_all(&mut estim, net).expect("estimator names are unique");
    estim
}

#[cfg(feature = "torch")]
impl Registries {
    /// All registries, with the network estimators evaluating candidates of `net`.
    pub fn for_network(net: std::sync::Arc<modnas_torch::setup::NetworkSetup>) -> Self {
        Registries {
            estim: estimators(Some(net)),
            ..Registries::all()
        }
    }
}
