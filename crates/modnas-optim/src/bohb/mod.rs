//! BOHB: Bayesian optimisation and Hyperband (Falkner et al. 2018).
//!
//! Budgets come from Hyperband: the rungs `min_resource·ηᵏ` below `max_resource`, and
//! `max_resource` itself. The optimizer brings its own [`Hyperband`] pruner (used when the
//! configuration has no `prune:`), so trials are stopped at those rungs; their learning curves
//! ([`Observation::steps`]) say how each trial did at each budget (see [`budgets`]).
//!
//! Each proposal is random with probability `random_fraction`; otherwise the model is fitted to
//! the observations of the **largest budget that holds at least `n_min + 2` of them**
//! (`n_min`: `min_points_in_model`, by default the number of parameters plus one). Those `N`
//! observations are ranked; the best `max(n_min, ⌊q·N⌋)` (`q = top_n_percent / 100`) make the
//! good group, the worst `max(n_min, N − that)` the bad one; a multivariate KDE (module `kde`)
//! is fitted to each, `l` and `g`. `num_samples` points are drawn from `l` with its bandwidths
//! widened by `bandwidth_factor` (and never narrower than `min_bandwidth`), and the one of
//! largest `l(x) / g(x)` is proposed. Until some budget holds enough observations, proposals
//! are random. Failed trials count as the worst results at the budgets they reached.
//!
//! Hyperband here is the asynchronous kind of this crate's pruner: trials are assigned to
//! brackets by their number, and a bracket stops them at its rungs as in ASHA, rather than
//! waiting for a whole synchronous successive-halving round.

pub mod budgets;
mod kde;

