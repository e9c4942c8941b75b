//! Surrogate models that predict an objective from encoded assignments (SMBO, Bayesian
//! optimisation).

mod gbdt;
mod gp;
mod linalg;
mod linear;
mod matrix;
mod mlp;

pub use gbdt::{Gbdt, GbdtParams};
pub use gp::{GaussianProcess, erf, erfc, expected_improvement, normal_cdf, normal_pdf};
pub use linear::Ridge;
pub use matrix::Matrix;
pub use mlp::{Mlp, MlpParams};

/// A regression model fitted on encoded assignments.
pub trait Surrogate: Send {
    /// Fits the model on the rows of `x` and targets `y` (larger is better, but the model need not
    /// care). Refitting discards the previous fit.
    fn fit(&mut self, x: &Matrix, y: &[f64]) -> Result<(), String>;

    /// Predicts one row.
    fn predict(&self, row: &[f64]) -> f64;

    /// Predicts every row.
    fn predict_many(&self, x: &Matrix) -> Vec<f64> {
        (0..x.rows()).map(|i| self.predict(x.row(i))).collect()
    }
}
