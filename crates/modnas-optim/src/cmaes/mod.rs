//! CMA-ES (Hansen's (μ/μ_w, λ) evolution strategy with cumulative step-size adaptation, rank-one
//! and rank-μ covariance updates) for numeric spaces.
//!
//! The search runs in the unit-scaled domain of every numeric parameter
//! ([`Domain::to_unit`](modnas_core::param::Domain::to_unit)): log-scale parameters are searched
//! on the log scale, integers are rounded when a point becomes an assignment (the strategy keeps
//! the unrounded point), and a coordinate outside `[0, 1]` is mirrored back in. A generation of
//! λ proposals is updated once all of its results are told; until then the optimizer waits.
//! Failed trials rank last.
//!
//! **Categorical parameters** are not part of the Gaussian: each is sampled independently from
//! per-choice probabilities, uniform in the first generation and afterwards the add-one
//! smoothed choice frequencies among the better half of the previous generation. A space with
//! only categorical parameters is therefore searched by this frequency model alone; prefer
//! evolution or SMBO there.
//!
//! The saved state holds the whole strategy (mean, step size, covariance, paths, the current
//! generation's points and results), so a resumed search continues exactly.

pub mod eigen;

use crate::support::{Visited, from_state, gaussian, sample_unvisited, space_exhausted, to_state};
use modnas_core::optimizer::{History, OptimContext, OptimError, OptimRegistry, Optimizer};
use modnas_core::param::{Assignment, ParamSpace, ParamValue};
use modnas_core::registry::{Args, RegistryError};
use modnas_core::seed::{Rng, rng_from_seed};
use modnas_core::trial::Observation;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Arguments of [`CmaEs`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CmaEsArgs {
    /// Proposals per generation λ; default 4 + ⌊3 ln n⌋ (n: number of parameters).
    pub popsize: Option<usize>,
    /// Initial step size in the unit-scaled domain.
    pub sigma0: f64,
    /// Resample (up to 100 times) a point that was already proposed.
    pub avoid_duplicates: bool,
}

impl Default for CmaEsArgs {
    fn default() -> Self {
        CmaEsArgs {
            popsize: None,
            sigma0: 0.2,
            avoid_duplicates: true,
        }
    }
}

impl Args for CmaEsArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if let Some(l) = self.popsize {
            modnas_core::registry::at_most("popsize", l, 100_000)?;
            if l < 2 {
                return Err(("popsize".into(), "`popsize` must be at least 2".into()));
            }
        }
        if !(self.sigma0 > 0.0 && self.sigma0 <= 1.0) {
            return Err((
                "sigma0".into(),
                format!(
                    "`sigma0` must be in (0, 1] (unit-scaled domain), got {}",
                    self.sigma0
                ),
            ));
        }
        Ok(())
    }

    fn help() -> &'static [(&'static str, &'static str)] {
        &[
            ("popsize", "proposals per generation (default 4 + 3 ln n)"),
            ("sigma0", "initial step size, unit-scaled domain"),
            ("avoid_duplicates", "resample points already proposed"),
        ]
    }
}

/// Constants of the strategy, fixed by n and λ.
struct Consts {
    mu: usize,
    weights: Vec<f64>,
    mu_eff: f64,
    cs: f64,
    ds: f64,
    cc: f64,
    c1: f64,
    cmu: f64,
    chi_n: f64,
}

