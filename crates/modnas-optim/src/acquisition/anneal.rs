//! Simulated annealing over the space (paper G.3: T from 1e4 to 1e-4, ×0.95, 128 chains).

use super::{Acquisition, TopK};
use crate::support::{Visited, from_state, mutate_one, to_state};
use crate::surrogate::Surrogate;
use modnas_core::optimizer::OptimError;
use modnas_core::param::{Assignment, ParamSpace};
use modnas_core::registry::Args;
use modnas_core::seed::Rng;
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// Arguments of [`Annealing`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnnealingArgs {
    /// Starting temperature.
    pub temp_init: f64,
    /// Final temperature.
    pub temp_end: f64,
    /// Cooling factor per step (exponential schedule).
    pub cool: f64,
    /// Parallel chains.
    pub chains: usize,
    /// Keep the chains' positions from one call to the next.
    pub keep_history: bool,
    /// Stop after this many rounds (one move of every chain) in which no candidate entered the
    /// best-k set (`null`: run the whole schedule).
    pub early_stop: Option<usize>,
}

impl Default for AnnealingArgs {
    fn default() -> Self {
        AnnealingArgs {
            temp_init: 1e4,
            temp_end: 1e-4,
            cool: 0.95,
            chains: 128,
            keep_history: true,
            early_stop: None,
        }
    }
}

impl Args for AnnealingArgs {
    fn check(&self) -> Result<(), (String, String)> {
        modnas_core::registry::at_most("chains", self.chains, 100_000)?;
        if !(self.temp_init > 0.0) || !(self.temp_end > 0.0) || self.temp_end >= self.temp_init {
            return Err((
                "temp_end".into(),
                "temperatures must satisfy 0 < temp_end < temp_init".into(),
            ));
        }
        if !(self.cool > 0.0 && self.cool < 1.0) {
            return Err((
                "cool".into(),
                "`cool` must be between 0 and 1 (exclusive)".into(),
            ));
        }
        if self.chains == 0 {
            return Err(("chains".into(), "`chains` must be at least 1".into()));
        }
        Ok(())
    }
}

/// Parallel simulated-annealing chains.
pub struct Annealing {
    args: AnnealingArgs,
    chains: Vec<Assignment>,
}

impl Annealing {
    /// A new search.
    pub fn new(args: AnnealingArgs) -> Self {
        Annealing {
            args,
            chains: Vec::new(),
        }
    }
}

impl Acquisition for Annealing {
    fn propose(
        &mut self,
        space: &ParamSpace,
        model: &dyn Surrogate,
        k: usize,
        visited: &Visited,
        rng: &mut Rng,
    ) -> Vec<Assignment> {
        if !self.args.keep_history || self.chains.len() != self.args.chains {
            self.chains = (0..self.args.chains).map(|_| space.sample(rng)).collect();
        }
        let mut buf = Vec::with_capacity(space.feature_len());
        let score = |a: &Assignment, buf: &mut Vec<f64>| {
            buf.clear();
            space.encode_into(a, buf);
            model.predict(buf)
        };
        let mut scores: Vec<f64> = self.chains.iter().map(|a| score(a, &mut buf)).collect();
        let mut top = TopK::new(k);
        for (a, s) in self.chains.iter().zip(&scores) {
            top.offer(*s, a, visited);
        }
        let mut temp = self.args.temp_init;
        let mut unchanged = 0usize;
        while temp > self.args.temp_end {
            // Whether any candidate entered the top-k set this round.
            let mut changed = false;
            for (chain, current) in self.chains.iter_mut().zip(scores.iter_mut()) {
                let cand = mutate_one(space, rng, chain, 0.1);
                let s = score(&cand, &mut buf);
                let accept = s >= *current || rng.random::<f64>() < ((s - *current) / temp).exp();
                changed |= top.offer(s, &cand, visited);
                if accept {
                    *chain = cand;
                    *current = s;
                }
            }
            temp *= self.args.cool;
            unchanged = if changed { 0 } else { unchanged + 1 };
            if self.args.early_stop.is_some_and(|e| unchanged >= e) {
                break;
            }
        }
        top.into_vec()
    }

    fn state(&self) -> String {
        to_state(&self.chains)
    }

    fn restore(&mut self, state: &str) -> Result<(), OptimError> {
        if !state.is_empty() {
            self.chains = from_state(state)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::surrogate::Matrix;
    use modnas_core::param::Domain;
    use modnas_core::seed::rng_from_seed;
    use std::sync::Mutex;

    /// Scores the first point it is asked about far above everything else (so the best of the
    /// top-k set is found at once and never changes), and every other point by its first
    /// feature (so the rest of the set improves as the chains climb). Records every call.
    #[derive(Default)]
    struct FirstIsBest {
        calls: Mutex<Vec<(f64, Vec<u64>)>>,
    }

    impl Surrogate for FirstIsBest {
        fn fit(&mut self, _x: &Matrix, _y: &[f64]) -> Result<(), String> {
            Ok(())
        }
        fn predict(&self, row: &[f64]) -> f64 {
            let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
            let key: Vec<u64> = row.iter().map(|v| v.to_bits()).collect();
            let s = match calls.first() {
                None => 1e6,
                Some((_, k)) if *k == key => 1e6,
                Some(_) => row[0],
            };
            calls.push((s, key));
            s
        }
    }

    #[test]
    fn early_stop_counts_rounds_without_any_change_in_the_top_k() {
        let mut space = ParamSpace::new();
        for name in ["x", "y"] {
            space
                .add(
                    name,
                    Domain::Int {
                        low: 0,
                        high: 100_000,
                        log: false,
                    },
                )
                .unwrap();
        }
        let model = FirstIsBest::default();
        let (chains, k, patience) = (8, 4, 5);
        let mut sa = Annealing::new(AnnealingArgs {
            chains,
            early_stop: Some(patience),
            // Low temperatures: the chains climb in x, so the lower ranks keep improving.
            temp_init: 1e-2,
            temp_end: 1e-8,
            cool: 0.95,
            keep_history: false,
        });
        let mut rng = rng_from_seed(3);
        let top = sa.propose(&space, &model, k, &Visited::default(), &mut rng);
        assert_eq!(top.len(), k);
        // Replay the calls through a top-k set to find the last round that changed it.
        let calls = model.calls.into_inner().unwrap_or_else(|e| e.into_inner());
        let rounds = (calls.len() - chains) / chains;
        let mut set: Vec<(f64, Vec<u64>)> = Vec::new();
        let mut last_change = None;
        for (i, (s, key)) in calls.iter().enumerate() {
            let full = set.len() == k;
            if (full && *s <= set[k - 1].0) || set.iter().any(|(_, kk)| kk == key) {
                continue;
            }
            let pos = set.partition_point(|(v, _)| *v >= *s);
            set.insert(pos, (*s, key.clone()));
            set.truncate(k);
            if i >= chains {
                last_change = Some((i - chains) / chains);
            }
        }
        let last_change = last_change.expect("the top-k set changes after the first round");
        assert!(
            last_change > 0,
            "the set must keep changing after the best is found for this test to mean anything"
        );
        let full = ((1e-8f64 / 1e-2).ln() / 0.95f64.ln()).ceil() as usize;
        assert!(last_change + 1 + patience < full);
        assert_eq!(
            rounds,
            last_change + 1 + patience,
            "annealing must stop {patience} rounds after the last change of the top-{k} set \
             (round {last_change}), not {patience} rounds after the best was found"
        );
    }
}
