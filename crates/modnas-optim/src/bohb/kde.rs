//! BOHB's kernel density estimator (Falkner et al. 2018, §3.1): a product-kernel
//! multivariate KDE over the parameters, numbers scaled to `[0, 1]` (their logarithm on a log
//! scale; an integer's value owns the cell `[v − ½, v + ½]`) with Gaussian kernels, categoricals
//! with the Aitchison–Aitken kernel. Bandwidths follow the normal reference rule
//! `1.06 · σ · n^(−1/(d+4))` per parameter and are never below `min_bandwidth`.

use crate::support::gaussian;
use crate::tpe::parzen::{Axis, log_sum_exp};
use modnas_core::param::{Assignment, ParamValue};
use modnas_core::seed::Rng;
use rand::RngExt;

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// How one parameter enters the density.
#[derive(Clone, Debug)]
pub(crate) enum Dim {
    /// A number scaled to `[0, 1]` by `(x − lo) / (hi − lo)` in model coordinates.
    Continuous {
        /// The parameter's axis (to map back).
        axis: Axis,
        /// Lower bound in model coordinates.
        lo: f64,
        /// Upper bound in model coordinates.
        hi: f64,
    },
    /// One of `choices`.
    Categorical {
        /// Number of choices.
        choices: usize,
    },
    /// A single value; left out of the density.
    Fixed(ParamValue),
}

impl Dim {
    /// The dimension of a parameter axis.
    pub(crate) fn of(axis: &Axis) -> Dim {
        match axis {
            Axis::Real { .. } | Axis::Int { .. } => {
                let (lo, hi) = axis.bounds();
                Dim::Continuous {
                    axis: axis.clone(),
                    lo,
                    hi,
                }
            }
            Axis::Categorical { choices } => Dim::Categorical { choices: *choices },
            Axis::Fixed(v) => Dim::Fixed(*v),
        }
    }

    /// Whether it counts as a dimension of the model.
    pub(crate) fn is_free(&self) -> bool {
        !matches!(self, Dim::Fixed(_))
    }

    /// A parameter value in model units: `[0, 1]` for numbers, the index for choices.
    fn unit(&self, v: &ParamValue) -> f64 {
        match (self, v) {
            (Dim::Continuous { axis, lo, hi }, v) => {
                ((axis.coord(v) - lo) / (hi - lo)).clamp(0.0, 1.0)
            }
            (Dim::Categorical { .. }, ParamValue::Choice(c)) => *c as f64,
            _ => 0.0,
        }
    }

    /// The parameter value of a model unit.
    fn value(&self, u: f64) -> ParamValue {
        match self {
            Dim::Continuous { axis, lo, hi } => axis.value(lo + u.clamp(0.0, 1.0) * (hi - lo)),
            Dim::Categorical { choices } => {
                ParamValue::Choice((u.max(0.0) as usize).min(choices.saturating_sub(1)))
            }
            Dim::Fixed(v) => *v,
        }
    }
}

/// A fitted multivariate KDE.
#[derive(Clone, Debug)]
pub(crate) struct Kde {
    dims: Vec<Dim>,
    /// One row per data point, model units, one entry per dimension (fixed ones too).
    data: Vec<Vec<f64>>,
    /// Bandwidth per dimension (Aitchison–Aitken λ for categoricals).
    bw: Vec<f64>,
}

