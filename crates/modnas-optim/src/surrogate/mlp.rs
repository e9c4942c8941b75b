//! A small multi-layer perceptron regressor.

use super::linalg::{axpy, dot, mean_std, validate};
use super::{Matrix, Surrogate};
use modnas_core::seed::{Rng, rng_from_seed};
use rand::RngExt;

/// Hyperparameters of [`Mlp`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlpParams {
    /// Widths of the hidden ReLU layers. Default `[64]`.
    pub hidden: Vec<usize>,
    /// Passes over the training set. Default 200.
    pub epochs: usize,
    /// Adam step size. Default 3e-3.
    pub learning_rate: f64,
    /// Decoupled weight decay (AdamW) on the weights, not the biases. Default 1e-4.
    pub weight_decay: f64,
    /// Rows per mini-batch; 0, or at least the number of rows, means full batch. Default 32.
    pub batch_size: usize,
    /// Seed of the initialisation and of the mini-batch shuffles (set by the optimizer).
    #[serde(skip)]
    pub seed: u64,
}

impl Default for MlpParams {
    fn default() -> Self {
        MlpParams {
            hidden: vec![64],
            epochs: 200,
            learning_rate: 3e-3,
            weight_decay: 1e-4,
            batch_size: 32,
            seed: 0,
        }
    }
}

