//! Parameter importance by PED-ANOVA (Watanabe et al., IJCAI 2023), as Optuna's
//! `PedAnovaImportanceEvaluator` computes it for unconditional spaces.
//!
//! For each parameter, the values of the top-`target_quantile` trials (by loss) and of all trials
//! are counted on a grid (the choices of a categorical, 50 points of a real range, the integers
//! of a small integer range, powers of two of a log-integer one). Each count vector becomes a
//! Parzen estimator on the grid (discretised truncated normals with Scott's bandwidth, or
//! categorical kernels, plus one prior kernel). The importance is the Pearson divergence
//! `Σ p_all · (p_top / p_all − 1)²`, scaled by the squared quantile and normalised to sum 1.

use crate::svg::esc;
use modnas_core::param::{Assignment, Domain, ParamSpace, ParamValue};
use std::fmt::Write;

/// Settings of the evaluator (Optuna's defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PedAnova {
    /// The top quantile whose density is compared with all trials' (γ′, default 0.1).
    pub target_quantile: f64,
    /// Grid points of a real range (default 50).
    pub n_steps: usize,
    /// Weight of the prior kernel (default 1).
    pub prior_weight: f64,
}

impl Default for PedAnova {
    fn default() -> Self {
        PedAnova {
            target_quantile: 0.1,
            n_steps: 50,
            prior_weight: 1.0,
        }
    }
}

/// Why importances cannot be computed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ImportanceError {
    /// The quantile is outside `(0, 1)`.
    #[error("target quantile {0} is not in (0, 1)")]
    Quantile(f64),
    /// Fewer than 3 grid steps.
    #[error("n_steps must be at least 3, got {0}")]
    Steps(usize),
    /// Assignments and losses differ in number.
    #[error("{0} assignments but {1} losses")]
    Lengths(usize, usize),
}

/// The complementary error function, to about 1e-14 relative: a power series below 2.5, a
/// continued fraction (modified Lentz) above.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 2.5 {
        // erf(x) = 2/√π Σ (−1)ⁿ x^(2n+1) / (n! (2n+1))
        let (mut term, mut sum) = (x, x);
        let x2 = x * x;
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs() {
            n += 1.0;
            term *= -x2 / n;
            sum += term / (2.0 * n + 1.0);
        }
        return 1.0 - sum * std::f64::consts::FRAC_2_SQRT_PI;
    }
    if x > 27.0 {
        return 0.0;
    }
    // erfc(x) = exp(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))).
    let tiny = 1e-300;
    let mut f = x;
    let (mut c, mut d) = (x, 0.0);
    for k in 1..300 {
        let a = k as f64 / 2.0;
        d = x + a * d;
        if d.abs() < tiny {
            d = tiny;
        }
        c = x + a / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x * x).exp() / (f * std::f64::consts::PI.sqrt())
}

/// Probability mass of the standard normal in `[a, b]`, accurate in both tails.
fn gauss_mass(a: f64, b: f64) -> f64 {
    let r = std::f64::consts::FRAC_1_SQRT_2;
    if a >= 0.0 {
        0.5 * (erfc(a * r) - erfc(b * r))
    } else if b <= 0.0 {
        0.5 * (erfc(-b * r) - erfc(-a * r))
    } else {
        1.0 - 0.5 * (erfc(-a * r) + erfc(b * r))
    }
}

/// How a parameter's values are put on a grid.
enum Grid {
    /// `n` choices.
    Choices(usize),
    /// `n` evenly spaced points over `[low, high]` (in log space when `log`).
    Points { low: f64, high: f64, n: usize },
}