impl Consts {
    fn new(n: usize, lambda: usize) -> Self {
        let nf = n.max(1) as f64;
        let mu = (lambda / 2).max(1);
        let raw: Vec<f64> = (0..mu)
            .map(|i| ((mu as f64) + 0.5).ln() - ((i + 1) as f64).ln())
            .collect();
        let total: f64 = raw.iter().sum();
        let weights: Vec<f64> = raw.iter().map(|w| w / total).collect();
        let mu_eff = 1.0 / weights.iter().map(|w| w * w).sum::<f64>();
        let cs = (mu_eff + 2.0) / (nf + mu_eff + 5.0);
        let ds = 1.0 + 2.0 * (((mu_eff - 1.0) / (nf + 1.0)).sqrt() - 1.0).max(0.0) + cs;
        let cc = (4.0 + mu_eff / nf) / (nf + 4.0 + 2.0 * mu_eff / nf);
        let c1 = 2.0 / ((nf + 1.3).powi(2) + mu_eff);
        let cmu =
            (1.0 - c1).min(2.0 * (mu_eff - 2.0 + 1.0 / mu_eff) / ((nf + 2.0).powi(2) + mu_eff));
        let chi_n = nf.sqrt() * (1.0 - 1.0 / (4.0 * nf) + 1.0 / (21.0 * nf * nf));
        Consts {
            mu,
            weights,
            mu_eff,
            cs,
            ds,
            cc,
            c1,
            cmu,
            chi_n,
        }
    }
}

/// The saved state.
#[derive(Clone, Serialize, Deserialize)]
struct State {
    rng: Rng,
    generation: u64,
    mean: Vec<f64>,
    sigma: f64,
    cov: Vec<Vec<f64>>,
    ps: Vec<f64>,
    pc: Vec<f64>,
    /// Choice probabilities of each categorical parameter.
    probs: Vec<Vec<f64>>,
    /// This generation's points (numeric coordinates, unit scale) and assignments.
    points: Vec<(Vec<f64>, Assignment)>,
    /// Whether each of `points` was told.
    told: Vec<bool>,
    /// Scores told for `points` (`None`: failed, or not yet told).
    scores: Vec<Option<f64>>,
}

/// CMA-ES over the numeric parameters, frequency sampling over the categorical ones.
pub struct CmaEs {
    space: Arc<ParamSpace>,
    /// Positions of the numeric parameters that can vary.
    numeric: Vec<usize>,
    /// Positions of the other parameters (categorical or constant).
    other: Vec<usize>,
    lambda: usize,
    consts: Consts,
    avoid_duplicates: bool,
    visited: Visited,
    st: State,
    /// Eigenvectors (columns) and square roots of the eigenvalues of `st.cov`.
    basis: Vec<Vec<f64>>,
    scale: Vec<f64>,
}

impl CmaEs {
    /// A new search.
    pub fn new(space: Arc<ParamSpace>, seed: u64, args: CmaEsArgs) -> Self {
        let (numeric, other): (Vec<usize>, Vec<usize>) = (0..space.len()).partition(|&i| {
            let d = &space.params()[i].domain;
            !d.is_categorical() && d.cardinality() != Some(1)
        });
        let n = numeric.len();
        let lambda = args
            .popsize
            .unwrap_or(4 + (3.0 * (space.len().max(1) as f64).ln()).floor() as usize);
        let probs = other
            .iter()
            .map(|&i| {
                let k = space.params()[i].domain.cardinality().unwrap_or(1).max(1) as usize;
                vec![1.0 / k as f64; k]
            })
            .collect();
        let st = State {
            rng: rng_from_seed(seed),
            generation: 0,
            mean: vec![0.5; n],
            sigma: args.sigma0,
            cov: identity(n),
            ps: vec![0.0; n],
            pc: vec![0.0; n],
            probs,
            points: Vec::new(),
            told: Vec::new(),
            scores: Vec::new(),
        };
        let mut me = CmaEs {
            consts: Consts::new(n, lambda),
            space,
            numeric,
            other,
            lambda,
            avoid_duplicates: args.avoid_duplicates,
            visited: Visited::default(),
            st,
            basis: Vec::new(),
            scale: Vec::new(),
        };
        me.decompose();
        me
    }

    /// The current mean (unit scale, numeric parameters in space order) and step size.
    pub fn distribution(&self) -> (&[f64], f64) {
        (&self.st.mean, self.st.sigma)
    }

    fn decompose(&mut self) {
        let (w, v) = eigen::symmetric_eigen(&self.st.cov);
        self.scale = w.iter().map(|&x| x.max(1e-20).sqrt()).collect();
        self.basis = v;
    }

