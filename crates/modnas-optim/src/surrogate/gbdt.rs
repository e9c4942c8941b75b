//! Gradient-boosted regression trees (XGBoost-style), the cost model of AutoTVM-like SMBO.
//!
//! Squared loss (gradient `pred − y`, hessian 1), exact greedy split finding on pre-sorted
//! feature orders, the regularised structure score `T(G)²/(H+λ)` (with `T` the soft threshold
//! of the L1 term `α`), split gain `½[GL²/(HL+λ) + GR²/(HR+λ) − (GL+GR)²/(HL+HR+λ)] − γ` and
//! leaf weight `−T(G)/(H+λ)`, shrunk by the learning rate. Trees are grown level by level, so one
//! round costs `O(depth · n · d)`.
//!
//! The trees are stored flat: every node holds a threshold, a feature and the index of its left
//! child (the right child follows it); a leaf points to itself with a NaN threshold, so that a
//! prediction walks every tree a fixed number of steps without data-dependent branches.

use super::linalg::validate;
use super::{Matrix, Surrogate};
use modnas_core::seed::rng_from_seed;
use rand::RngExt;

/// Hyperparameters of [`Gbdt`]. The defaults are those of AutoTVM's XGBoost cost model.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GbdtParams {
    /// Number of boosting rounds (trees). Default 400.
    pub n_rounds: usize,
    /// Shrinkage `η` applied to every leaf weight. Default 0.3.
    pub learning_rate: f64,
    /// Maximum depth of a tree (0: every tree is a single leaf). Default 3.
    pub max_depth: usize,
    /// L2 regularisation `λ` of the leaf weights. Default 1.
    pub lambda: f64,
    /// L1 regularisation `α` of the leaf weights. Default 0.
    pub alpha: f64,
    /// Minimum gain `γ` of a split. Default 1e-4.
    pub gamma: f64,
    /// Minimum hessian sum (here: number of rows) in each child of a split. Default 1.
    pub min_child_weight: f64,
    /// Fraction of the rows each tree is grown on, drawn anew every round. Default 1.
    pub subsample: f64,
    /// Seed of the row subsampling (set by the optimizer, not by configuration).
    #[serde(skip)]
    pub seed: u64,
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            n_rounds: 400,
            learning_rate: 0.3,
            max_depth: 3,
            lambda: 1.0,
            alpha: 0.0,
            gamma: 1e-4,
            min_child_weight: 1.0,
            subsample: 1.0,
            seed: 0,
        }
    }
}

impl GbdtParams {
    /// Checks that every value is in range.
    pub fn validate(&self) -> Result<(), String> {
        let p = self;
        if !(p.learning_rate.is_finite() && p.learning_rate >= 0.0) {
            return Err(format!(
                "learning_rate must be finite and non-negative, got {}",
                p.learning_rate
            ));
        }
        if !(p.lambda.is_finite() && p.lambda >= 0.0) {
            return Err(format!(
                "lambda must be finite and non-negative, got {}",
                p.lambda
            ));
        }
        if !(p.alpha.is_finite() && p.alpha >= 0.0) {
            return Err(format!(
                "alpha must be finite and non-negative, got {}",
                p.alpha
            ));
        }
        if !p.gamma.is_finite() {
            return Err(format!("gamma must be finite, got {}", p.gamma));
        }
        if !(p.min_child_weight.is_finite() && p.min_child_weight >= 0.0) {
            return Err(format!(
                "min_child_weight must be finite and non-negative, got {}",
                p.min_child_weight
            ));
        }
        if !(p.subsample > 0.0 && p.subsample <= 1.0) {
            return Err(format!("subsample must be in (0, 1], got {}", p.subsample));
        }
        if p.max_depth > 30 {
            return Err(format!("max_depth must be at most 30, got {}", p.max_depth));
        }
        Ok(())
    }
}