impl Grid {
    fn of(d: &Domain, n_steps: usize) -> Option<(Grid, bool)> {
        match d {
            Domain::Categorical { choices } => {
                (choices.len() > 1).then_some((Grid::Choices(choices.len()), false))
            }
            Domain::Int { low, high, log } => {
                if high <= low {
                    return None;
                }
                let span = (high - low + 1) as f64;
                let n = if *log {
                    ((span.ln() / 2f64.ln()).ceil() as usize + 1).min(n_steps)
                } else {
                    (span as usize).min(n_steps)
                };
                let (lo, hi) = if *log {
                    ((*low as f64).ln(), (*high as f64).ln())
                } else {
                    (*low as f64, *high as f64)
                };
                Some((
                    Grid::Points {
                        low: lo,
                        high: hi,
                        n,
                    },
                    *log,
                ))
            }
            Domain::Float { low, high, log } => {
                if high <= low {
                    return None;
                }
                let (lo, hi) = if *log {
                    (low.ln(), high.ln())
                } else {
                    (*low, *high)
                };
                Some((
                    Grid::Points {
                        low: lo,
                        high: hi,
                        n: n_steps,
                    },
                    *log,
                ))
            }
        }
    }

    fn size(&self) -> usize {
        match self {
            Grid::Choices(n) | Grid::Points { n, .. } => *n,
        }
    }

    /// Counts of the values on the grid.
    fn counts(&self, log: bool, values: impl Iterator<Item = ParamValue>) -> Vec<f64> {
        let mut c = vec![0.0; self.size()];
        for v in values {
            let k = match (self, v) {
                (Grid::Choices(n), ParamValue::Choice(i)) if i < *n => i,
                (Grid::Points { low, high, n }, v) => {
                    let x = match v {
                        ParamValue::Int(i) => i as f64,
                        ParamValue::Float(f) => f,
                        ParamValue::Choice(_) => continue,
                    };
                    let x = if log { x.ln() } else { x };
                    if !x.is_finite() {
                        continue;
                    }
                    let step = (high - low) / (*n as f64 - 1.0);
                    // Midpoint ties go to the lower point.
                    let k = ((x - low) / step - 0.5).ceil();
                    k.clamp(0.0, *n as f64 - 1.0) as usize
                }
                _ => continue,
            };
            c[k] += 1.0;
        }
        c
    }

    /// The Parzen estimator's probabilities of the grid points for these counts.
    fn pdf(&self, counts: &[f64], prior_weight: f64) -> Vec<f64> {
        let size = counts.len();
        let obs: Vec<(usize, f64)> = counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0.0)
            .map(|(k, c)| (k, *c))
            .collect();
        let total: f64 = obs.iter().map(|o| o.1).sum();
        let mut p = vec![0.0; size];
        if obs.is_empty() {
            return vec![1.0 / size as f64; size];
        }
        let wsum = total + prior_weight;
        match self {
            Grid::Choices(nc) => {
                let nc = *nc as f64;
                let nk = obs.len() as f64 + 1.0;
                let base = prior_weight / nk;
                let row = base * nc + 1.0;
                for (g, pg) in p.iter_mut().enumerate() {
                    let mut s = prior_weight / wsum * (1.0 / nc);
                    for &(k, w) in &obs {
                        let hit = if k == g { 1.0 } else { 0.0 };
                        s += w / wsum * (base + hit) / row;
                    }
                    *pg = s;
                }
            }
            Grid::Points { .. } => {
                // Scott's rule on the grid indices, bounded below so that 90% of a kernel's mass
                // fits in one cell.
                let mean = obs.iter().map(|&(k, w)| k as f64 * w).sum::<f64>() / total;
                let var = obs
                    .iter()
                    .map(|&(k, w)| w * (k as f64 - mean).powi(2))
                    .sum::<f64>()
                    / (total - 1.0).max(1.0);
                let mut cum = Vec::with_capacity(obs.len());
                let mut acc = 0.0;
                for o in &obs {
                    acc += o.1;
                    cum.push(acc);
                }
                let q1 = (total / 4.0).floor();
                let q3 = (total * 3.0 / 4.0).floor();
                let i1 = cum.iter().position(|&c| c >= q1).unwrap_or(obs.len() - 1);
                let i3 = cum.iter().position(|&c| c > q3).unwrap_or(obs.len());
                let iqr = obs[i3.min(obs.len() - 1)].0 as f64 - obs[i1].0 as f64;
                let sigma = 1.059 * (iqr / 1.34).min(var.sqrt()) * total.powf(-0.2);
                let sigma = sigma.max(0.5 / 1.64);
                let hi = size as f64 - 1.0;
                let kernel = |mu: f64, s: f64, g: f64| {
                    let z = gauss_mass((-0.5 - mu) / s, (hi + 0.5 - mu) / s);
                    gauss_mass((g - 0.5 - mu) / s, (g + 0.5 - mu) / s) / z
                };
                let prior_mu = hi / 2.0;
                let prior_sigma = hi + 1.0;
                for (g, pg) in p.iter_mut().enumerate() {
                    let g = g as f64;
                    let mut s = prior_weight / wsum * kernel(prior_mu, prior_sigma, g);
                    for &(k, w) in &obs {
                        s += w / wsum * kernel(k as f64, sigma, g);
                    }
                    *pg = s;
                }
            }
        }
        p
    }
}

