//! Parzen (kernel density) estimators over the parameters of a space.
//!
//! Every parameter is modelled on an *axis*: real numbers as themselves (their logarithm on a log
//! scale), integers the same way with each value owning the cell `[v − ½, v + ½]`, categoricals
//! by their choice index. An estimator is a weighted mixture of components, one per observation
//! plus a wide prior component; each component holds a kernel per parameter: a Gaussian
//! truncated to the axis' bounds for numerics (its mass over the value's cell for integers), a
//! distribution over the choices for categoricals.
//!
//! Parameters are grouped in *blocks*: within a block the density is the mixture of the
//! products of the kernels (a joint, multivariate density); across blocks the densities
//! multiply (independent). A block of one parameter is the univariate estimator of Bergstra et
//! al. (2011), one block of all parameters the multivariate one (Falkner et al. 2018; see
//! Watanabe 2023 for both).

use crate::support::gaussian;
use crate::surrogate::erfc;
use modnas_core::param::{Domain, ParamValue};
use modnas_core::seed::Rng;
use rand::RngExt;

/// How one parameter is modelled.
#[derive(Clone, Debug, PartialEq)]
pub enum Axis {
    /// A real number; `log`: modelled by its logarithm.
    Real {
        /// Smallest value.
        low: f64,
        /// Largest value.
        high: f64,
        /// Log scale.
        log: bool,
    },
    /// An integer; the value `v` owns the cell `[v − ½, v + ½]` (on the log axis for `log`).
    Int {
        /// Smallest value.
        low: i64,
        /// Largest value.
        high: i64,
        /// Log scale.
        log: bool,
    },
    /// One of `choices` choices.
    Categorical {
        /// Number of choices.
        choices: usize,
    },
    /// A parameter with a single value.
    Fixed(ParamValue),
}

impl Axis {
    /// The axis of a domain.
    pub fn of(domain: &Domain) -> Axis {
        match domain {
            Domain::Categorical { choices } if choices.len() <= 1 => {
                Axis::Fixed(ParamValue::Choice(0))
            }
            Domain::Categorical { choices } => Axis::Categorical {
                choices: choices.len(),
            },
            Domain::Int { low, high, .. } if low >= high => Axis::Fixed(ParamValue::Int(*low)),
            Domain::Int { low, high, log } => Axis::Int {
                low: *low,
                high: *high,
                log: *log && *low > 0,
            },
            Domain::Float { low, high, .. } if !(low < high) => {
                Axis::Fixed(ParamValue::Float(*low))
            }
            Domain::Float { low, high, log } => Axis::Real {
                low: *low,
                high: *high,
                log: *log && *low > 0.0,
            },
        }
    }

    fn warp(log: bool, x: f64) -> f64 {
        if log { x.ln() } else { x }
    }

    /// The bounds of a numeric axis in model coordinates.
    pub fn bounds(&self) -> (f64, f64) {
        match *self {
            Axis::Real { low, high, log } => (Self::warp(log, low), Self::warp(log, high)),
            Axis::Int { low, high, log } => (
                Self::warp(log, low as f64 - 0.5),
                Self::warp(log, high as f64 + 0.5),
            ),
            _ => (0.0, 0.0),
        }
    }

    /// A numeric value in model coordinates (0 for other axes).
    pub fn coord(&self, v: &ParamValue) -> f64 {
        match (self, v) {
            (Axis::Real { log, .. }, ParamValue::Float(x)) => Self::warp(*log, *x),
            (Axis::Int { log, .. }, ParamValue::Int(i)) => Self::warp(*log, *i as f64),
            _ => 0.0,
        }
    }

    /// The cell of an integer value in model coordinates.
    fn cell(&self, v: &ParamValue) -> (f64, f64) {
        match (self, v) {
            (Axis::Int { log, .. }, ParamValue::Int(i)) => (
                Self::warp(*log, *i as f64 - 0.5),
                Self::warp(*log, *i as f64 + 0.5),
            ),
            _ => (0.0, 0.0),
        }
    }