impl MlpParams {
    /// Checks that every value is in range.
    pub fn validate(&self) -> Result<(), String> {
        if self.hidden.contains(&0) {
            return Err("hidden layers must have at least one unit".to_string());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(format!(
                "learning_rate must be finite and positive, got {}",
                self.learning_rate
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(format!(
                "weight_decay must be finite and non-negative, got {}",
                self.weight_decay
            ));
        }
        Ok(())
    }
}

/// A fully-connected layer `z = W a + b` with `W` stored `n_out × n_in` row-major.
#[derive(Clone, Debug)]
struct Layer {
    n_in: usize,
    n_out: usize,
    w: Vec<f64>,
    b: Vec<f64>,
}

/// Adam moments of one layer.
#[derive(Clone, Debug)]
struct Moments {
    mw: Vec<f64>,
    vw: Vec<f64>,
    mb: Vec<f64>,
    vb: Vec<f64>,
}

/// A fully-connected regressor: ReLU hidden layers and a linear output, trained by Adam
/// (decoupled weight decay) on the mean squared error of the standardised targets, with the
/// inputs standardised too. He initialisation for the hidden layers, Glorot for the output;
/// everything random comes from the seed, so a fit is deterministic.
#[derive(Clone, Debug)]
pub struct Mlp {
    params: MlpParams,
    layers: Vec<Layer>,
    x_mean: Vec<f64>,
    x_std: Vec<f64>,
    y_mean: f64,
    y_std: f64,
    fitted: bool,
}

impl Default for Mlp {
    fn default() -> Self {
        Mlp::new(MlpParams::default())
    }
}

/// A standard normal variate (Box–Muller).
fn normal(rng: &mut Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

impl Mlp {
    /// An unfitted model (it predicts 0 until fitted).
    pub fn new(params: MlpParams) -> Self {
        Mlp {
            params,
            layers: Vec::new(),
            x_mean: Vec::new(),
            x_std: Vec::new(),
            y_mean: 0.0,
            y_std: 1.0,
            fitted: false,
        }
    }

    /// The hyperparameters.
    pub fn params(&self) -> &MlpParams {
        &self.params
    }

    /// Forward pass on a standardised input, keeping every layer's output in `acts`
    /// (`acts[0]` is the input); returns the standardised prediction.
    fn forward(layers: &[Layer], input: &[f64], acts: &mut [Vec<f64>]) -> f64 {
        acts[0].clear();
        acts[0].extend_from_slice(input);
        let last = layers.len() - 1;
        for (l, layer) in layers.iter().enumerate() {
            let (prev, next) = acts.split_at_mut(l + 1);
            let a = &prev[l];
            let z = &mut next[0];
            z.clear();
            for o in 0..layer.n_out {
                let v = layer.b[o] + dot(&layer.w[o * layer.n_in..(o + 1) * layer.n_in], a);
                z.push(if l < last { v.max(0.0) } else { v });
            }
        }
        acts[layers.len()][0]
    }

    fn fit_impl(&mut self, x: &Matrix, y: &[f64]) -> Result<(), String> {
        validate(x, y)?;
        self.params.validate()?;
        let p = self.params.clone();
        let (n, d) = (x.rows(), x.cols());
        self.fitted = false;

        // Standardisation (a constant column has std 1, so it becomes 0).
        self.x_mean.clear();
        self.x_std.clear();
        for j in 0..d {
            let (m, s) = mean_std((0..n).map(|i| x.get(i, j)));
            self.x_mean.push(m);
            self.x_std.push(s);
        }
        let (ym, ys) = mean_std(y.iter().copied());
        self.y_mean = ym;
        self.y_std = ys;
        let mut xs = vec![0.0; n * d];
        for i in 0..n {
            for j in 0..d {
                xs[i * d + j] = (x.get(i, j) - self.x_mean[j]) / self.x_std[j];
            }
        }
        let yt: Vec<f64> = y.iter().map(|v| (v - ym) / ys).collect();

        // Initialisation.
        let mut rng = rng_from_seed(p.seed);
        let mut sizes = vec![d];
        sizes.extend_from_slice(&p.hidden);
        sizes.push(1);
        self.layers.clear();
        for (l, w) in sizes.windows(2).enumerate() {
            let (n_in, n_out) = (w[0], w[1]);
            let hidden = l + 2 < sizes.len();
            let std = if hidden {
                (2.0 / n_in.max(1) as f64).sqrt()
            } else {
                (2.0 / (n_in + n_out) as f64).sqrt()
            };
            let w = (0..n_in * n_out).map(|_| std * normal(&mut rng)).collect();
            self.layers.push(Layer {
                n_in,
                n_out,
                w,
                b: vec![0.0; n_out],
            });
        }
        let mut grads: Vec<Layer> = self
            .layers
            .iter()
            .map(|l| Layer {
                n_in: l.n_in,
                n_out: l.n_out,
                w: vec![0.0; l.w.len()],
                b: vec![0.0; l.n_out],
            })
            .collect();
        let mut moments: Vec<Moments> = self
            .layers
            .iter()
            .map(|l| Moments {
                mw: vec![0.0; l.w.len()],
                vw: vec![0.0; l.w.len()],
                mb: vec![0.0; l.n_out],
                vb: vec![0.0; l.n_out],
            })
            .collect();
        let mut acts: Vec<Vec<f64>> = sizes.iter().map(|&s| Vec::with_capacity(s)).collect();
        let mut delta: Vec<f64> = Vec::new();
        let mut delta_prev: Vec<f64> = Vec::new();

        let batch = if p.batch_size == 0 || p.batch_size >= n {
            n
        } else {
            p.batch_size
        };
        let (beta1, beta2, eps) = (0.9f64, 0.999f64, 1e-8);
        let mut t = 0i32;
        let mut perm: Vec<usize> = (0..n).collect();
        for _ in 0..p.epochs {
            for i in (1..n).rev() {
                let j = rng.random_range(0..=i);
                perm.swap(i, j);
            }
            for chunk in perm.chunks(batch) {
                for g in &mut grads {
                    g.w.fill(0.0);
                    g.b.fill(0.0);
                }
                let scale = 1.0 / chunk.len() as f64;
                for &i in chunk {
                    let out = Self::forward(&self.layers, &xs[i * d..(i + 1) * d], &mut acts);
                    // Loss ½(out − y)² averaged over the batch.
                    delta.clear();
                    delta.push((out - yt[i]) * scale);
                    for l in (0..self.layers.len()).rev() {
                        let layer = &self.layers[l];
                        let g = &mut grads[l];
                        let a = &acts[l];
                        for (o, &dz) in delta.iter().enumerate() {
                            if dz != 0.0 {
                                axpy(dz, a, &mut g.w[o * layer.n_in..(o + 1) * layer.n_in]);
                                g.b[o] += dz;
                            }
                        }
                        if l > 0 {
                            delta_prev.clear();
                            delta_prev.resize(layer.n_in, 0.0);
                            for (o, &dz) in delta.iter().enumerate() {
                                if dz != 0.0 {
                                    axpy(
                                        dz,
                                        &layer.w[o * layer.n_in..(o + 1) * layer.n_in],
                                        &mut delta_prev,
                                    );
                                }
                            }
                            // ReLU derivative: the hidden output is positive where it was active.
                            for (dp, &av) in delta_prev.iter_mut().zip(a) {
                                if av <= 0.0 {
                                    *dp = 0.0;
                                }
                            }
                            std::mem::swap(&mut delta, &mut delta_prev);
                        }
                    }
                }
                t += 1;
                let c1 = 1.0 - beta1.powi(t);
                let c2 = 1.0 - beta2.powi(t);
                let lr = p.learning_rate;
                for ((layer, g), m) in self.layers.iter_mut().zip(&grads).zip(&mut moments) {
                    let decay = 1.0 - lr * p.weight_decay;
                    for k in 0..layer.w.len() {
                        let gk = g.w[k];
                        m.mw[k] = beta1 * m.mw[k] + (1.0 - beta1) * gk;
                        m.vw[k] = beta2 * m.vw[k] + (1.0 - beta2) * gk * gk;
                        let step = (m.mw[k] / c1) / ((m.vw[k] / c2).sqrt() + eps);
                        layer.w[k] = layer.w[k] * decay - lr * step;
                    }
                    for k in 0..layer.b.len() {
                        let gk = g.b[k];
                        m.mb[k] = beta1 * m.mb[k] + (1.0 - beta1) * gk;
                        m.vb[k] = beta2 * m.vb[k] + (1.0 - beta2) * gk * gk;
                        let step = (m.mb[k] / c1) / ((m.vb[k] / c2).sqrt() + eps);
                        layer.b[k] -= lr * step;
                    }
                }
            }
        }
        if self
            .layers
            .iter()
            .any(|l| l.w.iter().chain(&l.b).any(|v| !v.is_finite()))
        {
            return Err("MLP training diverged (non-finite weights)".to_string());
        }
        self.fitted = true;
        Ok(())
    }

    fn predict_row(&self, row: &[f64]) -> f64 {
        if !self.fitted {
            return 0.0;
        }
        if row.len() != self.x_mean.len() {
            return f64::NAN;
        }
        let input: Vec<f64> = row
            .iter()
            .zip(&self.x_mean)
            .zip(&self.x_std)
            .map(|((v, m), s)| (v - m) / s)
            .collect();
        let mut acts: Vec<Vec<f64>> = vec![Vec::new(); self.layers.len() + 1];
        let out = Self::forward(&self.layers, &input, &mut acts);
        self.y_mean + self.y_std * out
    }
}

impl Surrogate for Mlp {
    /// Trains a freshly initialised network. Errors on empty or mismatched data, non-finite
    /// values, out-of-range hyperparameters or divergence.
    fn fit(&mut self, x: &Matrix, y: &[f64]) -> Result<(), String> {
        self.fit_impl(x, y)
    }

    /// The prediction for `row`: 0 before fitting, NaN if `row` does not have the number of
    /// features the model was fitted on.
    fn predict(&self, row: &[f64]) -> f64 {
        self.predict_row(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x0: f64, x1: f64) -> f64 {
        (3.0 * x0).sin() + x1 * x1 - 0.5 * x0 * x1
    }

    fn data(n: usize, seed: u64) -> (Matrix, Vec<f64>) {
        let mut rng = rng_from_seed(seed);
        let x = Matrix::new(
            n,
            2,
            (0..2 * n)
                .map(|_| rng.random::<f64>() * 2.0 - 1.0)
                .collect(),
        );
        let y = (0..n).map(|i| f(x.get(i, 0), x.get(i, 1))).collect();
        (x, y)
    }

    #[test]
    fn learns_a_smooth_function() {
        let (x, y) = data(400, 1);
        let (xt, yt) = data(500, 2);
        let mut m = Mlp::default();
        m.fit(&x, &y).expect("fit");
        let p = m.predict_many(&xt);
        let mean = yt.iter().sum::<f64>() / yt.len() as f64;
        let var = yt.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / yt.len() as f64;
        let mse = p.iter().zip(&yt).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / yt.len() as f64;
        println!("MLP: test MSE / variance = {}", mse / var);
        assert!(mse / var < 0.1, "test MSE / variance = {}", mse / var);
    }

    #[test]
    fn deterministic_for_a_seed() {
        let (x, y) = data(100, 3);
        let (xt, _) = data(20, 4);
        let params = MlpParams {
            epochs: 20,
            hidden: vec![16, 8],
            seed: 5,
            ..MlpParams::default()
        };
        let mut a = Mlp::new(params.clone());
        let mut b = Mlp::new(params.clone());
        a.fit(&x, &y).expect("fit");
        b.fit(&x, &y).expect("fit");
        assert_eq!(a.predict_many(&xt), b.predict_many(&xt));
        let mut c = Mlp::new(MlpParams { seed: 6, ..params });
        c.fit(&x, &y).expect("fit");
        assert_ne!(a.predict_many(&xt), c.predict_many(&xt));
    }

    #[test]
    fn degenerate_input() {
        let mut m = Mlp::new(MlpParams {
            epochs: 10,
            ..MlpParams::default()
        });
        assert_eq!(m.predict(&[0.0]), 0.0);
        // Constant columns and a constant target.
        let x = Matrix::from_rows(&[vec![1.0, 0.0], vec![1.0, 0.5], vec![1.0, 1.0]]);
        m.fit(&x, &[2.0, 2.0, 2.0]).expect("constant");
        for i in 0..3 {
            let p = m.predict(x.row(i));
            assert!(p.is_finite() && (p - 2.0).abs() < 0.5, "{p}");
        }
        m.fit(&Matrix::from_rows(&[vec![3.0]]), &[1.0])
            .expect("one row");
        assert!(m.predict(&[3.0]).is_finite());
        assert!(m.predict(&[3.0, 1.0]).is_nan());
        assert!(m.fit(&x, &[1.0]).is_err());
        assert!(m.fit(&x, &[1.0, f64::NAN, 0.0]).is_err());
        assert!(
            Mlp::new(MlpParams {
                hidden: vec![0],
                ..MlpParams::default()
            })
            .fit(&x, &[0.0; 3])
            .is_err()
        );
    }
}
