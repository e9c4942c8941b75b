//! The registry of surrogate models (SMBO's score models), chosen by name.

use crate::surrogate::{GaussianProcess, Gbdt, GbdtParams, Mlp, MlpParams, Ridge, Surrogate};
use modnas_core::registry::{Args, Registry, RegistryError};
use serde::{Deserialize, Serialize};

/// What surrogate builders get.
pub struct SurrogateContext {
    /// Seed of the model.
    pub seed: u64,
}

/// The surrogate registry.
pub type SurrogateRegistry = Registry<dyn Surrogate, SurrogateContext>;

impl Args for GbdtParams {
    fn check(&self) -> Result<(), (String, String)> {
        modnas_core::registry::at_most("n_rounds", self.n_rounds, 100_000)?;
        modnas_core::registry::at_most("max_depth", self.max_depth, 30)?;
        self.validate().map_err(|m| (String::new(), m))
    }
}

/// Arguments of the `Ridge` surrogate.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RidgeArgs {
    /// L2 penalty.
    pub alpha: f64,
}

impl Default for RidgeArgs {
    fn default() -> Self {
        RidgeArgs { alpha: 1.0 }
    }
}

impl Args for RidgeArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if !(self.alpha >= 0.0) {
            return Err(("alpha".into(), "`alpha` must not be negative".into()));
        }
        Ok(())
    }
}

impl Args for MlpParams {
    fn check(&self) -> Result<(), (String, String)> {
        modnas_core::registry::at_most("epochs", self.epochs, 1_000_000)?;
        for &h in &self.hidden {
            modnas_core::registry::at_most("hidden", h, 100_000)?;
        }
        modnas_core::registry::at_most("hidden", self.hidden.len(), 100)?;
        self.validate().map_err(|m| (String::new(), m))
    }
}

/// Arguments of the `GaussianProcess` surrogate (none).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GpArgs {}

impl Args for GpArgs {}

/// Registers every surrogate model.
pub fn register_all(reg: &mut SurrogateRegistry) -> Result<(), RegistryError> {
    reg.add::<GbdtParams>(
        "Gbdt",
        &["XGBoost", "XGBoostScoreModel", "GradientBoosting"],
        "Gradient-boosted regression trees (XGBoost-style exact greedy splits; AutoTVM defaults).",
        |a, ctx: &SurrogateContext| {
            Ok(Box::new(Gbdt::new(GbdtParams {
                seed: ctx.seed,
                ..a
            })))
        },
    )?;
    reg.add::<RidgeArgs>(
        "Ridge",
        &["Linear", "LinearRegression"],
        "Ridge (L2-regularised linear) regression.",
        |a, _| Ok(Box::new(Ridge::new(a.alpha))),
    )?;
    reg.add::<MlpParams>(
        "Mlp",
        &["MLPRegressor"],
        "A small fully-connected regressor trained with Adam.",
        |a, ctx: &SurrogateContext| {
            Ok(Box::new(Mlp::new(MlpParams {
                seed: ctx.seed,
                ..a
            })))
        },
    )?;
    reg.add::<GpArgs>(
        "GaussianProcess",
        &["GP"],
        "Gaussian-process regression (Matérn 5/2, ARD); its mean is the score.",
        |_, ctx: &SurrogateContext| Ok(Box::new(GaussianProcess::new(ctx.seed))),
    )
}

/// A new registry filled with every surrogate model.
pub fn registry() -> SurrogateRegistry {
    let mut r = Registry::new("surrogate model", &["scoremodel", "model"]);
    register_all(&mut r).expect("surrogate names are unique");
    r
}
