//! Sequential model-based optimisation (paper G.3, AutoTVM-style).
//!
//! Assignments are one-hot encoded; a surrogate model (chosen by name) is refitted on all results
//! every `n_next` proposals, an acquisition search (chosen by name) finds the `n_next` unvisited
//! assignments it predicts best, and a fraction `epsilon` of them is replaced by random unvisited
//! ones. The first `n_next` proposals are random. A visited point is never proposed again.

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
    /// Fraction of each batch replaced by random points.
    pub epsilon: f64,
}

impl Default for SmboArgs {
    fn default() -> Self {
        SmboArgs {
            surrogate: "Gbdt".into(),
            acquisition: "Annealing".into(),
            n_next: 32,
            epsilon: 0.05,
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
            ("epsilon", "fraction of random proposals per batch"),
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
    targets: Vec<f64>,
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
        if let Some(s) = o.score.filter(|s| s.is_finite()) {
            self.space.encode_into(&o.params, &mut self.features);
            self.targets.push(s);
        }
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
        let x = Matrix::new(
            self.targets.len(),
            self.space.feature_len(),
            self.features.clone(),
        );
        if let Err(e) = self.model.fit(&x, &self.targets) {
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
        let n_random = ((self.args.epsilon * k as f64).ceil() as usize).min(k);
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
        "Sequential model-based optimisation: surrogate model + acquisition search + epsilon-greedy random points.",
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