    /// The value at model coordinate `x` (clamped into the domain).
    pub fn value(&self, x: f64) -> ParamValue {
        match *self {
            Axis::Real { low, high, log } => {
                let v = if log { x.exp() } else { x };
                ParamValue::Float(if v.is_nan() { low } else { v.clamp(low, high) })
            }
            Axis::Int { low, high, log } => {
                let v = if log { x.exp() } else { x };
                let r = if v.is_nan() { low as f64 } else { v.round() };
                ParamValue::Int((r.max(low as f64).min(high as f64)) as i64)
            }
            Axis::Categorical { .. } => ParamValue::Choice(0),
            Axis::Fixed(v) => v,
        }
    }
}

/// The kernels of one parameter, one per mixture component.
#[derive(Clone, Debug)]
enum Kernels {
    /// Truncated Gaussians on `[lo, hi]`; `log_mass[i]`: log of the mass of component `i`
    /// inside the bounds; `norm[i]`: the log normalising constant of its density;
    /// `int`: evaluate the mass over each value's cell.
    Numeric {
        mu: Vec<f64>,
        sigma: Vec<f64>,
        log_mass: Vec<f64>,
        norm: Vec<f64>,
        lo: f64,
        hi: f64,
        int: bool,
    },
    /// `log_p[i][c]`: log probability of choice `c` under component `i`; `marginal[c]`: that
    /// of the whole mixture.
    Categorical {
        log_p: Vec<Vec<f64>>,
        marginal: Vec<f64>,
    },
    /// A parameter with one value.
    Fixed,
}

/// Standard normal CDF.
fn phi_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Log of `Φ(b) − Φ(a)` for `a ≤ b`, accurate in both tails.
fn log_gauss_mass(a: f64, b: f64) -> f64 {
    let m = if a > 0.0 {
        // Upper tail: Φ(−a) − Φ(−b) keeps the digits.
        phi_cdf(-a) - phi_cdf(-b)
    } else {
        phi_cdf(b) - phi_cdf(a)
    };
    m.max(f64::MIN_POSITIVE).ln()
}

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// `ln Σ exp(x)`; `-inf` for an empty or all `-inf` input.
pub fn log_sum_exp(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + xs.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// How the bandwidths of numeric kernels are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bandwidth {
    /// The distance to the farther of the two neighbouring observations (Bergstra et al.
    /// 2011).
    Neighbours,
    /// One bandwidth `0.2 · range · n^(−1/(d+4))` for all observations (a Scott-type rule)
    /// in a joint block of `d` parameters.
    Scott {
        /// Parameters in the block.
        dims: usize,
    },
}

/// The bandwidth rule of numeric kernels in joint blocks (univariate blocks always use the
/// distances to the neighbouring observations).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JointBandwidth {
    /// Each kernel as wide as the larger gap to its neighbours along the parameter (as in
    /// univariate blocks): narrow where the good results cluster.
    Neighbours,
    /// One width for all kernels of a parameter, `0.2 · range · n^(−1/(d+4))` for a block of
    /// `d` parameters (a Scott-type rule): smoother, explores more (the default: better on all
    /// three mixed synthetic functions of the Optuna side-by-side benchmark, see BENCHMARKS.md).
    #[default]
    Scott,
}

/// A weighted Parzen estimator.
#[derive(Clone, Debug)]
pub struct Parzen {
    /// Normalised log weights of the components (observations, then the prior).
    log_w: Vec<f64>,
    /// Cumulative weights (for drawing a component).
    cum_w: Vec<f64>,
    axes: Vec<Axis>,
    kernels: Vec<Kernels>,
    blocks: Vec<Vec<usize>>,
}

