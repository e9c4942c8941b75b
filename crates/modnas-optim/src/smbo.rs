//! Sequential model-based optimisation (paper G.3, AutoTVM-style).
//!
//! Assignments are one-hot encoded; a surrogate model (chosen by name) is refitted on all results
//! every `n_next` proposals, an acquisition search (chosen by name) finds the `n_next` unvisited
//! assignments it predicts best, and `⌊epsilon · n_next⌋` of them (as AutoTVM's `int(ε·k)`) are
//! replaced by random unvisited ones. The first `n_next` proposals are random. A visited point
//! is never proposed again.
//!
//! Failed trials stay in the training data with a low score (by default the worst score
//! observed, or `failure_score`), so the model learns to avoid configurations like them, as
//! AutoTVM scores errors as zero.

use crate::acquisition::{self, Acquisition, AcquisitionContext};
use crate::models::{self, SurrogateContext};
use crate::support::{Visited, from_state, sample_unvisited, space_exhausted, to_state};
use crate::surrogate::{Matrix, Surrogate};
use modnas_core::config::ConfigError;
use modnas_core::optimizer::{History, OptimContext, OptimError, OptimRegistry, Optimizer};
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::registry::{Args, RegistryError};
use modnas_core::seed::{Rng, derive_seed, rng_from_seed};
use modnas_core::trial::Observation;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;

/// Arguments of [`Smbo`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmboArgs {
    /// The surrogate model: `Gbdt`, `Ridge`, `Mlp`, `GaussianProcess` (a component spec).
    pub surrogate: serde_json::Value,
    /// The acquisition search: `Annealing` or `RandomSampling` (a component spec).
    pub acquisition: serde_json::Value,
    /// Proposals per refit (and size of the random first batch).
    pub n_next: usize,
    /// Fraction of each batch replaced by random points (`⌊epsilon · n_next⌋` of them).
    pub epsilon: f64,
    /// Train the model on failed trials too, with the score `failure_score`.
    pub learn_from_failures: bool,
    /// The score of a failed trial in the training data (larger is better; for a minimised
    /// objective the score is the negated value). `null`: the worst score observed so far.
    pub failure_score: Option<f64>,
}

impl Default for SmboArgs {
    fn default() -> Self {
        SmboArgs {
            surrogate: "Gbdt".into(),
            acquisition: "Annealing".into(),
            n_next: 32,
            epsilon: 0.05,
            learn_from_failures: true,
            failure_score: None,
        }
    }
}

impl Args for SmboArgs {
    fn check(&self) -> Result<(), (String, String)> {
        modnas_core::registry::at_most("n_next", self.n_next, 100_000)?;
        if self.n_next == 0 {
            return Err(("n_next".into(), "`n_next` must be at least 1".into()));
        }
        if !(0.0..=1.0).contains(&self.epsilon) {
            return Err(("epsilon".into(), "`epsilon` must be between 0 and 1".into()));
        }
        if self.failure_score.is_some_and(|v| !v.is_finite()) {
            return Err((
                "failure_score".into(),
                "`failure_score` must be a finite number (or null for the worst score observed)"
                    .into(),
            ));
        }
        Ok(())
    }

    fn help() -> &'static [(&'static str, &'static str)] {
        &[
            (
                "surrogate",
                "score model: Gbdt, Ridge, Mlp or GaussianProcess (`{type, args}` allowed)",
            ),
            (
                "acquisition",
                "Annealing or RandomSampling (`{type, args}` allowed)",
            ),
            ("n_next", "proposals between refits"),
            (
                "epsilon",
                "fraction of random proposals per batch (floor(epsilon * n_next) of them, at least one while epsilon > 0)",
            ),
            (
                "learn_from_failures",
                "train the model on failed trials too, scored by failure_score",
            ),
            (
                "failure_score",
                "score of failed trials for the model (null: the worst observed)",
            ),
        ]
    }
}

/// Model-based search.
pub struct Smbo {
    space: Arc<ParamSpace>,
    args: SmboArgs,
    model: Box<dyn Surrogate>,
    acq: Box<dyn Acquisition>,
    rng: Rng,
    visited: Visited,
    features: Vec<f64>,
    /// The score of each row of `features`; `None` for a failed trial.
    targets: Vec<Option<f64>>,
    queue: VecDeque<Assignment>,
    fits: u64,
}

#[derive(Serialize, Deserialize)]
struct State {
    rng: Rng,
    queue: VecDeque<Assignment>,
    fits: u64,
    acquisition: String,
}

impl Smbo {
    /// A new search with the given model and acquisition.
    pub fn new(
        space: Arc<ParamSpace>,
        seed: u64,
        args: SmboArgs,
        model: Box<dyn Surrogate>,
        acq: Box<dyn Acquisition>,
    ) -> Self {
        Smbo {
            space,
            args,
            model,
            acq,
            rng: rng_from_seed(seed),
            visited: Visited::default(),
            features: Vec::new(),
            targets: Vec::new(),
            queue: VecDeque::new(),
            fits: 0,
        }
    }

    fn learn(&mut self, o: &Observation) {
        let score = o.score.filter(|s| s.is_finite());
        if score.is_some() || self.args.learn_from_failures {
            self.space.encode_into(&o.params, &mut self.features);
            self.targets.push(score);
        }
    }

