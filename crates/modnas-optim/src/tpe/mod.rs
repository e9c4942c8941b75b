//! Tree-structured Parzen Estimator (Bergstra et al. 2011; the components as Watanabe 2023
//! analyses them).
//!
//! After `n_startup` random proposals, each proposal ranks the results told so far, puts the
//! best `min(⌈gamma · n⌉, max_good)` into a good group and the rest into a bad one, fits a
//! Parzen estimator `l` to the good group and `g` to the bad one (see [`parzen`]), draws
//! `n_candidates` points from `l` and proposes the one of largest `l(x) / g(x)`. Failed trials
//! count as the worst results.
//!
//! Parameters are modelled jointly (`multivariate: true`, the default, with Scott-type kernel
//! widths), independently (`multivariate: false`) or in the `groups` given. With `constant_liar` (the default), proposals without a result yet (the
//! pending trials of parallel workers and the earlier points of the same batch) join the bad
//! group as if they had failed, so a batch spreads out instead of repeating one point.

pub mod parzen;
pub mod sampler;

use crate::support::{
    Visited, from_state, mutate_one, remove_pending, sample_unvisited, space_exhausted, to_state,
};
use modnas_core::config::ConfigError;
use modnas_core::optimizer::{History, OptimContext, OptimError, OptimRegistry, Optimizer};
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::registry::{Args, RegistryError};
use modnas_core::seed::{Rng, rng_from_seed};
use modnas_core::suggest::did_you_mean;
use modnas_core::trial::Observation;
use parzen::{Axis, JointBandwidth};
use sampler::Model;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Arguments of [`Tpe`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TpeArgs {
    /// Random proposals until this many results were told.
    pub n_startup: usize,
    /// Candidates drawn from the good estimator per proposal (per block).
    pub n_candidates: usize,
    /// Share of the results in the good group.
    pub gamma: f64,
    /// Largest good group.
    pub max_good: usize,
    /// Weight of the prior component (observations weigh at most 1).
    pub prior_weight: f64,
    /// Model all parameters jointly (the default; `false`: each parameter on its own).
    pub multivariate: bool,
    /// Groups of parameter names modelled jointly (the others independently); overrides
    /// `multivariate`.
    pub groups: Vec<Vec<String>>,
    /// Count proposals without a result as the worst results.
    pub constant_liar: bool,
    /// Never propose an assignment twice (finite spaces; the search ends when all points were
    /// proposed). With `false` proposals may repeat, as in Optuna, and the optimizer is never
    /// exhausted.
    pub avoid_duplicates: bool,
    /// The latest results of full weight; older ones weigh less and less.
    pub full_weight: usize,
    /// Bandwidth rule of numeric kernels in joint blocks.
    pub bandwidth: JointBandwidth,
}

impl Default for TpeArgs {
    fn default() -> Self {
        TpeArgs {
            n_startup: 10,
            n_candidates: 24,
            gamma: 0.1,
            max_good: 25,
            prior_weight: 1.0,
            multivariate: true,
            groups: Vec::new(),
            constant_liar: true,
            avoid_duplicates: true,
            full_weight: 25,
            bandwidth: JointBandwidth::Scott,
        }
    }
}

impl Args for TpeArgs {
    fn check(&self) -> Result<(), (String, String)> {
        modnas_core::registry::at_most("n_candidates", self.n_candidates, 1_000_000)?;
        if self.n_candidates == 0 {
            return Err((
                "n_candidates".into(),
                "`n_candidates` must be at least 1".into(),
            ));
        }
        if !(self.gamma > 0.0 && self.gamma <= 1.0) {
            return Err((
                "gamma".into(),
                format!("`gamma` must be in (0, 1], got {}", self.gamma),
            ));
        }
        if self.max_good == 0 {
            return Err(("max_good".into(), "`max_good` must be at least 1".into()));
        }
        if !(self.prior_weight >= 0.0 && self.prior_weight.is_finite()) {
            return Err((
                "prior_weight".into(),
                format!(
                    "`prior_weight` must be a finite number ≥ 0, got {}",
                    self.prior_weight
                ),
            ));
        }
        Ok(())
    }

    fn help() -> &'static [(&'static str, &'static str)] {
        &[
            ("n_startup", "random proposals until this many results"),
            ("n_candidates", "candidates drawn from l(x) per proposal"),
            ("gamma", "share of the results in the good group"),
            ("max_good", "largest good group"),
            ("prior_weight", "weight of the prior component"),
            ("multivariate", "model all parameters jointly"),
            (
                "groups",
                "lists of parameter names modelled jointly (overrides multivariate)",
            ),
            (
                "constant_liar",
                "count proposals without a result as the worst",
            ),
            ("avoid_duplicates", "never propose an assignment twice"),
            (
                "full_weight",
                "latest results of full weight (older ones weigh less)",
            ),
            (
                "bandwidth",
                "kernel widths in joint blocks: neighbours or scott",
            ),
        ]
    }
}