/// One node of a flattened tree. A split sends `x[feature] >= threshold` to `left + 1` and
/// everything else (NaN included) to `left`; a leaf has `left` equal to its own index and a NaN
/// threshold.
#[derive(Clone, Copy, Debug)]
struct Node {
    threshold: f64,
    feature: u32,
    left: u32,
}

/// Marks a row outside every node still being grown.
const NONE: u32 = u32::MAX;

/// The best split found for a node.
#[derive(Clone, Copy, Debug)]
struct Split {
    gain: f64,
    feature: u32,
    threshold: f64,
}

/// Per-node running sums of a split scan over one feature.
#[derive(Clone, Copy, Debug, Default)]
struct ScanState {
    g: f64,
    h: f64,
    last: f64,
    seen: bool,
}

/// A node being grown, with the gradient and hessian sums of its rows.
#[derive(Clone, Copy, Debug)]
struct Growing {
    node: usize,
    g: f64,
    h: f64,
}

/// Gradient-boosted regression trees (XGBoost-style) with squared loss.
///
/// Gradient `pred − y`, hessian 1, base score the mean of the targets; exact greedy split
/// finding on pre-sorted feature orders with the regularised structure score `T(G)²/(H+λ)`
/// (`T` the soft threshold of the L1 term `α`), split gain
/// `½[GL²/(HL+λ) + GR²/(HR+λ) − (GL+GR)²/(HL+HR+λ)] − γ` (a split needs a positive gain and
/// hessian sums of at least `min_child_weight` on both sides), thresholds halfway between
/// consecutive distinct values, leaf weight `−T(G)/(H+λ)` shrunk by the learning rate. Trees
/// grow level by level, so a round costs `O(depth · n · d)`; they are stored flat, so that a
/// prediction walks every tree a fixed number of steps without data-dependent branches.
#[derive(Clone, Debug)]
pub struct Gbdt {
    params: GbdtParams,
    fitted: bool,
    n_features: usize,
    base_score: f64,
    nodes: Vec<Node>,
    /// Leaf values (already shrunk by the learning rate), indexed like `nodes`.
    values: Vec<f64>,
    roots: Vec<u32>,
    /// The deepest tree's depth: the number of steps a prediction walks every tree.
    depth: usize,
}

impl Default for Gbdt {
    fn default() -> Self {
        Gbdt::new(GbdtParams::default())
    }
}

impl Gbdt {
    /// An unfitted model (it predicts 0 until fitted).
    pub fn new(params: GbdtParams) -> Self {
        Gbdt {
            params,
            fitted: false,
            n_features: 0,
            base_score: 0.0,
            nodes: Vec::new(),
            values: Vec::new(),
            roots: Vec::new(),
            depth: 0,
        }
    }

    /// The hyperparameters.
    pub fn params(&self) -> &GbdtParams {
        &self.params
    }