impl Parzen {
    /// Fits the estimator to `points` (model values, one row per observation) with `weights`,
    /// plus a prior component of weight `prior_weight` (a Gaussian over the whole range of
    /// each numeric, uniform over the choices of each categorical).
    ///
    /// `blocks` partitions the parameters; parameters missing from every block are left out of
    /// the density.
    pub fn fit(
        axes: &[Axis],
        blocks: &[Vec<usize>],
        points: &[&[ParamValue]],
        weights: &[f64],
        prior_weight: f64,
        joint: JointBandwidth,
    ) -> Parzen {
        let n = points.len();
        let mut w: Vec<f64> = weights.iter().map(|w| w.max(0.0)).collect();
        w.resize(n, 1.0);
        w.push(prior_weight.max(0.0));
        let total: f64 = w.iter().sum();
        let log_w: Vec<f64> = if total > 0.0 {
            w.iter().map(|x| (x / total).ln()).collect()
        } else {
            vec![-((n + 1) as f64).ln(); n + 1]
        };
        let mut block_of = vec![1usize; axes.len()];
        for b in blocks {
            for &d in b {
                if d < block_of.len() {
                    block_of[d] = b.len();
                }
            }
        }
        let kernels = axes
            .iter()
            .enumerate()
            .map(|(d, axis)| {
                let bw = match joint {
                    _ if block_of[d] <= 1 => Bandwidth::Neighbours,
                    JointBandwidth::Neighbours => Bandwidth::Neighbours,
                    JointBandwidth::Scott => Bandwidth::Scott { dims: block_of[d] },
                };
                let joint_block = block_of[d] > 1;
                fit_axis(
                    axis,
                    points.iter().map(|p| &p[d]),
                    n,
                    bw,
                    joint_block,
                    &log_w,
                )
            })
            .collect();
        let cum_w = log_w
            .iter()
            .scan(0.0, |acc, lw| {
                *acc += lw.exp();
                Some(*acc)
            })
            .collect();
        Parzen {
            log_w,
            cum_w,
            axes: axes.to_vec(),
            kernels,
            blocks: blocks.to_vec(),
        }
    }

    /// Number of mixture components (observations + the prior).
    pub fn components(&self) -> usize {
        self.log_w.len()
    }

    /// The blocks of parameters.
    pub fn blocks(&self) -> &[Vec<usize>] {
        &self.blocks
    }

    /// Adds the log kernel of every component for parameter `d` at `v` to `acc`.
    fn add_log_kernels(&self, d: usize, v: &ParamValue, acc: &mut [f64]) {
        let axis = &self.axes[d];
        match &self.kernels[d] {
            Kernels::Numeric {
                mu,
                sigma,
                log_mass,
                int: true,
                ..
            } => {
                let (a, b) = axis.cell(v);
                let (mid, width) = (0.5 * (a + b), b - a);
                for (i, t) in acc.iter_mut().enumerate() {
                    let s = sigma[i];
                    *t += if width < 0.25 * s {
                        // A cell narrow against the kernel: the midpoint rule (relative error
                        // below (width/σ)²/24 < 0.3 %) saves two error functions.
                        let z = (mid - mu[i]) / s;
                        width.ln() - LN_SQRT_2PI - s.ln() - 0.5 * z * z
                    } else {
                        log_gauss_mass((a - mu[i]) / s, (b - mu[i]) / s)
                    } - log_mass[i];
                }
            }
            Kernels::Numeric {
                mu, sigma, norm, ..
            } => {
                let x = axis.coord(v);
                for (i, t) in acc.iter_mut().enumerate() {
                    let z = (x - mu[i]) / sigma[i];
                    *t += norm[i] - 0.5 * z * z;
                }
            }
            Kernels::Categorical { log_p, .. } => {
                let c = match v {
                    ParamValue::Choice(c) => *c,
                    _ => usize::MAX,
                };
                for (t, p) in acc.iter_mut().zip(log_p) {
                    *t += p.get(c).copied().unwrap_or(f64::NEG_INFINITY);
                }
            }
            Kernels::Fixed => {}
        }
    }

    /// Log density (log probability for discrete parameters) of the values of `block` in `x`
    /// (a full row of values), in model coordinates.
    pub fn log_pdf_block(&self, block: &[usize], x: &[ParamValue]) -> f64 {
        if let [d] = block
            && let Kernels::Categorical { marginal, .. } = &self.kernels[*d]
        {
            return match x[*d] {
                ParamValue::Choice(c) => marginal.get(c).copied().unwrap_or(f64::NEG_INFINITY),
                _ => f64::NEG_INFINITY,
            };
        }
        let mut acc = self.log_w.clone();
        for &d in block {
            self.add_log_kernels(d, &x[d], &mut acc);
        }
        log_sum_exp(&acc)
    }

    /// Log density of a full row of values (the sum over blocks).
    pub fn log_pdf(&self, x: &[ParamValue]) -> f64 {
        self.blocks.iter().map(|b| self.log_pdf_block(b, x)).sum()
    }