use crate::support::{
    Visited, from_state, mutate_one, sample_unvisited, space_exhausted, to_state,
};
use crate::tpe::parzen::Axis;
use budgets::{Told, budget_levels, model_budget, per_budget};
use kde::{Dim, Kde};
use modnas_core::optimizer::{History, OptimContext, OptimError, OptimRegistry, Optimizer};
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::prune::{Hyperband, HyperbandArgs, Pruner};
use modnas_core::registry::{Args, RegistryError};
use modnas_core::seed::{Rng, rng_from_seed};
use modnas_core::trial::Observation;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Arguments of [`Bohb`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BohbArgs {
    /// Hyperband's reduction factor η.
    pub eta: f64,
    /// The smallest budget (step) a trial gets.
    pub min_resource: u64,
    /// The full budget (required): the number of steps of a trial that is not stopped.
    pub max_resource: Option<u64>,
    /// Observations a KDE is fitted to at least (`null`: the number of parameters plus one);
    /// a budget is modelled once it holds two more than this.
    pub min_points_in_model: Option<usize>,
    /// Percentage of a budget's observations in the good group.
    pub top_n_percent: f64,
    /// Share of proposals drawn at random.
    pub random_fraction: f64,
    /// Factor the good KDE's bandwidths are widened by when drawing candidates.
    pub bandwidth_factor: f64,
    /// Smallest bandwidth (in units of a parameter's range; λ for categoricals).
    pub min_bandwidth: f64,
    /// Candidates drawn per proposal.
    pub num_samples: usize,
    /// Never propose an assignment twice (finite spaces end when all points were proposed).
    pub avoid_duplicates: bool,
}

impl Default for BohbArgs {
    fn default() -> Self {
        BohbArgs {
            eta: 3.0,
            min_resource: 1,
            max_resource: None,
            min_points_in_model: None,
            top_n_percent: 15.0,
            random_fraction: 1.0 / 3.0,
            bandwidth_factor: 3.0,
            min_bandwidth: 1e-3,
            num_samples: 64,
            avoid_duplicates: true,
        }
    }
}

impl BohbArgs {
    fn hyperband(&self) -> HyperbandArgs {
        HyperbandArgs {
            eta: self.eta,
            min_resource: self.min_resource,
            max_resource: self.max_resource,
            multi_objective: false,
        }
    }
}

impl Args for BohbArgs {
    fn check(&self) -> Result<(), (String, String)> {
        self.hyperband().check()?;
        modnas_core::registry::at_most("num_samples", self.num_samples, 1_000_000)?;
        if self.num_samples == 0 {
            return Err((
                "num_samples".into(),
                "`num_samples` must be at least 1".into(),
            ));
        }
        if self.min_points_in_model == Some(0) {
            return Err((
                "min_points_in_model".into(),
                "`min_points_in_model` must be at least 1".into(),
            ));
        }
        if !(self.top_n_percent > 0.0 && self.top_n_percent < 100.0) {
            return Err((
                "top_n_percent".into(),
                format!(
                    "`top_n_percent` must be in (0, 100), got {}",
                    self.top_n_percent
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.random_fraction) {
            return Err((
                "random_fraction".into(),
                format!(
                    "`random_fraction` must be in [0, 1], got {}",
                    self.random_fraction
                ),
            ));
        }
        if !(self.bandwidth_factor.is_finite() && self.bandwidth_factor > 0.0) {
            return Err((
                "bandwidth_factor".into(),
                format!(
                    "`bandwidth_factor` must be a finite number above 0, got {}",
                    self.bandwidth_factor
                ),
            ));
        }
        if !(self.min_bandwidth.is_finite() && self.min_bandwidth > 0.0 && self.min_bandwidth < 1.0)
        {
            return Err((
                "min_bandwidth".into(),
                format!(
                    "`min_bandwidth` must be in (0, 1), got {}",
                    self.min_bandwidth
                ),
            ));
        }
        Ok(())
    }

    fn help() -> &'static [(&'static str, &'static str)] {
        &[
            ("eta", "Hyperband's reduction factor"),
            ("min_resource", "smallest budget (step) a trial gets"),
            (
                "max_resource",
                "the full budget: steps of a trial that is not stopped (required)",
            ),
            (
                "min_points_in_model",
                "observations per KDE at least (null: parameters + 1)",
            ),
            (
                "top_n_percent",
                "percentage of observations in the good group",
            ),
            ("random_fraction", "share of proposals drawn at random"),
            (
                "bandwidth_factor",
                "widening of the good KDE's bandwidths for drawing candidates",
            ),
            ("min_bandwidth", "smallest bandwidth"),
            ("num_samples", "candidates drawn per proposal"),
            ("avoid_duplicates", "never propose an assignment twice"),
        ]
    }
}

/// The BOHB optimizer.
pub struct Bohb {
    space: Arc<ParamSpace>,
    args: BohbArgs,
    dims: Vec<Dim>,
    levels: Vec<u64>,
    n_min: usize,
    rng: Rng,
    visited: Visited,
    told: Vec<Told>,
}

#[derive(Serialize, Deserialize)]
struct State {
    rng: Rng,
}

impl Bohb {
    /// A new search (`args` checked).
    pub fn new(space: Arc<ParamSpace>, seed: u64, args: BohbArgs) -> Self {
        let dims: Vec<Dim> = space
            .params()
            .iter()
            .map(|p| Dim::of(&Axis::of(&p.domain)))
            .collect();
        let free = dims.iter().filter(|d| d.is_free()).count();
        let max = args
            .max_resource
            .unwrap_or(args.min_resource)
            .max(args.min_resource);
        Bohb {
            levels: budget_levels(args.min_resource, args.eta, max),
            n_min: args.min_points_in_model.unwrap_or(free + 1).max(1),
            space,
            args,
            dims,
            rng: rng_from_seed(seed),
            visited: Visited::default(),
            told: Vec::new(),
        }
    }

    /// The budgets (steps) the model can be fitted at, smallest first.
    pub fn budgets(&self) -> &[u64] {
        &self.levels
    }

    /// The budget the next model proposal is fitted at: the largest one with at least
    /// `min_points_in_model + 2` observations; `None` while proposals are random.
    pub fn model_budget(&self) -> Option<u64> {
        let pts = per_budget(&self.told, &self.levels);
        model_budget(&pts, self.n_min + 2).map(|k| self.levels[k])
    }

    /// The good and the bad KDE at the model budget.
    fn model(&self) -> Option<(Kde, Kde)> {
        let pts = per_budget(&self.told, &self.levels);
        let k = model_budget(&pts, self.n_min + 2)?;
        let mut obs = pts[k].clone();
        // Best first; among equals the earlier trial first.
        obs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let n = obs.len();
        let n_good = ((self.args.top_n_percent / 100.0 * n as f64).floor() as usize)
            .max(self.n_min)
            .min(n);
        let n_bad = n.saturating_sub(n_good).max(self.n_min).min(n);
        let good: Vec<&Assignment> = obs[..n_good]
            .iter()
            .map(|(i, _)| &self.told[*i].params)
            .collect();
        let bad: Vec<&Assignment> = obs[n - n_bad..]
            .iter()
            .map(|(i, _)| &self.told[*i].params)
            .collect();
        Some((
            Kde::fit(&self.dims, &good, self.args.min_bandwidth),
            Kde::fit(&self.dims, &bad, self.args.min_bandwidth),
        ))
    }

    fn random(&mut self) -> Option<Assignment> {
        if self.args.avoid_duplicates {
            sample_unvisited(&self.space, &mut self.rng, &self.visited)
        } else {
            Some(self.space.sample(&mut self.rng))
        }
    }

    /// The candidate of largest `l(x) / g(x)`; `None` when no candidate has a finite ratio.
    fn best_candidate(&mut self, l: &Kde, g: &Kde) -> Option<Assignment> {
        let mut best: Option<(f64, Assignment)> = None;
        for _ in 0..self.args.num_samples {
            let c = l.sample(
                &mut self.rng,
                self.args.bandwidth_factor,
                self.args.min_bandwidth,
            );
            let s = l.log_pdf(&c) - g.log_pdf(&c);
            if s.is_finite() && best.as_ref().is_none_or(|(b, _)| s > *b) {
                best = Some((s, c));
            }
        }
        best.map(|(_, c)| c)
    }

    fn model_proposal(&mut self, l: &Kde, g: &Kde) -> Option<Assignment> {
        let Some(mut a) = self.best_candidate(l, g) else {
            return self.random();
        };
        if !self.args.avoid_duplicates {
            return Some(a);
        }
        // Draw again a few times, then step away from the repeated point, then give up and
        // draw uniformly among the points left.
        for _ in 0..3 {
            if !self.visited.contains(&a) {
                return Some(a);
            }
            match self.best_candidate(l, g) {
                Some(c) => a = c,
                None => break,
            }
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
        Some(a)
    }
}

impl Optimizer for Bohb {
    fn next(&mut self, n: usize) -> Result<Vec<Assignment>, OptimError> {
        let mut out = Vec::with_capacity(n);
        // The model changes only when results are told: fit it once per call.
        let model = self.model();
        while out.len() < n {
            let u: f64 = self.rng.random();
            let a = match &model {
                Some((l, g)) if u >= self.args.random_fraction => self.model_proposal(l, g),
                _ => self.random(),
            };
            let Some(a) = a else { break };
            self.visited.insert(&a);
            out.push(a);
        }
        Ok(out)
    }

    fn step(&mut self, results: &[Observation]) -> Result<(), OptimError> {
        self.told.extend(results.iter().map(Told::of));
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
        self.told.clear();
        self.step(&history.observed)
    }

    fn companion_pruner(&self) -> Option<Box<dyn Pruner>> {
        Some(Box::new(Hyperband::new(&self.args.hyperband())))
    }
}

/// Registers `BOHB`.
pub fn register(reg: &mut OptimRegistry) -> Result<(), RegistryError> {
    reg.add::<BohbArgs>(
        "BOHB",
        &["Bohb", "BayesianHyperband", "BOHBSampler"],
        "BOHB (Falkner et al. 2018): Hyperband's budgets with a multivariate KDE model (good vs bad, largest ratio) fitted at the largest budget with enough observations, plus a fraction of random proposals. Brings its own Hyperband pruner when `prune:` is not set; needs max_resource (the full number of steps). For estimators that report learning curves (epochs, budget steps).",
        |a, ctx: &OptimContext| Ok(Box::new(Bohb::new(ctx.space.clone(), ctx.seed, a))),
    )
}

#[cfg(test)]
mod tests;