    /// Number of trees of the fit.
    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    /// Number of leaves over all trees.
    pub fn n_leaves(&self) -> usize {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| n.left as usize == *i)
            .count()
    }

    /// Depth of the deepest tree.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The prediction before any tree (the mean of the training targets).
    pub fn base_score(&self) -> f64 {
        self.base_score
    }

    /// Walks the tree rooted at `root` for `steps` steps and returns the leaf's value.
    #[inline]
    fn tree_value(&self, root: u32, steps: usize, row: &[f64]) -> f64 {
        let mut i = root as usize;
        for _ in 0..steps {
            let n = self.nodes[i];
            i = n.left as usize + usize::from(row[n.feature as usize] >= n.threshold);
        }
        self.values[i]
    }

    /// Makes `node` a leaf for gradient sum `g` and hessian sum `h`.
    fn make_leaf(&mut self, node: usize, g: f64, h: f64) {
        self.nodes[node] = Node {
            threshold: f64::NAN,
            feature: 0,
            left: node as u32,
        };
        self.values[node] =
            self.params.learning_rate * leaf_weight(g, h, self.params.lambda, self.params.alpha);
    }

    fn push_placeholder(&mut self) -> usize {
        let i = self.nodes.len();
        self.nodes.push(Node {
            threshold: f64::NAN,
            feature: 0,
            left: i as u32,
        });
        self.values.push(0.0);
        i
    }

    fn fit_impl(&mut self, x: &Matrix, y: &[f64]) -> Result<(), String> {
        validate(x, y)?;
        self.params.validate()?;
        let (n, d) = (x.rows(), x.cols());
        if n >= NONE as usize || d >= u32::MAX as usize {
            return Err("training set too large".to_string());
        }
        let p = self.params.clone();
        self.fitted = false;
        self.nodes.clear();
        self.values.clear();
        self.roots.clear();
        self.depth = 0;
        self.n_features = d;
        self.base_score = y.iter().sum::<f64>() / n as f64;

        // Pre-sorted feature orders (stable, so ties keep the row order) and sorted values.
        let mut order = vec![0u32; n * d];
        let mut sorted = vec![0.0f64; n * d];
        let mut idx: Vec<u32> = Vec::with_capacity(n);
        for j in 0..d {
            idx.clear();
            idx.extend(0..n as u32);
            idx.sort_by(|&a, &b| x.get(a as usize, j).total_cmp(&x.get(b as usize, j)));
            for (k, &r) in idx.iter().enumerate() {
                order[j * n + k] = r;
                sorted[j * n + k] = x.get(r as usize, j);
            }
        }

        let mut pred = vec![self.base_score; n];
        let mut grad = vec![0.0; n];
        let hess = vec![1.0; n];
        let mut node_of = vec![NONE; n];
        let mut rng = rng_from_seed(p.seed);
        let mut active: Vec<Growing> = Vec::new();
        let mut next: Vec<Growing> = Vec::new();
        let mut best: Vec<Option<Split>> = Vec::new();
        let mut child: Vec<Option<(u32, Split)>> = Vec::new();
        let mut scan: Vec<ScanState> = Vec::new();
        let mut parent_score: Vec<f64> = Vec::new();

        for _ in 0..p.n_rounds {
            for i in 0..n {
                grad[i] = pred[i] - y[i];
            }
            // Rows of this round's tree.
            let root = self.push_placeholder();
            let (mut g0, mut h0) = (0.0, 0.0);
            let mut any = false;
            for i in 0..n {
                let take = p.subsample >= 1.0 || rng.random::<f64>() < p.subsample;
                node_of[i] = if take { 0 } else { NONE };
                if take {
                    any = true;
                    g0 += grad[i];
                    h0 += hess[i];
                }
            }
            if !any {
                let i = rng.random_range(0..n);
                node_of[i] = 0;
                g0 = grad[i];
                h0 = hess[i];
            }
            active.clear();
            active.push(Growing {
                node: root,
                g: g0,
                h: h0,
            });

            let mut tree_depth = 0;
            for level in 0..=p.max_depth {
                if active.is_empty() {
                    break;
                }
                let m = active.len();
                best.clear();
                best.resize(m, None);
                if level < p.max_depth {
                    parent_score.clear();
                    parent_score.extend(active.iter().map(|a| score(a.g, a.h, p.lambda, p.alpha)));
                    for j in 0..d {
                        scan.clear();
                        scan.resize(m, ScanState::default());
                        let ord = &order[j * n..(j + 1) * n];
                        let val = &sorted[j * n..(j + 1) * n];
                        for (&r, &v) in ord.iter().zip(val) {
                            let a = node_of[r as usize];
                            if a == NONE {
                                continue;
                            }
                            let a = a as usize;
                            let st = &mut scan[a];
                            if st.seen && v > st.last {
                                let node = active[a];
                                let hr = node.h - st.h;
                                if st.h >= p.min_child_weight && hr >= p.min_child_weight {
                                    let gain = 0.5
                                        * (score(st.g, st.h, p.lambda, p.alpha)
                                            + score(node.g - st.g, hr, p.lambda, p.alpha)
                                            - parent_score[a])
                                        - p.gamma;
                                    if gain > best[a].map_or(0.0, |s| s.gain) {
                                        best[a] = Some(Split {
                                            gain,
                                            feature: j as u32,
                                            threshold: midpoint(st.last, v),
                                        });
                                    }
                                }
                            }
                            st.g += grad[r as usize];
                            st.h += hess[r as usize];
                            st.last = v;
                            st.seen = true;
                        }
                    }
                }
                // Split the nodes that gained, make the others leaves.
                next.clear();
                child.clear();
                for (a, s) in active.iter().zip(&best) {
                    match s {
                        Some(s) => {
                            let left = self.push_placeholder();
                            self.push_placeholder();
                            self.nodes[a.node] = Node {
                                threshold: s.threshold,
                                feature: s.feature,
                                left: left as u32,
                            };
                            child.push(Some((next.len() as u32, *s)));
                            next.push(Growing {
                                node: left,
                                g: 0.0,
                                h: 0.0,
                            });
                            next.push(Growing {
                                node: left + 1,
                                g: 0.0,
                                h: 0.0,
                            });
                            tree_depth = tree_depth.max(level + 1);
                        }
                        None => {
                            self.make_leaf(a.node, a.g, a.h);
                            child.push(None);
                        }
                    }
                }
                for i in 0..n {
                    let a = node_of[i];
                    if a == NONE {
                        continue;
                    }
                    let Some((c, s)) = child[a as usize] else {
                        node_of[i] = NONE;
                        continue;
                    };
                    let c = c + u32::from(x.get(i, s.feature as usize) >= s.threshold);
                    node_of[i] = c;
                    next[c as usize].g += grad[i];
                    next[c as usize].h += hess[i];
                }
                std::mem::swap(&mut active, &mut next);
            }
            for a in &active {
                // Only reached if the loop ran out of levels with nodes left (it cannot), but
                // a node must never stay a placeholder.
                self.make_leaf(a.node, a.g, a.h);
            }
            self.roots.push(root as u32);
            self.depth = self.depth.max(tree_depth);
            for (i, pi) in pred.iter_mut().enumerate() {
                *pi += self.tree_value(root as u32, tree_depth, x.row(i));
            }
        }
        self.fitted = true;
        Ok(())
    }

    fn predict_row(&self, row: &[f64]) -> f64 {
        if !self.fitted {
            return 0.0;
        }
        if row.len() != self.n_features {
            return f64::NAN;
        }
        let steps = self.depth;
        // Four trees at a time: their walks are independent, so they overlap in the pipeline.
        let mut acc = [0.0f64; 4];
        let mut chunks = self.roots.chunks_exact(4);
        for c in &mut chunks {
            let mut i = [c[0] as usize, c[1] as usize, c[2] as usize, c[3] as usize];
            for _ in 0..steps {
                for t in &mut i {
                    let n = self.nodes[*t];
                    *t = n.left as usize + usize::from(row[n.feature as usize] >= n.threshold);
                }
            }
            for (a, t) in acc.iter_mut().zip(i) {
                *a += self.values[t];
            }
        }
        let mut sum = self.base_score + (acc[0] + acc[1]) + (acc[2] + acc[3]);
        for &root in chunks.remainder() {
            sum += self.tree_value(root, steps, row);
        }
        sum
    }
}

