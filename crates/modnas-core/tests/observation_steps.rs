//! Optimizers are told each trial's learning curve: live, and in the history they are restored
//! from after a resume.

use modnas_core::estimator::{Decision, Estimator, EvalContext};
use modnas_core::journal::{Journal, MemoryJournal};
use modnas_core::objective::{Metrics, Objective, Objectives};
use modnas_core::optimizer::{History, OptimError, Optimizer};
use modnas_core::param::{Assignment, Domain, ParamSpace, ParamValue};
use modnas_core::prune::{RungArgs, Rungs};
use modnas_core::search::Search;
use modnas_core::stop::StopCriteria;
use modnas_core::trial::{Evaluation, Observation, TrialFailure};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

type Seen = Arc<Mutex<BTreeMap<u64, Vec<(u64, f64)>>>>;

/// Proposes 0, 1, 2, …; keeps the steps of every observation it is told or restored from.
struct Recorder {
    next: u64,
    live: Seen,
    restored: Seen,
}

impl Optimizer for Recorder {
    fn next(&mut self, n: usize) -> Result<Vec<Assignment>, OptimError> {
        let out = (0..n)
            .map(|i| Assignment(vec![ParamValue::Float((self.next + i as u64) as f64)]))
            .collect();
        self.next += n as u64;
        Ok(out)
    }
    fn step(&mut self, results: &[Observation]) -> Result<(), OptimError> {
        let mut live = self.live.lock().unwrap();
        for r in results {
            live.insert(r.number, r.steps.clone());
        }
        Ok(())
    }
    fn state(&self) -> String {
        self.next.to_string()
    }
    fn restore(&mut self, state: &str, history: &History) -> Result<(), OptimError> {
        self.next = state.parse().map_err(|_| OptimError::State(state.into()))?;
        let mut r = self.restored.lock().unwrap();
        for o in &history.observed {
            r.insert(o.number, o.steps.clone());
        }
        Ok(())
    }
}

/// A loss that falls with the steps: `loss(s) = q + 1/s`, `q` from x; up to 9 steps.
struct Curves;

impl Estimator for Curves {
    fn evaluate(&self, ctx: &EvalContext<'_>, p: &Assignment) -> Result<Evaluation, TrialFailure> {
        let ParamValue::Float(x) = p.values()[0] else {
            return Err(TrialFailure::new("x"));
        };
        let q = ((x as u64 * 7) % 10) as f64 / 10.0;
        let mut m = Metrics::new();
        for s in 1..=9u64 {
            m = [("loss".to_string(), q + 1.0 / s as f64)].into();
            if ctx.reporter.report(s, &m) == Decision::Prune {
                break;
            }
        }
        Ok(Evaluation {
            metrics: m,
            ..Default::default()
        })
    }
}

fn search(journal: Box<dyn Journal>, trials: u64, live: &Seen, restored: &Seen) -> Search {
    let mut space = ParamSpace::new();
    space
        .add(
            "x",
            Domain::Float {
                low: 0.0,
                high: 1e9,
                log: false,
            },
        )
        .unwrap();
    Search {
        space: Arc::new(space),
        objectives: Objectives(vec![Objective::minimize("loss")]),
        optimizer: Box::new(Recorder {
            next: 0,
            live: live.clone(),
            restored: restored.clone(),
        }),
        estimator: Arc::new(Curves),
        journal,
        derived: vec![],
        stop: StopCriteria {
            max_trials: Some(trials),
            ..Default::default()
        },
        parallel: 1,
        seed: 0,
        callbacks: vec![],
        interrupt: Arc::new(AtomicBool::new(false)),
        run_dir: None,
        worker: "t".into(),
        max_attempts: 3,
        pruner: Some(Box::new(Rungs::new(
            &RungArgs {
                eta: 3.0,
                min_resource: 1,
                max_resource: Some(9),
                multi_objective: false,
            },
            1,
        ))),
    }
}

#[test]
fn observations_carry_the_learning_curve_as_scores() {
    let (live, restored) = (Seen::default(), Seen::default());
    let mut s = search(Box::new(MemoryJournal::new()), 12, &live, &restored);
    let out = s.run().unwrap();
    let live = live.lock().unwrap().clone();
    assert_eq!(live.len(), 12);
    let mut lengths = std::collections::BTreeSet::new();
    for t in &out.trials {
        let stored = &out.steps[&t.number];
        let told = &live[&t.number];
        lengths.insert(told.len());
        assert_eq!(told.len(), stored.len());
        for (st, (step, score)) in stored.iter().zip(told) {
            assert_eq!(st.step, *step);
            // Scores are larger-is-better: the negated loss.
            assert_eq!(-st.metrics["loss"], *score);
        }
    }
    assert!(
        lengths.len() > 1,
        "some trials pruned, some not: {lengths:?}"
    );

    // Resumed: the history the optimizer is restored from carries the same curves.
    let j = std::mem::replace(&mut s.journal, Box::new(MemoryJournal::new()));
    let fresh = Seen::default();
    let mut s2 = search(j, 14, &fresh, &restored);
    s2.run().unwrap();
    assert_eq!(*restored.lock().unwrap(), live);
    assert_eq!(fresh.lock().unwrap().len(), 2);
}
