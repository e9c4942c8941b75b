//! `ZeroCost`: each candidate is built, initialised with the trial's seed and scored by
//! zero-cost proxies ([`super::proxies`]) instead of being trained: a trial takes a fraction of a
//! second, so a search can screen thousands of architectures (or rank a population before
//! training the best few with `SubNet`).
//!
//! ```yaml
//! model: {type: NB201}
//! optim: RegularizedEvolution
//! estim: {type: ZeroCost, args: {proxies: [synflow]}}
//! stop: {max_trials: 500}
//! ```

use super::bench::Bench;
use super::proxies::{Proxy, gradient_scores, synflow};
use crate::metrics::count;
use modnas_core::estimator::{Estimator, EvalContext};
use modnas_core::objective::{Metrics, Objective};
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::registry::Args;
use modnas_core::seed::derive_seed;
use modnas_core::trial::{Evaluation, TrialFailure};
use serde::{Deserialize, Serialize};

/// Arguments of `ZeroCost`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZeroCostArgs {
    /// Proxies to compute (`synflow`, `grad_norm`, `snip`); the first is the default objective.
    /// `grad_norm` and `snip` read one training batch of the configured data.
    pub proxies: Vec<Proxy>,
}

impl Default for ZeroCostArgs {
    fn default() -> Self {
        ZeroCostArgs {
            proxies: vec![Proxy::Synflow],
        }
    }
}

impl Args for ZeroCostArgs {
    fn check(&self) -> Result<(), (String, String)> {
        if self.proxies.is_empty() {
            return Err((
                "proxies".into(),
                "`proxies` lists at least one of synflow, grad_norm, snip".into(),
            ));
        }
        Ok(())
    }

    fn help() -> &'static [(&'static str, &'static str)] {
        &[(
            "proxies",
            "synflow (data-free, ln of the score), grad_norm, snip (one training batch); the first is the default objective",
        )]
    }
}

/// Scores each candidate by zero-cost proxies.
pub struct ZeroCost {
    args: ZeroCostArgs,
    bench: Bench,
}

impl ZeroCost {
    /// The estimator over `bench`'s network.
    pub fn new(args: ZeroCostArgs, bench: Bench) -> ZeroCost {
        ZeroCost { args, bench }
    }
}

impl Estimator for ZeroCost {
    fn space(&self) -> Option<ParamSpace> {
        Some(self.bench.space().clone())
    }

    fn metric_names(&self) -> Option<Vec<String>> {
        let mut v: Vec<String> = self
            .args
            .proxies
            .iter()
            .map(|p| p.metric().to_string())
            .collect();
        v.extend(["params_m".to_string(), "macs_m".to_string()]);
        Some(v)
    }

    fn default_objectives(&self) -> Vec<Objective> {
        vec![Objective::maximize(self.args.proxies[0].metric())]
    }

    fn evaluate(
        &self,
        ctx: &EvalContext<'_>,
        params: &Assignment,
    ) -> Result<Evaluation, TrialFailure> {
        let desc = self.bench.arch(params).map_err(TrialFailure::new)?;
        let build = || {
            self.bench
                .standalone(desc.clone(), ctx.seed)
                .map_err(TrialFailure::new)
        };
        let model = build()?;
        let mut m = Metrics::new();
        let (c, _) = tch::no_grad(|| count(&model, self.bench.setup.backbone.input_shape()));
        m.insert("params_m".into(), c.params / 1e6);
        m.insert("macs_m".into(), c.macs / 1e6);
        let data: Vec<Proxy> = self
            .args
            .proxies
            .iter()
            .copied()
            .filter(|p| p.needs_data())
            .collect();
        if !data.is_empty() {
            tch::manual_seed(derive_seed(ctx.seed, "zero-cost", 0) as i64);
            let mut loader =
                self.bench
                    .train_loader(derive_seed(ctx.seed, "zero-cost-batch", 0))?;
            let (x, y) = loader
                .next_batch(false)
                .ok_or_else(|| TrialFailure::fatal("the training split has no batch"))?;
            for (p, v) in gradient_scores(&model, &x, &y, &data).map_err(TrialFailure::new)? {
                m.insert(p.metric().into(), v);
            }
        }
        if self.args.proxies.contains(&Proxy::Synflow) {
            // Its own copy: synflow replaces the weights by their magnitudes.
            let s = synflow(build()?).map_err(TrialFailure::new)?;
            m.insert(Proxy::Synflow.metric().into(), s);
        }
        Ok(Evaluation {
            metrics: m,
            cost: None,
            attrs: serde_json::json!({ "arch": desc }),
        })
    }

    fn describe(&self, _space: &ParamSpace, params: &Assignment) -> Option<String> {
        super::subnet::describe(&self.bench, params)
    }

    fn max_parallel(&self) -> Option<usize> {
        Some(1)
    }
}