/// The L1 soft threshold `sign(g)·max(|g| − α, 0)`.
fn soft_threshold(g: f64, alpha: f64) -> f64 {
    if g > alpha {
        g - alpha
    } else if g < -alpha {
        g + alpha
    } else {
        0.0
    }
}

/// The structure score `T(G)²/(H+λ)` of a node.
fn score(g: f64, h: f64, lambda: f64, alpha: f64) -> f64 {
    let den = h + lambda;
    if den > 0.0 {
        let t = soft_threshold(g, alpha);
        t * t / den
    } else {
        0.0
    }
}

/// The optimal leaf weight `−T(G)/(H+λ)`.
fn leaf_weight(g: f64, h: f64, lambda: f64, alpha: f64) -> f64 {
    let den = h + lambda;
    if den > 0.0 {
        -soft_threshold(g, alpha) / den
    } else {
        0.0
    }
}

/// A threshold between two distinct values `lo < hi` that sends `lo` left (`lo < t`) and `hi`
/// right (`hi >= t`), halfway between them when representable.
fn midpoint(lo: f64, hi: f64) -> f64 {
    let t = lo + (hi - lo) * 0.5;
    if t > lo && t <= hi { t } else { hi }
}

impl Surrogate for Gbdt {
    /// Fits `n_rounds` trees. Errors on empty or mismatched data, non-finite values and
    /// out-of-range hyperparameters.
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
    use modnas_core::seed::Rng;