/// The parameter blocks: one per group (names resolved), singletons for the rest.
fn blocks(space: &ParamSpace, args: &TpeArgs) -> Result<Vec<Vec<usize>>, ConfigError> {
    let n = space.len();
    if args.groups.is_empty() {
        return Ok(if args.multivariate {
            vec![(0..n).collect()]
        } else {
            (0..n).map(|d| vec![d]).collect()
        });
    }
    let names: Vec<&str> = space.params().iter().map(|p| p.name.as_str()).collect();
    let mut taken = vec![false; n];
    let mut out = Vec::new();
    for g in &args.groups {
        let mut b = Vec::new();
        for name in g {
            let d = space.position(name).ok_or_else(|| {
                let e = ConfigError::new(format!(
                    "TPE `groups`: no parameter named `{name}` in the search space"
                ));
                match did_you_mean(name, &names) {
                    Some(close) => e.with_hint(format!("did you mean `{close}`?")),
                    None => e.with_hint(format!("parameters: {}", names.join(", "))),
                }
            })?;
            if taken[d] {
                return Err(ConfigError::new(format!(
                    "TPE `groups`: parameter `{name}` is in more than one group"
                )));
            }
            taken[d] = true;
            b.push(d);
        }
        if !b.is_empty() {
            out.push(b);
        }
    }
    out.extend((0..n).filter(|&d| !taken[d]).map(|d| vec![d]));
    Ok(out)
}

/// The TPE optimizer.
pub struct Tpe {
    space: Arc<ParamSpace>,
    args: TpeArgs,
    axes: Vec<Axis>,
    blocks: Vec<Vec<usize>>,
    rng: Rng,
    visited: Visited,
    /// Results in the order they were told (`None`: failed).
    observed: Vec<(Assignment, Option<f64>)>,
    /// Proposals without a result yet, in proposal order.
    pending: Vec<Assignment>,
}

#[derive(Serialize, Deserialize)]
struct State {
    rng: Rng,
}

impl Tpe {
    /// A new search; fails when a group names an unknown parameter.
    pub fn new(space: Arc<ParamSpace>, seed: u64, args: TpeArgs) -> Result<Self, ConfigError> {
        let blocks = blocks(&space, &args)?;
        let axes = space.params().iter().map(|p| Axis::of(&p.domain)).collect();
        Ok(Tpe {
            space,
            args,
            axes,
            blocks,
            rng: rng_from_seed(seed),
            visited: Visited::default(),
            observed: Vec::new(),
            pending: Vec::new(),
        })
    }

    /// The proposals that have no result yet, in the order they were made.
    pub fn pending(&self) -> &[Assignment] {
        &self.pending
    }

    fn random(&mut self) -> Option<Assignment> {
        if self.args.avoid_duplicates {
            sample_unvisited(&self.space, &mut self.rng, &self.visited)
        } else {
            Some(self.space.sample(&mut self.rng))
        }
    }

    fn model_proposal(&mut self) -> Option<Assignment> {
        let mut points: Vec<(&Assignment, Option<f64>)> =
            self.observed.iter().map(|(a, s)| (a, *s)).collect();
        if self.args.constant_liar {
            points.extend(self.pending.iter().map(|a| (a, None)));
        }
        let model = Model {
            axes: &self.axes,
            blocks: &self.blocks,
            gamma: self.args.gamma,
            max_good: self.args.max_good,
            prior_weight: self.args.prior_weight,
            candidates: self.args.n_candidates,
            flat: self.args.full_weight,
            joint: self.args.bandwidth,
        };
        let (l, g) = model.estimators(&points);
        let mut a = model.propose(&mut self.rng, &l, &g);
        if self.args.avoid_duplicates {
            // Draw again a few times, then step away from the repeated point, then give up
            // and draw uniformly among the points left.
            for _ in 0..3 {
                if !self.visited.contains(&a) {
                    return Some(a);
                }
                a = model.propose(&mut self.rng, &l, &g);
            }
            let base = a.clone();
            for _ in 0..16 {
                if !self.visited.contains(&a) {
                    return Some(a);
                }
                a = mutate_one(&self.space, &mut self.rng, &base, 0.1);
            }
            if self.visited.contains(&a) {
                return sample_unvisited(&self.space, &mut self.rng, &self.visited);
            }
        }
        Some(a)
    }
}

impl Optimizer for Tpe {
    fn next(&mut self, n: usize) -> Result<Vec<Assignment>, OptimError> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let a = if self.observed.len() < self.args.n_startup.max(1) {
                self.random()
            } else {
                self.model_proposal()
            };
            let Some(a) = a else { break };
            self.visited.insert(&a);
            self.pending.push(a.clone());
            out.push(a);
        }
        Ok(out)
    }

    fn step(&mut self, results: &[Observation]) -> Result<(), OptimError> {
        for r in results {
            remove_pending(&mut self.pending, &r.params);
            self.observed
                .push((r.params.clone(), r.score.filter(|s| s.is_finite())));
        }
        Ok(())
    }

    fn exhausted(&self) -> bool {
        self.args.avoid_duplicates && space_exhausted(&self.space, &self.visited)
    }

    fn state(&self) -> String {
        to_state(&State {
            rng: self.rng.clone(),
        })
    }

    fn restore(&mut self, state: &str, history: &History) -> Result<(), OptimError> {
        let s: State = from_state(state)?;
        self.rng = s.rng;
        self.visited = Visited::from_history(history);
        self.observed.clear();
        self.pending = history.proposed.clone();
        self.step(&history.observed)
    }
}

/// Registers `TPE`.
pub fn register(reg: &mut OptimRegistry) -> Result<(), RegistryError> {
    reg.add::<TpeArgs>(
        "TPE",
        &["Tpe", "TreeParzen", "TPESampler", "Hyperopt"],
        "Tree-structured Parzen estimator (Bergstra et al. 2011): densities of the good and the bad results, propose where their ratio is largest; univariate, multivariate or grouped, constant liar for parallel workers. Good for mixed categorical/numeric spaces, parallel workers and budgets of tens to thousands of trials, at a few milliseconds or less per proposal.",
        |a, ctx: &OptimContext| Ok(Box::new(Tpe::new(ctx.space.clone(), ctx.seed, a)?)),
    )
}

#[cfg(test)]
mod tests;