    /// Draws the values of `block` into `out` (a full row): one component, then each
    /// parameter from its kernel.
    pub fn sample_block(&self, rng: &mut Rng, block: &[usize], out: &mut [ParamValue]) {
        let u: f64 = rng.random();
        let comp = self
            .cum_w
            .partition_point(|&c| c <= u)
            .min(self.components() - 1);
        for &d in block {
            out[d] = self.sample_kernel(rng, d, comp);
        }
    }

    fn sample_kernel(&self, rng: &mut Rng, d: usize, i: usize) -> ParamValue {
        let axis = &self.axes[d];
        match &self.kernels[d] {
            Kernels::Numeric {
                mu, sigma, lo, hi, ..
            } => {
                let mut x = f64::NAN;
                for _ in 0..64 {
                    let t = mu[i] + sigma[i] * gaussian(rng);
                    if t >= *lo && t <= *hi {
                        x = t;
                        break;
                    }
                }
                if x.is_nan() {
                    x = rng.random_range(*lo..=*hi);
                }
                axis.value(x)
            }
            Kernels::Categorical { log_p, .. } => {
                let u: f64 = rng.random();
                let mut acc = 0.0;
                let p = &log_p[i];
                for (c, lp) in p.iter().enumerate() {
                    acc += lp.exp();
                    if u < acc {
                        return ParamValue::Choice(c);
                    }
                }
                ParamValue::Choice(p.len().saturating_sub(1))
            }
            Kernels::Fixed => axis.value(0.0),
        }
    }
}

/// The kernels of one parameter for `n` observations (`values`) plus the prior.
fn fit_axis<'a>(
    axis: &Axis,
    values: impl Iterator<Item = &'a ParamValue>,
    n: usize,
    bw: Bandwidth,
    joint_block: bool,
    log_w: &[f64],
) -> Kernels {
    match axis {
        Axis::Fixed(_) => Kernels::Fixed,
        Axis::Categorical { choices } => {
            let k = *choices;
            // Joint blocks smooth each observation's choice towards uniform so that a product
            // kernel never rules out a combination; univariate ones leave that to the prior.
            let beta = if joint_block {
                1.0 / (n as f64 + 1.0)
            } else {
                0.0
            };
            let other = (beta / k as f64).ln();
            let own = (1.0 - beta + beta / k as f64).ln();
            let mut log_p: Vec<Vec<f64>> = values
                .map(|v| {
                    let c = match v {
                        ParamValue::Choice(c) => *c,
                        _ => usize::MAX,
                    };
                    (0..k).map(|j| if j == c { own } else { other }).collect()
                })
                .collect();
            log_p.push(vec![-(k as f64).ln(); k]);
            let marginal = (0..k)
                .map(|c| {
                    let terms: Vec<f64> = log_p.iter().zip(log_w).map(|(p, w)| p[c] + w).collect();
                    log_sum_exp(&terms)
                })
                .collect();
            Kernels::Categorical { log_p, marginal }
        }
        Axis::Real { .. } | Axis::Int { .. } => {
            let (lo, hi) = axis.bounds();
            let range = hi - lo;
            let mut mu: Vec<f64> = values.map(|v| axis.coord(v)).collect();
            let prior_mu = 0.5 * (lo + hi);
            let min_sigma = range / (1.0 + n as f64).min(100.0);
            let mut sigma = match bw {
                Bandwidth::Neighbours => neighbour_bandwidths(&mu, prior_mu, range),
                Bandwidth::Scott { dims } => {
                    let s = 0.2 * range * (n.max(1) as f64).powf(-1.0 / (dims as f64 + 4.0));
                    vec![s; mu.len()]
                }
            };
            for s in &mut sigma {
                *s = s.clamp(min_sigma, range);
            }
            mu.push(prior_mu);
            sigma.push(range);
            let log_mass: Vec<f64> = mu
                .iter()
                .zip(&sigma)
                .map(|(m, s)| log_gauss_mass((lo - m) / s, (hi - m) / s))
                .collect();
            let norm = sigma
                .iter()
                .zip(&log_mass)
                .map(|(s, lm)| -LN_SQRT_2PI - s.ln() - lm)
                .collect();
            Kernels::Numeric {
                mu,
                sigma,
                log_mass,
                norm,
                lo,
                hi,
                int: matches!(axis, Axis::Int { .. }),
            }
        }
    }
}