    fn uniform(rng: &mut Rng, n: usize, d: usize) -> Matrix {
        Matrix::new(n, d, (0..n * d).map(|_| rng.random::<f64>()).collect())
    }

    fn mse_ratio(model: &dyn Surrogate, x: &Matrix, y: &[f64]) -> f64 {
        let p = model.predict_many(x);
        let mean = y.iter().sum::<f64>() / y.len() as f64;
        let var = y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / y.len() as f64;
        let mse = p.iter().zip(y).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / y.len() as f64;
        mse / var
    }

    fn target(r: &[f64]) -> f64 {
        (6.0 * r[0]).sin() * r[1] + 0.5 * r[2] * r[2]
    }

    #[test]
    fn fits_a_nonlinear_function() {
        let mut rng = rng_from_seed(1);
        let xtr = uniform(&mut rng, 500, 5);
        let ytr: Vec<f64> = (0..500).map(|i| target(xtr.row(i))).collect();
        let xte = uniform(&mut rng, 1000, 5);
        let yte: Vec<f64> = (0..1000).map(|i| target(xte.row(i))).collect();
        let mut m = Gbdt::default();
        m.fit(&xtr, &ytr).expect("fit");
        let r = mse_ratio(&m, &xte, &yte);
        println!("GBDT nonlinear: test MSE / variance = {r}");
        assert!(r < 0.1, "test MSE / variance = {r}");
        assert!(mse_ratio(&m, &xtr, &ytr) < 0.01);
        assert_eq!(m.n_trees(), 400);
        assert!(m.depth() <= 3);
    }

    #[test]
    fn fits_one_hot_categoricals_with_an_interaction() {
        // Three categorical parameters (4, 3 and 5 choices), one-hot encoded, plus one
        // numeric noise column; the target has main effects and an a×b interaction.
        let mut rng = rng_from_seed(2);
        let encode = |a: usize, b: usize, c: usize, z: f64| {
            let mut r = vec![0.0; 13];
            r[a] = 1.0;
            r[4 + b] = 1.0;
            r[7 + c] = 1.0;
            r[12] = z;
            r
        };
        let f = |a: usize, b: usize, c: usize| {
            let main = [0.0, 1.0, -0.5, 2.0][a] + [0.3, -1.0, 0.0][b] + 0.2 * c as f64;
            main + if a == 2 && b == 1 { 3.0 } else { 0.0 }
        };
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for _ in 0..200 {
            let (a, b, c) = (
                rng.random_range(0..4),
                rng.random_range(0..3),
                rng.random_range(0..5),
            );
            rows.push(encode(a, b, c, rng.random::<f64>()));
            y.push(f(a, b, c));
        }
        let mut m = Gbdt::default();
        m.fit(&Matrix::from_rows(&rows), &y).expect("fit");
        let mut all = Vec::new();
        let mut ya = Vec::new();
        for a in 0..4 {
            for b in 0..3 {
                for c in 0..5 {
                    all.push(encode(a, b, c, 0.5));
                    ya.push(f(a, b, c));
                }
            }
        }
        let r = mse_ratio(&m, &Matrix::from_rows(&all), &ya);
        println!("GBDT one-hot: MSE / variance = {r}");
        assert!(r < 0.02, "MSE / variance over every combination = {r}");
        // The interaction cell is the best one and is recognised as such.
        let p = m.predict(&encode(2, 1, 4, 0.5));
        assert!(
            (p - f(2, 1, 4)).abs() < 0.3,
            "interaction cell predicted {p}, true {}",
            f(2, 1, 4)
        );
    }

