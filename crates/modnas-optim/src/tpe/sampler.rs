//! One TPE proposal: split the observations into a good and a bad group, fit a Parzen
//! estimator to each, draw candidates from the good one and keep the one of largest
//! `l(x) / g(x)` (which maximises expected improvement; Bergstra et al. 2011).

use super::parzen::{Axis, JointBandwidth, Parzen};
use modnas_core::param::{Assignment, ParamValue};
use modnas_core::seed::Rng;

/// The number of observations that make up the good group out of `n`:
/// `min(⌈gamma · n⌉, max_good)`, at least one.
pub fn n_good(n: usize, gamma: f64, max_good: usize) -> usize {
    ((gamma * n as f64).ceil() as usize)
        .min(max_good)
        .clamp(1, n.max(1))
}

/// Weights of `n` observations in the order they were made: 1 for the latest `flat`, rising
/// linearly from `1/n` for the older ones (older results count less; Bergstra et al. 2011).
pub fn ramp_weights(n: usize, flat: usize) -> Vec<f64> {
    if n <= flat {
        return vec![1.0; n];
    }
    let old = n - flat;
    let lo = 1.0 / n as f64;
    let mut w: Vec<f64> = (0..old)
        .map(|i| {
            if old == 1 {
                lo
            } else {
                lo + (1.0 - lo) * i as f64 / (old - 1) as f64
            }
        })
        .collect();
    w.extend(std::iter::repeat_n(1.0, flat));
    w
}

/// What a proposal is made from.
pub struct Model<'a> {
    /// The axis of each parameter.
    pub axes: &'a [Axis],
    /// Parameters modelled jointly.
    pub blocks: &'a [Vec<usize>],
    /// Share of the observations in the good group.
    pub gamma: f64,
    /// Largest good group.
    pub max_good: usize,
    /// Weight of the prior component of both estimators.
    pub prior_weight: f64,
    /// Candidates drawn per block.
    pub candidates: usize,
    /// Latest observations of full weight.
    pub flat: usize,
    /// Bandwidth rule of joint blocks.
    pub joint: JointBandwidth,
}

/// Splits `points` (in the order they were made; `None`: failed or pending, ranked worst) into
/// the indices of the good and the bad group, each in the original order.
pub fn split(points: &[(&Assignment, Option<f64>)], n_good: usize) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..points.len()).collect();
    let key = |s: Option<f64>| s.filter(|v| !v.is_nan()).unwrap_or(f64::NEG_INFINITY);
    // Best first; among equal scores the earlier observation first.
    order.sort_by(|&a, &b| {
        key(points[b].1)
            .total_cmp(&key(points[a].1))
            .then(points[a].1.is_none().cmp(&points[b].1.is_none()))
            .then(a.cmp(&b))
    });
    let mut good: Vec<usize> = order[..n_good.min(order.len())].to_vec();
    let mut bad: Vec<usize> = order[n_good.min(order.len())..].to_vec();
    good.sort_unstable();
    bad.sort_unstable();
    (good, bad)
}

impl Model<'_> {
    fn estimator(&self, points: &[(&Assignment, Option<f64>)], idx: &[usize]) -> Parzen {
        let rows: Vec<&[ParamValue]> = idx.iter().map(|&i| points[i].0.values()).collect();
        Parzen::fit(
            self.axes,
            self.blocks,
            &rows,
            &ramp_weights(rows.len(), self.flat),
            self.prior_weight,
            self.joint,
        )
    }

    /// The good and the bad estimator.
    pub fn estimators(&self, points: &[(&Assignment, Option<f64>)]) -> (Parzen, Parzen) {
        let (good, bad) = split(points, n_good(points.len(), self.gamma, self.max_good));
        (self.estimator(points, &good), self.estimator(points, &bad))
    }

    /// The proposal: per block, the candidate (drawn from the good estimator) of largest
    /// `log l − log g`, the first among equals.
    pub fn propose(&self, rng: &mut Rng, l: &Parzen, g: &Parzen) -> Assignment {
        let mut row: Vec<ParamValue> = self.axes.iter().map(|a| a.value(0.0)).collect();
        let mut cand = row.clone();
        for block in self.blocks {
            let mut best = f64::NEG_INFINITY;
            for k in 0..self.candidates.max(1) {
                l.sample_block(rng, block, &mut cand);
                let s = l.log_pdf_block(block, &cand) - g.log_pdf_block(block, &cand);
                if k == 0 || s > best {
                    best = s;
                    for &d in block {
                        row[d] = cand[d];
                    }
                }
            }
        }
        Assignment(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_sizes_and_weights() {
        assert_eq!(n_good(0, 0.1, 25), 1);
        assert_eq!(n_good(10, 0.1, 25), 1);
        assert_eq!(n_good(11, 0.1, 25), 2);
        assert_eq!(n_good(1000, 0.1, 25), 25);
        assert_eq!(ramp_weights(3, 25), vec![1.0; 3]);
        let w = ramp_weights(30, 25);
        assert_eq!(w.len(), 30);
        assert!((w[0] - 1.0 / 30.0).abs() < 1e-12 && (w[4] - 1.0).abs() < 1e-12);
        assert!(w.windows(2).all(|p| p[0] <= p[1]));
    }

    #[test]
    fn failed_and_pending_points_rank_last() {
        let a = Assignment(vec![ParamValue::Choice(0)]);
        let pts = vec![
            (&a, None),
            (&a, Some(-5.0)),
            (&a, Some(1.0)),
            (&a, Some(1.0)),
        ];
        let (good, bad) = split(&pts, 2);
        assert_eq!(good, vec![2, 3]);
        assert_eq!(bad, vec![0, 1]);
        let (good, _) = split(&pts, 3);
        assert_eq!(good, vec![1, 2, 3]);
    }
}
