//! `SubNet`: every candidate is built as a stand-alone network, trained from scratch and
//! validated, so its accuracy owes nothing to shared weights (the paper's Table 7, setup A).

use super::bench::{Bench, Epochs};
use crate::train::weight_optimizer;
use modnas_core::estimator::{Decision, Estimator, EvalContext};
use modnas_core::objective::Objective;
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::registry::Args;
use modnas_core::trial::{Evaluation, TrialFailure};
use serde::{Deserialize, Serialize};

/// Arguments of `SubNet`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubNetArgs {
    /// Training epochs of every candidate.
    pub epochs: usize,
    /// At most this many batches per epoch (quick runs).
    pub max_steps: Option<usize>,
}

impl Default for SubNetArgs {
    fn default() -> Self {
        SubNetArgs {
            epochs: 1,
            max_steps: None,
        }
    }
}

impl Args for SubNetArgs {
    fn check(&self) -> Result<(), (String, String)> {
        super::bench::check_epochs(self.epochs, self.max_steps)
    }
}

/// Trains each candidate from scratch (initialised and shuffled with the trial's seed).
pub struct SubNet {
    args: SubNetArgs,
    bench: Bench,
}

impl SubNet {
    /// The estimator over `bench`'s network.
    pub fn new(args: SubNetArgs, bench: Bench) -> SubNet {
        SubNet { args, bench }
    }
}

impl Estimator for SubNet {
    fn space(&self) -> Option<ParamSpace> {
        Some(self.bench.space().clone())
    }

    fn metric_names(&self) -> Option<Vec<String>> {
        Some(Bench::metric_names(true))
    }

    fn default_objectives(&self) -> Vec<Objective> {
        vec![Objective::maximize("val_acc")]
    }

    fn evaluate(
        &self,
        ctx: &EvalContext<'_>,
        params: &Assignment,
    ) -> Result<Evaluation, TrialFailure> {
        let desc = self.bench.arch(params).map_err(TrialFailure::new)?;
        let mut model = self
            .bench
            .standalone(desc.clone(), ctx.seed)
            .map_err(TrialFailure::new)?;
        let mut weights = weight_optimizer(&model, &self.bench.setup.train);
        let epochs = Epochs {
            epochs: self.args.epochs,
            max_steps: self.args.max_steps,
            seed: ctx.seed,
            cancel: ctx.cancel,
        };
        // Validated after every epoch: the learning curve for pruners (`prune:`).
        let mut last = None;
        let train = self.bench.train(
            &mut model,
            &mut weights,
            &epochs,
            0,
            &mut |m, w, x, y, _, _| Ok(self.bench.plain_step(m, w, x, y)),
            &mut |m, _, done| {
                let valid = self.bench.validate(m).map_err(|f| f.reason)?;
                let metrics = self.bench.metrics(m, None, &valid);
                let decision = ctx.reporter.report(done as u64, &metrics);
                last = Some(valid);
                Ok(decision == Decision::Prune)
            },
        )?;
        let valid = match last {
            Some(v) => v,
            None => self.bench.validate(&model)?,
        };
        Ok(Evaluation {
            metrics: self.bench.metrics(&model, Some(&train), &valid),
            cost: None,
            attrs: serde_json::json!({ "arch": desc }),
        })
    }

    fn describe(&self, _space: &ParamSpace, params: &Assignment) -> Option<String> {
        describe(&self.bench, params)
    }

    fn max_parallel(&self) -> Option<usize> {
        // libtorch already uses every core for one network.
        Some(1)
    }
}

/// `slot=OP slot=OP …` of an assignment.
pub(super) fn describe(bench: &Bench, params: &Assignment) -> Option<String> {
    let desc = bench.arch(params).ok()?;
    Some(
        desc.iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_string)
                )
            })
            .collect::<Vec<_>>()
            .join(" "),
    )
}