    #[test]
    fn deterministic_for_a_seed() {
        let mut rng = rng_from_seed(3);
        let x = uniform(&mut rng, 200, 4);
        let y: Vec<f64> = (0..200).map(|i| target(x.row(i))).collect();
        let xt = uniform(&mut rng, 50, 4);
        let params = GbdtParams {
            subsample: 0.7,
            n_rounds: 50,
            seed: 9,
            ..GbdtParams::default()
        };
        let mut a = Gbdt::new(params.clone());
        let mut b = Gbdt::new(params.clone());
        a.fit(&x, &y).expect("fit");
        b.fit(&x, &y).expect("fit");
        assert_eq!(a.predict_many(&xt), b.predict_many(&xt));
        // Refitting the same model gives the same predictions too.
        let first = a.predict_many(&xt);
        a.fit(&x, &y).expect("refit");
        assert_eq!(first, a.predict_many(&xt));
        // Another seed subsamples other rows.
        let mut c = Gbdt::new(GbdtParams { seed: 10, ..params });
        c.fit(&x, &y).expect("fit");
        assert_ne!(a.predict_many(&xt), c.predict_many(&xt));
    }

    #[test]
    fn degenerate_data_does_not_panic() {
        let mut m = Gbdt::default();
        m.fit(&Matrix::from_rows(&[vec![0.3, 0.7]]), &[2.5])
            .expect("single row");
        let p = m.predict(&[0.1, 0.2]);
        assert!((p - 2.5).abs() < 1e-12, "{p}");
        assert_eq!(m.n_leaves(), m.n_trees());

        let mut rng = rng_from_seed(4);
        let x = uniform(&mut rng, 30, 3);
        m.fit(&x, &[1.0; 30]).expect("constant target");
        for i in 0..30 {
            let p = m.predict(x.row(i));
            assert!((p - 1.0).abs() < 1e-12, "{p}");
        }
        assert_eq!(m.n_leaves(), m.n_trees());

        // Constant and tied features.
        let x = Matrix::from_rows(&[
            vec![1.0, 0.0],
            vec![1.0, 0.0],
            vec![1.0, 1.0],
            vec![1.0, 1.0],
        ]);
        m.fit(&x, &[0.0, 0.0, 4.0, 4.0]).expect("ties");
        assert!(m.predict(&[1.0, 0.0]) < 0.5 && m.predict(&[1.0, 1.0]) > 3.5);
        assert!(m.predict(&[1.0, 0.5]).is_finite());
        assert!(m.predict(&[1.0]).is_nan());

        assert!(m.fit(&Matrix::new(0, 2, vec![]), &[]).is_err());
        assert!(m.fit(&x, &[0.0, 1.0]).is_err());
        assert!(m.fit(&x, &[0.0, 1.0, f64::NAN, 2.0]).is_err());
        let bad = Matrix::from_rows(&[vec![1.0, f64::INFINITY]]);
        assert!(m.fit(&bad, &[0.0]).is_err());
        let mut bad_params = Gbdt::new(GbdtParams {
            subsample: 0.0,
            ..GbdtParams::default()
        });
        assert!(bad_params.fit(&x, &[0.0; 4]).is_err());
    }