    /// The training targets, failed trials scored by `failure_score` (or the worst score
    /// observed); `None` when there is nothing to score failures by.
    fn training_targets(&self) -> Option<Vec<f64>> {
        let worst = self
            .targets
            .iter()
            .flatten()
            .copied()
            .fold(f64::INFINITY, f64::min);
        let fail = self.args.failure_score.unwrap_or(worst);
        if !fail.is_finite() && self.targets.iter().any(Option::is_none) {
            return None;
        }
        Some(self.targets.iter().map(|t| t.unwrap_or(fail)).collect())
    }

    fn random_batch(&mut self, k: usize, exclude: &Visited) -> Vec<Assignment> {
        let mut seen = exclude.clone();
        let mut out = Vec::with_capacity(k);
        while out.len() < k {
            match sample_unvisited(&self.space, &mut self.rng, &seen) {
                Some(a) => {
                    seen.insert(&a);
                    out.push(a);
                }
                None => break,
            }
        }
        out
    }

    fn plan(&mut self) {
        let k = self.args.n_next;
        if self.targets.len() < k {
            let batch = self.random_batch(k, &self.visited.clone());
            self.queue.extend(batch);
            return;
        }
        let Some(y) = self.training_targets() else {
            // Only failures so far, and no score given to them.
            let batch = self.random_batch(k, &self.visited.clone());
            self.queue.extend(batch);
            return;
        };
        let x = Matrix::new(y.len(), self.space.feature_len(), self.features.clone());
        if let Err(e) = self.model.fit(&x, &y) {
            tracing::warn!("surrogate fit failed ({e}); proposing random points");
            let batch = self.random_batch(k, &self.visited.clone());
            self.queue.extend(batch);
            return;
        }
        self.fits += 1;
        let mut best = self.acq.propose(
            &self.space,
            self.model.as_ref(),
            k,
            &self.visited,
            &mut self.rng,
        );
        let n_random = random_tail(self.args.epsilon, k);
        best.truncate(k - n_random);
        let mut exclude = self.visited.clone();
        for a in &best {
            exclude.insert(a);
        }
        let need = k - best.len();
        let extra = self.random_batch(need, &exclude);
        self.queue.extend(best);
        self.queue.extend(extra);
    }
}

/// How many of a batch of `k` are random: `⌊ε·k⌋`, as AutoTVM's `int(ε·k)` (with a tolerance of
/// 1e-9 so that, e.g., `0.29 · 100` gives 29).
fn random_tail(epsilon: f64, k: usize) -> usize {
    // Rounded down as AutoTVM does, but never to none while `epsilon > 0`: with a small
    // `n_next` rounding down leaves no exploration at all, and the search stalls around its
    // first model's optimum.
    let n = (epsilon * k as f64 + 1e-9).floor() as usize;
    if epsilon > 0.0 { n.max(1) } else { n }.min(k)
}

impl Optimizer for Smbo {
    fn next(&mut self, n: usize) -> Result<Vec<Assignment>, OptimError> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if self.queue.is_empty() {
                if space_exhausted(&self.space, &self.visited) {
                    break;
                }
                self.plan();
                if self.queue.is_empty() {
                    break;
                }
            }
            if let Some(a) = self.queue.pop_front()
                && self.visited.insert(&a)
            {
                out.push(a);
            }
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
        to_state(&State {
            rng: self.rng.clone(),
            queue: self.queue.clone(),
            fits: self.fits,
            acquisition: self.acq.state(),
        })
    }

    fn restore(&mut self, state: &str, history: &History) -> Result<(), OptimError> {
        let s: State = from_state(state)?;
        self.rng = s.rng;
        self.queue = s.queue;
        self.fits = s.fits;
        self.acq.restore(&s.acquisition)?;
        self.visited = Visited::from_history(history);
        self.features.clear();
        self.targets.clear();
        for o in &history.observed {
            self.learn(o);
        }
        Ok(())
    }
}

/// Registers `Smbo`.
pub fn register(reg: &mut OptimRegistry) -> Result<(), RegistryError> {
    reg.add_with_spec::<SmboArgs>(
        "Smbo",
        &["ModelBased", "ModelBasedOptim", "SMBO"],
        "Sequential model-based optimisation: surrogate model + acquisition search + epsilon-greedy random points. Good for large discrete spaces with a few hundred evaluations or more.",
        |a, spec, ctx: &OptimContext| {
            let model_spec = spec.nested("surrogate", "Gbdt")?;
            let acq_spec = spec.nested("acquisition", "Annealing")?;
            let model = models::registry().build(&model_spec, &SurrogateContext { seed: derive_seed(ctx.seed, "surrogate", 0) })?;
            let acq = acquisition::registry().build(&acq_spec, &AcquisitionContext)?;
            if ctx.space.is_empty() {
                return Err(ConfigError::new("the space has no parameters"));
            }
            Ok(Box::new(Smbo::new(ctx.space.clone(), ctx.seed, a, model, acq)))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::random_tail;

    #[test]
    fn the_random_tail_rounds_down() {
        assert_eq!(random_tail(0.05, 32), 1);
        assert_eq!(random_tail(0.05, 16), 1, "at least one while epsilon > 0");
        assert_eq!(random_tail(0.05, 20), 1);
        assert_eq!(random_tail(0.29, 100), 29);
        assert_eq!(random_tail(0.5, 7), 3);
        assert_eq!(random_tail(0.0, 8), 0);
        assert_eq!(random_tail(1.0, 8), 8);
    }
}