    /// One point of the current distribution, mirrored into the unit box, and its assignment.
    fn draw(&mut self) -> (Vec<f64>, Assignment) {
        let n = self.numeric.len();
        let z: Vec<f64> = (0..n).map(|_| gaussian(&mut self.st.rng)).collect();
        let x: Vec<f64> = (0..n)
            .map(|i| {
                let step: f64 = (0..n)
                    .map(|k| self.basis[i][k] * self.scale[k] * z[k])
                    .sum();
                mirror(self.st.mean[i] + self.st.sigma * step)
            })
            .collect();
        let mut values = vec![ParamValue::Choice(0); self.space.len()];
        for (j, &i) in self.numeric.iter().enumerate() {
            values[i] = self.space.params()[i].domain.from_unit(x[j]);
        }
        for (j, &i) in self.other.iter().enumerate() {
            let d = &self.space.params()[i].domain;
            values[i] = if d.is_categorical() {
                ParamValue::Choice(pick(&mut self.st.rng, &self.st.probs[j]))
            } else {
                d.from_unit(0.5)
            };
        }
        (x, Assignment(values))
    }

    fn propose(&mut self) -> Option<(Vec<f64>, Assignment)> {
        let mut p = self.draw();
        if self.avoid_duplicates {
            let mut tries = 0;
            while self.visited.contains(&p.1) && tries < 100 {
                p = self.draw();
                tries += 1;
            }
            if self.visited.contains(&p.1) {
                let a = sample_unvisited(&self.space, &mut self.st.rng, &self.visited)?;
                let x = self
                    .numeric
                    .iter()
                    .map(|&i| self.space.params()[i].domain.to_unit(&a.0[i]))
                    .collect();
                return Some((x, a));
            }
        }
        Some(p)
    }

    fn learn(&mut self, r: &Observation) {
        let slot = (0..self.st.points.len())
            .find(|&k| !self.st.told[k] && self.st.points[k].1 == r.params);
        let Some(k) = slot else { return };
        self.st.told[k] = true;
        self.st.scores[k] = r.score.filter(|v| v.is_finite());
        if self.st.points.len() == self.lambda && self.st.told.iter().all(|&t| t) {
            self.update();
        }
    }