    #[test]
    fn regularisation_prevents_splits() {
        let mut rng = rng_from_seed(5);
        let x = uniform(&mut rng, 40, 2);
        let y: Vec<f64> = (0..40)
            .map(|i| if x.get(i, 0) > 0.5 { 1.0 } else { 0.0 })
            .collect();
        let mean = y.iter().sum::<f64>() / 40.0;

        // A split into 20 + 20 rows yields gain ½·(10²/21 + 10²/21 − 0) ≈ 4.76 at the first round
        // (gradients are ±½), so γ = 5 forbids every split; and γ = 4 allows it.
        let y2: Vec<f64> = (0..40).map(|i| if i < 20 { 0.0 } else { 1.0 }).collect();
        let x2 = Matrix::new(40, 1, (0..40).map(|i| i as f64).collect());
        let mut m = Gbdt::new(GbdtParams {
            gamma: 5.0,
            ..GbdtParams::default()
        });
        m.fit(&x2, &y2).expect("fit");
        assert_eq!(m.n_leaves(), m.n_trees());
        assert!((m.predict(&[0.0]) - 0.5).abs() < 1e-12);
        let mut m = Gbdt::new(GbdtParams {
            gamma: 4.0,
            n_rounds: 1,
            ..GbdtParams::default()
        });
        m.fit(&x2, &y2).expect("fit");
        assert_eq!(m.n_leaves(), 2);

        // min_child_weight above half the rows: no split can leave both children heavy enough.
        let mut m = Gbdt::new(GbdtParams {
            min_child_weight: 21.0,
            ..GbdtParams::default()
        });
        m.fit(&x, &y).expect("fit");
        assert_eq!(m.n_leaves(), m.n_trees());
        assert!((m.predict(x.row(0)) - mean).abs() < 1e-12);

        // Every child must hold at least 15 rows: depth-1 trees only, with children ≥ 15.
        let mut m = Gbdt::new(GbdtParams {
            min_child_weight: 15.0,
            n_rounds: 5,
            ..GbdtParams::default()
        });
        m.fit(&x, &y).expect("fit");
        assert!(m.depth() <= 1);
        assert!(m.n_leaves() > m.n_trees());

        // max_depth 0: one leaf per tree.
        let mut m = Gbdt::new(GbdtParams {
            max_depth: 0,
            ..GbdtParams::default()
        });
        m.fit(&x, &y).expect("fit");
        assert_eq!(m.depth(), 0);
        assert!((m.predict(x.row(3)) - mean).abs() < 1e-9);
    }

    #[test]
    fn thresholds_fall_between_values() {
        assert_eq!(midpoint(1.0, 3.0), 2.0);
        let a = 1.0f64;
        let b = f64::from_bits(a.to_bits() + 1);
        let t = midpoint(a, b);
        assert!(a < t && b >= t);
    }

    #[test]
    #[ignore = "timing print, run with --release --ignored --nocapture"]
    fn timing() {
        let (n, d) = (500, 30);
        let mut rng = rng_from_seed(6);
        // One-hot-like binary features plus a few numeric ones.
        let x = Matrix::new(
            n,
            d,
            (0..n * d)
                .map(|k| {
                    if k % d < 25 {
                        f64::from(rng.random_bool(0.3))
                    } else {
                        rng.random::<f64>()
                    }
                })
                .collect(),
        );
        let y: Vec<f64> = (0..n)
            .map(|i| {
                x.row(i)
                    .iter()
                    .enumerate()
                    .map(|(j, v)| v * ((j * 7 % 5) as f64 - 2.0))
                    .sum::<f64>()
                    + (3.0 * x.get(i, 27)).sin()
            })
            .collect();
        let mut m = Gbdt::default();
        let t = std::time::Instant::now();
        m.fit(&x, &y).expect("fit");
        let fit = t.elapsed();
        let q = uniform(&mut rng, 50_000, d);
        let t = std::time::Instant::now();
        let p = m.predict_many(&q);
        let pred = t.elapsed();
        let s: f64 = p.iter().sum();
        println!(
            "GBDT n={n} d={d} rounds=400: fit {:.1} ms, predict {:.3} µs/row over 50000 rows ({} leaves, checksum {s:.3})",
            fit.as_secs_f64() * 1e3,
            pred.as_secs_f64() * 1e6 / 50_000.0,
            m.n_leaves()
        );
    }
}