impl Kde {
    /// Fits the estimator to `points` (at least one).
    pub(crate) fn fit(dims: &[Dim], points: &[&Assignment], min_bandwidth: f64) -> Kde {
        let data: Vec<Vec<f64>> = points
            .iter()
            .map(|a| {
                dims.iter()
                    .zip(a.values())
                    .map(|(d, v)| d.unit(v))
                    .collect()
            })
            .collect();
        let n = data.len();
        let free = dims.iter().filter(|d| d.is_free()).count().max(1);
        let rate = (n.max(1) as f64).powf(-1.0 / (free as f64 + 4.0));
        let bw = dims
            .iter()
            .enumerate()
            .map(|(j, d)| {
                let sd = if n < 2 {
                    0.0
                } else {
                    let mean = data.iter().map(|r| r[j]).sum::<f64>() / n as f64;
                    let var =
                        data.iter().map(|r| (r[j] - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
                    var.sqrt()
                };
                let h = (1.06 * sd * rate).max(min_bandwidth);
                match d {
                    // λ above (c − 1)/c would make the kernel favour the other choices.
                    Dim::Categorical { choices } if *choices > 1 => {
                        h.min((*choices - 1) as f64 / *choices as f64)
                    }
                    _ => h,
                }
            })
            .collect();
        Kde {
            dims: dims.to_vec(),
            data,
            bw,
        }
    }

    /// The bandwidth of each parameter (Aitchison–Aitken λ for categoricals; unused for fixed
    /// ones).
    #[cfg(test)]
    pub(crate) fn bandwidths(&self) -> &[f64] {
        &self.bw
    }

    /// Log density of `a`.
    pub(crate) fn log_pdf(&self, a: &Assignment) -> f64 {
        if self.data.is_empty() {
            return f64::NEG_INFINITY;
        }
        let x: Vec<f64> = self
            .dims
            .iter()
            .zip(a.values())
            .map(|(d, v)| d.unit(v))
            .collect();
        let terms: Vec<f64> = self
            .data
            .iter()
            .map(|row| {
                let mut t = 0.0;
                for (j, d) in self.dims.iter().enumerate() {
                    let h = self.bw[j];
                    match d {
                        Dim::Continuous { .. } => {
                            let z = (x[j] - row[j]) / h;
                            t += -LN_SQRT_2PI - h.ln() - 0.5 * z * z;
                        }
                        Dim::Categorical { choices } if *choices > 1 => {
                            t += if x[j] == row[j] {
                                (1.0 - h).ln()
                            } else {
                                (h / (*choices - 1) as f64).ln()
                            };
                        }
                        _ => {}
                    }
                }
                t
            })
            .collect();
        log_sum_exp(&terms) - (self.data.len() as f64).ln()
    }

    /// Draws a point as BOHB does: a data point at random, then each number from a Gaussian
    /// around it truncated to the range, of width `max(bandwidth · bandwidth_factor,
    /// min_bandwidth)`; each categorical kept with probability `1 − λ`, otherwise uniform.
    pub(crate) fn sample(
        &self,
        rng: &mut Rng,
        bandwidth_factor: f64,
        min_bandwidth: f64,
    ) -> Assignment {
        let i = rng.random_range(0..self.data.len().max(1));
        let row = self.data.get(i);
        let values = self
            .dims
            .iter()
            .enumerate()
            .map(|(j, d)| {
                let centre = row.map(|r| r[j]).unwrap_or(0.5);
                match d {
                    Dim::Continuous { .. } => {
                        let sd = (self.bw[j] * bandwidth_factor).max(min_bandwidth);
                        let mut u = f64::NAN;
                        for _ in 0..64 {
                            let t = centre + sd * gaussian(rng);
                            if (0.0..=1.0).contains(&t) {
                                u = t;
                                break;
                            }
                        }
                        if u.is_nan() {
                            u = rng.random_range(0.0..=1.0);
                        }
                        d.value(u)
                    }
                    Dim::Categorical { choices } => {
                        let keep: f64 = rng.random();
                        if keep < 1.0 - self.bw[j] {
                            d.value(centre)
                        } else {
                            ParamValue::Choice(rng.random_range(0..(*choices).max(1)))
                        }
                    }
                    Dim::Fixed(v) => *v,
                }
            })
            .collect();
        Assignment(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use modnas_core::param::Domain;
    use modnas_core::seed::rng_from_seed;

    fn dims() -> Vec<Dim> {
        [
            Domain::Float {
                low: 0.0,
                high: 10.0,
                log: false,
            },
            Domain::Categorical {
                choices: vec!["a".into(), "b".into(), "c".into()],
            },
        ]
        .iter()
        .map(|d| Dim::of(&Axis::of(d)))
        .collect()
    }

    #[test]
    fn normal_reference_bandwidths_with_a_floor() {
        let pts: Vec<Assignment> = [1.0, 3.0, 5.0]
            .iter()
            .map(|&x| Assignment(vec![ParamValue::Float(x), ParamValue::Choice(1)]))
            .collect();
        let refs: Vec<&Assignment> = pts.iter().collect();
        let k = Kde::fit(&dims(), &refs, 1e-3);
        // σ of 0.1, 0.3, 0.5 is 0.2; n^(−1/6) for n = 3, d = 2.
        let want = 1.06 * 0.2 * 3f64.powf(-1.0 / 6.0);
        assert!((k.bandwidths()[0] - want).abs() < 1e-12);
        // All in one choice: λ at the floor.
        assert_eq!(k.bandwidths()[1], 1e-3);
    }

    #[test]
    fn density_peaks_at_the_data_and_samples_stay_near() {
        let pts: Vec<Assignment> = [2.0, 2.2, 2.4, 2.1]
            .iter()
            .map(|&x| Assignment(vec![ParamValue::Float(x), ParamValue::Choice(2)]))
            .collect();
        let refs: Vec<&Assignment> = pts.iter().collect();
        let k = Kde::fit(&dims(), &refs, 1e-3);
        let near = Assignment(vec![ParamValue::Float(2.2), ParamValue::Choice(2)]);
        let far = Assignment(vec![ParamValue::Float(8.0), ParamValue::Choice(2)]);
        let other = Assignment(vec![ParamValue::Float(2.2), ParamValue::Choice(0)]);
        assert!(k.log_pdf(&near) > k.log_pdf(&far) + 5.0);
        assert!(k.log_pdf(&near) > k.log_pdf(&other) + 3.0);
        let mut rng = rng_from_seed(1);
        let mut close = 0;
        for _ in 0..200 {
            let s = k.sample(&mut rng, 3.0, 1e-3);
            if let ParamValue::Float(x) = s.0[0] {
                assert!((0.0..=10.0).contains(&x));
                if (x - 2.2).abs() < 2.0 {
                    close += 1;
                }
            }
        }
        assert!(close > 150, "{close} of 200 samples near the data");
    }
}