    /// The end of a generation: new mean, paths, covariance, step size and choice frequencies.
    #[allow(clippy::needless_range_loop)] // vector arithmetic over coordinates
    fn update(&mut self) {
        let n = self.numeric.len();
        let score = |k: usize, st: &State| st.scores[k].unwrap_or(f64::NEG_INFINITY);
        let mut order: Vec<usize> = (0..self.st.points.len()).collect();
        order.sort_by(|&a, &b| {
            score(b, &self.st)
                .total_cmp(&score(a, &self.st))
                .then(a.cmp(&b))
        });
        let c = &self.consts;
        let st = &mut self.st;
        if n > 0 {
            let old = st.mean.clone();
            let ys: Vec<Vec<f64>> = order[..c.mu]
                .iter()
                .map(|&k| {
                    (0..n)
                        .map(|i| (st.points[k].0[i] - old[i]) / st.sigma)
                        .collect()
                })
                .collect();
            let yw: Vec<f64> = (0..n)
                .map(|i| c.weights.iter().zip(&ys).map(|(w, y)| w * y[i]).sum())
                .collect();
            for i in 0..n {
                st.mean[i] = old[i] + st.sigma * yw[i];
            }
            // C^{-1/2} y_w = B D^{-1} Bᵀ y_w.
            let bt_y: Vec<f64> = (0..n)
                .map(|k| (0..n).map(|i| self.basis[i][k] * yw[i]).sum::<f64>() / self.scale[k])
                .collect();
            let inv_sqrt_y: Vec<f64> = (0..n)
                .map(|i| (0..n).map(|k| self.basis[i][k] * bt_y[k]).sum())
                .collect();
            let a = (c.cs * (2.0 - c.cs) * c.mu_eff).sqrt();
            for i in 0..n {
                st.ps[i] = (1.0 - c.cs) * st.ps[i] + a * inv_sqrt_y[i];
            }
            let ps_norm = st.ps.iter().map(|x| x * x).sum::<f64>().sqrt();
            let g = (st.generation + 1) as f64;
            let hs = ps_norm / (1.0 - (1.0 - c.cs).powf(2.0 * g)).sqrt()
                < (1.4 + 2.0 / (n as f64 + 1.0)) * c.chi_n;
            let hs = if hs { 1.0 } else { 0.0 };
            let b = (c.cc * (2.0 - c.cc) * c.mu_eff).sqrt();
            for i in 0..n {
                st.pc[i] = (1.0 - c.cc) * st.pc[i] + hs * b * yw[i];
            }
            let keep = 1.0 - c.c1 - c.cmu + (1.0 - hs) * c.c1 * c.cc * (2.0 - c.cc);
            for i in 0..n {
                for j in 0..=i {
                    let rank_mu: f64 = c
                        .weights
                        .iter()
                        .zip(&ys)
                        .map(|(w, y)| w * y[i] * y[j])
                        .sum();
                    let v = keep * st.cov[i][j] + c.c1 * st.pc[i] * st.pc[j] + c.cmu * rank_mu;
                    st.cov[i][j] = v;
                    st.cov[j][i] = v;
                }
            }
            st.sigma =
                (st.sigma * ((c.cs / c.ds) * (ps_norm / c.chi_n - 1.0)).exp()).clamp(1e-12, 1.0);
        }
        // Categorical parameters: smoothed frequencies among the better half.
        let half = order.len().div_ceil(2);
        let elite: Vec<usize> = order[..half]
            .iter()
            .copied()
            .filter(|&k| st.scores[k].is_some())
            .collect();
        for (j, &i) in self.other.iter().enumerate() {
            let p = &mut st.probs[j];
            let mut counts = vec![1.0; p.len()];
            for &k in &elite {
                if let ParamValue::Choice(ch) = st.points[k].1.0[i]
                    && ch < counts.len()
                {
                    counts[ch] += 1.0;
                }
            }
            let total: f64 = counts.iter().sum();
            for (q, cnt) in p.iter_mut().zip(counts) {
                *q = cnt / total;
            }
        }
        st.generation += 1;
        st.points.clear();
        st.told.clear();
        st.scores.clear();
        self.decompose();
    }
}

fn identity(n: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect()
}

/// `x` reflected at 0 and 1 until it lies in `[0, 1]`.
fn mirror(x: f64) -> f64 {
    if !x.is_finite() {
        return 0.5;
    }
    let m = x.rem_euclid(2.0);
    if m > 1.0 { 2.0 - m } else { m }
}

/// An index drawn with probabilities `p` (summing to 1).
fn pick(rng: &mut Rng, p: &[f64]) -> usize {
    let u: f64 = rng.random();
    let mut acc = 0.0;
    for (i, q) in p.iter().enumerate() {
        acc += q;
        if u < acc {
            return i;
        }
    }
    p.len().saturating_sub(1)
}

impl Optimizer for CmaEs {
    fn next(&mut self, n: usize) -> Result<Vec<Assignment>, OptimError> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n && self.st.points.len() < self.lambda {
            if space_exhausted(&self.space, &self.visited) {
                break;
            }
            let Some((x, a)) = self.propose() else { break };
            self.visited.insert(&a);
            self.st.points.push((x, a.clone()));
            self.st.told.push(false);
            self.st.scores.push(None);
            out.push(a);
        }
        Ok(out)
    }

    fn step(&mut self, results: &[Observation]) -> Result<(), OptimError> {
        for r in results {
            self.learn(r);
        }
        Ok(())
    }

    fn exhausted(&self) -> bool {
        space_exhausted(&self.space, &self.visited)
    }

    fn state(&self) -> String {
        to_state(&self.st)
    }

    fn restore(&mut self, state: &str, history: &History) -> Result<(), OptimError> {
        let s: State = from_state(state)?;
        let n = self.numeric.len();
        if s.mean.len() != n || s.cov.len() != n || s.probs.len() != self.other.len() {
            return Err(OptimError::State(format!(
                "the saved CMA-ES state has {} numeric and {} other parameters, the space {} and {}",
                s.mean.len(),
                s.probs.len(),
                n,
                self.other.len()
            )));
        }
        self.st = s;
        self.decompose();
        self.visited = Visited::from_history(history);
        Ok(())
    }
}