/// The indices of the top-`quantile` trials by loss (lower is better; ties at the cut-off are
/// all kept).
pub fn top_quantile(losses: &[f64], quantile: f64) -> Vec<usize> {
    if losses.is_empty() {
        return Vec::new();
    }
    let mut sorted: Vec<f64> = losses.to_vec();
    sorted.sort_by(f64::total_cmp);
    let k = ((quantile * losses.len() as f64).ceil() as usize).clamp(1, losses.len()) - 1;
    let cut = sorted[k];
    (0..losses.len()).filter(|&i| losses[i] <= cut).collect()
}

/// Importances of the parameters of `space`, normalised to sum 1 and sorted from the most
/// important; `losses[i]` is the loss (lower is better) of `params[i]`. Trials with a non-finite
/// loss are left out. With fewer than two trials every parameter gets `1 / n`.
pub fn ped_anova(
    space: &ParamSpace,
    params: &[&Assignment],
    losses: &[f64],
    cfg: &PedAnova,
) -> Result<Vec<(String, f64)>, ImportanceError> {
    if !(cfg.target_quantile > 0.0 && cfg.target_quantile < 1.0) {
        return Err(ImportanceError::Quantile(cfg.target_quantile));
    }
    if cfg.n_steps < 3 {
        return Err(ImportanceError::Steps(cfg.n_steps));
    }
    if params.len() != losses.len() {
        return Err(ImportanceError::Lengths(params.len(), losses.len()));
    }
    let keep: Vec<usize> = (0..losses.len())
        .filter(|&i| losses[i].is_finite())
        .collect();
    let n_params = space.params().len();
    let mut raw = vec![0.0; n_params];
    if keep.len() > 1 {
        let kept_losses: Vec<f64> = keep.iter().map(|&i| losses[i]).collect();
        let top: Vec<usize> = top_quantile(&kept_losses, cfg.target_quantile)
            .into_iter()
            .map(|k| keep[k])
            .collect();
        let q = top.len() as f64 / keep.len() as f64;
        for (j, p) in space.params().iter().enumerate() {
            let Some((grid, log)) = Grid::of(&p.domain, cfg.n_steps) else {
                continue;
            };
            let value = |i: &usize| params[*i].get(j).copied();
            let c_top = grid.counts(log, top.iter().filter_map(value));
            let c_all = grid.counts(log, keep.iter().filter_map(value));
            let p_top = grid.pdf(&c_top, cfg.prior_weight);
            let p_all = grid.pdf(&c_all, cfg.prior_weight);
            let div: f64 = p_top
                .iter()
                .zip(&p_all)
                .map(|(t, a)| {
                    let (t, a) = (t + 1e-12, a + 1e-12);
                    a * (t / a - 1.0).powi(2)
                })
                .sum();
            raw[j] = q * q * div;
        }
    }
    let total: f64 = raw.iter().sum();
    let mut out: Vec<(String, f64)> = space
        .params()
        .iter()
        .zip(raw)
        .map(|(p, v)| {
            let v = if total > 0.0 {
                v / total
            } else {
                1.0 / n_params as f64
            };
            (p.name.clone(), v)
        })
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(out)
}

