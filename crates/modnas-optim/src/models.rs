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

/// Arguments of the `Gbdt` surrogate (defaults: AutoTVM's XGBoost settings).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GbdtArgs {
    /// Boosting rounds.
    pub n_rounds: usize,
    /// Shrinkage (eta).
    pub learning_rate: f64,
    /// Depth of each tree.
    pub max_depth: usize,
    /// L2 regularisation of leaf weights.
    pub lambda: f64,
    /// L1 regularisation of leaf weights.
    pub alpha: f64,
    /// Minimum gain of a split.
    pub gamma: f64,
    /// Minimum hessian sum in a child.
    pub min_child_weight: f64,
    /// Fraction of rows per tree.
    pub subsample: f64,
}

impl Default for GbdtArgs {
    fn default() -> Self {
        let p = GbdtParams::default();
        GbdtArgs {
            n_rounds: p.n_rounds,
            learning_rate: p.learning_rate,
            max_depth: p.max_depth,
            lambda: p.lambda,
            alpha: p.alpha,
            gamma: p.gamma,
            min_child_weight: p.min_child_weight,
            subsample: p.subsample,
        }
    }
}

impl Args for GbdtArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if self.n_rounds == 0 {
            return Err(("n_rounds".into(), "`n_rounds` must be at least 1".into()));
        }
        if !(self.learning_rate > 0.0) {
            return Err((
                "learning_rate".into(),
                "`learning_rate` must be positive".into(),
            ));
        }
        if self.max_depth == 0 || self.max_depth > 16 {
            return Err((
                "max_depth".into(),
                "`max_depth` must be between 1 and 16".into(),
            ));
        }
        if !(self.subsample > 0.0 && self.subsample <= 1.0) {
            return Err(("subsample".into(), "`subsample` must be in (0, 1]".into()));
        }
        if self.lambda < 0.0 || self.alpha < 0.0 || self.gamma < 0.0 || self.min_child_weight < 0.0
        {
            return Err((
                "lambda".into(),
                "regularisation terms must not be negative".into(),
            ));
        }
        Ok(())
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

/// Arguments of the `Mlp` surrogate.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlpArgs {
    /// Widths of the hidden layers.
    pub hidden: Vec<usize>,
    /// Training epochs.
    pub epochs: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Mini-batch size.
    pub batch_size: usize,
}

impl Default for MlpArgs {
    fn default() -> Self {
        let p = MlpParams::default();
        MlpArgs {
            hidden: p.hidden,
            epochs: p.epochs,
            learning_rate: p.learning_rate,
            weight_decay: p.weight_decay,
            batch_size: p.batch_size,
        }
    }
}

impl Args for MlpArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if self.hidden.contains(&0) {
            return Err((
                "hidden".into(),
                "hidden layers need at least one unit".into(),
            ));
        }
        if self.epochs == 0 || self.batch_size == 0 {
            return Err((
                "epochs".into(),
                "`epochs` and `batch_size` must be at least 1".into(),
            ));
        }
        if !(self.learning_rate > 0.0) {
            return Err((
                "learning_rate".into(),
                "`learning_rate` must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// Arguments of the `GaussianProcess` surrogate (none).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GpArgs {}

impl Args for GpArgs {}

/// Registers every surrogate model.
pub fn register_all(reg: &mut SurrogateRegistry) -> Result<(), RegistryError> {
    reg.add::<GbdtArgs>(
        "Gbdt",
        &["XGBoost", "XGBoostScoreModel", "GradientBoosting"],
        "Gradient-boosted regression trees (XGBoost-style exact greedy splits; AutoTVM defaults).",
        |a, ctx: &SurrogateContext| {
            Ok(Box::new(Gbdt::new(GbdtParams {
                n_rounds: a.n_rounds,
                learning_rate: a.learning_rate,
                max_depth: a.max_depth,
                lambda: a.lambda,
                alpha: a.alpha,
                gamma: a.gamma,
                min_child_weight: a.min_child_weight,
                subsample: a.subsample,
                seed: ctx.seed,
            })))
        },
    )?;
    reg.add::<RidgeArgs>(
        "Ridge",
        &["Linear", "LinearRegression"],
        "Ridge (L2-regularised linear) regression.",
        |a, _| Ok(Box::new(Ridge::new(a.alpha))),
    )?;
    reg.add::<MlpArgs>(
        "Mlp",
        &["MLPRegressor"],
        "A small fully-connected regressor trained with Adam.",
        |a, ctx: &SurrogateContext| {
            Ok(Box::new(Mlp::new(MlpParams {
                hidden: a.hidden,
                epochs: a.epochs,
                learning_rate: a.learning_rate,
                weight_decay: a.weight_decay,
                batch_size: a.batch_size,
                seed: ctx.seed,
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
