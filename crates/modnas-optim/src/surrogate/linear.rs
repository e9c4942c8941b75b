//! Ridge regression: a linear model with an unpenalised intercept.

use super::linalg::{cholesky_solve_in_place, cholesky_with_jitter, dot, validate};
use super::{Matrix, Surrogate};

/// Ridge regression `y ≈ b + w·x` minimising `‖y − b − Xw‖² + α‖w‖²`: the features and targets
/// are centred (so the intercept `b` is not penalised) and `(XᵀX + αI) w = Xᵀy` is solved by
/// Cholesky factorisation.
#[derive(Clone, Debug, PartialEq)]
pub struct Ridge {
    /// The L2 penalty `α ≥ 0` on the coefficients. Default 1.
    pub alpha: f64,
    coef: Vec<f64>,
    intercept: f64,
    fitted: bool,
}

impl Default for Ridge {
    fn default() -> Self {
        Ridge::new(1.0)
    }
}

impl Ridge {
    /// An unfitted model with penalty `alpha` (it predicts 0 until fitted).
    pub fn new(alpha: f64) -> Self {
        Ridge {
            alpha,
            coef: Vec::new(),
            intercept: 0.0,
            fitted: false,
        }
    }

    /// The fitted coefficients `w`, one per feature.
    pub fn coefficients(&self) -> &[f64] {
        &self.coef
    }

    /// The fitted intercept `b`.
    pub fn intercept(&self) -> f64 {
        self.intercept
    }

    fn fit_impl(&mut self, x: &Matrix, y: &[f64]) -> Result<(), String> {
        validate(x, y)?;
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return Err(format!(
                "alpha must be finite and non-negative, got {}",
                self.alpha
            ));
        }
        let (n, d) = (x.rows(), x.cols());
        let mut xm = vec![0.0; d];
        for i in 0..n {
            for (m, v) in xm.iter_mut().zip(x.row(i)) {
                *m += v;
            }
        }
        for m in &mut xm {
            *m /= n as f64;
        }
        let ym = y.iter().sum::<f64>() / n as f64;
        // A = XcᵀXc + αI (lower triangle accumulated row by row, then mirrored), b = Xcᵀyc.
        let mut a = vec![0.0; d * d];
        let mut b = vec![0.0; d];
        let mut xc = vec![0.0; d];
        for (i, yi) in y.iter().enumerate() {
            for ((c, v), m) in xc.iter_mut().zip(x.row(i)).zip(&xm) {
                *c = v - m;
            }
            let yc = yi - ym;
            for j in 0..d {
                let cj = xc[j];
                if cj != 0.0 {
                    for (aj, ck) in a[j * d..j * d + j + 1].iter_mut().zip(&xc[..=j]) {
                        *aj += cj * ck;
                    }
                }
                b[j] += cj * yc;
            }
        }
        for j in 0..d {
            a[j * d + j] += self.alpha;
            for k in 0..j {
                a[k * d + j] = a[j * d + k];
            }
        }
        let (l, _) = cholesky_with_jitter(&a, d)?;
        cholesky_solve_in_place(&l, d, &mut b);
        if b.iter().any(|v| !v.is_finite()) {
            return Err("ridge solution is not finite".to_string());
        }
        self.intercept = ym - dot(&xm, &b);
        self.coef = b;
        self.fitted = true;
        Ok(())
    }
}

impl Surrogate for Ridge {
    /// Fits the coefficients and intercept. Errors on empty or mismatched data, non-finite
    /// values or a negative `alpha`; a singular system (`alpha = 0` with collinear features) is
    /// solved with a small jitter added to the diagonal.
    fn fit(&mut self, x: &Matrix, y: &[f64]) -> Result<(), String> {
        self.fit_impl(x, y)
    }

    /// `b + w·row`: 0 before fitting, NaN if `row` does not have the number of features the
    /// model was fitted on.
    fn predict(&self, row: &[f64]) -> f64 {
        if !self.fitted {
            0.0
        } else if row.len() != self.coef.len() {
            f64::NAN
        } else {
            self.intercept + dot(&self.coef, row)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use modnas_core::seed::rng_from_seed;
    use rand::RngExt;

    fn linear_data(n: usize, w: &[f64], b: f64, seed: u64) -> (Matrix, Vec<f64>) {
        let d = w.len();
        let mut rng = rng_from_seed(seed);
        let x = Matrix::new(
            n,
            d,
            (0..n * d)
                .map(|_| rng.random::<f64>() * 4.0 - 1.0)
                .collect(),
        );
        let y = (0..n).map(|i| b + dot(w, x.row(i))).collect();
        (x, y)
    }

    #[test]
    fn recovers_noiseless_coefficients() {
        let w = [1.5, -2.0, 0.0, 0.25, 3.0, -0.7];
        let (x, y) = linear_data(100, &w, 4.0, 1);
        let mut m = Ridge::new(1e-10);
        m.fit(&x, &y).expect("fit");
        for (a, b) in m.coefficients().iter().zip(&w) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        assert!((m.intercept() - 4.0).abs() < 1e-6, "{}", m.intercept());
        assert!(
            (m.predict(&[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]) - (4.0 + w.iter().sum::<f64>())).abs()
                < 1e-6
        );
    }

    #[test]
    fn alpha_shrinks_the_coefficients_but_not_the_intercept() {
        let w = [2.0, -1.0, 0.5];
        let (x, y) = linear_data(50, &w, 10.0, 2);
        let norm = |alpha: f64| {
            let mut m = Ridge::new(alpha);
            m.fit(&x, &y).expect("fit");
            (
                m.coefficients().iter().map(|c| c * c).sum::<f64>().sqrt(),
                m,
            )
        };
        let (n0, _) = norm(0.0);
        let (n1, _) = norm(10.0);
        let (n2, m2) = norm(1e6);
        assert!((n0 - w.iter().map(|c| c * c).sum::<f64>().sqrt()).abs() < 1e-9);
        assert!(n1 < n0 && n2 < n1, "{n0} {n1} {n2}");
        assert!(n2 < 1e-3 * n0);
        // With the coefficients shrunk to ~0, the prediction is the mean of y.
        let ym = y.iter().sum::<f64>() / y.len() as f64;
        assert!((m2.predict(x.row(0)) - ym).abs() < 0.05);
    }

    #[test]
    fn degenerate_input() {
        let mut m = Ridge::default();
        assert_eq!(m.predict(&[1.0]), 0.0);
        m.fit(&Matrix::from_rows(&[vec![1.0, 2.0]]), &[3.0])
            .expect("one row");
        assert!((m.predict(&[5.0, -1.0]) - 3.0).abs() < 1e-12);
        assert!(m.predict(&[5.0]).is_nan());
        // Duplicate columns with alpha = 0: jitter makes the system solvable.
        let x = Matrix::from_rows(&[vec![1.0, 1.0], vec![2.0, 2.0], vec![3.0, 3.0]]);
        let mut m0 = Ridge::new(0.0);
        m0.fit(&x, &[1.0, 2.0, 3.0]).expect("collinear");
        assert!((m0.predict(&[4.0, 4.0]) - 4.0).abs() < 1e-3);
        assert!(m.fit(&x, &[1.0, 2.0]).is_err());
        assert!(m.fit(&Matrix::new(0, 2, vec![]), &[]).is_err());
        assert!(m.fit(&x, &[1.0, f64::INFINITY, 0.0]).is_err());
        assert!(Ridge::new(-1.0).fit(&x, &[1.0, 2.0, 3.0]).is_err());
    }
}