/// Registers `CmaEs`.
pub fn register(reg: &mut OptimRegistry) -> Result<(), RegistryError> {
    reg.add::<CmaEsArgs>(
        "CmaEs",
        &["CMAES", "CMA"],
        "CMA-ES (Hansen): (μ/μ_w, λ) evolution strategy with step-size and covariance adaptation in the unit-scaled domain (log scales respected, integers rounded); categorical parameters sampled from choice frequencies of the better half. Good for continuous hyperparameters with budgets of hundreds of trials.",
        |a, ctx: &OptimContext| Ok(Box::new(CmaEs::new(ctx.space.clone(), ctx.seed, a))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use modnas_core::param::Domain;

    /// Drives CMA-ES on `f` (larger is better) for `generations` full generations.
    fn drive(o: &mut CmaEs, generations: usize, f: impl Fn(&Assignment) -> f64) {
        let mut number = 0;
        for _ in 0..generations {
            let batch = o.next(o.lambda).unwrap();
            assert_eq!(batch.len(), o.lambda);
            // Told in reverse order: a generation is matched by values, not by order.
            for a in batch.iter().rev() {
                let s = f(a);
                o.step(&[Observation {
                    number,
                    params: a.clone(),
                    score: Some(s),
                    scores: vec![Some(s)],
                    metrics: Default::default(),
                    steps: Vec::new(),
                }])
                .unwrap();
                number += 1;
            }
        }
    }

    #[test]
    fn log_scale_and_integer_parameters_converge() {
        let mut s = ParamSpace::new();
        s.add(
            "lr",
            Domain::Float {
                low: 1e-6,
                high: 1.0,
                log: true,
            },
        )
        .unwrap();
        s.add(
            "width",
            Domain::Int {
                low: 1,
                high: 1000,
                log: true,
            },
        )
        .unwrap();
        let f = |a: &Assignment| match (a.0[0], a.0[1]) {
            (ParamValue::Float(lr), ParamValue::Int(w)) => {
                -(lr.log10() + 4.0).powi(2) - ((w as f64).log10() - 2.0).powi(2)
            }
            _ => f64::NEG_INFINITY,
        };
        let mut o = CmaEs::new(Arc::new(s), 3, CmaEsArgs::default());
        drive(&mut o, 60, f);
        let (mean, sigma) = o.distribution();
        // The optimum lr = 1e-4, width = 100 sits at 1/3 of both log ranges.
        assert!((mean[0] - 1.0 / 3.0).abs() < 0.02, "{mean:?}");
        assert!((mean[1] - 2.0 / 3.0).abs() < 0.03, "{mean:?}");
        assert!(sigma < 0.05, "{sigma}");
    }

    #[test]
    fn a_restored_strategy_proposes_the_same_points() {
        let mut s = ParamSpace::new();
        for i in 0..3 {
            s.add(
                &format!("x{i}"),
                Domain::Float {
                    low: -1.0,
                    high: 1.0,
                    log: false,
                },
            )
            .unwrap();
        }
        let space = Arc::new(s);
        let sphere = |a: &Assignment| {
            -a.0.iter()
                .map(|v| match v {
                    ParamValue::Float(x) => (x - 0.3) * (x - 0.3),
                    _ => 0.0,
                })
                .sum::<f64>()
        };
        let mut a = CmaEs::new(space.clone(), 9, CmaEsArgs::default());
        drive(&mut a, 5, sphere);
        // Half a generation proposed, not yet told.
        let first = a.next(3).unwrap();
        let mut b = CmaEs::new(space, 1, CmaEsArgs::default());
        b.restore(&a.state(), &History::default()).unwrap();
        assert_eq!(a.next(10).unwrap(), b.next(10).unwrap());
        assert_eq!(first.len(), 3);
        assert!(b.restore("{}", &History::default()).is_err());
    }
}