/// A horizontal bar chart of importances (already sorted), one `<rect class="bar">` per
/// parameter with its name and value.
pub fn importance_svg(title: &str, importances: &[(String, f64)], width: f64) -> String {
    let label_w = importances
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 40) as f64
        * 7.0
        + 16.0;
    let bar_h = 20.0;
    let (mt, mb) = (34.0, 16.0);
    let height = mt + mb + bar_h * importances.len().max(1) as f64;
    let plot_w = (width - label_w - 70.0).max(50.0);
    let max = importances
        .iter()
        .map(|x| x.1)
        .fold(0.0_f64, f64::max)
        .max(1e-12);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" role="img" aria-label="{t}"><rect width="{width}" height="{height}" fill="#ffffff"/><text x="{label_w}" y="20" font-size="14" font-weight="bold">{t}</text>"##,
        t = esc(title)
    );
    for (k, (name, v)) in importances.iter().enumerate() {
        let y = mt + bar_h * k as f64;
        let w = (v / max * plot_w).max(0.5);
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect class="bar" data-param="{}" data-importance="{v:.6}" x="{label_w}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="#1f5fbf"/><text x="{:.1}" y="{:.1}">{:.3}</text>"##,
            label_w - 6.0,
            y + 14.0,
            esc(name),
            esc(name),
            y + 3.0,
            bar_h - 6.0,
            label_w + w + 5.0,
            y + 14.0,
            v
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use modnas_core::param::Value;

    #[test]
    fn erfc_known_values() {
        // erfc(0.5), erfc(1), erfc(3), erfc(6) to 15 digits.
        for (x, want) in [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_13),
            (3.0, 2.209_049_699_858_544e-5),
            (6.0, 2.151_973_671_249_891_3e-17),
            (-1.0, 1.842_700_792_949_715),
        ] {
            let got = erfc(x);
            assert!(
                ((got - want) / want).abs() < 1e-12,
                "erfc({x}) = {got}, want {want}"
            );
        }
        assert!((gauss_mass(-1.0, 1.0) - 0.682_689_492_137_085_9).abs() < 1e-14);
    }

    #[test]
    fn top_quantile_keeps_ties() {
        assert_eq!(top_quantile(&[3.0, 1.0, 2.0, 1.0, 5.0], 0.2), vec![1, 3]);
        assert_eq!(top_quantile(&[3.0, 1.0, 2.0, 0.5], 0.5), vec![1, 3]);
    }

    #[test]
    fn the_parameter_that_decides_the_loss_is_the_most_important() {
        let mut space = ParamSpace::new();
        space
            .add(
                "x",
                Domain::Float {
                    low: 0.0,
                    high: 1.0,
                    log: false,
                },
            )
            .unwrap();
        space
            .add(
                "op",
                Domain::Categorical {
                    choices: vec![Value::from("a"), Value::from("b")],
                },
            )
            .unwrap();
        let mut rng = modnas_core::seed::rng_from_seed(7);
        let a: Vec<Assignment> = (0..200).map(|_| space.sample(&mut rng)).collect();
        let losses: Vec<f64> = a
            .iter()
            .map(|a| match a.get(0) {
                Some(ParamValue::Float(x)) => *x,
                _ => 0.0,
            })
            .collect();
        let refs: Vec<&Assignment> = a.iter().collect();
        let imp = ped_anova(&space, &refs, &losses, &PedAnova::default()).unwrap();
        assert_eq!(imp[0].0, "x");
        assert!(imp[0].1 > 0.9, "{imp:?}");
        assert!((imp.iter().map(|x| x.1).sum::<f64>() - 1.0).abs() < 1e-12);
        let bad = PedAnova {
            target_quantile: 1.0,
            ..PedAnova::default()
        };
        assert_eq!(
            ped_anova(&space, &refs, &losses, &bad),
            Err(ImportanceError::Quantile(1.0))
        );
        let svg = importance_svg("imp", &imp, 600.0);
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 2);
        assert!(svg.find("data-param=\"x\"") < svg.find("data-param=\"op\""));
    }
}