/// Bandwidth of each observation: the larger distance to its neighbours among the observations
/// and the prior's centre (one-sided at the ends).
fn neighbour_bandwidths(mu: &[f64], prior_mu: f64, range: f64) -> Vec<f64> {
    let mut all: Vec<(f64, usize)> = mu.iter().copied().zip(0..).collect();
    all.push((prior_mu, usize::MAX));
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut out = vec![range; mu.len()];
    for (j, &(x, i)) in all.iter().enumerate() {
        if i == usize::MAX {
            continue;
        }
        let left = (j > 0).then(|| x - all[j - 1].0);
        let right = all.get(j + 1).map(|r| r.0 - x);
        out[i] = match (left, right) {
            (Some(l), Some(r)) => l.max(r),
            (Some(d), None) | (None, Some(d)) => d,
            (None, None) => range,
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use modnas_core::seed::rng_from_seed;

    fn real(low: f64, high: f64, log: bool) -> Axis {
        Axis::of(&Domain::Float { low, high, log })
    }

    fn fit1(axis: Axis, vals: &[ParamValue]) -> Parzen {
        let rows: Vec<Vec<ParamValue>> = vals.iter().map(|v| vec![*v]).collect();
        let refs: Vec<&[ParamValue]> = rows.iter().map(|r| r.as_slice()).collect();
        Parzen::fit(
            &[axis],
            &[vec![0]],
            &refs,
            &vec![1.0; vals.len()],
            1.0,
            JointBandwidth::Neighbours,
        )
    }

    /// Trapezoid integral of the density over the axis' model bounds.
    fn integral(p: &Parzen, axis: &Axis) -> f64 {
        let (lo, hi) = axis.bounds();
        let steps = 20_000;
        let h = (hi - lo) / steps as f64;
        (0..=steps)
            .map(|k| {
                let x = lo + k as f64 * h;
                let v = match axis {
                    Axis::Real { log: true, .. } => ParamValue::Float(x.exp()),
                    _ => ParamValue::Float(x),
                };
                let w = if k == 0 || k == steps { 0.5 } else { 1.0 };
                w * p.log_pdf(&[v]).exp() * h
            })
            .sum()
    }

    #[test]
    fn real_density_integrates_to_one_and_peaks_at_observations() {
        for (axis, obs) in [
            (real(0.0, 10.0, false), vec![2.0, 2.0, 2.0, 8.0, 8.0, 8.0]),
            (real(1e-4, 1.0, true), vec![1e-3, 1e-3, 1e-3, 0.3, 0.3, 0.3]),
        ] {
            let vals: Vec<ParamValue> = obs.iter().map(|x| ParamValue::Float(*x)).collect();
            let p = fit1(axis.clone(), &vals);
            let i = integral(&p, &axis);
            assert!((i - 1.0).abs() < 1e-3, "{axis:?}: integral {i}");
            // Each observation is denser than points a little away from it on both sides.
            let (lo, hi) = axis.bounds();
            for v in &vals {
                let x = axis.coord(v);
                let at = p.log_pdf(&[*v]);
                for dx in [-0.05, 0.05] {
                    let y = (x + dx * (hi - lo)).clamp(lo, hi);
                    let yv = axis.value(y);
                    if (y - x).abs() > 1e-9 {
                        assert!(at > p.log_pdf(&[yv]), "{axis:?} at {v:?} vs {yv:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn integer_masses_sum_to_one_and_peak_at_observations() {
        let obs = [3, 3, 3, 3, 40, 40, 40, 40].map(ParamValue::Int);
        for log in [false, true] {
            let (low, high) = (1, if log { 1024 } else { 50 });
            let axis = Axis::of(&Domain::Int { low, high, log });
            let p = fit1(axis.clone(), &obs);
            let total: f64 = (low..=high)
                .map(|v| p.log_pdf(&[ParamValue::Int(v)]).exp())
                .sum();
            assert!((total - 1.0).abs() < 3e-3, "{axis:?}: {total}");
            let pmf = |v: i64| p.log_pdf(&[ParamValue::Int(v)]);
            if log {
                // Cells shrink along a log axis, so compare with values far away.
                assert!(pmf(3) > pmf(12) && pmf(40) > pmf(400), "{axis:?}");
            } else {
                for v in [3, 40] {
                    assert!(pmf(v) > pmf(v - 1) && pmf(v) > pmf(v + 1), "{axis:?} {v}");
                }
            }
        }
    }

    #[test]
    fn categorical_probabilities_follow_the_counts() {
        let axis = Axis::Categorical { choices: 4 };
        let obs = [0, 2, 2, 2].map(ParamValue::Choice);
        let p = fit1(axis, &obs);
        let probs: Vec<f64> = (0..4)
            .map(|c| p.log_pdf(&[ParamValue::Choice(c)]).exp())
            .collect();
        assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // Counts 1, 0, 3, 0 plus a prior of weight 1 spread evenly, over a total weight of 5.
        for (c, want) in [1.25, 0.25, 3.25, 0.25].iter().enumerate() {
            assert!((probs[c] - want / 5.0).abs() < 1e-12, "{probs:?}");
        }
        let mut rng = rng_from_seed(3);
        let mut counts = [0usize; 4];
        let mut row = [ParamValue::Choice(0)];
        for _ in 0..20_000 {
            p.sample_block(&mut rng, &[0], &mut row);
            let ParamValue::Choice(c) = row[0] else {
                unreachable!()
            };
            counts[c] += 1;
        }
        for c in 0..4 {
            let f = counts[c] as f64 / 20_000.0;
            assert!((f - probs[c]).abs() < 0.015, "{counts:?} vs {probs:?}");
        }
    }

    #[test]
    fn joint_block_keeps_combinations_together() {
        // Observations on the diagonal of two parameters: a joint estimator prefers diagonal
        // points, a univariate one cannot tell (0, 0) from (0, 1).
        let axes = [real(0.0, 1.0, false), Axis::Categorical { choices: 2 }];
        let rows: Vec<Vec<ParamValue>> = (0..10)
            .map(|i| {
                let c = i % 2;
                vec![
                    ParamValue::Float(0.1 + 0.8 * c as f64),
                    ParamValue::Choice(c),
                ]
            })
            .collect();
        let refs: Vec<&[ParamValue]> = rows.iter().map(|r| r.as_slice()).collect();
        let joint = Parzen::fit(
            &axes,
            &[vec![0, 1]],
            &refs,
            &[1.0; 10],
            1.0,
            JointBandwidth::Scott,
        );
        let indep = Parzen::fit(
            &axes,
            &[vec![0], vec![1]],
            &refs,
            &[1.0; 10],
            1.0,
            JointBandwidth::Scott,
        );
        let on = [ParamValue::Float(0.1), ParamValue::Choice(0)];
        let off = [ParamValue::Float(0.1), ParamValue::Choice(1)];
        assert!(joint.log_pdf(&on) > joint.log_pdf(&off) + 1.0);
        assert!((indep.log_pdf(&on) - indep.log_pdf(&off)).abs() < 1e-12);
        // The joint density still sums to one over the categorical and integrates over the real.
        let h = 1e-4;
        let total: f64 = (0..2)
            .map(|c| {
                (0..=10_000)
                    .map(|k| {
                        let w = if k == 0 || k == 10_000 { 0.5 } else { 1.0 };
                        let x = [ParamValue::Float(k as f64 * h), ParamValue::Choice(c)];
                        w * joint.log_pdf(&x).exp() * h
                    })
                    .sum::<f64>()
            })
            .sum();
        assert!((total - 1.0).abs() < 1e-3, "{total}");
    }

    #[test]
    fn samples_stay_in_bounds() {
        let axes = [
            real(1e-5, 1.0, true),
            Axis::of(&Domain::Int {
                low: 16,
                high: 512,
                log: true,
            }),
        ];
        let rows = [vec![ParamValue::Float(1e-5), ParamValue::Int(512)]];
        let refs: Vec<&[ParamValue]> = rows.iter().map(|r| r.as_slice()).collect();
        let p = Parzen::fit(
            &axes,
            &[vec![0, 1]],
            &refs,
            &[1.0],
            1.0,
            JointBandwidth::Neighbours,
        );
        let mut rng = rng_from_seed(9);
        let mut row = rows[0].clone();
        for _ in 0..2000 {
            p.sample_block(&mut rng, &[0, 1], &mut row);
            let (ParamValue::Float(x), ParamValue::Int(i)) = (row[0], row[1]) else {
                unreachable!()
            };
            assert!((1e-5..=1.0).contains(&x) && (16..=512).contains(&i));
        }
    }
}
